package radius

import (
	"net/netip"
	"sync"
	"time"
)

// A NAS that hears nothing retransmits the same packet (same source port,
// Identifier and Request Authenticator) every few seconds. Deciding it
// again would be wrong, not just wasteful: the first decision may have
// consumed a one-time code or a challenge State, so the second would
// reject a user who was just accepted. RFC 5080 section 2.2.2 asks servers
// to answer retransmits with the response they already sent; the cache
// below does that, and also makes a retransmit that arrives while the
// first copy is still being decided (a push approval can take a minute)
// wait for that decision instead of starting another.

const (
	// maxCacheEntries bounds the number of entries held for retransmits.
	// At the default 90 s window it is reached only above ~1450 requests
	// a second; beyond it the oldest answered entries are forgotten early.
	maxCacheEntries = 1 << 17
	// maxCacheBytes bounds the memory the answered entries hold, response
	// bytes plus entryOverhead each. A response echoes the request's
	// Proxy-State and can be ~4 KB, so the entry bound alone would allow
	// ~0.5 GB; this one evicts the oldest answered entries first. Entries
	// still being decided are not counted and never evicted: there are at
	// most max_in_flight of them (plus the one a read loop is handling).
	maxCacheBytes = 64 << 20
	// entryOverhead approximates what an answered entry costs besides its
	// response: the entry, its map slot and its FIFO slot.
	entryOverhead = 256
	// maxAttached bounds how many extra copies of a response are sent for
	// retransmits that arrived while it was being decided. One is enough
	// for the NAS; a few cover a lost datagram without letting a replayed
	// packet multiply traffic.
	maxAttached = 4
)

// cacheKey identifies one request as the NAS sent it. The listener index
// keeps the authentication and accounting sockets apart.
type cacheKey struct {
	src      netip.AddrPort
	listener uint16
	id       byte
	auth     [16]byte
}

// cacheEntry is one request, being decided or answered.
type cacheEntry struct {
	key      cacheKey
	done     bool
	resp     []byte // nil: answered with silence (a drop)
	size     int    // bytes accounted for it once answered
	attached int    // retransmits waiting for the decision
	expires  time.Time
}

type cacheState int

const (
	cacheNew      cacheState = iota // first copy: decide it
	cacheAnswered                   // retransmit of an answered request: resend resp
	cacheAttached                   // retransmit while deciding: the decider sends it a copy
)

// cache is the retransmit cache. One mutex guards it: every operation is a
// map probe and a few field writes, far cheaper than the syscalls around
// it. Answered entries sit in a FIFO in the order they were answered,
// which, the window being fixed, is also the order they expire in; each
// insert pops the expired ones off the front, so eviction needs neither a
// timer nor a scan. When the cache holds more than max entries or
// maxBytes bytes, answered entries are popped off the front early.
type cache struct {
	mu       sync.Mutex
	window   time.Duration
	max      int
	maxBytes int
	bytes    int // accounted size of the answered entries (those in fifo)
	entries  map[cacheKey]*cacheEntry
	fifo     []*cacheEntry
	head     int
}

func newCache(window time.Duration, max, maxBytes int) *cache {
	return &cache{window: window, max: max, maxBytes: maxBytes, entries: make(map[cacheKey]*cacheEntry)}
}

// begin looks k up. For a new request it returns a fresh entry the caller
// must settle with complete or forget. For an answered one it returns the
// response to send again (nil: send nothing). For one being decided it
// attaches the retransmit to the decision.
func (c *cache) begin(k cacheKey, now time.Time) (*cacheEntry, []byte, cacheState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evictLocked(now)
	if e, ok := c.entries[k]; ok {
		if e.done {
			return e, e.resp, cacheAnswered
		}
		if e.attached < maxAttached {
			e.attached++
		}
		return e, nil, cacheAttached
	}
	if len(c.entries) >= c.max && c.head < len(c.fifo) {
		c.popLocked()
	}
	e := &cacheEntry{key: k}
	c.entries[k] = e
	return e, nil, cacheNew
}

// complete records the response (nil for a drop) and returns how many
// retransmits were attached, each owed a copy. An entry is completed once;
// a second call changes nothing and returns 0.
func (c *cache) complete(e *cacheEntry, resp []byte, now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.done {
		return 0
	}
	e.done = true
	e.resp = resp
	e.size = cap(resp) + entryOverhead
	e.expires = now.Add(c.window)
	n := e.attached
	e.attached = 0
	c.fifo = append(c.fifo, e)
	c.bytes += e.size
	// Over the byte bound, forget the oldest answers. This may be e
	// itself if it alone is larger than the bound; its retransmits are
	// then decided again, which is better than holding it.
	for c.bytes > c.maxBytes && c.head < len(c.fifo) {
		c.popLocked()
	}
	return n
}

// forget removes an entry that was never decided (the server was too
// busy), so that the NAS's next retransmit gets another chance.
func (c *cache) forget(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
}

// len is the number of entries, answered or not.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// size is the accounted size of the answered entries, in bytes.
func (c *cache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

func (c *cache) evictLocked(now time.Time) {
	for c.head < len(c.fifo) && !now.Before(c.fifo[c.head].expires) {
		c.popLocked()
	}
}

func (c *cache) popLocked() {
	e := c.fifo[c.head]
	c.fifo[c.head] = nil
	c.head++
	c.bytes -= e.size
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	// Reclaim the consumed front once it is most of the slice.
	switch {
	case c.head == len(c.fifo):
		c.fifo = c.fifo[:0]
		c.head = 0
	case c.head > 1024 && c.head*2 > len(c.fifo):
		n := copy(c.fifo, c.fifo[c.head:])
		clear(c.fifo[n:])
		c.fifo = c.fifo[:n]
		c.head = 0
	}
}
