package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"kakunin/internal/username"
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

// AdminOption changes an Admin at construction.
type AdminOption func(*Admin)

// AdminClock makes the help-desk operations read time from now: the
// failure windows Show counts, the times of audit events and methods.
// Give it the clock the engine has (WithClock), so both agree on what
// "the last 15 minutes" means.
func AdminClock(now func() time.Time) AdminOption { return func(a *Admin) { a.now = now } }

// NewAdmin returns the help-desk operations on st.
func NewAdmin(cfg Config, st store.Store, opts ...AdminOption) (*Admin, error) {
	re, err := regexp.Compile(cfg.UserPattern)
	if err != nil {
		return nil, err
	}
	a := &Admin{st: st, issuer: cfg.Issuer, user: re, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// ErrBadUser is returned for an ID that does not match the user pattern
// or is not in canonical form (username.IsCanonical): the store knows
// every user by the one form.
var ErrBadUser = errors.New("not a valid user ID")

// valid: an ID a sign-in could have, so one the store may hold.
func (a *Admin) valid(id string) bool { return a.user.MatchString(id) && username.IsCanonical(id) }

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
	if !a.valid(id) {
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
	if !a.valid(id) {
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
	if err := a.defaultIfFirst(ctx, id, m.ID, now); err != nil {
		return store.Method{}, "", err
	}
	return m, uri, a.st.Audit(ctx, store.Event{At: now, UserID: id, Actor: actor, Action: "method_added",
		Detail: fmt.Sprintf("kind=totp id=%s label=%q", m.ID, label)})
}

// AddPhone enrolls a phone: kind phone (SMS and calls), alternate_phone or
// office_phone (calls only; office phones may have an extension). The
// number is normalized to E.164. A user has at most one of each kind.
func (a *Admin) AddPhone(ctx context.Context, id string, kind store.MethodKind, number, extension, label, actor string) (store.Method, error) {
	if !a.valid(id) {
		return store.Method{}, ErrBadUser
	}
	switch kind {
	case store.KindPhone, store.KindAlternatePhone:
		if extension != "" {
			return store.Method{}, errors.New("only an office phone has an extension")
		}
	case store.KindOfficePhone:
		for _, r := range extension {
			if r < '0' || r > '9' {
				return store.Method{}, errors.New("an extension is digits only")
			}
		}
	default:
		return store.Method{}, fmt.Errorf("%q is not a phone kind (phone, alternate_phone, office_phone)", kind)
	}
	e164, err := NormalizePhone(number)
	if err != nil {
		return store.Method{}, err
	}
	now := a.now()
	m := store.Method{ID: store.NewID(), UserID: id, Kind: kind, Label: label, Phone: e164, Extension: extension, CreatedAt: now}
	if err := a.ensureUser(ctx, id, now); err != nil {
		return store.Method{}, err
	}
	if err := a.st.AddMethod(ctx, m); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Method{}, fmt.Errorf("%s already has a %s; delete it first: %w", id, kind, err)
		}
		return store.Method{}, fmt.Errorf("add method: %w", err)
	}
	if err := a.defaultIfFirst(ctx, id, m.ID, now); err != nil {
		return store.Method{}, err
	}
	return m, a.st.Audit(ctx, store.Event{At: now, UserID: id, Actor: actor, Action: "method_added",
		Detail: fmt.Sprintf("kind=%s id=%s phone=%s", kind, m.ID, MaskPhone(e164))})
}

// SetDefault makes one of the user's methods the default.
func (a *Admin) SetDefault(ctx context.Context, id, methodID, actor string) error {
	if !a.valid(id) {
		return ErrBadUser
	}
	u, err := a.st.GetUser(ctx, id)
	if err != nil {
		return err
	}
	u.DefaultMethod, u.UpdatedAt = methodID, a.now()
	if err := a.st.PutUser(ctx, u); err != nil {
		return err
	}
	return a.st.Audit(ctx, store.Event{At: u.UpdatedAt, UserID: id, Actor: actor, Action: "default_changed", Detail: "id=" + methodID})
}

// defaultIfFirst makes methodID the default when the user has none.
func (a *Admin) defaultIfFirst(ctx context.Context, id, methodID string, now time.Time) error {
	u, err := a.st.GetUser(ctx, id)
	if err != nil || u.DefaultMethod != "" {
		return err
	}
	u.DefaultMethod, u.UpdatedAt = methodID, now
	return a.st.PutUser(ctx, u)
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
	if !a.valid(id) {
		return ErrBadUser
	}
	if err := a.st.DeleteMethod(ctx, id, methodID); err != nil {
		return err
	}
	return a.st.Audit(ctx, store.Event{At: a.now(), UserID: id, Actor: actor, Action: "method_deleted", Detail: "id=" + methodID})
}

// Reset deletes every method, pending challenge, failure and portal session
// of the user (a lost phone). MFA stays applied: the next sign-in asks for
// a new method.
func (a *Admin) Reset(ctx context.Context, id, actor string) error {
	if !a.valid(id) {
		return ErrBadUser
	}
	if err := a.st.Reset(ctx, id); err != nil {
		return err
	}
	// Whoever is signed in to the portal as the user (perhaps the one who
	// took the phone) is signed out.
	if err := a.st.DeleteUserSessions(ctx, id); err != nil {
		return err
	}
	return a.st.Audit(ctx, store.Event{At: a.now(), UserID: id, Actor: actor, Action: "reset"})
}

// Unlock clears the user's failure counters and the lock a fraud report
// put on the user's push and phone methods.
func (a *Admin) Unlock(ctx context.Context, id, actor string) error {
	if !a.valid(id) {
		return ErrBadUser
	}
	if err := a.st.ClearFailures(ctx, id); err != nil {
		return err
	}
	if err := a.st.SetOutOfBandLock(ctx, id, false, a.now()); err != nil {
		return err
	}
	return a.st.Audit(ctx, store.Event{At: a.now(), UserID: id, Actor: actor, Action: "unlock"})
}

// AddPush enrolls a phone that approves sign-ins by push notification
// through reg's channel (webpush, webhook or console).
func (a *Admin) AddPush(ctx context.Context, id, label string, reg PushRegistration, actor string) (store.Method, error) {
	if !a.valid(id) {
		return store.Method{}, ErrBadUser
	}
	switch {
	case reg.Channel == "webhook" && reg.Device == "":
		return store.Method{}, errors.New("a webhook push registration needs a device token")
	case reg.Channel == "webpush" && len(reg.Subscription) == 0:
		return store.Method{}, errors.New("a webpush registration needs the browser's subscription")
	case reg.Channel != "webhook" && reg.Channel != "webpush" && reg.Channel != "console":
		return store.Method{}, fmt.Errorf("push channel %q is not webpush, webhook or console", reg.Channel)
	}
	secret, err := json.Marshal(reg)
	if err != nil {
		return store.Method{}, err
	}
	if label == "" {
		label = "Phone"
	}
	now := a.now()
	m := store.Method{ID: store.NewID(), UserID: id, Kind: store.KindPush, Label: label, Secret: secret, CreatedAt: now}
	if err := a.ensureUser(ctx, id, now); err != nil {
		return store.Method{}, err
	}
	if err := a.st.AddMethod(ctx, m); err != nil {
		return store.Method{}, fmt.Errorf("add method: %w", err)
	}
	if err := a.defaultIfFirst(ctx, id, m.ID, now); err != nil {
		return store.Method{}, err
	}
	return m, a.st.Audit(ctx, store.Event{At: now, UserID: id, Actor: actor, Action: "method_added",
		Detail: fmt.Sprintf("kind=push id=%s channel=%s label=%q", m.ID, reg.Channel, label)})
}

// SetLanguage records the language the user chose ("ja" or "en"), which
// calls and notifications then use.
func (a *Admin) SetLanguage(ctx context.Context, id, lang, actor string) error {
	if !a.valid(id) {
		return ErrBadUser
	}
	if _, ok := builtin[lang]; !ok {
		return fmt.Errorf("language %q is not ja or en", lang)
	}
	return a.st.SetLanguage(ctx, id, lang, a.now())
}
