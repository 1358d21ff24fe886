package kubestore_test

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/store/storetest"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func testImageKeys(t *testing.T, env *testenv.Env) {
	storetest.ImageKeys(t, newStore(t, env, env.Namespace(t, nil)))
	ctx := context.Background()

	// A key one ROT replica made is there for the other (it releases it to attested nodes).
	ns := env.Namespace(t, nil)
	a, b := newStore(t, env, ns), newStore(t, env, ns)
	defer a.Close()
	defer b.Close()
	k := storetest.ImageKey("00112233445566778899aabbccddeeff")
	if err := a.PutImageKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	st, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.ImageKeys[k.ID]; got == nil || got.Key != k.Key || got.Workload != k.Workload {
		t.Errorf("replica b loaded image key %+v, want %+v", got, k)
	}

	// Not an image key id: refused before anything is written.
	bad := storetest.ImageKey("../../etc")
	if err := a.PutImageKey(ctx, bad); err == nil {
		t.Error("PutImageKey with id ../../etc: no error")
	}

	// A record under another id than its own is corrupt state: Load says so.
	var sec corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.ImageKeysSecret}, &sec); err != nil {
		t.Fatal(err)
	}
	sec.Data["ffeeddccbbaa99887766554433221100"] = sec.Data[k.ID]
	if err := env.Client.Update(ctx, &sec); err != nil {
		t.Fatal(err)
	}
	if _, err := newStore(t, env, ns).Load(ctx); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Load with an image key under another id: %v, want ErrCorrupt", err)
	}
}
