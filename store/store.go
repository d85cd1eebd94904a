package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors the flow acts on.
var (
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when a unique constraint would be broken
	// (e.g. a second method of a kind that allows only one).
	ErrConflict = errors.New("store: conflict")
	// ErrDecrypt is returned when a stored secret cannot be decrypted: it
	// was written under a key that is no longer configured, with other key
	// material under the same id, or the row was tampered with or copied
	// from another row. The error says which method and key id.
	ErrDecrypt = errors.New("store: cannot decrypt")
)

// MethodKind is the kind of a second-factor method.
type MethodKind string

const (
	KindTOTP           MethodKind = "totp"
	KindPush           MethodKind = "push"
	KindPhone          MethodKind = "phone"           // SMS or voice
	KindAlternatePhone MethodKind = "alternate_phone" // voice only
	KindOfficePhone    MethodKind = "office_phone"    // voice only, with extension
	// KindEmail is an address for notifications of changes, never a way
	// to sign in; a user has at most one. The address is kept in Secret,
	// which is sealed at rest (Phone holds only E.164 numbers).
	KindEmail MethodKind = "email"
)

// Valid reports whether k is a known kind.
func (k MethodKind) Valid() bool {
	switch k {
	case KindTOTP, KindPush, KindPhone, KindAlternatePhone, KindOfficePhone, KindEmail:
		return true
	}
	return false
}

// User is a person known to kakunin (the directory stays the source of
// truth for passwords and groups).
type User struct {
	ID            string
	MFAApplied    bool
	DefaultMethod string // method ID, empty for none
	// OutOfBandLocked is when a fraud report locked the user's push and
	// phone methods (zero: not locked). PutUser leaves it as it is; see
	// SetOutOfBandLock.
	OutOfBandLocked time.Time
	// Language the user chose ("ja", "en"; "" for the configured
	// default), for calls and notifications. PutUser leaves it as it is;
	// see SetLanguage.
	Language  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Method is one enrolled second factor. Secret and Phone are plaintext in
// memory and encrypted at rest.
type Method struct {
	ID        string // random, assigned by the caller (NewID) before AddMethod
	UserID    string
	Kind      MethodKind
	Label     string
	Secret    []byte // TOTP seed (raw bytes), push registration, …
	Phone     string // E.164
	Extension string // office phone only
	CreatedAt time.Time
	LastUsed  time.Time // zero when never used
	LastStep  int64     // last TOTP time step accepted, 0 for none
}

// Challenge is a pending Access-Challenge. State is its single-use handle.
type Challenge struct {
	State    string
	UserID   string
	Client   string
	MethodID string // empty when the user has not chosen yet
	// Kind is what the challenge waits for: "totp" (a code from an app),
	// "sms" (the code sent in Secret), "menu" (a choice among Options).
	// The store keeps it as given; a challenge stored by a kakunin older
	// than this field reads as "totp".
	Kind string
	// Secret is what the answer is checked against (the SMS code); it is
	// encrypted at rest like a method's secret, bound to State, so taking
	// a challenge whose secret was altered or copied from another one
	// fails with ErrDecrypt (and spends it all the same). Nil when empty.
	Secret []byte
	// Options are the method IDs a menu offered, in the order shown
	// (option 1 first).
	Options   []string
	Attempts  int // wrong codes already given in this challenge chain
	Groups    []string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// SendLimits caps out-of-band messages (SMS codes, calls): at most one to a
// method per PerMethod, and PerUser to one user per PerUserWindow. Windows
// end at the send being reserved and include it: (now-PerMethod, now].
// A zero PerMethod or PerUserWindow checks nothing; a PerUser of zero (with
// a window) allows no send at all.
type SendLimits struct {
	PerMethod     time.Duration
	PerUser       int
	PerUserWindow time.Duration
}

// Reservation is ReserveAttempt's answer.
type Reservation int

const (
	// Reserved: the attempt is recorded as pending; make it.
	Reserved Reservation = iota
	// Paused: the user's failures reach the limit; refuse the attempt.
	Paused
	// Busy: with the attempts in flight the limit is reached, by
	// failures it is not; ask again once one has settled.
	Busy
)

func (r Reservation) String() string {
	switch r {
	case Reserved:
		return "reserved"
	case Paused:
		return "paused"
	case Busy:
		return "busy"
	}
	return "invalid"
}

// StaleAttempt is how long an attempt may stay pending: one still pending
// after it counts as a failure (the node that made it died before the
// directory answered), so a crash never leaves a user unpausable or
// blocked. It is far longer than any bind.
const StaleAttempt = 2 * time.Minute

// FailureKind names a failure counter.
type FailureKind string

const (
	FailPassword FailureKind = "password"
	FailCode     FailureKind = "code"
)

// Event is an audit event kept in the store (enrollment changes, help-desk
// actions, lockouts). Detail never holds a secret.
type Event struct {
	ID     int64
	At     time.Time
	UserID string
	Actor  string // "radius", "cli:<os user>", "portal"
	Action string // "method_added", "method_deleted", "reset", "unlock", "locked", …
	Detail string
}

// AccountQuery says which failure windows Account counts.
type AccountQuery struct {
	PasswordSince time.Time // password failures at or after this
	CodeSince     time.Time // code failures at or after this (the short window)
	CodeDaySince  time.Time // code failures at or after this (the day)
}

// Account is a user's methods and recent failures, read together on the
// login path.
type Account struct {
	Methods       []Method
	DefaultMethod string // the user's default method ID, empty for none
	// OutOfBandLocked: a fraud was reported; push and phone methods are
	// not offered until the help desk unlocks them.
	OutOfBandLocked  bool
	Language         string // as User.Language
	PasswordFailures int
	CodeFailures     int
	CodeFailuresDay  int
}

// Redemption is decide's answer in Redeem and Verify: the method whose
// TOTP time step the code matched (empty for none), and whether the answer
// was a guess to count: with Fail, a code failure is recorded in the same
// transaction unless the named step turns out fresh.
//
// A user's decisions and failure records are serialised (the single writer
// on SQLite, a per-user advisory lock on PostgreSQL), so parallel
// challenges cannot each read the failure count before the others' wrong
// codes are recorded.
type Redemption struct {
	MethodID string
	Step     int64
	Fail     bool
}

// Store is everything kakunin keeps. Implementations must be safe for
// concurrent use by many goroutines and by several processes sharing one
// database.
type Store interface {
	Approvals
	Sessions

	// GetUser returns ErrNotFound for an unknown user.
	GetUser(ctx context.Context, id string) (User, error)
	// SetLanguage records the language the user chose, creating the user
	// if needed.
	SetLanguage(ctx context.Context, userID, lang string, now time.Time) error
	// PutUser creates or updates a user. It keeps CreatedAt of an existing
	// user. A DefaultMethod that is not one of the user's methods gives
	// ErrNotFound.
	PutUser(ctx context.Context, u User) error

	// Methods returns the user's methods (secrets decrypted), oldest first.
	// An unknown user has none.
	Methods(ctx context.Context, userID string) ([]Method, error)
	// Account reads what one login needs to know of a user in one round
	// trip: the methods (as Methods) and the failure counts since the
	// times in q. An unknown user has no methods and no failures.
	Account(ctx context.Context, userID string, q AccountQuery) (Account, error)
	// AddMethod stores a method, creating the user if needed.
	AddMethod(ctx context.Context, m Method) error
	// DeleteMethod returns ErrNotFound when the user has no such method.
	// Deleting the default method clears the user's default.
	DeleteMethod(ctx context.Context, userID, methodID string) error
	// UseTOTPStep atomically records step as used for the method when it is
	// later than the last used step, and sets LastUsed to now. It reports
	// false when the step (or a later one) was already used, on any node.
	UseTOTPStep(ctx context.Context, methodID string, step int64, now time.Time) (bool, error)

	// CreateChallenge stores a pending challenge.
	CreateChallenge(ctx context.Context, c Challenge) error
	// IssueChallenge is round one's writes after a good password in one
	// transaction: it stores c (as CreateChallenge) and forgives the
	// forgive password attempts of c.UserID reserved at forgiveAt (as
	// ForgiveAttempt, that many times). One commit instead of two.
	IssueChallenge(ctx context.Context, c Challenge, forgiveAt time.Time, forgive int) error
	// TakeChallenge removes and returns the challenge with this state;
	// ErrNotFound when there is none or it expired (now is at or after
	// ExpiresAt). A state can be taken once, across all nodes.
	TakeChallenge(ctx context.Context, state string, now time.Time) (Challenge, error)

	// Redeem is the second round of a login in one transaction: it takes
	// the challenge with this state (as TakeChallenge), reads the account
	// of the user it was issued to (as Account) and asks decide which
	// method's TOTP step to use; when decide names one, the step is used
	// (as UseTOTPStep) before the transaction commits. fresh reports
	// whether it was. The challenge is gone afterwards whatever decide
	// says; ErrNotFound when there is none or it expired.
	Redeem(ctx context.Context, state string, now time.Time, q AccountQuery, decide func(Challenge, Account) Redemption) (c Challenge, a Account, fresh bool, err error)

	// ReserveSend records that a message is about to be sent to a user's
	// method at now, unless that would break the limits: then it records
	// nothing and reports false. Check and record are one atomic step on
	// every node, so two nodes cannot both send. Sends are kept until
	// Purge (older than before) or Reset; ClearFailures leaves them.
	ReserveSend(ctx context.Context, userID, methodID string, now time.Time, l SendLimits) (bool, error)

	// Verify is Redeem without a challenge (a code typed after the
	// password): it reads the user's account, asks decide, and uses the
	// step and records the failure it names, in one serialised
	// transaction.
	Verify(ctx context.Context, userID string, now time.Time, q AccountQuery, decide func(Account) Redemption) (a Account, fresh bool, err error)

	// ReserveAttempt records a pending attempt of a kind for the user at
	// now before the attempt is made (a password bind), unless the user's
	// failures at or after since, with the attempts still pending, reach
	// limit: then it records nothing and answers Paused when the failures
	// alone reach it, Busy when attempts in flight do (ask again once one
	// has settled). Check and record are one step on every node, so
	// parallel attempts cannot outrun the limit, and only failures pause
	// a user: attempts that succeed never do. An attempt pending for
	// longer than StaleAttempt (its node died before the directory
	// answered) counts as a failure. Settle the attempt with
	// ForgiveAttempt or SettleFailure.
	ReserveAttempt(ctx context.Context, userID string, kind FailureKind, now, since time.Time, limit int) (Reservation, error)
	// Login is the first round's store work in one transaction: it reads
	// the user's account (counts as before this attempt) and reserves a
	// password attempt as ReserveAttempt does, with q.PasswordSince as the
	// window's start.
	Login(ctx context.Context, userID string, now time.Time, q AccountQuery, limit int) (a Account, r Reservation, err error)
	// ForgiveAttempt removes one pending attempt of a kind reserved at
	// exactly at: it succeeded, or was never made.
	ForgiveAttempt(ctx context.Context, userID string, kind FailureKind, at time.Time) error
	// SettleFailure turns one pending attempt of a kind reserved at
	// exactly at into a failure and returns the user's failures of that
	// kind at or after since, this one included. Settlements of one user
	// are serialised on every node, so of parallel failures exactly one
	// sees the count reach a given limit.
	SettleFailure(ctx context.Context, userID string, kind FailureKind, at, since time.Time) (int, error)

	// RecordFailure counts one failure of a kind for a user at a time.
	RecordFailure(ctx context.Context, userID string, kind FailureKind, at time.Time) error
	// CountFailures counts the user's failures of a kind at or after since,
	// attempts still pending included.
	CountFailures(ctx context.Context, userID string, kind FailureKind, since time.Time) (int, error)
	// ClearFailures removes all the user's failures (help-desk unlock). It
	// leaves the user's sends: unlocking an account does not lift the cap
	// on SMS codes and calls, which protects the phone bill, not the user.
	ClearFailures(ctx context.Context, userID string) error

	// Reset deletes the user's methods, challenges, failures and sends and
	// the default method, keeping MFAApplied (help desk: lost phone).
	Reset(ctx context.Context, userID string) error

	// Audit appends an event; Events lists a user's newest first, at most
	// limit of them (all when limit <= 0).
	Audit(ctx context.Context, e Event) error
	Events(ctx context.Context, userID string, limit int) ([]Event, error)

	// Purge deletes expired challenges (ExpiresAt at or before now), and
	// failures and sends older than before, which the caller keeps
	// earlier than the start of any window it counts.
	Purge(ctx context.Context, now, before time.Time) error

	// Ping checks the store is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// Rekeyer is implemented by the stores Open returns. Rekey re-encrypts
// every method stored under a key other than encryption.current, so a
// retired key can then be removed from the configuration. It is safe to run
// while other nodes serve requests, and to run again after an interruption;
// it returns how many methods it re-encrypted. Pending challenges are left
// as they are: they expire within minutes, so remove a retired key only
// once no node has sealed a challenge with it for longer than that.
type Rekeyer interface {
	Rekey(ctx context.Context) (int, error)
}

// accountSQL reads a user's methods and failure counts in one statement,
// in both dialects: one row per method, or a single row of counts with
// NULL method columns for a user without methods.
const accountSQL = `SELECT f.password, f.code, f.code_day,
	u.default_method, u.out_of_band_locked, u.language,
	m.id, m.kind, m.label, m.secret_ct, m.phone_ct, m.extension_ct, m.key_id, m.created_at, m.last_used, m.last_step
FROM (SELECT
		count(*) FILTER (WHERE kind = 'password' AND at >= $2) AS password,
		count(*) FILTER (WHERE kind = 'code' AND at >= $3) AS code,
		count(*) FILTER (WHERE kind = 'code' AND at >= $4) AS code_day
	FROM failures WHERE user_id = $1) AS f
LEFT JOIN users AS u ON u.id = $1
LEFT JOIN methods AS m ON m.user_id = $1
ORDER BY m.created_at, m.id`
