package main

import (
	"context"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/internal/testenv"
)

// Users of the generated directory, by role in the sign-in test.
const (
	enrolledUser  = 3   // in vpn-staff, enrolls an authenticator app
	noMethodUser  = 4   // in vpn-staff, enrolls nothing
	notStaffUser  = 10  // not in vpn-staff (InVPNStaff(10) is false)
	unknownUser   = 999 // not in the directory at all
	wrongPassword = "not-the-password-7f3a"
)

// TestRadclientSignsInWithPasswordAndTOTP runs the whole kakunin, wired as
// serve wires it, against a real slapd, with FreeRADIUS's radclient as the
// NAS.
func TestRadclientSignsInWithPasswordAndTOTP(t *testing.T) {
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 20})
	if testenv.InVPNStaff(notStaffUser) || !testenv.InVPNStaff(enrolledUser) || !testenv.InVPNStaff(noMethodUser) {
		t.Fatal("the generated directory's vpn-staff members changed; pick other users")
	}
	cfg, err := parseConfig([]byte(serverYAML(slapd, slapd.URL, sqliteStore(t.TempDir(), newStoreKey(t)))))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a := startApp(t, cfg, newLogger(cfg.Log, logs))
	addr := a.radius.AuthAddrs()[0].String()
	metricsURL := "http://" + a.httpLn.Addr().String() + "/metrics"

	ctx := context.Background()
	seed := newSeed(t)
	admin, err := challenge.NewAdmin(cfg.Flow, a.store)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.AddTOTP(ctx, testenv.UserID(enrolledUser), "test phone", seed, "test"); err != nil {
		t.Fatal(err)
	}

	// Every round that reaches the flow leaves exactly one audit line.
	seen := 0
	round := func(t *testing.T, input string) (testenv.RadReply, logRecord) {
		t.Helper()
		r := testenv.Radclient(t, addr, "auth", testSecret, input)
		recs := auditRecords(logs.String())
		if got := len(recs) - seen; got != 1 {
			t.Fatalf("%d audit lines for one round, want 1:\n%s", got, logs.String())
		}
		seen = len(recs)
		return r, recs[len(recs)-1]
	}
	request := func(user, password, state string) string {
		in := `User-Name = "` + user + `", User-Password = "` + password + `"`
		if state != "" {
			in += `, State = ` + state
		}
		return in + `, Message-Authenticator = 0x00`
	}
	checkAudit := func(t *testing.T, rec logRecord, user, outcome, reason string) {
		t.Helper()
		want := logRecord{"user": user, "client": "vpn-gw", "outcome": outcome, "reason": reason}
		for k, v := range want {
			if rec[k] != v {
				t.Errorf("audit %s = %q, want %q (line %v)", k, rec[k], v, rec)
			}
		}
		if rec["method"] == "" || rec["duration_ms"] == "" {
			t.Errorf("audit line lacks method or duration_ms: %v", rec)
		}
	}
	challengeOf := func(t *testing.T, r testenv.RadReply) string {
		t.Helper()
		if r.Code != "Access-Challenge" {
			t.Fatalf("got %q, want Access-Challenge\n%s", r.Code, r.Out)
		}
		if len(r.Attrs["Reply-Message"]) == 0 || len(r.Attrs["State"]) != 1 || r.Attrs["State"][0] == "" {
			t.Fatalf("challenge without a Reply-Message or a State\n%s", r.Out)
		}
		return r.Attrs["State"][0]
	}

	id := testenv.UserID(enrolledUser)
	password := testenv.UserPassword(enrolledUser)
	var code string

	t.Run("PasswordThenCodeIsAccepted", func(t *testing.T) {
		r, rec := round(t, request(id, password, ""))
		state := challengeOf(t, r)
		checkAudit(t, rec, id, "challenge", "challenge_totp")

		code = challenge.TOTPCode(seed, time.Now())
		r, rec = round(t, request(id, code, state))
		if r.Code != "Access-Accept" {
			t.Fatalf("code answered: got %q, want Access-Accept\n%s", r.Code, r.Out)
		}
		class := r.Attrs["Class"]
		if len(class) != 1 || (class[0] != "staff" && class[0] != "0x"+hex.EncodeToString([]byte("staff"))) {
			t.Errorf("Class = %q, want staff (group_attributes of vpn-staff)\n%s", class, r.Out)
		}
		checkAudit(t, rec, id, "accept", "ok")
		if rec["method"] != "totp" {
			t.Errorf("audit method = %q, want totp", rec["method"])
		}
	})
	if code == "" {
		t.FailNow()
	}

	t.Run("UsedCodeIsRefusedInFreshLogin", func(t *testing.T) {
		r, _ := round(t, request(id, password, ""))
		state := challengeOf(t, r)
		r, rec := round(t, request(id, code, state))
		if r.Code == "Access-Accept" {
			t.Fatalf("a used code was accepted again\n%s", r.Out)
		}
		if rec["outcome"] == "accept" || (rec["reason"] != "replayed_code" && rec["reason"] != "bad_code") {
			t.Errorf("audit of a replayed code: %v", rec)
		}
	})

	t.Run("WrongPasswordLooksLikeUnknownUser", func(t *testing.T) {
		wrong, rec := round(t, request(id, wrongPassword, ""))
		checkAudit(t, rec, id, "reject", "bad_password")
		unknown, rec := round(t, request(testenv.UserID(unknownUser), wrongPassword, ""))
		checkAudit(t, rec, testenv.UserID(unknownUser), "reject", "bad_password")
		if wrong.Code != "Access-Reject" || unknown.Code != "Access-Reject" {
			t.Fatalf("wrong password: %q, unknown user: %q; want Access-Reject for both\n%s\n%s", wrong.Code, unknown.Code, wrong.Out, unknown.Out)
		}
		if len(wrong.Attrs["Reply-Message"]) == 0 || !slices.Equal(wrong.Attrs["Reply-Message"], unknown.Attrs["Reply-Message"]) {
			t.Errorf("Reply-Messages differ (user enumeration):\nwrong password: %q\nunknown user:   %q",
				wrong.Attrs["Reply-Message"], unknown.Attrs["Reply-Message"])
		}
	})

	t.Run("UserWithoutMethodIsToldWhereToEnroll", func(t *testing.T) {
		u := testenv.UserID(noMethodUser)
		r, rec := round(t, request(u, testenv.UserPassword(noMethodUser), ""))
		if r.Code != "Access-Reject" {
			t.Fatalf("got %q, want Access-Reject\n%s", r.Code, r.Out)
		}
		if !slices.ContainsFunc(r.Attrs["Reply-Message"], func(m string) bool { return strings.Contains(m, testEnrollURL) }) {
			t.Errorf("no Reply-Message names %s: %q", testEnrollURL, r.Attrs["Reply-Message"])
		}
		checkAudit(t, rec, u, "reject", "no_method")
	})

	t.Run("RequestWithoutMessageAuthenticatorIsDropped", func(t *testing.T) {
		r := testenv.Radclient(t, addr, "auth", testSecret, `User-Name = "`+id+`", User-Password = "`+password+`"`)
		if r.Code != "" {
			t.Fatalf("got %q, want no answer\n%s", r.Code, r.Out)
		}
		if n := len(auditRecords(logs.String())); n != seen {
			t.Errorf("a dropped request left %d audit lines", n-seen)
		}
		const dropped = `kakunin_radius_dropped_total{reason="missing_message_authenticator"} 1`
		var body string
		eventually(t, 30*time.Second, func() bool {
			_, body, _ = httpGet(metricsURL)
			return slices.Contains(strings.Split(body, "\n"), dropped)
		}, func() string {
			return "/metrics lacks " + dropped + ":\n" + grepLines(body, "kakunin_radius_dropped_total")
		})
	})

	t.Run("UserOutsideRequiredGroupIsRejected", func(t *testing.T) {
		u := testenv.UserID(notStaffUser)
		r, rec := round(t, request(u, testenv.UserPassword(notStaffUser), ""))
		if r.Code != "Access-Reject" {
			t.Fatalf("got %q, want Access-Reject\n%s", r.Code, r.Out)
		}
		checkAudit(t, rec, u, "reject", "not_in_group")
	})

	checkNoSecrets(t, logs.String(), map[string]string{
		"password":              password,
		"other user's password": testenv.UserPassword(noMethodUser),
		"non-member's password": testenv.UserPassword(notStaffUser),
		"wrong password":        wrongPassword,
		"TOTP code":             code,
		"TOTP seed (base32)":    challenge.EncodeTOTPSecret(seed),
		"TOTP seed (hex)":       hex.EncodeToString(seed),
		"shared secret":         testSecret,
		"LDAP bind password":    slapd.ServicePassword,
	})
}

// grepLines returns the lines of s that contain substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
