package rot_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/seal-dev/seal/internal/podtoken/podtokentest"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// BenchmarkRedeemHTTPSWithToken is BenchmarkRedeemHTTPS for a bound workload: every redemption
// also verifies an RS256 ServiceAccount token (kube-apiserver's default) against the cluster's
// JWKS and the bindings (goal: >= 1,500 redemptions/s on 2 cores, client included).
func BenchmarkRedeemHTTPSWithToken(b *testing.B) {
	r := rottest.Start(b)
	iss := podtokentest.New(b, "https://kubernetes.default.svc.cluster.local", jose.RS256)
	addCluster(b, r, "prod", iss)
	r.CreateWorkload(b, rotapi.Workload{Name: "w", Peers: []string{"api"}, Bindings: []rotapi.Binding{{Cluster: "prod", Namespace: "payments", ServiceAccount: "api"}}})
	req := &rotapi.RedeemRequest{Egg: r.MintEgg(b, "w", rotapi.MintRequest{Peer: "api"}), CSR: csrFor(b, p256(b), nil),
		Token: iss.Token(b, time.Now(), "payments", "api", "api-0")}
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
