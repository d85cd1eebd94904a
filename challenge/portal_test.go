package challenge

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPortalPasswordUnknownUserLooksLikeWrongPassword(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, c := range []struct{ what, user, pw string }{
		{"wrong password", alice, "nope"},
		{"unknown user", "2099999999", "nope"},
		{"malformed ID", "alice", "alice-pw"},
		{"empty password", alice, ""},
	} {
		if _, err := f.e.CheckPassword(ctx, c.user, c.pw); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%s: %v, want ErrBadCredentials", c.what, err)
		}
	}
	if _, err := f.e.CheckPassword(ctx, alice, "alice-pw"); err != nil {
		t.Errorf("right password: %v", err)
	}
}

func TestPortalWrongPasswordsPauseRADIUSToo(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for range f.e.cfg.PasswordLockout.Failures {
		f.e.CheckPassword(ctx, alice, "nope")
	}
	if _, err := f.e.CheckPassword(ctx, alice, "alice-pw"); !errors.Is(err, ErrLocked) {
		t.Errorf("portal after the limit: %v, want ErrLocked", err)
	}
	if d := f.auth(alice, "alice-pw", nil, "gw"); d.Outcome != Reject || d.Reason != "locked" {
		t.Errorf("RADIUS after portal failures: %+v, want reject locked", d)
	}
}

func TestPortalCodeIsSingleUseAcrossRADIUS(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	code := f.code()
	if ok, err := f.e.VerifyCode(ctx, alice, code); !ok || err != nil {
		t.Fatalf("fresh code: %v, %v", ok, err)
	}
	if ok, _ := f.e.VerifyCode(ctx, alice, code); ok {
		t.Error("the same code was accepted twice")
	}
	d := f.auth(alice, "alice-pw", nil, "gw")
	if d = f.auth(alice, code, d.State, "gw"); d.Outcome == Accept {
		t.Error("RADIUS accepted a code the portal used")
	}
}

func TestPortalWrongCodesCountTowardsLockout(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for range f.e.cfg.CodeLockout.Failures {
		if ok, err := f.e.VerifyCode(ctx, alice, "000000"); ok || err != nil {
			t.Fatalf("wrong code: %v, %v", ok, err)
		}
	}
	if _, err := f.e.VerifyCode(ctx, alice, f.code()); !errors.Is(err, ErrLocked) {
		t.Errorf("right code after the limit: %v, want ErrLocked", err)
	}
	f.clock.advance(f.e.cfg.CodeLockout.Window + time.Minute)
	if ok, err := f.e.VerifyCode(ctx, alice, f.code()); !ok || err != nil {
		t.Errorf("after the window: %v, %v", ok, err)
	}
}
