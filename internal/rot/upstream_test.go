package rot_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// orgPKI makes an organisation's root and issuing CA with openssl, as an organisation would,
// and returns the directory holding root.pem, issuing.pem (issuing CA + root) and issuing.key.
func orgPKI(t *testing.T, openssl string) string {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ext := "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
	if err := os.WriteFile(filepath.Join(dir, "ca.ext"), []byte(ext), 0o600); err != nil {
		t.Fatal(err)
	}
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "root.key", "-out", "root.pem",
		"-subj", "/O=Example Org/CN=Example Org Root", "-days", "7300", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "issuing.key", "-out", "issuing.csr", "-subj", "/O=Example Org/CN=Example Org Issuing CA")
	run("x509", "-req", "-in", "issuing.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-out", "int.pem", "-days", "5000", "-extfile", "ca.ext")
	root, _ := os.ReadFile(filepath.Join(dir, "root.pem"))
	inter, _ := os.ReadFile(filepath.Join(dir, "int.pem"))
	if err := os.WriteFile(filepath.Join(dir, "issuing.pem"), append(inter, root...), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// With an upstream CA, a pod's chain verifies with openssl against the organisation's root
// alone, before and after the ROT CA and Workload CA rotate; the trust domain's bundle does
// not carry the organisation's root.
func TestUpstreamChainVerifiesWithOpenSSL(t *testing.T) {
	openssl := testenv.Command(t, "openssl", "apt-get install openssl")
	org := orgPKI(t, openssl)
	certPEM, _ := os.ReadFile(filepath.Join(org, "issuing.pem"))
	keyPEM, _ := os.ReadFile(filepath.Join(org, "issuing.key"))
	up, err := ca.ParseUpstream(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("ParseUpstream of openssl's files: %v", err)
	}
	r := rottest.Start(t, rottest.WithUpstream(up))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})

	verify := func(t *testing.T, stage string) {
		t.Helper()
		resp := redeem(t, r, r.MintEgg(t, "payments", rotapi.MintRequest{}))
		chain, err := ca.ParseCerts([]byte(resp.Certificate))
		if err != nil {
			t.Fatal(err)
		}
		if len(chain) != 4 {
			t.Fatalf("%s: chain has %d certificates, want leaf, Workload CA, ROT CA, the organisation's issuing CA", stage, len(chain))
		}
		dir := t.TempDir()
		leaf, rest := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "chain.pem")
		os.WriteFile(leaf, ca.CertPEM(chain[0]), 0o600)
		os.WriteFile(rest, ca.CertPEM(chain[1:]...), 0o600)
		out, err := exec.Command(openssl, "verify", "-CAfile", filepath.Join(org, "root.pem"), "-untrusted", rest, leaf).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(": OK")) {
			t.Errorf("%s: openssl verify against the organisation's root: %v\n%s", stage, err, out)
		}
	}
	verify(t, "first ROT CA")
	if err := r.Server.RotateROTCA(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.Server.RotateWorkloadCA(ctx(t), "payments"); err != nil {
		t.Fatal(err)
	}
	verify(t, "after rotating the ROT CA and the Workload CA")

	bundle, err := ca.ParseCerts(r.Server.CAPEM())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range bundle {
		if c.Subject.CommonName == "Example Org Root" || c.Subject.CommonName == "Example Org Issuing CA" {
			t.Errorf("the ROT CA bundle carries the organisation's %q", c.Subject.CommonName)
		}
		if err := c.CheckSignatureFrom(up.Cert); err != nil {
			t.Errorf("ROT CA %s is not signed by the upstream CA: %v", c.Subject.CommonName, err)
		}
	}
}

// A ROT CA that ends with its upstream is not rotated every hour once due: a successor could
// not outlive it. The ROT keeps the one it has and warns.
func TestUpstreamExpiringDoesNotChurn(t *testing.T) {
	now := time.Now()
	var skip atomic.Int64 // the ROT's clock runs in its goroutines too
	clock := func() time.Time { return now.Add(time.Duration(skip.Load())) }
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Org CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	up, err := ca.NewUpstream([]*x509.Certificate{cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	r := rottest.Start(t, rottest.WithUpstream(up), rottest.WithClock(func() time.Time { return clock() }))
	skip.Store(int64(25 * 24 * time.Hour)) // past two thirds of the ROT CA's (clamped) life
	for range 3 {
		if err := r.Server.Rotate(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if roots, _ := ca.ParseCerts(r.Server.CAPEM()); len(roots) != 1 {
		t.Errorf("%d ROT CAs after hourly checks with an upstream about to expire, want the one (no successor as short-lived)", len(roots))
	}
}
