package attest_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/seal-dev/seal/internal/attest"
)

// The ROT's side of a challenge: a nonce for one redemption of one Egg.
func ExampleNonces() {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	n := attest.NewNonces(attest.NonceOptions{TTL: time.Minute, Now: func() time.Time { return now }})
	nonce, expires, _ := n.Issue("egg-0123")
	fmt.Println(len(nonce), expires.Sub(now))
	fmt.Println(n.Consume("egg-0123", nonce))
	err := n.Consume("egg-0123", nonce)
	fmt.Println(errors.Is(err, attest.ErrNonceReused))
	// Output:
	// 32 1m0s
	// <nil>
	// true
}

// Reference values as sealctl attestation policy set stores them.
func ExampleParsePolicy() {
	p, err := attest.ParsePolicy("prod", map[string]string{
		"7": "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
		"0": "0000000000000000000000000000000000000000000000000000000000000000",
	})
	fmt.Println(p.Indices(), err)
	_, err = attest.ParsePolicy("bad", map[string]string{"7": "abc"})
	fmt.Println(err)
	// Output:
	// [0 7] <nil>
	// attest: policy "bad": PCR 7 value "abc" is not 64 hex digits (a SHA-256 bank value)
}
