package ca_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
)

func TestHierarchy(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	o := ca.Options{Now: func() time.Time { return now }}
	root, err := ca.NewRoot("td.example", 0, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := root.Cert.NotAfter.Sub(now); got != ca.DefaultRootTTL {
		t.Errorf("root lifetime %s, want %s", got, ca.DefaultRootTTL)
	}
	if root.Cert.URIs[0].String() != "spiffe://td.example" || !root.Cert.IsCA {
		t.Errorf("root URIs %v IsCA %v", root.Cert.URIs, root.Cert.IsCA)
	}
	wca, err := root.NewIntermediate("td.example", "w", 20*365*24*time.Hour, o)
	if err != nil {
		t.Fatal(err)
	}
	if !wca.Cert.NotAfter.Equal(root.Cert.NotAfter) {
		t.Errorf("workload CA outlives its root: %s > %s", wca.Cert.NotAfter, root.Cert.NotAfter)
	}
	if !wca.Cert.MaxPathLenZero || wca.Cert.MaxPathLen != 0 {
		t.Errorf("workload CA path length: zero=%v len=%d", wca.Cert.MaxPathLenZero, wca.Cert.MaxPathLen)
	}
	// Path length 0: a leaf of a CA under the Workload CA must not verify.
	sub, err := wca.NewIntermediate("td.example", "sub", 0, o)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := sub.Issue(ca.Leaf{DNSNames: []string{"x"}}, k.Public(), o)
	if err != nil {
		t.Fatal(err)
	}
	leafCert, _ := x509.ParseCertificate(leaf.DER)
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root.Cert)
	inter.AddCert(wca.Cert)
	inter.AddCert(sub.Cert)
	if _, err := leafCert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now}); err == nil {
		t.Error("a leaf under a CA under the Workload CA verifies; path length 0 is not enforced")
	}
	// Round trip through PEM.
	kp, _ := wca.KeyPEM()
	back, err := ca.Parse(wca.CertPEM(), kp)
	if err != nil || back.Fingerprint() != wca.Fingerprint() {
		t.Fatalf("Parse: %v", err)
	}
	rk, _ := root.KeyPEM()
	if _, err := ca.Parse(wca.CertPEM(), rk); err == nil {
		t.Error("Parse accepted a key of another CA")
	}
}

func TestCheckPublicKey(t *testing.T) {
	gen := func(c elliptic.Curve) crypto.PublicKey { k, _ := ecdsa.GenerateKey(c, rand.Reader); return k.Public() }
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	r1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	r2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name string
		pub  crypto.PublicKey
		ok   bool
	}{
		{"ECDSA P-256", gen(elliptic.P256()), true},
		{"ECDSA P-384", gen(elliptic.P384()), true},
		{"ECDSA P-521", gen(elliptic.P521()), false},
		{"ECDSA P-224", gen(elliptic.P224()), false},
		{"Ed25519", edPub, true},
		{"RSA-2048", r2048.Public(), true},
		{"RSA-1024", r1024.Public(), false},
		{"RSA-4096", &rsa.PublicKey{N: rsaModulus(t, 4096), E: 65537}, true},
		{"RSA-4097", &rsa.PublicKey{N: rsaModulus(t, 4097), E: 65537}, false},
		{"RSA-2048 exponent 3", &rsa.PublicKey{N: r2048.N, E: 3}, false},
		{"RSA-2048 exponent 2^31-1", &rsa.PublicKey{N: r2048.N, E: 1<<31 - 1}, false},
		{"Ed25519 short", ed25519.PublicKey(edPub[:16]), false},
		{"string", "key", false},
	}
	for _, tt := range tests {
		err := ca.CheckPublicKey(tt.pub)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ca.ErrBadKey)) {
			t.Errorf("%s: got %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestRotationHelpers(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	o := ca.Options{Now: func() time.Time { return now }}
	root, _ := ca.NewRoot("td.example", 0, o)
	old, _ := root.NewIntermediate("td.example", "w", 90*24*time.Hour, o)
	if ca.NeedsRotation(old, now) {
		t.Error("a fresh CA needs rotation")
	}
	now = start.Add(61 * 24 * time.Hour)
	if !ca.NeedsRotation(old, now) {
		t.Error("a CA with under a third of its life left does not need rotation")
	}
	next, _ := root.NewIntermediate("td.example", "w", 90*24*time.Hour, o)
	cas := []*ca.CA{old, next}
	if ca.Current(cas, now) != next || len(ca.Valid(cas, now)) != 2 {
		t.Errorf("during overlap: current is not the new CA or the old one left the bundle")
	}
	now = start.Add(91 * 24 * time.Hour)
	if v := ca.Valid(cas, now); len(v) != 1 || v[0] != next {
		t.Errorf("after the old CA expired, valid = %d CAs, want only the new", len(v))
	}
}

func ExampleCA_Issue() {
	root, _ := ca.NewRoot("prod.example.org", 0, ca.Options{})
	wca, _ := root.NewIntermediate("prod.example.org", "payments", 0, ca.Options{})
	podKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id, _ := url.Parse("spiffe://prod.example.org/workload/payments/peer/api")
	leaf, _ := wca.Issue(ca.Leaf{SPIFFEID: id, DNSNames: []string{"api"}, TTL: time.Hour}, podKey.Public(), ca.Options{})
	cert, _ := x509.ParseCertificate(leaf.DER)
	fmt.Println(cert.URIs[0], cert.DNSNames, cert.Issuer.CommonName)
	// Output: spiffe://prod.example.org/workload/payments/peer/api [api] Seal workload CA payments
}

// A CA made by a replica whose clock runs ahead (or seen after the clock stepped back) is not
// valid yet: it must not sign, but it must be kept, or its key is lost for good.
func TestUnexpiredKeepsNotYetValidCAs(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ahead := now.Add(2 * time.Hour)
	old, _ := ca.NewRoot("td.example", 0, ca.Options{Now: func() time.Time { return now }})
	future, _ := ca.NewRoot("td.example", 0, ca.Options{Now: func() time.Time { return ahead }})
	cas := []*ca.CA{old, future}
	if got := ca.Unexpired(cas, now); len(got) != 2 {
		t.Errorf("Unexpired kept %d CAs, want both (the not-yet-valid one too)", len(got))
	}
	if got := ca.Valid(cas, now); len(got) != 1 || got[0] != old {
		t.Errorf("Valid = %d CAs, want only the one valid now", len(got))
	}
	if ca.Current(cas, now) != old {
		t.Error("Current chose a CA that is not valid yet")
	}
	expired := now.Add(11 * 365 * 24 * time.Hour)
	if got := ca.Unexpired(cas, expired); len(got) != 0 {
		t.Errorf("Unexpired kept %d expired CAs", len(got))
	}
}

// A leaf never outlives Leaf.NotAfter (the Egg it was redeemed with) nor its CA.
func TestIssueClampsNotAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	o := ca.Options{Now: func() time.Time { return now }}
	root, _ := ca.NewRoot("td.example", 0, o)
	wca, err := root.NewIntermediate("td.example", "w", 48*time.Hour, o)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name     string
		ttl      time.Duration
		notAfter time.Time
		want     time.Time
	}{
		{"TTL inside the limit", time.Hour, now.Add(2 * time.Hour), now.Add(time.Hour)},
		{"limit before the TTL ends", 24 * time.Hour, now.Add(90 * time.Minute), now.Add(90 * time.Minute)},
		{"no limit", 24 * time.Hour, time.Time{}, now.Add(24 * time.Hour)},
		{"CA ends first", 72 * time.Hour, now.Add(60 * time.Hour), wca.Cert.NotAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, err := wca.Issue(ca.Leaf{DNSNames: []string{"x"}, TTL: tt.ttl, NotAfter: tt.notAfter}, k.Public(), o)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := x509.ParseCertificate(iss.DER)
			if !c.NotAfter.Equal(tt.want) || !iss.NotAfter.Equal(tt.want) {
				t.Errorf("notAfter %s (Issued %s), want %s", c.NotAfter, iss.NotAfter, tt.want)
			}
		})
	}
	if _, err := wca.Issue(ca.Leaf{NotAfter: now.Add(-time.Second)}, k.Public(), o); err == nil {
		t.Error("issued a leaf whose notAfter limit has passed")
	}
}
