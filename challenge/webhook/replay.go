package webhook

import (
	"sync"
	"time"
)

// Replays remembers the signatures a receiver has taken, each until its
// timestamp leaves the window Verify accepts, so that an exact copy of a
// signed request is refused. It is per process: a copy sent to another
// node passes it, and what stops that copy there is the receiver's own
// single-use state (an approval is decided once, in the store).
type Replays struct {
	mu   sync.Mutex
	seen map[string]time.Time // signature → until when it is remembered
	max  int
}

// NewReplays remembers at most limit signatures at once (at least 1). Only
// verified signatures are remembered, so only a holder of the secret can
// fill it; full, it refuses rather than forget one still in its window.
func NewReplays(limit int) *Replays {
	return &Replays{seen: make(map[string]time.Time), max: max(1, limit)}
}

// First reports whether signature is new at now, and remembers it until
// until; false for one seen before (and not yet forgotten) or when full.
func (r *Replays) First(signature string, until, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.seen[signature]; ok && now.Before(t) {
		return false
	}
	if len(r.seen) >= r.max {
		for s, t := range r.seen {
			if !now.Before(t) {
				delete(r.seen, s)
			}
		}
		if len(r.seen) >= r.max {
			return false
		}
	}
	r.seen[signature] = until
	return true
}
