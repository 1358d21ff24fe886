package sealctl

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// bundleDoc returns a SPIFFE bundle document for td with one X.509 authority valid until notAfter.
func bundleDoc(t testing.TB, td string, notAfter time.Time) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: td},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	b := spiffebundle.FromX509Authorities(spiffeid.RequireTrustDomainFromString(td), []*x509.Certificate{cert})
	b.SetSequenceNumber(7)
	doc, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestParseBundle(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	valid := bundleDoc(t, "partner.example.org", now.Add(24*time.Hour))
	tests := []struct {
		name    string
		td      string
		data    []byte
		wantErr string
	}{
		{"valid", "partner.example.org", valid, ""},
		{"bad trust domain", "Partner Example", valid, `--trust-domain "Partner Example"`},
		{"empty", "partner.example.org", []byte("\n"), "empty file"},
		{"not json", "partner.example.org", []byte("-----BEGIN CERTIFICATE-----"), "not a SPIFFE bundle document"},
		{"no keys", "partner.example.org", []byte(`{"keys":[]}`), "no X.509 authorities"},
		{"jwt only", "partner.example.org", []byte(`{"keys":[{"use":"jwt-svid","kid":"k","kty":"EC","crv":"P-256","x":"WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis","y":"y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE"}]}`), "no X.509 authorities"},
		{"expired", "partner.example.org", bundleDoc(t, "partner.example.org", now.Add(-time.Hour)), "every X.509 authority has expired"},
		{"too large", "partner.example.org", bytes.Repeat([]byte(" "), maxBundleBytes+1), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := parseBundle(tt.td, tt.data, now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("parseBundle: %v", err)
				}
				if got := len(b.X509Authorities()); got != 1 {
					t.Errorf("got %d authorities, want 1", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBundleImportRefusesBadFileLocally(t *testing.T) {
	// These never reach the ROT: the admin config points at a closed port.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"keys":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvROT: "https://127.0.0.1:1", EnvAdmin: writeAdminDir(t)}
	for _, tt := range []struct{ name, file, stdin, want string }{
		{"no x509 authorities", bad, "", bad + ": no X.509 authorities"},
		{"missing file", filepath.Join(dir, "nope.json"), "", "nope.json: no such file"},
		{"stdin garbage", "-", "hello", "-: not a SPIFFE bundle document"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, env, tt.stdin, "bundle", "import", "--trust-domain", "partner.example.org", tt.file)
			if r.code != ExitFailed || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("got code %d stderr %q, want 1 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func FuzzParseBundle(f *testing.F) {
	now := time.Now()
	f.Add(bundleDoc(f, "partner.example.org", now.Add(time.Hour)))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"use":"x509-svid","kty":"EC","x5c":["AAAA"]}]}`))
	f.Add([]byte(`{"spiffe_refresh_hint":-1,"spiffe_sequence":18446744073709551615,"keys":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parseBundle("partner.example.org", data, now)
		if err != nil {
			return
		}
		if b.TrustDomain().Name() != "partner.example.org" || len(b.X509Authorities()) == 0 {
			t.Fatalf("accepted a bundle for %q with %d authorities", b.TrustDomain(), len(b.X509Authorities()))
		}
	})
}

func TestSealRoundTrip(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	plain := "db-password: hunter2\n"
	for _, armored := range []bool{false, true} {
		var out bytes.Buffer
		n, err := seal(&out, strings.NewReader(plain), id.Recipient(), armored)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(plain)) {
			t.Errorf("armor=%v: sealed %d bytes, want %d", armored, n, len(plain))
		}
		var src = bytes.NewReader(out.Bytes())
		var r interface{ Read([]byte) (int, error) } = src
		if armored {
			if !strings.HasPrefix(out.String(), "-----BEGIN AGE ENCRYPTED FILE-----") {
				t.Errorf("armored output starts %.40q", out.String())
			}
			r = armor.NewReader(src)
		}
		dec, err := age.Decrypt(r, id)
		if err != nil {
			t.Fatalf("armor=%v: decrypt: %v", armored, err)
		}
		var got bytes.Buffer
		if _, err := got.ReadFrom(dec); err != nil || got.String() != plain {
			t.Errorf("armor=%v: decrypted %q (%v), want %q", armored, got.String(), err, plain)
		}
	}
}

// BenchmarkSeal measures sealctl seal's local part: age-encrypting 1 MiB to one recipient.
func BenchmarkSeal(b *testing.B) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	plain := bytes.Repeat([]byte("s"), 1<<20)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, err := seal(io.Discard, bytes.NewReader(plain), id.Recipient(), false); err != nil {
			b.Fatal(err)
		}
	}
}
