package kubestore_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// testEvents: with a resync of an hour, a change made elsewhere (a Workload made with kubectl,
// an Egg another replica minted into a Secret) reaches Changed through the informers alone.
func testEvents(t *testing.T, env *testenv.Env) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := env.Namespace(t, nil)
	st, err := kubestore.New(env.Config, ns, kubestore.Options{Resync: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := authority(t)
	if err := st.PutAuthority(ctx, a); err != nil {
		t.Fatal(err)
	}
	changed := st.Changed(ctx)
	wait := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(30 * time.Second):
			t.Fatalf("no change reported after %s", what)
		}
	}
	wait("the start")

	w := &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "evented"}, Spec: sealv1.WorkloadSpec{Peers: []string{"api"}}}
	if err := env.Client.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	wait("a Workload was created")
	if got, err := st.Load(ctx); err != nil || got.Workloads["evented"] == nil {
		t.Fatalf("after the change: Load = %v, %v; want workload evented", got, err)
	}

	other := newStore(t, env, ns)
	if _, err := other.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.PutEgg(ctx, &store.Egg{ID: "egg-evented", Workload: "evented", Peer: "api"}); err != nil {
		t.Fatal(err)
	}
	wait("another replica wrote an Egg Secret")
	if got, err := st.Load(ctx); err != nil || got.Eggs["egg-evented"] == nil {
		t.Fatalf("after the change: Load = %v, %v; want egg-evented", got, err)
	}
}
