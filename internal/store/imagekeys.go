package store

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// ImageKey is the key of one encrypted image (sealctl image seal --encrypt): the ROT releases
// it only to nodes that attest (POST /v1/image-key).
type ImageKey struct {
	ID       string `json:"id"`
	Workload string `json:"workload"`
	// Key is the stored form of the 32-byte key (base64), sealed by the key custody when one
	// protects (custody.ImageKeyName).
	Key     string    `json:"key"`
	Created time.Time `json:"created,omitempty"`
}

// ImageKeyStore is a Store that keeps image keys (the file store, and the Kubernetes store in
// Secret seal-rot-image-keys).
type ImageKeyStore interface {
	PutImageKey(ctx context.Context, k *ImageKey) error
}

// imageKeysDir holds DIR/image-keys/ID.json.
const imageKeysDir = "image-keys"

func (f *File) loadImageKeys(st *State) error {
	if st.ImageKeys == nil {
		st.ImageKeys = map[string]*ImageKey{}
	}
	return readAll(filepath.Join(f.dir, imageKeysDir), func(name, path string) error {
		var k ImageKey
		if err := readJSON(path, &k); err != nil {
			return err
		}
		if k.ID != name || k.Workload == "" || k.Key == "" {
			return fmt.Errorf("%w: %s: id %q, workload or key missing", ErrCorrupt, path, k.ID)
		}
		st.ImageKeys[name] = &k
		return nil
	})
}

// PutImageKey writes image-keys/ID.json (mode 0600).
func (f *File) PutImageKey(_ context.Context, k *ImageKey) error {
	return f.writeJSON(imageKeysDir, k.ID, k)
}
