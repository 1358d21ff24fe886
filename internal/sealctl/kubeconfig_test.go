package sealctl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKubeconfigUsage(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists.kubeconfig")
	if err := os.WriteFile(exists, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"issue without user", []string{"kubeconfig", "issue", "--out", "x"}, "kubeconfig issue needs --user NAME"},
		{"issue without out", []string{"kubeconfig", "issue", "--user", "u"}, "kubeconfig issue needs --out FILE"},
		{"issue short ttl", []string{"kubeconfig", "issue", "--user", "u", "--out", "x", "--ttl", "1m"}, "--ttl must be at least 10m"},
		{"issue over a file", []string{"kubeconfig", "issue", "--user", "u", "--out", exists}, "exists: renew it with sealctl kubeconfig renew"},
		{"contexts do not pair", []string{"kubeconfig", "issue", "--user", "u", "--out", filepath.Join(dir, "n"),
			"--kubeconfig", exists, "--kubeconfig", exists, "--context", "a", "--context", "b", "--context", "c"}, "3 --context for 2 --kubeconfig files"},
		{"renew without file", []string{"kubeconfig", "renew"}, "kubeconfig renew needs FILE"},
		{"show two files", []string{"kubeconfig", "show", "a", "b"}, "takes 1 argument(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, "", tt.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("exit %d stderr %q, want %d and %q", r.code, r.stderr, ExitUsage, tt.wantErr)
			}
		})
	}
}

func TestKubeconfigShow(t *testing.T) {
	file := filepath.Join("..", "kubeconfig", "testdata", "ci.kubeconfig")
	r := run(t, nil, "", "kubeconfig", "show", file)
	if r.code != 0 {
		t.Fatalf("show: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"*east", "ci-deployer", "seal:deployers", "https://west.example:6443", "2036-11-26T12:00:00Z"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "PRIVATE KEY") || strings.Contains(r.stdout, "LS0t") {
		t.Errorf("show printed key or certificate material:\n%s", r.stdout)
	}
	r = run(t, nil, "", "kubeconfig", "show", file, "-o", "json")
	var got []struct {
		Name   string   `json:"name"`
		User   string   `json:"user"`
		Groups []string `json:"groups"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 2 || got[1].Name != "west" || got[1].User != "ci-deployer" {
		t.Errorf("show -o json: %v %+v\n%s", err, got, r.stdout)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	_ = os.WriteFile(bad, []byte("clusters: ["), 0o600)
	if r := run(t, nil, "", "kubeconfig", "show", bad); r.code != ExitFailed || !strings.Contains(r.stderr, "not a kubeconfig") {
		t.Errorf("show garbage: exit %d stderr %q", r.code, r.stderr)
	}
}
