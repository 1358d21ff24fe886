package kubestore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/store/storetest"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func testInvites(t *testing.T, env *testenv.Env) {
	storetest.Invites(t, newStore(t, env, env.Namespace(t, nil)))

	// Two ROT replicas that both loaded an invite unused: only the first to mark it used wins,
	// the second gets ErrConflict (the single use holds across replicas). Found in review.
	ns := env.Namespace(t, nil)
	a, b := newStore(t, env, ns), newStore(t, env, ns)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	inv := storetest.Invite()
	if err := a.PutInvite(ctx, inv); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	byX, byY := *inv, *inv
	byX.Used, byX.UsedBy = &now, "x.example"
	byY.Used, byY.UsedBy = &now, "y.example"
	if err := a.PutInvite(ctx, &byX); err != nil {
		t.Fatalf("replica a marking the invite used: %v", err)
	}
	if err := b.PutInvite(ctx, &byY); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("replica b marking the same invite used again: %v, want ErrConflict", err)
	}
	st, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Invites[inv.ID]; got == nil || got.UsedBy != "x.example" {
		t.Errorf("stored invite %+v, want used by x.example", got)
	}
}
