package podfiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// readAttempts bounds how often Read starts over when a writer switches the set under it.
const readAttempts = 10

// Read returns the named files (slash-separated, relative to dir) all from the same generation
// of the set: it resolves "..data" once and reads every file through that, starting over if a
// writer switched and removed the generation meanwhile. Use it to load a certificate and its key
// as a matching pair.
func Read(dir string, names ...string) (map[string][]byte, error) {
	for _, n := range names {
		if !filepath.IsLocal(filepath.FromSlash(n)) {
			return nil, fmt.Errorf("%w: %q", ErrBadName, n)
		}
	}
	var lastErr error
	for range readAttempts {
		gen, err := os.Readlink(filepath.Join(dir, DataDir))
		if err != nil {
			return nil, fmt.Errorf("podfiles: no file set in %s: %w", dir, err)
		}
		out, err := readAll(filepath.Join(dir, gen), names)
		if err == nil {
			return out, nil
		}
		lastErr = err
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if now, _ := os.Readlink(filepath.Join(dir, DataDir)); now == gen {
			return nil, err // not a switch: the file really is missing
		}
	}
	return nil, fmt.Errorf("podfiles: the set in %s kept changing: %w", dir, lastErr)
}

func readAll(gen string, names []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(gen, filepath.FromSlash(n)))
		if err != nil {
			return nil, fmt.Errorf("podfiles: %w", err)
		}
		out[n] = b
	}
	return out, nil
}
