package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kakunin/challenge"
	"kakunin/challenge/webpush"
	"kakunin/internal/testenv"
	"kakunin/store"
)

// TestPortalRegisteredWebPushApprovesARadiusSignIn registers a phone for
// push in the portal as its service worker would (the subscription of a
// browser at a fake push service that checks VAPID and decrypts), makes it
// the default, and signs in over RADIUS with radclient: the push service
// receives the encrypted approval, whose url is the approval page on the
// callbacks' public URL; picking the number there and pressing Enter in
// the VPN client accepts.
func TestPortalRegisteredWebPushApprovesARadiusSignIn(t *testing.T) {
	const n = 9
	if !testenv.InVPNStaff(n) {
		t.Fatal("the generated directory's vpn-staff members changed; pick another user")
	}
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 10})
	priv, pub, err := webpush.GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	ps := testenv.NewPushService(t, pub)
	psURL, err := url.Parse(ps.URL)
	if err != nil {
		t.Fatal(err)
	}
	cb := freeAddr(t)
	yaml := serverYAML(slapd, slapd.URL, sqliteStore(t.TempDir(), newStoreKey(t))) + fmt.Sprintf(`push:
  webpush: {vapid_private_key: %q, subject: "mailto:vpn-admin@example.ac.jp"}
callbacks:
  listen: %s
  public_url: http://%s
  signing_key: "callback-signing-key-for-the-test-0123456789"
portal:
  listen: 127.0.0.1:0
  push_services: [%s] # the fake push service, on its port
`, priv, cb, cb, psURL.Host)
	cfg, err := parseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a := startApp(t, cfg, newLogger(cfg.Log, logs))
	ctx := t.Context()
	id, password := testenv.UserID(n), testenv.UserPassword(n)

	// The user has an authenticator app, to sign in to the portal with.
	admin, err := challenge.NewAdmin(cfg.Flow, a.store)
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 20)
	rand.Read(seed)
	if _, _, err := admin.AddTOTP(ctx, id, "app", seed, "test"); err != nil {
		t.Fatal(err)
	}

	base := "http://" + a.portal.Addr().String()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	page := func(method, path string, form url.Values) (string, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Request.URL.RequestURI(), string(b)
	}
	if loc, _ := page("POST", "/signin", url.Values{"id": {id}, "password": {password}}); loc != "/signin/code" {
		t.Fatalf("after the password: %s", loc)
	}
	if loc, _ := page("POST", "/signin/code", url.Values{"code": {challenge.TOTPCode(seed, time.Now())}}); loc != "/security" {
		t.Fatalf("after the code: %s", loc)
	}
	loc, body := page("GET", "/setup/push", nil)
	if loc != "/setup/push" || !strings.Contains(body, `data-vapid-key="`+pub+`"`) {
		t.Fatalf("add-push page: %s, VAPID key shown: %v", loc, strings.Contains(body, pub))
	}
	if loc, body := page("POST", "/setup/push", url.Values{"subscription": {ps.Subscription()}, "label": {"Pixel"}}); loc != "/security?notice=push_added" {
		t.Fatalf("registering the subscription: %s\n%s", loc, body)
	}
	ms, _ := a.store.Methods(ctx, id)
	i := slices.IndexFunc(ms, func(m store.Method) bool { return m.Kind == store.KindPush })
	if i < 0 {
		t.Fatalf("no push method after registering: %+v", ms)
	}
	if loc, _ := page("POST", "/security/default", url.Values{"method": {ms[i].ID}}); loc != "/security?notice=default" {
		t.Fatalf("making the push app the default: %s", loc)
	}

	// The VPN sign-in: password, the menu (the push app first), the push.
	addr := a.radius.AuthAddrs()[0].String()
	send := func(answer, state string) testenv.RadReply {
		in := `User-Name = "` + id + `", User-Password = "` + answer + `"`
		if state != "" {
			in += `, State = ` + state
		}
		return testenv.Radclient(t, addr, "auth", testSecret, in+`, Message-Authenticator = 0x00`)
	}
	r := send(password, "")
	if r.Code != "Access-Challenge" {
		t.Fatalf("password: %s", r.Out)
	}
	r = send("1", r.Attrs["State"][0])
	if r.Code != "Access-Challenge" || len(r.Attrs["State"]) != 1 {
		t.Fatalf("choosing the push app: %s\n%s", r.Out, logs.String())
	}
	shown := regexp.MustCompile(`\b[0-9]{2}\b`).FindString(strings.Join(r.Attrs["Reply-Message"], " "))
	msgs := ps.WaitMessages(t, 1, 5*time.Second)
	var note webpush.Notification
	if err := json.Unmarshal(msgs[0].Plaintext, &note); err != nil {
		t.Fatalf("the decrypted payload %q: %v", msgs[0].Plaintext, err)
	}
	if !strings.HasPrefix(note.URL, "http://"+cb+"/v1/approve/") || note.Tag == "" || note.Title == "" || note.Body == "" {
		t.Fatalf("notification %+v, want the approval page on http://%s", note, cb)
	}
	if len(note.Numbers) != 3 || !slices.Contains(note.Numbers, atoi(shown)) {
		t.Fatalf("notification offers %v, the VPN client shows %q", note.Numbers, shown)
	}
	if u := msgs[0].Header.Get("Urgency"); u != "high" {
		t.Errorf("Urgency %q, want high", u)
	}
	// The service worker opens note.URL: the user picks the number there.
	resp, err := http.Get(note.URL)
	if err != nil {
		t.Fatal(err)
	}
	page1, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page1), `value="`+shown+`"`) {
		t.Fatalf("approval page: %d\n%s", resp.StatusCode, page1)
	}
	resp, err = http.PostForm(note.URL, url.Values{"decision": {"approve"}, "number": {shown}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("approving: %d", resp.StatusCode)
	}
	if r = send("", r.Attrs["State"][0]); r.Code != "Access-Accept" {
		t.Fatalf("Enter after approving: %s\n%s", r.Out, logs.String())
	}
	if len(ps.Messages()) != 1 {
		t.Errorf("%d push messages for one sign-in, want 1", len(ps.Messages()))
	}
	var sub struct{ Keys struct{ Auth string } }
	json.Unmarshal([]byte(ps.Subscription()), &sub)
	endpoint, _ := url.Parse(ps.URL)
	checkNoSecrets(t, logs.String(), map[string]string{"password": password, "VAPID private key": priv,
		"subscription auth secret": sub.Keys.Auth, "subscription endpoint's path": endpoint.Path})
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestPushPageInChromium opens the add-push page in headless Chromium: its
// external script runs under the CSP (it marks the page with its state and
// leaves the button offered), and the service worker registers at /sw.js
// for the whole portal. Nothing subscribes: that would need a real push
// service on the internet.
func TestPushPageInChromium(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "chromium")
	const n = 9
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 10})
	priv, pub, err := webpush.GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	cb := freeAddr(t)
	yaml := serverYAML(slapd, slapd.URL, sqliteStore(t.TempDir(), newStoreKey(t))) + fmt.Sprintf(`push:
  webpush: {vapid_private_key: %q, subject: "mailto:vpn-admin@example.ac.jp"}
callbacks:
  listen: %s
  public_url: http://%s
  signing_key: "callback-signing-key-for-the-test-0123456789"
portal:
  listen: 127.0.0.1:0
  push_services: [127.0.0.1] # the fake push service
`, priv, cb, cb)
	cfg, err := parseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg, newLogger(cfg.Log, &syncBuffer{}))
	id, password := testenv.UserID(n), testenv.UserPassword(n)
	admin, err := challenge.NewAdmin(cfg.Flow, a.store)
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 20)
	rand.Read(seed)
	if _, _, err := admin.AddTOTP(t.Context(), id, "app", seed, "test"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.portal.Addr().String()

	br := startChromium(t, chromium, time.Minute)
	ctx, do := br.ctx, br.do

	do("sign in", chromedp.Navigate(base+"/"), visible("#password"),
		typeIn("#id", id), typeIn("#password", password), click("#submit"), visible("#code"),
		typeIn("#code", challenge.TOTPCode(seed, time.Now())), click("#submit"), visible("#add-push"))
	do("add-push page", click("#add-push"), visible("#push-enable"), chromedp.WaitReady(chromedp.CSS("#push[data-state]")))
	state := attr(t, ctx, "#push", "data-state")
	if key := attr(t, ctx, "#push", "data-vapid-key"); key != pub {
		t.Errorf("data-vapid-key %q, want the VAPID public key", key)
	}
	// Headless Chromium has the Push API: the page offers the button.
	if state != "ready" {
		t.Errorf("push.js left the page in state %q, want ready (the button offered)", state)
	}
	scope, err := chromedp.Run(ctx, chromedp.EvaluateAsDevTools[string](
		`navigator.serviceWorker.register('/sw.js', {scope: '/'}).then(r => r.scope)`,
		chromedp.EvalAwaitPromise))
	if err != nil || scope != base+"/" {
		t.Errorf("registering the service worker: scope %q, %v; want %s/", scope, err, base)
	}
	br.shot("push-ja")
	do("English", click("#lang"), visible(`html[lang="en"]`), visible("#push-enable"), chromedp.WaitReady(chromedp.CSS("#push[data-state]")))
	br.shot("push-en")

	// A registered push app on the security info page, and its test
	// notification sent from the browser. (The subscription is a fake push
	// service's, added as the help desk would: a headless browser cannot
	// subscribe.)
	ps := testenv.NewPushService(t, pub)
	if _, err := admin.AddPush(t.Context(), id, "Pixel", challenge.PushRegistration{Channel: "webpush", Subscription: json.RawMessage(ps.Subscription())}, "test"); err != nil {
		t.Fatal(err)
	}
	do("security info", chromedp.Navigate(base+"/security"), visible(".push-test button"))
	br.shot("security-push-en")
	do("test notification", click(".push-test button"), visible("#notice"))
	msgs := ps.WaitMessages(t, 1, 5*time.Second)
	var note webpush.Notification
	if err := json.Unmarshal(msgs[0].Plaintext, &note); err != nil || note.Title != "Test notification" || note.Numbers != nil {
		t.Errorf("test notification %+v, %v", note, err)
	}
	br.checkViolations()
}

func TestDemoWebPushKeyIsKeptAcrossRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vapid.key")
	first, err := demoWebPush(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := demoWebPush(path)
	if err != nil {
		t.Fatal(err)
	}
	if first.VAPIDPrivateKey.Value() != again.VAPIDPrivateKey.Value() {
		t.Error("a second run made a new VAPID key: every registered phone would stop getting notifications")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("vapid.key: %v, %v; want mode 0600", fi, err)
	}
}
