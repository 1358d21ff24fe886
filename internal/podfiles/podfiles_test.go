package podfiles

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

func set(gen string) map[string][]byte {
	return map[string][]byte{
		"tls.crt":                 []byte("crt " + gen),
		"tls.key":                 []byte("key " + gen),
		"bundles/example.org.pem": []byte("bundle " + gen),
	}
}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func sorted(s ...string) []string {
	sort.Strings(s)
	return s
}

func TestWriteLayoutAndModes(t *testing.T) {
	dir := t.TempDir()
	w := &Writer{Dir: dir}
	if err := w.Write(set("1")); err != nil {
		t.Fatal(err)
	}
	for name, want := range set("1") {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, top := range []string{"tls.crt", "tls.key", "bundles"} {
		if got, err := os.Readlink(filepath.Join(dir, top)); err != nil || got != "..data/"+top {
			t.Errorf("readlink %s = %q, %v; want ..data/%s", top, got, err, top)
		}
	}
	gen, err := os.Readlink(filepath.Join(dir, DataDir))
	if err != nil || !strings.HasPrefix(gen, "..") || strings.Contains(gen, "/") {
		t.Fatalf("readlink ..data = %q, %v; want a sibling ..<timestamp> dir", gen, err)
	}
	modes := map[string]fs.FileMode{
		gen:                              fs.ModeDir | 0o700,
		gen + "/bundles":                 fs.ModeDir | 0o700,
		gen + "/tls.crt":                 0o400,
		gen + "/tls.key":                 0o400,
		gen + "/bundles/example.org.pem": 0o400,
	}
	for name, want := range modes {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != want {
			t.Errorf("mode of %s = %v, want %v", name, got, want)
		}
	}
	if got, want := listDir(t, dir), sorted(DataDir, gen, "bundles", "tls.crt", "tls.key"); !slices.Equal(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
}

func TestWriteGroupReadable(t *testing.T) {
	gid := 4242
	if os.Getuid() != 0 {
		gid = os.Getgid()
		if gid == 0 {
			t.Skip("needs root or a non-zero primary group to chown to")
		}
	}
	dir := t.TempDir()
	if err := (&Writer{Dir: dir, GID: gid}).Write(set("1")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{
		DataDir + "/":             fs.ModeDir | 0o750,
		DataDir + "/bundles":      fs.ModeDir | 0o750,
		"tls.key":                 0o440,
		"bundles/example.org.pem": 0o440,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("mode of %s = %v, want %v", name, fi.Mode(), want)
		}
		if got := int(fi.Sys().(*syscall.Stat_t).Gid); got != gid {
			t.Errorf("group of %s = %d, want %d", name, got, gid)
		}
	}
}

func TestWriteReplacesWholeSet(t *testing.T) {
	dir := t.TempDir()
	// Something else in the volume (seal-init's own copy) must survive.
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := &Writer{Dir: dir}
	if err := w.Write(set("1")); err != nil {
		t.Fatal(err)
	}
	first, _ := os.Readlink(filepath.Join(dir, DataDir))
	second := set("2")
	delete(second, "bundles/example.org.pem")
	second["keys.txt"] = []byte("keys 2")
	if err := w.Write(second); err != nil {
		t.Fatal(err)
	}
	gen, _ := os.Readlink(filepath.Join(dir, DataDir))
	if gen == first {
		t.Fatalf("..data still points at the first generation %s", first)
	}
	if got, want := listDir(t, dir), sorted(DataDir, gen, "bin", "keys.txt", "tls.crt", "tls.key"); !slices.Equal(got, want) {
		t.Errorf("entries = %q, want %q (old generation and stale bundles link removed)", got, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "tls.crt")); string(got) != "crt 2" {
		t.Errorf("tls.crt = %q, want %q", got, "crt 2")
	}
}

func TestWriteFailureLeavesOldSet(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first bool // fail on the very first write
	}{
		{name: "first write", first: true},
		{name: "replacing a set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := &Writer{Dir: dir}
			if !tc.first {
				if err := w.Write(set("1")); err != nil {
					t.Fatal(err)
				}
			}
			before := listDir(t, dir)
			boom := errors.New("boom")
			w.beforeSwitch = func() error {
				// At this point the new top-level links exist but dangle or still show the old set.
				for name := range set("x") {
					b, err := os.ReadFile(filepath.Join(dir, name))
					if tc.first && !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("before the first switch, %s = %q, %v; want not exist", name, b, err)
					}
					if !tc.first && !strings.HasSuffix(string(b), " 1") {
						t.Errorf("before the switch, %s = %q, %v; want the old set", name, b, err)
					}
				}
				return boom
			}
			next := set("2")
			next["keys.txt"] = []byte("new name")
			if err := w.Write(next); !errors.Is(err, boom) {
				t.Fatalf("Write = %v, want boom", err)
			}
			if got := listDir(t, dir); !slices.Equal(got, before) {
				t.Errorf("after a failed write, entries = %q, want %q", got, before)
			}
		})
	}
}

func TestWriteRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"..2020_01_01_00_00_00.123", "..tmp...data"} {
		if err := os.MkdirAll(filepath.Join(dir, d, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := (&Writer{Dir: dir}).Write(set("1")); err != nil {
		t.Fatal(err)
	}
	gen, _ := os.Readlink(filepath.Join(dir, DataDir))
	if got, want := listDir(t, dir), sorted(DataDir, gen, "bundles", "tls.crt", "tls.key"); !slices.Equal(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
}

func TestWriteRefusesForeignFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := (&Writer{Dir: dir}).Write(set("1"))
	if err == nil || !strings.Contains(err.Error(), "tls.crt already exists") {
		t.Fatalf("Write = %v, want an error naming tls.crt", err)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"tls.crt"}) {
		t.Errorf("entries = %q, want only the foreign tls.crt", got)
	}
}

func TestWriteBadNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string][]byte
	}{
		{"empty set", map[string][]byte{}},
		{"empty name", map[string][]byte{"": nil}},
		{"absolute", map[string][]byte{"/etc/passwd": nil}},
		{"parent", map[string][]byte{"../x": nil}},
		{"inner parent", map[string][]byte{"a/../../x": nil}},
		{"dot dot prefix", map[string][]byte{"..data": nil}},
		{"unclean", map[string][]byte{"a//b": nil}},
		{"trailing slash", map[string][]byte{"a/": nil}},
		{"file and dir", map[string][]byte{"a": nil, "a/b": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := (&Writer{Dir: dir}).Write(tc.files); !errors.Is(err, ErrBadName) {
				t.Errorf("Write = %v, want ErrBadName", err)
			}
			if got := listDir(t, dir); len(got) != 0 {
				t.Errorf("entries = %q, want none", got)
			}
		})
	}
}

// TestConcurrentReaders switches sets while readers load pairs: a pair read through Read always
// comes from one generation, and a file read by its top-level name is never partial.
func TestConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	w := &Writer{Dir: dir}
	gen := func(i int) map[string][]byte {
		body := bytes.Repeat([]byte(fmt.Sprintf("%08d", i)), 512)
		return map[string][]byte{"tls.crt": body, "tls.key": body, "bundles/td.pem": body}
	}
	if err := w.Write(gen(0)); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				got, err := Read(dir, "tls.crt", "tls.key", "bundles/td.pem")
				if err != nil {
					t.Errorf("Read: %v", err)
					return
				}
				if !bytes.Equal(got["tls.crt"], got["tls.key"]) || !bytes.Equal(got["tls.crt"], got["bundles/td.pem"]) {
					t.Errorf("Read mixed generations: %.8s %.8s %.8s", got["tls.crt"], got["tls.key"], got["bundles/td.pem"])
					return
				}
				b, err := os.ReadFile(filepath.Join(dir, "tls.key"))
				if err != nil || len(b) != 8*512 || !bytes.Equal(b, bytes.Repeat(b[:8], 512)) {
					t.Errorf("tls.key read by name: %d bytes, %v: partial or mixed", len(b), err)
					return
				}
				reads.Add(1)
			}
		})
	}
	for i := 1; i <= 50 && !t.Failed(); i++ {
		if err := w.Write(gen(i)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if reads.Load() == 0 {
		t.Error("readers never completed a read")
	}
	if got := len(listDir(t, dir)); got != 5 {
		t.Errorf("%d entries left, want 5 (..data, one generation, three links)", got)
	}
}

func TestReadMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir, "tls.crt"); err == nil {
		t.Error("Read of an empty dir succeeded")
	}
	if err := (&Writer{Dir: dir}).Write(set("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(nope) = %v, want not exist", err)
	}
	if _, err := Read(dir, "../etc/passwd"); !errors.Is(err, ErrBadName) {
		t.Errorf("Read(../etc/passwd) = %v, want ErrBadName", err)
	}
}

func FuzzCheckNames(f *testing.F) {
	for _, s := range []string{"tls.crt", "bundles/a.pem", "../x", "..data", "a//b", "/abs", "a/./b", `a\b`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		names, tops, err := checkNames(map[string][]byte{name: nil})
		if err != nil {
			return
		}
		if len(names) != 1 || len(tops) != 1 {
			t.Fatalf("checkNames(%q) = %q, %q", name, names, tops)
		}
		if !filepath.IsLocal(name) || strings.HasPrefix(tops[0], "..") {
			t.Fatalf("checkNames accepted %q, which is not a plain local name", name)
		}
	})
}
