package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Pending is a file being written under a temporary name beside its target. Commit puts it in
// place; Cleanup removes it when it was not committed. The zero value is not usable: call
// Create.
type Pending struct {
	f         *os.File
	path      string
	committed bool
}

// Create starts writing path with mode perm. The mode is set on the temporary file before any
// byte is written, so a reader never sees the data with looser permissions.
func Create(path string, perm fs.FileMode) (*Pending, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	return &Pending{f: f, path: path}, nil
}

// Write writes to the temporary file.
func (p *Pending) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	if err != nil {
		err = fmt.Errorf("atomicfile: writing %s: %w", p.path, err)
	}
	return n, err
}

// Commit syncs the temporary file, renames it over the target and syncs the directory. After
// an error the temporary file is gone and the target is as it was.
func (p *Pending) Commit() error {
	if p.committed {
		return errors.New("atomicfile: " + p.path + " already committed")
	}
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p.f.Name(), p.path)
	}
	if err != nil {
		os.Remove(p.f.Name())
		return fmt.Errorf("atomicfile: writing %s: %w", p.path, err)
	}
	p.committed = true
	return SyncDir(filepath.Dir(p.path))
}

// Cleanup removes the temporary file unless it was committed. It is safe to defer right
// after Create.
func (p *Pending) Cleanup() {
	if p.committed {
		return
	}
	p.f.Close()
	os.Remove(p.f.Name())
}

// WriteFile writes data to path with mode perm: readers see the old content or the new, never
// a part, and the new content is on disk when it returns nil.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	p, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer p.Cleanup()
	if _, err := p.Write(data); err != nil {
		return err
	}
	return p.Commit()
}

// SyncDir fsyncs a directory, so that renames and removals in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("atomicfile: syncing %s: %w", dir, err)
	}
	return nil
}
