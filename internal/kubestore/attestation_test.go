package kubestore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	t.Run("a kubectl-made resource the ROT cannot use says why in its status", func(t *testing.T) {
		ctx := context.Background()
		badKey := &sealv1.AttestationKey{ObjectMeta: metav1.ObjectMeta{Name: "bad-key"},
			Spec: sealv1.AttestationKeySpec{AKPub: "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"}}
		goodKey := &sealv1.AttestationKey{ObjectMeta: metav1.ObjectMeta{Name: "good-key"},
			Spec: sealv1.AttestationKeySpec{AKPub: storetest.AttestationKey().AKPub}}
		badPolicy := &sealv1.AttestationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bad-policy"},
			Spec: sealv1.AttestationPolicySpec{PCRs: map[string]string{"7": "xyz"}}}
		for _, o := range []client.Object{badKey, goodKey, badPolicy} {
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		st := newStore(t, env, "seal-attest-status")
		if _, err := st.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			obj        client.Object
			conds      func() []metav1.Condition
			wantStatus metav1.ConditionStatus
			wantReason string
			wantMsg    string
		}{
			{badKey, func() []metav1.Condition { return badKey.Status.Conditions }, metav1.ConditionFalse, "InvalidKey", "akPub:"},
			{goodKey, func() []metav1.Condition { return goodKey.Status.Conditions }, metav1.ConditionTrue, "Valid", "registered"},
			{badPolicy, func() []metav1.Condition { return badPolicy.Status.Conditions }, metav1.ConditionFalse, "InvalidPolicy", "PCR 7 value"},
		} {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tc.obj), tc.obj); err != nil {
				t.Fatal(err)
			}
			c := meta.FindStatusCondition(tc.conds(), sealv1.ConditionReady)
			if c == nil || c.Status != tc.wantStatus || c.Reason != tc.wantReason || !strings.Contains(c.Message, tc.wantMsg) {
				t.Errorf("%s: Ready = %+v, want %s %s with %q", tc.obj.GetName(), c, tc.wantStatus, tc.wantReason, tc.wantMsg)
			}
		}
		if goodKey.Status.Fingerprint == "" {
			t.Error("the good key's status has no fingerprint")
		}
		s, err := st.Load(ctx)
		if err != nil {
			t.Fatalf("Load with an invalid key and policy: %v, want them loaded for the ROT to refuse", err)
		}
		if _, ok := s.Attestation.Policies["bad-policy"]; !ok {
			t.Error("the invalid policy is not loaded; the ROT must see it to refuse its Workloads with the reason")
		}
	})
}
