package sealctl

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of inject -f")

// podYAML is a pod of namespace shop with the given labels and annotations (YAML maps).
func podYAML(labels, annotations string) string {
	return `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: ` + "shop" + `
  labels: {` + labels + `}
  annotations: {` + annotations + `}
spec:
  containers:
  - {name: web, image: nginx:1.27}
`
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckInjectReasons: check-inject -f names each reason seal-webhook has for a pod, on the
// pure path (the chart's selectors, then inject.Mutate), with the fix.
func TestCheckInjectReasons(t *testing.T) {
	const enabled = "seal.dev/inject=enabled"
	tests := []struct {
		name, labels, annotations, nsLabels string
		namespace                           string // -n, for a pod that names none
		wantReason, wantWebhook, wantWhy    string
		wantInjected                        bool
	}{
		{name: "system namespace", namespace: "kube-system", annotations: `seal.dev/workload: pay`, labels: `seal.dev/inject: "true"`,
			wantReason: "system-namespace", wantWhy: "kube-system is a system namespace"},
		{name: "seal-webhook's own namespace", namespace: "seal-system", labels: `seal.dev/inject: "true"`, annotations: `seal.dev/workload: pay`,
			wantReason: "system-namespace", wantWhy: "seal-webhook's own"},
		{name: "namespace not labelled", annotations: `seal.dev/workload: pay`,
			wantReason: "not-selected", wantWhy: "namespace shop is not labelled seal.dev/inject=enabled"},
		{name: "namespace labelled otherwise", annotations: `seal.dev/workload: pay`, nsLabels: "seal.dev/inject=true",
			wantReason: "not-selected", wantWhy: "no seal-webhook entry selects it"},
		{name: "bad pod label outside enabled namespaces is never reviewed", labels: `seal.dev/inject: "yes"`, annotations: `seal.dev/workload: pay`,
			wantReason: "not-selected"},
		{name: "opted out", labels: `seal.dev/inject: "false"`, annotations: `seal.dev/workload: pay`, nsLabels: enabled,
			wantReason: "opted-out", wantWhy: "seal.dev/inject=false"},
		{name: "no workload", nsLabels: enabled,
			wantReason: "no-workload", wantWhy: "has no seal.dev/workload annotation", wantWebhook: "inject-namespace.seal.dev"},
		{name: "already injected", nsLabels: enabled, annotations: `seal.dev/workload: pay, seal.dev/status: "{}"`,
			wantReason: "already-injected", wantWebhook: "inject-namespace.seal.dev"},
		{name: "refused: bad workload name", nsLabels: enabled, annotations: `seal.dev/workload: Pay_Ments`,
			wantReason: "refused", wantWhy: `seal.dev/workload="Pay_Ments" is not a valid workload name`, wantWebhook: "inject-namespace.seal.dev"},
		{name: "refused: opt-in without workload", labels: `seal.dev/inject: "true"`,
			wantReason: "refused", wantWhy: "is required when the pod opts in", wantWebhook: "inject-pod.seal.dev"},
		{name: "refused: bad pod label in an enabled namespace", labels: `seal.dev/inject: "yes"`, annotations: `seal.dev/workload: pay`, nsLabels: enabled,
			wantReason: "refused", wantWhy: "is neither true nor false", wantWebhook: "inject-namespace.seal.dev"},
		{name: "injected by namespace", nsLabels: enabled, annotations: `seal.dev/workload: pay`,
			wantReason: "injected", wantWebhook: "inject-namespace.seal.dev", wantInjected: true, wantWhy: "workload pay peer any"},
		{name: "injected by pod label", labels: `seal.dev/inject: "true"`, annotations: `seal.dev/workload: pay, seal.dev/peer: api`,
			wantReason: "injected", wantWebhook: "inject-pod.seal.dev", wantInjected: true, wantWhy: "workload pay peer api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := podYAML(tt.labels, tt.annotations)
			argv := []string{"check-inject", "-o", "json", "-f", "-"}
			if tt.namespace != "" {
				y = strings.Replace(y, "  namespace: shop\n", "", 1)
				argv = append(argv, "-n", tt.namespace)
			}
			if tt.nsLabels != "" {
				argv = append(argv, "--namespace-labels", tt.nsLabels)
			}
			r := run(t, nil, y, argv...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got checkReport
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("output is not a report: %v\n%s", err, r.stdout)
			}
			if got.Reason != tt.wantReason || got.Injected != tt.wantInjected || got.Webhook != tt.wantWebhook {
				t.Errorf("got reason %q injected %v webhook %q, want %q %v %q", got.Reason, got.Injected, got.Webhook, tt.wantReason, tt.wantInjected, tt.wantWebhook)
			}
			if !strings.Contains(got.Why, tt.wantWhy) {
				t.Errorf("why %q lacks %q", got.Why, tt.wantWhy)
			}
			if !got.Injected && got.Reason != "already-injected" && got.Fix == "" {
				t.Errorf("reason %s without a fix", got.Reason)
			}
		})
	}
}

func TestCheckInjectTable(t *testing.T) {
	r := run(t, nil, podYAML("", `seal.dev/workload: pay`), "check-inject", "-f", "-")
	for _, want := range []string{"POD       shop/web", "INJECTED  no", "REASON    not-selected", "FIX       kubectl label namespace shop seal.dev/inject=enabled"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestCheckInjectUsage(t *testing.T) {
	bad := writeFile(t, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n")
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"nothing", []string{"check-inject"}, ExitUsage, "check-inject needs POD or -f FILE"},
		{"both", []string{"check-inject", "web", "-f", bad}, ExitUsage, "not both"},
		{"labels with a live pod", []string{"check-inject", "web", "--namespace-labels", "a=b"}, ExitUsage, "--namespace-labels is for -f"},
		{"bad label", []string{"check-inject", "-f", bad, "--namespace-labels", "a"}, ExitUsage, `"a" is not k=v`},
		{"unsupported kind", []string{"check-inject", "-f", bad}, ExitFailed, `kind "Service" is not a Pod, Deployment`},
		{"inject without image", []string{"inject", "-f", bad, "--trust-domain", "x.org"}, ExitUsage, "the seal-init image is required (--init-image)"},
		{"inject without file", []string{"inject", "--init-image", "i", "--trust-domain", "x.org"}, ExitUsage, "inject needs -f FILE"},
		{"namespaces disagree", []string{"check-inject", "-f", writeFile(t, "p.yaml", podYAML("", "")), "-n", "other"}, ExitUsage, `in namespace "shop", not --namespace "other"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("exit %d stderr %q, want %d and %q", r.code, r.stderr, tt.code, tt.wantErr)
			}
		})
	}
}

// TestInjectGolden: inject -f prints a Deployment with its pod template injected as
// seal-webhook would inject its pods, and a CronJob that opted out unchanged.
func TestInjectGolden(t *testing.T) {
	in := filepath.Join("testdata", "inject", "deployment.yaml")
	golden := in + ".injected"
	r := run(t, nil, "", "inject", "-f", in, "--init-image", "ghcr.io/seal-dev/seal-init:v0.1.0",
		"--trust-domain", "prod.example.org", "--namespace-labels", "seal.dev/inject=enabled", "--seal-version", "v0.1.0")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "CronJob report: not injected: the pod is labelled seal.dev/inject=false") {
		t.Errorf("stderr does not say why the CronJob is left alone: %q", r.stderr)
	}
	if *update {
		if err := os.WriteFile(golden, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if r.stdout != string(want) {
		t.Errorf("inject -f output differs from %s (rerun with -update after checking):\n%s", golden, r.stdout)
	}
	// The output is itself a manifest whose pods seal-webhook leaves alone.
	out := writeFile(t, "out.yaml", r.stdout)
	c := run(t, nil, "", "check-inject", "-f", out, "-o", "json", "--namespace-labels", "seal.dev/inject=enabled")
	var reports []checkReport
	if err := json.Unmarshal([]byte(c.stdout), &reports); err != nil || len(reports) != 2 {
		t.Fatalf("check-inject of the output: %v %s %s", err, c.stdout, c.stderr)
	}
	if reports[0].Reason != "already-injected" || reports[1].Reason != "opted-out" {
		t.Errorf("after inject: reasons %q, %q; want already-injected, opted-out", reports[0].Reason, reports[1].Reason)
	}
}

func TestInjectRefusalWritesNothing(t *testing.T) {
	y := podYAML(`seal.dev/inject: "true"`, `seal.dev/workload: pay, seal.dev/egg: "vault:x"`)
	r := run(t, nil, y, "inject", "-f", "-", "--init-image", "i", "--trust-domain", "prod.example.org")
	if r.code != ExitFailed || r.stdout != "" || !strings.Contains(r.stderr, `Pod web: refused: seal: seal.dev/egg="vault:x" has an unknown source; fix:`) {
		t.Errorf("exit %d stdout %q stderr %q, want 1, nothing, and the refusal with its fix", r.code, r.stdout, r.stderr)
	}
}

func TestKubectlPluginName(t *testing.T) {
	defer func(f func() string) { invokedAs = f }(invokedAs)
	invokedAs = func() string { return "/usr/local/bin/kubectl-seal" }
	r := run(t, nil, "", "check-inject", "--help")
	if !strings.Contains(r.stdout, "kubectl seal check-inject [-n NAMESPACE] POD") {
		t.Errorf("help as kubectl-seal does not read kubectl seal:\n%s", r.stdout)
	}
}

func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{podYAML("", ""), "kind: CronJob\nspec: {jobTemplate: {spec: {template: {}}}}", "---\n---\n", "{\"kind\":\"Pod\"}", "kind: Deployment\nspec: 3"} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "inject", "deployment.yaml")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := parseManifest("fuzz", b)
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.template == nil {
				t.Fatalf("%s %s without a template", o.kind, o.name)
			}
			_, _ = o.pod()
		}
	})
}
