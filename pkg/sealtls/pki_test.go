package sealtls_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a certificate authority built for tests: a trust domain's ROT CA, or a Workload CA
// under it.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serial atomic.Int64

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t testing.TB, tmpl, parent *x509.Certificate, pub any, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newRoot is the ROT CA of trust domain td.
func newRoot(t testing.TB, td string) *testCA {
	k := newKey(t)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Seal ROT CA " + td},
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: td}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return &testCA{cert: sign(t, tmpl, tmpl, &k.PublicKey, k), key: k}
}

// workloadCA is a Workload CA (path length 0) under c.
func (c *testCA) workloadCA(t testing.TB, workload string) *testCA {
	k := newKey(t)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Seal Workload CA " + workload},
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return &testCA{cert: sign(t, tmpl, c.cert, &k.PublicKey, c.key), key: k}
}

type leafOpt func(*x509.Certificate)

func withEKU(ekus ...x509.ExtKeyUsage) leafOpt {
	return func(c *x509.Certificate) { c.ExtKeyUsage = ekus }
}

func withNotAfter(t time.Time) leafOpt { return func(c *x509.Certificate) { c.NotAfter = t } }

func withoutURI() leafOpt { return func(c *x509.Certificate) { c.URIs = nil } }

// leaf issues a pod certificate for id and returns the PEM chain (leaf, then c) and the
// PKCS#8 key, as seal-init writes them.
func (c *testCA) leaf(t testing.TB, id string, opts ...leafOpt) (chainPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	k := newKey(t)
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: filepath.Base(id)},
		URIs:        []*url.URL{u},
		DNSNames:    []string{filepath.Base(id)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, o := range opts {
		o(tmpl)
	}
	cert = sign(t, tmpl, c.cert, &k.PublicKey, c.key)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	chainPEM = append(certPEM(cert), certPEM(c.cert)...)
	return chainPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), cert
}

func certPEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// podFiles is the content of a Seal directory.
type podFiles struct {
	chain, key, ca []byte
	bundles        map[string][]byte // trust domain -> PEM
	leaf           *x509.Certificate
}

var generation atomic.Int64

// writePod writes files into dir the way Kubernetes' atomic writer does: into a fresh
// ..<generation> directory, then switches the ..data symlink to it with one rename. The
// top-level names are symlinks through ..data. Calling it again on dir swaps the whole set.
func writePod(t testing.TB, dir string, p podFiles) {
	t.Helper()
	gen := fmt.Sprintf("..gen_%d", generation.Add(1))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, gen, "bundles"), 0o755))
	must(os.WriteFile(filepath.Join(dir, gen, "tls.crt"), p.chain, 0o444))
	must(os.WriteFile(filepath.Join(dir, gen, "tls.key"), p.key, 0o400))
	must(os.WriteFile(filepath.Join(dir, gen, "ca.crt"), p.ca, 0o444))
	for td, b := range p.bundles {
		must(os.WriteFile(filepath.Join(dir, gen, "bundles", td+".pem"), b, 0o444))
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	must(os.Symlink(gen, tmp))
	must(os.Rename(tmp, filepath.Join(dir, "..data")))
	for _, name := range []string{"tls.crt", "tls.key", "ca.crt", "bundles"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); os.IsNotExist(err) {
			must(os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)))
		}
	}
}

// world is a set of trust domains, workloads and pods for tests.
type world struct {
	prodRoot, payCA, ordCA *testCA // prod.example.org: workloads payments and orders
	partnerRoot, billCA    *testCA // partner.example.net: workload billing
	rogueRoot, roguePayCA  *testCA // an untrusted CA claiming prod.example.org
}

const (
	prodTD    = "prod.example.org"
	partnerTD = "partner.example.net"
)

func newWorld(t testing.TB) *world {
	w := &world{prodRoot: newRoot(t, prodTD), partnerRoot: newRoot(t, partnerTD), rogueRoot: newRoot(t, prodTD)}
	w.payCA = w.prodRoot.workloadCA(t, "payments")
	w.ordCA = w.prodRoot.workloadCA(t, "orders")
	w.billCA = w.partnerRoot.workloadCA(t, "billing")
	w.roguePayCA = w.rogueRoot.workloadCA(t, "payments")
	return w
}

func wid(td, workload, peer string) string {
	return "spiffe://" + td + "/workload/" + workload + "/peer/" + peer
}

// pod builds the files of a pod of workload in its trust domain; the Workload CA bundle is
// the workload's own CA, and federated bundles hold the other trust domain's root.
func (w *world) pod(t testing.TB, issuer *testCA, id string, ca []byte, bundles map[string][]byte, opts ...leafOpt) podFiles {
	chain, key, leaf := issuer.leaf(t, id, opts...)
	return podFiles{chain: chain, key: key, ca: ca, bundles: bundles, leaf: leaf}
}

func (w *world) dir(t testing.TB, p podFiles) string {
	d := t.TempDir()
	writePod(t, d, p)
	return d
}

// swapPod writes a new generation and removes the previous one, as seal-init does on renewal.
func swapPod(t testing.TB, dir string, p podFiles) {
	t.Helper()
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	writePod(t, dir, p)
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}
