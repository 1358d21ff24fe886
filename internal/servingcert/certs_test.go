package servingcert

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCAIssuesVerifiableLeaf(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, err := NewCA("test", now, 24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatalf("ParseCA: %v", err)
	}
	leaf, err := again.Issue([]string{"seal-webhook.seal-system.svc"}, []net.IP{net.IPv4(127, 0, 0, 1)}, now, 48*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Leaf.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("leaf NotAfter %v, want clamped to the CA's %v", leaf.Leaf.NotAfter, ca.Cert.NotAfter)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, name := range []string{"seal-webhook.seal-system.svc", "127.0.0.1"} {
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: now.Add(time.Hour)}); err != nil {
			t.Errorf("leaf does not verify for %s: %v", name, err)
		}
	}
}

func TestParseCARefusesMismatch(t *testing.T) {
	a, _ := NewCA("a", time.Now(), time.Hour, nil)
	b, _ := NewCA("b", time.Now(), time.Hour, nil)
	if _, err := ParseCA(a.CertPEM, b.KeyPEM); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("ParseCA(a cert, b key) = %v, want a mismatch error", err)
	}
	if _, err := ParseCA([]byte("x"), nil); err == nil {
		t.Error("ParseCA(garbage) succeeded")
	}
}
