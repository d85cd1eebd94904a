package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/internal/testenv"
	"kakunin/store"
)

// TestRadclientSignsInWithSMSAndMenu runs kakunin with the Twilio provider
// against a fake Twilio (a real HTTP server speaking its Messages API),
// a real slapd and radclient as the NAS: a phone-only user gets an SMS
// code at once; a user with an app and a phone gets a menu, picks the
// phone, and signs in with the code sent.
func TestRadclientSignsInWithSMSAndMenu(t *testing.T) {
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 20})
	tw := testenv.NewFakeTwilio(t)
	yaml := serverYAML(slapd, slapd.URL, sqliteStore(t.TempDir(), newStoreKey(t))) + fmt.Sprintf(`sms:
  provider: twilio
  twilio:
    account_sid: %s
    auth_token: %q
    from: "+815012345678"
    base_url: %s
`, tw.AccountSID, tw.AuthToken, tw.URL)
	cfg, err := parseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a := startApp(t, cfg, newLogger(cfg.Log, logs))
	addr := a.radius.AuthAddrs()[0].String()
	ctx := context.Background()
	admin, err := challenge.NewAdmin(cfg.Flow, a.store)
	if err != nil {
		t.Fatal(err)
	}
	phoneOnly, both := testenv.UserID(5), testenv.UserID(6)
	if _, err := admin.AddPhone(ctx, phoneOnly, store.KindPhone, "+81 90 5555 0005", "", "", "test"); err != nil {
		t.Fatal(err)
	}
	seed := newSeed(t)
	if _, _, err := admin.AddTOTP(ctx, both, "", seed, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddPhone(ctx, both, store.KindPhone, "+819055550006", "", "", "test"); err != nil {
		t.Fatal(err)
	}

	send := func(user, answer, state string) testenv.RadReply {
		in := `User-Name = "` + user + `", User-Password = "` + answer + `"`
		if state != "" {
			in += `, State = ` + state
		}
		return testenv.Radclient(t, addr, "auth", testSecret, in+`, Message-Authenticator = 0x00`)
	}
	code := regexp.MustCompile(`\b[0-9]{6}\b`)
	lastCode := func(to string) string {
		t.Helper()
		sent := tw.Sent()
		for i := len(sent) - 1; i >= 0; i-- {
			if sent[i].To == to {
				return code.FindString(sent[i].Body)
			}
		}
		t.Fatalf("no SMS to %s: %+v", to, sent)
		return ""
	}
	states := func(r testenv.RadReply) string {
		t.Helper()
		if r.Code != "Access-Challenge" || len(r.Attrs["State"]) != 1 {
			t.Fatalf("want Access-Challenge with a State\n%s", r.Out)
		}
		return r.Attrs["State"][0]
	}

	t.Run("PhoneOnlyGetsTheCodeAtOnce", func(t *testing.T) {
		r := send(phoneOnly, testenv.UserPassword(5), "")
		st := states(r)
		if msg := strings.Join(r.Attrs["Reply-Message"], " "); !strings.Contains(msg, "+81 ••-••••-0005") {
			t.Errorf("prompt does not name the masked number: %q", msg)
		}
		r = send(phoneOnly, lastCode("+819055550005"), st)
		if r.Code != "Access-Accept" {
			t.Fatalf("SMS code: got %q\n%s", r.Code, r.Out)
		}
	})

	t.Run("MenuThenPhoneThenCode", func(t *testing.T) {
		r := send(both, testenv.UserPassword(6), "")
		st := states(r)
		if msg := strings.Join(r.Attrs["Reply-Message"], " "); !strings.Contains(msg, "1: 認証アプリのコード") || !strings.Contains(msg, "2: SMS to ••0006") {
			t.Errorf("menu: %q", msg)
		}
		before := len(tw.Sent())
		r = send(both, "2", st)
		st = states(r)
		if len(tw.Sent()) != before+1 {
			t.Fatalf("choosing the phone sent %d SMS", len(tw.Sent())-before)
		}
		r = send(both, lastCode("+819055550006"), st)
		if r.Code != "Access-Accept" {
			t.Fatalf("SMS code after the menu: got %q\n%s", r.Code, r.Out)
		}
	})

	t.Run("AppCodeAtTheMenu", func(t *testing.T) {
		r := send(both, testenv.UserPassword(6), "")
		r = send(both, challenge.TOTPCode(seed, time.Now()), states(r))
		if r.Code != "Access-Accept" {
			t.Fatalf("TOTP code typed at the menu: got %q\n%s", r.Code, r.Out)
		}
	})

	// The message (which holds the code) never reaches the log. (A bare
	// six-digit search would also match durations such as 1.234567ms.)
	for _, m := range tw.Sent() {
		if strings.Contains(logs.String(), m.Body) || strings.Contains(logs.String(), "code="+code.FindString(m.Body)) {
			t.Errorf("an SMS message or its code is in the log")
		}
	}
	if strings.Contains(logs.String(), tw.AuthToken) {
		t.Error("the Twilio auth token is in the log")
	}
}
