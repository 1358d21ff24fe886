package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// SPIREVersion is the SPIRE release hack/test-tools.d/spire.sh builds.
const SPIREVersion = "v1.13.3"

// SPIREDir is where spire-server and spire-agent are: $SEAL_SPIRE_DIR, or the default cache.
func SPIREDir() string {
	if d := os.Getenv("SEAL_SPIRE_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "seal", "tools", "spire-"+SPIREVersion)
}

// SPIRE returns the paths of the real spire-server and spire-agent. Without them it skips t,
// naming make test-tools, or fails t when SEAL_REQUIRE_NODE is set (as in CI).
func SPIRE(t testing.TB) (server, agent string) {
	t.Helper()
	server, agent = filepath.Join(SPIREDir(), "spire-server"), filepath.Join(SPIREDir(), "spire-agent")
	for _, p := range []string{server, agent} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("SEAL_REQUIRE_NODE") != "" {
				t.Fatalf("testenv: SEAL_REQUIRE_NODE is set but %s is missing (run make test-tools)", p)
			}
			t.Skipf("testenv: %s is missing (run make test-tools)", p)
		}
	}
	return server, agent
}
