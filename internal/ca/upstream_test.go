package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
)

// orgCA returns a self-signed organisation CA with the given path length (-1: none) and its
// PEM certificate and PKCS#8 key.
func orgCA(t testing.TB, pathLen int) ([]byte, []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Org Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

func TestParseUpstream(t *testing.T) {
	good, goodKey := orgCA(t, -1)
	short, shortKey := orgCA(t, 1)
	_, otherKey := orgCA(t, -1)
	tests := []struct {
		name      string
		cert, key []byte
		wantErr   string
	}{
		{"unlimited path length", good, goodKey, ""},
		{"path length 1", short, shortKey, "path length 1"},
		{"another key", good, otherKey, "does not match"},
		{"no key", good, nil, "PEM private key"},
		{"no certificate", nil, goodKey, "no certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up, err := ca.ParseUpstream(tc.cert, tc.key)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseUpstream: %v", err)
				}
				rot, err := up.NewROTCA("td.example", 48*time.Hour, ca.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if err := rot.Cert.CheckSignatureFrom(up.Cert); err != nil {
					t.Errorf("ROT CA not signed by the upstream: %v", err)
				}
				if !rot.Cert.NotAfter.Equal(up.Cert.NotAfter) {
					t.Errorf("ROT CA notAfter %s, want clamped to the upstream's %s", rot.Cert.NotAfter, up.Cert.NotAfter)
				}
				if len(rot.Chain) != 1 || len(rot.Intermediates()) != 0 {
					t.Errorf("chain %d, intermediates %d; want the upstream root in the chain and no intermediate to send", len(rot.Chain), len(rot.Intermediates()))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseUpstream error = %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzParseUpstream(f *testing.F) {
	c, k := orgCA(f, -1)
	f.Add(c, k)
	f.Add(c, []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), k)
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		up, err := ca.ParseUpstream(certPEM, keyPEM)
		if err == nil && (!up.Cert.IsCA || up.Key == nil) {
			t.Fatal("accepted an upstream that is not a CA with a key")
		}
	})
}
