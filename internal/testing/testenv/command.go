package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
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

// LogBuffer collects a process's output: safe to write from the goroutines exec.Cmd copies
// Stdout and Stderr with while the test reads it.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is what was written so far.
func (l *LogBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
