package podtoken_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/podtoken/podtokentest"
	"github.com/seal-dev/seal/internal/store"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func TestVerify(t *testing.T) {
	prod := podtokentest.New(t, "https://kubernetes.default.svc.cluster.local", jose.RS256)
	edge := podtokentest.New(t, "https://oidc.edge.example.com", jose.ES256)
	stranger := podtokentest.New(t, "https://evil.example.com", jose.RS256)
	forger := podtokentest.New(t, prod.URL, jose.RS256) // same issuer and kid, other key
	forger.KID = prod.KID
	v, errs := podtoken.NewVerifier([]podtoken.Cluster{
		{Name: "prod", Issuer: prod.URL, JWKS: prod.JWKS(t)},
		{Name: "edge", Issuer: edge.URL, Audience: "seal-rot", JWKS: edge.JWKS(t)},
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
		{name: "RS256 bound pod", token: prod.Token(t, t0, "payments", "api", "api-7f"), wantPod: podtoken.Pod{Cluster: "prod", Namespace: "payments", ServiceAccount: "api", Name: "api-7f", UID: "uid-api-7f"}},
		{name: "ES256 any service account", token: edge.Token(t, t0, "batch", "cron", "job-1"), wantPod: podtoken.Pod{Cluster: "edge", Namespace: "batch", ServiceAccount: "cron", Name: "job-1", UID: "uid-job-1"}},
		{name: "token not bound to a pod", token: prod.Token(t, t0, "payments", "api", ""), wantPod: podtoken.Pod{Cluster: "prod", Namespace: "payments", ServiceAccount: "api"}},
		{name: "within the leeway after exp", token: prod.Token(t, t0, "payments", "api", "p"), at: t0.Add(9*time.Minute + 20*time.Second), wantPod: podtoken.Pod{Cluster: "prod", Namespace: "payments", ServiceAccount: "api", Name: "p", UID: "uid-p"}},
		{name: "no token", token: "", want: podtoken.ErrNoToken, wantMsg: "bound to prod/payments/api, edge/batch/*"},
		{name: "not a JWT", token: "hello.world", want: podtoken.ErrMalformed},
		{name: "HS256", token: hs256(t, prod.URL), want: podtoken.ErrMalformed, wantMsg: "RS256 or ES256"},
		{name: "unsigned alg none", token: none(t, prod.URL), want: podtoken.ErrMalformed},
		{name: "over the size cap", token: strings.Repeat("a", podtoken.MaxTokenBytes+1), want: podtoken.ErrMalformed},
		{name: "unknown issuer", token: stranger.Token(t, t0, "payments", "api", "p"), want: podtoken.ErrUnknownIssuer, wantMsg: `"https://evil.example.com"`},
		{name: "cluster with a JWKS that does not parse", token: (&podtokentest.Issuer{URL: "https://broken", Key: stranger.Key, Alg: jose.RS256, KID: "x"}).Token(t, t0, "payments", "api", "p"), want: podtoken.ErrUnknownIssuer},
		{name: "known cluster not bound", token: edge.Token(t, t0, "batch", "cron", "p"), bindings: bound[:1], want: podtoken.ErrClusterNotBound, wantMsg: "cluster edge"},
		{name: "forged signature, same kid", token: forger.Token(t, t0, "payments", "api", "p"), want: podtoken.ErrSignature, wantMsg: "cluster prod"},
		{name: "tampered claims", token: tamper(t, prod.Token(t, t0, "payments", "api", "p")), want: podtoken.ErrSignature},
		{name: "wrong audience", token: prod.Token(t, t0, "payments", "api", "p", func(c *podtokentest.Claims) { c.Audience = jwt.Audience{"https://kubernetes.default.svc"} }), want: podtoken.ErrAudience, wantMsg: `is not "seal-rot"`},
		{name: "expired", token: prod.Token(t, t0, "payments", "api", "p"), at: t0.Add(11 * time.Minute), want: podtoken.ErrExpired, wantMsg: "expired at 2026-11-29T12:09:00Z"},
		{name: "no exp", token: prod.Token(t, t0, "payments", "api", "p", func(c *podtokentest.Claims) { c.Expiry = nil }), want: podtoken.ErrExpired, wantMsg: "no exp"},
		{name: "valid for a year", token: prod.Token(t, t0, "payments", "api", "p", func(c *podtokentest.Claims) { c.Expiry = jwt.NewNumericDate(t0.Add(365 * 24 * time.Hour)) }), want: podtoken.ErrTooLong, wantMsg: "more than 24h0m0s from now"},
		{name: "valid for a day, just", token: prod.Token(t, t0, "payments", "api", "p", func(c *podtokentest.Claims) { c.Expiry = jwt.NewNumericDate(t0.Add(24 * time.Hour)) }), wantPod: podtoken.Pod{Cluster: "prod", Namespace: "payments", ServiceAccount: "api", Name: "p", UID: "uid-p"}},
		{name: "not yet valid", token: prod.Token(t, t0, "payments", "api", "p"), at: t0.Add(-5 * time.Minute), want: podtoken.ErrNotYetValid},
		{name: "namespace not bound", token: prod.Token(t, t0, "default", "api", "intruder"), want: podtoken.ErrNotBound, wantMsg: "pod intruder runs as prod/default/api"},
		{name: "service account not bound", token: prod.Token(t, t0, "payments", "default", "p"), want: podtoken.ErrNotBound, wantMsg: "prod/payments/default"},
		{name: "subject disagrees with the claims", token: prod.Token(t, t0, "payments", "api", "p", func(c *podtokentest.Claims) { c.Subject = "system:serviceaccount:kube-system:admin" }), want: podtoken.ErrMalformed},
		{name: "no kubernetes.io claims", token: prod.Token(t, t0, "payments", "api", "p", func(c *podtokentest.Claims) { c.K8s = nil }), want: podtoken.ErrMalformed},
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
