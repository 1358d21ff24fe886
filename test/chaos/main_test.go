package chaos

import (
	"os"
	"testing"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	os.Exit(code)
}

// full reports whether the drills run at full size (make chaos sets SEAL_CHAOS_FULL=1).
func full() bool { return os.Getenv("SEAL_CHAOS_FULL") == "1" }

// size is short in make test and long under make chaos.
func size[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}
