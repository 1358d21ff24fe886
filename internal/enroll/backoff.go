package enroll

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff schedule with jitter. The zero value uses the defaults.
type Backoff struct {
	// Initial is the first delay (default 250ms).
	Initial time.Duration
	// Max caps every delay (default 10s).
	Max time.Duration
	// Multiplier grows the delay per attempt (default 2).
	Multiplier float64
	// Jitter is the fraction of each delay that is random (default 0.5): a delay d becomes a
	// value in [d·(1-Jitter), d].
	Jitter float64
	// Rand returns a number in [0, 1) (math/rand/v2 when nil).
	Rand func() float64
}

// Delay returns how long to wait after the attempt-th failure (0-based).
func (b Backoff) Delay(attempt int) time.Duration {
	initial, maxDelay, mult, jitter := b.Initial, b.Max, b.Multiplier, b.Jitter
	if initial <= 0 {
		initial = 250 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 10 * time.Second
	}
	if mult < 1 {
		mult = 2
	}
	if jitter <= 0 || jitter > 1 {
		jitter = 0.5
	}
	d := float64(initial)
	for i := 0; i < attempt && d < float64(maxDelay); i++ {
		d *= mult
	}
	d = min(d, float64(maxDelay))
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return time.Duration(d * (1 - jitter*r()))
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
