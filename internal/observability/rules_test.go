package observability_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/seal-dev/seal/internal/observability"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

var rulesFile = filepath.Join(testenv.RepoRoot(), "charts", "seal", "files", "prometheus", "seal-rules.yaml")

func promtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.Promtool(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestAlertRules checks the shipped rule file with the real promtool: check rules (syntax,
// PromQL, templates) and test rules (testdata/rules_test.yaml: each alert fires on its series,
// with the labels and annotations users will read, and stays quiet on look-alikes).
func TestAlertRules(t *testing.T) {
	if out, err := promtool(t, "check", "rules", rulesFile); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := promtool(t, "test", "rules", filepath.Join("testdata", "rules_test.yaml")); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	// The check can fail: a rule with bad PromQL is refused.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum(rate(seal_rot_redemptions_total[5m])\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, "check", "rules", bad); err == nil {
		t.Fatalf("promtool accepted bad PromQL:\n%s", out)
	}
}

// TestDashboardPromQL parses every dashboard query with Prometheus's own parser (as recording
// rules through promtool check rules).
func TestDashboardPromQL(t *testing.T) {
	qs, err := observability.DashboardQueries(dashboard(t))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("groups:\n- name: dashboard\n  rules:\n")
	for i, q := range qs {
		fmt.Fprintf(&b, "  - record: seal:dashboard:q%d\n    expr: %q\n", i, observability.Evaluable(q.Expr, "1m"))
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, "check", "rules", f); err != nil {
		t.Fatalf("a dashboard query is not valid PromQL: %v\n%s", err, out)
	}
}

// TestChartObservability renders the chart with the real helm: the PrometheusRule carries
// exactly the rule file's groups (Helm must not template the {{ $labels }} of annotations), the
// dashboard ConfigMap the dashboard JSON with the sidecar's label, and the PolicyReport CRD
// only with policyReports.installCRD.
func TestChartObservability(t *testing.T) {
	helm := testenv.Helm(t)
	render := func(t *testing.T, sets ...string) []map[string]any {
		t.Helper()
		args := []string{"template", "seal", filepath.Join(testenv.RepoRoot(), "charts", "seal"), "--namespace", "seal-system",
			"--kube-version", "1.36.0", "--set", "trustDomain=prod.example.org"}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		out, err := exec.Command(helm, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("helm template: %v\n%s", err, out)
		}
		var docs []map[string]any
		for _, d := range strings.Split(string(out), "\n---") {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(d), &m); err != nil {
				t.Fatalf("rendered YAML: %v", err)
			}
			if m != nil {
				docs = append(docs, m)
			}
		}
		return docs
	}
	find := func(docs []map[string]any, kind, name string) map[string]any {
		for _, d := range docs {
			md, _ := d["metadata"].(map[string]any)
			if d["kind"] == kind && md["name"] == name {
				return d
			}
		}
		return nil
	}
	off := render(t)
	for _, k := range [][2]string{{"PrometheusRule", "seal"}, {"ConfigMap", "seal-grafana-dashboard"}, {"CustomResourceDefinition", "policyreports.wgpolicyk8s.io"}} {
		if find(off, k[0], k[1]) != nil {
			t.Errorf("%s %s rendered by default, want it only when enabled", k[0], k[1])
		}
	}
	on := render(t, "prometheusRule.enabled=true", "prometheusRule.labels.release=kps", "grafanaDashboard.enabled=true", "policyReports.enabled=true")
	pr := find(on, "PrometheusRule", "seal")
	if pr == nil {
		t.Fatal("no PrometheusRule with prometheusRule.enabled")
	}
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if got := pr["spec"].(map[string]any)["groups"]; !reflect.DeepEqual(got, file["groups"]) {
		t.Errorf("PrometheusRule groups differ from %s", rulesFile)
	}
	if l := pr["metadata"].(map[string]any)["labels"].(map[string]any)["release"]; l != "kps" {
		t.Errorf("PrometheusRule label release = %v, want kps (prometheusRule.labels)", l)
	}
	cm := find(on, "ConfigMap", "seal-grafana-dashboard")
	if cm == nil {
		t.Fatal("no dashboard ConfigMap with grafanaDashboard.enabled")
	}
	if got := cm["data"].(map[string]any)["seal-dashboard.json"]; got != string(dashboard(t)) {
		t.Error("the ConfigMap's seal-dashboard.json differs from the dashboard file")
	}
	if l := cm["metadata"].(map[string]any)["labels"].(map[string]any)["grafana_dashboard"]; l != "1" {
		t.Errorf("dashboard label grafana_dashboard = %v, want \"1\" (the sidecar's default)", l)
	}
	crd := find(on, "CustomResourceDefinition", "policyreports.wgpolicyk8s.io")
	if crd == nil {
		t.Fatal("no PolicyReport CRD with policyReports.enabled and installCRD")
	}
	if a := crd["metadata"].(map[string]any)["annotations"].(map[string]any)["helm.sh/resource-policy"]; a != "keep" {
		t.Errorf("PolicyReport CRD resource-policy = %v, want keep (uninstall must not delete other tools' reports)", a)
	}
	if find(render(t, "policyReports.enabled=true", "policyReports.installCRD=false"), "CustomResourceDefinition", "policyreports.wgpolicyk8s.io") != nil {
		t.Error("PolicyReport CRD rendered with installCRD=false")
	}
	wh := find(on, "Deployment", "seal-webhook")
	if wh == nil || !strings.Contains(fmt.Sprint(wh), "--scan-interval=1h") || !strings.Contains(fmt.Sprint(wh), "--policy-reports=true") {
		t.Error("seal-webhook's args lack --policy-reports=true --scan-interval=1h with policyReports.enabled")
	}
}
