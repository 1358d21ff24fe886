// Command dashboardcheck evaluates every query of Seal's Grafana dashboard on a real
// Prometheus (the server hack/test-tools.d/promtool.sh builds) scraping the seal-rot and
// seal-webhook of a running `make demo-up`, and fails when a panel's query returns no series.
// Grafana itself cannot be had here (see docs/operations.md#dashboard); this is the check that
// each panel shows data from real /metrics.
//
//	make demo-up && make dashboard-check
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/observability"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func main() {
	home, _ := os.UserHomeDir()
	demoLog := flag.String("demo-log", filepath.Join(home, ".cache", "seal", "demo", "demo.log"), "the log of make demo-up (names the seal-rot and seal-webhook addresses)")
	dashboard := flag.String("dashboard", filepath.Join("charts", "seal", "files", "grafana", "seal-dashboard.json"), "Grafana dashboard JSON")
	prom := flag.String("prometheus", filepath.Join(testenv.PromtoolDir(), "prometheus"), "the prometheus server binary (make test-tools)")
	allowEmpty := flag.String("allow-empty", "", "comma list of panel titles whose queries may return nothing, each with its reason in the Makefile")
	wait := flag.Duration("wait", 20*time.Second, "scrape this long (every 2s) before querying")
	flag.Parse()
	if err := run(*demoLog, *dashboard, *prom, *allowEmpty, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "dashboardcheck:", err)
		os.Exit(1)
	}
}

// targets reads the demo's narrated commands: `$ seal-rot serve --state-dir S --listen A` and
// `$ seal-webhook ... --metrics-addr B`.
func targets(demoLog string) (rotAddr, rotCA, webhookAddr string, err error) {
	f, err := os.Open(demoLog)
	if err != nil {
		return "", "", "", fmt.Errorf("%w (is make demo-up running?)", err)
	}
	defer f.Close()
	flagValue := func(fields []string, name string) string {
		for i, f := range fields {
			if f == name && i+1 < len(fields) {
				return fields[i+1]
			}
		}
		return ""
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, w := range fields {
			switch {
			case w == "seal-rot" && i+1 < len(fields) && fields[i+1] == "serve":
				rotAddr = flagValue(fields, "--listen")
				rotCA = filepath.Join(flagValue(fields, "--state-dir"), "admin", "ca.crt")
			case w == "seal-webhook" && i > 0 && fields[i-1] == "$":
				webhookAddr = flagValue(fields, "--metrics-addr")
			}
		}
	}
	if rotAddr == "" || webhookAddr == "" {
		return "", "", "", fmt.Errorf("%s names no seal-rot --listen and seal-webhook --metrics-addr", demoLog)
	}
	return rotAddr, rotCA, webhookAddr, sc.Err()
}

func run(demoLog, dashboardFile, prom, allowEmpty string, wait time.Duration) error {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		return err
	}
	qs, err := observability.DashboardQueries(raw)
	if err != nil {
		return err
	}
	rotAddr, rotCA, webhookAddr, err := targets(demoLog)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "seal-dashboardcheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := fmt.Sprintf(`global: {scrape_interval: 2s, evaluation_interval: 2s}
scrape_configs:
- job_name: seal-rot
  scheme: https
  tls_config: {ca_file: %q}
  static_configs: [{targets: [%q]}]
- job_name: seal-webhook
  static_configs: [{targets: [%q]}]
`, rotCA, rotAddr, webhookAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w (make test-tools builds it)", prom, err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	base := "http://" + addr
	fmt.Printf("prometheus %s on %s scraping seal-rot https://%s/metrics and seal-webhook http://%s/metrics\n", prom, addr, rotAddr, webhookAddr)

	deadline := time.Now().Add(time.Minute)
	for {
		up, err := upTargets(base)
		if err == nil && up == 2 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			return fmt.Errorf("both targets not up after a minute (up=%d, %v); prometheus log:\n%s", up, err, tail(log))
		}
		time.Sleep(time.Second)
	}
	time.Sleep(wait)

	allowed := map[string]bool{}
	for _, p := range strings.Split(allowEmpty, ",") {
		if p = strings.TrimSpace(p); p != "" {
			allowed[p] = true
		}
	}
	var failed []string
	for _, q := range qs {
		expr := observability.Evaluable(q.Expr, "1m")
		n, sample, err := query(base, expr)
		switch {
		case err != nil:
			failed = append(failed, q.Panel)
			fmt.Printf("FAIL  %-40s %s: %v\n", q.Panel, q.RefID, err)
		case n == 0 && allowed[q.Panel]:
			fmt.Printf("empty %-40s %s: no series (allowed: --allow-empty)\n", q.Panel, q.RefID)
		case n == 0:
			failed = append(failed, q.Panel)
			fmt.Printf("FAIL  %-40s %s: no series for %s\n", q.Panel, q.RefID, expr)
		default:
			fmt.Printf("ok    %-40s %s: %d series, e.g. %s\n", q.Panel, q.RefID, n, sample)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d queries returned no data or failed: %s", len(failed), strings.Join(failed, "; "))
	}
	fmt.Printf("all %d dashboard queries evaluated on real scraped data\n", len(qs))
	return nil
}

func upTargets(base string) (int, error) {
	var r struct {
		Data struct {
			ActiveTargets []struct {
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := getJSON(base+"/api/v1/targets", &r); err != nil {
		return 0, err
	}
	up := 0
	var errs []string
	for _, t := range r.Data.ActiveTargets {
		if t.Health == "up" {
			up++
		} else if t.LastError != "" {
			errs = append(errs, t.LastError)
		}
	}
	if len(errs) > 0 {
		return up, errors.New(strings.Join(errs, "; "))
	}
	return up, nil
}

// query runs an instant query and returns the number of series and the first one.
func query(base, expr string) (int, string, error) {
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(base+"/api/v1/query?query="+url.QueryEscape(expr), &r); err != nil {
		return 0, "", err
	}
	if r.Status != "success" {
		return 0, "", errors.New(r.Error)
	}
	if len(r.Data.Result) == 0 {
		return 0, "", nil
	}
	first := r.Data.Result[0]
	v := ""
	if len(first.Value) == 2 {
		v = fmt.Sprint(first.Value[1])
	}
	return len(r.Data.Result), fmt.Sprintf("%v = %s", first.Metric, v), nil
}

func getJSON(u string, v any) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func tail(b []byte) string {
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
