//go:build cgo

package custody_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/custody/custodytest"
	"github.com/seal-dev/seal/internal/store"
)

func openToken(t *testing.T, cfg custody.PKCS11Config) *custody.PKCS11 {
	t.Helper()
	p, err := custody.OpenPKCS11(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A CA made by the pkcs11 provider keeps its key on the token: the state holds a handle, the
// key is found again after the token is closed and reopened, and another token does not have it.
func TestPKCS11KeysStayOnToken(t *testing.T) {
	cfg, _ := custodytest.SoftHSM(t, "seal-test")
	p := openToken(t, cfg)
	root, err := ca.NewRoot("td.example", 0, ca.Options{Custody: p})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := root.Key.(*ecdsa.PrivateKey); ok {
		t.Fatal("the ROT CA key is in memory, want it on the token")
	}
	stored, err := p.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "pkcs11:") {
		t.Fatalf("stored key = %q, want a pkcs11: handle", stored)
	}
	sealed, err := p.Seal(custody.EggKeyName("k-1"), []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	p = openToken(t, cfg) // a restart
	defer p.Close()
	again, err := p.Open(string(root.CertPEM()), stored)
	if err != nil {
		t.Fatalf("Open after reopening the token: %v", err)
	}
	wca, err := again.NewIntermediate("td.example", "w", 0, ca.Options{Custody: p})
	if err != nil {
		t.Fatalf("signing with the found key: %v", err)
	}
	if err := wca.Cert.CheckSignatureFrom(root.Cert); err != nil {
		t.Errorf("Workload CA signed after the restart does not verify: %v", err)
	}
	if k, err := p.Unseal(custody.EggKeyName("k-1"), sealed); err != nil || string(k) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("Unseal after the restart = %q, %v", k, err)
	}
	if _, err := p.Unseal(custody.EggKeyName("k-2"), sealed); !errors.Is(err, custody.ErrOpen) {
		t.Errorf("Unseal under another name = %v, want ErrOpen", err)
	}
	if _, err := fileKeys(t, nil).Open(string(root.CertPEM()), stored); !errors.Is(err, custody.ErrTokenRequired) {
		t.Errorf("file provider Open of a handle = %v, want ErrTokenRequired", err)
	}
}

func TestPKCS11OtherTokenCannotSign(t *testing.T) {
	cfg, _ := custodytest.SoftHSM(t, "seal-a")
	p := openToken(t, cfg)
	root, err := ca.NewRoot("td.example", 0, ca.Options{Custody: p})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := p.Marshal(root)
	sealed, _ := p.Seal("n", []byte("secret"))
	p.Close()

	other, _ := custodytest.SoftHSM(t, "seal-a") // same label, a new token: the state copied elsewhere
	q := openToken(t, other)
	defer q.Close()
	if _, err := q.Open(string(root.CertPEM()), stored); !errors.Is(err, custody.ErrNotOnToken) {
		t.Errorf("Open on another token = %v, want ErrNotOnToken", err)
	}
	if _, err := q.Unseal("n", sealed); !errors.Is(err, custody.ErrNotOnToken) {
		t.Errorf("Unseal on another token = %v, want ErrNotOnToken", err)
	}
}

// A key in memory (file-provider state) is imported once and signs from the token after.
func TestPKCS11ImportsMemoryKey(t *testing.T) {
	cfg, _ := custodytest.SoftHSM(t, "seal-import")
	root, err := ca.NewRoot("td.example", 0, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := openToken(t, cfg)
	defer p.Close()
	stored, err := p.Marshal(root)
	if err != nil {
		t.Fatalf("importing: %v", err)
	}
	onToken, err := p.Open(string(root.CertPEM()), stored)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := onToken.Key.(*ecdsa.PrivateKey); ok {
		t.Fatal("the imported key opened in memory, want the token's")
	}
	wca, err := onToken.NewIntermediate("td.example", "w", 0, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := wca.Cert.CheckSignatureFrom(root.Cert); err != nil {
		t.Errorf("signature by the imported key does not verify: %v", err)
	}
}

// --upstream-ca-pkcs11-label: an organisation's CA key already on the token signs ROT CAs.
func TestPKCS11UpstreamByLabel(t *testing.T) {
	cfg, _ := custodytest.SoftHSM(t, "seal-upstream")
	org, err := ca.NewRoot("org.example", 0, ca.Options{}) // stands in for the organisation's CA
	if err != nil {
		t.Fatal(err)
	}
	p := openToken(t, cfg)
	defer p.Close()
	h, err := p.ImportKey(org.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	key, err := p.FindLabel(h.Label)
	if err != nil {
		t.Fatal(err)
	}
	up, err := ca.NewUpstream([]*x509.Certificate{org.Cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	rot, err := up.NewROTCA("td.example", 0, ca.Options{Custody: p})
	if err != nil {
		t.Fatal(err)
	}
	if err := rot.Cert.CheckSignatureFrom(org.Cert); err != nil {
		t.Errorf("ROT CA signed on the token by the upstream key does not verify: %v", err)
	}
	if _, err := p.FindLabel("no-such-label"); !errors.Is(err, custody.ErrNotOnToken) {
		t.Errorf("FindLabel of a missing label = %v, want ErrNotOnToken", err)
	}
	if _, err := p.FindUpstream(h.Label); !errors.Is(err, custody.ErrNotOnToken) {
		t.Errorf("FindUpstream without a certificate on the token = %v, want ErrNotOnToken", err)
	}
	if err := p.ImportCertificate(h.Label, org.Cert); err != nil {
		t.Fatal(err)
	}
	up2, err := p.FindUpstream(h.Label)
	if err != nil {
		t.Fatalf("FindUpstream with key and certificate on the token: %v", err)
	}
	if up2.Cert.Equal(org.Cert) == false {
		t.Error("FindUpstream found another certificate")
	}
}

// seal-rot migrate to a token: Reseal imports the keys of a KEK-sealed state onto the token.
func TestResealOntoToken(t *testing.T) {
	cfg, _ := custodytest.SoftHSM(t, "seal-migrate")
	from := fileKeys(t, kek(t))
	st, root, _ := sealedState(t, from)
	p := openToken(t, cfg)
	defer p.Close()
	if err := custody.Reseal(st, from, p); err != nil {
		t.Fatal(err)
	}
	for _, kp := range []store.KeyPair{st.Authority.CAs[0], st.Workloads["w"].CAs[0]} {
		if !strings.HasPrefix(kp.Key, "pkcs11:") {
			t.Errorf("key after Reseal = %.20q, want a handle", kp.Key)
		}
	}
	c, err := p.Open(st.Authority.CAs[0].Cert, st.Authority.CAs[0].Key)
	if err != nil || c.Fingerprint() != root.Fingerprint() {
		t.Fatalf("ROT CA on the token: %v", err)
	}
	if err := custody.Reseal(st, p, from); err == nil {
		t.Error("Reseal moved keys off the token, want a failure: they are not extractable")
	}
}

// BenchmarkSign is one CA signature (a leaf's) on the SoftHSM2 token against one in memory.
func BenchmarkSign(b *testing.B) {
	digest := make([]byte, 32)
	b.Run("memory", func(b *testing.B) {
		root, err := ca.NewRoot("td.example", 0, ca.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := root.Key.Sign(nil, digest, crypto.SHA256); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("pkcs11-softhsm2", func(b *testing.B) {
		cfg, _ := custodytest.SoftHSM(b, "seal-bench")
		p, err := custody.OpenPKCS11(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		root, err := ca.NewRoot("td.example", 0, ca.Options{Custody: p})
		if err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := root.Key.Sign(nil, digest, crypto.SHA256); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
