package ldapauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"kakunin/internal/testenv"
)

// A black hole (accepts TCP, never answers) as the first URL: every login
// succeeds through the second, also each time the back-off has expired
// and the pools' connections have gone idle, so that the next user bind
// dials the black hole again. Connecting does not end the back-off; the
// bind's timeout marks the black hole down (for longer each time), and
// the bind is tried on the next server.
func TestBlackHoleFirstServerLoginsSucceedAfterBackOff(t *testing.T) {
	s := testSlapd(t)
	hole, _ := silentServer(t)
	for _, tc := range []struct{ name, template string }{
		{"search then bind", ""},
		{"bind template", "uid=%s," + s.PeopleDN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(s)
			cfg.URLs = []string{"ldap://" + hole, s.URL}
			cfg.BindTemplate = tc.template
			cfg.Timeout = 200 * time.Millisecond
			d, reg := newDirectory(t, cfg)
			clock := newTestClock()
			d.now = clock.now
			black := d.servers[0]

			for round := range 4 {
				user := testenv.UserID(21 + round%2)
				if _, err := d.Authenticate(ctx, user, testenv.UserPassword(21+round%2)); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if !black.down(clock.now()) {
					t.Errorf("round %d: the black hole is not backing off", round)
				}
				// Past the longest back-off and every connection's idle
				// limit.
				clock.add(maxBackoff + maxIdle)
			}
			black.mu.Lock()
			failures := black.failures
			black.mu.Unlock()
			if failures < 4 {
				t.Errorf("black hole failed %d times in a row, want at least 4 (a connection must not reset its back-off)", failures)
			}
			if n := counter(t, reg, "kakunin_ldap_errors_total", "server", "1"); n != 0 {
				t.Errorf("%v errors at the working server", n)
			}
		})
	}
}

// A wrong password that timed out at the black hole is tried once more,
// at the next server, which refuses it: invalid credentials, not
// unavailable.
func TestWrongPasswordBehindBlackHoleIsRefusedByTheNextServer(t *testing.T) {
	s := testSlapd(t)
	hole, _ := silentServer(t)
	cfg := baseConfig(s)
	cfg.URLs = []string{"ldap://" + hole, s.URL}
	cfg.BindTemplate = "uid=%s," + s.PeopleDN
	cfg.Timeout = 200 * time.Millisecond
	d, reg := newDirectory(t, cfg)
	clock := newTestClock()
	d.now = clock.now
	// The first user connection is dialled at the black hole.
	if _, err := d.Authenticate(ctx, testenv.UserID(23), "wrong"); err != ErrInvalidCredentials {
		t.Fatalf("err = %v, want ErrInvalidCredentials", err)
	}
	if n := opCount(t, reg, opBind); n != 2 {
		t.Errorf("%d binds, want 2 (one unanswered, one refused)", n)
	}
}

// A bind that got an answer, any answer, is never sent to another server:
// a wrong password must reach the directory once.
func TestAnsweredBindIsNeverRetried(t *testing.T) {
	s := testSlapd(t)
	for _, tc := range []struct {
		name string
		code uint16
		want error
	}{
		{"invalid credentials", ldap.LDAPResultInvalidCredentials, ErrInvalidCredentials},
		{"busy", ldap.LDAPResultBusy, ErrUnavailable},
		{"unavailable", ldap.LDAPResultUnavailable, ErrUnavailable},
		{"other error", ldap.LDAPResultOther, ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := startAnsweringServer(t, tc.code)
			next, accepted := silentServer(t)
			cfg := baseConfig(s)
			cfg.URLs = []string{first.URL(), "ldap://" + next}
			cfg.BindTemplate = "uid=%s," + s.PeopleDN
			d, _ := newDirectory(t, cfg)
			_, err := d.Authenticate(ctx, testenv.UserID(24), testenv.UserPassword(24))
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if n := first.bindCount(); n != 1 {
				t.Errorf("first server got %d binds, want 1", n)
			}
			if len(accepted) != 0 {
				t.Error("the bind was sent to the next server too")
			}
		})
	}
}

// A bind with no answer is retried only on another server: with one URL,
// it is not retried at all.
func TestUnansweredBindIsNotRetriedOnTheSameServer(t *testing.T) {
	s := testSlapd(t)
	hole, _ := silentServer(t)
	cfg := baseConfig(s)
	cfg.URLs = []string{"ldap://" + hole}
	cfg.BindTemplate = "uid=%s," + s.PeopleDN
	cfg.Timeout = 100 * time.Millisecond
	d, reg := newDirectory(t, cfg)
	if _, err := d.Authenticate(ctx, testenv.UserID(25), testenv.UserPassword(25)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if n := opCount(t, reg, opBind); n != 1 {
		t.Errorf("%d binds, want 1", n)
	}
}

// Readiness with a black hole first: the directory is ready because the
// second server answers, and the probe marks no server down, not even
// the black hole (a login's own timeout does that).
func TestPingAnswersThroughSecondServerAndMarksNoServerDown(t *testing.T) {
	s := testSlapd(t)
	hole, _ := silentServer(t)
	cfg := baseConfig(s)
	cfg.URLs = []string{"ldap://" + hole, s.URL}
	cfg.Timeout = time.Hour // only the probe's context can end a probe
	d, reg := newDirectory(t, cfg)
	clock := newTestClock()
	d.now = clock.now

	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.Ping(pctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if err := d.Ping(expired); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping with an expired context: %v, want ErrUnavailable", err)
	}
	for _, srv := range d.servers {
		if srv.down(clock.now()) {
			t.Errorf("%s marked down by a probe", srv.url)
		}
	}
	if n := counter(t, reg, "kakunin_ldap_errors_total"); n != 0 {
		t.Errorf("probes counted %v server errors", n)
	}
}
