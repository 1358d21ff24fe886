// Package e2e holds Seal's end-to-end tests. They run on a real control plane (etcd,
// kube-apiserver and kube-controller-manager built from the Go module proxy, see
// internal/testing/testenv) and real Seal servers and processes on loopback. `go test -short` skips them.
package e2e

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
