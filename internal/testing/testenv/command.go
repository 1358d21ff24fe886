package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Command returns the path of the program name (a real part a test needs: swtpm, softhsm2-util,
// age, ...). When it is not installed it skips t, naming the make target that installs it, or
// fails t when SEAL_REQUIRE_NODE is set (as .ci/run sets it): in CI every real part must run.
func Command(t testing.TB, name, installedBy string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("SEAL_REQUIRE_NODE") != "" {
		t.Fatalf("testenv: SEAL_REQUIRE_NODE is set but %s is not installed (run %s)", name, installedBy)
	}
	t.Skipf("testenv: %s is not installed (run %s)", name, installedBy)
	return ""
}
