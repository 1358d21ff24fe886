package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/store"
)

// ImageKey is a sample image key record (its Key as a custody would store it).
func ImageKey(id string) *store.ImageKey {
	return &store.ImageKey{ID: id, Workload: "vault", Key: "c2VhbGVkLWJ5LWN1c3RvZHk=", Created: time.Unix(1e9, 0).UTC()}
}

// ImageKeys checks PutImageKey on an empty store st (which must be a store.ImageKeyStore): keys
// written load back with their workload and stored key, each under its id. The suite closes st.
func ImageKeys(t *testing.T, st store.Store) {
	t.Helper()
	defer st.Close()
	ks, ok := st.(store.ImageKeyStore)
	if !ok {
		t.Fatalf("%T does not keep image keys", st)
	}
	ctx := context.Background()
	ids := []string{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"}
	for _, id := range ids {
		must(t, ks.PutImageKey(ctx, ImageKey(id)))
	}
	s, err := st.Load(ctx)
	must(t, err)
	if len(s.ImageKeys) != len(ids) {
		t.Fatalf("loaded %d image keys, want %d", len(s.ImageKeys), len(ids))
	}
	for _, id := range ids {
		got, want := s.ImageKeys[id], ImageKey(id)
		if got == nil || got.ID != id || got.Workload != want.Workload || got.Key != want.Key || !got.Created.Equal(want.Created) {
			t.Errorf("image key %s = %+v, want %+v", id, got, want)
		}
	}
}
