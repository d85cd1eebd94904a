package challenge

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"kakunin/internal/username"
	"kakunin/ldapauth"
	"kakunin/store"
)

// Outcomes of the portal's checks. ErrBadCredentials is returned alike for
// an unknown user, a malformed ID and a wrong password, so the portal
// cannot tell anyone which IDs exist.
var (
	ErrBadCredentials = errors.New("the ID or password is incorrect")
	ErrLocked         = errors.New("too many failed attempts: paused")
	ErrNotAllowed     = errors.New("not a member of the required group")
	// ErrNameForm: the ID was typed in another form than the directory's
	// canonical one (upper case, full-width); nothing was checked.
	ErrNameForm = errors.New("type the ID in lower-case, half-width characters")
)

// CheckPassword checks a password typed into the enrollment portal. It
// goes through the same lockout as a RADIUS sign-in: the attempt is
// reserved before the bind, on every node, and a wrong password counts
// towards the user's pause. Directory and store failures are returned
// wrapped; the caller shows them as "unavailable".
func (e *Engine) CheckPassword(ctx context.Context, user, password string) (ldapauth.Entry, error) {
	if !e.user.MatchString(user) || password == "" {
		e.portalAudit(ctx, user, "signin", "reject", "bad_credentials")
		return ldapauth.Entry{}, ErrBadCredentials
	}
	if !username.IsCanonical(user) {
		// As over RADIUS: a variant of a name is never another key.
		e.portalAudit(ctx, user, "signin", "reject", "name_not_canonical")
		return ldapauth.Entry{}, ErrNameForm
	}
	now := e.now()
	entry, _, owed, err := e.tryPasswords(ctx, user, []candidate{{password: password}}, false, now)
	e.forgive(ctx, user, owed, now) // the portal writes no challenge to carry it
	switch {
	case errors.Is(err, errPaused):
		e.portalAudit(ctx, user, "signin", "reject", "locked")
		return ldapauth.Entry{}, ErrLocked
	case errors.Is(err, ldapauth.ErrInvalidCredentials):
		e.portalAudit(ctx, user, "signin", "reject", "bad_password")
		return ldapauth.Entry{}, ErrBadCredentials
	case errors.Is(err, ldapauth.ErrNotAllowed):
		e.portalAudit(ctx, user, "signin", "reject", "not_in_group")
		return ldapauth.Entry{}, ErrNotAllowed
	case err != nil:
		if !errors.Is(err, errReserve) && !errors.Is(err, errInFlight) {
			e.m.dirErrors.Inc()
		}
		e.portalAudit(ctx, user, "signin", "reject", "unavailable")
		return ldapauth.Entry{}, err
	}
	e.portalAudit(ctx, user, "signin", "accept", "password_ok")
	return entry, nil
}

// VerifyCode checks a code from any of the user's authenticator apps, as
// the second round of a RADIUS sign-in does: the code is good once on
// every node, and a wrong code counts towards the shared code lockout.
// It reports ErrLocked when the user is paused for wrong codes.
func (e *Engine) VerifyCode(ctx context.Context, user, code string) (bool, error) {
	code = strings.TrimSpace(code)
	if !isCode(code) {
		return false, nil // a typo guesses nothing
	}
	now := e.now()
	locked := false
	acct, fresh, err := e.st.Verify(ctx, user, now, e.accountQuery(now), func(a store.Account) store.Redemption {
		if e.codeLocked(a) {
			locked = true
			return store.Redemption{}
		}
		r := matchAny(a.Methods, code, now)
		r.Fail = true
		return r
	})
	switch {
	case err != nil:
		return false, err
	case locked:
		e.portalAudit(ctx, user, "verify_code", "reject", "locked")
		return false, ErrLocked
	case fresh:
		e.portalAudit(ctx, user, "verify_code", "accept", "ok")
		return true, nil
	}
	reason := "bad_code"
	if matchAny(acct.Methods, code, now).MethodID != "" {
		reason = "replayed_code"
	}
	// The failure was recorded by Verify; the count read there is one short.
	if err := e.failed(ctx, user, store.FailCode, acct.CodeFailures+1, now); err != nil {
		e.log.Warn("audit lockout", "err", err)
	}
	e.portalAudit(ctx, user, "verify_code", "reject", reason)
	return false, nil
}

// MatchNewTOTP checks a code from an app being set up (its seed not yet
// stored) and returns the time step it matched, to be marked used once
// the method is saved. A wrong code here is a typo, not a guess against an
// enrolled factor, so it is not counted.
func (e *Engine) MatchNewTOTP(seed []byte, code string) (step int64, ok bool) {
	return matchTOTP(seed, strings.TrimSpace(code), e.now())
}

// portalAudit writes one audit record of a portal check, with the keys of
// the RADIUS decisions' records.
func (e *Engine) portalAudit(ctx context.Context, user, action, outcome, reason string) {
	e.audit.LogAttrs(ctx, slog.LevelInfo, "portal",
		slog.String("user", auditUser(user, e.user)),
		slog.String("client", "portal"),
		slog.String("action", action),
		slog.String("outcome", outcome),
		slog.String("reason", reason),
	)
}
