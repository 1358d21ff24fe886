//go:build cgo

package rot_test

import (
	"testing"

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
	b.Run("file", func(b *testing.B) { benchKeys(b, nil) })
	b.Run("file-kek", func(b *testing.B) {
		k, err := custody.NewFile(make([]byte, custody.KEKSize), nil)
		if err != nil {
			b.Fatal(err)
		}
		benchKeys(b, k)
	})
	b.Run("pkcs11-softhsm2", func(b *testing.B) {
		cfg, _ := custodytest.SoftHSM(b, "seal-bench")
		p, err := custody.OpenPKCS11(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		benchKeys(b, p)
	})
}

// benchKeys is BenchmarkRedeemHTTPS on a ROT whose keys are in keys.
func benchKeys(b *testing.B, keys custody.Keys) {
	r := rottest.Start(b, rottest.WithKeys(keys))
	r.CreateWorkload(b, rotapi.Workload{Name: "w", Peers: []string{"api"}})
	benchRedeem(b, r, &rotapi.RedeemRequest{Egg: r.MintEgg(b, "w", rotapi.MintRequest{Peer: "api"}), CSR: csrFor(b, p256(b), nil)})
}
