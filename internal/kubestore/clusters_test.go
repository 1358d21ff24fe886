package kubestore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/store/storetest"
	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

func testClusters(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	storetest.RunClusters(t, func(t *testing.T) store.Store { return newStore(t, env, env.Namespace(t, nil)) })

	t.Run("CEL: exactly one of jwks and jwksURL", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			spec    sealv1.WorkloadClusterSpec
			wantErr string
		}{
			{"both", sealv1.WorkloadClusterSpec{Issuer: "https://k", JWKS: `{"keys":[]}`, JWKSURL: "https://k/openid/v1/jwks"}, "set exactly one of jwks"},
			{"neither", sealv1.WorkloadClusterSpec{Issuer: "https://k"}, "set exactly one of jwks"},
			{"CA without URL", sealv1.WorkloadClusterSpec{Issuer: "https://k", JWKS: `{"keys":[]}`, JWKSCA: "PEM"}, "jwksCA is only for jwksURL"},
			{"http URL", sealv1.WorkloadClusterSpec{Issuer: "https://k", JWKSURL: "http://k/jwks"}, "spec.jwksURL"},
		} {
			err := env.Client.Create(ctx, &sealv1.WorkloadCluster{ObjectMeta: metav1.ObjectMeta{Name: "bad-" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")}, Spec: tc.spec})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: got %v, want a refusal with %q", tc.name, err, tc.wantErr)
			}
		}
		good := &sealv1.WorkloadCluster{ObjectMeta: metav1.ObjectMeta{Name: "good"}, Spec: sealv1.WorkloadClusterSpec{Issuer: "https://k", JWKS: `{"keys":[]}`}}
		if err := env.Client.Create(ctx, good); err != nil {
			t.Fatalf("a valid WorkloadCluster is refused: %v", err)
		}
		if good.Spec.Audience != store.DefaultAudience {
			t.Errorf("audience defaulted to %q, want %q", good.Spec.Audience, store.DefaultAudience)
		}
		// Made with kubectl, its JWKS holds no key: the reconciler says so in its status.
		st := newStore(t, env, env.Namespace(t, nil))
		if _, err := st.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(good), good); err != nil {
			t.Fatal(err)
		}
		if c := meta.FindStatusCondition(good.Status.Conditions, sealv1.ConditionReady); c == nil || c.Reason != "InvalidJWKS" || !strings.Contains(c.Message, "no public signing key") {
			t.Errorf("status of a WorkloadCluster without keys = %+v, want Ready=False InvalidJWKS", good.Status)
		}
	})

	t.Run("a failed refresh shows in status, the last good keys stay", func(t *testing.T) {
		st := newStore(t, env, env.Namespace(t, nil))
		now := time.Unix(2e9, 0).UTC()
		c := storetest.Cluster()
		c.Name, c.LastRefreshed, c.LastError = "url-cluster", &now, "GET https://oidc: 503 Service Unavailable"
		if err := st.PutCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
		var cr sealv1.WorkloadCluster
		if err := env.Client.Get(ctx, client.ObjectKey{Name: c.Name}, &cr); err != nil {
			t.Fatal(err)
		}
		ready := meta.FindStatusCondition(cr.Status.Conditions, sealv1.ConditionReady)
		if cr.Status.LastError != c.LastError || ready == nil || ready.Reason != "RefreshFailed" || !strings.Contains(ready.Message, "last good keys stay in use") {
			t.Errorf("status = %+v, want lastError %q and Ready=False RefreshFailed", cr.Status, c.LastError)
		}
		if cr.Spec.JWKS != "" {
			t.Errorf("spec.jwks = %q: a fetched JWKS belongs in Secret %s, not in the user's spec", cr.Spec.JWKS, "seal-rot-clusters")
		}
		s, err := st.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Clusters[c.Name]; got == nil || got.JWKS != c.JWKS {
			t.Errorf("loaded cluster = %+v, want the fetched JWKS kept", got)
		}
		// A new jwksURL in the spec (kubectl edit) drops the keys fetched from the old one.
		patch := client.MergeFrom(cr.DeepCopy())
		cr.Spec.JWKSURL = "https://other.example/jwks"
		if err := env.Client.Patch(ctx, &cr, patch); err != nil {
			t.Fatal(err)
		}
		s, err = st.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Clusters[c.Name]; got == nil || got.JWKS != "" || got.JWKSURL != "https://other.example/jwks" {
			t.Errorf("after a URL change: cluster = %+v, want no keys until the new URL is fetched", got)
		}
	})
}
