package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/seal-dev/seal/internal/atomicfile"
)

// File layout of a state directory.
const (
	lockFile      = "lock"
	authorityFile = "authority.json"
	workloadsDir  = "workloads"
	eggsDir       = "eggs"
	bundlesDir    = "bundles"
)

// File is the state store in a directory (seal-rot --state-dir):
//
//	DIR/lock                  exclusive flock held while the ROT runs
//	DIR/authority.json        ROT CA(s), egg-sealing keyring, bundle sequence
//	DIR/workloads/NAME.json   spec, Workload CA(s), age data keys
//	DIR/eggs/ID.json          minted Egg metadata and revocation (never the Egg text)
//	DIR/bundles/TD.json       federated trust domains' bundles
//	DIR/clusters/NAME.json    clusters whose pods may redeem (pod binding)
//	DIR/secrets/W/NAME.json   workload W's secrets, values age-encrypted to its data key
//	DIR/invites/ID.json       federation invites (the secret's hash, expiry, use)
//
// Every file is written 0600 through a temporary file, fsync and rename, so a crash leaves the
// old or the new file, never half of one.
type File struct {
	dir  string
	lock *os.File
}

var _ Store = (*File)(nil)

// OpenFile opens (creating it 0700 when missing) the state directory dir and takes its lock.
// A second process opening the same directory gets ErrLocked.
func OpenFile(dir string) (*File, error) {
	if dir == "" {
		return nil, errors.New("store: empty state directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: creating state directory: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: opening lock: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is in use by another seal-rot (lock %s)", ErrLocked, dir, filepath.Join(dir, lockFile))
		}
		return nil, fmt.Errorf("store: locking %s: %w", dir, err)
	}
	if err := removeTempFiles(dir); err != nil {
		lf.Close()
		return nil, err
	}
	return &File{dir: dir, lock: lf}, nil
}

// removeTempFiles deletes the temporary files (".NAME.tmp-*", atomicfile) that writes killed
// mid-way left under dir. Load ignores them, but they would pile up and take space on every
// crash. Only the holder of the lock calls it, so no write of another process is running.
func removeTempFiles(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp-") {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: removing temporary files of interrupted writes: %w", err)
	}
	return nil
}

// Dir is the state directory.
func (f *File) Dir() string { return f.dir }

// Close releases the lock.
func (f *File) Close() error {
	if f.lock == nil {
		return nil
	}
	err := f.lock.Close() // closing drops the flock
	f.lock = nil
	return err
}

// Load reads the state directory. It writes nothing.
func (f *File) Load(ctx context.Context) (*State, error) {
	st := NewState()
	var a Authority
	switch err := readJSON(filepath.Join(f.dir, authorityFile), &a); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if a.TrustDomain == "" || len(a.CAs) == 0 || a.EggKeys.Current == "" || len(a.EggKeys.Keys[a.EggKeys.Current]) == 0 {
			return nil, fmt.Errorf("%w: %s lacks the trust domain, ROT CA or egg-sealing key", ErrCorrupt, filepath.Join(f.dir, authorityFile))
		}
		st.Authority = &a
	}
	err := readAll(filepath.Join(f.dir, workloadsDir), func(name, path string) error {
		var w Workload
		if err := readJSON(path, &w); err != nil {
			return err
		}
		if w.Spec.Name != name || len(w.CAs) == 0 {
			return fmt.Errorf("%w: %s: name %q or Workload CA missing", ErrCorrupt, path, w.Spec.Name)
		}
		st.Workloads[name] = &w
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = readAll(filepath.Join(f.dir, eggsDir), func(name, path string) error {
		var e Egg
		if err := readJSON(path, &e); err != nil {
			return err
		}
		if e.ID != name {
			return fmt.Errorf("%w: %s holds egg %q", ErrCorrupt, path, e.ID)
		}
		st.Eggs[name] = &e
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = readAll(filepath.Join(f.dir, bundlesDir), func(name, path string) error {
		var b Bundle
		if err := readJSON(path, &b); err != nil {
			return err
		}
		if b.TrustDomain != name {
			return fmt.Errorf("%w: %s holds trust domain %q", ErrCorrupt, path, b.TrustDomain)
		}
		st.Bundles[name] = &b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := f.loadClusters(st); err != nil {
		return nil, err
	}
	if err := f.loadSecrets(st); err != nil {
		return nil, err
	}
	if err := f.loadInvites(st); err != nil {
		return nil, err
	}
	if err := f.loadAttestation(st); err != nil {
		return nil, err
	}
	if err := f.loadImageKeys(st); err != nil {
		return nil, err
	}
	if st.Authority == nil && (len(st.Workloads) > 0 || len(st.Eggs) > 0) {
		return nil, fmt.Errorf("%w: %s holds workloads or eggs but no %s; refusing to create a new ROT CA over them", ErrCorrupt, f.dir, authorityFile)
	}
	return st, nil
}

// PutAuthority writes authority.json.
func (f *File) PutAuthority(_ context.Context, a *Authority) error {
	return f.writeJSON("", authorityFile, a)
}

// PutWorkload writes workloads/NAME.json.
func (f *File) PutWorkload(_ context.Context, w *Workload) error {
	return f.writeJSON(workloadsDir, w.Spec.Name, w)
}

// DeleteWorkload removes workloads/NAME.json.
func (f *File) DeleteWorkload(_ context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(f.dir, workloadsDir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: workload %q", ErrNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return syncDir(filepath.Join(f.dir, workloadsDir))
}

// PutEgg writes eggs/ID.json.
func (f *File) PutEgg(_ context.Context, e *Egg) error {
	return f.writeJSON(eggsDir, e.ID, e)
}

// PutBundle writes bundles/TD.json.
func (f *File) PutBundle(_ context.Context, b *Bundle) error {
	return f.writeJSON(bundlesDir, b.TrustDomain, b)
}

// checkName keeps names from escaping their directory.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("store: invalid name %q", name)
	}
	return nil
}

func (f *File) writeJSON(sub, name string, v any) error {
	dir, file := f.dir, name
	if sub != "" {
		if err := checkName(name); err != nil {
			return err
		}
		dir, file = filepath.Join(f.dir, sub), name+".json"
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encoding %s: %w", file, err)
	}
	return WriteFileAtomic(filepath.Join(dir, file), append(b, '\n'), 0o600)
}

// WriteFileAtomic writes data to path with mode perm (atomicfile.WriteFile): readers see the
// old or the new content, never a part, and the new content is on disk when it returns nil.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	if err := atomicfile.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// readJSON decodes path strictly; a file that does not decode is ErrCorrupt.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("%w: reading %s: %v", ErrCorrupt, path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s is not valid JSON state: %v", ErrCorrupt, path, err)
	}
	return nil
}

// readAll calls fn for every NAME.json in dir (a missing dir is empty); temporary files left
// by a crash (dot files) are ignored.
func readAll(dir string, fn func(name, path string) error) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", ErrCorrupt, dir, err)
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || e.IsDir() {
			continue
		}
		name, ok := strings.CutSuffix(n, ".json")
		if !ok {
			return fmt.Errorf("%w: unexpected file %s", ErrCorrupt, filepath.Join(dir, n))
		}
		if err := fn(name, filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}
