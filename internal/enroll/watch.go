package enroll

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// State is what the health endpoints report: ready while the files hold an unexpired identity.
type State struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Notify, when set, receives every identity Set records (the Workload API's streams).
	Notify func(*Identity)

	mu       sync.Mutex
	notAfter time.Time
}

// Set records the identity now in the files.
func (s *State) Set(id *Identity) {
	s.mu.Lock()
	s.notAfter = id.NotAfter
	s.mu.Unlock()
	if s.Notify != nil {
		s.Notify(id)
	}
}

// Ready reports whether the files hold an identity that has not expired.
func (s *State) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return !s.notAfter.IsZero() && now().Before(s.notAfter)
}

// RenewAt returns when to renew id: at two thirds of its lifetime as received, less up to a
// tenth of the lifetime at random (jitter in [0, 1)), so replicas do not renew in lockstep.
func RenewAt(id *Identity, jitter float64) time.Time {
	life := id.NotAfter.Sub(id.IssuedAt)
	if life <= 0 {
		return id.IssuedAt
	}
	return id.IssuedAt.Add(time.Duration(float64(life) * (2.0/3 - jitter/10)))
}

// Watch keeps the identity fresh: it sleeps until RenewAt, redeems again (retrying until the
// current certificate expires) and swaps the file set, reporting each identity to state. It
// returns nil when ctx is done (SIGTERM) and a *Failure when renewal is refused or the
// certificate expired before the ROT answered.
func (e *Enroller) Watch(ctx context.Context, id *Identity, state *State, jitter func() float64) error {
	if jitter == nil {
		jitter = rand.Float64
	}
	if e.Secrets && e.Writer != nil {
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		go e.WatchSecrets(sctx, jitter)
	}
	for {
		at := RenewAt(id, jitter())
		e.log().Info("next renewal", "at", at.UTC().Format(time.RFC3339Nano), "notAfter", id.NotAfter.UTC().Format(time.RFC3339))
		if err := e.sleep(ctx, at.Sub(e.now())); err != nil {
			return nil
		}
		next, err := e.Redeem(ctx, id.NotAfter)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if f, ok := err.(*Failure); ok {
				f.What = fmt.Sprintf("renewing the identity that expires at %s: %s", id.NotAfter.UTC().Format(time.RFC3339), f.What)
			}
			return err
		}
		if err := e.write(next); err != nil {
			return err
		}
		id = next
		if state != nil {
			state.Set(id)
		}
	}
}
