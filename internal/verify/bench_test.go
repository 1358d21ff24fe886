package verify_test

import (
	"context"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// BenchmarkCacheHit is the cost of admitting an already verified image (goal: <= 5µs).
func BenchmarkCacheHit(b *testing.B) {
	reg := verifytest.NewRegistry(b)
	key := verifytest.NewKey(b)
	d := reg.Push(b, "team/app", "v1")
	key.SignLegacy(b, d)
	pols := []sealv1.ImagePolicy{keyPolicy("p", reg.Host+"/team/**", key.PublicPEM, "")}
	for _, other := range []string{"a", "b", "c", "d"} { // a few policies that do not match
		pols = append(pols, keyPolicy(other, "registry.example.com/"+other+"/**", key.PublicPEM, ""))
	}
	v := newVerifier(b, &verify.StaticPolicies{Policies: pols}, func(o *verify.Options) { o.CacheTTL = time.Hour })
	req := verify.Request{Image: d.String(), NamespaceLabels: map[string]string{"seal.dev/enforce": "true"}}
	if got := v.Verify(context.Background(), req); !got.Allowed {
		b.Fatal(got.Message)
	}
	reg.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := v.Verify(context.Background(), req); !got.Cached {
			b.Fatalf("not a cache hit: %+v", got)
		}
	}
	b.StopTimer()
	if n := len(reg.Requests()); n != 0 {
		b.Fatalf("cache hits made %d registry requests", n)
	}
}
