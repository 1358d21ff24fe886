package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// CosignVersion is the cosign CLI release hack/test-tools.d/cosign.sh builds.
const CosignVersion = "v2.6.5"

// CosignPath is where the cosign CLI is: $SEAL_COSIGN_DIR/cosign, or the default cache.
func CosignPath() string {
	d := os.Getenv("SEAL_COSIGN_DIR")
	if d == "" {
		home, _ := os.UserHomeDir()
		d = filepath.Join(home, ".cache", "seal", "tools", "cosign-"+CosignVersion)
	}
	return filepath.Join(d, "cosign")
}

// Cosign returns the path of the real cosign CLI. Without it it skips t, naming make
// test-tools, or fails t when SEAL_REQUIRE_NODE is set (as in CI).
func Cosign(t testing.TB) string {
	t.Helper()
	p := CosignPath()
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("SEAL_REQUIRE_NODE") != "" {
			t.Fatalf("testenv: SEAL_REQUIRE_NODE is set but %s is missing (run make test-tools)", p)
		}
		t.Skipf("testenv: %s is missing (run make test-tools)", p)
	}
	return p
}
