package rot_test

import (
	"encoding/base64"
	"testing"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// BenchmarkRedeemAttested compares a redemption without attestation with one of a Workload
// with a TPM 2.0 policy (goal: the verified quote adds < 2 ms). The attested op is the
// challenge and the redemption with evidence, over real TLS; the quote itself (the pod's TPM,
// here swtpm) is outside the timer.
func BenchmarkRedeemAttested(b *testing.B) {
	a := startAttested(b)
	csr := csrFor(b, p256(b), nil)
	b.Run("plain", func(b *testing.B) {
		req := &rotapi.RedeemRequest{Egg: a.r.MintEgg(b, "plain", rotapi.MintRequest{}), CSR: csr}
		for b.Loop() {
			if _, err := a.client.Redeem(ctx(b), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tpm2", func(b *testing.B) {
		eggText := a.r.MintEgg(b, "vault", rotapi.MintRequest{})
		for b.Loop() {
			ch, err := a.client.Challenge(ctx(b), eggText)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			nonce, _ := base64.StdEncoding.DecodeString(ch.Nonce)
			ev, err := attest.Quote(a.tpm, attest.DefaultAKHandle, nonce, ch.PCRs)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := a.client.Redeem(ctx(b), &rotapi.RedeemRequest{Egg: eggText, CSR: csr, Evidence: ev}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
