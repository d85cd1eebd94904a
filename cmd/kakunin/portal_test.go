package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kakunin/challenge"
	"kakunin/internal/testenv"
	"kakunin/store"
)

// portalUser follows the guide in the browser: in vpn-staff, no method yet.
const portalUser = 7

// TestPortalGuideInChromium walks the enrollment guide in headless
// Chromium against kakunin wired as serve wires it (a real slapd,
// PostgreSQL), and checks after each change that a RADIUS sign-in with
// radclient follows it. Screenshots of each page, in Japanese and English,
// go to $KAKUNIN_ARTIFACTS/portal (default: artifacts/portal in the
// repository).
func TestPortalGuideInChromium(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "chromium")
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 10})
	if !testenv.InVPNStaff(portalUser) {
		t.Fatal("the generated directory's vpn-staff members changed; pick another user")
	}
	yaml := serverYAML(slapd, slapd.URL, postgresStore(testenv.PostgresDSN(t), newStoreKey(t))) + "portal:\n  listen: 127.0.0.1:0\n"
	cfg, err := parseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a := startApp(t, cfg, newLogger(cfg.Log, logs))
	if a.portal == nil {
		t.Fatal("portal.listen is set but no portal runs")
	}
	base := "http://" + a.portal.Addr().String()
	radiusAddr := a.radius.AuthAddrs()[0].String()
	id, password := testenv.UserID(portalUser), testenv.UserPassword(portalUser)

	br := startChromium(t, chromium, 4*time.Minute)
	ctx, do := br.ctx, br.do
	location := func() string {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(loc, base)
	}
	textOf := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	var codes totpSteps
	signIn := func(seed []byte) {
		t.Helper()
		do("sign in", chromedp.Navigate(base+"/"), visible("#password"),
			typeIn("#id", id), typeIn("#password", password), click("#submit"))
		if seed != nil {
			do("second factor", visible("#code"))
			if location() != "/signin/code" {
				t.Fatalf("after the password: %s, want /signin/code", location())
			}
			do("code", typeIn("#code", codes.next(t, seed)), click("#submit"), visible("#methods, #none"))
		}
	}
	methods := func() []store.Method {
		t.Helper()
		ms, err := a.store.Methods(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	// vpn signs in to the VPN over RADIUS with the password and, when
	// challenged, a code from seed; it returns the final answer's code.
	vpn := func(seed []byte) testenv.RadReply {
		t.Helper()
		req := func(pw, state string) string {
			in := `User-Name = "` + id + `", User-Password = "` + pw + `"`
			if state != "" {
				in += `, State = ` + state
			}
			return in + `, Message-Authenticator = 0x00`
		}
		r := testenv.Radclient(t, radiusAddr, "auth", testSecret, req(password, ""))
		if r.Code != "Access-Challenge" || seed == nil {
			return r
		}
		return testenv.Radclient(t, radiusAddr, "auth", testSecret, req(codes.next(t, seed), r.Attrs["State"][0]))
	}

	// 1. Sign in with the ID and password.
	do("open", chromedp.Navigate(base+"/"), visible("#password"))
	br.both("signin", "#password")
	do("wrong password", typeIn("#id", id), typeIn("#password", "wrong-"+password), click("#submit"), visible("#error"))
	br.shot("signin-error-ja")
	if r := vpn(nil); r.Code != "Access-Reject" {
		t.Fatalf("VPN before enrolling: %s, want Access-Reject", r.Code)
	}
	signIn(nil)

	// 2. Apply for MFA.
	do("apply page", visible("#use-yes"))
	if location() != "/apply" {
		t.Fatalf("first sign-in landed on %s, want /apply", location())
	}
	br.both("apply", "#use-yes")
	do("apply", click("#use-yes"), click("#save"), visible("#continue"))
	br.both("apply-done", "#continue")
	if u, err := a.store.GetUser(context.Background(), id); err != nil || !u.MFAApplied {
		t.Fatalf("after applying: %+v, %v", u, err)
	}

	// 3. First method: more information required, then the app.
	do("setup", click("#continue"), visible("#next"))
	br.both("setup", "#next")
	do("app page", click("#next"), visible("#qr"), click("details summary"), visible("#secret"))
	br.both("app", "#qr")
	if href := attr(t, ctx, "#open-app", "href"); !strings.HasPrefix(href, "otpauth://totp/") {
		t.Errorf("the open-the-app link is %q, want an otpauth:// URI", href)
	}
	seed1 := readSecret(t, textOf("#secret"))
	do("wrong code", typeIn("#code", "000000"), typeIn("#label", "iPhone"), click("#submit"), visible("#error"))
	br.shot("app-error-ja")
	if v := attr(t, ctx, "#label", "value"); v != "iPhone" {
		t.Errorf("after a wrong code the app's name is %q, want it kept", v)
	}
	if seed := readSecret(t, textOf("#secret")); string(seed) != string(seed1) {
		t.Fatal("the secret changed after a wrong code")
	}
	do("right code", typeIn("#code", codes.next(t, seed1)), click("#submit"), visible("#done"))
	br.both("done", "#done")
	do("security info", click("#continue"), visible("#methods"))
	br.both("security", "#methods")
	if ms := methods(); len(ms) != 1 || ms[0].Label != "iPhone" {
		t.Fatalf("methods after setup: %+v", ms)
	}
	if r := vpn(seed1); r.Code != "Access-Accept" {
		t.Fatalf("VPN with the new app: %s, want Access-Accept\n%s", r.Code, r.Out)
	}

	// 4. Sign out, and in again with a code.
	do("sign out", click("#signout"), visible("#password"))
	signIn(seed1)
	do("second-factor page once more for its screenshots", click("#signout"), visible("#password"),
		typeIn("#id", id), typeIn("#password", password), click("#submit"), visible("#code"))
	br.both("code", "#code")
	do("code", typeIn("#code", codes.next(t, seed1)), click("#submit"), visible("#methods"))

	// 5. Add a second app and make it the default.
	do("add app", click("#add-app"), visible("#qr"))
	seed2 := readSecret(t, textOf("#secret"))
	do("second app", typeIn("#code", codes.next(t, seed2)), typeIn("#label", "Android"), click("#submit"), visible("#notice"))
	ms := methods()
	if len(ms) != 2 {
		t.Fatalf("after adding a second app: %d methods", len(ms))
	}
	first, second := ms[0], ms[1]
	do("change default", click("#change-default"), visible("#save"))
	br.both("default", "#save")
	do("choose the second", click(`input[value="`+second.ID+`"]`), click("#save"), visible("#notice"))
	if u, _ := a.store.GetUser(context.Background(), id); u.DefaultMethod != second.ID {
		t.Fatalf("default is %q, want the second app %q", u.DefaultMethod, second.ID)
	}
	br.shot("security-two-apps-ja")

	// 6. Delete the first app: the VPN no longer takes its codes.
	do("delete first", click(`tr[data-method="`+first.ID+`"] a.delete`), visible("#confirm-delete"))
	br.both("delete", "#confirm-delete")
	do("confirm", click("#confirm-delete"), visible("#notice"))
	if r := vpn(seed1); r.Code == "Access-Accept" {
		t.Fatal("VPN accepted a code from the deleted app")
	}
	if r := vpn(seed2); r.Code != "Access-Accept" {
		t.Fatalf("VPN with the remaining app: %s\n%s", r.Code, r.Out)
	}

	// 7. Delete the last method: a warning first, then setup again.
	do("delete last", click(`tr[data-method="`+second.ID+`"] a.delete`), visible("#last-warning"))
	br.both("delete-last", "#last-warning")
	do("confirm", click("#confirm-delete"), visible("#next"))
	if loc := location(); loc != "/setup" {
		t.Errorf("after deleting the last method: %s, want /setup", loc)
	}
	if r := vpn(nil); r.Code != "Access-Reject" || !slices.ContainsFunc(r.Attrs["Reply-Message"], func(m string) bool { return strings.Contains(m, testEnrollURL) }) {
		t.Errorf("VPN without methods: %s %q, want Access-Reject naming the portal", r.Code, r.Attrs["Reply-Message"])
	}
	do("sign out", chromedp.Navigate(base+"/security"), visible("#signout"), click("#signout"), visible("#password"))
	signIn(nil)
	do("setup again", visible("#next"))
	if loc := location(); loc != "/setup" {
		t.Errorf("next sign-in: %s, want first-method setup", loc)
	}

	events, err := a.store.Events(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		if e.Actor == "portal" {
			actions = append(actions, e.Action)
		}
	}
	slices.Reverse(actions)
	want := []string{"mfa_applied", "method_added", "method_added", "default_changed", "method_deleted", "method_deleted"}
	if !slices.Equal(actions, want) {
		t.Errorf("portal audit events %q, want %q", actions, want)
	}
	checkNoSecrets(t, logs.String(), map[string]string{
		"password":          password,
		"first app's seed":  challenge.EncodeTOTPSecret(seed1),
		"second app's seed": challenge.EncodeTOTPSecret(seed2),
	})
	br.checkViolations()
	t.Logf("screenshots in %s", br.shots)
}

// totpSteps hands out codes so that no time step of a seed is used twice:
// a code is good once, in the portal and over RADIUS alike. It waits for
// the clock when a seed has used the next step already.
type totpSteps struct{ last map[string]int64 }

func (c *totpSteps) next(t *testing.T, seed []byte) string {
	t.Helper()
	if c.last == nil {
		c.last = map[string]int64{}
	}
	for {
		cur := time.Now().Unix() / 30
		step := max(c.last[string(seed)]+1, cur)
		if step <= cur+1 { // the server accepts one step either side
			c.last[string(seed)] = step
			return challenge.TOTPCode(seed, time.Unix(step*30, 0))
		}
		time.Sleep(time.Until(time.Unix((cur+1)*30, 0)) + 100*time.Millisecond)
	}
}

func readSecret(t *testing.T, s string) []byte {
	t.Helper()
	seed, err := challenge.ParseTOTPSecret(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("the secret on the page %q: %v", s, err)
	}
	return seed
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.EvaluateAsDevTools[string](fmt.Sprintf(
		`document.querySelector(%q).getAttribute(%q) || ""`, sel, name)))
	if err != nil {
		t.Fatalf("%s[%s]: %v", sel, name, err)
	}
	return v
}

// artifactsDir is where screenshots go: $KAKUNIN_ARTIFACTS/portal, or
// artifacts/portal at the repository's root (git-ignored).
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("KAKUNIN_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts")
	}
	dir = filepath.Join(dir, "portal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}
