//go:build cgo

package rot_test

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/custody/custodytest"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// BenchmarkRedeemKeyProvider is BenchmarkRedeemHTTPS with each key provider: file (keys in
// memory), file with a KEK (sealing costs only at start and on writes), and pkcs11 on a real
// SoftHSM2 token, where every leaf is signed on the token (goal: >= 1,000 redemptions/s on
// 2 cores, client included). Figures in docs/key-custody.md.
func BenchmarkRedeemKeyProvider(b *testing.B) {
	b.Run("file", func(b *testing.B) { benchRedeem(b, nil) })
	b.Run("file-kek", func(b *testing.B) {
		k, err := custody.NewFile(make([]byte, custody.KEKSize), nil)
		if err != nil {
			b.Fatal(err)
		}
		benchRedeem(b, k)
	})
	b.Run("pkcs11-softhsm2", func(b *testing.B) {
		cfg, _ := custodytest.SoftHSM(b, "seal-bench")
		p, err := custody.OpenPKCS11(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		benchRedeem(b, p)
	})
}

func benchRedeem(b *testing.B, keys custody.Keys) {
	r := rottest.Start(b, rottest.WithKeys(keys))
	r.CreateWorkload(b, rotapi.Workload{Name: "w", Peers: []string{"api"}})
	req := &rotapi.RedeemRequest{Egg: r.MintEgg(b, "w", rotapi.MintRequest{Peer: "api"}), CSR: csrFor(b, p256(b), nil)}
	c := r.Client(b, nil)
	c.HTTP.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	if _, err := c.Redeem(ctx(b), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(4)
	start, cpu0 := time.Now(), cpuTime(b)
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
	// CPU time per redemption (ROT and client, this process): on a shared machine the wall
	// rate depends on the neighbours, this does not. 2 cores / it is the rate on 2 idle cores.
	perOp := (cpuTime(b) - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(perOp.Microseconds()), "cpu-µs/op")
	b.ReportMetric(2*float64(time.Second)/float64(perOp), "redemptions/s-on-2-idle-cores")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
