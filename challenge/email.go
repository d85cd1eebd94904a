package challenge

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"kakunin/store"
)

// A user's email (store.KindEmail) receives notifications of changes to
// the user's methods; it is never a way to sign in: usable leaves it out,
// so a user with only an email is told to enroll a method, and never let
// in on the password alone.

// ErrBadEmail is returned for an address that is not one plain address.
var ErrBadEmail = errors.New("not an email address")

// NormalizeEmail checks that s is one address (no display name, no
// group) of a reasonable length, and returns it with the domain in lower
// case.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || len(s) > 254 || strings.ContainsAny(s, "\r\n\x00") {
		return "", ErrBadEmail
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at:], ".") {
		return "", ErrBadEmail
	}
	return s[:at] + strings.ToLower(s[at:]), nil
}

// EmailAddress is the address an email method holds.
func EmailAddress(m store.Method) string {
	if m.Kind != store.KindEmail {
		return ""
	}
	return string(m.Secret)
}

// MaskEmail shows an address as pages and logs may: the first letter of
// the local part and the domain ("t•••@example.com").
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 1 {
		return "•••"
	}
	r := []rune(addr[:at])
	return string(r[0]) + "•••" + addr[at:]
}

// SetEmail records the user's notification email, replacing the one the
// user had (only one is kept). It returns the new method and the address
// it replaced ("" for none).
func (a *Admin) SetEmail(ctx context.Context, id, address, actor string) (store.Method, string, error) {
	if !a.user.MatchString(id) {
		return store.Method{}, "", ErrBadUser
	}
	addr, err := NormalizeEmail(address)
	if err != nil {
		return store.Method{}, "", err
	}
	ms, err := a.st.Methods(ctx, id)
	if err != nil {
		return store.Method{}, "", err
	}
	now := a.now()
	if err := a.ensureUser(ctx, id, now); err != nil {
		return store.Method{}, "", err
	}
	old := ""
	for _, m := range ms {
		if m.Kind == store.KindEmail {
			old = EmailAddress(m)
			if err := a.st.DeleteMethod(ctx, id, m.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return store.Method{}, "", err
			}
		}
	}
	// The address is kept in Secret, sealed at rest.
	m := store.Method{ID: store.NewID(), UserID: id, Kind: store.KindEmail, Secret: []byte(addr), CreatedAt: now}
	if err := a.st.AddMethod(ctx, m); err != nil {
		return store.Method{}, "", fmt.Errorf("add email: %w", err)
	}
	action, detail := "email_added", fmt.Sprintf("id=%s email=%s", m.ID, MaskEmail(addr))
	if old != "" {
		action, detail = "email_changed", fmt.Sprintf("id=%s email=%s old=%s", m.ID, MaskEmail(addr), MaskEmail(old))
	}
	return m, old, a.st.Audit(ctx, store.Event{At: now, UserID: id, Actor: actor, Action: action, Detail: detail})
}

// SendLimits are the limits on codes and calls sent to one user (the
// portal counts the codes it mails under them too).
func (e *Engine) SendLimits() store.SendLimits { return e.sendLimits() }
