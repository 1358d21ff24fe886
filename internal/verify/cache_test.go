package verify_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

func TestCacheAndCoalescing(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	d := reg.Push(t, "team/app", "v1")
	key.SignLegacy(t, d)
	key.SignBundle(t, d)
	now := time.Unix(1_700_000_000, 0)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	promReg := prometheus.NewRegistry()
	src := &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{keyPolicy("p", reg.Host+"/**", key.PublicPEM, "")}}
	v := newVerifier(t, src, func(o *verify.Options) { o.Now = clock; o.CacheTTL = time.Minute; o.Registerer = promReg })

	reg.Reset()
	var wg sync.WaitGroup
	denied := make(chan string, 100)
	for range 100 {
		wg.Go(func() {
			if got := v.Verify(context.Background(), verify.Request{Image: d.String()}); !got.Allowed {
				denied <- got.Message
			}
		})
	}
	wg.Wait()
	close(denied)
	for m := range denied {
		t.Errorf("concurrent admission denied: %s", m)
	}
	// One verification reads the .sig tag once and the referrers index once.
	if got := reg.SignatureReads(); got != 2 {
		t.Fatalf("100 concurrent admissions made %d signature reads, want 2 (one verification): %v", got, reg.Requests())
	}

	reg.Reset()
	if got := v.Verify(context.Background(), verify.Request{Image: d.String()}); !got.Allowed || !got.Cached {
		t.Fatalf("second admission: %+v, want allowed from cache", got)
	}
	if n := len(reg.Requests()); n != 0 {
		t.Fatalf("cache hit made %d registry requests: %v", n, reg.Requests())
	}
	if hits := counterValue(t, promReg, "seal_image_verification_cache_hits_total"); hits < 1 {
		t.Errorf("cache hit metric = %v, want >= 1", hits)
	}

	clockMu.Lock()
	now = now.Add(2 * time.Minute)
	clockMu.Unlock()
	if got := v.Verify(context.Background(), verify.Request{Image: d.String()}); !got.Allowed || got.Cached {
		t.Fatalf("after TTL: %+v, want allowed by a fresh verification", got)
	}
	if got := reg.SignatureReads(); got != 2 {
		t.Fatalf("after TTL: %d signature reads, want 2", got)
	}
}

func counterValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not gathered", name)
	return 0
}

func TestFailuresAreNotCached(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	d := reg.Push(t, "team/app", "v1")
	v := newVerifier(t, &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{keyPolicy("p", reg.Host+"/**", key.PublicPEM, "")}})
	if got := v.Verify(context.Background(), verify.Request{Image: d.String()}); got.Allowed {
		t.Fatalf("unsigned image allowed: %+v", got)
	}
	key.SignLegacy(t, d)
	if got := v.Verify(context.Background(), verify.Request{Image: d.String()}); !got.Allowed {
		t.Fatalf("image signed after a denial still denied: %s", got.Message)
	}
}

func TestCacheKeyIgnoresSpelling(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	d := reg.Push(t, "team/app", "v1")
	key.SignLegacy(t, d)
	v := newVerifier(t, &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{keyPolicy("p", reg.Host+"/**", key.PublicPEM, "")}})
	if got := v.Verify(context.Background(), verify.Request{Image: d.Context().Tag("v1").String() + "@" + d.DigestStr()}); !got.Allowed || got.Cached {
		t.Fatalf("first: %+v", got)
	}
	got := v.Verify(context.Background(), verify.Request{Image: d.String()})
	if !got.Allowed || !got.Cached || got.Digest != d.String() {
		t.Fatalf("same digest without the tag: %+v, want a cache hit on %s", got, d)
	}
}
