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

// TestPortalAddsAnEmailInChromium wires portal.smtp to a real SMTP server
// in the test process (STARTTLS, AUTH PLAIN): in headless Chromium a user
// with an app is warned about a university address, registers a personal
// one with the code mailed to it, and is notified; the VPN still asks for
// the app's code (the email never signs in).
func TestPortalAddsAnEmailInChromium(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "chromium")
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 10})
	smtp := testenv.NewSMTPServer(t, testenv.SMTPOptions{Username: "mfa-noreply", Password: "smtp-pw-5c1e"})
	yaml := serverYAML(slapd, slapd.URL, sqliteStore(t.TempDir(), newStoreKey(t))) + fmt.Sprintf(`portal:
  listen: 127.0.0.1:0
  smtp:
    host: %s
    port: %d
    from: "VPN MFA <mfa-noreply@example.ac.jp>"
    username: mfa-noreply
    password: smtp-pw-5c1e
    ca_file: %s
  own_mail_domains: [example.ac.jp]
`, smtp.Host, smtp.Port, smtp.CAFile)
	cfg, err := parseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a := startApp(t, cfg, newLogger(cfg.Log, logs))
	base := "http://" + a.portal.Addr().String()
	id, password := testenv.UserID(phoneUser), testenv.UserPassword(phoneUser)
	admin, err := challenge.NewAdmin(cfg.Flow, a.store)
	if err != nil {
		t.Fatal(err)
	}
	seed := newSeed(t)
	if _, _, err := admin.AddTOTP(context.Background(), id, "iPhone", seed, "test"); err != nil {
		t.Fatal(err)
	}

	br := startChromium(t, chromium, time.Minute)
	ctx, do := br.ctx, br.do

	do("sign in", chromedp.Navigate(base+"/"), visible("#password"),
		typeIn("#id", id), typeIn("#password", password), click("#submit"), visible("#code"),
		typeIn("#code", challenge.TOTPCode(seed, time.Now())), click("#submit"), visible("#methods"))
	do("email page", click("#add-email"), visible("#address"), visible("#not-signin"))
	br.both("email", "#address")
	do("university address", typeIn("#address", "taro@mail.example.ac.jp"), click("#send"), visible("#own-warning"))
	br.shot("email-own-warning-ja")
	if n := len(smtp.Messages()); n != 0 {
		t.Fatalf("%d mails sent before the warning was confirmed", n)
	}
	do("personal address", chromedp.Navigate(base+"/setup/email"), visible("#address"),
		typeIn("#address", "taro@example.com"), click("#send"), visible("#verify"))
	br.both("email-verify", "#verify")
	m := smtp.Await(t, "taro@example.com", "")
	if !m.TLS || m.Auth != "mfa-noreply" {
		t.Errorf("code mail: TLS %v, auth %q", m.TLS, m.Auth)
	}
	code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(m.Text())
	do("code", typeIn("#code", code), click("#verify"), visible("#notice"), visible("#email-current"))
	if got, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#email-current"))); !strings.Contains(got, "t•••@example.com") {
		t.Errorf("security page shows the email as %q", got)
	}
	br.both("security-email", "#email-current")
	smtp.Await(t, "taro@example.com", "通知用メールアドレスとして登録されました")
	ms, _ := a.store.Methods(context.Background(), id)
	if len(ms) != 2 || ms[1].Kind != store.KindEmail {
		t.Fatalf("methods: %+v", ms)
	}

	// The VPN asks for the app's code as before: no menu, no email.
	r := testenv.Radclient(t, a.radius.AuthAddrs()[0].String(), "auth", testSecret,
		`User-Name = "`+id+`", User-Password = "`+password+`", Message-Authenticator = 0x00`)
	if r.Code != "Access-Challenge" || strings.Contains(strings.Join(r.Attrs["Reply-Message"], " "), "1:") {
		t.Errorf("VPN with an app and an email: %s %q, want the app's prompt", r.Code, r.Attrs["Reply-Message"])
	}
	checkNoSecrets(t, logs.String(), map[string]string{
		"password":      password,
		"mailed code":   code,
		"full address":  "taro@example.com",
		"SMTP password": "smtp-pw-5c1e",
	})
	br.checkViolations()
}
