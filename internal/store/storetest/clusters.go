package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/store"
)

// Cluster is the sample cluster the suite writes (a JWKS URL one, with a fetched JWKS).
func Cluster() *store.Cluster {
	now := time.Unix(1e9, 0).UTC()
	return &store.Cluster{Name: "prod-eu", Issuer: "https://kubernetes.default.svc.cluster.local", Audience: "seal-rot",
		JWKS:    `{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`,
		JWKSURL: "https://oidc.prod-eu.example.com/openid/v1/jwks", JWKSCA: material().root.Cert,
		LastRefreshed: &now, LastError: "fetching: connection refused", Created: now}
}

// RunClusters checks PutCluster, DeleteCluster and workload bindings.
func RunClusters(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("clusters and bindings", func(t *testing.T) {
		st := open(t)
		defer st.Close()
		must(t, st.PutAuthority(ctx, Authority()))
		w := Workload()
		w.Spec.Bindings = []store.Binding{{Cluster: "prod-eu", Namespace: "payments", ServiceAccount: "api"}, {Cluster: "prod-eu", Namespace: "batch", ServiceAccount: "*"}}
		must(t, st.PutWorkload(ctx, w))
		must(t, st.PutCluster(ctx, Cluster()))
		s, err := st.Load(ctx)
		must(t, err)
		got, want := s.Clusters["prod-eu"], Cluster()
		if got == nil || got.Issuer != want.Issuer || got.Audience != want.Audience || got.JWKS != want.JWKS || got.JWKSURL != want.JWKSURL ||
			got.JWKSCA != want.JWKSCA || got.LastError != want.LastError || got.LastRefreshed == nil || !got.LastRefreshed.Equal(*want.LastRefreshed) {
			t.Errorf("cluster = %+v, want %+v", got, want)
		}
		if gw := s.Workloads[w.Spec.Name]; gw == nil || !slices.Equal(gw.Spec.Bindings, w.Spec.Bindings) {
			t.Errorf("workload bindings = %+v, want %+v", gw, w.Spec.Bindings)
		}
		// Unbind (replace with fewer bindings) and a refresh that clears the error.
		w.Spec.Bindings = w.Spec.Bindings[:1]
		must(t, st.PutWorkload(ctx, w))
		c := Cluster()
		c.LastError = ""
		must(t, st.PutCluster(ctx, c))
		s, err = st.Load(ctx)
		must(t, err)
		if gw := s.Workloads[w.Spec.Name]; gw == nil || !slices.Equal(gw.Spec.Bindings, w.Spec.Bindings) {
			t.Errorf("after unbind: bindings = %+v, want %+v", gw, w.Spec.Bindings)
		}
		if got := s.Clusters["prod-eu"]; got == nil || got.LastError != "" {
			t.Errorf("after refresh: cluster = %+v, want no lastError", got)
		}
		must(t, st.DeleteCluster(ctx, "prod-eu"))
		if err := st.DeleteCluster(ctx, "prod-eu"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting a missing cluster: %v, want store.ErrNotFound", err)
		}
		s, err = st.Load(ctx)
		must(t, err)
		if _, ok := s.Clusters["prod-eu"]; ok {
			t.Error("deleted cluster still loads")
		}
		if s.Clusters == nil {
			t.Error("Load returned a nil Clusters map")
		}
	})
}
