package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// Open opens the store the configuration names, creating or upgrading its
// schema, and returns it ready for use. Defaults are applied to cfg first.
// The returned store also implements Rekeyer.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("store: configuration: %w", err)
	}
	kr, err := newKeyring(cfg.Encryption)
	if err != nil {
		return nil, fmt.Errorf("store: configuration: %w", err)
	}
	log = log.With("driver", cfg.Driver)
	switch cfg.Driver {
	case DriverPostgres:
		return openPostgres(ctx, cfg, kr, log)
	default:
		return openSQLite(ctx, cfg, kr, log)
	}
}

// NewID returns a new random method ID: at least 128 bits of randomness as
// URL-safe text (RFC 4648 base32).
func NewID() string { return rand.Text() }

// Limits on identifiers, checked before any query so that both drivers
// refuse the same inputs.
const (
	maxUserIDLen   = 256
	maxMethodIDLen = 64
	// A challenge's kind is the flow's word ("totp", "sms", "menu"); the
	// store keeps it as given.
	maxChallengeKindLen = 64
)

var errInvalid = errors.New("invalid")

// checkUserID accepts any non-empty UTF-8 text without NUL (PostgreSQL
// cannot store NUL in text).
func checkUserID(id string) error {
	if id == "" || len(id) > maxUserIDLen || !utf8.ValidString(id) || containsNUL(id) {
		return fmt.Errorf("store: user id %q: %w (want 1 to %d bytes of UTF-8 text)", truncate(id), errInvalid, maxUserIDLen)
	}
	return nil
}

// checkMethodID accepts the alphabet of NewID and of base64url, and
// nothing else: a '/' would make the associated data ambiguous.
func checkMethodID(id string) error {
	if id == "" || len(id) > maxMethodIDLen {
		return fmt.Errorf("store: method id %q: %w (want 1 to %d letters, digits, '-' or '_'; see NewID)", truncate(id), errInvalid, maxMethodIDLen)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return fmt.Errorf("store: method id %q: %w (want 1 to %d letters, digits, '-' or '_'; see NewID)", truncate(id), errInvalid, maxMethodIDLen)
		}
	}
	return nil
}

// checkText accepts what both databases store alike in a text column.
func checkText(what, s string) error {
	if !utf8.ValidString(s) || containsNUL(s) {
		return fmt.Errorf("store: %s: %w (not UTF-8 text)", what, errInvalid)
	}
	return nil
}

func checkMethod(m *Method) error {
	if err := checkUserID(m.UserID); err != nil {
		return err
	}
	if err := checkMethodID(m.ID); err != nil {
		return err
	}
	if !m.Kind.Valid() {
		return fmt.Errorf("store: method %s: kind %q: %w", m.ID, truncate(string(m.Kind)), errInvalid)
	}
	if err := checkText("method label", m.Label); err != nil {
		return err
	}
	return nil
}

func checkChallenge(c *Challenge) error {
	if c.State == "" || len(c.State) > 256 || checkText("", c.State) != nil {
		return fmt.Errorf("store: challenge state: %w (want 1 to 256 bytes of text)", errInvalid)
	}
	if err := checkUserID(c.UserID); err != nil {
		return err
	}
	if c.ExpiresAt.IsZero() {
		return fmt.Errorf("store: challenge for user %q: %w: no expiry", c.UserID, errInvalid)
	}
	if err := checkText("challenge client", c.Client); err != nil {
		return err
	}
	if err := checkText("challenge method id", c.MethodID); err != nil {
		return err
	}
	if len(c.Kind) > maxChallengeKindLen || checkText("", c.Kind) != nil {
		return fmt.Errorf("store: challenge for user %q: kind %q: %w (want up to %d bytes of text)", c.UserID, truncate(c.Kind), errInvalid, maxChallengeKindLen)
	}
	for _, o := range c.Options {
		if err := checkText("challenge option", o); err != nil {
			return err
		}
	}
	for _, g := range c.Groups {
		if err := checkText("challenge group", g); err != nil {
			return err
		}
	}
	return nil
}

func checkEvent(e *Event) error {
	if err := checkUserID(e.UserID); err != nil {
		return err
	}
	for _, f := range []struct{ what, s string }{{"event actor", e.Actor}, {"event action", e.Action}, {"event detail", e.Detail}} {
		if err := checkText(f.what, f.s); err != nil {
			return err
		}
	}
	if e.Action == "" {
		return fmt.Errorf("store: event for user %q: %w: no action", e.UserID, errInvalid)
	}
	return nil
}

func checkFailureKind(k FailureKind) error {
	if k == "" || len(k) > 64 || checkText("", string(k)) != nil {
		return fmt.Errorf("store: failure kind %q: %w", truncate(string(k)), errInvalid)
	}
	return nil
}

func containsNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

// truncate shortens an invalid identifier quoted in an error.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// orNow returns t, or the current time when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
