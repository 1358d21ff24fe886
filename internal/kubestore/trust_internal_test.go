package kubestore

import (
	"errors"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/store"
)

func keyPair(t *testing.T, c *ca.CA) store.KeyPair {
	t.Helper()
	k, err := c.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return store.KeyPair{Cert: string(c.CertPEM()), Key: string(k)}
}

// TestCheckTrust: the CAs seal-rot itself writes (first CA, rotated CAs, CAs of a rotated ROT
// CA, expired leftovers) are trusted; anything a planter could write is not.
func TestCheckTrust(t *testing.T) {
	const td = "trust.example"
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(t0 time.Time) ca.Options { return ca.Options{Now: func() time.Time { return t0 }} }
	root, err := ca.NewRoot(td, 2*365*24*time.Hour, at(start))
	if err != nil {
		t.Fatal(err)
	}
	root2, err := ca.NewRoot(td, 0, at(start.Add(300*24*time.Hour))) // a rotated ROT CA
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.NewRoot(td, 0, at(start)) // a planter's own root
	if err != nil {
		t.Fatal(err)
	}
	wca := func(parent *ca.CA, name string, from time.Time, ttl time.Duration) *ca.CA {
		c, err := parent.NewIntermediate(td, name, ttl, at(from))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := &store.Authority{TrustDomain: td, CAs: []store.KeyPair{keyPair(t, root), keyPair(t, root2)}}
	first := wca(root, "pay", start, 365*24*time.Hour)
	second := wca(root2, "pay", start.Add(300*24*time.Hour), 0)
	expiredForeign := wca(other, "pay", start.Add(-400*24*time.Hour), 24*time.Hour)
	now := start.Add(310 * 24 * time.Hour)
	tests := []struct {
		name     string
		cas      []*ca.CA
		recorded string
		trusted  bool
	}{
		{"first CA, status not yet written", []*ca.CA{first}, "", true},
		{"first CA recorded", []*ca.CA{first}, first.Fingerprint(), true},
		{"rotated: old and new, old recorded", []*ca.CA{first, second}, first.Fingerprint(), true},
		{"rotated: new recorded", []*ca.CA{first, second}, second.Fingerprint(), true},
		{"expired leftover is not checked", []*ca.CA{expiredForeign, second}, second.Fingerprint(), true},
		{"self-made CA", []*ca.CA{wca(other, "pay", start, 0)}, "", false},
		{"self-made CA beside the real one", []*ca.CA{first, wca(other, "pay", start, 0)}, first.Fingerprint(), false},
		{"ROT-signed CA of another workload", []*ca.CA{wca(root, "shop", start, 0)}, "", false},
		{"ROT-signed CA, not the recorded one", []*ca.CA{wca(root, "pay", start, 0)}, first.Fingerprint(), false},
		{"the ROT CA itself", []*ca.CA{root}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &store.Workload{}
			for _, c := range tt.cas {
				rec.CAs = append(rec.CAs, keyPair(t, c))
			}
			err := checkTrust("pay", rec, a, tt.recorded, now)
			if tt.trusted && err != nil {
				t.Errorf("checkTrust = %v, want trusted", err)
			}
			if !tt.trusted && !errors.Is(err, ErrCAUntrusted) {
				t.Errorf("checkTrust = %v, want ErrCAUntrusted", err)
			}
		})
	}
}

// BenchmarkCheckTrust is the cost the trust check adds to every Load, per workload.
func BenchmarkCheckTrust(b *testing.B) {
	root, err := ca.NewRoot("trust.example", 0, ca.Options{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := root.NewIntermediate("trust.example", "pay", 0, ca.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rk, _ := root.KeyPEM()
	wk, _ := w.KeyPEM()
	a := &store.Authority{TrustDomain: "trust.example", CAs: []store.KeyPair{{Cert: string(root.CertPEM()), Key: string(rk)}}}
	rec := &store.Workload{CAs: []store.KeyPair{{Cert: string(w.CertPEM()), Key: string(wk)}}}
	now := time.Now()
	for b.Loop() {
		if err := checkTrust("pay", rec, a, w.Fingerprint(), now); err != nil {
			b.Fatal(err)
		}
	}
}
