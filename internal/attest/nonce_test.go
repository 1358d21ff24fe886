package attest_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/attest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }

func TestNonces(t *testing.T) {
	tests := []struct {
		name string
		run  func(n *attest.Nonces, c *clock) error
		want error
	}{
		{"fresh nonce of its Egg", func(n *attest.Nonces, c *clock) error {
			b, _, _ := n.Issue("egg-a")
			return n.Consume("egg-a", b)
		}, nil},
		{"reused", func(n *attest.Nonces, c *clock) error {
			b, _, _ := n.Issue("egg-a")
			if err := n.Consume("egg-a", b); err != nil {
				return err
			}
			return n.Consume("egg-a", b)
		}, attest.ErrNonceReused},
		{"expired", func(n *attest.Nonces, c *clock) error {
			b, _, _ := n.Issue("egg-a")
			c.Add(time.Minute)
			return n.Consume("egg-a", b)
		}, attest.ErrNonceExpired},
		{"expired and swept", func(n *attest.Nonces, c *clock) error {
			b, _, _ := n.Issue("egg-a")
			c.Add(2 * time.Minute)
			_, _, _ = n.Issue("egg-b") // sweeps
			return n.Consume("egg-a", b)
		}, attest.ErrNonceExpired},
		{"of another Egg", func(n *attest.Nonces, c *clock) error {
			b, _, _ := n.Issue("egg-a")
			return n.Consume("egg-b", b)
		}, attest.ErrNonceOtherEgg},
		{"never issued", func(n *attest.Nonces, c *clock) error {
			return n.Consume("egg-a", bytes.Repeat([]byte{0xff}, attest.NonceSize))
		}, attest.ErrNonceUnknown},
		{"kept through newer challenges of the same Egg", func(n *attest.Nonces, c *clock) error {
			b, _, _ := n.Issue("egg-a")
			for range 100 {
				_, _, _ = n.Issue("egg-a") // the last 37 are refused as busy
			}
			return n.Consume("egg-a", b)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			n := attest.NewNonces(attest.NonceOptions{TTL: time.Minute, Now: c.Now})
			if err := tt.run(n, c); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNoncesBounded(t *testing.T) {
	c := newClock()
	n := attest.NewNonces(attest.NonceOptions{TTL: time.Minute, Max: 256, Now: c.Now})
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy, issued := 0, 0
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := n.Issue(fmt.Sprintf("egg-%d", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, attest.ErrBusy):
				busy++
			case err == nil:
				issued++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := n.Len(); got > 256 {
		t.Errorf("after 1000 concurrent challenges: %d nonces held, want at most Max=256", got)
	}
	if issued != 256 || busy != 744 {
		t.Errorf("issued %d, refused busy %d; want 256 and 744", issued, busy)
	}
	c.Add(time.Minute)
	if _, _, err := n.Issue("egg-late"); err != nil {
		t.Fatalf("after expiry: %v, want a nonce", err)
	}
	if got := n.Len(); got != 1 {
		t.Errorf("after expiry: %d nonces held, want 1 (expired ones swept)", got)
	}
	// One Egg asking again and again holds at most PerEgg nonces; the rest are refused as busy,
	// and the first ones stay good (a leaked Egg cannot void the real pods' challenges).
	first, _, err := n.Issue("egg-greedy")
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for range 1000 {
		if _, _, err := n.Issue("egg-greedy"); errors.Is(err, attest.ErrBusy) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Len(); got != 1+64 || refused != 1000-63 {
		t.Errorf("after 1001 challenges of one Egg: %d nonces held, %d refused; want 65 and 937", got, refused)
	}
	if err := n.Consume("egg-greedy", first); err != nil {
		t.Errorf("the Egg's first nonce after the flood: %v, want it still good", err)
	}
}

func BenchmarkNonceIssueConsume(b *testing.B) {
	n := attest.NewNonces(attest.NonceOptions{})
	for b.Loop() {
		nonce, _, err := n.Issue("egg")
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Consume("egg", nonce); err != nil {
			b.Fatal(err)
		}
	}
}
