package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/seal-dev/seal/internal/store"
)

var errNoImageKeys = errors.New("the destination store does not keep image keys (encrypted images would no longer decrypt): nothing was written")

// copyImageKeys copies the keys of encrypted images; a destination that does not keep them
// is refused before anything is lost.
func copyImageKeys(ctx context.Context, st *store.State, dst store.Store) error {
	if len(st.ImageKeys) == 0 {
		return nil
	}
	ik, ok := dst.(store.ImageKeyStore)
	if !ok {
		return errNoImageKeys
	}
	for _, id := range sorted(st.ImageKeys) {
		if err := ik.PutImageKey(ctx, st.ImageKeys[id]); err != nil {
			return fmt.Errorf("image key %s: %w", id, err)
		}
	}
	return nil
}

// imageKeys compares image keys by id, workload and a digest of the stored key.
func imageKeys(st *store.State) string {
	var out []string
	for _, id := range sorted(st.ImageKeys) {
		k := st.ImageKeys[id]
		sum := sha256.Sum256([]byte(k.Key))
		out = append(out, id+"="+k.Workload+"/"+hex.EncodeToString(sum[:8]))
	}
	return strings.Join(out, " ")
}
