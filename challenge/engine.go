package challenge

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kakunin/internal/username"
	"kakunin/ldapauth"
	"kakunin/store"
)

// Directory checks a password against the university directory.
type Directory interface {
	Authenticate(ctx context.Context, user, password string) (ldapauth.Entry, error)
}

// Engine decides Access-Requests: password first, then a second factor.
// It keeps no state of its own between rounds: everything a second node
// needs to answer round two lives in the store.
type Engine struct {
	cfg  Config
	user *regexp.Regexp
	msgs messages
	dir  Directory
	st   store.Store
	sms  SMSSender // nil: no SMS codes
	// Push and voice approvals: pushers by channel name, the caller, and
	// the signed callback URLs both need.
	pushers   map[string]Pusher
	caller    Caller
	callbacks Callbacks
	watch     *watcher
	boot      string // this run of this node
	log       *slog.Logger
	audit     *slog.Logger
	m         *metrics
	now       func() time.Time
}

// Option changes an Engine at construction.
type Option func(*Engine)

// WithClock makes the engine read time from now (tests).
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithSMS lets users with a phone receive codes by SMS through s.
func WithSMS(s SMSSender) Option { return func(e *Engine) { e.sms = s } }

// WithPush lets users with push methods registered on channel approve
// sign-ins through p ("webpush", "webhook", "console").
func WithPush(channel string, p Pusher) Option {
	return func(e *Engine) {
		if e.pushers == nil {
			e.pushers = map[string]Pusher{}
		}
		e.pushers[channel] = p
	}
}

// WithCaller lets users approve sign-ins by a call to a phone.
func WithCaller(c Caller) Option { return func(e *Engine) { e.caller = c } }

// WithCallbacks sets the signed URLs push and voice providers call back
// on; push and voice need it.
func WithCallbacks(c Callbacks) Option { return func(e *Engine) { e.callbacks = c } }

// WithAuditLogger sends the one-line-per-decision audit records to l
// (default: the engine's logger).
func WithAuditLogger(l *slog.Logger) Option { return func(e *Engine) { e.audit = l } }

// New returns an engine. cfg must have been defaulted and validated.
func New(cfg Config, dir Directory, st store.Store, log *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Engine, error) {
	re, err := regexp.Compile(cfg.UserPattern)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:  cfg,
		user: re,
		msgs: messages{langs: cfg.Languages, overrides: cfg.Messages, enrollURL: cfg.EnrollURL},
		dir:  dir,
		st:   st,
		log:  log,
		m:    newMetrics(reg),
		now:  time.Now,
	}
	for _, o := range opts {
		o(e)
	}
	if e.audit == nil {
		e.audit = log
	}
	if (len(e.pushers) > 0 || e.caller != nil) && e.callbacks == nil {
		return nil, errors.New("push and voice approvals need callbacks (WithCallbacks)")
	}
	e.watch = newWatcher()
	e.boot = rand.Text()[:10]
	return e, nil
}

// Authenticate decides one Access-Request and writes its audit record.
func (e *Engine) Authenticate(ctx context.Context, req *Request) Decision {
	// The flow keeps a little state of its own in the request (owed
	// attempts): on its own copy, never the caller's.
	own := *req
	req = &own
	start, began := e.now(), time.Now()
	var d Decision
	if len(req.State) > 0 {
		d = e.secondRound(ctx, req, start)
	} else {
		d = e.firstRound(ctx, req, start)
	}
	if d.Outcome == Hold {
		wait := d.Wait
		d.Wait = func(ctx context.Context) Decision {
			d := wait(ctx)
			e.record(ctx, req, d, began, true)
			return d
		}
		if req.Hold == nil {
			// A caller that cannot hold requests (tests, tools) waits here.
			return d.Wait(ctx)
		}
		return d
	}
	e.record(ctx, req, d, began, false)
	return d
}

// record counts a final decision and writes its audit record. The time a
// held request waited for the user is measured apart: it says how fast
// people answer their phones, not how fast kakunin decides.
func (e *Engine) record(ctx context.Context, req *Request, d Decision, began time.Time, held bool) {
	if d.Method == "" {
		d.Method = "none"
	}
	dur := time.Since(began)
	e.m.decisions.WithLabelValues(d.Outcome.String(), d.Reason).Inc()
	if held {
		e.m.approvalWait.WithLabelValues(d.Method, d.Outcome.String()).Observe(dur.Seconds())
	} else {
		e.m.duration.WithLabelValues(d.Outcome.String()).Observe(dur.Seconds())
	}
	e.audit.LogAttrs(ctx, slog.LevelInfo, "decision",
		slog.String("user", auditUser(req.UserName, e.user)),
		slog.String("client", req.Client),
		slog.String("method", d.Method),
		slog.String("outcome", d.Outcome.String()),
		slog.String("reason", d.Reason),
		slog.Int64("duration_ms", dur.Milliseconds()),
		slog.String("calling_station_id", req.CallingStationID),
		slog.String("nas_identifier", req.NASIdentifier),
	)
}

// auditUser keeps the audit log free of whatever an attacker typed as a user
// name (it may be a password typed into the wrong field).
func auditUser(name string, re *regexp.Regexp) string {
	if re.MatchString(name) {
		return name
	}
	return "(invalid)"
}

func (e *Engine) firstRound(ctx context.Context, req *Request, now time.Time) Decision {
	if !e.user.MatchString(req.UserName) {
		return e.reject(msgBadCredentials, "bad_username")
	}
	if !username.IsCanonical(req.UserName) {
		// "ALICE" or full-width digits would find alice's directory
		// entry, but be another key for the store, the lockouts and the
		// audit log: refused before any directory or store work.
		return e.reject(msgNameForm, "name_not_canonical")
	}
	if req.Password == "" {
		return e.reject(msgBadCredentials, "empty_password")
	}
	// One store transaction before the bind reads the methods and the
	// failure counts and reserves this password attempt: a paused user
	// costs the directory nothing, and parallel guesses cannot outrun the
	// pause on any node.
	var acct store.Account
	res, err := e.reserve(ctx, func() (store.Reservation, error) {
		t := time.Now()
		var r store.Reservation
		var err error
		acct, r, err = e.st.Login(ctx, req.UserName, now, e.accountQuery(now), e.cfg.PasswordLockout.Failures)
		e.m.storeDuration.WithLabelValues("login").Observe(time.Since(t).Seconds())
		return r, err
	})
	if err == nil {
		err = reservationErr(res)
	}
	if err == nil && e.codeLocked(acct) {
		e.forgive(ctx, req.UserName, 1, now)
		err = errPaused
	}
	var (
		entry  ldapauth.Entry
		suffix string
	)
	if err == nil {
		// The attempts of a good password are forgiven in the
		// transaction that stores the challenge (issue), or here on any
		// other way out.
		defer e.payOwed(ctx, req)
		entry, suffix, req.owed, err = e.tryPasswords(ctx, req.UserName, candidates(req), true, now)
		req.owedAt = now
	}
	switch {
	case errors.Is(err, errPaused):
		return e.reject(msgLocked, "locked")
	case errors.Is(err, errInFlight):
		return e.unavailable(req, "attempts_in_flight", err)
	case errors.Is(err, errReserve):
		return e.unavailable(req, "store_error", err)
	case errors.Is(err, ldapauth.ErrInvalidCredentials):
		return e.reject(msgBadCredentials, "bad_password")
	case errors.Is(err, ldapauth.ErrNotAllowed):
		return e.reject(msgNotAllowed, "not_in_group")
	case err != nil:
		e.m.dirErrors.Inc()
		return e.unavailable(req, "directory_error", err)
	}

	opts := e.usable(acct)
	if heldBefore(opts) {
		// A copy of this request may be held already, here or on another
		// node (the gateway failed over): wait for that approval instead
		// of sending a second push or call.
		if d, ok := e.attach(ctx, req, identityKey(req), now); ok {
			return d
		}
	}
	if len(opts) == 0 {
		if len(acct.Methods) > 0 {
			// Enrolled, but only with methods this server cannot use
			// (yet): never fall back to the password alone.
			return e.reject(msgNoUsableMethod, "no_usable_method")
		}
		if req.Policy.MFAOptional {
			e.log.Info("accepting on password alone: no method enrolled and the client's mfa policy is optional",
				"user", req.UserName, "client", req.Client)
			return Decision{Outcome: Accept, Groups: entry.Groups, Reason: "password_only"}
		}
		return e.reject(msgNoMethod, "no_method")
	}
	c := store.Challenge{UserID: req.UserName, Client: nasKey(req), Groups: entry.Groups}
	if suffix != "" {
		return e.suffixed(ctx, req, c, acct, opts, suffix, now)
	}
	if len(opts) == 1 || req.Policy.DefaultMethodOnly {
		return e.start(ctx, req, c, opts[0], opts, nil, now)
	}
	return e.menu(ctx, req, c, opts, nil, now)
}

var (
	errPaused   = errors.New("user paused: too many failed passwords")
	errReserve  = errors.New("cannot reserve a password attempt")
	errInFlight = errors.New("the user's other sign-ins did not finish in time")
)

// Waiting for attempts in flight: a bind takes milliseconds, so a slot
// frees soon; the wait ends well before a gateway's RADIUS timeout.
const (
	inFlightFirstWait = 2 * time.Millisecond
	inFlightMaxWait   = 50 * time.Millisecond
	inFlightPatience  = 3 * time.Second
)

// reserve runs try until it reserves an attempt or the user is paused.
// While the user's other attempts in flight reach the limit (store.Busy),
// it waits for one of them to finish: only failures may pause a user, so
// a burst of good sign-ins waits its turn instead of being told
// "locked", and parallel guesses still cannot outrun the limit. It gives
// up (Busy) after inFlightPatience of real time or when ctx ends.
func (e *Engine) reserve(ctx context.Context, try func() (store.Reservation, error)) (store.Reservation, error) {
	wait, deadline := inFlightFirstWait, time.Now().Add(inFlightPatience)
	for {
		r, err := try()
		if err != nil || r != store.Busy {
			return r, err
		}
		if time.Now().Add(wait).After(deadline) {
			return store.Busy, nil
		}
		select {
		case <-ctx.Done():
			return store.Busy, nil
		case <-time.After(wait):
		}
		wait = min(2*wait, inFlightMaxWait)
	}
}

// candidate is one password to bind, and the suffix it leaves.
type candidate struct{ password, suffix string }

// candidates are the passwords a sign-in may mean. With the
// password-suffix mode and a password that ends in ",CODE", ",sms",
// ",push" or ",call", the part before the last comma comes first and the
// whole string second (for passwords that hold such a comma themselves):
// a good "password,CODE" costs one bind, never a failed one at the
// directory.
func candidates(req *Request) []candidate {
	if req.Policy.PasswordSuffix {
		if base, sfx, ok := splitSuffix(req.Password); ok {
			return []candidate{{base, sfx}, {password: req.Password}}
		}
	}
	return []candidate{{password: req.Password}}
}

// tryPasswords binds the candidates in turn until one is right, each with
// an attempt reserved at now (the first one's by the caller when
// firstReserved, as Login does). When a bind succeeds it returns the
// entry, the candidate's suffix and how many attempts the sign-in owes
// forgiveness (none of them was a guess to count); the caller forgives
// them. When the directory cannot tell, they are forgiven here; when every
// bind fails, each counts as a failure (each was a wrong password at the
// directory).
func (e *Engine) tryPasswords(ctx context.Context, user string, cands []candidate, firstReserved bool, now time.Time) (entry ldapauth.Entry, suffix string, owed int, err error) {
	reserved := 0 // attempts of this sign-in, all reserved at now
	for i, c := range cands {
		if i > 0 || !firstReserved {
			if err = e.reserveAttempt(ctx, user, now); err != nil {
				break
			}
		}
		reserved++
		entry, err = e.checkPassword(ctx, user, c.password)
		switch {
		case err == nil:
			return entry, c.suffix, reserved, nil
		case !errors.Is(err, ldapauth.ErrInvalidCredentials):
			e.forgive(ctx, user, reserved, now)
			return entry, "", 0, err
		}
	}
	e.settle(ctx, user, reserved, now)
	return ldapauth.Entry{}, "", 0, err
}

// reserveAttempt reserves one more password attempt for user (a second
// bind of one sign-in, or the portal's sign-in).
func (e *Engine) reserveAttempt(ctx context.Context, user string, now time.Time) error {
	r, err := e.reserve(ctx, func() (store.Reservation, error) {
		t := time.Now()
		r, err := e.st.ReserveAttempt(ctx, user, store.FailPassword, now,
			now.Add(-e.cfg.PasswordLockout.Window), e.cfg.PasswordLockout.Failures)
		e.m.storeDuration.WithLabelValues("reserve_attempt").Observe(time.Since(t).Seconds())
		return r, err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", errReserve, err)
	}
	return reservationErr(r)
}

// reservationErr is what a reservation that was not made means for the
// sign-in: nil, errPaused or errInFlight.
func reservationErr(r store.Reservation) error {
	switch r {
	case store.Paused:
		return errPaused
	case store.Busy:
		return errInFlight
	}
	return nil
}

// settle turns n attempts of a sign-in that failed into failures; the one
// that reaches the limit pauses the user, which the audit trail and the
// metrics say once, however many guesses ran in parallel.
func (e *Engine) settle(ctx context.Context, user string, n int, now time.Time) {
	for range n {
		count, err := e.st.SettleFailure(ctx, user, store.FailPassword, now, now.Add(-e.cfg.PasswordLockout.Window))
		if err != nil {
			// The attempt stays pending: it counts as a failure once
			// stale, so the lockout still holds.
			e.log.Warn("settle password failure", "user", user, "err", err)
			continue
		}
		if err := e.failed(ctx, user, store.FailPassword, count, now); err != nil {
			e.log.Warn("audit lockout", "err", err)
		}
	}
}

// payOwed forgives the attempts of a good password that no challenge
// carried away.
func (e *Engine) payOwed(ctx context.Context, req *Request) {
	e.forgive(ctx, req.UserName, req.owed, req.owedAt)
	req.owed = 0
}

// forgive removes n attempts of user reserved at now for one sign-in.
func (e *Engine) forgive(ctx context.Context, user string, n int, now time.Time) {
	for range n {
		if err := e.st.ForgiveAttempt(ctx, user, store.FailPassword, now); err != nil {
			e.log.Warn("forgive password attempt", "user", user, "err", err)
		}
	}
}

// checkPassword asks the directory, timing it.
func (e *Engine) checkPassword(ctx context.Context, user, password string) (ldapauth.Entry, error) {
	t := time.Now()
	entry, err := e.dir.Authenticate(ctx, user, password)
	e.m.dirDuration.Observe(time.Since(t).Seconds())
	return entry, err
}

// issue stores a new pending challenge and sends its prompt. c carries
// everything but its State; an unset expiry means the flow's challenge_ttl.
func (e *Engine) issue(ctx context.Context, req *Request, c store.Challenge, msgs []string, reason string, now time.Time) Decision {
	if c.State == "" {
		state, err := newState()
		if err != nil {
			return e.unavailable(req, "random_error", err)
		}
		c.State = state
	}
	c.CreatedAt = now
	if c.ExpiresAt.IsZero() {
		c.ExpiresAt = now.Add(e.cfg.ChallengeTTL)
	}
	t := time.Now()
	// Round one's last write forgives the good password's attempts in
	// the same commit.
	err := e.st.IssueChallenge(ctx, c, req.owedAt, req.owed)
	e.m.storeDuration.WithLabelValues("create_challenge").Observe(time.Since(t).Seconds())
	if err == nil {
		req.owed = 0
	}
	if err != nil {
		return e.unavailable(req, "store_error", err)
	}
	return Decision{Outcome: Challenge, Messages: msgs, State: []byte(c.State), Reason: reason, Method: methodName(c.Kind)}
}

func (e *Engine) secondRound(ctx context.Context, req *Request, now time.Time) Decision {
	answer := strings.TrimSpace(req.Password)
	var (
		locked, mismatch, codeOK bool
		chosen                   *option
		reason                   = "bad_code"
	)
	t := time.Now()
	// One store transaction: take the challenge, read the user's methods
	// and failure counts, and use the matched TOTP time step.
	if isSuffixState(string(req.State)) {
		// Never issued to a NAS: the password-suffix mode's own key.
		return e.reject(msgExpired, "unknown_state")
	}
	c, acct, fresh, err := e.st.Redeem(ctx, string(req.State), now, e.accountQuery(now),
		func(c store.Challenge, a store.Account) store.Redemption {
			// A State is bound to the user and the NAS it was issued to:
			// a State replayed from another gateway or for another user
			// is worthless (and now spent).
			if c.UserID != req.UserName || c.Client != nasKey(req) {
				mismatch = true
				return store.Redemption{}
			}
			if e.codeLocked(a) {
				locked = true
				return store.Redemption{}
			}
			switch c.Kind {
			case kindPush:
				return store.Redemption{} // the answer is only Enter
			case kindSMS:
				codeOK = len(c.Secret) > 0 && subtle.ConstantTimeCompare(c.Secret, []byte(answer)) == 1
				return store.Redemption{Fail: !codeOK}
			case kindMenu:
				if m := choice(answer, c.Options, e.usable(a)); m != nil {
					chosen = m
					return store.Redemption{}
				}
				if !isCode(answer) {
					return store.Redemption{} // a mistyped choice guesses nothing
				}
			}
			// A TOTP challenge, or a 6-digit code typed at the menu. A
			// wrong code is recorded in the same transaction, so parallel
			// challenges cannot outrun the lockout.
			r := matchAny(a.Methods, answer, now)
			r.Fail = true
			return r
		})
	e.m.storeDuration.WithLabelValues("redeem").Observe(time.Since(t).Seconds())
	switch {
	case errors.Is(err, store.ErrNotFound):
		// A retransmit of a held request that reached this node after the
		// gateway failed over: its State names the approval.
		if d, ok := e.attach(ctx, req, stateKey(string(req.State)), now); ok {
			return d
		}
		return e.reject(msgExpired, "unknown_state")
	case err != nil:
		return e.unavailable(req, "store_error", err)
	case mismatch:
		return e.reject(msgExpired, "state_mismatch")
	case locked:
		return e.reject(msgLocked, "locked")
	case c.Kind == kindPush:
		return e.resumePush(ctx, req, c, now)
	case fresh:
		return Decision{Outcome: Accept, Groups: c.Groups, Reason: "ok", Method: "totp"}
	case codeOK:
		return Decision{Outcome: Accept, Groups: c.Groups, Reason: "ok", Method: "sms"}
	case chosen != nil:
		next := store.Challenge{UserID: c.UserID, Client: c.Client, Groups: c.Groups, Attempts: c.Attempts}
		return e.start(ctx, req, next, *chosen, e.usable(acct), nil, now)
	}
	if c.Kind != kindSMS && matchAny(acct.Methods, answer, now).MethodID != "" {
		// The code was right but already used (or older than the last
		// used one): a replay, counted like a wrong code.
		reason = "replayed_code"
	}
	if c.Kind == kindMenu && !isCode(answer) {
		reason = "bad_choice"
	}

	// A mistyped menu choice guesses nothing: it uses up an attempt of
	// this challenge but is not a code failure. A wrong code was recorded
	// by Redeem; the counts read there are one short.
	if reason != "bad_choice" {
		acct.CodeFailures++
		acct.CodeFailuresDay++
		if err := e.failed(ctx, c.UserID, store.FailCode, acct.CodeFailures, now); err != nil {
			e.log.Warn("audit lockout", "err", err)
		}
	}
	c.Attempts++
	if c.Attempts >= e.cfg.AttemptsPerChallenge {
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgCodeFailed), Reason: reason, Method: methodName(c.Kind)}
	}
	if e.codeLocked(acct) {
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgLocked), Reason: "locked", Method: methodName(c.Kind)}
	}
	// Ask again in a new challenge of the same kind; an SMS code stays the
	// one sent, valid until its own expiry.
	again := store.Challenge{UserID: c.UserID, Client: c.Client, MethodID: c.MethodID, Kind: c.Kind,
		Secret: c.Secret, Options: c.Options, Attempts: c.Attempts, Groups: c.Groups}
	if c.Kind == kindSMS {
		again.ExpiresAt = c.ExpiresAt
	}
	if c.Kind == kindMenu {
		return e.issue(ctx, req, again, e.menuMessages(msgBadChoice, again.Options, e.usable(acct)), reason, now)
	}
	if c.Kind == kindSMS {
		phone := ""
		for _, m := range acct.Methods {
			if m.ID == c.MethodID {
				phone = MaskPhone(m.Phone)
			}
		}
		return e.issue(ctx, req, again, e.msgs.renderWith(msgWrongSMSCode, map[string]string{"phone": phone}), reason, now)
	}
	return e.issue(ctx, req, again, e.msgs.render(msgWrongCode), reason, now)
}

// accountQuery counts failures in the lockout windows that end at now.
func (e *Engine) accountQuery(now time.Time) store.AccountQuery {
	return store.AccountQuery{
		PasswordSince: now.Add(-e.cfg.PasswordLockout.Window),
		CodeSince:     now.Add(-e.cfg.CodeLockout.Window),
		CodeDaySince:  now.Add(-24 * time.Hour),
	}
}

// codeLocked: too many wrong codes in the window or in the day.
func (e *Engine) codeLocked(a store.Account) bool {
	return a.CodeFailures >= e.cfg.CodeLockout.Failures || a.CodeFailuresDay >= e.cfg.CodeLockout.DailyFailures
}

// failed notes a user's n-th failure of a kind in its window (already
// recorded): reaching the limit pauses the user, which the store's audit
// trail and the metrics say.
func (e *Engine) failed(ctx context.Context, user string, kind store.FailureKind, n int, now time.Time) error {
	limit, window := e.cfg.PasswordLockout.Failures, e.cfg.PasswordLockout.Window
	if kind == store.FailCode {
		limit, window = e.cfg.CodeLockout.Failures, e.cfg.CodeLockout.Window
	}
	if n != limit {
		return nil
	}
	e.m.lockouts.WithLabelValues(string(kind)).Inc()
	e.log.Warn("user paused after repeated failures", "user", user, "kind", string(kind), "failures", n, "window", window.String())
	return e.st.Audit(ctx, store.Event{At: now, UserID: user, Actor: "radius", Action: "locked",
		Detail: string(kind) + " failures reached the limit"})
}

func (e *Engine) reject(msg, reason string) Decision {
	return Decision{Outcome: Reject, Messages: e.msgs.render(msg), Reason: reason}
}

// unavailable never accepts: the client's policy chooses between a reject
// that says so and silence, so the NAS fails over to another server.
func (e *Engine) unavailable(req *Request, reason string, err error) Decision {
	e.log.Error("cannot decide", "reason", reason, "client", req.Client, "err", err)
	if req.Policy.DropWhenUnavailable {
		return Decision{Outcome: Drop, Reason: reason}
	}
	return e.reject(msgUnavailable, reason)
}

// nasKey names the NAS a challenge is bound to: the client entry and the
// packet's source address, so a State issued to one gateway of a client
// that covers a whole range cannot be answered from another.
func nasKey(req *Request) string { return req.Client + "@" + req.ClientAddr.String() }

// newState is 160 random bits as printable base32 text: gateways such as
// ocserv cut a State at its first zero byte.
func newState() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b), nil
}

// Maintain deletes expired challenges and failures older than the longest
// lockout window, every interval, until ctx ends.
func (e *Engine) Maintain(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := e.now()
			keep := max(24*time.Hour, e.cfg.PasswordLockout.Window, e.cfg.CodeLockout.Window)
			if err := e.st.Purge(ctx, now, now.Add(-keep)); err != nil && ctx.Err() == nil {
				e.log.Warn("purge expired state", "err", err)
			}
		}
	}
}
