package kubestore_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/store/storetest"
	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// TestKubeStoreAttestation: attestation keys and policies are AttestationKey and
// AttestationPolicy resources on a real API server, written by the ROT or by kubectl.
func TestKubeStoreAttestation(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	n := 0
	storetest.RunAttestation(t, func(t *testing.T) store.Store {
		n++
		ns := fmt.Sprintf("seal-attest-%d", n)
		if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		return newStore(t, env, ns)
	})
	t.Run("a policy created with kubectl loads", func(t *testing.T) {
		ctx := context.Background()
		p := &sealv1.AttestationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "kubectl-made"},
			Spec: sealv1.AttestationPolicySpec{PCRs: map[string]string{"7": storetest.AttestationPolicy().PCRs["7"]}}}
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		st := newStore(t, env, "seal-attest-kubectl")
		s, err := st.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Attestation.Policies["kubectl-made"]; got == nil || got.PCRs["7"] != p.Spec.PCRs["7"] {
			t.Errorf("loaded policy = %+v, want the resource's PCR 7", got)
		}
	})
}
