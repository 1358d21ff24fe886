// Package podtokentest signs Kubernetes projected ServiceAccount tokens the way kube-apiserver
// does, for tests of the ROT's pod binding that run without a cluster. Tests that can run the
// real API server get real tokens from its TokenRequest API instead (internal/testing/testenv).
package podtokentest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is a cluster's token signer.
type Issuer struct {
	URL string
	Key crypto.Signer
	Alg jose.SignatureAlgorithm
	KID string
}

// New returns an issuer with a fresh RS256 (RSA-2048) or ES256 key.
func New(tb testing.TB, url string, alg jose.SignatureAlgorithm) *Issuer {
	tb.Helper()
	var k crypto.Signer
	var err error
	if alg == jose.RS256 {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return &Issuer{URL: url, Key: k, Alg: alg, KID: "kid-" + string(alg)}
}

// JWKS is the issuer's public key set document (what /openid/v1/jwks serves).
func (i *Issuer) JWKS(tb testing.TB) string {
	tb.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: i.Key.Public(), KeyID: i.KID, Algorithm: string(i.Alg), Use: "sig"}}})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// Claims are a token's claims; Token fills them for a pod and lets the test change them.
type Claims struct {
	jwt.Claims
	K8s map[string]any `json:"kubernetes.io"`
}

// Token signs a token of pod (empty: not bound to a pod) in namespace ns running as service
// account sa, audience seal-rot, valid from now-1m to now+9m; mod changes the claims first.
func (i *Issuer) Token(tb testing.TB, now time.Time, ns, sa, pod string, mod ...func(*Claims)) string {
	tb.Helper()
	c := Claims{
		Claims: jwt.Claims{Issuer: i.URL, Subject: "system:serviceaccount:" + ns + ":" + sa, Audience: jwt.Audience{"seal-rot"},
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(9 * time.Minute))},
		K8s: map[string]any{"namespace": ns, "serviceaccount": map[string]string{"name": sa, "uid": "sa-uid-" + sa}},
	}
	if pod != "" {
		c.K8s["pod"] = map[string]string{"name": pod, "uid": "uid-" + pod}
	}
	for _, m := range mod {
		m(&c)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: i.Alg, Key: i.Key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", i.KID))
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}
