package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// PrometheusVersion is the github.com/prometheus/prometheus module version
// hack/test-tools.d/promtool.sh builds promtool and the prometheus server from.
const PrometheusVersion = "v0.316.0"

// PromtoolDir is where promtool and prometheus are: $SEAL_PROMTOOL_DIR, or the default cache.
func PromtoolDir() string {
	if d := os.Getenv("SEAL_PROMTOOL_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "seal", "tools", "promtool-"+PrometheusVersion)
}

// Promtool returns the path of the real promtool. Without it it skips t, naming make
// test-tools, or fails t when SEAL_REQUIRE_NODE is set (as in CI).
func Promtool(t testing.TB) string {
	t.Helper()
	p := filepath.Join(PromtoolDir(), "promtool")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("SEAL_REQUIRE_NODE") != "" {
			t.Fatalf("testenv: SEAL_REQUIRE_NODE is set but %s is missing (run make test-tools)", p)
		}
		t.Skipf("testenv: %s is missing (run make test-tools)", p)
	}
	return p
}
