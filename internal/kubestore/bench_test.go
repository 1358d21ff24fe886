package kubestore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// BenchmarkKubeStore measures Load (what every replica does after each change) of a state
// with 50 workloads and 2,000 Eggs, and PutEgg (one Egg minted), on the real API server.
func BenchmarkKubeStore(b *testing.B) {
	env := testenv.Start(b, testenv.Options{NoControllerManager: true})
	ctx := context.Background()
	ns := env.Namespace(b, nil)
	st, err := kubestore.New(env.Config, ns, kubestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	a, root := authority(b)
	if err := st.PutAuthority(ctx, a); err != nil {
		b.Fatal(err)
	}
	for i := range 50 {
		if err := st.PutWorkload(ctx, workloadRec(b, root, fmt.Sprintf("w%d", i), store.WorkloadSpec{})); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 2000 {
		if err := st.PutEgg(ctx, &store.Egg{ID: fmt.Sprintf("egg-%d", i), Workload: "w1", Peer: "any"}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Load", func(b *testing.B) {
		for b.Loop() {
			s, err := st.Load(ctx)
			if err != nil || len(s.Workloads) != 50 || len(s.Eggs) != 2000 {
				b.Fatalf("Load: %d workloads, %d eggs, %v", len(s.Workloads), len(s.Eggs), err)
			}
		}
	})
	b.Run("PutEgg", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if err := st.PutEgg(ctx, &store.Egg{ID: fmt.Sprintf("egg-b-%d", i), Workload: "w1", Peer: "any"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
