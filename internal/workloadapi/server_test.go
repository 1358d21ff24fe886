package workloadapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/workloadapi"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	goworkload "github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// pki is a CA and what it issues, PEM, as seal-init's files hold them.
type pki struct {
	caKey  *ecdsa.PrivateKey
	ca     *x509.Certificate
	caPEM  []byte
	serial int64
}

func newPKI(t *testing.T, td string) *pki {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: td},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		URIs: []*url.URL{{Scheme: "spiffe", Host: td}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &pki{caKey: k, ca: c, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), serial: 1}
}

// leaf issues an SVID for id and returns its chain and PKCS#8 key, PEM.
func (p *pki) leaf(t *testing.T, id string) (chain, key []byte) {
	t.Helper()
	p.serial++
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u, _ := url.Parse(id)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), NotBefore: time.Now().Add(-time.Minute),
		NotAfter: time.Now().Add(time.Hour), URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

func identity(t *testing.T, p, fed *pki, id string) *workloadapi.X509Identity {
	t.Helper()
	chain, key := p.leaf(t, id)
	x, err := workloadapi.FromPEM(id, chain, key, p.caPEM, map[string][]byte{"other.example": fed.caPEM})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// serve starts s on a socket in a temporary directory and returns its address for go-spiffe.
func serve(t *testing.T, s *workloadapi.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.sock")
	l, err := workloadapi.Listen(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "unix://" + path
}

func TestX509SourceSeesRenewals(t *testing.T) {
	p, fed := newPKI(t, "seal.example"), newPKI(t, "other.example")
	s := workloadapi.New()
	const id = "spiffe://seal.example/workload/web"
	s.Update(identity(t, p, fed, id))
	addr := serve(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src, err := goworkload.NewX509Source(ctx, goworkload.WithClientOptions(goworkload.WithAddr(addr)))
	if err != nil {
		t.Fatalf("go-spiffe NewX509Source: %v", err)
	}
	defer src.Close()
	svid, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	if got := svid.ID.String(); got != id {
		t.Errorf("SVID ID: got %s, want %s", got, id)
	}
	first := svid.Certificates[0].SerialNumber
	for _, td := range []string{"seal.example", "other.example"} {
		b, err := src.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString(td))
		if err != nil || len(b.X509Authorities()) != 1 {
			t.Errorf("bundle of %s: %v, %d authorities; want 1", td, err, len(b.X509Authorities()))
		}
	}

	// A renewal reaches the open stream without the client asking.
	s.Update(identity(t, p, fed, id))
	deadline := time.Now().Add(20 * time.Second)
	for {
		svid, _ = src.GetX509SVID()
		if svid.Certificates[0].SerialNumber.Cmp(first) != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the X509Source still holds serial %v after Update", first)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSecurityHeaderRequired(t *testing.T) {
	p, fed := newPKI(t, "seal.example"), newPKI(t, "other.example")
	s := workloadapi.New()
	s.Update(identity(t, p, fed, "spiffe://seal.example/workload/web"))
	addr := serve(t, s)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := workload.NewSpiffeWorkloadAPIClient(conn).FetchX509SVID(ctx, &workload.X509SVIDRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a call without %s: got %v, want InvalidArgument", workloadapi.SecurityHeader, err)
	}
}

func TestFromPEMRefuses(t *testing.T) {
	p := newPKI(t, "seal.example")
	chain, key := p.leaf(t, "spiffe://seal.example/w")
	tests := []struct {
		name              string
		id                string
		chain, key, roots []byte
	}{
		{"not a SPIFFE ID", "https://seal.example/w", chain, key, p.caPEM},
		{"no chain", "spiffe://seal.example/w", nil, key, p.caPEM},
		{"key where the chain goes", "spiffe://seal.example/w", key, key, p.caPEM},
		{"no key", "spiffe://seal.example/w", chain, nil, p.caPEM},
		{"no bundle", "spiffe://seal.example/w", chain, key, []byte("junk")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := workloadapi.FromPEM(tc.id, tc.chain, tc.key, tc.roots, nil); err == nil {
				t.Fatal("FromPEM accepted it")
			}
		})
	}
}
