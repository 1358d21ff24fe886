package ociimage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSBOMRefusesNonGoFiles checks that an SBOM is only written from a Go binary's own build
// information, with an error naming the file otherwise.
func TestSBOMRefusesNonGoFiles(t *testing.T) {
	f := filepath.Join(t.TempDir(), "not-a-binary")
	if err := os.WriteFile(f, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := SBOM(f, "script", "v1.0.0", time.Unix(0, 0))
	if err == nil || !strings.Contains(err.Error(), f) {
		t.Fatalf("SBOM(shell script): got %v, want an error naming %s", err, f)
	}
}
