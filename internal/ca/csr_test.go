package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/ca"
)

// rsaModulus is a random odd number of exactly bits bits (not a product of two primes: only
// its size matters to the checks).
func rsaModulus(t testing.TB, bits int) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	return n
}

// rsaCSR is the PEM of a CSR for an RSA key of bits bits and exponent e that nobody holds the
// private key of, with a junk signature of the modulus' size: verifying it costs one full
// modular exponentiation with exponent e and then fails. (x509.CreateCertificateRequest checks
// the signature it is given, so the request is put together by hand.)
func rsaCSR(t testing.TB, bits, e int) []byte {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: rsaModulus(t, bits), E: e})
	if err != nil {
		t.Fatal(err)
	}
	info, err := asn1.Marshal(struct {
		Version                     int
		Subject, PublicKey, Attribs asn1.RawValue
	}{0, asn1.RawValue{FullBytes: []byte{0x30, 0}}, asn1.RawValue{FullBytes: spki}, asn1.RawValue{FullBytes: []byte{0xa0, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, (bits+7)/8)
	sig[0], sig[len(sig)-1] = 1, 1 // below the modulus, so the exponentiation really runs
	der, err := asn1.Marshal(struct {
		Info      asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{
		asn1.RawValue{FullBytes: info},
		pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue}, // sha256WithRSAEncryption
		asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// The CSR CPU bomb: an RSA key of ~170,000 bits with exponent 2^31-1 fits in the ROT's 64 KiB
// body and costs about a second to verify. ParseCSR must refuse such keys by their size,
// before it verifies anything, and say what is wrong with the key.
func TestParseCSRChecksKeyBeforeSignature(t *testing.T) {
	tests := []struct {
		name       string
		bits, e    int
		wantErrSub string
	}{
		{"RSA-170000 with exponent 2^31-1", 170000, 1<<31 - 1, "RSA-170000 is over 4096 bits"},
		{"RSA-8192", 8192, 65537, "RSA-8192 is over 4096 bits"},
		{"RSA-2048 with exponent 3", 2048, 3, "RSA public exponent 3 (want 65537)"},
		{"RSA-4096 with exponent 2^31-1", 4096, 1<<31 - 1, "RSA public exponent 2147483647"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := rsaCSR(t, tt.bits, tt.e)
			_, err := ca.ParseCSR(csr)
			if !errors.Is(err, ca.ErrBadCSR) || !errors.Is(err, ca.ErrBadKey) || !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Errorf("got %v, want ErrBadCSR and ErrBadKey naming %q", err, tt.wantErrSub)
			}
		})
	}
	// An allowed RSA key with a bad signature is refused for its signature.
	_, err := ca.ParseCSR(rsaCSR(t, 2048, 65537))
	if !errors.Is(err, ca.ErrBadCSR) || errors.Is(err, ca.ErrBadKey) || !strings.Contains(err.Error(), "signature does not verify") {
		t.Errorf("RSA-2048 with a junk signature: got %v, want a signature error", err)
	}
}

// BenchmarkParseCSRRefusesHugeRSA is the cost of refusing the CSR CPU bomb (an RSA-170000 key
// with exponent 2^31-1): microseconds, where verifying its signature first took about a second.
// BenchmarkVerifyHugeRSA is what the refusal saves.
func BenchmarkParseCSRRefusesHugeRSA(b *testing.B) {
	csr := rsaCSR(b, 170000, 1<<31-1)
	b.SetBytes(int64(len(csr)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.ParseCSR(csr); !errors.Is(err, ca.ErrBadKey) {
			b.Fatalf("got %v, want ErrBadKey", err)
		}
	}
}

func BenchmarkVerifyHugeRSA(b *testing.B) {
	blk, _ := pem.Decode(rsaCSR(b, 170000, 1<<31-1))
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if csr.CheckSignature() == nil {
			b.Fatal("junk signature verified")
		}
	}
}

// BenchmarkParseCSR is the cost of accepting a good ECDSA P-256 CSR, for comparison.
func BenchmarkParseCSR(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	if err != nil {
		b.Fatal(err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.ParseCSR(csr); err != nil {
			b.Fatal(err)
		}
	}
}
