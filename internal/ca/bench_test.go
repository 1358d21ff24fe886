package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
)

// The issue's goal: the signing path (BenchmarkSign) within 70% of the raw
// x509.CreateCertificate rate (BenchmarkRawCreateCertificate) for the same certificate.

func benchCA(b *testing.B) (*ca.CA, *ecdsa.PrivateKey) {
	root, err := ca.NewRoot("bench.example", 0, ca.Options{})
	if err != nil {
		b.Fatal(err)
	}
	wca, err := root.NewIntermediate("bench.example", "w", 0, ca.Options{})
	if err != nil {
		b.Fatal(err)
	}
	pod, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return wca, pod
}

func BenchmarkSign(b *testing.B) {
	wca, pod := benchCA(b)
	id, _ := url.Parse("spiffe://bench.example/workload/w/peer/api")
	l := ca.Leaf{SPIFFEID: id, CommonName: "api", DNSNames: []string{"api"}, TTL: 24 * time.Hour}
	b.ReportAllocs()
	for b.Loop() {
		iss, err := wca.Issue(l, pod.Public(), ca.Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = iss.PEM(nil) // the ROT appends the Workload CA's PEM, encoded once
	}
}

func BenchmarkRawCreateCertificate(b *testing.B) {
	wca, pod := benchCA(b)
	id, _ := url.Parse("spiffe://bench.example/workload/w/peer/api")
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(now.UnixNano()),
			Subject:               pkix.Name{Organization: []string{"Seal"}, CommonName: "api"},
			NotBefore:             now,
			NotAfter:              now.Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			BasicConstraintsValid: true,
			DNSNames:              []string{"api"},
			URIs:                  []*url.URL{id},
		}
		if _, err := x509.CreateCertificate(rand.Reader, tmpl, wca.Cert, pod.Public(), wca.Key); err != nil {
			b.Fatal(err)
		}
	}
}
