// Package storetest is the conformance suite every store.Store implementation passes: the file
// store runs it in its tests, and a new store (the Kubernetes one) runs it against the real
// API server:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openMyStore(t) })
//	}
package storetest

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/store"
)

// Run checks the store.Store contract. open returns a fresh, empty store each call; the suite
// closes it. Reopen, when not nil, opens a second view of the same state as the last store
// open returned (for a file store: the same directory after Close); it checks durability.
func Run(t *testing.T, open func(t *testing.T) store.Store, reopen ...func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("empty state has no authority", func(t *testing.T) {
		st := open(t)
		defer st.Close()
		s, err := st.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Authority != nil || len(s.Workloads) != 0 || len(s.Eggs) != 0 || len(s.Bundles) != 0 {
			t.Errorf("fresh store: %+v, want an empty state", s)
		}
		if s.Workloads == nil || s.Eggs == nil || s.Bundles == nil {
			t.Error("fresh store: nil maps; Load must return initialized maps")
		}
	})
	t.Run("round trip", func(t *testing.T) {
		st := open(t)
		put(t, st)
		check(t, st)
		if len(reopen) > 0 && reopen[0] != nil {
			st.Close()
			st2 := reopen[0](t)
			defer st2.Close()
			check(t, st2)
			return
		}
		st.Close()
	})
	t.Run("replace and delete", func(t *testing.T) {
		st := open(t)
		defer st.Close()
		put(t, st)
		w := Workload()
		w.DataKeys = append(w.DataKeys, store.DataKey{Index: 1, Identity: material().age1, Created: time.Unix(2e9, 0).UTC()})
		e := Egg()
		e.Revoked = true
		must(t, st.PutWorkload(ctx, w))
		must(t, st.PutEgg(ctx, e))
		s, err := st.Load(ctx)
		must(t, err)
		if got := s.Workloads[w.Spec.Name]; got == nil || len(got.DataKeys) != 2 {
			t.Errorf("replaced workload = %+v, want 2 data keys", got)
		}
		if got := s.Eggs[e.ID]; got == nil || !got.Revoked {
			t.Errorf("revoked egg = %+v, want Revoked", got)
		}
		must(t, st.DeleteWorkload(ctx, w.Spec.Name))
		if err := st.DeleteWorkload(ctx, w.Spec.Name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting a missing workload: %v, want store.ErrNotFound", err)
		}
		s, err = st.Load(ctx)
		must(t, err)
		if _, ok := s.Workloads[w.Spec.Name]; ok {
			t.Error("deleted workload still loads")
		}
		if _, ok := s.Eggs[e.ID]; !ok {
			t.Error("deleting a workload removed its egg records; the ROT keeps them (revoked)")
		}
	})
	RunClusters(t, open)
	RunSecrets(t, open, reopen...)
	RunAttestation(t, open)
}

// material is real key material, so stores that check what they load (parse CA key pairs,
// SPIFFE bundles, age identities) accept the samples.
var material = sync.OnceValue(func() (m struct {
	root, wca1, wca2 store.KeyPair
	age0, age1       string
	bundle           string
}) {
	kp := func(c *ca.CA) store.KeyPair {
		k, err := c.KeyPEM()
		if err != nil {
			panic(err)
		}
		return store.KeyPair{Cert: string(c.CertPEM()), Key: string(k)}
	}
	root, err := ca.NewRoot("conformance.example", 0, ca.Options{})
	if err != nil {
		panic(err)
	}
	w1, err := root.NewIntermediate("conformance.example", "payments", 0, ca.Options{})
	if err != nil {
		panic(err)
	}
	w2, err := root.NewIntermediate("conformance.example", "payments", 0, ca.Options{})
	if err != nil {
		panic(err)
	}
	m.root, m.wca1, m.wca2 = kp(root), kp(w1), kp(w2)
	for _, p := range []*string{&m.age0, &m.age1} {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			panic(err)
		}
		*p = id.String()
	}
	partner, err := ca.NewRoot("partner.example", 0, ca.Options{})
	if err != nil {
		panic(err)
	}
	b := spiffebundle.FromX509Authorities(spiffeid.RequireTrustDomainFromString("partner.example"), []*x509.Certificate{partner.Cert})
	b.SetSequenceNumber(3)
	doc, err := b.Marshal()
	if err != nil {
		panic(err)
	}
	m.bundle = string(doc)
	return m
})

// Authority, Workload, Egg and Bundle are the sample records the suite writes.
func Authority() *store.Authority {
	return &store.Authority{
		TrustDomain: "conformance.example", Created: time.Unix(1e9, 0).UTC(),
		CAs: []store.KeyPair{material().root},
		EggKeys: egg.Keyring{Current: "k-2", Keys: map[string][]byte{
			"k-1": make([]byte, egg.KeySize), "k-2": append(make([]byte, egg.KeySize-1), 9),
		}},
		BundleSequence: 7,
	}
}

func Workload() *store.Workload {
	return &store.Workload{
		Spec: store.WorkloadSpec{Name: "payments", Peers: []string{"api", "db"}, CertTTL: "2h",
			FederatesWith: []string{"partner.example"}, RouteHosts: []string{"api.example.com"}, Created: time.Unix(1e9, 0).UTC()},
		CAs:         []store.KeyPair{material().wca1, material().wca2},
		DataKeys:    []store.DataKey{{Index: 0, Identity: material().age0, Created: time.Unix(1e9, 0).UTC()}},
		Incarnation: "inc-0123456789abcdef0123",
	}
}

func Egg() *store.Egg {
	return &store.Egg{ID: "egg-0123456789abcdef0123", Workload: "payments", Peer: "api",
		NotAfter: time.Unix(2e9, 0).UTC(), Hostnames: []string{"api.example.com"}, Created: time.Unix(1e9, 0).UTC()}
}

func Bundle() *store.Bundle {
	now := time.Unix(1e9, 0).UTC()
	return &store.Bundle{TrustDomain: "partner.example", BundleEndpointURL: "https://rot.partner.example/v1/bundle",
		EndpointProfile: "https_spiffe", EndpointSPIFFEID: "spiffe://partner.example/seal/rot", Bundle: material().bundle,
		SequenceNumber: 3, LastRefreshed: &now}
}

func put(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	must(t, st.PutAuthority(ctx, Authority()))
	must(t, st.PutWorkload(ctx, Workload()))
	must(t, st.PutEgg(ctx, Egg()))
	must(t, st.PutBundle(ctx, Bundle()))
}

func check(t *testing.T, st store.Store) {
	t.Helper()
	s, err := st.Load(context.Background())
	must(t, err)
	a, wa := s.Authority, Authority()
	if a == nil || a.TrustDomain != wa.TrustDomain || !a.Created.Equal(wa.Created) || a.BundleSequence != wa.BundleSequence ||
		!slices.Equal(a.CAs, wa.CAs) || a.EggKeys.Current != wa.EggKeys.Current || len(a.EggKeys.Keys) != 2 ||
		string(a.EggKeys.Keys["k-2"]) != string(wa.EggKeys.Keys["k-2"]) {
		t.Errorf("authority = %+v, want %+v", a, wa)
	}
	w, ww := s.Workloads["payments"], Workload()
	if w == nil || w.Spec.Name != ww.Spec.Name || !slices.Equal(w.Spec.Peers, ww.Spec.Peers) || w.Spec.CertTTL != ww.Spec.CertTTL ||
		!slices.Equal(w.Spec.FederatesWith, ww.Spec.FederatesWith) || !slices.Equal(w.Spec.RouteHosts, ww.Spec.RouteHosts) ||
		!slices.Equal(w.CAs, ww.CAs) || len(w.DataKeys) != 1 || w.DataKeys[0].Identity != ww.DataKeys[0].Identity ||
		w.Incarnation != ww.Incarnation {
		t.Errorf("workload = %+v, want %+v", w, ww)
	}
	e, we := s.Eggs[Egg().ID], Egg()
	if e == nil || e.Workload != we.Workload || e.Peer != we.Peer || !e.NotAfter.Equal(we.NotAfter) || !slices.Equal(e.Hostnames, we.Hostnames) || e.Revoked {
		t.Errorf("egg = %+v, want %+v", e, we)
	}
	b, wb := s.Bundles["partner.example"], Bundle()
	if b == nil || b.Bundle != wb.Bundle || b.BundleEndpointURL != wb.BundleEndpointURL || b.EndpointProfile != wb.EndpointProfile ||
		b.EndpointSPIFFEID != wb.EndpointSPIFFEID || b.SequenceNumber != wb.SequenceNumber {
		t.Errorf("bundle = %+v, want %+v", b, wb)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
