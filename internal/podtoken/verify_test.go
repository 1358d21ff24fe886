package podtoken_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/store"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// issuer signs ServiceAccount tokens the way kube-apiserver does.
type issuer struct {
	iss string
	key crypto.Signer
	alg jose.SignatureAlgorithm
	kid string
}

func newIssuer(t testing.TB, iss string, alg jose.SignatureAlgorithm) *issuer {
	t.Helper()
	var k crypto.Signer
	var err error
	if alg == jose.RS256 {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{iss: iss, key: k, alg: alg, kid: "kid-" + string(alg)}
}

func (i *issuer) jwks(t testing.TB) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: i.key.Public(), KeyID: i.kid, Algorithm: string(i.alg), Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// podClaims is what a projected token of pod NAME in ns/sa carries.
type podClaims struct {
	jwt.Claims
	K8s map[string]any `json:"kubernetes.io"`
}

func (i *issuer) token(t testing.TB, ns, sa, pod string, mod ...func(*podClaims)) string {
	t.Helper()
	c := podClaims{
		Claims: jwt.Claims{Issuer: i.iss, Subject: "system:serviceaccount:" + ns + ":" + sa, Audience: jwt.Audience{"seal-rot"},
			IssuedAt: jwt.NewNumericDate(t0.Add(-time.Minute)), NotBefore: jwt.NewNumericDate(t0.Add(-time.Minute)), Expiry: jwt.NewNumericDate(t0.Add(9 * time.Minute))},
		K8s: map[string]any{"namespace": ns, "serviceaccount": map[string]string{"name": sa, "uid": "sa-uid"}},
	}
	if pod != "" {
		c.K8s["pod"] = map[string]string{"name": pod, "uid": "uid-" + pod}
	}
	for _, m := range mod {
		m(&c)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: i.alg, Key: i.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", i.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerify(t *testing.T) {
	prod := newIssuer(t, "https://kubernetes.default.svc.cluster.local", jose.RS256)
	edge := newIssuer(t, "https://oidc.edge.example.com", jose.ES256)
	stranger := newIssuer(t, "https://evil.example.com", jose.RS256)
	forger := newIssuer(t, prod.iss, jose.RS256) // same issuer and kid, other key
	forger.kid = prod.kid
	v, errs := podtoken.NewVerifier([]podtoken.Cluster{
		{Name: "prod", Issuer: prod.iss, JWKS: prod.jwks(t)},
		{Name: "edge", Issuer: edge.iss, Audience: "seal-rot", JWKS: edge.jwks(t)},
		{Name: "broken", Issuer: "https://broken", JWKS: `{"keys":"no"}`},
	})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `cluster "broken"`) {
		t.Errorf("NewVerifier errors = %v, want one naming cluster broken", errs)
	}
	bound := []store.Binding{{Cluster: "prod", Namespace: "payments", ServiceAccount: "api"}, {Cluster: "edge", Namespace: "batch", ServiceAccount: "*"}}
	tests := []struct {
		name     string
		token    string
		bindings []store.Binding
		at       time.Time
		want     error
		wantMsg  string
		wantPod  podtoken.Pod
	}{
		{name: "RS256 bound pod", token: prod.token(t, "payments", "api", "api-7f"), wantPod: podtoken.Pod{Cluster: "prod", Namespace: "payments", ServiceAccount: "api", Name: "api-7f", UID: "uid-api-7f"}},
		{name: "ES256 any service account", token: edge.token(t, "batch", "cron", "job-1"), wantPod: podtoken.Pod{Cluster: "edge", Namespace: "batch", ServiceAccount: "cron", Name: "job-1", UID: "uid-job-1"}},
		{name: "token not bound to a pod", token: prod.token(t, "payments", "api", ""), wantPod: podtoken.Pod{Cluster: "prod", Namespace: "payments", ServiceAccount: "api"}},
		{name: "within the leeway after exp", token: prod.token(t, "payments", "api", "p"), at: t0.Add(9*time.Minute + 20*time.Second), wantPod: podtoken.Pod{Cluster: "prod", Namespace: "payments", ServiceAccount: "api", Name: "p", UID: "uid-p"}},
		{name: "no token", token: "", want: podtoken.ErrNoToken, wantMsg: "bound to prod/payments/api, edge/batch/*"},
		{name: "not a JWT", token: "hello.world", want: podtoken.ErrMalformed},
		{name: "HS256", token: hs256(t, prod.iss), want: podtoken.ErrMalformed, wantMsg: "RS256 or ES256"},
		{name: "unsigned alg none", token: none(t, prod.iss), want: podtoken.ErrMalformed},
		{name: "over the size cap", token: strings.Repeat("a", podtoken.MaxTokenBytes+1), want: podtoken.ErrMalformed},
		{name: "unknown issuer", token: stranger.token(t, "payments", "api", "p"), want: podtoken.ErrUnknownIssuer, wantMsg: `"https://evil.example.com"`},
		{name: "cluster with a JWKS that does not parse", token: (&issuer{iss: "https://broken", key: stranger.key, alg: jose.RS256, kid: "x"}).token(t, "payments", "api", "p"), want: podtoken.ErrUnknownIssuer},
		{name: "known cluster not bound", token: edge.token(t, "batch", "cron", "p"), bindings: bound[:1], want: podtoken.ErrClusterNotBound, wantMsg: "cluster edge"},
		{name: "forged signature, same kid", token: forger.token(t, "payments", "api", "p"), want: podtoken.ErrSignature, wantMsg: "cluster prod"},
		{name: "tampered claims", token: tamper(t, prod.token(t, "payments", "api", "p")), want: podtoken.ErrSignature},
		{name: "wrong audience", token: prod.token(t, "payments", "api", "p", func(c *podClaims) { c.Audience = jwt.Audience{"https://kubernetes.default.svc"} }), want: podtoken.ErrAudience, wantMsg: `is not "seal-rot"`},
		{name: "expired", token: prod.token(t, "payments", "api", "p"), at: t0.Add(11 * time.Minute), want: podtoken.ErrExpired, wantMsg: "expired at 2026-11-29T12:09:00Z"},
		{name: "no exp", token: prod.token(t, "payments", "api", "p", func(c *podClaims) { c.Expiry = nil }), want: podtoken.ErrExpired, wantMsg: "no exp"},
		{name: "valid for a year", token: prod.token(t, "payments", "api", "p", func(c *podClaims) { c.Expiry = jwt.NewNumericDate(t0.Add(365 * 24 * time.Hour)) }), want: podtoken.ErrTooLong, wantMsg: "more than 24h0m0s from now"},
		{name: "valid for a day, just", token: prod.token(t, "payments", "api", "p", func(c *podClaims) { c.Expiry = jwt.NewNumericDate(t0.Add(24 * time.Hour)) }), wantPod: podtoken.Pod{Cluster: "prod", Namespace: "payments", ServiceAccount: "api", Name: "p", UID: "uid-p"}},
		{name: "not yet valid", token: prod.token(t, "payments", "api", "p"), at: t0.Add(-5 * time.Minute), want: podtoken.ErrNotYetValid},
		{name: "namespace not bound", token: prod.token(t, "default", "api", "intruder"), want: podtoken.ErrNotBound, wantMsg: "pod intruder runs as prod/default/api"},
		{name: "service account not bound", token: prod.token(t, "payments", "default", "p"), want: podtoken.ErrNotBound, wantMsg: "prod/payments/default"},
		{name: "subject disagrees with the claims", token: prod.token(t, "payments", "api", "p", func(c *podClaims) { c.Subject = "system:serviceaccount:kube-system:admin" }), want: podtoken.ErrMalformed},
		{name: "no kubernetes.io claims", token: prod.token(t, "payments", "api", "p", func(c *podClaims) { c.K8s = nil }), want: podtoken.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs, at := tt.bindings, tt.at
			if bs == nil {
				bs = bound
			}
			if at.IsZero() {
				at = t0
			}
			pod, err := v.Verify(tt.token, bs, at)
			if tt.want == nil {
				if err != nil || *pod != tt.wantPod {
					t.Fatalf("got %+v, %v; want %+v", pod, err, tt.wantPod)
				}
				return
			}
			var pe *podtoken.Error
			if !errors.Is(err, tt.want) || !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got %v, want %v with %q", err, tt.want, tt.wantMsg)
			}
			if tt.token != "" && len(tt.token) > 20 && strings.Contains(err.Error(), tt.token[len(tt.token)-20:]) {
				t.Errorf("the error echoes the token: %v", err)
			}
			if tt.want != podtoken.ErrMalformed && !strings.Contains(err.Error(), "fix:") {
				t.Errorf("the error says no fix: %v", err)
			}
		})
	}
}

func hs256(t *testing.T, iss string) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: iss}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func none(t *testing.T, iss string) string {
	b, _ := json.Marshal(map[string]any{"iss": iss, "sub": "system:serviceaccount:payments:api"})
	return "eyJhbGciOiJub25lIn0." + b64(b) + "."
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// tamper rewrites the namespace in the payload and keeps the signature.
func tamper(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	p := strings.ReplaceAll(string(raw), `"payments"`, `"paymentz"`)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(p))
	return strings.Join(parts, ".")
}
