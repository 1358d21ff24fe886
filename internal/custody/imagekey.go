package custody

import (
	"fmt"

	"github.com/seal-dev/seal/internal/store"
)

// ImageKeyName is the custody name of an encrypted image's key (sealctl image seal --encrypt).
func ImageKeyName(id string) string { return "image-key/" + id }

// resealImageKeys reseals the image keys of out (a copy of st) from one provider to another.
func resealImageKeys(out *store.State, from, to Keys) error {
	if len(out.ImageKeys) == 0 {
		return nil
	}
	keys := make(map[string]*store.ImageKey, len(out.ImageKeys))
	for id, k := range out.ImageKeys {
		nk := *k
		var err error
		if nk.Key, err = reseal(ImageKeyName(id), k.Key, from, to); err != nil {
			return fmt.Errorf("custody: image key %s: %w", id, err)
		}
		keys[id] = &nk
	}
	out.ImageKeys = keys
	return nil
}
