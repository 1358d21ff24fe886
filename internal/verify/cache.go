package verify

import (
	"sync"
	"time"
)

// cache remembers successful verifications until they expire. Failures are never cached, so a
// newly signed image is admitted on the next try.
type cache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.RWMutex
	entries map[string]time.Time // key → expiry
}

func newCache(ttl time.Duration, max int, now func() time.Time) *cache {
	return &cache{ttl: ttl, max: max, now: now, entries: make(map[string]time.Time)}
}

// cacheKey is everything a successful verification depends on.
func cacheKey(digest string, p *policy, authorityID string) string {
	id := p.uid
	if id == "" {
		id = p.name
	}
	return digest + "|" + id + "|" + itoa(p.generation) + "|" + authorityID
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

func (c *cache) hit(key string) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.RLock()
	exp, ok := c.entries[key]
	c.mu.RUnlock()
	return ok && c.now().Before(exp)
}

func (c *cache) add(key string) {
	if c.ttl <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, exp := range c.entries {
			if !now.Before(exp) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries) // bounded memory beats a perfect hit rate
		}
	}
	c.entries[key] = now.Add(c.ttl)
}
