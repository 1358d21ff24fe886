package rot_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// BenchmarkRedeemHTTPS measures redemptions over real TLS with keep-alive clients running in
// parallel against the real handler (goal: >= 1,500 redemptions/s on 2 cores, client
// included). Each op is a full POST /v1/redeem: Egg open, CSR check, leaf signing, JSON.
func BenchmarkRedeemHTTPS(b *testing.B) {
	r := rottest.Start(b)
	r.CreateWorkload(b, rotapi.Workload{Name: "w", Peers: []string{"api"}})
	req := &rotapi.RedeemRequest{Egg: r.MintEgg(b, "w", rotapi.MintRequest{Peer: "api"}), CSR: csrFor(b, p256(b), nil)}
	c := r.Client(b, nil)
	c.HTTP.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	if _, err := c.Redeem(ctx(b), req); err != nil { // warm up the connection
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(4)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Redeem(ctx(b), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "redemptions/s")
}
