package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/store"
)

// Secret is the sample secret the suite writes (its value is opaque to a store).
func Secret(name string) *store.Secret {
	nb, ea := time.Unix(1e9, 0).UTC(), time.Unix(3e9, 0).UTC()
	return &store.Secret{Workload: "payments", Name: name,
		Value:        "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n",
		DataKeyIndex: 0, Recipient: "age1samplerecipient", Created: time.Unix(1e9, 0).UTC(), Updated: time.Unix(2e9, 0).UTC(),
		NotBefore: &nb, ExpiresAfter: &ea, Peers: []string{"db"}}
}

// RunSecrets checks PutSecret, DeleteSecret and that Load returns the secrets (Run runs it too;
// a store whose tests cannot run all of Run calls it alone).
func RunSecrets(t *testing.T, open func(t *testing.T) store.Store, reopen ...func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("secrets", func(t *testing.T) {
		st := open(t)
		put(t, st)
		must(t, st.PutSecret(ctx, Secret("db-password")))
		must(t, st.PutSecret(ctx, Secret("api.token")))
		upd := Secret("db-password")
		upd.Value, upd.DataKeyIndex, upd.Updated, upd.ExpiresAfter = "-----BEGIN AGE ENCRYPTED FILE-----\nbmV3\n-----END AGE ENCRYPTED FILE-----\n", 1, time.Unix(2.5e9, 0).UTC(), nil
		must(t, st.PutSecret(ctx, upd))
		must(t, st.DeleteSecret(ctx, "payments", "api.token"))
		if err := st.DeleteSecret(ctx, "payments", "api.token"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting a missing secret: %v, want store.ErrNotFound", err)
		}
		if err := st.PutSecret(ctx, Secret("../escape")); err == nil {
			t.Error("PutSecret accepted the name ../escape")
		}
		if len(reopen) > 0 && reopen[0] != nil {
			st.Close()
			st = reopen[0](t)
		}
		defer st.Close()
		s, err := st.Load(ctx)
		must(t, err)
		got := s.Secrets["payments"]
		if len(got) != 1 {
			t.Fatalf("loaded secrets of payments = %v, want only db-password", got)
		}
		g := got["db-password"]
		if g == nil || g.Value != upd.Value || g.DataKeyIndex != 1 || g.Recipient != upd.Recipient || !g.Created.Equal(upd.Created) ||
			!g.Updated.Equal(upd.Updated) || g.NotBefore == nil || !g.NotBefore.Equal(*upd.NotBefore) || g.ExpiresAfter != nil ||
			len(g.Peers) != 1 || g.Peers[0] != "db" {
			t.Errorf("loaded secret = %+v, want %+v", g, upd)
		}
	})
}
