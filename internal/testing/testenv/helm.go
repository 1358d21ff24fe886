package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// ChartKubeVersion is the oldest Kubernetes the chart supports (its kubeVersion); helm
// template assumes v1.20 without --kube-version, which the chart refuses.
const ChartKubeVersion = "1.29.0"

// Helm returns the helm binary `make test` installs (SEAL_HELM), else the newest in make's
// tools cache (~/.cache/seal/tools/helm-VERSION/helm), failing the test with the fix when
// there is none.
func Helm(t testing.TB) string {
	t.Helper()
	p := os.Getenv("SEAL_HELM")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache", "seal", "tools", "helm-VERSION", "helm")
		found, _ := filepath.Glob(filepath.Join(home, ".cache", "seal", "tools", "helm-*", "helm"))
		if len(found) > 0 {
			p = found[len(found)-1]
		}
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("helm not found at %s: run `make test` (it installs helm into ~/.cache/seal/tools) or set SEAL_HELM", p)
	}
	return p
}
