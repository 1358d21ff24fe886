package kubestore

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// ImageKeysSecret holds the keys of encrypted images (store.ImageKey), one key per image key
// id; each key is stored as the ROT's key custody seals it.
const ImageKeysSecret = "seal-rot-image-keys"

// PutImageKey writes the image key's record under its id in Secret seal-rot-image-keys.
func (s *Store) PutImageKey(ctx context.Context, k *store.ImageKey) error {
	if !rotapi.ValidImageKeyID(k.ID) || k.Workload == "" || k.Key == "" {
		return fmt.Errorf("kubestore: invalid image key: id %q, workload %q", k.ID, k.Workload)
	}
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("kubestore: encoding image key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putKey(ctx, ImageKeysSecret, "image-keys", k.ID, b)
}

// loadImageKeys reads Secret seal-rot-image-keys into st (none: no image keys).
func (s *Store) loadImageKeys(ctx context.Context, st *store.State) error {
	st.ImageKeys = map[string]*store.ImageKey{}
	return s.loadRecords(ctx, ImageKeysSecret, func(id string, sec *corev1.Secret) error {
		var k store.ImageKey
		if err := decodeKey(sec, id, &k); err != nil {
			return s.corrupt(ImageKeysSecret, "%v", err)
		}
		if k.ID != id || k.Workload == "" || k.Key == "" {
			return s.corrupt(ImageKeysSecret, "key %q holds image key %q of workload %q", id, k.ID, k.Workload)
		}
		st.ImageKeys[id] = &k
		return nil
	})
}
