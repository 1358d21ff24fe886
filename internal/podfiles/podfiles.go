package podfiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DataDir is the symlink that names the current generation of the set.
const DataDir = "..data"

// tmpPrefix starts every temporary name the writer creates; all of them begin with "..", so a
// leftover from a crash is recognised and removed by the next Write.
const tmpPrefix = "..tmp."

// ErrBadName: a file name in the set is empty, absolute, not clean, or reserved.
var ErrBadName = errors.New("podfiles: bad file name")

// Writer writes file sets into Dir. The zero GID means files are 0400 and directories 0700,
// readable by the writer's own user; a positive GID makes them group-owned by GID and 0440/0750.
type Writer struct {
	// Dir is the output directory (the pod's memory volume).
	Dir string
	// GID, when positive, is the group that may read the files.
	GID int
	// Now names the generation directories (time.Now when nil).
	Now func() time.Time

	// beforeSwitch, when set (tests), runs just before "..data" is switched; an error aborts.
	beforeSwitch func() error
}

func (w *Writer) fileMode() fs.FileMode {
	if w.GID > 0 {
		return 0o440
	}
	return 0o400
}

func (w *Writer) dirMode() fs.FileMode {
	if w.GID > 0 {
		return 0o750
	}
	return 0o700
}

// Write replaces the set of files in Dir by files, which maps slash-separated relative names
// ("tls.crt", "bundles/example.org.pem") to contents. Readers see the old set or the new one,
// never a mix or a partial file. On error nothing of the new set is left behind and the old set
// stays in place.
func (w *Writer) Write(files map[string][]byte) (err error) {
	names, tops, err := checkNames(files)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		return fmt.Errorf("podfiles: %w", err)
	}
	old, _ := os.Readlink(filepath.Join(w.Dir, DataDir))
	if err := w.removeLeftovers(old); err != nil {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	gen, err := os.MkdirTemp(w.Dir, ".."+now().UTC().Format("2006_01_02_15_04_05.")+"*")
	if err != nil {
		return fmt.Errorf("podfiles: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(gen)
		}
	}()
	if err := w.ownDir(gen); err != nil {
		return err
	}
	for _, name := range names {
		if err := w.writeFile(gen, name, files[name]); err != nil {
			return err
		}
	}
	if err := syncDir(gen); err != nil {
		return err
	}
	// New top-level names are linked before the switch: they dangle until "..data" moves, so
	// on the first write the whole set appears at once.
	var created []string
	defer func() {
		if err != nil {
			for _, top := range created {
				_ = os.Remove(filepath.Join(w.Dir, top))
			}
		}
	}()
	for _, top := range tops {
		made, err := w.link(top)
		if err != nil {
			return err
		}
		if made {
			created = append(created, top)
		}
	}
	if w.beforeSwitch != nil {
		if err := w.beforeSwitch(); err != nil {
			return err
		}
	}
	if err := w.replaceSymlink(DataDir, filepath.Base(gen)); err != nil {
		return err
	}
	if err := syncDir(w.Dir); err != nil {
		return err
	}
	// The switch is done: what follows only tidies up, and the new set is in place even if it fails.
	var errs []error
	if old != "" && old != filepath.Base(gen) {
		errs = append(errs, w.unlinkStale(old, tops))
		if strings.HasPrefix(old, "..") && !strings.ContainsRune(old, '/') {
			errs = append(errs, os.RemoveAll(filepath.Join(w.Dir, old)))
		}
	}
	if e := errors.Join(errs...); e != nil {
		return fmt.Errorf("podfiles: new set in place, cleaning up the old one: %w", e)
	}
	return nil
}

// checkNames validates the names and returns them sorted with their distinct top-level parts.
func checkNames(files map[string][]byte) (names, tops []string, err error) {
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("%w: empty set", ErrBadName)
	}
	seen := map[string]bool{}
	for name := range files {
		if name == "" || path.IsAbs(name) || path.Clean(name) != name || strings.Contains(name, `\`) {
			return nil, nil, fmt.Errorf("%w: %q", ErrBadName, name)
		}
		for _, part := range strings.Split(name, "/") {
			if part == "." || strings.HasPrefix(part, "..") {
				return nil, nil, fmt.Errorf("%w: %q", ErrBadName, name)
			}
		}
		names = append(names, name)
		top, _, _ := strings.Cut(name, "/")
		if !seen[top] {
			seen[top] = true
			tops = append(tops, top)
		}
	}
	sort.Strings(names)
	sort.Strings(tops)
	for i := 1; i < len(names); i++ {
		if strings.HasPrefix(names[i], names[i-1]+"/") {
			return nil, nil, fmt.Errorf("%w: %q is both a file and a directory", ErrBadName, names[i-1])
		}
	}
	return names, tops, nil
}

func (w *Writer) ownDir(dir string) error {
	if w.GID > 0 {
		if err := os.Chown(dir, -1, w.GID); err != nil {
			return fmt.Errorf("podfiles: %w", err)
		}
	}
	if err := os.Chmod(dir, w.dirMode()); err != nil {
		return fmt.Errorf("podfiles: %w", err)
	}
	return nil
}

func (w *Writer) writeFile(gen, name string, data []byte) error {
	p := filepath.Join(gen, filepath.FromSlash(name))
	if err := w.mkdirs(gen, path.Dir(name)); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("podfiles: %w", err)
	}
	_, err = f.Write(data)
	if err == nil && w.GID > 0 {
		err = f.Chown(-1, w.GID)
	}
	if err == nil {
		err = f.Chmod(w.fileMode())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("podfiles: writing %s: %w", name, err)
	}
	return nil
}

// mkdirs creates the slash-separated directory rel inside gen, level by level, each owned and
// moded like gen.
func (w *Writer) mkdirs(gen, rel string) error {
	if rel == "." {
		return nil
	}
	dir := gen
	for _, part := range strings.Split(rel, "/") {
		dir = filepath.Join(dir, part)
		err := os.Mkdir(dir, 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("podfiles: %w", err)
		}
		if err := w.ownDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// link makes the top-level name a symlink through "..data", unless it already is one, and
// reports whether it made a new one.
func (w *Writer) link(top string) (bool, error) {
	want := DataDir + "/" + top
	if got, err := os.Readlink(filepath.Join(w.Dir, top)); err == nil && got == want {
		return false, nil
	}
	if _, err := os.Lstat(filepath.Join(w.Dir, top)); err == nil {
		return false, fmt.Errorf("podfiles: %s already exists in %s and is not seal's", top, w.Dir)
	}
	return true, w.replaceSymlink(top, want)
}

// replaceSymlink atomically makes name (in Dir) a symlink to target.
func (w *Writer) replaceSymlink(name, target string) error {
	tmp := filepath.Join(w.Dir, tmpPrefix+name)
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("podfiles: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(w.Dir, name)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("podfiles: %w", err)
	}
	return nil
}
