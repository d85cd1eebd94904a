package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Session is a signed-in session of the enrollment portal. The browser
// holds Token in a cookie; the store keeps only its SHA-256, so a copy of
// the database does not let anyone take over a session.
type Session struct {
	Token  string // 256 random bits as text; never stored
	UserID string
	// CreatedAt is the sign-in; LastSeen the last request.
	CreatedAt time.Time
	LastSeen  time.Time
	// IdleExpires moves forward with each request; Expires (the absolute
	// limit) never does. The session is gone at whichever comes first.
	IdleExpires time.Time
	Expires     time.Time
	// Verified is when a second factor was last verified in this session
	// (sign-in or step-up); zero when never.
	Verified time.Time
	Lang     string // "ja", "en"; empty for the default
	// Pending is the seed of an authenticator app being set up, not yet
	// confirmed with a code. It is encrypted at rest like a method's
	// secret, bound to the session. Nil when none.
	Pending []byte
}

// Sessions keeps portal sessions where every node sees them.
type Sessions interface {
	// CreateSession stores a new session; ErrConflict when the token is
	// already in use.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session of a token; ErrNotFound when there is
	// none or it expired (now at or after IdleExpires or Expires).
	GetSession(ctx context.Context, token string, now time.Time) (Session, error)
	// UpdateSession writes LastSeen, IdleExpires, Verified, Lang and
	// Pending of the session with s.Token (the user, creation and absolute
	// expiry never change); ErrNotFound when it is gone.
	UpdateSession(ctx context.Context, s Session) error
	// DeleteSession removes a session (sign-out); no error when it is gone.
	DeleteSession(ctx context.Context, token string) error
	// DeleteUserSessions removes every session of a user.
	DeleteUserSessions(ctx context.Context, userID string) error
	// PurgeSessions deletes the sessions that expired at or before now.
	PurgeSessions(ctx context.Context, now time.Time) error
}

// tokenHash is the stored key of a session token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// sessionAD binds a session's sealed pending seed to its row.
func sessionAD(hash []byte) []byte {
	return []byte("kakunin/v1/session/" + hex.EncodeToString(hash) + "/pending")
}

func (kr *keyring) sealSession(hash, pending []byte) (ct []byte, keyID string) {
	return kr.aeads[kr.current].Seal(nil, nil, pending, sessionAD(hash)), kr.current
}

func (kr *keyring) openSession(userID string, hash []byte, keyID string, ct []byte) ([]byte, error) {
	aead, ok := kr.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: a portal session of user %q was sealed with key %q, which is not in encryption.keys", ErrDecrypt, userID, keyID)
	}
	pt, err := aead.Open(nil, nil, ct, sessionAD(hash))
	if err != nil {
		return nil, fmt.Errorf("%w: a portal session of user %q does not authenticate under key %q", ErrDecrypt, userID, keyID)
	}
	if len(pt) == 0 {
		pt = nil
	}
	return pt, nil
}

// minSessionToken is the shortest token accepted: 128 bits of base32 text
// at least (the portal uses 256).
const minSessionToken = 26

func checkSession(s *Session) error {
	if len(s.Token) < minSessionToken || len(s.Token) > 256 {
		return fmt.Errorf("store: session token: %w (want %d to 256 bytes)", errInvalid, minSessionToken)
	}
	if err := checkUserID(s.UserID); err != nil {
		return err
	}
	if s.Expires.IsZero() || s.IdleExpires.IsZero() {
		return fmt.Errorf("store: session of user %q: %w: no expiry", s.UserID, errInvalid)
	}
	if len(s.Lang) > 16 || checkText("session language", s.Lang) != nil {
		return fmt.Errorf("store: session of user %q: language: %w", s.UserID, errInvalid)
	}
	return nil
}
