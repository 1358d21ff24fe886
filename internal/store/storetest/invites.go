package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/store"
)

// Invite is the sample federation invite record Invites writes.
func Invite() *store.Invite {
	return &store.Invite{ID: "inv-0123456789abcdef01234567", SecretSHA256: "5e0c", URL: "https://rot.example:8443",
		BundleDigest: "sha256:00ff", NotAfter: time.Unix(2e9, 0).UTC(), Created: time.Unix(1e9, 0).UTC()}
}

// Invites checks PutInvite on an empty store st: an invite written loads back, and marking it
// used replaces it. The suite closes st.
func Invites(t *testing.T, st store.Store) {
	t.Helper()
	defer st.Close()
	ctx := context.Background()
	must(t, st.PutInvite(ctx, Invite()))
	s, err := st.Load(ctx)
	must(t, err)
	got, want := s.Invites[Invite().ID], Invite()
	if got == nil || got.SecretSHA256 != want.SecretSHA256 || got.URL != want.URL || got.BundleDigest != want.BundleDigest ||
		!got.NotAfter.Equal(want.NotAfter) || got.Used != nil {
		t.Fatalf("invite = %+v, want %+v", got, want)
	}
	used := time.Unix(1.5e9, 0).UTC()
	want.Used, want.UsedBy = &used, "beta.example"
	must(t, st.PutInvite(ctx, want))
	s, err = st.Load(ctx)
	must(t, err)
	if got = s.Invites[want.ID]; got == nil || got.Used == nil || !got.Used.Equal(used) || got.UsedBy != "beta.example" || len(s.Invites) != 1 {
		t.Errorf("used invite = %+v (of %d), want used by beta.example", got, len(s.Invites))
	}
}
