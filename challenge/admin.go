package challenge

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"kakunin/store"
)

// Admin is what the help desk does to a user's enrollment: show it, add an
// authenticator app, delete a method, reset a user who lost a phone, clear a
// lockout. Every change leaves an audit event naming the actor.
type Admin struct {
	st     store.Store
	issuer string
	user   *regexp.Regexp
	now    func() time.Time
}

// NewAdmin returns the help-desk operations on st.
func NewAdmin(cfg Config, st store.Store) (*Admin, error) {
	re, err := regexp.Compile(cfg.UserPattern)
	if err != nil {
		return nil, err
	}
	return &Admin{st: st, issuer: cfg.Issuer, user: re, now: time.Now}, nil
}

// ErrBadUser is returned for an ID that does not match the user pattern.
var ErrBadUser = errors.New("not a valid user ID")

// Status is one user's enrollment as the help desk sees it.
type Status struct {
	User             store.User
	Known            bool
	Methods          []store.Method
	PasswordFailures int // in the last 24 h
	CodeFailures     int // in the last 24 h
	Events           []store.Event
}

// Show returns the user's enrollment, recent failures and audit events.
func (a *Admin) Show(ctx context.Context, id string) (Status, error) {
	if !a.user.MatchString(id) {
		return Status{}, ErrBadUser
	}
	var s Status
	u, err := a.st.GetUser(ctx, id)
	switch {
	case err == nil:
		s.User, s.Known = u, true
	case errors.Is(err, store.ErrNotFound):
		s.User = store.User{ID: id}
	default:
		return s, err
	}
	if s.Methods, err = a.st.Methods(ctx, id); err != nil {
		return s, err
	}
	day := a.now().Add(-24 * time.Hour)
	if s.PasswordFailures, err = a.st.CountFailures(ctx, id, store.FailPassword, day); err != nil {
		return s, err
	}
	if s.CodeFailures, err = a.st.CountFailures(ctx, id, store.FailCode, day); err != nil {
		return s, err
	}
	s.Events, err = a.st.Events(ctx, id, 20)
	return s, err
}

// AddTOTP enrolls an authenticator app. With a nil seed a new one is
// generated. It returns the method and the otpauth:// URI to show the user.
func (a *Admin) AddTOTP(ctx context.Context, id, label string, seed []byte, actor string) (store.Method, string, error) {
	if !a.user.MatchString(id) {
		return store.Method{}, "", ErrBadUser
	}
	var uri string
	var err error
	if seed == nil {
		seed, uri, err = NewTOTPKey(a.issuer, id)
	} else {
		uri, err = TOTPURI(a.issuer, id, seed)
	}
	if err != nil {
		return store.Method{}, "", err
	}
	if label == "" {
		label = "Authenticator app"
	}
	now := a.now()
	m := store.Method{ID: store.NewID(), UserID: id, Kind: store.KindTOTP, Label: label, Secret: seed, CreatedAt: now}
	if err := a.ensureUser(ctx, id, now); err != nil {
		return store.Method{}, "", err
	}
	if err := a.st.AddMethod(ctx, m); err != nil {
		return store.Method{}, "", fmt.Errorf("add method: %w", err)
	}
	// The first method becomes the default.
	if u, err := a.st.GetUser(ctx, id); err == nil && u.DefaultMethod == "" {
		u.DefaultMethod = m.ID
		u.UpdatedAt = now
		if err := a.st.PutUser(ctx, u); err != nil {
			return store.Method{}, "", err
		}
	}
	return m, uri, a.st.Audit(ctx, store.Event{At: now, UserID: id, Actor: actor, Action: "method_added",
		Detail: fmt.Sprintf("kind=totp id=%s label=%q", m.ID, label)})
}

func (a *Admin) ensureUser(ctx context.Context, id string, now time.Time) error {
	_, err := a.st.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return a.st.PutUser(ctx, store.User{ID: id, MFAApplied: true, CreatedAt: now, UpdatedAt: now})
	}
	return err
}

// DeleteMethod removes one method.
func (a *Admin) DeleteMethod(ctx context.Context, id, methodID, actor string) error {
	if !a.user.MatchString(id) {
		return ErrBadUser
	}
	if err := a.st.DeleteMethod(ctx, id, methodID); err != nil {
		return err
	}
	return a.st.Audit(ctx, store.Event{At: a.now(), UserID: id, Actor: actor, Action: "method_deleted", Detail: "id=" + methodID})
}

// Reset deletes every method, pending challenge and failure of the user (a
// lost phone). MFA stays applied: the next sign-in asks for a new method.
func (a *Admin) Reset(ctx context.Context, id, actor string) error {
	if !a.user.MatchString(id) {
		return ErrBadUser
	}
	if err := a.st.Reset(ctx, id); err != nil {
		return err
	}
	return a.st.Audit(ctx, store.Event{At: a.now(), UserID: id, Actor: actor, Action: "reset"})
}

// Unlock clears the user's failure counters.
func (a *Admin) Unlock(ctx context.Context, id, actor string) error {
	if !a.user.MatchString(id) {
		return ErrBadUser
	}
	if err := a.st.ClearFailures(ctx, id); err != nil {
		return err
	}
	return a.st.Audit(ctx, store.Event{At: a.now(), UserID: id, Actor: actor, Action: "unlock"})
}
