package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/store"
)

func sampleAuthority() *store.Authority {
	return &store.Authority{
		TrustDomain: "td.example", Created: time.Unix(1e9, 0).UTC(),
		CAs:            []store.KeyPair{{Cert: "CERT", Key: "KEY"}},
		EggKeys:        egg.Keyring{Current: "k1", Keys: map[string][]byte{"k1": make([]byte, egg.KeySize)}},
		BundleSequence: 3,
	}
}

func open(t *testing.T, dir string) *store.File {
	t.Helper()
	f, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	f := open(t, dir)
	ctx := context.Background()
	st, err := f.Load(ctx)
	if err != nil || st.Authority != nil || len(st.Workloads) != 0 {
		t.Fatalf("fresh dir: %+v, %v; want an empty state", st, err)
	}
	w := &store.Workload{Spec: store.WorkloadSpec{Name: "w", Peers: []string{"a"}}, CAs: []store.KeyPair{{Cert: "C", Key: "K"}},
		DataKeys: []store.DataKey{{Index: 0, Identity: "AGE-SECRET-KEY-1X"}}}
	e := &store.Egg{ID: "egg-1", Workload: "w", Peer: "a", Revoked: true}
	b := &store.Bundle{TrustDomain: "other.example", Bundle: "{}"}
	for _, err := range []error{f.PutAuthority(ctx, sampleAuthority()), f.PutWorkload(ctx, w), f.PutEgg(ctx, e), f.PutBundle(ctx, b)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err = f.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Authority.BundleSequence != 3 || st.Authority.EggKeys.Current != "k1" || len(st.Authority.EggKeys.Keys["k1"]) != egg.KeySize {
		t.Errorf("authority = %+v", st.Authority)
	}
	if got := st.Workloads["w"]; got == nil || got.DataKeys[0].Identity != "AGE-SECRET-KEY-1X" {
		t.Errorf("workload = %+v", got)
	}
	if got := st.Eggs["egg-1"]; got == nil || !got.Revoked {
		t.Errorf("egg = %+v, want revoked", got)
	}
	if st.Bundles["other.example"] == nil {
		t.Error("bundle missing")
	}
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteWorkload(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteWorkload(ctx, "w"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	if err := f.PutWorkload(ctx, &store.Workload{Spec: store.WorkloadSpec{Name: "../escape"}}); err == nil {
		t.Error("a name with a path separator was written")
	}
}

func TestFileLockRefusesSecondProcess(t *testing.T) {
	dir := t.TempDir()
	f := open(t, dir)
	_, err := store.OpenFile(dir)
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "in use by another seal-rot") {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	f.Close()
	g, err := store.OpenFile(dir)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	g.Close()
}

func TestFileCorruptStateIsAnErrorAndUntouched(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		wantErr string
	}{
		{"truncated authority", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "authority.json"), `{"trustDomain":"td.exa`)
		}, "authority.json is not valid JSON state"},
		{"authority without CA", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "authority.json"), `{"trustDomain":"td.example"}`)
		}, "lacks the trust domain, ROT CA or egg-sealing key"},
		{"workloads without authority", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "workloads", "w.json"), `{"spec":{"name":"w","dataKeyIndex":0},"cas":[{"cert":"c","key":"k"}],"dataKeys":[]}`)
		}, "refusing to create a new ROT CA"},
		{"workload name mismatch", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "workloads", "w.json"), `{"spec":{"name":"v","dataKeyIndex":0},"cas":[{"cert":"c","key":"k"}],"dataKeys":[]}`)
		}, `name "v"`},
		{"stray file", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "eggs", "notes.txt"), "hi")
		}, "unexpected file"},
		{"unknown field", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "bundles", "x.json"), `{"trustDomain":"x","surprise":1}`)
		}, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := open(t, dir)
			if tt.name != "workloads without authority" {
				if err := f.PutAuthority(ctx, sampleAuthority()); err != nil {
					t.Fatal(err)
				}
			}
			tt.prepare(t, dir)
			before := snapshot(t, dir)
			_, err := f.Load(ctx)
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load: %v, want ErrCorrupt with %q", err, tt.wantErr)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("Load changed the state directory:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestWriteFileAtomicLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, content := range []string{"one", "two"} {
		if err := store.WriteFileAtomic(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Errorf("content %q, want %q", b, content)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only f", len(ents))
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// snapshot lists every file with its size, mode and content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		c, err := os.ReadFile(p)
		b.WriteString(p + " " + fi.Mode().String() + " " + fi.ModTime().String() + " " + string(c) + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
