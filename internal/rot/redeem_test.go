package rot_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// csrFor returns a PEM CSR signed by key; the template may carry names the ROT must ignore.
func csrFor(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) string {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "pod"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func p256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestRedeemIssuesPolicyNamesOnly(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{
		Name: "payments", Peers: []string{"api", "db"}, CertTTL: "2h",
		RouteHosts: []string{"api.apps.example.com", "other.example.com"},
	})
	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api", Hostnames: []string{"api.apps.example.com", "egg-only.example.com"}})
	evil, _ := url.Parse("spiffe://test.seal.dev/workload/admin/peer/root")
	csr := csrFor(t, p256(t), &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "evil.example.com"},
		DNSNames:    []string{"evil.example.com", "db"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.1")},
		URIs:        []*url.URL{evil},
	})
	c := r.Client(t, nil)
	resp, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{
		Egg: eggText, CSR: csr,
		Hostnames: []string{"api.apps.example.com", "other.example.com", "egg-only.example.com", "evil.example.com"},
	})
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	chain, err := ca.ParseCerts([]byte(resp.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 {
		t.Fatalf("chain has %d certificates, want leaf + Workload CA", len(chain))
	}
	leaf := chain[0]
	wantID := "spiffe://test.seal.dev/workload/payments/peer/api"
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != wantID || resp.SPIFFEID != wantID {
		t.Errorf("URI SANs = %v, spiffeID %q; want only %s", leaf.URIs, resp.SPIFFEID, wantID)
	}
	if want := []string{"api", "api.apps.example.com"}; !slices.Equal(leaf.DNSNames, want) {
		t.Errorf("DNS SANs = %v, want %v (CSR names ignored; hostnames = request ∩ egg ∩ routeHosts)", leaf.DNSNames, want)
	}
	if len(leaf.IPAddresses) != 0 {
		t.Errorf("IP SANs = %v, want none (the CSR's are ignored)", leaf.IPAddresses)
	}
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got < 2*time.Hour || got > 2*time.Hour+10*time.Minute {
		t.Errorf("lifetime %s, want the workload's certTTL 2h (+ backdate)", got)
	}
	if !resp.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("notAfter %s, leaf says %s", resp.NotAfter, leaf.NotAfter)
	}
	// Peers verify against the trust bundle (Workload CA): the leaf and "db" name check.
	bundle, err := ca.ParseCerts([]byte(resp.TrustBundle))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for _, b := range bundle {
		pool.AddCert(b)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "api", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("leaf does not verify against the trust bundle as peer api: %v", err)
	}
	if !bundle[0].IsCA || !bundle[0].MaxPathLenZero {
		t.Errorf("Workload CA: IsCA=%v MaxPathLenZero=%v, want an intermediate with path length 0", bundle[0].IsCA, bundle[0].MaxPathLenZero)
	}
	// ... and the whole chain verifies to the ROT CA (what federated domains trust).
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(r.CAPEM)
	inter := x509.NewCertPool()
	inter.AddCert(chain[1])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("chain does not verify to the ROT CA: %v", err)
	}
	if len(resp.DataKeys) != 1 || resp.DataKeys[0].ID != "payments-0" {
		t.Errorf("data keys = %+v, want one payments-0", resp.DataKeys)
	}
}

func TestRedeemKeyTypes(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "w"})
	eggText := r.MintEgg(t, "w", rotapi.MintRequest{})
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	c := r.Client(t, nil)
	for name, key := range map[string]crypto.Signer{"P-256": p256(t), "P-384": p384, "Ed25519": ed, "RSA-2048": rsa2048} {
		t.Run(name, func(t *testing.T) {
			resp, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: eggText, CSR: csrFor(t, key, nil)})
			if err != nil {
				t.Fatalf("redeem with %s: %v", name, err)
			}
			chain, _ := ca.ParseCerts([]byte(resp.Certificate))
			if got := chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !got.Equal(key.Public()) {
				t.Errorf("leaf key is not the CSR's key")
			}
		})
	}
}

func mustDER(t testing.TB, p string) []byte {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatal("no PEM")
	}
	return b.Bytes
}

func pemCSR(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func pemKey(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
