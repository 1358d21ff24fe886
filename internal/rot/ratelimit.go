package rot

import (
	"container/list"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// RateLimit is a token bucket: Rate requests a second on average, up to Burst at once. A zero
// Rate turns the limit off.
type RateLimit struct {
	Rate  float64
	Burst int
}

// RedeemLimits are the rate limits of POST /v1/redeem. A refused request gets 429 with
// Retry-After and counts in seal_rot_redeem_rate_limited_total{reason}.
type RedeemLimits struct {
	// PerEgg limits the redemptions of one Egg id, from wherever it is presented. It is
	// checked once the Egg is authenticated, so only Eggs this ROT minted take a bucket.
	PerEgg RateLimit
	// PerClient limits the requests of one client IP address (the TCP peer: behind NAT or an
	// SNAT load balancer, everything behind that address shares it), before the body is read.
	PerClient RateLimit
	// MaxTracked bounds how many Egg ids and how many client addresses have a bucket, each
	// (DefaultMaxTracked when zero). Idle buckets are dropped as new ones come; at the bound the
	// least recently used bucket goes, so a flood of addresses costs memory up to the bound and
	// no more.
	MaxTracked int
}

// DefaultMaxTracked is RedeemLimits.MaxTracked when zero: at most this many buckets per scope
// (about 200 bytes each).
const DefaultMaxTracked = 1 << 16

// DefaultRedeemLimits are the limits when Config.RedeemLimits is nil (and seal-rot serve's flag
// defaults). The burst lets a fleet of 10,000 pods sharing one Egg restart at once without a
// refusal; the rate then keeps one Egg from using more than
// a small share of the ROT (a 2-core ROT signs about 1,500 certificates a second) while a leaked
// Egg or a runaway client hammers it. Renewals of 24h certificates by 10,000 pods are about
// 0.2 a second.
//
// The per-client limit is off by default: behind a NAT gateway, an SNAT load balancer or a
// passthrough Route the ROT sees one address for every pod, and anyone behind it who floods
// /v1/redeem with garbage would empty that one bucket and block every pod's redemption. Turn it
// on (seal-rot serve --redeem-rate-per-client) where the ROT sees the pods' own addresses.
var DefaultRedeemLimits = RedeemLimits{
	PerEgg: RateLimit{Rate: 100, Burst: 10000},
}

// Check reports a limit that cannot work: a negative or non-finite rate, or a rate without a
// burst of at least one.
func (l RedeemLimits) Check() error {
	for _, c := range []struct {
		name string
		rl   RateLimit
	}{{"per-Egg", l.PerEgg}, {"per-client", l.PerClient}} {
		if c.rl.Rate < 0 || math.IsNaN(c.rl.Rate) || math.IsInf(c.rl.Rate, 0) {
			return fmt.Errorf("rot: %s redeem rate %v must be a finite number >= 0 (0 turns the limit off)", c.name, c.rl.Rate)
		}
		if c.rl.Rate > 0 && c.rl.Burst < 1 {
			return fmt.Errorf("rot: %s redeem burst %d must be at least 1 when the rate is %v", c.name, c.rl.Burst, c.rl.Rate)
		}
	}
	if l.MaxTracked < 0 {
		return fmt.Errorf("rot: redeem rate limit MaxTracked %d must be >= 0", l.MaxTracked)
	}
	return nil
}

// buckets is a bounded set of token buckets by key, least recently used last.
type buckets struct {
	lim RateLimit
	max int

	mu  sync.Mutex
	m   map[string]*list.Element // values *bucket
	lru list.List
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// newBuckets returns nil when lim is off.
func newBuckets(lim RateLimit, max int) *buckets {
	if lim.Rate == 0 {
		return nil
	}
	if max <= 0 {
		max = DefaultMaxTracked
	}
	return &buckets{lim: lim, max: max, m: map[string]*list.Element{}}
}

// take takes a token of key's bucket at now. Without one it reports false and how long until
// the next token.
func (b *buckets) take(key string, now time.Time) (time.Duration, bool) {
	if b == nil {
		return 0, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[key]
	if !ok {
		b.dropIdle(now)
		for len(b.m) >= b.max {
			b.drop(b.lru.Back())
		}
		b.m[key] = b.lru.PushFront(&bucket{key: key, tokens: float64(b.lim.Burst) - 1, last: now})
		return 0, true
	}
	b.lru.MoveToFront(e)
	bk := e.Value.(*bucket)
	b.refill(bk, now)
	if bk.tokens >= 1 {
		bk.tokens--
		b.dropIdle(now)
		return 0, true
	}
	return time.Duration((1 - bk.tokens) / b.lim.Rate * float64(time.Second)), false
}

func (b *buckets) refill(bk *bucket, now time.Time) {
	if d := now.Sub(bk.last); d > 0 { // a clock that steps back refills nothing
		bk.tokens = min(float64(b.lim.Burst), bk.tokens+d.Seconds()*b.lim.Rate)
		bk.last = now
	}
}

// dropIdle drops up to two least recently used buckets that are full again: they hold nothing
// a fresh bucket would not, so memory shrinks as traffic goes on.
func (b *buckets) dropIdle(now time.Time) {
	for range 2 {
		e := b.lru.Back()
		if e == nil {
			return
		}
		bk := e.Value.(*bucket)
		if bk.tokens+now.Sub(bk.last).Seconds()*b.lim.Rate < float64(b.lim.Burst) {
			return
		}
		b.drop(e)
	}
}

func (b *buckets) drop(e *list.Element) {
	delete(b.m, e.Value.(*bucket).key)
	b.lru.Remove(e)
}

// len is the number of buckets held.
func (b *buckets) len() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// clientKey is the client's IP address (IPv4-mapped IPv6 as IPv4), or RemoteAddr as it is when
// it does not parse.
func clientKey(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return r.RemoteAddr
}

// retryAfter is the Retry-After value for a wait of d: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return fmt.Sprint(max(1, int64(math.Ceil(d.Seconds()))))
}
