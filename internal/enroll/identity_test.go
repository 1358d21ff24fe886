package enroll

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
)

// issued returns a key, a PEM chain (leaf for that key, signed by a fresh CA) and the CA PEM.
func issued(t testing.TB, now time.Time) (*ecdsa.PrivateKey, string, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "workload CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	id, _ := url.Parse("spiffe://test.seal.dev/workload/payments/peer/api")
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		URIs: []*url.URL{id}, DNSNames: []string{"api"}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, string(pemBlock("CERTIFICATE", leafDER)) + string(pemBlock("CERTIFICATE", caDER)), string(pemBlock("CERTIFICATE", caDER))
}

// FuzzNewIdentity feeds arbitrary ROT answers to the checks: they never panic, and an accepted
// answer only ever yields plain file names inside the output directory.
func FuzzNewIdentity(f *testing.F) {
	now := time.Now()
	key, chain, ca := issued(f, now)
	const ageKey = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
	f.Add(chain, ca, "other.example.org", ca, ageKey)
	f.Add(chain, ca, "../../etc", ca, ageKey)
	f.Add(chain, "", "x", ca, ageKey)
	f.Add(ca, ca, "x", ca, "AGE-SECRET-KEY-1 two words")
	f.Add("junk", "junk", "", "junk", "")
	f.Fuzz(func(t *testing.T, cert, bundle, td, fedBundle, identity string) {
		resp := &rotapi.RedeemResponse{Certificate: cert, TrustBundle: bundle,
			FederatedBundles: map[string]string{td: fedBundle}, DataKeys: []rotapi.DataKey{{ID: "0", Identity: identity}}}
		id, err := newIdentity(key, resp, now)
		if err != nil {
			if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
				t.Fatalf("error message leaks the data key: %v", err)
			}
			return
		}
		for name := range id.Files {
			if !filepath.IsLocal(name) || strings.HasPrefix(name, "..") || strings.Contains(name, "/..") {
				t.Fatalf("accepted file name %q", name)
			}
		}
	})
}

func TestNewIdentityChecks(t *testing.T) {
	now := time.Now()
	key, chain, ca := issued(t, now)
	_, otherChain, _ := issued(t, now)
	const ageKey = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
	for _, tc := range []struct {
		name string
		resp rotapi.RedeemResponse
		want string // error substring; "" means accepted
	}{
		{"good", rotapi.RedeemResponse{Certificate: chain, TrustBundle: ca, DataKeys: []rotapi.DataKey{{ID: "1", Identity: ageKey}}}, ""},
		{"cert for another key", rotapi.RedeemResponse{Certificate: otherChain, TrustBundle: ca}, "not for the key in the CSR"},
		{"bundle does not verify the cert", rotapi.RedeemResponse{Certificate: chain, TrustBundle: otherChain}, "does not verify against the trust bundle"},
		{"SPIFFE ID mismatch", rotapi.RedeemResponse{Certificate: chain, TrustBundle: ca, SPIFFEID: "spiffe://evil/x"}, "lacks the SPIFFE ID"},
		{"bad trust domain name", rotapi.RedeemResponse{Certificate: chain, TrustBundle: ca, FederatedBundles: map[string]string{"../x": ca}}, `"../x" is not a valid name`},
		{"not an age identity", rotapi.RedeemResponse{Certificate: chain, TrustBundle: ca, DataKeys: []rotapi.DataKey{{ID: "1", Identity: "secret stuff"}}}, `data key "1" is not an age identity`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := newIdentity(key, &tc.resp, now)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("newIdentity = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("newIdentity = %v, want an error containing %q", err, tc.want)
			case tc.want == "":
				if got := string(id.Files[FileKeys]); !strings.Contains(got, "# data key 1\n"+ageKey+"\n") {
					t.Errorf("keys.txt = %q", got)
				}
			}
		})
	}
}
