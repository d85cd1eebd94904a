package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"kakunin/store"
)

// RunSessions runs the behaviours of the portal's sessions on a single
// store; open is as for Run.
func RunSessions(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionUnknownOrExpiredIsNotFound", testSessionExpiry},
		{"UpdateSessionKeepsUserAndLimit", testSessionUpdate},
		{"UpdateGoneSessionIsNotFound", testSessionUpdateGone},
		{"SessionSameTokenConflicts", testSessionConflict},
		{"SessionRefusesInvalid", testSessionInvalid},
		{"DeleteSessionAndUserSessions", testSessionDelete},
		{"PurgeSessionsRemovesExpired", testSessionPurge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// RunSessionsShared checks that a session created on one node is used on
// another (open as for RunShared).
func RunSessionsShared(t *testing.T, open func(t *testing.T, enc store.Encryption) store.Store) {
	t.Run("SessionSeenOnEveryNode", func(t *testing.T) {
		enc := NewEncryption()
		a, b := open(t, enc), open(t, enc)
		ctx := ctxFor(t)
		s := newSession("0000000001")
		s.Pending = []byte("pending seed 20 byte")
		if err := a.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := b.GetSession(ctx, s.Token, base)
		if err != nil {
			t.Fatal(err)
		}
		if !sameSession(got, s) {
			t.Fatalf("node b read %+v, want %+v", got, s)
		}
		got.Verified = base.Add(time.Minute)
		if err := b.UpdateSession(ctx, got); err != nil {
			t.Fatal(err)
		}
		if again, err := a.GetSession(ctx, s.Token, base); err != nil || !again.Verified.Equal(got.Verified) {
			t.Fatalf("node a after b's update: %+v, %v", again, err)
		}
		if err := a.DeleteSession(ctx, s.Token); err != nil {
			t.Fatal(err)
		}
		if _, err := b.GetSession(ctx, s.Token, base); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("node b after a's sign-out: %v, want ErrNotFound", err)
		}
	})
}

// newSession is a session created at base, idle for 15 minutes, at most 8 hours.
func newSession(user string) store.Session {
	return store.Session{
		Token:       store.NewID() + store.NewID(),
		UserID:      user,
		CreatedAt:   base,
		LastSeen:    base,
		IdleExpires: base.Add(15 * time.Minute),
		Expires:     base.Add(8 * time.Hour),
		Lang:        "ja",
	}
}

func sameSession(a, b store.Session) bool {
	return a.Token == b.Token && a.UserID == b.UserID && a.CreatedAt.Equal(b.CreatedAt) && a.LastSeen.Equal(b.LastSeen) &&
		a.IdleExpires.Equal(b.IdleExpires) && a.Expires.Equal(b.Expires) && a.Verified.Equal(b.Verified) &&
		a.Lang == b.Lang && bytes.Equal(a.Pending, b.Pending)
}

func testSessionRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	plain := newSession("0000000001")
	full := newSession("0000000001")
	full.Verified = base.Add(time.Second)
	full.Pending = []byte{1, 2, 3, 0, 255}
	full.Lang = "en"
	for _, ss := range []store.Session{plain, full} {
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSession(ctx, ss.Token, base)
		if err != nil {
			t.Fatal(err)
		}
		if !sameSession(got, ss) {
			t.Errorf("read %+v, want %+v", got, ss)
		}
		if got.Pending != nil && len(ss.Pending) == 0 {
			t.Errorf("empty pending read as %v, want nil", got.Pending)
		}
	}
}

func testSessionExpiry(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	ss := newSession("0000000001")
	if err := s.CreateSession(ctx, ss); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what  string
		token string
		now   time.Time
	}{
		{"unknown token", store.NewID() + store.NewID(), base},
		{"at the idle expiry", ss.Token, ss.IdleExpires},
		{"after the idle expiry", ss.Token, ss.IdleExpires.Add(time.Second)},
	} {
		if _, err := s.GetSession(ctx, c.token, c.now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", c.what, err)
		}
	}
	// Activity moves the idle expiry, never past the absolute one.
	ss.IdleExpires = ss.Expires.Add(time.Hour)
	if err := s.UpdateSession(ctx, ss); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, ss.Token, ss.Expires.Add(-time.Microsecond)); err != nil {
		t.Errorf("before the absolute expiry: %v", err)
	}
	if _, err := s.GetSession(ctx, ss.Token, ss.Expires); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("at the absolute expiry: %v, want ErrNotFound", err)
	}
}

func testSessionUpdate(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	ss := newSession("0000000001")
	ss.Pending = []byte("seed")
	if err := s.CreateSession(ctx, ss); err != nil {
		t.Fatal(err)
	}
	later := base.Add(5 * time.Minute)
	upd := ss
	upd.UserID = "0000000002" // ignored
	upd.Expires = base.Add(99 * time.Hour)
	upd.CreatedAt = later
	upd.LastSeen, upd.IdleExpires, upd.Verified, upd.Lang, upd.Pending = later, later.Add(15*time.Minute), later, "en", nil
	if err := s.UpdateSession(ctx, upd); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSession(ctx, ss.Token, later)
	if err != nil {
		t.Fatal(err)
	}
	want := ss
	want.LastSeen, want.IdleExpires, want.Verified, want.Lang, want.Pending = later, later.Add(15*time.Minute), later, "en", nil
	if !sameSession(got, want) {
		t.Errorf("after update: %+v, want %+v", got, want)
	}
}

func testSessionUpdateGone(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	ss := newSession("0000000001")
	if err := s.UpdateSession(ctx, ss); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a session never created: %v, want ErrNotFound", err)
	}
}

func testSessionConflict(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	ss := newSession("0000000001")
	if err := s.CreateSession(ctx, ss); err != nil {
		t.Fatal(err)
	}
	other := ss
	other.UserID = "0000000002"
	if err := s.CreateSession(ctx, other); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second session with the same token: %v, want ErrConflict", err)
	}
	if got, err := s.GetSession(ctx, ss.Token, base); err != nil || got.UserID != ss.UserID {
		t.Errorf("the first session after the conflict: %+v, %v", got, err)
	}
}

func testSessionInvalid(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	for _, c := range []struct {
		what string
		edit func(*store.Session)
	}{
		{"short token", func(ss *store.Session) { ss.Token = "abc" }},
		{"no user", func(ss *store.Session) { ss.UserID = "" }},
		{"no expiry", func(ss *store.Session) { ss.Expires = time.Time{} }},
		{"no idle expiry", func(ss *store.Session) { ss.IdleExpires = time.Time{} }},
		{"language with NUL", func(ss *store.Session) { ss.Lang = "j\x00" }},
	} {
		ss := newSession("0000000001")
		c.edit(&ss)
		if err := s.CreateSession(ctx, ss); err == nil {
			t.Errorf("%s: created", c.what)
		}
	}
}

func testSessionDelete(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a1, a2, b := newSession("0000000001"), newSession("0000000001"), newSession("0000000002")
	for _, ss := range []store.Session{a1, a2, b} {
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSession(ctx, a1.Token); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, a1.Token); err != nil {
		t.Errorf("deleting a gone session: %v", err)
	}
	if _, err := s.GetSession(ctx, a1.Token, base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted session: %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, a2.Token, base); err != nil {
		t.Errorf("the user's other session: %v", err)
	}
	if err := s.DeleteUserSessions(ctx, "0000000001"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, a2.Token, base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after DeleteUserSessions: %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, b.Token, base); err != nil {
		t.Errorf("another user's session after DeleteUserSessions: %v", err)
	}
}

func testSessionPurge(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	idle, long, live := newSession("0000000001"), newSession("0000000001"), newSession("0000000001")
	idle.IdleExpires = base.Add(time.Minute)
	long.IdleExpires, long.Expires = base.Add(time.Hour), base.Add(2*time.Minute)
	live.IdleExpires = base.Add(time.Hour)
	for _, ss := range []store.Session{idle, long, live} {
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PurgeSessions(ctx, base.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Read at base, when all three were valid: only the purge removed them.
	for _, c := range []struct {
		what string
		ss   store.Session
		gone bool
	}{{"idle-expired", idle, true}, {"past its limit", long, true}, {"live", live, false}} {
		_, err := s.GetSession(ctx, c.ss.Token, base)
		if gone := errors.Is(err, store.ErrNotFound); gone != c.gone {
			t.Errorf("%s session after purge: %v, want gone=%v", c.what, err, c.gone)
		}
	}
}
