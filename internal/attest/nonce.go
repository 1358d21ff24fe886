package attest

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"
)

// NonceSize is the length of a nonce: 8 bytes of expiry (Unix nanoseconds, big-endian, only
// to name an expired nonce as such) and 24 random bytes. 32 bytes fit the qualifying data of
// TPM2_Quote with any SHA-256 attestation key.
const NonceSize = 32

// NonceOptions configures Nonces. Zero fields take the defaults.
type NonceOptions struct {
	// TTL is how long a nonce is good for (default 60s).
	TTL time.Duration
	// Max is the most nonces held at once (default 10000); when full, expired ones are
	// dropped and then the request is refused with ErrBusy.
	Max int
	// PerEgg is the most outstanding nonces of one Egg (default 64: every replica of an image
	// shares its Egg, and they may all start at once). Asking for more is refused with ErrBusy
	// until one is used or expires; nothing issued is dropped, so someone holding a leaked Egg
	// cannot void the real pods' challenges.
	PerEgg int
	Now    func() time.Time
	Rand   io.Reader
}

// Nonces issues and consumes single-use nonces bound to an Egg id. Memory is bounded by Max;
// every Issue sweeps expired nonces. A used nonce is remembered until it expires, so a replay
// is named as one.
type Nonces struct {
	o NonceOptions

	mu    sync.Mutex
	m     map[string]*nonceEntry // by nonce bytes
	byEgg map[string][]string    // egg id -> its nonces, oldest first
	next  time.Time              // earliest expiry in m (a sweep before it finds nothing)
}

type nonceEntry struct {
	egg     string
	expires time.Time
	used    bool
}

// NewNonces returns an empty nonce service.
func NewNonces(o NonceOptions) *Nonces {
	if o.TTL <= 0 {
		o.TTL = 60 * time.Second
	}
	if o.Max <= 0 {
		o.Max = 10000
	}
	if o.PerEgg <= 0 {
		o.PerEgg = 64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return &Nonces{o: o, m: map[string]*nonceEntry{}, byEgg: map[string][]string{}}
}

// Issue returns a fresh nonce for the Egg with id egg and its expiry.
func (n *Nonces) Issue(egg string) ([]byte, time.Time, error) {
	now := n.o.Now()
	exp := now.Add(n.o.TTL)
	nonce := make([]byte, NonceSize)
	binary.BigEndian.PutUint64(nonce, uint64(exp.UnixNano()))
	if _, err := io.ReadFull(n.o.Rand, nonce[8:]); err != nil {
		return nil, time.Time{}, fmt.Errorf("attest: reading randomness: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sweep(now)
	if out := len(n.byEgg[egg]); out >= n.o.PerEgg {
		return nil, time.Time{}, fmt.Errorf("%w: %d challenges of this Egg outstanding, retry in %s", ErrBusy, out, n.o.TTL)
	}
	if len(n.m) >= n.o.Max {
		return nil, time.Time{}, fmt.Errorf("%w: %d challenges outstanding, retry in %s", ErrBusy, len(n.m), n.o.TTL)
	}
	n.m[string(nonce)] = &nonceEntry{egg: egg, expires: exp}
	n.byEgg[egg] = append(n.byEgg[egg], string(nonce))
	if n.next.IsZero() || exp.Before(n.next) {
		n.next = exp
	}
	return nonce, exp, nil
}

// Consume checks that nonce was issued for egg, is unused and unexpired, and uses it up.
func (n *Nonces) Consume(egg string, nonce []byte) error {
	now := n.o.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.m[string(nonce)]
	switch {
	case !ok && len(nonce) == NonceSize && uint64(now.UnixNano()) >= binary.BigEndian.Uint64(nonce):
		return fmt.Errorf("%w: it expired; ask for a new challenge right before redeeming", ErrNonceExpired)
	case !ok:
		return fmt.Errorf("%w: this ROT did not issue it (or restarted since, or another replica issued it)", ErrNonceUnknown)
	case e.used:
		return fmt.Errorf("%w: every redemption needs a fresh challenge", ErrNonceReused)
	case !now.Before(e.expires):
		return fmt.Errorf("%w: it expired at %s; ask for a new challenge right before redeeming", ErrNonceExpired, e.expires.UTC().Format(time.RFC3339))
	case e.egg != egg:
		return fmt.Errorf("%w: it was issued for another Egg", ErrNonceOtherEgg)
	}
	e.used = true
	return nil
}

// Len is the number of nonces held (issued or used, not yet swept).
func (n *Nonces) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.m)
}

// sweep drops expired nonces; it is a no-op until the earliest one expires.
func (n *Nonces) sweep(now time.Time) {
	if n.next.IsZero() || now.Before(n.next) {
		return
	}
	n.next = time.Time{}
	for k, e := range n.m {
		if !now.Before(e.expires) {
			delete(n.m, k)
			continue
		}
		if n.next.IsZero() || e.expires.Before(n.next) {
			n.next = e.expires
		}
	}
	for egg, ks := range n.byEgg {
		kept := ks[:0]
		for _, k := range ks {
			if _, ok := n.m[k]; ok {
				kept = append(kept, k)
			}
		}
		if len(kept) == 0 {
			delete(n.byEgg, egg)
		} else {
			n.byEgg[egg] = kept
		}
	}
}
