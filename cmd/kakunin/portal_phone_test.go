package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kakunin/challenge"
	"kakunin/internal/testenv"
	"kakunin/store"
)

// phoneUser adds a phone in the browser: in vpn-staff, an app enrolled by
// the help desk.
const phoneUser = 8

// TestPortalAddsAPhoneInChromium signs in with an app in headless
// Chromium, adds a phone verified by the code the fake Twilio received,
// makes it the default, and checks that a RADIUS sign-in with radclient
// then offers the SMS first and accepts the code sent. Screenshots go
// where TestPortalGuideInChromium puts them.
func TestPortalAddsAPhoneInChromium(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "chromium")
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 10})
	if !testenv.InVPNStaff(phoneUser) {
		t.Fatal("the generated directory's vpn-staff members changed; pick another user")
	}
	tw := testenv.NewFakeTwilio(t)
	yaml := serverYAML(slapd, slapd.URL, sqliteStore(t.TempDir(), newStoreKey(t))) + fmt.Sprintf(`sms:
  provider: twilio
  twilio:
    account_sid: %s
    auth_token: %q
    from: "+815012345678"
    base_url: %s
portal:
  listen: 127.0.0.1:0
`, tw.AccountSID, tw.AuthToken, tw.URL)
	// The shortest gap between codes to one phone, so that the portal's
	// sign-in below need not wait long after the VPN's.
	yaml = strings.Replace(yaml, "flow:\n", "flow:\n  sms: {per_phone: 10s}\n", 1)
	cfg, err := parseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a := startApp(t, cfg, newLogger(cfg.Log, logs))
	base := "http://" + a.portal.Addr().String()
	radiusAddr := a.radius.AuthAddrs()[0].String()
	id, password := testenv.UserID(phoneUser), testenv.UserPassword(phoneUser)
	admin, err := challenge.NewAdmin(cfg.Flow, a.store)
	if err != nil {
		t.Fatal(err)
	}
	seed := newSeed(t)
	if _, _, err := admin.AddTOTP(context.Background(), id, "iPhone", seed, "test"); err != nil {
		t.Fatal(err)
	}

	br := startChromium(t, chromium, 2*time.Minute)
	ctx, do := br.ctx, br.do
	code := regexp.MustCompile(`\b[0-9]{6}\b`)
	lastSMS := func(to string) string {
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

	// Sign in with the app's code; the step-up is fresh for ten minutes.
	do("sign in", chromedp.Navigate(base+"/"), visible("#password"),
		typeIn("#id", id), typeIn("#password", password), click("#submit"), visible("#code"),
		typeIn("#code", challenge.TOTPCode(seed, time.Now())), click("#submit"), visible("#methods"))

	// Add a phone: a bad number first, then the right one, by SMS.
	do("add phone", click("#add-phone"), visible("#number"))
	br.both("phone", "#number")
	do("bad number", typeIn("#number", "090-12ab"), click("#send"), visible("#error"))
	br.shot("phone-error-ja")
	if v := attr(t, ctx, "#number", "value"); v != "090-12ab" {
		t.Errorf("after a bad number the field holds %q, want it kept", v)
	}
	do("number", chromedp.Navigate(base+"/setup/phone?kind=phone"), visible("#number"), typeIn("#number", "090-1234-5678"),
		click("#via-sms"), click("#send"), visible("#verify"))
	br.both("phone-verify", "#verify")
	if ms, _ := a.store.Methods(context.Background(), id); len(ms) != 1 {
		t.Fatalf("%d methods before the code was entered, want only the app", len(ms))
	}
	smsCode := lastSMS("+819012345678")
	do("code", typeIn("#code", smsCode), click("#verify"), visible("#notice"))
	ms, err := a.store.Methods(context.Background(), id)
	if err != nil || len(ms) != 2 || ms[1].Kind != store.KindPhone || ms[1].Phone != "+819012345678" {
		t.Fatalf("methods after the SMS code: %+v, %v", ms, err)
	}
	phone := ms[1]
	if detail, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`tr[data-method="`+phone.ID+`"] .detail`))); detail != challenge.MaskPhone(phone.Phone) {
		t.Errorf("the phone is listed as %q, want %q", detail, challenge.MaskPhone(phone.Phone))
	}
	br.both("security-phone", "#methods")

	// Make it the default: RADIUS offers the SMS first and takes its code.
	do("default", click("#change-default"), visible("#save"), click(`input[value="`+phone.ID+`"]`), click("#save"), visible("#notice"))
	if u, _ := a.store.GetUser(context.Background(), id); u.DefaultMethod != phone.ID {
		t.Fatalf("default is %q, want the phone %q", u.DefaultMethod, phone.ID)
	}
	send := func(answer, state string) testenv.RadReply {
		in := `User-Name = "` + id + `", User-Password = "` + answer + `"`
		if state != "" {
			in += `, State = ` + state
		}
		return testenv.Radclient(t, radiusAddr, "auth", testSecret, in+`, Message-Authenticator = 0x00`)
	}
	r := send(password, "")
	if r.Code != "Access-Challenge" || !strings.Contains(strings.Join(r.Attrs["Reply-Message"], " "), "1: SMS") {
		t.Fatalf("VPN after making the phone the default: %s %q, want a menu with the SMS first", r.Code, r.Attrs["Reply-Message"])
	}
	before := len(tw.Sent())
	r = send("1", r.Attrs["State"][0])
	if r.Code != "Access-Challenge" || len(tw.Sent()) != before+1 {
		t.Fatalf("choosing the SMS: %s, %d SMS sent\n%s", r.Code, len(tw.Sent())-before, r.Out)
	}
	r = send(lastSMS("+819012345678"), r.Attrs["State"][0])
	if r.Code != "Access-Accept" {
		t.Fatalf("VPN with the SMS code: %s\n%s", r.Code, r.Out)
	}
	vpnSMS := time.Now()

	// Sign in to the portal again with a code by SMS instead of the app.
	do("sign out", click("#signout"), visible("#password"),
		typeIn("#id", id), typeIn("#password", password), click("#submit"), visible(`#sms-`+phone.ID))
	br.both("code-phone", `#sms-`+phone.ID)
	time.Sleep(time.Until(vpnSMS.Add(10*time.Second + 200*time.Millisecond)))
	do("code by SMS", click(`#sms-`+phone.ID), visible("#verify"))
	br.shot("signin-sms-ja")
	do("SMS code", typeIn("#code", lastSMS("+819012345678")), click("#verify"), visible("#methods"))

	checkNoSecrets(t, logs.String(), map[string]string{
		"password":         password,
		"SMS code":         smsCode,
		"full phone":       "9012345678",
		"app's seed":       challenge.EncodeTOTPSecret(seed),
		"the typed number": "090-1234-5678",
	})
	br.checkViolations()
}
