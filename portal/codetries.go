package portal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"kakunin/store"
)

// Wrong answers to a code the portal sent (an SMS to a new number, a
// sign-in SMS, a mail to a new address) are counted in the store, not in
// the session: each try is reserved there before the code is compared
// (store.ReserveAttempt, as RADIUS reserves password attempts), so
// parallel requests, on one node or several, cannot have more codes
// compared than the limit. The counter is the user's and the code's: a
// random key drawn when the code is sent names it, and nothing else
// (never the code) is stored.

// tryWindow is how far back a code's tries are counted: longer than any
// code lives, short enough that a node's clock running behind another's
// cannot hide a try.
const tryWindow = 24 * time.Hour

// newTryKey names the counter of one code sent.
func newTryKey() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new try key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func tryKind(key string) store.FailureKind { return store.FailureKind("portal_code/" + key) }

// reserveTry reserves one comparison of the code whose tries key counts;
// false: it has had limit of them (a code pending since before keys were
// drawn has none left: the user sends a new one). A try stays counted
// whatever its answer (the store keeps it pending, which counts), so
// tries in flight are refused as tries made are: a code is compared at
// most limit times.
func (s *Server) reserveTry(ctx context.Context, user, key string, limit int) (bool, error) {
	if key == "" {
		return false, nil
	}
	now := s.now()
	r, err := s.st.ReserveAttempt(ctx, user, tryKind(key), now, now.Add(-tryWindow), limit)
	return r == store.Reserved, err
}

// triesLeft reports whether the code can be tried again after a wrong try.
func (s *Server) triesLeft(ctx context.Context, user, key string, limit int) (bool, error) {
	n, err := s.st.CountFailures(ctx, user, tryKind(key), s.now().Add(-tryWindow))
	return n < limit, err
}

// codeTry is what one try of a sent code came to.
type codeTry int

const (
	codeRight codeTry = iota // the code matched
	codeWrong                // it did not; the code can be tried again
	codeSpent                // no try left, or the code expired: send a new one
)

// tryCode spends one try of the code whose tries key counts (at most
// limit, the code valid until expires): the try is reserved in the store
// before matches compares anything, so parallel requests cannot have more
// comparisons than the limit. flow labels kakunin_portal_code_tries_total.
// An error of matches is returned as it is.
func (s *Server) tryCode(ctx context.Context, flow, user, key string, limit int, expires time.Time, matches func() (bool, error)) (codeTry, error) {
	ok, err := s.reserveTry(ctx, user, key, limit)
	if err != nil {
		return codeSpent, fmt.Errorf("reserve a code try: %w", err)
	}
	if !ok || !s.now().Before(expires) {
		s.m.codeTries.WithLabelValues(flow, "refused").Inc()
		return codeSpent, nil
	}
	good, err := matches()
	switch {
	case err != nil:
		return codeSpent, err
	case good:
		s.m.codeTries.WithLabelValues(flow, "ok").Inc()
		return codeRight, nil
	}
	s.m.codeTries.WithLabelValues(flow, "wrong").Inc()
	left, err := s.triesLeft(ctx, user, key, limit)
	switch {
	case err != nil:
		return codeSpent, fmt.Errorf("count code tries: %w", err)
	case !left:
		return codeSpent, nil
	}
	return codeWrong, nil
}
