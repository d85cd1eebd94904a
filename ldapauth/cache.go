package ldapauth

import (
	"sync"
	"time"
)

// dnCache remembers the DN a user name was found at, so that later logins
// of the same user bind directly instead of searching first. It holds no
// secrets and nothing that decides an outcome on its own: a failed bind
// with a cached DN searches again before the password is called wrong.
type dnCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]dnCacheEntry
}

type dnCacheEntry struct {
	dn      string
	expires time.Time
}

func newDNCache(ttl time.Duration, max int) *dnCache {
	return &dnCache{ttl: ttl, max: max, entries: make(map[string]dnCacheEntry)}
}

func (c *dnCache) get(user string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[user]
	if !ok {
		return "", false
	}
	if !now.Before(e.expires) {
		delete(c.entries, user)
		return "", false
	}
	return e.dn, true
}

func (c *dnCache) put(user, dn string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[user]; !ok && len(c.entries) >= c.max {
		// Full: evict an arbitrary entry (map iteration starts at a random
		// place). Cheaper than LRU bookkeeping on every hit, and a miss
		// costs only the search the cache saves.
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[user] = dnCacheEntry{dn: dn, expires: now.Add(c.ttl)}
}

func (c *dnCache) drop(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, user)
}

func (c *dnCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
