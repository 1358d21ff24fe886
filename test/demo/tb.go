package main

import (
	"fmt"
	"os"
	"testing"
)

// harness lets the demo reuse the registry and signing helpers of internal/verify/verifytest,
// which take a testing.TB, outside a test: a helper's failure becomes a panic that Run turns
// back into an error, and cleanups run when the demo ends. Only the methods those helpers call
// are implemented; the embedded nil TB makes any other call fail loudly.
type harness struct {
	testing.TB
	dir      string
	cleanups []func()
}

type harnessFailure struct{ msg string }

func (h *harness) Helper()             {}
func (h *harness) Name() string        { return "seal-demo" }
func (h *harness) Cleanup(f func())    { h.cleanups = append(h.cleanups, f) }
func (h *harness) Logf(string, ...any) {}
func (h *harness) Fatal(args ...any)   { panic(harnessFailure{fmt.Sprint(args...)}) }
func (h *harness) Fatalf(format string, args ...any) {
	panic(harnessFailure{fmt.Sprintf(format, args...)})
}
func (h *harness) Errorf(format string, args ...any) {
	panic(harnessFailure{fmt.Sprintf(format, args...)})
}

func (h *harness) TempDir() string {
	d, err := os.MkdirTemp(h.dir, "tmp-")
	if err != nil {
		h.Fatal(err)
	}
	return d
}

// close runs the cleanups, newest first.
func (h *harness) close() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
	h.cleanups = nil
}
