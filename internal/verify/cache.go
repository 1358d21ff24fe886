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
	entries map[key]time.Time // → expiry
}

// key is everything a successful verification depends on.
type key struct {
	digest     string // canonical repo@sha256:…
	policy     string // uid (name for policies from a file)
	generation int64
	authority  string // name and trust-material fingerprint
}

func newCache(ttl time.Duration, max int, now func() time.Time) *cache {
	return &cache{ttl: ttl, max: max, now: now, entries: make(map[key]time.Time)}
}

func cacheKey(digest string, p *policy, authorityID string) key {
	id := p.uid
	if id == "" {
		id = p.name
	}
	return key{digest: digest, policy: id, generation: p.generation, authority: authorityID}
}

func (c *cache) hit(k key) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.RLock()
	exp, ok := c.entries[k]
	c.mu.RUnlock()
	return ok && c.now().Before(exp)
}

func (c *cache) add(k key) {
	if c.ttl <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for old, exp := range c.entries {
			if !now.Before(exp) {
				delete(c.entries, old)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries) // bounded memory beats a perfect hit rate
		}
	}
	c.entries[k] = now.Add(c.ttl)
}
