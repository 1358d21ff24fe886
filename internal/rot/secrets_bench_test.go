package rot_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// BenchmarkPodSecretsNotModified measures GET /v1/secrets answered 304 over real mTLS with
// keep-alive pod clients in parallel (goal: >= 5,000/s on 2 cores, client included; 10,000
// pods polling every 30s is ~333/s). Each op verifies the pod certificate against the
// workload's CAs and compares the ETag of the cached document.
func BenchmarkPodSecretsNotModified(b *testing.B) {
	r := rottest.Start(b)
	r.CreateWorkload(b, rotapi.Workload{Name: "payments"})
	for _, n := range []string{"db-password", "api-token", "tls-pass"} {
		putSecret(b, r, "payments", n, "value of "+n, nil, nil)
	}
	c, _ := pod(b, r, "payments")
	c.HTTP.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	_, etag, err := c.Secrets(ctx(b), "")
	if err != nil {
		b.Fatal(err)
	}
	bctx := ctx(b)
	b.ReportAllocs()
	b.SetParallelism(4)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Secrets(bctx, etag); !errors.Is(err, rotapi.ErrNotModified) {
				b.Errorf("got %v, want 304", err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
}
