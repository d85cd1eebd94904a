package portal

import (
	"bytes"
	"context"
	"html"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/internal/secret"
	"kakunin/internal/testenv"
	"kakunin/portal/mail"
	"kakunin/store"
)

// newMailEnv is the portal sending mail through a real SMTP server in
// the test process (STARTTLS with a test CA, AUTH PLAIN).
func newMailEnv(t *testing.T, pc Config) (*env, *testenv.SMTPServer) {
	t.Helper()
	return newMailEnvOn(t, store.DriverSQLite, pc)
}

// newMailEnvOn is newMailEnv on a store of the driver given.
func newMailEnvOn(t *testing.T, driver string, pc Config) (*env, *testenv.SMTPServer) {
	t.Helper()
	srv := testenv.NewSMTPServer(t, testenv.SMTPOptions{Username: "mfa", Password: "smtp-pw"})
	pc.SMTP = &mail.Config{Host: srv.Host, Port: srv.Port, From: "MFA <mfa-noreply@example.ac.jp>",
		Username: "mfa", Password: secret.New("smtp-pw"), CAFile: srv.CAFile}
	e := newEnvOn(t, driver, pc)
	c, err := mail.New(*e.srv.cfg.SMTP)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.mailer = c
	return e, srv
}

var mailCodeRE = regexp.MustCompile(`\b[0-9]{6}\b`)

// mailedCode is the code of the newest verification mail to addr.
func mailedCode(t *testing.T, srv *testenv.SMTPServer, addr string) string {
	t.Helper()
	srv.Await(t, addr, "")
	ms := srv.Messages()
	for i := len(ms) - 1; i >= 0; i-- {
		if strings.EqualFold(ms[i].To[0], addr) {
			if c := mailCodeRE.FindString(ms[i].Text()); c != "" {
				return c
			}
		}
	}
	t.Fatalf("no code mailed to %s", addr)
	return ""
}

// addEmail registers addr from the email form at form, with the code
// read from the mail.
func (b *browser) addEmail(srv *testenv.SMTPServer, form url.Values) response {
	t := b.e.t
	t.Helper()
	r := b.post("/setup/email", form)
	if r.path != "/setup/email/verify" {
		t.Fatalf("after sending the address: %s (%s)\n%s", r.path, errorOf(r), r.body)
	}
	return b.post("/setup/email/verify", url.Values{"code": {mailedCode(t, srv, form.Get("address"))}})
}

func TestFirstSetupAddsAnEmailVerifiedByMail(t *testing.T) {
	e, srv := newMailEnv(t, Config{Listen: "127.0.0.1:0"})
	b := e.browser()
	b.enroll(userID, password)
	r := b.get("/setup/email?first=app")
	if !strings.Contains(r.body, html.EscapeString(text("ja", "email_not_signin"))) || !strings.Contains(r.body, `id="skip"`) {
		t.Fatalf("email step does not say it cannot sign in, or offers no skip:\n%s", r.body)
	}
	r = b.post("/setup/email", url.Values{"address": {"taro@example.com"}, "first": {"app"}})
	if r.path != "/setup/email/verify" {
		t.Fatalf("after the address: %s %s", r.path, errorOf(r))
	}
	m := srv.Await(t, "taro@example.com", "")
	if got, want := m.Header("Subject"), text("ja", "mail_code_subject", e.issuer); got != want || !m.TLS || m.Auth != "mfa" {
		t.Errorf("code mail: subject %q (want %q), TLS %v, auth %q", got, want, m.TLS, m.Auth)
	}
	code := mailedCode(t, srv, "taro@example.com")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	r = b.post("/setup/email/verify", url.Values{"code": {wrong}})
	if errorOf(r) != html.EscapeString(text("ja", "err_email_code")) {
		t.Fatalf("wrong code: %q", errorOf(r))
	}
	r = b.post("/setup/email/verify", url.Values{"code": {code}})
	if r.path != "/setup/done" {
		t.Fatalf("after the right code: %s %s", r.path, errorOf(r))
	}
	r = b.get("/security")
	if !strings.Contains(r.body, "t•••@example.com") || strings.Contains(r.body, "taro@example.com") {
		t.Errorf("security page does not show the masked address:\n%s", r.body)
	}
	srv.Await(t, "taro@example.com", "通知用メールアドレスとして登録されました")
	ev, _ := e.st.Events(context.Background(), userID, 1)
	if len(ev) != 1 || ev[0].Action != "email_added" || ev[0].Actor != "portal" || strings.Contains(ev[0].Detail, "taro@") {
		t.Errorf("audit: %+v", ev)
	}
	// The address is sealed at rest, as phone numbers are.
	for _, f := range []string{e.dbPath, e.dbPath + "-wal"} {
		if raw, err := os.ReadFile(f); err == nil && bytes.Contains(raw, []byte("taro@example.com")) {
			t.Errorf("%s holds the address in clear", f)
		}
	}
	// The email is not a sign-in method: the app is still the default,
	// and the next sign-in asks for the app's code only.
	u, _ := e.st.GetUser(context.Background(), userID)
	ms, _ := e.st.Methods(context.Background(), userID)
	// Methods made at one instant of the test clock come in ID order.
	app, _ := phoneOf(ms, store.KindTOTP)
	if len(ms) != 2 || u.DefaultMethod != app.ID {
		t.Errorf("methods %v, default %s", ms, u.DefaultMethod)
	}
}

func TestOwnDomainWarnsThenSends(t *testing.T) {
	e, srv := newMailEnv(t, Config{Listen: "127.0.0.1:0", OwnMailDomains: []string{"example.ac.jp"}})
	b := e.browser()
	b.enroll(userID, password)
	form := url.Values{"address": {"taro@mail.Example.ac.jp"}, "first": {"app"}}
	r := b.post("/setup/email", form)
	if r.path != "/setup/email" || !strings.Contains(r.body, `id="own-warning"`) {
		t.Fatalf("own domain: %s, no warning:\n%s", r.path, r.body)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d mails sent before the user confirmed", n)
	}
	form.Set("own_ok", "taro@mail.example.ac.jp")
	if r = b.addEmail(srv, form); r.path != "/setup/done" {
		t.Fatalf("own domain confirmed: %s %s", r.path, errorOf(r))
	}
	// Not an address at all: refused.
	r = b.post("/setup/email", url.Values{"address": {"taro at example"}})
	if errorOf(r) != html.EscapeString(text("ja", "err_email_address")) {
		t.Errorf("bad address: %q", errorOf(r))
	}
}

func TestChangesAreNotifiedInTheUsersLanguage(t *testing.T) {
	e, srv := newMailEnv(t, Config{Listen: "127.0.0.1:0"})
	b := e.browser()
	b.enroll(userID, password)
	b.addEmail(srv, url.Values{"address": {"taro@example.com"}, "first": {"app"}})
	b.addApp("Work tablet")
	srv.Await(t, "taro@example.com", "新しいサインイン方法が追加されました")
	m := srv.Await(t, "taro@example.com", "Work tablet")
	if got := m.Header("Subject"); got != text("ja", "mail_change_subject", e.issuer) {
		t.Errorf("subject %q", got)
	}
	if !strings.Contains(m.Text(), "ヘルプデスク") || !strings.Contains(m.Text(), userID) {
		t.Errorf("notification lacks the help desk or the user:\n%s", m.Text())
	}
	// The user switches to English: the next notification is in English.
	b.post("/lang", url.Values{"to": {"en"}, "next": {"/security"}})
	ms, _ := e.st.Methods(context.Background(), userID)
	r := b.post("/security/default", url.Values{"method": {ms[len(ms)-1].ID}})
	if r.path != "/security?notice=default" {
		t.Fatalf("set default: %s", r.path)
	}
	m = srv.Await(t, "taro@example.com", "The default sign-in method of your VPN account")
	if !strings.Contains(m.Text(), "If this was not you, contact the help desk") || m.Header("Subject") != text("en", "mail_change_subject", e.issuer) {
		t.Errorf("English notification:\n%s", m.Text())
	}
	r = b.post("/security/delete", url.Values{"method": {ms[len(ms)-1].ID}})
	srv.Await(t, "taro@example.com", "A sign-in method was deleted from your VPN account")
}

func TestEmailChangeNotifiesTheOldAddress(t *testing.T) {
	e, srv := newMailEnv(t, Config{Listen: "127.0.0.1:0"})
	b := e.browser()
	b.enroll(userID, password)
	b.addEmail(srv, url.Values{"address": {"taro@example.com"}, "first": {"app"}})
	r := b.get("/security")
	if !strings.Contains(r.body, `id="change-email"`) {
		t.Fatalf("no Change for the email:\n%s", r.body)
	}
	r = b.get("/setup/email")
	if !strings.Contains(r.body, "t•••@example.com") || !strings.Contains(r.body, `id="delete-email"`) {
		t.Fatalf("email page lacks the current address or Delete:\n%s", r.body)
	}
	if r = b.post("/setup/email", url.Values{"address": {"taro@example.com"}}); errorOf(r) != html.EscapeString(text("ja", "err_email_same")) {
		t.Errorf("same address: %q", errorOf(r))
	}
	if r = b.addEmail(srv, url.Values{"address": {"hanako@example.org"}}); r.path != "/security?notice=email_saved" {
		t.Fatalf("change: %s %s", r.path, errorOf(r))
	}
	srv.Await(t, "taro@example.com", "今後の通知は h•••@example.org に送られます")
	srv.Await(t, "hanako@example.org", "通知用メールアドレスとして登録されました")
	ms, _ := e.st.Methods(context.Background(), userID)
	if email, _ := phoneOf(ms, store.KindEmail); len(ms) != 2 || challenge.EmailAddress(email) != "hanako@example.org" {
		t.Errorf("methods after the change: %v", ms)
	}
	// Deleting it tells the address it was deleted.
	if r = b.post("/security/email/delete", nil); r.path != "/security?notice=email_deleted" {
		t.Fatalf("delete: %s", r.path)
	}
	srv.Await(t, "hanako@example.org", "削除されました")
	if ms, _ = e.st.Methods(context.Background(), userID); len(ms) != 1 {
		t.Errorf("methods after deleting the email: %v", ms)
	}
}

func TestEmailChangesNeedStepUp(t *testing.T) {
	e, srv := newMailEnv(t, Config{Listen: "127.0.0.1:0"})
	b := e.browser()
	seed := b.enroll(userID, password)
	b.addEmail(srv, url.Values{"address": {"taro@example.com"}, "first": {"app"}})
	e.clock.advance(11 * time.Minute)
	for _, r := range []response{
		b.get("/setup/email"),
		b.post("/setup/email", url.Values{"address": {"mallory@example.net"}}),
		b.post("/security/email/delete", nil),
	} {
		if !strings.HasPrefix(r.path, "/stepup?next=") {
			t.Errorf("without a recent code: %s, want /stepup", r.path)
		}
	}
	e.srv.notes.Wait() // the notice of the address is mailed in the background
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("%d mails, want 2 (the code and the notice of the address)", n)
	}
	ms, _ := e.st.Methods(context.Background(), userID)
	if len(ms) != 2 {
		t.Fatalf("methods changed without a step-up: %v", ms)
	}
	r := b.post("/stepup", url.Values{"code": {e.code(seed)}, "next": {"/setup/email"}})
	if r.path != "/setup/email" {
		t.Fatalf("after step-up: %s", r.path)
	}
}

func TestNoEmailStepWithoutSMTP(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll(userID, password) // lands on /setup/done (checked by addApp)
	r := b.get("/setup/email")
	if errorOf(r) != html.EscapeString(text("ja", "email_unavailable")) || strings.Contains(r.body, `id="send"`) {
		t.Errorf("email page without SMTP: %q\n%s", errorOf(r), r.body)
	}
	if r = b.post("/setup/email", url.Values{"address": {"taro@example.com"}}); strings.Contains(r.path, "verify") {
		t.Errorf("an address was taken without SMTP: %s", r.path)
	}
	if r = b.get("/security"); !strings.Contains(r.body, `id="email-off"`) {
		t.Errorf("security page does not say email is off:\n%s", r.body)
	}
}

// A mail server that is down does not hold up a change: it is logged and
// counted.
func TestNotificationFailureDoesNotBlockTheChange(t *testing.T) {
	e, _ := newMailEnv(t, Config{Listen: "127.0.0.1:0"})
	b := e.browser()
	seed := b.enroll(userID, password)
	if _, _, err := e.admin.SetEmail(context.Background(), userID, "taro@example.com", "test"); err != nil {
		t.Fatal(err)
	}
	down := *e.srv.cfg.SMTP
	down.Port = 1 // nothing listens
	c, err := mail.New(down)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.mailer = c
	b.signIn(userID, password, seed)
	b.addApp("second")
	if err := e.srv.waitNotifications(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ms, _ := e.st.Methods(context.Background(), userID); len(ms) != 3 {
		t.Errorf("methods: %d, want 3 (two apps and the email)", len(ms))
	}
}

// A user whose only method is an email has nothing to sign in with: the
// portal asks for no code and goes to first-method setup.
func TestEmailOnlyUserIsAskedToSetUp(t *testing.T) {
	e, _ := newMailEnv(t, Config{Listen: "127.0.0.1:0"})
	if _, _, err := e.admin.SetEmail(context.Background(), userID, "taro@example.com", "test"); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	if r := b.signIn(userID, password, nil); r.path != "/setup" {
		t.Errorf("email-only user landed on %s, want /setup", r.path)
	}
	if r := b.get("/setup/email"); r.path != "/setup" {
		t.Errorf("email page before a sign-in method: %s, want /setup", r.path)
	}
}

// An address waiting for its code sits where an app's seed waits: turning
// to set up an app replaces it with a new seed, never uses it as one.
func TestPendingEmailIsNotASeed(t *testing.T) {
	e, _ := newMailEnv(t, Config{Listen: "127.0.0.1:0"})
	b := e.browser()
	b.enroll(userID, password)
	if r := b.post("/setup/email", url.Values{"address": {"taro@example.com"}}); r.path != "/setup/email/verify" {
		t.Fatalf("after the address: %s", r.path)
	}
	r := b.get("/setup/app")
	m := secretRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no secret on the app page:\n%s", r.body)
	}
	if seed, err := challenge.ParseTOTPSecret(m[1]); err != nil || len(seed) != 20 {
		t.Errorf("app page seed: %d bytes, %v; want a new 20-byte seed", len(seed), err)
	}
	if r = b.get("/setup/email/verify"); r.path != "/setup/email" {
		t.Errorf("the pending address outlived the app's seed: %s", r.path)
	}
}

// Codes mailed count against the send limits of codes by SMS: one to an
// address per flow.sms.per_phone.
func TestEmailCodesAreRateLimited(t *testing.T) {
	e, srv := newMailEnv(t, Config{Listen: "127.0.0.1:0"})
	b := e.browser()
	b.enroll(userID, password)
	form := url.Values{"address": {"taro@example.com"}}
	if r := b.post("/setup/email", form); r.path != "/setup/email/verify" {
		t.Fatalf("first code: %s %s", r.path, errorOf(r))
	}
	r := b.post("/setup/email", form)
	if errorOf(r) != html.EscapeString(text("ja", "err_email_limited")) {
		t.Errorf("second code at once: %s %q", r.path, errorOf(r))
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
	e.clock.advance(31 * time.Second)
	if r := b.post("/setup/email", form); r.path != "/setup/email/verify" {
		t.Errorf("after per_phone: %s %s", r.path, errorOf(r))
	}
}

// Five wrong codes spend the mailed code: the form comes back.
func TestWrongEmailCodesSpendTheCode(t *testing.T) {
	e, srv := newMailEnv(t, Config{Listen: "127.0.0.1:0"})
	b := e.browser()
	b.enroll(userID, password)
	b.post("/setup/email", url.Values{"address": {"taro@example.com"}})
	code := mailedCode(t, srv, "taro@example.com")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	var r response
	for range maxEmailTries {
		r = b.post("/setup/email/verify", url.Values{"code": {wrong}})
	}
	if errorOf(r) != html.EscapeString(text("ja", "err_email_code_expired")) || !strings.Contains(r.body, `value="taro@example.com"`) {
		t.Fatalf("after %d wrong codes: %q\n%s", maxEmailTries, errorOf(r), r.body)
	}
	if r = b.post("/setup/email/verify", url.Values{"code": {code}}); r.path != "/setup/email" {
		t.Errorf("the right code after the tries: %s, want the form again", r.path)
	}
	if ms, _ := e.st.Methods(context.Background(), userID); len(ms) != 1 {
		t.Errorf("methods: %v", ms)
	}
}
