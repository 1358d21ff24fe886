package kubestore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// testFirstStart: two replicas of a new Deployment start at once. Each writes its admin
// credentials before saving its ROT CA; the second must not replace the first's (CI caught a
// loser overwriting them: the survivor then served a CA the admin Secret did not hold). An
// admin Secret left by a first start that stopped before saving its CA is replaced once it is
// older than the grace.
func testFirstStart(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	open := func(now func() time.Time) *kubestore.Store {
		st, err := kubestore.New(env.Config, ns, kubestore.Options{Resync: time.Second, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	admin := func() string {
		var sec corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.AdminSecret}, &sec); err != nil {
			t.Fatal(err)
		}
		return string(sec.Data["tls.crt"])
	}
	if err := open(nil).WriteAdmin(ctx, []byte("first"), []byte("k1"), []byte("ca1")); err != nil {
		t.Fatalf("first replica: %v", err)
	}
	err := open(nil).WriteAdmin(ctx, []byte("second"), []byte("k2"), []byte("ca2"))
	if !errors.Is(err, kubestore.ErrConflict) || !strings.Contains(err.Error(), "another seal-rot is creating it") {
		t.Errorf("second replica at once: %v, want ErrConflict naming the other first start", err)
	}
	if got := admin(); got != "first" {
		t.Errorf("admin Secret holds %q after the race, want the first replica's", got)
	}
	later := func() time.Time { return time.Now().Add(3 * time.Minute) }
	if err := open(later).WriteAdmin(ctx, []byte("after a crash"), []byte("k3"), []byte("ca3")); err != nil {
		t.Fatalf("a first start 3 minutes after one that stopped before its ROT CA: %v", err)
	}
	if got := admin(); got != "after a crash" {
		t.Errorf("admin Secret holds %q, want the stale one replaced", got)
	}
}
