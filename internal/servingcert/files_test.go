package servingcert

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	now := time.Now()
	caPEM, err := WriteFiles(dir, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatalf("tls.crt and tls.key are not a pair: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the returned CA PEM holds no certificate")
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("the serving certificate does not verify for %s against ca.crt: %v", name, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "tls.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("tls.key mode: got %v, want 0600", fi.Mode().Perm())
	}
	if _, err := WriteFiles(dir, []string{"localhost"}, nil, now, time.Hour); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second WriteFiles into the same directory: got %v, want a refusal to overwrite", err)
	}
	if _, err := WriteFiles(t.TempDir(), nil, nil, now, time.Hour); err == nil {
		t.Error("WriteFiles with no names: got no error")
	}
}
