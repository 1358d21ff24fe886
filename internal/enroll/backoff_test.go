package enroll

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       Backoff
		attempt int
		want    time.Duration
	}{
		{"first, no jitter drawn", Backoff{Rand: func() float64 { return 0 }}, 0, 250 * time.Millisecond},
		{"doubles", Backoff{Rand: func() float64 { return 0 }}, 3, 2 * time.Second},
		{"capped at max", Backoff{Rand: func() float64 { return 0 }}, 10, 10 * time.Second},
		{"huge attempt stays capped", Backoff{Rand: func() float64 { return 0 }}, 1 << 20, 10 * time.Second},
		{"full jitter draw halves", Backoff{Rand: func() float64 { return 1 }}, 2, 500 * time.Millisecond},
		{"custom schedule", Backoff{Initial: time.Second, Max: 5 * time.Second, Multiplier: 3, Jitter: 0.2, Rand: func() float64 { return 0.5 }}, 1, 2700 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Delay(tc.attempt); got != tc.want {
				t.Errorf("Delay(%d) = %v, want %v", tc.attempt, got, tc.want)
			}
		})
	}
}

func TestBackoffJitterRange(t *testing.T) {
	var b Backoff
	for attempt := range 8 {
		hi := min(250*time.Millisecond<<attempt, 10*time.Second)
		for range 50 {
			if d := b.Delay(attempt); d < hi/2 || d > hi {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", attempt, d, hi/2, hi)
			}
		}
	}
}

func TestRenewAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		life   time.Duration
		jitter float64
		want   time.Duration
	}{
		{"24h, no jitter: two thirds", 24 * time.Hour, 0, 16 * time.Hour},
		{"24h, most jitter: a tenth earlier", 24 * time.Hour, 1, 16*time.Hour - 144*time.Minute},
		{"3s", 3 * time.Second, 0, 2 * time.Second},
		{"very short", 600 * time.Millisecond, 1, 340 * time.Millisecond},
		{"already expired: now", -time.Second, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := &Identity{IssuedAt: t0, NotAfter: t0.Add(tc.life)}
			if got := RenewAt(id, tc.jitter).Sub(t0); got != tc.want {
				t.Errorf("RenewAt - issued = %v, want %v", got, tc.want)
			}
		})
	}
}
