package podtoken_test

import (
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/podtoken/podtokentest"
	"github.com/seal-dev/seal/internal/store"
)

// benchVerifier is a verifier of 50 clusters (RS256, as kube-apiserver signs by default) and a
// workload bound to the last one.
func benchVerifier(b *testing.B) (*podtoken.Verifier, string, []store.Binding) {
	var clusters []podtoken.Cluster
	var last *podtokentest.Issuer
	for i := range 50 {
		last = podtokentest.New(b, "https://cluster-"+string(rune('a'+i%26))+string(rune('a'+i/26))+".example.com", jose.RS256)
		clusters = append(clusters, podtoken.Cluster{Name: "c" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Issuer: last.URL, JWKS: last.JWKS(b)})
	}
	v, errs := podtoken.NewVerifier(clusters)
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	bs := []store.Binding{{Cluster: clusters[49].Name, Namespace: "payments", ServiceAccount: "api"}}
	return v, last.Token(b, t0, "payments", "api", "api-0"), bs
}

// BenchmarkVerify is a whole verification of an RS256 token.
func BenchmarkVerify(b *testing.B) {
	v, tok, bs := benchVerifier(b)
	if _, err := v.Verify(tok, bs, t0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(tok, bs, t0); err != nil {
			b.Fatal(err)
		}
	}
}
