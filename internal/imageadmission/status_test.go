package imageadmission_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/seal-dev/seal/internal/imageadmission"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// TestPolicyStatus writes Ready conditions through a real API server: a policy with a bad
// regexp (which CRD validation cannot catch) is reported, a good one is Ready.
func TestPolicyStatus(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	ctx := context.Background()
	ca := verifytest.NewCA(t)
	key := verifytest.NewKey(t)
	good := &sealv1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "good"}, Spec: sealv1.ImagePolicySpec{
		Images:      []sealv1.ImagePattern{{Glob: "registry.example.com/**"}},
		Authorities: []sealv1.Authority{{Name: "k", Key: &sealv1.KeyRef{Data: key.PublicPEM}}},
	}}
	bad := &sealv1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: sealv1.ImagePolicySpec{
		Images: []sealv1.ImagePattern{{Glob: "registry.example.com/**"}},
		Authorities: []sealv1.Authority{{Name: "ci", Keyless: &sealv1.Keyless{
			Identities:  []sealv1.Identity{{Issuer: "https://issuer.test", SubjectRegExp: "(["}},
			TrustedRoot: &sealv1.TrustedRoot{CertificateAuthorities: ca.PEM},
		}}},
	}}
	keyless := func(name, subjectRegExp string) *sealv1.ImagePolicy {
		return &sealv1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: sealv1.ImagePolicySpec{
			Images: []sealv1.ImagePattern{{Glob: "registry.example.com/**"}},
			Authorities: []sealv1.Authority{{Name: "ci", Keyless: &sealv1.Keyless{
				Identities:  []sealv1.Identity{{Issuer: "https://issuer.test", SubjectRegExp: subjectRegExp}},
				TrustedRoot: &sealv1.TrustedRoot{CertificateAuthorities: ca.PEM},
			}}},
		}}
	}
	r := &imageadmission.PolicyStatus{Client: env.Client}
	// A policy written before identity regexps were anchored keeps working (Ready) and warns.
	for _, tt := range []struct {
		p          *sealv1.ImagePolicy
		wantStatus metav1.ConditionStatus
		wantReason string
	}{
		{keyless("unanchored", `https://github\.com/org/`), metav1.ConditionFalse, imageadmission.ReasonImplicitlyAnchored},
		{keyless("anchored", `^https://github\.com/org/.*$`), metav1.ConditionTrue, imageadmission.ReasonExplicitlyAnchored},
	} {
		t.Run(tt.p.Name, func(t *testing.T) {
			if err := env.Client.Create(ctx, tt.p); err != nil {
				t.Fatalf("the API server refused the policy: %v", err)
			}
			if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(tt.p)}); err != nil {
				t.Fatal(err)
			}
			var got sealv1.ImagePolicy
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tt.p), &got); err != nil {
				t.Fatal(err)
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, sealv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
				t.Errorf("Ready = %+v, want True: the policy stays in force", c)
			}
			c := meta.FindStatusCondition(got.Status.Conditions, imageadmission.ConditionRegExpsAnchored)
			if c == nil || c.Status != tt.wantStatus || c.Reason != tt.wantReason {
				t.Fatalf("%s = %+v, want %s/%s", imageadmission.ConditionRegExpsAnchored, c, tt.wantStatus, tt.wantReason)
			}
			if tt.wantStatus == metav1.ConditionFalse && !strings.Contains(c.Message, "subjectRegExp") {
				t.Errorf("message %q does not name the field", c.Message)
			}
		})
	}
	for _, tt := range []struct {
		p          *sealv1.ImagePolicy
		wantStatus metav1.ConditionStatus
		wantMsg    string
	}{
		{good, metav1.ConditionTrue, "in force"},
		{bad, metav1.ConditionFalse, "subjectRegExp"},
	} {
		t.Run(tt.p.Name, func(t *testing.T) {
			if err := env.Client.Create(ctx, tt.p); err != nil {
				t.Fatalf("the API server refused the policy: %v", err)
			}
			if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(tt.p)}); err != nil {
				t.Fatal(err)
			}
			var got sealv1.ImagePolicy
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tt.p), &got); err != nil {
				t.Fatal(err)
			}
			c := meta.FindStatusCondition(got.Status.Conditions, sealv1.ConditionReady)
			if c == nil || c.Status != tt.wantStatus || !strings.Contains(c.Message, tt.wantMsg) || got.Status.ObservedGeneration != got.Generation {
				t.Fatalf("Ready condition = %+v (observedGeneration %d), want %s with %q", c, got.Status.ObservedGeneration, tt.wantStatus, tt.wantMsg)
			}
		})
	}
	var goodGot sealv1.ImagePolicy
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(good), &goodGot); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(goodGot.Status.Conditions, imageadmission.ConditionRegExpsAnchored); c != nil {
		t.Errorf("a policy without identity regexps has condition %+v", c)
	}
	if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKey{Name: "gone"}}); err != nil {
		t.Errorf("reconciling a deleted policy: %v", err)
	}
}
