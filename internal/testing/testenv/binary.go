package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	binMu   sync.Mutex
	binDir  string
	binPath = map[string]string{}
)

// Binary builds the main package at pkg (a path relative to the repository root, such as
// "./cmd/rot") once per test process, statically (CGO_ENABLED=0), and returns the path of the
// executable. Tests use it to run the real seal-rot, seal-webhook, seal-init and sealctl as
// processes. It works under -short too: it needs only the Go toolchain.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := binPath[pkg]; ok {
		return p
	}
	if binDir == "" {
		d, err := os.MkdirTemp("", "seal-testbin-")
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		binDir = d
	}
	out := filepath.Join(binDir, strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "-"))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: go build %s: %v\n%s", pkg, err, b)
	}
	binPath[pkg] = out
	return out
}

// CleanupBinaries removes the binaries Binary built. Call it from TestMain after m.Run.
func CleanupBinaries() {
	binMu.Lock()
	defer binMu.Unlock()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
		binDir = ""
		binPath = map[string]string{}
	}
}
