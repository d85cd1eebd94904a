package challenge

import (
	"context"
	"testing"

	"kakunin/store"
)

// An email is for notifications only: a user whose only method is an
// email is told to enroll, whatever the client's policy, and never
// accepted on the password alone.
func TestEmailOnlyUserIsNeverAccepted(t *testing.T) {
	f := newFixture(t)
	admin, _ := NewAdmin(f.e.cfg, f.st, AdminClock(f.clock.now))
	if _, _, err := admin.SetEmail(context.Background(), bob, "bob@example.com", "test"); err != nil {
		t.Fatal(err)
	}
	for _, optional := range []bool{false, true} {
		d := f.e.Authenticate(context.Background(), &Request{Client: "gw", UserName: bob, Password: "bob-pw", Policy: Policy{MFAOptional: optional}})
		if d.Outcome != Reject || d.Reason != "no_usable_method" {
			t.Errorf("mfa optional %v: %+v, want a reject for no usable method", optional, d)
		}
	}
	// Beside an app, the email changes nothing: the app's code is asked for.
	if _, _, err := admin.SetEmail(context.Background(), alice, "alice@example.com", "test"); err != nil {
		t.Fatal(err)
	}
	if d := f.auth(alice, "alice-pw", nil, "gw"); d.Outcome != Challenge {
		t.Errorf("alice with an app and an email: %+v, want a challenge", d)
	}
}

func TestSetEmailReplacesAndAudits(t *testing.T) {
	f := newFixture(t)
	admin, _ := NewAdmin(f.e.cfg, f.st, AdminClock(f.clock.now))
	ctx := context.Background()
	if _, old, err := admin.SetEmail(ctx, alice, "Alice@Example.COM", "portal"); err != nil || old != "" {
		t.Fatalf("first SetEmail: old %q, %v", old, err)
	}
	m, old, err := admin.SetEmail(ctx, alice, "alice@example.org", "portal")
	if err != nil || old != "Alice@example.com" || EmailAddress(m) != "alice@example.org" {
		t.Fatalf("second SetEmail = %q, old %q, %v", EmailAddress(m), old, err)
	}
	ms, _ := f.st.Methods(ctx, alice)
	n := 0
	for _, x := range ms {
		if x.Kind == store.KindEmail {
			n++
		}
	}
	if n != 1 {
		t.Errorf("alice has %d emails, want 1", n)
	}
	ev, _ := f.st.Events(ctx, alice, 1)
	if len(ev) != 1 || ev[0].Action != "email_changed" || ev[0].Detail != "id="+m.ID+" email=a•••@example.org old=A•••@example.com" {
		t.Errorf("last event = %+v", ev)
	}
	u, _ := f.st.GetUser(ctx, alice)
	if u.DefaultMethod == m.ID {
		t.Error("the email became the default method")
	}
	for _, bad := range []string{"", "not an address", "Taro <taro@example.com>", "taro@localhost", "a@b.c\r\nBcc: x@y.z"} {
		if _, _, err := admin.SetEmail(ctx, alice, bad, "portal"); err == nil {
			t.Errorf("SetEmail(%q) = nil, want an error", bad)
		}
	}
}
