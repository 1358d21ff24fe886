package podtoken

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/seal-dev/seal/internal/store"
)

// lookupBench is 50 clusters with parsed key sets and an RS256-sized token of the last one.
func lookupBench(b *testing.B) (*Verifier, []store.Binding, string) {
	var clusters []Cluster
	for i := range 50 {
		doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "EC", "crv": "P-256", "kid": fmt.Sprintf("k%d", i), "use": "sig",
			"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}})
		clusters = append(clusters, Cluster{Name: fmt.Sprintf("c%d", i), Issuer: fmt.Sprintf("https://c%d.example.com", i), JWKS: string(doc)})
	}
	v, errs := NewVerifier(clusters)
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	bs := []store.Binding{{Cluster: "c49", Namespace: "payments", ServiceAccount: "api"}}
	// An RS256-sized token of issuer c49 (the signature is not checked here).
	claims := `{"iss":"https://c49.example.com","sub":"system:serviceaccount:payments:api","aud":["seal-rot"],"exp":2000000000,"nbf":1,"iat":1,` +
		`"kubernetes.io":{"namespace":"payments","pod":{"name":"api-0","uid":"4b4e6f1c-1111-2222-3333-444455556666"},"serviceaccount":{"name":"api","uid":"5b4e6f1c-1111-2222-3333-444455556666"}}}`
	sig := make([]byte, 256)
	tok := "eyJhbGciOiJSUzI1NiIsImtpZCI6Ims0OSJ9." + b64(claims) + "." + b64(string(sig))
	return v, bs, tok
}

// BenchmarkJWKSLookup is the JWKS cache: a token's cluster among 50 by issuer and binding,
// and its key by kid, in the parsed key sets (goal < 50 µs).
func BenchmarkJWKSLookup(b *testing.B) {
	v, bs, _ := lookupBench(b)
	b.ReportAllocs()
	for b.Loop() {
		cs, _ := v.lookup("https://c49.example.com", bs)
		if len(cs) != 1 || len(cs[0].keysFor("k49")) != 1 {
			b.Fatal("no key found")
		}
	}
}

// BenchmarkParseAndLookup adds reading the token's header and claims (everything Verify does
// before the signature check).
func BenchmarkParseAndLookup(b *testing.B) {
	v, bs, tok := lookupBench(b)
	b.ReportAllocs()
	for b.Loop() {
		t, err := jwt.ParseSigned(tok, algs)
		if err != nil {
			b.Fatal(err)
		}
		var c jwt.Claims
		if err := t.UnsafeClaimsWithoutVerification(&c); err != nil {
			b.Fatal(err)
		}
		cs, _ := v.lookup(c.Issuer, bs)
		if len(cs) != 1 || len(cs[0].keysFor(t.Headers[0].KeyID)) != 1 {
			b.Fatal("no key found")
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
