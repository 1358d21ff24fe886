package podfiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// unlinkStale removes the top-level symlinks of the old generation that the new one lacks.
func (w *Writer) unlinkStale(old string, tops []string) error {
	entries, err := os.ReadDir(filepath.Join(w.Dir, old))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	keep := map[string]bool{}
	for _, t := range tops {
		keep[t] = true
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if keep[name] {
			continue
		}
		p := filepath.Join(w.Dir, name)
		if got, err := os.Readlink(p); err == nil && got == DataDir+"/"+name {
			errs = append(errs, os.Remove(p))
		}
	}
	return errors.Join(errs...)
}

// removeLeftovers removes generation directories and temporary links other than current, left
// by a writer that crashed.
func (w *Writer) removeLeftovers(current string) error {
	entries, err := os.ReadDir(w.Dir)
	if err != nil {
		return fmt.Errorf("podfiles: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "..") || name == DataDir || name == current {
			continue
		}
		if err := os.RemoveAll(filepath.Join(w.Dir, name)); err != nil {
			return fmt.Errorf("podfiles: removing leftover %s: %w", name, err)
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("podfiles: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("podfiles: syncing %s: %w", dir, err)
	}
	return nil
}
