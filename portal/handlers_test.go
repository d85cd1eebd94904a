package portal

import (
	"bytes"
	"database/sql"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/store"
)

func TestSignInAnswersAlikeForUnknownUserAndWrongPassword(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	wrong := b.post("/signin", url.Values{"id": {userID}, "password": {"not-it"}})
	unknown := b.post("/signin", url.Values{"id": {"2099999999"}, "password": {"not-it"}})
	malformed := b.post("/signin", url.Values{"id": {"admin"}, "password": {"not-it"}})
	for _, r := range []response{wrong, unknown, malformed} {
		if r.status != http.StatusOK || r.path != "/signin" {
			t.Errorf("failed sign-in: %d %s", r.status, r.path)
		}
	}
	if errorOf(wrong) == "" || errorOf(wrong) != errorOf(unknown) || errorOf(wrong) != errorOf(malformed) {
		t.Errorf("messages differ (user enumeration): wrong password %q, unknown user %q, malformed %q",
			errorOf(wrong), errorOf(unknown), errorOf(malformed))
	}
	norm := func(r response, id string) string { return strings.ReplaceAll(r.body, id, "ID") }
	if norm(wrong, userID) != norm(unknown, "2099999999") {
		t.Error("the pages for a wrong password and an unknown user differ beyond the ID typed")
	}
	if r := b.get("/security"); r.path != "/signin?notice=session_ended" {
		t.Errorf("after failed sign-ins /security is %s, want the sign-in page", r.path)
	}
}

func TestSignInNeedsACodeOnceTheUserHasAnApp(t *testing.T) {
	e := newEnv(t)
	seed := e.browser().enroll(userID, password)

	b := e.browser()
	r := b.post("/signin", url.Values{"id": {userID}, "password": {password}})
	if r.path != "/signin/code" {
		t.Fatalf("password of an enrolled user: %s, want /signin/code", r.path)
	}
	for _, p := range []string{"/security", "/apply", "/setup/app", "/security/default"} {
		if r := b.get(p); r.path != "/signin/code" {
			t.Errorf("%s before the code: %s, want /signin/code", p, r.path)
		}
	}
	r = b.post("/signin/code", url.Values{"code": {"000000"}})
	if r.path != "/signin/code" || errorOf(r) == "" {
		t.Errorf("wrong code: %s, error %q", r.path, errorOf(r))
	}
	r = b.post("/signin/code", url.Values{"code": {e.code(seed)}})
	if r.path != "/security" {
		t.Fatalf("right code: %s, want /security", r.path)
	}
}

func TestSessionTokenChangesAtSignIn(t *testing.T) {
	e := newEnv(t)
	seed := e.browser().enroll(userID, password)
	b := e.browser()
	u, _ := url.Parse(e.ts.URL)
	token := func() string {
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == "kakunin" {
				return c.Value
			}
		}
		return ""
	}
	b.post("/signin", url.Values{"id": {userID}, "password": {password}})
	afterPassword := token()
	b.post("/signin/code", url.Values{"code": {e.code(seed)}})
	afterCode := token()
	if afterPassword == "" || afterCode == "" || afterPassword == afterCode {
		t.Fatalf("tokens after password %q and code %q: want two different ones", afterPassword, afterCode)
	}
	if _, err := e.st.GetSession(t.Context(), afterPassword, e.clock.now()); err == nil {
		t.Error("the session of the password step still works after the code")
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/signin", strings.NewReader(url.Values{"id": {userID}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if r := b.do(req); r.status != http.StatusForbidden {
			t.Errorf("POST with %v: %d, want 403", h, r.status)
		}
	}
	// The same form from the portal's own pages goes through.
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/signin", strings.NewReader(url.Values{"id": {userID}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if r := b.do(req); r.status != http.StatusOK || r.path != "/apply" {
		t.Errorf("same-origin sign-in: %d %s", r.status, r.path)
	}
}

func TestPagesCarryStrictSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll(userID, password)
	for _, p := range []string{"/signin", "/security", "/apply", "/setup/app"} {
		r := b.get(p)
		for k, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; worker-src 'self'; manifest-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-store",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", p, k, got, want)
			}
		}
		for _, inline := range []string{"<script", "style=", "<style", "onclick", "javascript:"} {
			if strings.Contains(strings.ToLower(r.body), inline) {
				t.Errorf("%s has inline %s, which the CSP forbids", p, inline)
			}
		}
	}
	if r := b.get("/static/portal.css"); r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

func TestChangeNeedsStepUpAfterTenMinutes(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	seed := b.enroll(userID, password)
	ms, _ := e.st.Methods(t.Context(), userID)
	del := "/security/delete?id=" + ms[0].ID

	if r := b.get(del); r.path != del {
		t.Fatalf("right after the code: %s, want the confirmation page", r.path)
	}
	e.clock.advance(9 * time.Minute)
	if r := b.get(del); r.path != del {
		t.Fatalf("9 minutes after the code: %s, want the confirmation page", r.path)
	}
	e.clock.advance(2 * time.Minute)
	r := b.get(del)
	if !strings.HasPrefix(r.path, "/stepup?next=") {
		t.Fatalf("11 minutes after the code: %s, want the step-up page", r.path)
	}
	// A POST straight to the change is sent to step up too.
	if r := b.post("/security/delete", url.Values{"method": {ms[0].ID}}); !strings.HasPrefix(r.path, "/stepup") {
		t.Fatalf("delete without step-up: %s", r.path)
	}
	if ms2, _ := e.st.Methods(t.Context(), userID); len(ms2) != 1 {
		t.Fatal("the method was deleted without a step-up")
	}
	if r := b.post("/stepup", url.Values{"code": {"000000"}, "next": {del}}); errorOf(r) == "" {
		t.Errorf("wrong step-up code accepted: %s", r.path)
	}
	if r = b.post("/stepup", url.Values{"code": {e.code(seed)}, "next": {del}}); r.path != del {
		t.Fatalf("after step-up: %s, want back at %s", r.path, del)
	}
	if r := b.post("/stepup", url.Values{"code": {e.code(seed)}, "next": {"//evil.example/"}}); r.path != "/" && r.path != "/security" {
		t.Errorf("step-up with a foreign next went to %s", r.path)
	}
}

func TestMFACannotBeSwitchedOffByTheUser(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(userID, password, nil)
	r := b.post("/apply", url.Values{"use": {"no"}})
	if u, err := e.st.GetUser(t.Context(), userID); err == nil && u.MFAApplied {
		t.Fatal("\"no\" applied for MFA")
	}
	b.post("/apply", url.Values{"use": {"yes"}})
	r = b.post("/apply", url.Values{"use": {"no"}})
	u, err := e.st.GetUser(t.Context(), userID)
	if err != nil || !u.MFAApplied {
		t.Fatalf("after \"no\" on an applied user: %+v, %v; want MFA still applied", u, err)
	}
	if !strings.Contains(r.body, text("ja", "apply_no_ignored")) || !strings.Contains(r.body, text("ja", "apply_final")) {
		t.Errorf("the page does not say MFA stays on and needs the help desk:\n%s", r.body)
	}
	evs, _ := e.st.Events(t.Context(), userID, 0)
	if n := slices.IndexFunc(evs, func(ev store.Event) bool { return ev.Action == "mfa_applied" && ev.Actor == "portal" }); n < 0 {
		t.Errorf("no mfa_applied audit event by the portal: %+v", evs)
	}
}

func TestAtMostFiveApps(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll(userID, password)
	for i := 2; i <= maxApps; i++ {
		b.addApp("app " + string(rune('0'+i)))
	}
	if ms, _ := e.st.Methods(t.Context(), userID); len(ms) != maxApps {
		t.Fatalf("%d methods, want %d", len(ms), maxApps)
	}
	r := b.get("/setup/app")
	if r.path != "/security?notice=app_limit" || !strings.Contains(r.body, text("ja", "err_app_limit")) {
		t.Errorf("a sixth app: %s", r.path)
	}
	if strings.Contains(r.body, `id="add-app"`) {
		t.Error("the security page still offers to add an app")
	}
	b.post("/setup/app", url.Values{"code": {"123456"}})
	if ms, _ := e.st.Methods(t.Context(), userID); len(ms) != maxApps {
		t.Fatalf("%d methods after posting a sixth, want %d", len(ms), maxApps)
	}
}

func TestWrongCodeShowsTheFormAgainWithItsEntries(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(userID, password, nil)
	b.post("/apply", url.Values{"use": {"yes"}})
	page := b.get("/setup/app").body
	first := secretRE.FindStringSubmatch(page)
	if !strings.Contains(page, text("ja", "app_other")) {
		t.Error("the app page does not offer a different authenticator app")
	}
	r := b.post("/setup/app", url.Values{"code": {"000000"}, "label": {"仕事用 iPhone"}})
	if r.path != "/setup/app" || errorOf(r) != text("ja", "err_bad_code") {
		t.Fatalf("wrong code: %s, error %q", r.path, errorOf(r))
	}
	if !strings.Contains(r.body, `value="仕事用 iPhone"`) {
		t.Error("the app name typed is gone")
	}
	again := secretRE.FindStringSubmatch(r.body)
	if first == nil || again == nil || first[1] != again[1] {
		t.Error("the secret changed after a wrong code: the app already scanned would no longer work")
	}
	if ms, _ := e.st.Methods(t.Context(), userID); len(ms) != 0 {
		t.Errorf("a method was saved with a wrong code: %+v", ms)
	}
}

func TestPendingSeedIsNeverInACookieOrTheStoreInClear(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(userID, password, nil)
	b.post("/apply", url.Values{"use": {"yes"}})
	m := secretRE.FindStringSubmatch(b.get("/setup/app").body)
	secret := strings.ReplaceAll(m[1], " ", "")
	u, _ := url.Parse(e.ts.URL)
	var token string
	for _, c := range b.c.Jar.Cookies(u) {
		if strings.Contains(strings.ToUpper(c.Value), secret) {
			t.Errorf("cookie %s holds the secret", c.Name)
		}
		if c.Name == "kakunin" {
			token = c.Value
		}
	}
	seed, _ := challenge.ParseTOTPSecret(secret)
	raw, err := sql.Open("sqlite", e.dbPath+"?_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(`SELECT token_hash, pending_ct FROM portal_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var hash, pending []byte
		if err := rows.Scan(&hash, &pending); err != nil {
			t.Fatal(err)
		}
		n++
		if bytes.Contains(hash, []byte(token)) || bytes.Contains(pending, seed) || len(pending) == len(seed) {
			t.Errorf("a session row holds the token or the seed in clear")
		}
	}
	if n == 0 {
		t.Error("no session rows")
	}
}

func TestDeletingTheLastMethodWarnsThenAsksForSetup(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll(userID, password)
	ms, _ := e.st.Methods(t.Context(), userID)
	r := b.get("/security/delete?id=" + ms[0].ID)
	if !strings.Contains(r.body, `id="last-warning"`) {
		t.Fatal("no warning before deleting the last method")
	}
	if r = b.post("/security/delete", url.Values{"method": {ms[0].ID}}); r.path != "/setup" {
		t.Fatalf("after deleting the last method: %s, want /setup", r.path)
	}
	evs, _ := e.st.Events(t.Context(), userID, 0)
	if !slices.ContainsFunc(evs, func(ev store.Event) bool { return ev.Action == "method_deleted" && ev.Actor == "portal" }) {
		t.Error("no method_deleted audit event by the portal")
	}
	b2 := e.browser()
	if r := b2.signIn(userID, password, nil); r.path != "/setup" {
		t.Errorf("next sign-in: %s, want /setup", r.path)
	}
}

func TestLanguageSwitchesToEnglishAndBack(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	r := b.get("/signin")
	if !strings.Contains(r.body, `lang="ja"`) || !strings.Contains(r.body, text("ja", "signin_title")) {
		t.Fatal("the sign-in page is not Japanese by default")
	}
	r = b.get("/lang?to=en&next=/signin")
	if r.path != "/signin" || !strings.Contains(r.body, text("en", "signin_intro")) {
		t.Fatalf("after switching: %s", r.path)
	}
	b.signIn(userID, password, nil)
	if r := b.get("/apply"); !strings.Contains(r.body, text("en", "apply_title")) {
		t.Error("the language did not survive sign-in")
	}
	if r := b.get("/lang?to=ja&next=https://evil.example/"); r.path != "/" && !strings.HasPrefix(r.path, "/apply") {
		t.Errorf("language switch followed a foreign next to %s", r.path)
	}
}

func TestEveryTextInBothLanguages(t *testing.T) {
	for _, l := range languages {
		for k := range texts[languages[0]] {
			if texts[l][k] == "" {
				t.Errorf("%s: no %s text", k, l)
			}
		}
		if len(texts[l]) != len(texts[languages[0]]) {
			t.Errorf("%s has %d texts, %s %d", l, len(texts[l]), languages[0], len(texts[languages[0]]))
		}
	}
	for _, k := range notices {
		if texts["ja"][k] == "" {
			t.Errorf("notice %s has no text", k)
		}
	}
}

func TestSessionEndsWhenIdle(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(userID, password, nil)
	e.clock.advance(14 * time.Minute)
	if r := b.get("/apply"); r.path != "/apply" {
		t.Fatalf("after 14 idle minutes: %s", r.path)
	}
	e.clock.advance(15*time.Minute + time.Second)
	if r := b.get("/apply"); r.path != "/signin?notice=session_ended" {
		t.Errorf("after 15 idle minutes: %s, want signed out", r.path)
	}
}

func TestConfigValidateNamesKeys(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "0.0.0.0:8080"}, "public_url"},
		{Config{Listen: "nonsense"}, "listen"},
		{Config{Listen: "127.0.0.1:8080", TLSCertFile: "a"}, "tls_cert_file"},
		{Config{Listen: "127.0.0.1:8080", StepUp: time.Second}, "step_up"},
		{Config{Listen: "127.0.0.1:8080", SessionIdle: time.Hour, SessionMax: time.Minute}, "session_max"},
	} {
		c.cfg.SetDefaults()
		err := c.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error about %s", c.cfg, err, c.want)
		}
	}
	ok := Config{Listen: "0.0.0.0:8443", PublicURL: "https://mfa.example.ac.jp/"}
	ok.SetDefaults()
	if err := ok.Validate(); err != nil || !ok.secureCookies() {
		t.Errorf("behind a TLS proxy: %v, secure %v", err, ok.secureCookies())
	}
	dev := Config{Listen: "127.0.0.1:8080"}
	dev.SetDefaults()
	if err := dev.Validate(); err != nil || dev.secureCookies() {
		t.Errorf("loopback dev: %v, secure %v", err, dev.secureCookies())
	}
}

func TestUserWithOnlyAPhoneIsNotLetInOnThePassword(t *testing.T) {
	e := newEnv(t)
	if _, err := e.admin.AddPhone(t.Context(), userID, store.KindPhone, "+81 90 1234 5678", "", "", "test"); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	r := b.signIn(userID, password, nil)
	if r.path != "/signin/code" || errorOf(r) != text("ja", "err_no_app") || strings.Contains(r.body, `id="code"`) {
		t.Fatalf("phone-only user after the password: %s, error %q", r.path, errorOf(r))
	}
	if r := b.post("/signin/code", url.Values{"code": {"123456"}}); r.path != "/signin/code" {
		t.Errorf("code posted anyway: %s", r.path)
	}
	if r := b.get("/setup/app"); r.path != "/signin/code" {
		t.Errorf("adding an app on the password alone: %s", r.path)
	}
	if !strings.Contains(b.get("/signin/code").body, `id="signout"`) {
		t.Error("no way to sign out half-way")
	}
}

func TestDeletingTheDefaultMakesTheOldestRemainingOneDefault(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll(userID, password)
	b.addApp("second")
	b.addApp("third")
	ms, _ := e.st.Methods(t.Context(), userID)
	if u, _ := e.st.GetUser(t.Context(), userID); u.DefaultMethod != ms[0].ID {
		t.Fatalf("default %q, want the first app", u.DefaultMethod)
	}
	if r := b.post("/security/delete", url.Values{"method": {ms[0].ID}}); r.path != "/security?notice=deleted" {
		t.Fatalf("delete: %s", r.path)
	}
	if u, _ := e.st.GetUser(t.Context(), userID); u.DefaultMethod != ms[1].ID {
		t.Errorf("default after deleting it: %q, want the oldest remaining %q", u.DefaultMethod, ms[1].ID)
	}
}

func TestHelpDeskResetEndsPortalSessions(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll(userID, password)
	if err := e.admin.Reset(t.Context(), userID, "cli:test"); err != nil {
		t.Fatal(err)
	}
	if r := b.get("/security"); r.path != "/signin?notice=session_ended" {
		t.Errorf("after a help-desk reset: %s, want signed out", r.path)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	for _, c := range []struct {
		what   string
		cfg    Config
		name   string
		secure bool
	}{
		{"plain HTTP on loopback (demo)", Config{Listen: "127.0.0.1:0"}, "kakunin", false},
		{"behind a TLS proxy", Config{Listen: "0.0.0.0:0", PublicURL: "https://mfa.example.ac.jp/"}, "__Host-kakunin", true},
	} {
		t.Run(c.what, func(t *testing.T) {
			e := newEnvWith(t, c.cfg)
			req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/signin", strings.NewReader(url.Values{"id": {userID}, "password": {password}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var session *http.Cookie
			for _, ck := range resp.Cookies() {
				if strings.HasSuffix(ck.Name, "kakunin") {
					session = ck
				}
			}
			if session == nil {
				t.Fatalf("no session cookie: %q", resp.Header.Values("Set-Cookie"))
			}
			if session.Name != c.name || session.Secure != c.secure || !session.HttpOnly ||
				session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Domain != "" {
				t.Errorf("cookie %+v, want %s, Secure=%v, HttpOnly, SameSite=Lax, Path=/, no Domain", session, c.name, c.secure)
			}
			if len(session.Value) < 43 {
				t.Errorf("token of %d characters, want 256 bits", len(session.Value))
			}
		})
	}
}

func TestSessionWorksOnEveryNode(t *testing.T) {
	e := newEnv(t)
	other := e.node()
	b := e.browser()
	b.signIn(userID, password, nil) // on the first node
	// The cookie jar sends the cookie to the second node too (same host).
	req, _ := http.NewRequest(http.MethodGet, other.URL+"/apply", nil)
	if r := b.do(req); r.path != "/apply" || !strings.Contains(r.body, `id="signout"`) {
		t.Errorf("second node: %s, want the signed-in apply page", r.path)
	}
}

func TestSecurityInfoShowsMaskedPhoneAndDatesPerLanguage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll(userID, password)
	if _, err := e.admin.AddPhone(t.Context(), userID, store.KindOfficePhone, "+81 3 1234 5678", "204", "", "test"); err != nil {
		t.Fatal(err)
	}
	r := b.get("/security")
	// html/template writes the "+" as &#43;: compare the rest.
	masked := strings.TrimPrefix(challenge.MaskPhone("+81312345678"), "+81 ")
	if strings.Contains(r.body, "12345678") || !strings.Contains(r.body, masked) {
		t.Errorf("the phone is not masked on the security page")
	}
	for _, want := range []string{text("ja", "kind_office_phone"), text("ja", "ext", "204"), "年", text("ja", "sec_default_mark")} {
		if !strings.Contains(r.body, want) {
			t.Errorf("Japanese page lacks %q", want)
		}
	}
	r = b.post("/lang", url.Values{"to": {"en"}, "next": {"/security"}})
	if u, err := e.st.GetUser(t.Context(), userID); err != nil || u.Language != "en" {
		t.Errorf("the user's language after switching: %q, %v; want en (calls and notifications use it)", u.Language, err)
	}
	added := e.clock.now().Local() // the phone was added on the test's clock
	for _, want := range []string{text("en", "kind_office_phone"), "ext. 204", added.Format("Jan 2006")} {
		if !strings.Contains(r.body, want) {
			t.Errorf("English page lacks %q", want)
		}
	}
}

func TestDirectoryDownSaysUnavailableNotWrongPassword(t *testing.T) {
	e := newEnv(t)
	e.dir.Stop()
	b := e.browser()
	r := b.post("/signin", url.Values{"id": {userID}, "password": {password}})
	if r.path != "/signin" || errorOf(r) != text("ja", "err_unavailable") {
		t.Errorf("directory down: %s, error %q, want the unavailable message", r.path, errorOf(r))
	}
	if n, _ := e.st.CountFailures(t.Context(), userID, store.FailPassword, time.Time{}); n != 0 {
		t.Errorf("%d password failures counted while the directory was down", n)
	}
}

// TestDonePageChecksTheNewMethodBySigningIn: the guide's last step signs
// out and asks for a sign-in with the method just registered.
func TestDonePageChecksTheNewMethodBySigningIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	seed := b.enroll(userID, password)
	done := b.get("/setup/done")
	if !strings.Contains(done.body, `id="check"`) {
		t.Fatalf("the done page offers no check:\n%s", done.body)
	}
	r := b.post("/signout", url.Values{"check": {"1"}})
	if r.path != "/signin?notice=check_signin" || !strings.Contains(r.body, text("ja", "check_signin")) {
		t.Fatalf("after the check's sign-out: %s", r.path)
	}
	if r = b.signIn(userID, password, seed); r.path != "/security" {
		t.Errorf("signing in with the new app landed on %s, want /security", r.path)
	}
}

// TestCrossSiteLanguageLinkLeavesTheStoredLanguage: what calls and
// notifications speak changes only by the language switch's form, which
// another site cannot submit; a link (GET /lang) changes only the pages.
func TestCrossSiteLanguageLinkLeavesTheStoredLanguage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll(userID, password)
	stored := func() string {
		t.Helper()
		u, err := e.st.GetUser(t.Context(), userID)
		if err != nil {
			t.Fatal(err)
		}
		return u.Language
	}
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/lang?to=en&next=/security", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := b.do(req); r.path != "/security" || !strings.Contains(r.body, `<html lang="en">`) {
		t.Errorf("a link to /lang: %s, want the security page in English", r.path)
	}
	if l := stored(); l != "" {
		t.Errorf("a cross-site link stored the language %q", l)
	}

	form := url.Values{"to": {"en"}, "next": {"/security"}}
	req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/lang", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if r := b.do(req); r.status != http.StatusForbidden {
		t.Errorf("a cross-site POST /lang: %d, want 403", r.status)
	}
	if l := stored(); l != "" {
		t.Errorf("a cross-site form stored the language %q", l)
	}

	r := b.get("/security")
	if !strings.Contains(r.body, `<form method="post" action="/lang"`) || !strings.Contains(r.body, `<button id="lang" type="submit" class="link" lang="ja">`) {
		t.Fatalf("the language switch is not a form:\n%s", r.body)
	}
	if r = b.post("/lang", url.Values{"to": {"ja"}, "next": {"/security"}}); r.path != "/security" || !strings.Contains(r.body, `<html lang="ja">`) {
		t.Errorf("the switch: %s", r.path)
	}
	if l := stored(); l != "ja" {
		t.Errorf("after the switch the stored language is %q, want ja", l)
	}
}
