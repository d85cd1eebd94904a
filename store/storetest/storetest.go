// Package storetest is the conformance suite every store.Store
// implementation must pass. A driver's test calls Run with a function that
// opens a fresh, empty store, and RunShared with one that opens further
// stores on one database, as a second node would.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kakunin/internal/secret"
	"kakunin/store"
)

// NewKey returns a random encryption key with this id.
func NewKey(id string) store.EncryptionKey {
	b := make([]byte, store.KeySize)
	rand.Read(b)
	return store.EncryptionKey{ID: id, Key: secret.New(base64.StdEncoding.EncodeToString(b))}
}

// NewEncryption returns random keys with these ids (default one, "k1"),
// the first current.
func NewEncryption(ids ...string) store.Encryption {
	if len(ids) == 0 {
		ids = []string{"k1"}
	}
	enc := store.Encryption{Current: ids[0]}
	for _, id := range ids {
		enc.Keys = append(enc.Keys, NewKey(id))
	}
	return enc
}

// base is a fixed instant with microsecond precision (what both databases
// keep), so times compare exactly after a round trip.
var base = time.Date(2031, 3, 14, 15, 9, 26, 535897000, time.UTC)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Racers is how many goroutines race for one single-use thing.
const Racers = 32

// Run runs the behaviours of a single store. open returns a new, empty
// store and closes it when the test ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetUnknownUserIsNotFound", testGetUnknownUser},
		{"PutUserCreatesThenUpdates", testPutUserUpsert},
		{"PutUserDefaultMustBeOwnMethod", testPutUserDefaultMustBeOwnMethod},
		{"MethodsRoundTripDecrypted", testMethodsRoundTrip},
		{"AddMethodCreatesUser", testAddMethodCreatesUser},
		{"AddMethodSameIDConflicts", testAddMethodSameID},
		{"OnePhoneOfEachKind", testOnePhoneOfEachKind},
		{"OneEmail", testOneEmail},
		{"AddMethodRefusesInvalid", testAddMethodInvalid},
		{"DeleteDefaultMethodClearsDefault", testDeleteDefaultMethod},
		{"DeleteMethodUnknownIsNotFound", testDeleteMethodUnknown},
		{"UseTOTPStepOnlyForward", testUseTOTPStep},
		{"UseTOTPStepUnknownMethodIsNotFound", testUseTOTPStepUnknown},
		{"UseTOTPStepRaceHasOneWinner", testUseTOTPStepRace},
		{"ChallengeRoundTripTakenOnce", testChallengeRoundTrip},
		{"CreateChallengeRefusesInvalid", testCreateChallengeInvalid},
		{"TakeChallengeRaceHasOneWinner", testTakeChallengeRace},
		{"RedeemTakesReadsAndUsesStepOnce", testRedeem},
		{"RedeemRaceHasOneWinner", testRedeemRace},
		{"RedeemRecordsFailureOnlyIfStepNotFresh", testRedeemFailUnlessFresh},
		{"InterruptedRedeemChangesNothing", testInterruptedRedeem},
		{"ParallelGuessesStopAtTheLimit", testGuessesSerialised},
		{"ReserveAttemptStopsAtTheLimit", testReserveAttempt},
		{"OnlyFailuresPause", testOnlyFailuresPause},
		{"IssueChallengeForgivesInOneTransaction", testIssueChallenge},
		{"SettleFailureReachesLimitOnce", testSettleFailureReachesLimitOnce},
		{"ReserveAttemptOfOwnKindIsApartFromLogins", testReserveAttemptOwnKind},
		{"LoginReadsAndReservesAtTheLimit", testLogin},
		{"RedeemReturnsKindSecretAndOptions", testRedeemChallengeFields},
		{"ExpiredChallengeIsNotFound", testExpiredChallenge},
		{"CreateChallengeSameStateConflicts", testCreateChallengeSameState},
		{"FailuresCountedInWindowAndCleared", testFailures},
		{"ReserveSendOncePerMethodInterval", testReserveSendPerMethod},
		{"ReserveSendCapsUserAcrossMethods", testReserveSendPerUser},
		{"ReserveSendZeroLimits", testReserveSendZeroLimits},
		{"ReserveSendRefusesInvalid", testReserveSendInvalid},
		{"ReserveSendRaceAllowsOnlyTheLimit", testReserveSendRace},
		{"ClearFailuresKeepsSends", testClearFailuresKeepsSends},
		{"AccountReadsMethodsAndFailuresTogether", testAccount},
		{"ResetKeepsMFAApplied", testReset},
		{"ResetUnknownUserIsNoError", testResetUnknown},
		{"EventsNewestFirstWithLimit", testEvents},
		{"PurgeRemovesExpiredAndOld", testPurge},
		{"PurgeRemovesOldSends", testPurgeSends},
		{"Ping", testPing},
		{"ApprovalRoundTripAndFind", testApprovalRoundTrip},
		{"ApprovalRefusesInvalid", testApprovalRefusesInvalid},
		{"ApprovalCapPerUserAndKind", testApprovalCap},
		{"ApprovalDecidedOnce", testApprovalDecidedOnce},
		{"DecidedApprovalsSince", testDecidedApprovalsSince},
		{"FailApprovalsOfEarlierBoot", testFailApprovalsOfEarlierBoot},
		{"OutOfBandLock", testOutOfBandLock},
		{"UserLanguage", testUserLanguage},
		{"PurgeRemovesOldApprovals", testPurgeApprovals},
		{"CancelledContextFails", testCancelledContext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func testGetUnknownUser(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	for _, id := range []string{"nobody", "", "bad\x00id", "\xff"} {
		if _, err := s.GetUser(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUser(%q) = %v, want ErrNotFound", id, err)
		}
	}
	ms, err := s.Methods(ctx, "nobody")
	if err != nil || len(ms) != 0 {
		t.Errorf("Methods(unknown) = %v, %v; want none", ms, err)
	}
}

func testPutUserUpsert(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	u := store.User{ID: "alice", MFAApplied: true, CreatedAt: base, UpdatedAt: base}
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "alice" || !got.MFAApplied || got.DefaultMethod != "" || !got.CreatedAt.Equal(base) || !got.UpdatedAt.Equal(base) {
		t.Fatalf("after create: %+v", got)
	}

	later := base.Add(time.Hour)
	if err := s.PutUser(ctx, store.User{ID: "alice", MFAApplied: false, CreatedAt: later, UpdatedAt: later}); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.MFAApplied || !got.CreatedAt.Equal(base) || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after update: %+v; want MFAApplied false, CreatedAt kept %v, UpdatedAt %v", got, base, later)
	}

	// Zero times are filled in.
	if err := s.PutUser(ctx, store.User{ID: "bob"}); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Errorf("zero times not filled in: %+v", got)
	}
	if err := s.PutUser(ctx, store.User{}); err == nil {
		t.Error("PutUser with an empty id succeeded")
	}
}

func testPutUserDefaultMustBeOwnMethod(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := totp("alice", base)
	b := totp("bob", base)
	mustAdd(t, s, a, b)
	if err := s.PutUser(ctx, store.User{ID: "alice", DefaultMethod: a.ID}); err != nil {
		t.Fatalf("own method as default: %v", err)
	}
	for _, def := range []string{b.ID, store.NewID()} {
		if err := s.PutUser(ctx, store.User{ID: "alice", DefaultMethod: def}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutUser with default %s not alice's = %v, want ErrNotFound", def, err)
		}
	}
	if err := s.PutUser(ctx, store.User{ID: "carol", DefaultMethod: a.ID}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("new user with another's method as default = %v, want ErrNotFound", err)
	}
	if _, err := s.GetUser(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused PutUser created the user: %v", err)
	}
	got, err := s.GetUser(ctx, "alice")
	if err != nil || got.DefaultMethod != a.ID {
		t.Errorf("alice = %+v, %v; want default %s kept", got, err, a.ID)
	}
}

func testMethodsRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	seed := []byte{0, 1, 2, 0xff, 'A', 0, 0x80}
	want := []store.Method{
		{ID: store.NewID(), UserID: "alice", Kind: store.KindTOTP, Label: "Phone app ✓", Secret: seed, CreatedAt: base},
		{ID: store.NewID(), UserID: "alice", Kind: store.KindPhone, Label: "mobile", Phone: "+81312345678", CreatedAt: base.Add(time.Second)},
		{ID: store.NewID(), UserID: "alice", Kind: store.KindOfficePhone, Phone: "+81355550100", Extension: "4711",
			CreatedAt: base.Add(2 * time.Second), LastUsed: base.Add(3 * time.Second), LastStep: 42},
		{ID: store.NewID(), UserID: "alice", Kind: store.KindPush, Label: "tablet", Secret: []byte(`{"token":"x"}`), CreatedAt: base.Add(3 * time.Second)},
	}
	// Added out of order: Methods sorts oldest first.
	mustAdd(t, s, want[2], want[0], want[3], want[1])
	mustAdd(t, s, totp("bob", base))
	got, err := s.Methods(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Methods = %d methods, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameMethod(got[i], want[i]) {
			t.Errorf("method %d:\n got %s\nwant %s", i, describe(got[i]), describe(want[i]))
		}
	}
}

func testAddMethodCreatesUser(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustAdd(t, s, totp("alice", base))
	u, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatalf("user not created by AddMethod: %v", err)
	}
	if u.MFAApplied || u.DefaultMethod != "" {
		t.Errorf("created user = %+v, want MFAApplied false and no default", u)
	}
	// An existing user is left as it is.
	if err := s.PutUser(ctx, store.User{ID: "bob", MFAApplied: true, CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s, totp("bob", base.Add(time.Hour)))
	u, err = s.GetUser(ctx, "bob")
	if err != nil || !u.MFAApplied || !u.CreatedAt.Equal(base) {
		t.Errorf("existing user after AddMethod = %+v, %v", u, err)
	}
}

func testAddMethodSameID(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	m := totp("alice", base)
	mustAdd(t, s, m)
	other := totp("bob", base)
	other.ID = m.ID
	for _, dup := range []store.Method{m, other} {
		if err := s.AddMethod(ctx, dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("AddMethod with an existing id (user %s) = %v, want ErrConflict", dup.UserID, err)
		}
	}
	if _, err := s.GetUser(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused AddMethod created its user: %v", err)
	}
}

func testOnePhoneOfEachKind(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	for _, k := range []store.MethodKind{store.KindPhone, store.KindAlternatePhone, store.KindOfficePhone} {
		first := phone("alice", k, "+4930123456", base)
		mustAdd(t, s, first)
		second := phone("alice", k, "+4930654321", base.Add(time.Minute))
		if err := s.AddMethod(ctx, second); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second %s method = %v, want ErrConflict", k, err)
		}
		// Another user may have one.
		mustAdd(t, s, phone("bob", k, "+4930123456", base))
		// After deleting the first, a new one may be added.
		if err := s.DeleteMethod(ctx, "alice", first.ID); err != nil {
			t.Fatal(err)
		}
		mustAdd(t, s, second)
	}
	for _, k := range []store.MethodKind{store.KindTOTP, store.KindPush} {
		a, b := totp("alice", base), totp("alice", base.Add(time.Second))
		a.Kind, b.Kind = k, k
		mustAdd(t, s, a, b)
	}
	ms, err := s.Methods(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 7 {
		t.Errorf("alice has %d methods, want 7 (one per phone kind, two totp, two push)", len(ms))
	}
}

// An email (notifications only) keeps its address sealed in Secret; a
// user has at most one, and other methods do not count against it.
func testOneEmail(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	email := func(user, addr string, at time.Time) store.Method {
		return store.Method{ID: store.NewID(), UserID: user, Kind: store.KindEmail, Secret: []byte(addr), CreatedAt: at}
	}
	first := email("alice", "alice@example.com", base)
	mustAdd(t, s, totp("alice", base), first, phone("alice", store.KindPhone, "+4930123456", base))
	if err := s.AddMethod(ctx, email("alice", "alice@example.org", base.Add(time.Minute))); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second email = %v, want ErrConflict", err)
	}
	mustAdd(t, s, email("bob", "alice@example.com", base))
	ms, err := s.Methods(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m store.Method) bool { return m.Kind == store.KindEmail })
	if i < 0 || !sameMethod(ms[i], first) {
		t.Errorf("alice's methods = %v, want the email %s", ms, describe(first))
	}
	if err := s.DeleteMethod(ctx, "alice", first.ID); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s, email("alice", "alice@example.org", base.Add(time.Hour)))
}

func testAddMethodInvalid(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	for name, mod := range map[string]func(m *store.Method){
		"unknown kind":       func(m *store.Method) { m.Kind = "carrier-pigeon" },
		"empty user":         func(m *store.Method) { m.UserID = "" },
		"empty id":           func(m *store.Method) { m.ID = "" },
		"id with slash":      func(m *store.Method) { m.ID = "a/b" },
		"label not UTF-8":    func(m *store.Method) { m.Label = "\xff" },
		"user with NUL byte": func(m *store.Method) { m.UserID = "a\x00b" },
	} {
		m := totp("alice", base)
		mod(&m)
		err := s.AddMethod(ctx, m)
		if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: AddMethod = %v, want an invalid-input error", name, err)
		}
	}
	if ms, err := s.Methods(ctx, "alice"); err != nil || len(ms) != 0 {
		t.Errorf("after refused adds alice has %d methods (%v)", len(ms), err)
	}
}

func testDeleteDefaultMethod(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a, b := totp("alice", base), phone("alice", store.KindPhone, "+331234", base.Add(time.Second))
	mustAdd(t, s, a, b)
	if err := s.PutUser(ctx, store.User{ID: "alice", MFAApplied: true, DefaultMethod: b.ID}); err != nil {
		t.Fatal(err)
	}
	// Deleting another method keeps the default.
	if err := s.DeleteMethod(ctx, "alice", a.ID); err != nil {
		t.Fatal(err)
	}
	if u, err := s.GetUser(ctx, "alice"); err != nil || u.DefaultMethod != b.ID {
		t.Fatalf("after deleting a non-default method: %+v, %v", u, err)
	}
	if err := s.DeleteMethod(ctx, "alice", b.ID); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.DefaultMethod != "" || !u.MFAApplied {
		t.Errorf("after deleting the default method: %+v, want no default and MFAApplied kept", u)
	}
	if ms, err := s.Methods(ctx, "alice"); err != nil || len(ms) != 0 {
		t.Errorf("methods left: %d, %v", len(ms), err)
	}
}

func testDeleteMethodUnknown(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	m := totp("alice", base)
	mustAdd(t, s, m)
	for _, c := range []struct{ user, id string }{
		{"alice", store.NewID()},
		{"bob", m.ID}, // someone else's
		{"nobody", store.NewID()},
		{"alice", "a/b"},
	} {
		if err := s.DeleteMethod(ctx, c.user, c.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteMethod(%q, %q) = %v, want ErrNotFound", c.user, c.id, err)
		}
	}
	if ms, err := s.Methods(ctx, "alice"); err != nil || len(ms) != 1 {
		t.Errorf("alice's method was touched: %d methods, %v", len(ms), err)
	}
	if err := s.DeleteMethod(ctx, "alice", m.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMethod(ctx, "alice", m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete = %v, want ErrNotFound", err)
	}
}

func testUseTOTPStep(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	m, other := totp("alice", base), totp("alice", base.Add(time.Second))
	mustAdd(t, s, m, other)
	at := base.Add(time.Hour)
	for i, c := range []struct {
		step int64
		want bool
	}{
		{100, true},
		{100, false}, // same step again: a replay
		{99, false},  // earlier
		{0, false},
		{-1, false},
		{101, true}, // later
		{150, true},
		{120, false},
	} {
		ok, err := s.UseTOTPStep(ctx, m.ID, c.step, at.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatalf("step %d: %v", c.step, err)
		}
		if ok != c.want {
			t.Errorf("call %d: UseTOTPStep(step %d) = %v, want %v", i, c.step, ok, c.want)
		}
	}
	// Steps are per method.
	if ok, err := s.UseTOTPStep(ctx, other.ID, 100, at); err != nil || !ok {
		t.Errorf("other method, step 100 = %v, %v; want true", ok, err)
	}
	ms, err := s.Methods(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	got := ms[0]
	if got.LastStep != 150 || !got.LastUsed.Equal(at.Add(6*time.Second)) {
		t.Errorf("after use: LastStep %d LastUsed %v, want 150 and %v", got.LastStep, got.LastUsed, at.Add(6*time.Second))
	}
	if !sameSecrets(got, m) {
		t.Error("UseTOTPStep changed the method's secrets")
	}
}

func testUseTOTPStepUnknown(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	for _, id := range []string{store.NewID(), "a/b", ""} {
		ok, err := s.UseTOTPStep(ctx, id, 1, base)
		if ok || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UseTOTPStep(%q) = %v, %v; want false, ErrNotFound", id, ok, err)
		}
	}
}

func testUseTOTPStepRace(t *testing.T, s store.Store) {
	m := totp("alice", base)
	mustAdd(t, s, m)
	for _, step := range []int64{1000, 1001} {
		wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
			return s.UseTOTPStep(ctx, m.ID, step, base)
		})
		if wins != 1 {
			t.Errorf("step %d: %d of %d racing goroutines accepted it, want exactly 1", step, wins, Racers)
		}
	}
}

func testChallengeRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	want := store.Challenge{
		State: "st-" + store.NewID(), UserID: "alice", Client: "vpn-gw1", MethodID: "M1", Kind: "sms",
		Secret: []byte("493817"), Attempts: 2,
		Groups:    []string{"vpn-users", "CN=Admins,OU=Groups,DC=example,DC=com", "日本語"},
		ExpiresAt: base.Add(time.Minute), CreatedAt: base,
	}
	menu := store.Challenge{
		State: "st-" + store.NewID(), UserID: "alice", Client: "vpn-gw1", Kind: "menu",
		Options:   []string{"M3", "M1", "M2"}, // menu order, not sorted
		ExpiresAt: base.Add(time.Minute), CreatedAt: base,
	}
	// Any bytes: the secret is sealed, not stored as text.
	binary := store.Challenge{State: "st-" + store.NewID(), UserID: "alice", Kind: "sms", Secret: []byte{0, 0xff, '/', 0},
		ExpiresAt: base.Add(time.Minute), CreatedAt: base}
	bare := store.Challenge{State: "st-" + store.NewID(), UserID: "alice", ExpiresAt: base.Add(time.Minute), CreatedAt: base}
	all := []store.Challenge{want, menu, binary, bare}
	for _, c := range all {
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range all {
		got, err := s.TakeChallenge(ctx, c.State, base.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if !sameChallenge(got, c) {
			t.Errorf("TakeChallenge:\n got %+v\nwant %+v", got, c)
		}
		if _, err := s.TakeChallenge(ctx, c.State, base.Add(time.Second)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second TakeChallenge = %v, want ErrNotFound", err)
		}
	}
	if _, err := s.TakeChallenge(ctx, "never-issued", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TakeChallenge(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.CreateChallenge(ctx, store.Challenge{State: "x", UserID: "alice"}); err == nil {
		t.Error("CreateChallenge without an expiry succeeded")
	}
}

func testCreateChallengeInvalid(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	for name, mod := range map[string]func(c *store.Challenge){
		"no expiry":           func(c *store.Challenge) { c.ExpiresAt = time.Time{} },
		"empty state":         func(c *store.Challenge) { c.State = "" },
		"empty user":          func(c *store.Challenge) { c.UserID = "" },
		"kind not UTF-8":      func(c *store.Challenge) { c.Kind = "\xff" },
		"kind too long":       func(c *store.Challenge) { c.Kind = strings.Repeat("k", 65) },
		"option with NUL":     func(c *store.Challenge) { c.Options = []string{"M1", "M\x002"} },
		"group not UTF-8":     func(c *store.Challenge) { c.Groups = []string{"\xfe"} },
		"client with NUL":     func(c *store.Challenge) { c.Client = "gw\x00" },
		"method id not UTF-8": func(c *store.Challenge) { c.MethodID = "\xff" },
	} {
		c := store.Challenge{State: store.NewID(), UserID: "alice", Kind: "menu", Options: []string{"M1"}, ExpiresAt: base.Add(time.Minute)}
		mod(&c)
		err := s.CreateChallenge(ctx, c)
		if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: CreateChallenge = %v, want an invalid-input error", name, err)
		}
		if c.State != "" {
			if _, err := s.TakeChallenge(ctx, c.State, base); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: refused challenge was stored: %v", name, err)
			}
		}
	}
}

func testTakeChallengeRace(t *testing.T, s store.Store) {
	state := store.NewID()
	if err := s.CreateChallenge(ctxFor(t), store.Challenge{State: state, UserID: "alice", ExpiresAt: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		_, err := s.TakeChallenge(ctx, state, base)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if wins != 1 {
		t.Errorf("%d of %d racing goroutines took the challenge, want exactly 1", wins, Racers)
	}
}

func testRedeem(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	m := totp("alice", base)
	mustAdd(t, s, m)
	if err := s.RecordFailure(ctx, "alice", store.FailCode, base.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	q := store.AccountQuery{PasswordSince: base.Add(-time.Hour), CodeSince: base.Add(-time.Hour), CodeDaySince: base.Add(-time.Hour)}
	issue := func() string {
		t.Helper()
		st := store.NewID()
		c := store.Challenge{State: st, UserID: "alice", Client: "gw", Groups: []string{"vpn"}, ExpiresAt: base.Add(time.Minute), CreatedAt: base}
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
		return st
	}

	// decide sees the challenge and the account, and names the step.
	st := issue()
	var seen store.Account
	c, a, fresh, err := s.Redeem(ctx, st, base, q, func(c store.Challenge, a store.Account) store.Redemption {
		seen = a
		if c.UserID != "alice" || c.Client != "gw" || !slices.Equal(c.Groups, []string{"vpn"}) {
			t.Errorf("decide saw %+v", c)
		}
		return store.Redemption{MethodID: m.ID, Step: 100}
	})
	if err != nil || !fresh || c.UserID != "alice" {
		t.Fatalf("Redeem = %+v, fresh %v, %v", c, fresh, err)
	}
	if len(a.Methods) != 1 || !sameSecrets(a.Methods[0], m) || a.CodeFailures != 1 || len(seen.Methods) != 1 {
		t.Errorf("account in Redeem: %+v", a)
	}
	if _, err := s.TakeChallenge(ctx, st, base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("challenge still there after Redeem: %v", err)
	}
	if _, _, _, err := s.Redeem(ctx, st, base, q, func(store.Challenge, store.Account) store.Redemption { return store.Redemption{} }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Redeem = %v, want ErrNotFound", err)
	}

	// The same step again, through a new challenge: not fresh.
	_, _, fresh, err = s.Redeem(ctx, issue(), base, q, func(store.Challenge, store.Account) store.Redemption {
		return store.Redemption{MethodID: m.ID, Step: 100}
	})
	if err != nil || fresh {
		t.Errorf("reused step: fresh %v, %v", fresh, err)
	}
	ms, _ := s.Methods(ctx, "alice")
	if len(ms) != 1 || ms[0].LastStep != 100 {
		t.Errorf("last step after Redeem: %+v", ms)
	}

	// No method named: the challenge is still consumed.
	st = issue()
	if _, _, fresh, err = s.Redeem(ctx, st, base, q, func(store.Challenge, store.Account) store.Redemption { return store.Redemption{} }); err != nil || fresh {
		t.Errorf("wrong code: fresh %v, %v", fresh, err)
	}
	if _, err := s.TakeChallenge(ctx, st, base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("challenge survived a Redeem with no method: %v", err)
	}

	// Expired: ErrNotFound, decide never called.
	st = issue()
	if _, _, _, err := s.Redeem(ctx, st, base.Add(time.Minute), q, func(store.Challenge, store.Account) store.Redemption {
		t.Error("decide called for an expired challenge")
		return store.Redemption{}
	}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired Redeem = %v, want ErrNotFound", err)
	}
}

// A Fail answer naming a step records a code failure only when the step
// turns out spent, in Redeem and Verify alike.
func testRedeemFailUnlessFresh(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	m := totp("alice", base)
	mustAdd(t, s, m)
	q := store.AccountQuery{PasswordSince: base.Add(-time.Hour), CodeSince: base.Add(-time.Hour), CodeDaySince: base.Add(-time.Hour)}
	failures := func() int {
		t.Helper()
		n, err := s.CountFailures(ctx, "alice", store.FailCode, q.CodeSince)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	redeem := func(r store.Redemption) bool {
		t.Helper()
		st := store.NewID()
		if err := s.CreateChallenge(ctx, store.Challenge{State: st, UserID: "alice", Client: "gw", ExpiresAt: base.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		_, _, fresh, err := s.Redeem(ctx, st, base, q, func(store.Challenge, store.Account) store.Redemption { return r })
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !redeem(store.Redemption{MethodID: m.ID, Step: 100, Fail: true}) || failures() != 0 {
		t.Errorf("a fresh step counted as a failure: %d failures", failures())
	}
	if redeem(store.Redemption{MethodID: m.ID, Step: 100, Fail: true}) || failures() != 1 {
		t.Errorf("a spent step: %d failures, want 1", failures())
	}
	if redeem(store.Redemption{Fail: true}) || failures() != 2 {
		t.Errorf("a wrong code: %d failures, want 2", failures())
	}
	if _, fresh, err := s.Verify(ctx, "alice", base, q, func(store.Account) store.Redemption {
		return store.Redemption{MethodID: m.ID, Step: 101, Fail: true}
	}); err != nil || !fresh || failures() != 2 {
		t.Errorf("Verify of a fresh step: fresh %v, %v, %d failures, want 2", fresh, err, failures())
	}
	if _, fresh, err := s.Verify(ctx, "alice", base, q, func(store.Account) store.Redemption {
		return store.Redemption{MethodID: m.ID, Step: 101, Fail: true}
	}); err != nil || fresh || failures() != 3 {
		t.Errorf("Verify of a spent step: fresh %v, %v, %d failures, want 3", fresh, err, failures())
	}
}

// A Redeem or Verify whose caller gives up while decide runs (the
// context ends) writes nothing of it: the challenge is still there, the
// step unused, no failure recorded. The writes are one with the read.
func testInterruptedRedeem(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	m := totp("alice", base)
	mustAdd(t, s, m)
	q := store.AccountQuery{PasswordSince: base.Add(-time.Hour), CodeSince: base.Add(-time.Hour), CodeDaySince: base.Add(-time.Hour)}
	st := store.NewID()
	if err := s.CreateChallenge(ctx, store.Challenge{State: st, UserID: "alice", Client: "gw", ExpiresAt: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	if _, _, _, err := s.Redeem(gone, st, base, q, func(store.Challenge, store.Account) store.Redemption {
		cancel()
		return store.Redemption{MethodID: m.ID, Step: 100, Fail: true}
	}); err == nil {
		t.Error("Redeem succeeded after its context ended")
	}
	gone, cancel = context.WithCancel(ctx)
	if _, _, err := s.Verify(gone, "alice", base, q, func(store.Account) store.Redemption {
		cancel()
		return store.Redemption{Fail: true}
	}); err == nil {
		t.Error("Verify succeeded after its context ended")
	}
	if n, err := s.CountFailures(ctx, "alice", store.FailCode, q.CodeSince); err != nil || n != 0 {
		t.Errorf("interrupted decisions recorded %d failures (%v), want none", n, err)
	}
	if ok, err := s.UseTOTPStep(ctx, m.ID, 100, base); err != nil || !ok {
		t.Errorf("the step of an interrupted Redeem was used: %v, %v", ok, err)
	}
	if c, err := s.TakeChallenge(ctx, st, base); err != nil || c.UserID != "alice" {
		t.Errorf("the challenge of an interrupted Redeem: %+v, %v; want it still there", c, err)
	}
}

func testRedeemRace(t *testing.T, s store.Store) {
	m := totp("alice", base)
	mustAdd(t, s, m)
	var states []string
	for i := 0; i < Racers; i++ {
		st := store.NewID()
		states = append(states, st)
		if err := s.CreateChallenge(ctxFor(t), store.Challenge{State: st, UserID: "alice", ExpiresAt: base.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	// Every goroutine redeems its own challenge with the same code (step):
	// exactly one may use it.
	wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		_, _, fresh, err := s.Redeem(ctx, states[i], base, store.AccountQuery{}, func(store.Challenge, store.Account) store.Redemption {
			return store.Redemption{MethodID: m.ID, Step: 7}
		})
		return fresh, err
	})
	if wins != 1 {
		t.Errorf("%d of %d racing Redeems used the same step, want exactly 1", wins, Racers)
	}
}

// Redeem hands decide, and returns, what TakeChallenge would: the SMS code
// decrypted and the menu in order.
func testRedeemChallengeFields(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	m := phone("alice", store.KindPhone, "+819012345678", base)
	mustAdd(t, s, m)
	for _, want := range []store.Challenge{
		{State: store.NewID(), UserID: "alice", Client: "gw", MethodID: m.ID, Kind: "sms", Secret: []byte("052906"),
			Attempts: 1, Groups: []string{"vpn"}, ExpiresAt: base.Add(time.Minute), CreatedAt: base},
		{State: store.NewID(), UserID: "alice", Client: "gw", Kind: "menu", Options: []string{m.ID, "TOTPAPP"},
			ExpiresAt: base.Add(time.Minute), CreatedAt: base},
		{State: store.NewID(), UserID: "alice", Client: "gw", Kind: "totp", ExpiresAt: base.Add(time.Minute), CreatedAt: base},
	} {
		if err := s.CreateChallenge(ctx, want); err != nil {
			t.Fatal(err)
		}
		called := false
		got, a, fresh, err := s.Redeem(ctx, want.State, base, store.AccountQuery{}, func(c store.Challenge, a store.Account) store.Redemption {
			called = true
			if !sameChallenge(c, want) {
				t.Errorf("decide saw:\n %+v\nwant %+v", c, want)
			}
			if len(a.Methods) != 1 || !sameSecrets(a.Methods[0], m) {
				t.Errorf("decide saw account %+v", a)
			}
			return store.Redemption{}
		})
		if err != nil || !called || fresh || len(a.Methods) != 1 {
			t.Fatalf("Redeem(%s challenge) = fresh %v, %d methods, %v (decide called: %v)", want.Kind, fresh, len(a.Methods), err, called)
		}
		if !sameChallenge(got, want) {
			t.Errorf("Redeem returned:\n %+v\nwant %+v", got, want)
		}
		if _, err := s.TakeChallenge(ctx, want.State, base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s challenge still there after Redeem: %v", want.Kind, err)
		}
	}
}

// testGuessesSerialised: wrong codes sent on many challenges at once are
// counted so that no more than the limit are ever evaluated.
func testGuessesSerialised(t *testing.T, s store.Store) {
	guessesSerialised(t, []store.Store{s})
}

func guessesSerialised(t *testing.T, nodes []store.Store) {
	const limit = 5
	q := store.AccountQuery{CodeSince: base.Add(-time.Hour), CodeDaySince: base.Add(-time.Hour), PasswordSince: base.Add(-time.Hour)}
	var states []string
	for i := 0; i < Racers; i++ {
		st := store.NewID()
		states = append(states, st)
		if err := nodes[0].CreateChallenge(ctxFor(t), store.Challenge{State: st, UserID: "mallory", ExpiresAt: base.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	// Half the racers answer a challenge, half type a code with none
	// (Verify); each wrong answer is evaluated only while under the limit.
	evaluated := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		guessed := false
		decide := func(a store.Account) store.Redemption {
			if a.CodeFailures >= limit {
				return store.Redemption{} // locked: not evaluated
			}
			guessed = true
			return store.Redemption{Fail: true}
		}
		n := nodes[i%len(nodes)]
		var err error
		if i%2 == 0 {
			_, _, _, err = n.Redeem(ctx, states[i], base, q, func(_ store.Challenge, a store.Account) store.Redemption { return decide(a) })
		} else {
			_, _, err = n.Verify(ctx, "mallory", base, q, decide)
		}
		return guessed, err
	})
	if evaluated != limit {
		t.Errorf("%d of %d parallel wrong codes were evaluated, want exactly the limit %d", evaluated, Racers, limit)
	}
	if n, err := nodes[0].CountFailures(ctxFor(t), "mallory", store.FailCode, base.Add(-time.Hour)); err != nil || n != limit {
		t.Errorf("failures recorded = %d, %v; want %d", n, err, limit)
	}
}

func testReserveAttempt(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	since := base.Add(-15 * time.Minute)
	reserve := func(ctx context.Context, user string, kind store.FailureKind, now, since time.Time, limit int) store.Reservation {
		t.Helper()
		r, err := s.ReserveAttempt(ctx, user, kind, now, since, limit)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Racing attempts: exactly the limit are let through.
	wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		r, err := s.ReserveAttempt(ctx, "mallory", store.FailPassword, base, since, 5)
		return r == store.Reserved, err
	})
	if wins != 5 {
		t.Errorf("%d of %d racing attempts reserved, want 5", wins, Racers)
	}
	// The others were told to wait, not that the user is paused: none
	// of the five has failed yet.
	if r := reserve(ctx, "mallory", store.FailPassword, base, since, 5); r != store.Busy {
		t.Errorf("with 5 attempts in flight: %v, want busy", r)
	}
	// A successful attempt is forgiven: one row goes, not all of them.
	if err := s.ForgiveAttempt(ctx, "mallory", store.FailPassword, base); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountFailures(ctx, "mallory", store.FailPassword, since); n != 4 {
		t.Errorf("after forgiving one: %d failures, want 4", n)
	}
	if r := reserve(ctx, "mallory", store.FailPassword, base, since, 5); r != store.Reserved {
		t.Errorf("under the limit again: %v", r)
	}
	// Older failures fall out of the window; other kinds and users apart.
	if r := reserve(ctx, "mallory", store.FailPassword, base.Add(time.Hour), base.Add(time.Hour-15*time.Minute), 5); r != store.Reserved {
		t.Errorf("a new window: %v", r)
	}
	if r := reserve(ctx, "mallory", store.FailCode, base, since, 1); r != store.Reserved {
		t.Errorf("another kind: %v", r)
	}
	if r := reserve(ctx, "alice", store.FailPassword, base, since, 1); r != store.Reserved {
		t.Errorf("another user: %v", r)
	}
}

// Only failures pause a user: attempts that succeed, however many run at
// once, never do; settled failures do, and so do attempts whose node
// died before the directory answered.
func testOnlyFailuresPause(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	since := base.Add(-15 * time.Minute)
	reserve := func(user string, now time.Time) store.Reservation {
		t.Helper()
		r, err := s.ReserveAttempt(ctx, user, store.FailPassword, now, since, 3)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Three in flight, then each succeeds: the user is never paused.
	for round := 0; round < 4; round++ {
		for i := 0; i < 3; i++ {
			if r := reserve("alice", base); r != store.Reserved {
				t.Fatalf("round %d attempt %d: %v", round, i, r)
			}
		}
		if r := reserve("alice", base); r != store.Busy {
			t.Fatalf("round %d, limit in flight: %v, want busy", round, r)
		}
		for i := 0; i < 3; i++ {
			if err := s.ForgiveAttempt(ctx, "alice", store.FailPassword, base); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Three that fail, settled: paused.
	for i := 0; i < 3; i++ {
		if r := reserve("mallory", base); r != store.Reserved {
			t.Fatalf("attempt %d: %v", i, r)
		}
	}
	for i := 1; i <= 3; i++ {
		n, err := s.SettleFailure(ctx, "mallory", store.FailPassword, base, since)
		if err != nil || n != i {
			t.Fatalf("settlement %d: %d failures, %v", i, n, err)
		}
	}
	if r := reserve("mallory", base); r != store.Paused {
		t.Errorf("after 3 failures: %v, want paused", r)
	}
	// A settled failure is not forgiven by mistake.
	if err := s.ForgiveAttempt(ctx, "mallory", store.FailPassword, base); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountFailures(ctx, "mallory", store.FailPassword, since); n != 3 {
		t.Errorf("forgiving a settled failure removed it: %d failures, want 3", n)
	}
	// Attempts left pending by a dead node: busy at first, a pause once
	// they are stale.
	for i := 0; i < 3; i++ {
		reserve("bob", base)
	}
	if r := reserve("bob", base.Add(store.StaleAttempt-time.Second)); r != store.Busy {
		t.Errorf("3 pending attempts, not yet stale: %v, want busy", r)
	}
	if r := reserve("bob", base.Add(store.StaleAttempt+time.Second)); r != store.Paused {
		t.Errorf("3 stale pending attempts: %v, want paused", r)
	}
}

// Of parallel failures, exactly one sees the count reach the limit: the
// lockout is announced (audited, counted) once.
func testSettleFailureReachesLimitOnce(t *testing.T, s store.Store) {
	since := base.Add(-15 * time.Minute)
	const limit = 5
	for i := 0; i < limit; i++ {
		if r, err := s.ReserveAttempt(ctxFor(t), "mallory", store.FailPassword, base, since, limit); err != nil || r != store.Reserved {
			t.Fatalf("reserve %d: %v, %v", i, r, err)
		}
	}
	reached := race(t, limit, func(ctx context.Context, i int) (bool, error) {
		n, err := s.SettleFailure(ctx, "mallory", store.FailPassword, base, since)
		return n == limit, err
	})
	if reached != 1 {
		t.Errorf("%d of %d parallel settlements saw the limit reached, want exactly 1", reached, limit)
	}
}

// testReserveAttemptOwnKind: the portal counts the tries of each code it
// sends under a kind of its own ("portal_code/<random key>"): racing
// reservations stop at the limit, and they are apart from other codes'
// and from the failures a login counts.
func testReserveAttemptOwnKind(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	kind := store.FailureKind("portal_code/" + strings.Repeat("k", 22))
	since := base.Add(-24 * time.Hour)
	wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		r, err := s.ReserveAttempt(ctx, "mallory", kind, base, since, 5)
		return r == store.Reserved, err
	})
	if wins != 5 {
		t.Errorf("%d of %d racing tries reserved, want 5", wins, Racers)
	}
	if n, err := s.CountFailures(ctx, "mallory", kind, since); err != nil || n != 5 {
		t.Errorf("tries counted = %d, %v; want 5", n, err)
	}
	if r, _ := s.ReserveAttempt(ctx, "mallory", store.FailureKind("portal_code/"+strings.Repeat("j", 22)), base, since, 5); r != store.Reserved {
		t.Error("another code's tries refused")
	}
	a, err := s.Account(ctx, "mallory", store.AccountQuery{PasswordSince: since, CodeSince: since, CodeDaySince: since})
	if err != nil || a.PasswordFailures != 0 || a.CodeFailures != 0 || a.CodeFailuresDay != 0 {
		t.Errorf("a code's tries counted as login failures: %+v, %v", a, err)
	}
}

// Round one's writes after a good password: the challenge is stored and
// the sign-in's pending attempts forgiven together, or neither.
func testIssueChallenge(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	since := base.Add(-15 * time.Minute)
	for range 3 {
		if r, err := s.ReserveAttempt(ctx, "alice", store.FailPassword, base, since, 5); err != nil || r != store.Reserved {
			t.Fatalf("reserve: %v, %v", r, err)
		}
	}
	if _, err := s.SettleFailure(ctx, "alice", store.FailPassword, base, since); err != nil {
		t.Fatal(err)
	}
	c := store.Challenge{State: store.NewID(), UserID: "alice", Client: "gw", Kind: "totp", ExpiresAt: base.Add(time.Minute), CreatedAt: base}
	if err := s.IssueChallenge(ctx, c, base, 2); err != nil {
		t.Fatal(err)
	}
	// The two pending attempts are gone; the settled failure stays.
	if n, _ := s.CountFailures(ctx, "alice", store.FailPassword, since); n != 1 {
		t.Errorf("after IssueChallenge forgave 2 of 3: %d failures, want the 1 settled", n)
	}
	if got, err := s.TakeChallenge(ctx, c.State, base); err != nil || got.UserID != "alice" {
		t.Errorf("the challenge: %+v, %v", got, err)
	}
	// A challenge that cannot be stored forgives nothing.
	if r, err := s.ReserveAttempt(ctx, "alice", store.FailPassword, base, since, 5); err != nil || r != store.Reserved {
		t.Fatalf("reserve: %v, %v", r, err)
	}
	dup := store.Challenge{State: store.NewID(), UserID: "alice", Client: "gw", Kind: "totp", ExpiresAt: base.Add(time.Minute), CreatedAt: base}
	if err := s.CreateChallenge(ctx, dup); err != nil {
		t.Fatal(err)
	}
	if err := s.IssueChallenge(ctx, dup, base, 1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a state stored twice: %v, want ErrConflict", err)
	}
	if n, _ := s.CountFailures(ctx, "alice", store.FailPassword, since); n != 2 {
		t.Errorf("a failed IssueChallenge forgave: %d failures, want 2", n)
	}
}

func testLogin(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustAdd(t, s, totp("mallory", base))
	q := store.AccountQuery{PasswordSince: base.Add(-15 * time.Minute), CodeSince: base.Add(-15 * time.Minute), CodeDaySince: base.Add(-24 * time.Hour)}
	a, r, err := s.Login(ctx, "mallory", base, q, 5)
	if err != nil || r != store.Reserved || len(a.Methods) != 1 || a.PasswordFailures != 0 {
		t.Fatalf("first login: %+v, %v, %v", a, r, err)
	}
	// The reservation counts; the account shows the failures before it.
	a, r, err = s.Login(ctx, "mallory", base, q, 5)
	if err != nil || r != store.Reserved || a.PasswordFailures != 1 {
		t.Fatalf("second login: failures %d, %v, %v", a.PasswordFailures, r, err)
	}
	wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		_, r, err := s.Login(ctx, "mallory", base, q, 5)
		return r == store.Reserved, err
	})
	if wins != 3 {
		t.Errorf("%d of %d racing logins reserved an attempt, want the 3 left of 5", wins, Racers)
	}
	if _, r, _ := s.Login(ctx, "mallory", base, q, 5); r != store.Busy {
		t.Errorf("with 5 attempts in flight: %v, want busy", r)
	}
	for i := 0; i < 5; i++ {
		if _, err := s.SettleFailure(ctx, "mallory", store.FailPassword, base, q.PasswordSince); err != nil {
			t.Fatal(err)
		}
	}
	if _, r, _ := s.Login(ctx, "mallory", base, q, 5); r != store.Paused {
		t.Errorf("after 5 failures: %v, want paused", r)
	}
	if _, r, _ := s.Login(ctx, "nobody", base, q, 5); r != store.Reserved {
		t.Errorf("an unknown user's first attempt: %v", r)
	}
}

func testExpiredChallenge(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	c := store.Challenge{State: store.NewID(), UserID: "alice", ExpiresAt: base.Add(time.Minute), CreatedAt: base}
	for _, now := range []time.Time{c.ExpiresAt, c.ExpiresAt.Add(time.Hour)} {
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakeChallenge(ctx, c.State, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TakeChallenge at %v of a challenge expiring at %v = %v, want ErrNotFound", now, c.ExpiresAt, err)
		}
		// It is gone, not left for a later, earlier-dated call.
		if _, err := s.TakeChallenge(ctx, c.State, base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired challenge still there: %v", err)
		}
	}
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeChallenge(ctx, c.State, c.ExpiresAt.Add(-time.Microsecond)); err != nil {
		t.Errorf("TakeChallenge just before expiry = %v", err)
	}
}

func testCreateChallengeSameState(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	c := store.Challenge{State: store.NewID(), UserID: "alice", ExpiresAt: base.Add(time.Minute)}
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.UserID = "mallory"
	if err := s.CreateChallenge(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateChallenge with a state in use = %v, want ErrConflict", err)
	}
	got, err := s.TakeChallenge(ctx, c.State, base)
	if err != nil || got.UserID != "alice" {
		t.Errorf("challenge after refused overwrite = %+v, %v; want alice's", got, err)
	}
}

func testFailures(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	record := func(user string, kind store.FailureKind, at time.Time) {
		t.Helper()
		if err := s.RecordFailure(ctx, user, kind, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, ago := range []time.Duration{20 * time.Minute, 10 * time.Minute, 5 * time.Minute, time.Minute, 0} {
		record("alice", store.FailCode, base.Add(-ago))
	}
	record("alice", store.FailPassword, base)
	record("bob", store.FailCode, base)
	record("bob", store.FailCode, base) // same instant twice counts twice

	count := func(user string, kind store.FailureKind, since time.Time) int {
		t.Helper()
		n, err := s.CountFailures(ctx, user, kind, since)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		user  string
		kind  store.FailureKind
		since time.Time
		want  int
	}{
		{"alice", store.FailCode, base.Add(-15 * time.Minute), 4},
		{"alice", store.FailCode, base.Add(-5 * time.Minute), 3}, // at since counts
		{"alice", store.FailCode, base.Add(time.Second), 0},
		{"alice", store.FailPassword, base.Add(-time.Hour), 1},
		{"bob", store.FailCode, base.Add(-time.Hour), 2},
		{"bob", store.FailPassword, base.Add(-time.Hour), 0},
		{"nobody", store.FailCode, base.Add(-time.Hour), 0},
	} {
		if got := count(c.user, c.kind, c.since); got != c.want {
			t.Errorf("CountFailures(%s, %s, since %v) = %d, want %d", c.user, c.kind, c.since.Sub(base), got, c.want)
		}
	}
	if err := s.ClearFailures(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := count("alice", store.FailCode, time.Time{}) + count("alice", store.FailPassword, time.Time{}); n != 0 {
		t.Errorf("after ClearFailures alice has %d failures", n)
	}
	if n := count("bob", store.FailCode, time.Time{}); n != 2 {
		t.Errorf("ClearFailures(alice) touched bob: %d failures, want 2", n)
	}
	if err := s.RecordFailure(ctx, "", store.FailCode, base); err == nil {
		t.Error("RecordFailure with an empty user succeeded")
	}
}

// wantSend reserves a send and fails the test on an error or an answer
// other than want.
func wantSend(t *testing.T, s store.Store, want bool, user, method string, at time.Time, l store.SendLimits) {
	t.Helper()
	ok, err := s.ReserveSend(ctxFor(t), user, method, at, l)
	if err != nil {
		t.Fatalf("ReserveSend(%s, %s, %v): %v", user, method, at.Sub(base), err)
	}
	if ok != want {
		t.Errorf("ReserveSend(%s, %s, base%+v, %+v) = %v, want %v", user, method, at.Sub(base), l, ok, want)
	}
}

func testReserveSendPerMethod(t *testing.T, s store.Store) {
	l := store.SendLimits{PerMethod: time.Minute, PerUser: 10, PerUserWindow: time.Hour}
	m1, m2 := store.NewID(), store.NewID()
	wantSend(t, s, true, "alice", m1, base, l)
	wantSend(t, s, false, "alice", m1, base, l)                                   // the same instant
	wantSend(t, s, false, "alice", m1, base.Add(time.Second), l)                  // within PerMethod
	wantSend(t, s, false, "alice", m1, base.Add(time.Minute-time.Microsecond), l) // just within
	wantSend(t, s, true, "alice", m2, base.Add(time.Second), l)                   // another method
	wantSend(t, s, true, "bob", m1, base.Add(time.Second), l)                     // another user
	wantSend(t, s, true, "alice", m1, base.Add(time.Minute), l)                   // (base, base+1m]: the first send is out
	wantSend(t, s, false, "alice", m1, base.Add(time.Minute+time.Second), l)
	wantSend(t, s, true, "alice", m1, base.Add(3*time.Minute), l)
}

func testReserveSendPerUser(t *testing.T, s store.Store) {
	l := store.SendLimits{PerMethod: time.Minute, PerUser: 3, PerUserWindow: time.Hour}
	var ms []string
	for range 5 {
		ms = append(ms, store.NewID())
	}
	for i := range 3 {
		wantSend(t, s, true, "alice", ms[i], base.Add(time.Duration(i)*time.Minute), l)
	}
	// The cap counts every method; refusals record nothing.
	wantSend(t, s, false, "alice", ms[3], base.Add(10*time.Minute), l)
	wantSend(t, s, false, "alice", ms[4], base.Add(20*time.Minute), l)
	wantSend(t, s, false, "alice", ms[0], base.Add(30*time.Minute), l)
	wantSend(t, s, true, "bob", ms[3], base.Add(30*time.Minute), l)
	// The first send leaves the window at base+1h, the second a minute
	// later: one new send each time, whatever the refused ones.
	wantSend(t, s, false, "alice", ms[3], base.Add(time.Hour-time.Microsecond), l)
	wantSend(t, s, true, "alice", ms[3], base.Add(time.Hour), l)
	wantSend(t, s, false, "alice", ms[4], base.Add(time.Hour+time.Second), l)
	wantSend(t, s, true, "alice", ms[4], base.Add(time.Hour+time.Minute), l)
	wantSend(t, s, false, "alice", ms[0], base.Add(time.Hour+time.Minute+time.Second), l)
}

func testReserveSendZeroLimits(t *testing.T, s store.Store) {
	m := store.NewID()
	// No PerMethod: the same method again at once, up to the user's cap.
	l := store.SendLimits{PerUser: 2, PerUserWindow: time.Hour}
	wantSend(t, s, true, "alice", m, base, l)
	wantSend(t, s, true, "alice", m, base, l)
	wantSend(t, s, false, "alice", m, base, l)
	// No window: only PerMethod counts.
	l = store.SendLimits{PerMethod: time.Minute, PerUser: 1}
	wantSend(t, s, true, "bob", m, base, l)
	wantSend(t, s, true, "bob", store.NewID(), base, l)
	wantSend(t, s, false, "bob", m, base.Add(time.Second), l)
	// PerUser zero allows nothing.
	wantSend(t, s, false, "carol", m, base, store.SendLimits{PerMethod: time.Minute, PerUserWindow: time.Hour})
	wantSend(t, s, true, "carol", m, base, store.SendLimits{PerMethod: time.Minute, PerUser: 1, PerUserWindow: time.Hour})
}

func testReserveSendInvalid(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	l := store.SendLimits{PerMethod: time.Minute, PerUser: 3, PerUserWindow: time.Hour}
	for _, c := range []struct{ user, method string }{
		{"", store.NewID()},
		{"a\x00b", store.NewID()},
		{"alice", ""},
		{"alice", "a/b"},
	} {
		if ok, err := s.ReserveSend(ctx, c.user, c.method, base, l); ok || err == nil {
			t.Errorf("ReserveSend(%q, %q) = %v, %v; want false and an error", c.user, c.method, ok, err)
		}
	}
}

func testReserveSendRace(t *testing.T, s store.Store) {
	l := store.SendLimits{PerMethod: time.Minute, PerUser: 3, PerUserWindow: time.Hour}
	// All for one method: one send.
	m := store.NewID()
	if wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		return s.ReserveSend(ctx, "alice", m, base, l)
	}); wins != 1 {
		t.Errorf("%d of %d racing goroutines reserved a send to one method, want exactly 1", wins, Racers)
	}
	// Each for its own method: the user's cap.
	if wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		return s.ReserveSend(ctx, "bob", fmt.Sprintf("m%d", i), base, l)
	}); wins != l.PerUser {
		t.Errorf("%d of %d racing goroutines reserved a send to their own method, want exactly %d", wins, Racers, l.PerUser)
	}
}

func testClearFailuresKeepsSends(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	l := store.SendLimits{PerMethod: time.Minute, PerUser: 1, PerUserWindow: time.Hour}
	wantSend(t, s, true, "alice", "M1", base, l)
	if err := s.ClearFailures(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	wantSend(t, s, false, "alice", "M2", base.Add(time.Second), l)
}

func testAccount(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	q := store.AccountQuery{
		PasswordSince: base.Add(-15 * time.Minute),
		CodeSince:     base.Add(-15 * time.Minute),
		CodeDaySince:  base.Add(-24 * time.Hour),
	}
	// Unknown user: nothing, no error.
	a, err := s.Account(ctx, "nobody", q)
	if err != nil || len(a.Methods) != 0 || a.PasswordFailures+a.CodeFailures+a.CodeFailuresDay != 0 {
		t.Fatalf("unknown user: %+v, %v", a, err)
	}
	// Failures without methods: the counts still come back.
	for _, f := range []struct {
		kind store.FailureKind
		ago  time.Duration
	}{
		{store.FailPassword, time.Minute}, {store.FailPassword, time.Hour},
		{store.FailCode, time.Minute}, {store.FailCode, 2 * time.Hour}, {store.FailCode, 25 * time.Hour},
	} {
		if err := s.RecordFailure(ctx, "carol", f.kind, base.Add(-f.ago)); err != nil {
			t.Fatal(err)
		}
	}
	a, err = s.Account(ctx, "carol", q)
	if err != nil || len(a.Methods) != 0 || a.PasswordFailures != 1 || a.CodeFailures != 1 || a.CodeFailuresDay != 2 {
		t.Fatalf("failures without methods: %+v, %v", a, err)
	}
	// Methods and failures together: the same methods as Methods.
	mustAdd(t, s, totp("carol", base), phone("carol", store.KindPhone, "+81312345678", base.Add(time.Second)))
	if err := s.RecordFailure(ctx, "dave", store.FailPassword, base); err != nil {
		t.Fatal(err)
	}
	a, err = s.Account(ctx, "carol", q)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := s.Methods(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Methods) != 2 || len(ms) != 2 || a.PasswordFailures != 1 || a.CodeFailures != 1 || a.CodeFailuresDay != 2 {
		t.Fatalf("with methods: %+v", a)
	}
	// The first method added to a user is not made the default by the
	// store; the default, once set, comes back with the account.
	if err := s.PutUser(ctx, store.User{ID: "carol", DefaultMethod: ms[1].ID, CreatedAt: base, UpdatedAt: base}); err != nil {
		t.Fatal(err)
	}
	if a, err = s.Account(ctx, "carol", q); err != nil || a.DefaultMethod != ms[1].ID {
		t.Errorf("Account.DefaultMethod = %q, %v; want %q", a.DefaultMethod, err, ms[1].ID)
	}
	for i := range ms {
		if !sameMethod(a.Methods[i], ms[i]) {
			t.Errorf("method %d: Account %s, Methods %s", i, describe(a.Methods[i]), describe(ms[i]))
		}
	}
}

func testReset(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	sendLimit := store.SendLimits{PerMethod: time.Hour, PerUser: 1, PerUserWindow: time.Hour}
	setup := func(user string) (state string) {
		a, b := totp(user, base), phone(user, store.KindPhone, "+15555550100", base.Add(time.Second))
		mustAdd(t, s, a, b)
		if err := s.PutUser(ctx, store.User{ID: user, MFAApplied: true, DefaultMethod: b.ID, CreatedAt: base}); err != nil {
			t.Fatal(err)
		}
		state = store.NewID()
		if err := s.CreateChallenge(ctx, store.Challenge{State: state, UserID: user, MethodID: a.ID, ExpiresAt: base.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		for _, k := range []store.FailureKind{store.FailCode, store.FailPassword} {
			if err := s.RecordFailure(ctx, user, k, base); err != nil {
				t.Fatal(err)
			}
		}
		wantSend(t, s, true, user, b.ID, base, sendLimit)
		return state
	}
	aliceState, bobState := setup("alice"), setup("bob")
	if err := s.Audit(ctx, store.Event{UserID: "alice", Actor: "portal", Action: "method_added", At: base}); err != nil {
		t.Fatal(err)
	}

	if err := s.Reset(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !u.MFAApplied || u.DefaultMethod != "" || !u.CreatedAt.Equal(base) {
		t.Errorf("after Reset: %+v, want MFAApplied kept, no default, CreatedAt kept", u)
	}
	if ms, err := s.Methods(ctx, "alice"); err != nil || len(ms) != 0 {
		t.Errorf("after Reset alice has %d methods (%v)", len(ms), err)
	}
	if _, err := s.TakeChallenge(ctx, aliceState, base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after Reset alice's challenge: %v, want ErrNotFound", err)
	}
	for _, k := range []store.FailureKind{store.FailCode, store.FailPassword} {
		if n, err := s.CountFailures(ctx, "alice", k, time.Time{}); err != nil || n != 0 {
			t.Errorf("after Reset alice has %d %s failures (%v)", n, k, err)
		}
	}
	if es, err := s.Events(ctx, "alice", 0); err != nil || len(es) != 1 {
		t.Errorf("Reset touched the audit trail: %d events, %v", len(es), err)
	}
	// Alice's send is gone: a new phone may get a code at once.
	wantSend(t, s, true, "alice", store.NewID(), base.Add(time.Second), sendLimit)

	// Bob is untouched.
	if u, err := s.GetUser(ctx, "bob"); err != nil || u.DefaultMethod == "" {
		t.Errorf("bob after alice's Reset: %+v, %v", u, err)
	}
	if ms, err := s.Methods(ctx, "bob"); err != nil || len(ms) != 2 {
		t.Errorf("bob has %d methods (%v), want 2", len(ms), err)
	}
	if _, err := s.TakeChallenge(ctx, bobState, base); err != nil {
		t.Errorf("bob's challenge: %v", err)
	}
	if n, err := s.CountFailures(ctx, "bob", store.FailCode, time.Time{}); err != nil || n != 1 {
		t.Errorf("bob has %d failures (%v), want 1", n, err)
	}
	wantSend(t, s, false, "bob", store.NewID(), base.Add(time.Second), sendLimit)
}

func testResetUnknown(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	if err := s.Reset(ctx, "nobody"); err != nil {
		t.Errorf("Reset(unknown) = %v", err)
	}
	if _, err := s.GetUser(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Reset created the user: %v", err)
	}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	for i := range 5 {
		e := store.Event{At: base.Add(time.Duration(i) * time.Minute), UserID: "alice", Actor: "portal",
			Action: "method_added", Detail: fmt.Sprintf("n=%d", i)}
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Same instant as the newest: the later insert comes first.
	if err := s.Audit(ctx, store.Event{At: base.Add(4 * time.Minute), UserID: "alice", Actor: "cli:root", Action: "reset", Detail: "n=5"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, store.Event{At: base, UserID: "bob", Actor: "radius", Action: "locked"}); err != nil {
		t.Fatal(err)
	}
	es, err := s.Events(ctx, "alice", 3)
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, e := range es {
		details = append(details, e.Detail)
	}
	if want := []string{"n=5", "n=4", "n=3"}; !slices.Equal(details, want) {
		t.Fatalf("Events(alice, 3) = %v, want %v", details, want)
	}
	e := es[0]
	if e.ID == 0 || e.UserID != "alice" || e.Actor != "cli:root" || e.Action != "reset" || !e.At.Equal(base.Add(4*time.Minute)) {
		t.Errorf("event = %+v", e)
	}
	for _, limit := range []int{0, -1, 100} {
		if all, err := s.Events(ctx, "alice", limit); err != nil || len(all) != 6 {
			t.Errorf("Events(alice, %d) = %d events, %v; want all 6", limit, len(all), err)
		}
	}
	if es, err := s.Events(ctx, "nobody", 10); err != nil || len(es) != 0 {
		t.Errorf("Events(unknown) = %v, %v", es, err)
	}
	if err := s.Audit(ctx, store.Event{UserID: "alice", Action: "x"}); err != nil {
		t.Errorf("Audit with zero time: %v", err)
	}
	if err := s.Audit(ctx, store.Event{UserID: "alice"}); err == nil {
		t.Error("Audit without an action succeeded")
	}
}

func testPurge(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	now := base.Add(time.Hour)
	expired := store.Challenge{State: "expired", UserID: "alice", ExpiresAt: now.Add(-time.Second)}
	expiringNow := store.Challenge{State: "expiring-now", UserID: "alice", ExpiresAt: now}
	live := store.Challenge{State: "live", UserID: "alice", ExpiresAt: now.Add(time.Minute)}
	for _, c := range []store.Challenge{expired, expiringNow, live} {
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	before := now.Add(-15 * time.Minute)
	for _, at := range []time.Time{before.Add(-time.Hour), before.Add(-time.Microsecond), before, now} {
		if err := s.RecordFailure(ctx, "alice", store.FailCode, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Purge(ctx, now, before); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountFailures(ctx, "alice", store.FailCode, time.Time{}); err != nil || n != 2 {
		t.Errorf("after Purge %d failures (%v), want 2 (those at or after before)", n, err)
	}
	// Taken with an early now, to see what Purge left rather than what
	// TakeChallenge's own expiry check refuses.
	early := base
	for _, c := range []store.Challenge{expired, expiringNow} {
		if _, err := s.TakeChallenge(ctx, c.State, early); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("challenge %s after Purge: %v, want ErrNotFound", c.State, err)
		}
	}
	if _, err := s.TakeChallenge(ctx, live.State, early); err != nil {
		t.Errorf("live challenge after Purge: %v", err)
	}
	if err := s.Purge(ctx, now, before); err != nil {
		t.Errorf("Purge with nothing to do: %v", err)
	}
}

func testPurgeSends(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	now := base.Add(time.Hour)
	before := now.Add(-15 * time.Minute)
	seed := store.SendLimits{PerUser: 1} // no window: always granted
	for _, at := range []time.Time{before.Add(-time.Hour), before.Add(-time.Microsecond), before, now} {
		wantSend(t, s, true, "alice", store.NewID(), at, seed)
	}
	wantSend(t, s, true, "bob", store.NewID(), before.Add(-time.Hour), seed)
	if err := s.Purge(ctx, now, before); err != nil {
		t.Fatal(err)
	}
	// Count what is left with caps over a window reaching back past all
	// of them: two of alice's sends (at and after before), none of bob's.
	at := now.Add(time.Microsecond)
	window := 100 * time.Hour
	wantSend(t, s, false, "alice", store.NewID(), at, store.SendLimits{PerUser: 2, PerUserWindow: window})
	wantSend(t, s, true, "alice", store.NewID(), at, store.SendLimits{PerUser: 3, PerUserWindow: window})
	wantSend(t, s, true, "bob", store.NewID(), at, store.SendLimits{PerUser: 1, PerUserWindow: window})
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctxFor(t)); err != nil {
		t.Error(err)
	}
}

func testCancelledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.GetUser(ctx, "alice"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetUser with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := s.UseTOTPStep(ctx, store.NewID(), 1, base); !errors.Is(err, context.Canceled) {
		t.Errorf("UseTOTPStep with a cancelled context = %v, want context.Canceled", err)
	}
	if err := s.Ping(ctxFor(t)); err != nil {
		t.Errorf("store unusable after a cancelled call: %v", err)
	}
}

// RunShared runs the behaviours of several stores sharing one database, as
// nodes do. Every call of open within one test opens another store on that
// test's database (new and empty for each test), with the given keys, and
// closes it when the test ends.
func RunShared(t *testing.T, open func(t *testing.T, enc store.Encryption) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open func(enc store.Encryption) store.Store)
	}{
		{"ChallengeTakenOnceAcrossNodes", testNodesChallenge},
		{"TOTPStepUsedOnceAcrossNodes", testNodesTOTPStep},
		{"ParallelGuessesStopAtTheLimitAcrossNodes", func(t *testing.T, open func(store.Encryption) store.Store) {
			enc := NewEncryption()
			guessesSerialised(t, []store.Store{open(enc), open(enc)})
		}},
		{"SendsLimitedAcrossNodes", testNodesSends},
		{"ChallengeSecretNeedsItsKey", testNodesChallengeKey},
		{"NodesSeeEachOthersWrites", testNodesWrites},
		{"RotatedKeyStillDecrypts", testKeyRotation},
		{"UnknownOrWrongKeyIsClearError", testWrongKey},
		{"LoginUnderWrongKeyReservesNothing", testLoginWrongKey},
		{"ApprovalsAcrossNodes", testNodesApprovals},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, func(enc store.Encryption) store.Store { return open(t, enc) })
		})
	}
}

func testNodesChallenge(t *testing.T, open func(store.Encryption) store.Store) {
	ctx := ctxFor(t)
	enc := NewEncryption()
	a, b := open(enc), open(enc)
	c := store.Challenge{State: store.NewID(), UserID: "alice", Client: "gw1", Groups: []string{"vpn"}, ExpiresAt: base.Add(time.Minute)}
	if err := a.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := b.TakeChallenge(ctx, c.State, base)
	if err != nil {
		t.Fatalf("challenge created on node a, taken on node b: %v", err)
	}
	if got.UserID != "alice" || got.Client != "gw1" || !slices.Equal(got.Groups, c.Groups) {
		t.Errorf("taken on b: %+v", got)
	}
	if _, err := a.TakeChallenge(ctx, c.State, base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("taken again on a: %v, want ErrNotFound", err)
	}

	// Both nodes race for one challenge.
	c.State = store.NewID()
	if err := b.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	nodes := []store.Store{a, b}
	wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		_, err := nodes[i%2].TakeChallenge(ctx, c.State, base)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if wins != 1 {
		t.Errorf("%d of %d goroutines on two nodes took the challenge, want exactly 1", wins, Racers)
	}
}

func testNodesTOTPStep(t *testing.T, open func(store.Encryption) store.Store) {
	ctx := ctxFor(t)
	enc := NewEncryption()
	a, b := open(enc), open(enc)
	m := totp("alice", base)
	mustAdd(t, a, m)
	if ok, err := a.UseTOTPStep(ctx, m.ID, 500, base); err != nil || !ok {
		t.Fatalf("step 500 on a = %v, %v; want true", ok, err)
	}
	if ok, err := b.UseTOTPStep(ctx, m.ID, 500, base); err != nil || ok {
		t.Errorf("step 500 again on b = %v, %v; want false", ok, err)
	}
	if ok, err := b.UseTOTPStep(ctx, m.ID, 499, base); err != nil || ok {
		t.Errorf("earlier step 499 on b = %v, %v; want false", ok, err)
	}
	nodes := []store.Store{a, b}
	wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		return nodes[i%2].UseTOTPStep(ctx, m.ID, 501, base)
	})
	if wins != 1 {
		t.Errorf("%d of %d goroutines on two nodes accepted step 501, want exactly 1", wins, Racers)
	}
}

func testNodesSends(t *testing.T, open func(store.Encryption) store.Store) {
	enc := NewEncryption()
	nodes := []store.Store{open(enc), open(enc)}
	l := store.SendLimits{PerMethod: time.Minute, PerUser: 3, PerUserWindow: time.Hour}
	wantSend(t, nodes[0], true, "alice", "M1", base, l)
	wantSend(t, nodes[1], false, "alice", "M1", base.Add(time.Second), l)

	m := store.NewID()
	if wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		return nodes[i%2].ReserveSend(ctx, "bob", m, base, l)
	}); wins != 1 {
		t.Errorf("%d of %d goroutines on two nodes reserved a send to one method, want exactly 1", wins, Racers)
	}
	if wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		return nodes[i%2].ReserveSend(ctx, "carol", fmt.Sprintf("m%d", i), base, l)
	}); wins != l.PerUser {
		t.Errorf("%d of %d goroutines on two nodes reserved a send to their own method, want exactly %d", wins, Racers, l.PerUser)
	}
}

// A challenge's secret is sealed like a method's: other key material under
// the same id does not open it, a rotated configuration that still lists
// the key does.
func testNodesChallengeKey(t *testing.T, open func(store.Encryption) store.Store) {
	ctx := ctxFor(t)
	k1 := NewKey("k1")
	a := open(store.Encryption{Keys: []store.EncryptionKey{k1}})
	wrong := open(NewEncryption())
	rotated := open(store.Encryption{Keys: []store.EncryptionKey{NewKey("k2"), k1}, Current: "k2"})
	onlyNew := open(store.Encryption{Keys: []store.EncryptionKey{NewKey("k2")}})
	issue := func() store.Challenge {
		t.Helper()
		c := store.Challenge{State: store.NewID(), UserID: "alice", Kind: "sms", Secret: []byte("738104"), ExpiresAt: base.Add(time.Minute)}
		if err := a.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, c := range []struct {
		name    string
		node    store.Store
		mention string
	}{
		{"other key material under the same id", wrong, `"k1"`},
		{"key no longer configured", onlyNew, `"k1"`},
	} {
		ch := issue()
		_, err := c.node.TakeChallenge(ctx, ch.State, base)
		if !errors.Is(err, store.ErrDecrypt) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: TakeChallenge = %v, want ErrDecrypt naming %s", c.name, err, c.mention)
		} else if strings.Contains(err.Error(), "738104") || strings.Contains(err.Error(), ch.State) {
			t.Errorf("%s: error shows the secret or the state: %v", c.name, err)
		}
		// Spent all the same.
		if _, err := a.TakeChallenge(ctx, ch.State, base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: challenge left after a failed take: %v", c.name, err)
		}
		ch = issue()
		_, _, _, err = c.node.Redeem(ctx, ch.State, base, store.AccountQuery{}, func(store.Challenge, store.Account) store.Redemption {
			t.Errorf("%s: decide called for a challenge that does not decrypt", c.name)
			return store.Redemption{}
		})
		if !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("%s: Redeem = %v, want ErrDecrypt", c.name, err)
		}
		if _, err := a.TakeChallenge(ctx, ch.State, base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: challenge left after a failed Redeem: %v", c.name, err)
		}
	}
	ch := issue()
	got, err := rotated.TakeChallenge(ctx, ch.State, base)
	if err != nil || string(got.Secret) != "738104" {
		t.Errorf("after rotation, a challenge sealed under k1: %q, %v", got.Secret, err)
	}
}

func testNodesWrites(t *testing.T, open func(store.Encryption) store.Store) {
	ctx := ctxFor(t)
	enc := NewEncryption()
	a, b := open(enc), open(enc)
	m := phone("alice", store.KindPhone, "+819012345678", base)
	mustAdd(t, a, m)
	if err := a.PutUser(ctx, store.User{ID: "alice", MFAApplied: true, DefaultMethod: m.ID}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddMethod(ctx, phone("alice", store.KindPhone, "+81000", base)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second phone via b = %v, want ErrConflict", err)
	}
	ms, err := b.Methods(ctx, "alice")
	if err != nil || len(ms) != 1 || ms[0].Phone != m.Phone {
		t.Fatalf("b sees %v, %v", ms, err)
	}
	if err := b.RecordFailure(ctx, "alice", store.FailCode, base); err != nil {
		t.Fatal(err)
	}
	if n, err := a.CountFailures(ctx, "alice", store.FailCode, base); err != nil || n != 1 {
		t.Errorf("a counts %d failures recorded on b (%v), want 1", n, err)
	}
	if err := b.Reset(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if u, err := a.GetUser(ctx, "alice"); err != nil || u.DefaultMethod != "" || !u.MFAApplied {
		t.Errorf("a sees after b's Reset: %+v, %v", u, err)
	}
}

func testKeyRotation(t *testing.T, open func(store.Encryption) store.Store) {
	ctx := ctxFor(t)
	k1, k2 := NewKey("k1"), NewKey("k2")
	old := open(store.Encryption{Keys: []store.EncryptionKey{k1}})
	m1 := totp("alice", base)
	mustAdd(t, old, m1)

	// k2 becomes current; k1 stays listed to read old rows.
	rotated := open(store.Encryption{Keys: []store.EncryptionKey{k2, k1}, Current: "k2"})
	m2 := phone("alice", store.KindPhone, "+4915112345678", base.Add(time.Second))
	mustAdd(t, rotated, m2)
	ms, err := rotated.Methods(ctx, "alice")
	if err != nil {
		t.Fatalf("rows under the old key after rotation: %v", err)
	}
	if len(ms) != 2 || !sameSecrets(ms[0], m1) || !sameSecrets(ms[1], m2) {
		t.Fatalf("after rotation: %v", ms)
	}

	// Without k1 the old row is a clear error naming the key.
	onlyNew := open(store.Encryption{Keys: []store.EncryptionKey{k2}})
	_, err = onlyNew.Methods(ctx, "alice")
	if !errors.Is(err, store.ErrDecrypt) || !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("reading a k1 row without k1 = %v, want ErrDecrypt naming k1", err)
	}

	rk, ok := rotated.(store.Rekeyer)
	if !ok {
		t.Fatalf("%T does not implement store.Rekeyer", rotated)
	}
	n, err := rk.Rekey(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Rekey = %d, %v; want 1 method re-encrypted", n, err)
	}
	if n, err := rk.Rekey(ctx); err != nil || n != 0 {
		t.Errorf("second Rekey = %d, %v; want 0", n, err)
	}
	ms, err = onlyNew.Methods(ctx, "alice")
	if err != nil {
		t.Fatalf("after Rekey, without k1: %v", err)
	}
	if len(ms) != 2 || !sameSecrets(ms[0], m1) || !sameSecrets(ms[1], m2) {
		t.Fatalf("after Rekey: %v", ms)
	}
	// Rekey kept what is not a secret.
	if ok, err := onlyNew.UseTOTPStep(ctx, m1.ID, 1, base); err != nil || !ok {
		t.Errorf("UseTOTPStep after Rekey = %v, %v", ok, err)
	}
}

func testWrongKey(t *testing.T, open func(store.Encryption) store.Store) {
	ctx := ctxFor(t)
	s := open(NewEncryption())
	mustAdd(t, s, totp("alice", base))
	// Same id, other key material: an operator pasted the wrong key.
	other := open(NewEncryption())
	_, err := other.Methods(ctx, "alice")
	if !errors.Is(err, store.ErrDecrypt) {
		t.Fatalf("Methods under the wrong key material = %v, want ErrDecrypt", err)
	}
	if strings.Contains(err.Error(), "JBSWY3DP") {
		t.Errorf("error shows the secret: %v", err)
	}
	// What is not encrypted still works.
	if _, err := other.GetUser(ctx, "alice"); err != nil {
		t.Error(err)
	}
}

// A node that cannot decrypt the user's methods (the wrong key) fails
// the login and leaves no pending attempt behind, which would otherwise
// count as a failure once stale and pause the user.
func testLoginWrongKey(t *testing.T, open func(store.Encryption) store.Store) {
	ctx := ctxFor(t)
	s := open(NewEncryption())
	mustAdd(t, s, totp("alice", base))
	other := open(NewEncryption())
	q := store.AccountQuery{PasswordSince: base.Add(-time.Hour), CodeSince: base.Add(-time.Hour), CodeDaySince: base.Add(-time.Hour)}
	if _, _, err := other.Login(ctx, "alice", base, q, 5); !errors.Is(err, store.ErrDecrypt) {
		t.Fatalf("Login under the wrong key material = %v, want ErrDecrypt", err)
	}
	if n, err := s.CountFailures(ctx, "alice", store.FailPassword, q.PasswordSince); err != nil || n != 0 {
		t.Errorf("a failed Login left %d attempts (%v), want none", n, err)
	}
}

// race starts n goroutines at once and counts how many report true.
func race(t *testing.T, n int, fn func(ctx context.Context, i int) (bool, error)) int {
	t.Helper()
	ctx := ctxFor(t)
	var (
		wins  atomic.Int32
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := fn(ctx, i)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("racing goroutine: %v", err)
	}
	return int(wins.Load())
}

func totp(user string, created time.Time) store.Method {
	return store.Method{ID: store.NewID(), UserID: user, Kind: store.KindTOTP, Label: "app",
		Secret: []byte("JBSWY3DPEHPK3PXP-" + user), CreatedAt: created}
}

func phone(user string, kind store.MethodKind, number string, created time.Time) store.Method {
	m := store.Method{ID: store.NewID(), UserID: user, Kind: kind, Phone: number, CreatedAt: created}
	if kind == store.KindOfficePhone {
		m.Extension = "123"
	}
	return m
}

func mustAdd(t *testing.T, s store.Store, ms ...store.Method) {
	t.Helper()
	for _, m := range ms {
		if err := s.AddMethod(ctxFor(t), m); err != nil {
			t.Fatalf("AddMethod(%s %s of %s): %v", m.Kind, m.ID, m.UserID, err)
		}
	}
}

func sameChallenge(a, b store.Challenge) bool {
	return a.State == b.State && a.UserID == b.UserID && a.Client == b.Client && a.MethodID == b.MethodID &&
		a.Kind == b.Kind && bytes.Equal(a.Secret, b.Secret) && slices.Equal(a.Options, b.Options) &&
		a.Attempts == b.Attempts && slices.Equal(a.Groups, b.Groups) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.CreatedAt.Equal(b.CreatedAt)
}

func sameSecrets(a, b store.Method) bool {
	return bytes.Equal(a.Secret, b.Secret) && a.Phone == b.Phone && a.Extension == b.Extension
}

func sameMethod(a, b store.Method) bool {
	return a.ID == b.ID && a.UserID == b.UserID && a.Kind == b.Kind && a.Label == b.Label && sameSecrets(a, b) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.LastUsed.Equal(b.LastUsed) && a.LastStep == b.LastStep
}

// describe prints a method for a test failure; these are test secrets.
func describe(m store.Method) string {
	return fmt.Sprintf("{%s user=%s kind=%s label=%q secret=%x phone=%q ext=%q created=%v used=%v step=%d}",
		m.ID, m.UserID, m.Kind, m.Label, m.Secret, m.Phone, m.Extension, m.CreatedAt, m.LastUsed, m.LastStep)
}
