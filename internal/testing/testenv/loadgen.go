package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// LoadReport is the JSON line hack/loadgen prints (its Report; hack/loadgen does not import
// testenv, to stay a small binary).
type LoadReport struct {
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	FirstErr  string  `json:"firstError,omitempty"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"perSecond"`
	P50Ms     float64 `json:"p50Ms"`
	P90Ms     float64 `json:"p90Ms"`
	P99Ms     float64 `json:"p99Ms"`
	MaxMs     float64 `json:"maxMs"`
	// CPUMicrosPerRequest is the generator's own CPU time per request.
	CPUMicrosPerRequest float64 `json:"cpuMicrosPerRequest"`
}

// Load is one hack/loadgen run: Requests POSTs of Body to URL over Conns keep-alive HTTPS
// connections, the server's certificate checked against the PEM CA in CAFile.
type Load struct {
	URL, CAFile     string
	Body            []byte
	Conns, Requests int
	Warm            int // untimed requests per connection first (default 2)
}

// RunLoad runs hack/loadgen as a separate process, so that the CPU of this process (or of a
// server process) is the server's alone, and fails t when a request failed. measured, when
// not nil, is called when the connections are dialled and warmed and the timed requests
// start: a benchmark reads the server's CPU counters there and again when RunLoad returns.
func RunLoad(t testing.TB, l Load, measured func()) LoadReport {
	t.Helper()
	body := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(body, l.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	if l.Warm == 0 {
		l.Warm = 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // a failure below (or in measured) leaves no generator behind
	cmd := exec.CommandContext(ctx, Binary(t, "./hack/loadgen"), "-url", l.URL, "-cacert", l.CAFile, "-body", body,
		"-c", strconv.Itoa(l.Conns), "-n", strconv.Itoa(l.Requests), "-warm", strconv.Itoa(l.Warm), "-timeout", (30 * time.Second).String())
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// loadgen prints "warm" when the timed requests start, then its report.
	lines := bufio.NewScanner(stdout)
	var r LoadReport
	var report []byte
	for lines.Scan() {
		if lines.Text() == "warm" {
			if measured != nil {
				measured()
			}
			continue
		}
		report = append(report, lines.Bytes()...)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("testenv: loadgen: %v\n%s", err, errOut.Bytes())
	}
	if err := json.Unmarshal(report, &r); err != nil {
		t.Fatalf("testenv: loadgen printed %q: %v", report, err)
	}
	if r.Errors > 0 || r.Requests != l.Requests {
		t.Fatalf("testenv: loadgen: %d of %d requests answered, %d failed (first: %s)", r.Requests, l.Requests, r.Errors, r.FirstErr)
	}
	return r
}
