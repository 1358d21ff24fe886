package kubestore_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/store/storetest"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestKubeStoreSecrets runs the secrets part of the store contract against a real API server
// and checks the Secret's labels and its removal with the workload.
func TestKubeStoreSecrets(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	storetest.RunSecrets(t, func(t *testing.T) store.Store {
		t.Cleanup(func() { clearCluster(t, env) })
		return newStore(t, env, env.Namespace(t, nil))
	})

	ctx := context.Background()
	ns := env.Namespace(t, nil)
	st := newStore(t, env, ns)
	t.Cleanup(func() { clearCluster(t, env) })
	if err := st.PutAuthority(ctx, storetest.Authority()); err != nil {
		t.Fatal(err)
	}
	if err := st.PutWorkload(ctx, storetest.Workload()); err != nil {
		t.Fatal(err)
	}
	before, err := st.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSecret(ctx, storetest.Secret("db-password")); err != nil {
		t.Fatal(err)
	}
	// Another replica reloads when the reconcile key changes: a secret's change must change it.
	after, err := st.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Error("putting a secret did not change the reconcile key: other replicas would not reload")
	}
	var sec corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.SecretsPrefix + "payments"}, &sec); err != nil {
		t.Fatal(err)
	}
	if got := sec.Labels["seal.dev/workload"]; got != "payments" {
		t.Errorf("label seal.dev/workload = %q, want payments", got)
	}
	if got := sec.Labels["seal.dev/state"]; got != "secrets" {
		t.Errorf("label seal.dev/state = %q, want secrets", got)
	}
	if err := st.DeleteWorkload(ctx, "payments"); err != nil {
		t.Fatal(err)
	}
	err = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.SecretsPrefix + "payments"}, &sec)
	if !apierrors.IsNotFound(err) {
		t.Errorf("after deleting the workload, its secrets Secret: %v, want not found", err)
	}
}
