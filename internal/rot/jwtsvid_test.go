package rot_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// podCert redeems an Egg of workload/peer and returns the pod's certificate for mTLS.
func podCert(t *testing.T, r *rottest.ROT, workload, peer string) tls.Certificate {
	t.Helper()
	key := p256(t)
	resp, err := r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{
		Egg: r.MintEgg(t, workload, rotapi.MintRequest{Peer: peer}), CSR: csrFor(t, key, nil)})
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	cert, err := tls.X509KeyPair([]byte(resp.Certificate), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// jwtBundle is the trust domain's JWT bundle as the pod gets it.
func jwtBundle(t *testing.T, c *rotapi.Client, td string) *jwtbundle.Bundle {
	t.Helper()
	docs, err := c.JWTBundles(ctx(t))
	if err != nil {
		t.Fatalf("JWTBundles: %v", err)
	}
	b, err := jwtbundle.Parse(spiffeid.RequireTrustDomainFromString(td), docs[td])
	if err != nil {
		t.Fatalf("JWT bundle of %s: %v (%s)", td, err, docs[td])
	}
	return b
}

func TestJWTSVIDVerifiesWithTheBundle(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}})
	pod := r.Client(t, new(podCert(t, r, "payments", "api")))

	got, err := pod.FetchJWTSVID(ctx(t), []string{"db", "audit"})
	if err != nil {
		t.Fatalf("FetchJWTSVID: %v", err)
	}
	const wantID = "spiffe://test.seal.dev/workload/payments/peer/api"
	svid, err := jwtsvid.ParseAndValidate(got.Token, jwtBundle(t, pod, "test.seal.dev"), []string{"db"})
	if err != nil {
		t.Fatalf("go-spiffe does not validate the JWT-SVID: %v", err)
	}
	if svid.ID.String() != wantID || got.SPIFFEID != wantID {
		t.Errorf("sub: got %s (answer %s), want %s", svid.ID, got.SPIFFEID, wantID)
	}
	if !slices.Equal(svid.Audience, []string{"db", "audit"}) {
		t.Errorf("aud: got %v, want [db audit]", svid.Audience)
	}
	if life := time.Until(svid.Expiry); life <= 0 || life > 5*time.Minute {
		t.Errorf("expires in %s, want within 5m", life)
	}
	if _, err := jwtsvid.ParseAndValidate(got.Token, jwtBundle(t, pod, "test.seal.dev"), []string{"other"}); err == nil {
		t.Error("the JWT-SVID validated for an audience it was not minted for")
	}

	// The public bundle endpoint carries the JWT authority too (what federated peers fetch).
	var doc struct {
		Keys []struct{ Use, Kid string } `json:"keys"`
	}
	if err := r.Client(t, nil).Do(ctx(t), http.MethodGet, rotapi.PathBundle, nil, &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(doc.Keys, func(k struct{ Use, Kid string }) bool { return k.Use == "jwt-svid" && k.Kid != "" }) {
		t.Errorf("/v1/bundle has no jwt-svid key: %+v", doc.Keys)
	}
}

func TestJWTKeyRotationKeepsOldTokensValid(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	pod := r.Client(t, new(podCert(t, r, "payments", "any")))
	before, err := pod.FetchJWTSVID(ctx(t), []string{"db"})
	if err != nil {
		t.Fatal(err)
	}
	var rotated rotapi.JWTKeyResponse
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.PathRotateJWTKey, nil, &rotated); err != nil {
		t.Fatalf("rotate jwt-key: %v", err)
	}
	after, err := pod.FetchJWTSVID(ctx(t), []string{"db"})
	if err != nil {
		t.Fatal(err)
	}
	b := jwtBundle(t, pod, "test.seal.dev")
	if len(b.JWTAuthorities()) != 2 || !b.HasJWTAuthority(rotated.KeyID) {
		t.Fatalf("bundle after rotation has %d keys, want old and new %s", len(b.JWTAuthorities()), rotated.KeyID)
	}
	for name, tok := range map[string]string{"before": before.Token, "after": after.Token} {
		if _, err := jwtsvid.ParseAndValidate(tok, b, []string{"db"}); err != nil {
			t.Errorf("token minted %s the rotation: %v", name, err)
		}
	}
	if kid := jwtHeaderKID(t, after.Token); kid != rotated.KeyID {
		t.Errorf("a token minted after the rotation is signed by %s, want the new key %s", kid, rotated.KeyID)
	}
}

func TestJWTSVIDRefusals(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	pod := podCert(t, r, "payments", "any")
	adminCert := r.Admin.HTTP.Transport.(*http.Transport).TLSClientConfig.Certificates[0]
	tests := []struct {
		name     string
		cert     *tls.Certificate
		audience []string
		want     int
	}{
		{"no client certificate", nil, []string{"db"}, http.StatusUnauthorized},
		{"the admin certificate is not a pod", &adminCert, []string{"db"}, http.StatusForbidden},
		{"a self-signed certificate naming the workload", forged(t, "spiffe://test.seal.dev/workload/payments/peer/any"), []string{"db"}, http.StatusForbidden},
		{"no audience", &pod, nil, http.StatusBadRequest},
		{"an empty audience", &pod, []string{""}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Client(t, tc.cert).FetchJWTSVID(ctx(t), tc.audience)
			var se *rotapi.StatusError
			if !errors.As(err, &se) || se.Code != tc.want {
				t.Fatalf("got %v, want status %d", err, tc.want)
			}
		})
	}
}

func jwtHeaderKID(t *testing.T, tok string) string {
	t.Helper()
	h, _, ok := strings.Cut(tok, ".")
	if !ok {
		t.Fatalf("not a JWS: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}
