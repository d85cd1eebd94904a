package challenge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kakunin/internal/secret"
	"kakunin/ldapauth"
	"kakunin/store"
)

// fakeDirectory stands in for ldapauth in unit tests; the integration
// tests in cmd/kakunin run the flow against a real slapd.
type fakeDirectory struct {
	mu       sync.Mutex
	password map[string]string
	err      error
	calls    atomic.Int32
	binds    []string // the passwords tried, in order
	// gate, when set, is waited on by every call before it answers (to
	// hold binds in flight at once).
	gate func()
}

func (d *fakeDirectory) Authenticate(ctx context.Context, user, password string) (ldapauth.Entry, error) {
	d.calls.Add(1)
	if d.gate != nil {
		d.gate()
	}
	d.mu.Lock()
	d.binds = append(d.binds, password)
	defer d.mu.Unlock()
	if d.err != nil {
		return ldapauth.Entry{}, d.err
	}
	if pw, ok := d.password[user]; !ok || pw != password {
		return ldapauth.Entry{}, ldapauth.ErrInvalidCredentials
	}
	return ldapauth.Entry{DN: "uid=" + user + ",ou=people", Groups: []string{"cn=vpn-staff,ou=groups"}}, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	e     *Engine
	st    store.Store
	dir   *fakeDirectory
	clock *clock
	seed  []byte
}

const (
	alice = "2024000001" // enrolled with TOTP
	bob   = "2024000002" // no method
)

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, nil, nil) }

// newFixtureWith is newFixture with the flow's configuration changed by
// mod and, when reg is not nil, the engine's metrics registered there.
func newFixtureWith(t *testing.T, mod func(*Config), reg prometheus.Registerer) *fixture {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	cfg := store.Config{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "k.db")}
	cfg.Encryption.Keys = []store.EncryptionKey{{ID: "t", Key: secret.New(base64.StdEncoding.EncodeToString(key))}}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 11, 25, 9, 0, 10, 0, time.UTC)}
	var fc Config
	fc.SetDefaults()
	fc.EnrollURL = "https://mfa.example/"
	fc.Languages = []string{"en"}
	if mod != nil {
		mod(&fc)
	}
	dir := &fakeDirectory{password: map[string]string{alice: "alice-pw", bob: "bob-pw"}}
	e, err := New(fc, dir, st, slog.New(slog.NewTextHandler(io.Discard, nil)), reg, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := NewAdmin(fc, st, AdminClock(clk.now))
	seed := []byte("12345678901234567890")
	if _, _, err := admin.AddTOTP(context.Background(), alice, "", seed, "test"); err != nil {
		t.Fatal(err)
	}
	return &fixture{e: e, st: st, dir: dir, clock: clk, seed: seed}
}

func (f *fixture) auth(user, pw string, state []byte, client string) Decision {
	return f.e.Authenticate(context.Background(), &Request{Client: client, UserName: user, Password: pw, State: state})
}

func (f *fixture) code() string { return TOTPCode(f.seed, f.clock.now()) }

func TestTOTPTwoRoundsAccept(t *testing.T) {
	f := newFixture(t)
	d := f.auth(alice, "alice-pw", nil, "gw")
	if d.Outcome != Challenge || len(d.State) < 26 {
		t.Fatalf("round 1: %+v", d)
	}
	if !strings.Contains(d.Messages[0], "6-digit code") {
		t.Errorf("prompt: %q", d.Messages)
	}
	for _, b := range d.State {
		if b < 0x21 || b > 0x7e {
			t.Fatalf("State is not printable: %q", d.State)
		}
	}
	d = f.auth(alice, f.code(), d.State, "gw")
	if d.Outcome != Accept || d.Reason != "ok" || len(d.Groups) != 1 {
		t.Fatalf("round 2: %+v", d)
	}
}

func TestCodeWorksOnce(t *testing.T) {
	f := newFixture(t)
	code := f.code()
	d := f.auth(alice, "alice-pw", nil, "gw")
	if d = f.auth(alice, code, d.State, "gw"); d.Outcome != Accept {
		t.Fatalf("first use: %+v", d)
	}
	d = f.auth(alice, "alice-pw", nil, "gw")
	d = f.auth(alice, code, d.State, "gw")
	if d.Outcome != Challenge || d.Reason != "replayed_code" {
		t.Fatalf("replay: %+v", d)
	}
	// The previous step's code, though inside the skew, is older than the
	// one used: refused as well.
	old := TOTPCode(f.seed, f.clock.now().Add(-30*time.Second))
	if d = f.auth(alice, old, d.State, "gw"); d.Outcome == Accept {
		t.Fatalf("older code accepted: %+v", d)
	}
}

func TestCodeFromNextStepAccepted(t *testing.T) {
	f := newFixture(t)
	d := f.auth(alice, "alice-pw", nil, "gw")
	next := TOTPCode(f.seed, f.clock.now().Add(30*time.Second))
	if d = f.auth(alice, next, d.State, "gw"); d.Outcome != Accept {
		t.Fatalf("skew +1: %+v", d)
	}
	d = f.auth(alice, "alice-pw", nil, "gw")
	far := TOTPCode(f.seed, f.clock.now().Add(90*time.Second))
	if d = f.auth(alice, far, d.State, "gw"); d.Outcome == Accept {
		t.Fatalf("skew +3 accepted: %+v", d)
	}
}

func TestWrongCodeRechallengesThenRejects(t *testing.T) {
	f := newFixture(t)
	d := f.auth(alice, "alice-pw", nil, "gw")
	for i := 1; i < 3; i++ {
		prev := d.State
		d = f.auth(alice, "000000", d.State, "gw")
		if d.Outcome != Challenge || string(d.State) == string(prev) {
			t.Fatalf("wrong code %d: %+v", i, d)
		}
		if !strings.Contains(d.Messages[0], "not correct") {
			t.Errorf("message: %q", d.Messages)
		}
	}
	d = f.auth(alice, "000000", d.State, "gw")
	if d.Outcome != Reject {
		t.Fatalf("third wrong code: %+v", d)
	}
}

func TestStateIsSingleUseAndBound(t *testing.T) {
	f := newFixture(t)
	d := f.auth(alice, "alice-pw", nil, "gw")
	if got := f.auth(alice, f.code(), d.State, "other-gw"); got.Outcome != Reject || got.Reason != "state_mismatch" {
		t.Fatalf("state from another client: %+v", got)
	}
	// The attempt above consumed the state: it is gone for everyone.
	if got := f.auth(alice, f.code(), d.State, "gw"); got.Outcome != Reject || got.Reason != "unknown_state" {
		t.Fatalf("reused state: %+v", got)
	}
	d = f.auth(alice, "alice-pw", nil, "gw")
	if got := f.auth(bob, f.code(), d.State, "gw"); got.Outcome != Reject || got.Reason != "state_mismatch" {
		t.Fatalf("state for another user: %+v", got)
	}
}

func TestChallengeExpires(t *testing.T) {
	f := newFixture(t)
	d := f.auth(alice, "alice-pw", nil, "gw")
	f.clock.advance(121 * time.Second)
	if got := f.auth(alice, f.code(), d.State, "gw"); got.Outcome != Reject || got.Reason != "unknown_state" {
		t.Fatalf("expired challenge: %+v", got)
	}
}

func TestPasswordLockoutSparesTheDirectory(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		if d := f.auth(alice, "wrong", nil, "gw"); d.Reason != "bad_password" {
			t.Fatalf("attempt %d: %+v", i, d)
		}
	}
	before := f.dir.calls.Load()
	d := f.auth(alice, "alice-pw", nil, "gw")
	if d.Outcome != Reject || d.Reason != "locked" {
		t.Fatalf("locked user: %+v", d)
	}
	if f.dir.calls.Load() != before {
		t.Error("a paused user still reached the directory")
	}
	f.clock.advance(16 * time.Minute)
	if d := f.auth(alice, "alice-pw", nil, "gw"); d.Outcome != Challenge {
		t.Fatalf("after the window: %+v", d)
	}
	ev, _ := f.st.Events(context.Background(), alice, 10)
	if len(ev) == 0 || ev[0].Action != "locked" {
		t.Errorf("lockout not audited: %+v", ev)
	}
}

func TestCodeLockoutPerWindowAndUnlock(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 10; i++ {
		d := f.auth(alice, "alice-pw", nil, "gw")
		if d.Outcome != Challenge {
			t.Fatalf("login %d: %+v", i, d)
		}
		f.auth(alice, "111111", d.State, "gw")
	}
	if d := f.auth(alice, "alice-pw", nil, "gw"); d.Reason != "locked" {
		t.Fatalf("after 10 wrong codes: %+v", d)
	}
	admin, _ := NewAdmin(f.e.cfg, f.st, AdminClock(f.clock.now))
	if err := admin.Unlock(context.Background(), alice, "test"); err != nil {
		t.Fatal(err)
	}
	d := f.auth(alice, "alice-pw", nil, "gw")
	if d = f.auth(alice, f.code(), d.State, "gw"); d.Outcome != Accept {
		t.Fatalf("after unlock: %+v", d)
	}
}

func TestCodeLockoutDaily(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 30; i++ {
		if i > 0 && i%10 == 0 {
			f.clock.advance(16 * time.Minute)
		}
		d := f.auth(alice, "alice-pw", nil, "gw")
		if d.Outcome != Challenge {
			t.Fatalf("login %d: %+v", i, d)
		}
		f.auth(alice, "111111", d.State, "gw")
	}
	f.clock.advance(16 * time.Minute)
	if d := f.auth(alice, "alice-pw", nil, "gw"); d.Reason != "locked" {
		t.Fatalf("after 30 wrong codes in a day: %+v", d)
	}
	f.clock.advance(24 * time.Hour)
	if d := f.auth(alice, "alice-pw", nil, "gw"); d.Outcome != Challenge {
		t.Fatalf("next day: %+v", d)
	}
}

func TestNoMethodPolicy(t *testing.T) {
	f := newFixture(t)
	d := f.auth(bob, "bob-pw", nil, "gw")
	if d.Outcome != Reject || d.Reason != "no_method" || !strings.Contains(d.Messages[0], "https://mfa.example/") {
		t.Fatalf("required: %+v", d)
	}
	d = f.e.Authenticate(context.Background(), &Request{Client: "gw", UserName: bob, Password: "bob-pw", Policy: Policy{MFAOptional: true}})
	if d.Outcome != Accept || d.Reason != "password_only" {
		t.Fatalf("optional: %+v", d)
	}
}

func TestRejectsDoNotRevealUsers(t *testing.T) {
	f := newFixture(t)
	unknown := f.auth("2099999999", "x", nil, "gw")
	wrong := f.auth(alice, "x", nil, "gw")
	if unknown.Outcome != Reject || wrong.Outcome != Reject || strings.Join(unknown.Messages, "|") != strings.Join(wrong.Messages, "|") {
		t.Fatalf("unknown user %+v vs wrong password %+v", unknown, wrong)
	}
}

func TestInputRejectedBeforeDirectory(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ user, pw, reason string }{
		{"alice", "pw", "bad_username"},
		{"123", "pw", "bad_username"},
		{"20240000011", "pw", "bad_username"},
		{"*", "pw", "bad_username"},
		{alice, "", "empty_password"},
	} {
		if d := f.auth(tc.user, tc.pw, nil, "gw"); d.Outcome != Reject || d.Reason != tc.reason {
			t.Errorf("%q/%q: %+v", tc.user, tc.pw, d)
		}
	}
	if n := f.dir.calls.Load(); n != 0 {
		t.Errorf("directory queried %d times", n)
	}
}

func TestUnavailableNeverAccepts(t *testing.T) {
	f := newFixture(t)
	f.dir.err = errors.Join(ldapauth.ErrUnavailable, errors.New("connection refused"))
	d := f.auth(alice, "alice-pw", nil, "gw")
	if d.Outcome != Reject || d.Reason != "directory_error" || !strings.Contains(d.Messages[0], "temporarily unavailable") {
		t.Fatalf("reject policy: %+v", d)
	}
	d = f.e.Authenticate(context.Background(), &Request{Client: "gw", UserName: alice, Password: "alice-pw", Policy: Policy{DropWhenUnavailable: true}})
	if d.Outcome != Drop {
		t.Fatalf("drop policy: %+v", d)
	}
	f.dir.err = nil
	f.st.Close()
	if d := f.auth(alice, "alice-pw", nil, "gw"); d.Outcome == Accept || d.Outcome == Challenge {
		t.Fatalf("closed store: %+v", d)
	}
}

func TestConcurrentSecondRoundsAcceptOnce(t *testing.T) {
	f := newFixture(t)
	code := f.code()
	var states [][]byte
	for i := 0; i < 8; i++ {
		states = append(states, f.auth(alice, "alice-pw", nil, "gw").State)
	}
	var accepts atomic.Int32
	var wg sync.WaitGroup
	for _, s := range states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.auth(alice, code, s, "gw").Outcome == Accept {
				accepts.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := accepts.Load(); n != 1 {
		t.Fatalf("one code accepted %d times", n)
	}
}

// RFC 6238 appendix B, SHA-1, truncated to 6 digits.
func TestTOTPVectors(t *testing.T) {
	seed := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
	}{{59, "287082"}, {1111111109, "081804"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		if got := TOTPCode(seed, time.Unix(v.unix, 0)); got != v.code {
			t.Errorf("T=%d: got %s want %s", v.unix, got, v.code)
		}
		step, ok := matchTOTP(seed, v.code, time.Unix(v.unix, 0))
		if !ok || step != v.unix/30 {
			t.Errorf("T=%d: match %d %v", v.unix, step, ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.UserPattern = "(" }, "user_pattern"},
		{func(c *Config) { c.Languages = []string{"fr"} }, "languages[0]"},
		{func(c *Config) { c.ChallengeTTL = time.Hour }, "challenge_ttl"},
		{func(c *Config) { c.CodeLockout.DailyFailures = 100 }, "code_lockout.daily_failures"},
		{func(c *Config) { c.Messages = map[string]map[string]string{"nope": {"en": "x"}} }, "messages.nope"},
	} {
		var c Config
		c.SetDefaults()
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("want error at %s, got %v", tc.want, err)
		}
	}
}

// Wrong codes sent on many challenges at once must not outrun the lockout:
// each is counted before the next is evaluated.
func TestParallelWrongCodesStopAtTheLimit(t *testing.T) {
	f := newFixture(t)
	var states [][]byte
	for i := 0; i < 30; i++ {
		d := f.auth(alice, "alice-pw", nil, "gw")
		if d.Outcome != Challenge {
			t.Fatalf("login %d: %+v", i, d)
		}
		states = append(states, d.State)
	}
	var wg sync.WaitGroup
	for _, s := range states {
		wg.Add(1)
		go func() { defer wg.Done(); f.auth(alice, "000000", s, "gw") }()
	}
	wg.Wait()
	n, err := f.st.CountFailures(context.Background(), alice, store.FailCode, f.clock.now().Add(-time.Hour))
	if err != nil || n != 10 {
		t.Fatalf("%d wrong codes evaluated in parallel, %v; want exactly the window's limit of 10", n, err)
	}
}

// Wrong passwords sent at once must not outrun the pause: at most the
// limit reach the directory.
func TestParallelWrongPasswordsStopAtTheLimit(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); f.auth(alice, "wrong", nil, "gw") }()
	}
	wg.Wait()
	if n := f.dir.calls.Load(); n != 5 {
		t.Fatalf("%d parallel wrong passwords reached the directory, want exactly the limit of 5", n)
	}
	// A right password is not left counted as a failure.
	f2 := newFixture(t)
	for i := 0; i < 8; i++ {
		if d := f2.auth(alice, "alice-pw", nil, "gw"); d.Outcome != Challenge {
			t.Fatalf("login %d with the right password: %+v", i, d)
		}
	}
}

// A client entry may cover a range of gateways: a State is bound to the
// one it was issued to.
func TestStateBoundToTheGatewayAddress(t *testing.T) {
	f := newFixture(t)
	from := func(addr, pw string, state []byte) Decision {
		return f.e.Authenticate(context.Background(), &Request{Client: "gw", ClientAddr: netip.MustParseAddr(addr),
			UserName: alice, Password: pw, State: state})
	}
	d := from("192.0.2.10", "alice-pw", nil)
	if got := from("192.0.2.11", f.code(), d.State); got.Outcome != Reject || got.Reason != "state_mismatch" {
		t.Fatalf("State answered from another gateway of the same client: %+v", got)
	}
	d = from("192.0.2.10", "alice-pw", nil)
	if got := from("192.0.2.10", f.code(), d.State); got.Outcome != Accept {
		t.Fatalf("same gateway: %+v", got)
	}
}
