package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// secretsDir holds DIR/secrets/WORKLOAD/NAME.json.
const secretsDir = "secrets"

// PutSecret writes secrets/WORKLOAD/NAME.json.
func (f *File) PutSecret(_ context.Context, s *Secret) error {
	if err := checkName(s.Workload); err != nil {
		return err
	}
	if err := CheckSecretName(s.Name); err != nil {
		return err
	}
	return f.writeJSON(filepath.Join(secretsDir, s.Workload), s.Name, s)
}

// DeleteSecret removes secrets/WORKLOAD/NAME.json; ErrNotFound when there is none.
func (f *File) DeleteSecret(_ context.Context, workload, name string) error {
	if err := checkName(workload); err != nil {
		return err
	}
	if err := CheckSecretName(name); err != nil {
		return err
	}
	dir := filepath.Join(f.dir, secretsDir, workload)
	err := os.Remove(filepath.Join(dir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: secret %q of workload %q", ErrNotFound, name, workload)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return syncDir(dir)
}

// loadSecrets reads every secrets/WORKLOAD/NAME.json into st.
func (f *File) loadSecrets(st *State) error {
	root := filepath.Join(f.dir, secretsDir)
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", ErrCorrupt, root, err)
	}
	for _, e := range ents {
		wl := e.Name()
		if strings.HasPrefix(wl, ".") {
			continue
		}
		if !e.IsDir() {
			return fmt.Errorf("%w: unexpected file %s", ErrCorrupt, filepath.Join(root, wl))
		}
		err := readAll(filepath.Join(root, wl), func(name, path string) error {
			var s Secret
			if err := readJSON(path, &s); err != nil {
				return err
			}
			if s.Workload != wl || s.Name != name {
				return fmt.Errorf("%w: %s holds secret %q of workload %q", ErrCorrupt, path, s.Name, s.Workload)
			}
			if err := s.check(); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
			}
			st.addSecret(&s)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
