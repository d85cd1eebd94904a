package challenge

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kakunin/store"
)

// A variant of a name the directory takes for the same account ("ALICE",
// full-width digits) is refused before the directory and the store: it
// never becomes another key with no methods (accepted on the password
// alone under mfa: optional), nor gets its own password guesses.
func TestNameVariantsAreRefusedBeforeTheDirectory(t *testing.T) {
	f := newFixtureWith(t, func(c *Config) { c.UserPattern = `^\S{1,64}$` }, nil)
	optional := Policy{MFAOptional: true}
	variants := []string{"２０２４０００００１", "2024000001\u200b"}
	f.dir.password["alice"] = "pw"
	if _, _, err := mustAdmin(t, f).AddTOTP(context.Background(), "alice", "", f.seed, "test"); err != nil {
		t.Fatal(err)
	}
	variants = append(variants, "ALICE", "Alice", "ａｌｉｃｅ")
	for _, v := range variants {
		d := f.e.Authenticate(context.Background(), &Request{Client: "gw", UserName: v, Password: "pw", Policy: optional})
		if d.Outcome != Reject || d.Reason != "name_not_canonical" {
			t.Errorf("%q: %+v, want a reject before the directory", v, d)
		}
	}
	if n := f.dir.calls.Load(); n != 0 {
		t.Errorf("variants reached the directory %d times", n)
	}
	// The canonical name signs in as usual, and its lockout is not
	// shared out among variants: none of them counted anywhere.
	if d := f.e.Authenticate(context.Background(), &Request{Client: "gw", UserName: "alice", Password: "pw", Policy: optional}); d.Outcome != Challenge {
		t.Fatalf("alice: %+v, want the code asked for", d)
	}
	for _, v := range variants {
		if n, _ := f.st.CountFailures(context.Background(), v, store.FailPassword, time.Time{}); n != 0 {
			t.Errorf("%q has %d failures recorded", v, n)
		}
	}
}

// The portal's sign-in refuses variants alike.
func TestPortalSignInRefusesNameVariants(t *testing.T) {
	f := newFixtureWith(t, func(c *Config) { c.UserPattern = `^[\p{L}\p{N}]{1,64}$` }, nil)
	f.dir.password["alice"] = "pw"
	if _, err := f.e.CheckPassword(context.Background(), "ALICE", "pw"); err != ErrNameForm {
		t.Errorf("portal sign-in as ALICE: %v, want ErrNameForm", err)
	}
	if _, err := f.e.CheckPassword(context.Background(), "alice", "pw"); err != nil {
		t.Errorf("portal sign-in as alice: %v", err)
	}
}

// A good "password,CODE" sign-in costs one bind with the password and no
// failure: before, the whole string was bound first and counted, so four
// good sign-ins in the window paused the user and each cost a failed bind
// on the directory's own lockout counter.
func TestGoodSuffixedSignInsCountNoFailure(t *testing.T) {
	f := newFixture(t)
	suffix := Policy{PasswordSuffix: true}
	for i := 0; i < 8; i++ {
		f.clock.advance(30 * time.Second) // a fresh code each time
		d := f.e.Authenticate(context.Background(), &Request{Client: "gw", UserName: alice, Password: "alice-pw," + f.code(), Policy: suffix})
		if d.Outcome != Accept {
			t.Fatalf("good sign-in %d: %+v", i, d)
		}
	}
	if n, _ := f.st.CountFailures(context.Background(), alice, store.FailPassword, time.Time{}); n != 0 {
		t.Errorf("%d password failures after good sign-ins, want 0", n)
	}
	for i, pw := range f.dir.binds {
		if pw != "alice-pw" {
			t.Errorf("bind %d tried %q: a good sign-in must bind only the password", i, pw)
		}
	}
	if len(f.dir.binds) != 8 {
		t.Errorf("%d binds for 8 sign-ins, want 8", len(f.dir.binds))
	}
}

// A password that itself ends in ",123456" still works in the suffix
// mode; the failed bind of its first part is not held against the user.
func TestPasswordEndingInACodeIsNotCountedAsAFailure(t *testing.T) {
	f := newFixture(t)
	f.dir.password[alice] = "secret,123456"
	for i := 0; i < 6; i++ {
		d := f.e.Authenticate(context.Background(), &Request{Client: "gw", UserName: alice, Password: "secret,123456", Policy: Policy{PasswordSuffix: true}})
		if d.Outcome != Challenge {
			t.Fatalf("sign-in %d: %+v", i, d)
		}
	}
	if n, _ := f.st.CountFailures(context.Background(), alice, store.FailPassword, time.Time{}); n != 0 {
		t.Errorf("%d password failures, want 0", n)
	}
}

// Many good sign-ins of one user at once are never told "locked": only
// failures pause a user. Before, each attempt in flight counted as a
// failure, so 60 parallel good sign-ins got 38 "locked".
func TestParallelGoodSignInsAreNeverLocked(t *testing.T) {
	f := newFixture(t)
	// Hold the first binds until the limit's worth is in flight at once.
	var inFlight atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	f.dir.gate = func() {
		if inFlight.Add(1) >= int32(f.e.cfg.PasswordLockout.Failures) {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
	}
	const n = 60
	var wg sync.WaitGroup
	got := make([]Decision, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = f.auth(alice, "alice-pw", nil, "gw") }()
	}
	wg.Wait()
	for i, d := range got {
		if d.Outcome != Challenge {
			t.Errorf("sign-in %d: %s %s, want a challenge", i, d.Outcome, d.Reason)
		}
	}
	if m := f.dir.calls.Load(); m != n {
		t.Errorf("%d binds for %d sign-ins", m, n)
	}
}

// Parallel wrong passwords reach the directory at most the limit's times
// and the lockout is announced once: one audit event, one count.
func TestParallelWrongPasswordsAnnounceOneLockout(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixtureWith(t, nil, reg)
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() { defer wg.Done(); f.auth(alice, "wrong", nil, "gw") }()
	}
	wg.Wait()
	if n := f.dir.calls.Load(); n != 5 {
		t.Errorf("%d parallel wrong passwords reached the directory, want the limit of 5", n)
	}
	ev, err := f.st.Events(context.Background(), alice, 0)
	if err != nil {
		t.Fatal(err)
	}
	locked := 0
	for _, e := range ev {
		if e.Action == "locked" {
			locked++
		}
	}
	if locked != 1 {
		t.Errorf("%d locked events, want 1", locked)
	}
	if lockouts := counter(t, reg, "kakunin_auth_lockouts_total", "kind", "password"); lockouts != 1 {
		t.Errorf("kakunin_auth_lockouts_total{kind=password} = %v, want 1", lockouts)
	}
	if d := f.auth(alice, "alice-pw", nil, "gw"); d.Reason != "locked" {
		t.Errorf("after the lockout: %+v", d)
	}
}

func mustAdmin(t *testing.T, f *fixture) *Admin {
	t.Helper()
	a, err := NewAdmin(f.e.cfg, f.st, AdminClock(f.clock.now))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// counter reads one counter of reg with the label name=value.
func counter(t *testing.T, reg *prometheus.Registry, metric, name, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == name && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
