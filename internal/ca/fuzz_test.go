package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/seal-dev/seal/internal/ca"
)

// FuzzParseCSR: ParseCSR never panics, and a CSR it accepts has a verified signature and an
// allowed key.
func FuzzParseCSR(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"x"}}, k)
	good := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der[:len(der)-5]}))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	f.Add(rsaCSR(f, 8192, 1<<31-1)) // refused by its key, before any signature check
	f.Fuzz(func(t *testing.T, b []byte) {
		csr, err := ca.ParseCSR(b)
		if err != nil {
			if !errors.Is(err, ca.ErrBadCSR) {
				t.Fatalf("error %v does not wrap ErrBadCSR", err)
			}
			return
		}
		if csr.CheckSignature() != nil || ca.CheckPublicKey(csr.PublicKey) != nil {
			t.Fatal("accepted a CSR with a bad signature or key")
		}
	})
}
