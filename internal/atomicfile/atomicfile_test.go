package atomicfile_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/atomicfile"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name string
		old  string // content before, "" for none
		data string
		perm os.FileMode
	}{
		{name: "new file", data: "hello", perm: 0o600},
		{name: "replaces", old: "old content", data: "new", perm: 0o400},
		{name: "empty", old: "x", data: "", perm: 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if tt.old != "" {
				if err := os.WriteFile(p, []byte(tt.old), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := atomicfile.WriteFile(p, []byte(tt.data), tt.perm); err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != tt.data {
				t.Errorf("content = %q, %v; want %q", got, err, tt.data)
			}
			fi, _ := os.Stat(p)
			if fi.Mode().Perm() != tt.perm {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.perm)
			}
			assertNoTemp(t, dir)
		})
	}
}

func TestFailureLeavesTargetAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	if err := atomicfile.WriteFile(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600); err == nil || !strings.Contains(err.Error(), "atomicfile:") {
		t.Errorf("write into a missing directory: err = %v, want an atomicfile error", err)
	}
	// A rename that fails (the target is a non-empty directory) keeps the target and removes
	// the temporary file.
	target := filepath.Join(dir, "t")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(target, []byte("x"), 0o600); err == nil || !strings.Contains(err.Error(), target) {
		t.Errorf("rename over a directory: err = %v, want an error naming %s", err, target)
	}
	if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
		t.Errorf("target changed: %v, %v", fi, err)
	}
	assertNoTemp(t, dir)
}

func TestPendingCleanupWithoutCommit(t *testing.T) {
	dir := t.TempDir()
	p, err := atomicfile.Create(filepath.Join(dir, "f"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("half")); err != nil {
		t.Fatal(err)
	}
	p.Cleanup()
	if _, err := os.Stat(filepath.Join(dir, "f")); !os.IsNotExist(err) {
		t.Errorf("target exists after Cleanup without Commit: %v", err)
	}
	assertNoTemp(t, dir)
	if err := p.Commit(); err == nil {
		t.Errorf("Commit after Cleanup succeeded")
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func ExampleWriteFile() {
	dir, _ := os.MkdirTemp("", "atomicfile")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "state.json")
	_ = atomicfile.WriteFile(path, []byte(`{"v":1}`), 0o600)
	b, _ := os.ReadFile(path)
	os.Stdout.Write(bytes.TrimSpace(b))
	// Output: {"v":1}
}
