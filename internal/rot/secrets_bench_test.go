package rot_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
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

// BenchmarkPodSecretsHandler is the 304 path of GET /v1/secrets in the handler alone (no
// TLS, no client): what one ROT core spends per poll.
func BenchmarkPodSecretsHandler(b *testing.B) {
	r := rottest.Start(b)
	r.CreateWorkload(b, rotapi.Workload{Name: "payments"})
	putSecret(b, r, "payments", "db-password", "v1", nil, nil)
	c, _ := pod(b, r, "payments")
	_, etag, err := c.Secrets(ctx(b), "")
	if err != nil {
		b.Fatal(err)
	}
	cert := c.HTTP.Transport.(*http.Transport).TLSClientConfig.Certificates[0]
	var chain []*x509.Certificate
	for _, der := range cert.Certificate {
		crt, err := x509.ParseCertificate(der)
		if err != nil {
			b.Fatal(err)
		}
		chain = append(chain, crt)
	}
	h := r.Server.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, rotapi.PathSecrets, nil)
		req.TLS = &tls.ConnectionState{PeerCertificates: chain}
		req.Header.Set("If-None-Match", etag)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusNotModified {
			b.Fatalf("got %d, want 304", w.Code)
		}
	}
}
