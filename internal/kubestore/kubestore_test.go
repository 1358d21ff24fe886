package kubestore_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

const td = "kube.example"

// TestKubeStore runs the store contract against a real API server. The subtests share one
// control plane and run one after the other (Workloads and FederatedTrustDomains are
// cluster-scoped, so each subtest removes its own).
func TestKubeStore(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, env *testenv.Env)
	}{
		{"round trip", testRoundTrip},
		{"corrupt state is an error and untouched", testCorrupt},
		{"two stores racing", testRace},
		{"workload created with kubectl is reconciled", testReconcile},
		{"federated trust domains", testFederation},
		{"the documented RBAC is enough", testRBAC},
		{"admin allow-list with seal-rot admin-cert --kube", testAdminAllowList},
		{"a planted Workload CA is never trusted", testPlantedCA},
		{"changes arrive through the informers", testEvents},
		{"clusters and bindings (pod binding)", testClusters},
		{"federation invites", testInvites},
		{"image keys", testImageKeys},
		{"first start racing", testFirstStart},
		{"keys sealed under --kek-file", testKEK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { clearCluster(t, env) })
			tc.run(t, env)
		})
	}
}

func newStore(t *testing.T, env *testenv.Env, ns string) *kubestore.Store {
	t.Helper()
	st, err := kubestore.New(env.Config, ns, kubestore.Options{Resync: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// clearCluster deletes the cluster-scoped resources a subtest left, finalizers and all.
func clearCluster(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	var wls sealv1.WorkloadList
	if err := env.Client.List(ctx, &wls); err != nil {
		t.Fatal(err)
	}
	for i := range wls.Items {
		w := &wls.Items[i]
		w.Finalizers = nil
		_ = env.Client.Update(ctx, w)
		_ = env.Client.Delete(ctx, w)
	}
	_ = env.Client.DeleteAllOf(ctx, &sealv1.FederatedTrustDomain{})
	_ = env.Client.DeleteAllOf(ctx, &sealv1.WorkloadCluster{})
}

func authority(t testing.TB) (*store.Authority, *ca.CA) {
	t.Helper()
	root, err := ca.NewRoot(td, 0, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := root.KeyPEM()
	k, err := egg.NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &store.Authority{
		TrustDomain: td, Created: time.Unix(1e9, 0).UTC(),
		CAs:            []store.KeyPair{{Cert: string(root.CertPEM()), Key: string(key)}},
		EggKeys:        egg.Keyring{Current: "k1", Keys: map[string][]byte{"k1": k}},
		BundleSequence: 3,
	}, root
}

func workloadRec(t testing.TB, root *ca.CA, name string, spec store.WorkloadSpec) *store.Workload {
	t.Helper()
	c, err := root.NewIntermediate(td, name, 0, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := c.KeyPEM()
	spec.Name = name
	spec.Created = time.Unix(2e9, 0).UTC()
	return &store.Workload{Spec: spec, CAs: []store.KeyPair{{Cert: string(c.CertPEM()), Key: string(key)}},
		DataKeys: []store.DataKey{{Index: 0, Identity: "AGE-SECRET-KEY-1X"}, {Index: 1, Identity: "AGE-SECRET-KEY-1Y"}}}
}

// bundleDoc returns a SPIFFE bundle document of a fresh CA for trust domain name.
func bundleDoc(t *testing.T, name string, seq uint64) string {
	t.Helper()
	c, err := ca.NewRoot(name, 0, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := spiffebundle.New(spiffeid.RequireTrustDomainFromString(name))
	b.AddX509Authority(c.Cert)
	b.SetSequenceNumber(seq)
	doc, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

func testRoundTrip(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	st := newStore(t, env, ns)
	got, err := st.Load(ctx)
	if err != nil || got.Authority != nil || len(got.Workloads) != 0 || len(got.Eggs) != 0 || len(got.Bundles) != 0 {
		t.Fatalf("fresh namespace: %+v, %v; want an empty state", got, err)
	}
	a, root := authority(t)
	w := workloadRec(t, root, "payments", store.WorkloadSpec{Peers: []string{"api", "db"}, CertTTL: "2h", FederatesWith: []string{"other.example"}, RouteHosts: []string{"pay.example.org"}})
	// A rotated Workload CA published but not signing yet (rot: activation.go): its ActiveFrom
	// must survive, and the status must keep naming the CA that signs.
	next := workloadRec(t, root, "payments", store.WorkloadSpec{}).CAs[0]
	next.ActiveFrom = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	w.CAs = append(w.CAs, next)
	e := &store.Egg{ID: "egg-1", Workload: "payments", Peer: "api", Revoked: true, NotAfter: time.Unix(3e9, 0).UTC()}
	now := time.Unix(2e9, 0).UTC()
	b := &store.Bundle{TrustDomain: "other.example", Bundle: bundleDoc(t, "other.example", 7), SequenceNumber: 7, LastRefreshed: &now}
	for _, err := range []error{st.PutAuthority(ctx, a), st.PutWorkload(ctx, w), st.PutEgg(ctx, e), st.PutBundle(ctx, b)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err = st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Authority; g.BundleSequence != 3 || g.EggKeys.Current != "k1" || len(g.EggKeys.Keys["k1"]) != egg.KeySize || g.CAs[0] != a.CAs[0] {
		t.Errorf("authority = %+v, want %+v", g, a)
	}
	gw := got.Workloads["payments"]
	if gw == nil {
		t.Fatalf("workload missing: %+v", got.Workloads)
	}
	if fmt.Sprint(gw.Spec) != fmt.Sprint(w.Spec) || gw.CAs[0] != w.CAs[0] || len(gw.DataKeys) != 2 {
		t.Errorf("workload spec = %+v\nwant %+v", gw.Spec, w.Spec)
	}
	if len(gw.CAs) != 2 || !gw.CAs[1].ActiveFrom.Equal(next.ActiveFrom) || !gw.CAs[0].ActiveFrom.IsZero() {
		t.Errorf("workload CAs' activation times = %+v, want zero and %s", gw.CAs, next.ActiveFrom)
	}
	if g := got.Eggs["egg-1"]; g == nil || !g.Revoked || g.Workload != "payments" {
		t.Errorf("egg = %+v, want revoked egg-1", g)
	}
	if g := got.Bundles["other.example"]; g == nil || g.SequenceNumber != 7 || g.Bundle != b.Bundle {
		t.Errorf("bundle = %+v", g)
	}

	// What a user sees: the Workload resource with its spec and status, the Secrets.
	var cr sealv1.Workload
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "payments"}, &cr); err != nil {
		t.Fatal(err)
	}
	if cr.Spec.CertTTL == nil || cr.Spec.CertTTL.Duration != 2*time.Hour || strings.Join(cr.Spec.Peers, ",") != "api,db" {
		t.Errorf("Workload spec = %+v", cr.Spec)
	}
	c, _ := ca.Parse([]byte(w.CAs[0].Cert), []byte(w.CAs[0].Key))
	if cr.Status.CAFingerprint != c.Fingerprint() || cr.Status.DataKeyIndex != 1 || !meta.IsStatusConditionTrue(cr.Status.Conditions, sealv1.ConditionReady) {
		t.Errorf("Workload status = %+v, want Ready with fingerprint %s and dataKeyIndex 1", cr.Status, c.Fingerprint())
	}
	for _, name := range []string{kubestore.AuthoritySecret, kubestore.WorkloadPrefix + "payments", kubestore.BundlesSecret} {
		var sec corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &sec); err != nil {
			t.Errorf("secret %s: %v", name, err)
		}
	}
	var f sealv1.FederatedTrustDomain
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "other.example"}, &f); err != nil {
		t.Fatalf("an imported bundle has no FederatedTrustDomain: %v", err)
	}
	if f.Status.SequenceNumber == nil || *f.Status.SequenceNumber != 7 || !meta.IsStatusConditionTrue(f.Status.Conditions, sealv1.ConditionReady) {
		t.Errorf("FederatedTrustDomain status = %+v", f.Status)
	}

	if err := st.DeleteWorkload(ctx, "payments"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteWorkload(ctx, "payments"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	if got, err := st.Load(ctx); err != nil || got.Workloads["payments"] != nil {
		t.Errorf("after delete: %v, %v; want no workload", got.Workloads, err)
	}
	if err := st.PutWorkload(ctx, &store.Workload{Spec: store.WorkloadSpec{Name: "../escape"}}); err == nil {
		t.Error("an invalid workload name was written")
	}
}

func testCorrupt(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	tests := []struct {
		name    string
		noAuth  bool
		secret  string
		data    map[string]string
		wantErr string
	}{
		{"truncated authority", true, kubestore.AuthoritySecret, map[string]string{"authority.json": `{"trustDomain":"kube.exa`}, "seal-rot-authority: key \"authority.json\" is not valid JSON state"},
		{"authority without CA", true, kubestore.AuthoritySecret, map[string]string{"authority.json": `{"trustDomain":"kube.example"}`}, "lacks the trust domain, ROT CA or egg-sealing key"},
		{"authority key missing", true, kubestore.AuthoritySecret, map[string]string{"other": "x"}, `no key "authority.json"`},
		{"workloads without authority", true, kubestore.WorkloadPrefix + "w", map[string]string{"workload.json": `{"spec":{"name":"w","dataKeyIndex":0},"cas":[{"cert":"c","key":"k"}],"dataKeys":[]}`}, "refusing to create a new ROT CA"},
		{"workload CA that does not parse", false, kubestore.WorkloadPrefix + "w", map[string]string{"workload.json": `{"spec":{"name":"w","dataKeyIndex":0},"cas":[{"cert":"c","key":"k"}],"dataKeys":[]}`}, "Workload CA 0 does not parse"},
		{"workload name mismatch", false, kubestore.WorkloadPrefix + "w", map[string]string{"workload.json": `{"spec":{"name":"v","dataKeyIndex":0},"cas":[{"cert":"c","key":"k"}],"dataKeys":[]}`}, `holds workload "v"`},
		{"egg under another id", false, kubestore.EggsPrefix + "0", map[string]string{"egg-2": `{"id":"egg-3","workload":"w","peer":"any","notAfter":"2030-01-01T00:00:00Z","created":"2030-01-01T00:00:00Z"}`}, `key "egg-2" holds egg "egg-3"`},
		{"bundle with unknown field", false, kubestore.BundlesSecret, map[string]string{"x.example": `{"bundle":{"trustDomain":"x.example"},"specBundleSHA256":"","surprise":1}`}, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := env.Namespace(t, nil)
			st := newStore(t, env, ns)
			if !tt.noAuth {
				a, _ := authority(t)
				if err := st.PutAuthority(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			if strings.HasPrefix(tt.secret, kubestore.WorkloadPrefix) && !tt.noAuth {
				cr := &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "w"}}
				if err := env.Client.Create(ctx, cr); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = env.Client.Delete(ctx, cr) })
			}
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: tt.secret, Namespace: ns}, StringData: tt.data}
			if err := env.Client.Create(ctx, sec); err != nil {
				t.Fatal(err)
			}
			before := secrets(t, env, ns)
			_, err := st.Load(ctx)
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), ns) {
				t.Fatalf("Load: %v, want ErrCorrupt naming the secret with %q", err, tt.wantErr)
			}
			if after := secrets(t, env, ns); after != before {
				t.Errorf("Load changed the namespace's Secrets:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// secrets lists every Secret of ns with its resourceVersion and data.
func secrets(t *testing.T, env *testenv.Env, ns string) string {
	t.Helper()
	var l corev1.SecretList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range l.Items {
		out = append(out, fmt.Sprintf("%s@%s %v", s.Name, s.ResourceVersion, s.Data))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func testRace(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	one, two := newStore(t, env, ns), newStore(t, env, ns)
	for _, st := range []*kubestore.Store{one, two} {
		if _, err := st.Load(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Both start for the first time: one authority wins, the other gets ErrConflict.
	a1, root := authority(t)
	a2, _ := authority(t)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, p := range []struct {
		st *kubestore.Store
		a  *store.Authority
	}{{one, a1}, {two, a2}} {
		wg.Go(func() { errs[i] = p.st.PutAuthority(ctx, p.a) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, kubestore.ErrConflict):
			t.Errorf("loser's error = %v, want ErrConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d first starts won (%v), want exactly 1", won, errs)
	}
	if errs[0] != nil { // make one the winner for the rest
		one, two, a1 = two, one, a2
		root, _ = ca.Parse([]byte(a2.CAs[0].Cert), []byte(a2.CAs[0].Key))
	}

	// Both know workload w; both rotate it from the same loaded version: one wins.
	if err := one.PutWorkload(ctx, workloadRec(t, root, "w", store.WorkloadSpec{})); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*kubestore.Store{one, two} {
		if _, err := st.Load(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r1, r2 := workloadRec(t, root, "w", store.WorkloadSpec{}), workloadRec(t, root, "w", store.WorkloadSpec{})
	if err := one.PutWorkload(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if err := two.PutWorkload(ctx, r2); !errors.Is(err, kubestore.ErrConflict) {
		t.Errorf("stale write: %v, want ErrConflict", err)
	}
	rotated := *a1
	rotated.BundleSequence++
	if err := one.PutAuthority(ctx, &rotated); err != nil {
		t.Fatal(err)
	}
	if err := two.PutAuthority(ctx, a1); !errors.Is(err, kubestore.ErrConflict) {
		t.Errorf("stale authority write: %v, want ErrConflict", err)
	}

	// Eggs minted by both at once all survive.
	for i := range 10 {
		for j, st := range []*kubestore.Store{one, two} {
			wg.Go(func() {
				id := fmt.Sprintf("egg-%d-%d", j, i)
				if err := st.PutEgg(ctx, &store.Egg{ID: id, Workload: "w", Peer: "any"}); err != nil {
					t.Errorf("PutEgg %s: %v", id, err)
				}
			})
		}
	}
	wg.Wait()
	got, err := two.Load(ctx)
	if err != nil {
		t.Fatalf("state after the race: %v", err)
	}
	if len(got.Eggs) != 20 {
		t.Errorf("%d eggs stored, want 20", len(got.Eggs))
	}
	if got.Authority.CAs[0] != a1.CAs[0] || got.Authority.BundleSequence != rotated.BundleSequence {
		t.Error("the stored authority is not the winner's")
	}
	if w := got.Workloads["w"]; w == nil || w.CAs[0] != r1.CAs[0] {
		t.Error("the stored workload is not the winner's")
	}
}
