package webhook

import (
	"os"
	"testing"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestMain removes the binaries the benchmarks build (hack/loadgen).
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	os.Exit(code)
}
