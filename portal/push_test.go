package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/challenge/webpush"
	"kakunin/internal/testenv"
	"kakunin/store"
)

// newPushEnv is newEnv with push.webpush configured: the portal offers
// push-capable apps under a fresh VAPID key.
func newPushEnv(t *testing.T) (*env, *webpush.VAPID) {
	t.Helper()
	e := newEnv(t)
	priv, _, err := webpush.GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	v, err := webpush.NewVAPID(priv, "mailto:it@example.ac.jp")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(e.srv.cfg, e.eng, e.admin, e.st, e.issuer, e.srv.log, nil, WithClock(e.clock.now), WithWebPush(v, webpush.New(v, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.ts.Close()
	e.srv = srv
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(e.ts.Close)
	return e, v
}

// pushService starts a fake push service and lets the portal accept its
// subscriptions: it listens on 127.0.0.1, on a port of its own.
func (e *env) pushService(t *testing.T, v *webpush.VAPID) *testenv.PushService {
	t.Helper()
	ps := testenv.NewPushService(t, v.PublicKey())
	u, err := url.Parse(ps.URL)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.cfg.PushServices = append([]string{u.Host}, DefaultPushServices...)
	return ps
}

func (e *env) pushMethods() []store.Method {
	e.t.Helper()
	ms, err := e.st.Methods(e.t.Context(), userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return slices.DeleteFunc(ms, func(m store.Method) bool { return m.Kind != store.KindPush })
}

var inlineScriptRE = regexp.MustCompile(`<script(?:\s[^>]*)?>`)

func TestPushAppPageNamesTheVAPIDKeyAndLoadsItsScript(t *testing.T) {
	e, v := newPushEnv(t)
	b := e.browser()
	b.enroll(userID, password)
	if r := b.get("/security"); !strings.Contains(r.body, `id="add-push" class="button" href="/setup/push"`) {
		t.Fatal("the security info page does not offer a push-capable app")
	}
	r := b.get("/setup/push")
	if r.status != http.StatusOK || r.path != "/setup/push" {
		t.Fatalf("add-push page: %d %s", r.status, r.path)
	}
	for _, want := range []string{
		`data-vapid-key="` + v.PublicKey() + `"`,
		`<script src="/static/push.js" defer></script>`,
		`id="push-enable"`, `name="subscription"`,
		text("ja", "push_ios"), text("ja", "push_unsupported"), text("ja", "push_denied"),
		`<link rel="manifest" href="/static/manifest.webmanifest">`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the add-push page lacks %s", want)
		}
	}
	for _, tag := range inlineScriptRE.FindAllString(r.body, -1) {
		if !strings.Contains(tag, `src="/static/`) {
			t.Errorf("inline script %s, which the CSP forbids", tag)
		}
	}
	for _, inline := range []string{"style=", "<style", "onclick", "javascript:"} {
		if strings.Contains(strings.ToLower(r.body), inline) {
			t.Errorf("the add-push page has inline %s", inline)
		}
	}
	got := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "worker-src 'self'", "manifest-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(got, want) {
			t.Errorf("CSP %q lacks %s", got, want)
		}
	}
	if strings.Contains(got, "unsafe") || strings.Contains(got, "*") || strings.Contains(got, "http") {
		t.Errorf("CSP %q is loosened", got)
	}
	en := b.get("/lang?to=en&next=/setup/push")
	if !strings.Contains(en.body, text("en", "push_ios")) || !strings.Contains(en.body, text("en", "push_enable")) {
		t.Error("the add-push page is not in English after the switch")
	}
	if r := b.get("/static/push.js"); r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(r.body, "applicationServerKey") || !strings.Contains(r.body, "userVisibleOnly: true") {
		t.Errorf("push.js: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

func TestPushAppsAreNotOfferedWithoutWebPush(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll(userID, password)
	if r := b.get("/security"); strings.Contains(r.body, "add-push") {
		t.Error("the security page offers push apps without push.webpush")
	}
	if r := b.get("/setup/push"); r.status != http.StatusNotFound {
		t.Errorf("add-push page without push.webpush: %d", r.status)
	}
}

func TestPushSubscriptionIsSavedAndShown(t *testing.T) {
	e, v := newPushEnv(t)
	ps := e.pushService(t, v)
	b := e.browser()
	b.enroll(userID, password)
	r := b.post("/setup/push", url.Values{"subscription": {ps.Subscription()}, "label": {"Pixel 8"}})
	if r.path != "/security?notice=push_added" || !strings.Contains(r.body, text("ja", "notice_push_added")) {
		t.Fatalf("after posting a subscription: %s %q", r.path, errorOf(r))
	}
	ms := e.pushMethods()
	if len(ms) != 1 || ms[0].Label != "Pixel 8" {
		t.Fatalf("push methods %+v", ms)
	}
	var reg challenge.PushRegistration
	if err := json.Unmarshal(ms[0].Secret, &reg); err != nil || reg.Channel != "webpush" {
		t.Fatalf("registration %s: %v", ms[0].Secret, err)
	}
	sub, err := webpush.ParseSubscription(reg.Subscription)
	if err != nil || sub.Endpoint != ps.URL {
		t.Fatalf("stored subscription %s: %v", reg.Subscription, err)
	}
	if strings.Contains(string(reg.Subscription), "expirationTime") {
		t.Error("the stored subscription keeps members nothing reads")
	}
	for _, want := range []string{text("ja", "kind_push"), "Pixel 8", text("ja", "sec_push_test", "Pixel 8")} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the security page lacks %q", want)
		}
	}
	evs, _ := e.st.Events(t.Context(), userID, 0)
	if !slices.ContainsFunc(evs, func(ev store.Event) bool {
		return ev.Action == "method_added" && ev.Actor == "portal" && strings.Contains(ev.Detail, "kind=push") && strings.Contains(ev.Detail, "channel=webpush")
	}) {
		t.Errorf("no method_added audit event for the push app: %+v", evs)
	}
	// The same browser again is refused, not stored twice.
	r = b.post("/setup/push", url.Values{"subscription": {ps.Subscription()}})
	if r.status != http.StatusConflict || errorOf(r) != text("ja", "err_push_duplicate") {
		t.Errorf("the same subscription twice: %d %q", r.status, errorOf(r))
	}
	if n := len(e.pushMethods()); n != 1 {
		t.Errorf("%d push methods after a duplicate", n)
	}
}

func TestPushTestNotificationIsNotAnApproval(t *testing.T) {
	e, v := newPushEnv(t)
	ps := e.pushService(t, v)
	b := e.browser()
	b.enroll(userID, password)
	b.post("/setup/push", url.Values{"subscription": {ps.Subscription()}, "label": {"Pixel"}})
	m := e.pushMethods()[0]
	r := b.post("/security/push-test", url.Values{"method": {m.ID}})
	if r.path != "/security?notice=push_test_sent" {
		t.Fatalf("test notification: %s", r.path)
	}
	got := ps.WaitMessages(t, 1, 5*time.Second)
	var n webpush.Notification
	if err := json.Unmarshal(got[0].Plaintext, &n); err != nil {
		t.Fatal(err)
	}
	if n.Title != text("ja", "push_test_title") || n.Numbers != nil || strings.Contains(n.URL, "approve") ||
		!strings.HasSuffix(n.URL, "/security") || n.Tag != "test-"+m.ID {
		t.Errorf("test notification %+v", n)
	}
	if r := b.post("/security/push-test", url.Values{"method": {m.ID}}); r.path != "/security?notice=push_test_wait" {
		t.Errorf("a second test at once: %s", r.path)
	}
	e.clock.advance(time.Minute)
	ps.Answer(http.StatusGone)
	if r := b.post("/security/push-test", url.Values{"method": {m.ID}}); r.path != "/security?notice=push_test_gone" ||
		!strings.Contains(r.body, text("ja", "notice_push_test_gone")) {
		t.Errorf("test to an unsubscribed browser: %s", r.path)
	}
	if len(ps.Messages()) != 1 {
		t.Errorf("%d messages, want 1", len(ps.Messages()))
	}
	// Another user's method, or a TOTP app, gets nothing.
	ms, _ := e.st.Methods(t.Context(), userID)
	app := ms[slices.IndexFunc(ms, func(m store.Method) bool { return m.Kind == store.KindTOTP })]
	e.clock.advance(time.Minute)
	ps.Answer(0)
	for _, id := range []string{app.ID, "nonexistent"} {
		if r := b.post("/security/push-test", url.Values{"method": {id}}); r.path != "/security" {
			t.Errorf("test to %s: %s", id, r.path)
		}
	}
	if len(ps.Messages()) != 1 {
		t.Errorf("a test was sent to something not a push app")
	}
}

func TestInvalidPushSubscriptionIsRefusedWithTheError(t *testing.T) {
	e, v := newPushEnv(t)
	ps := e.pushService(t, v)
	var good map[string]any
	json.Unmarshal([]byte(ps.Subscription()), &good)
	with := func(f func(m map[string]any)) string {
		m := map[string]any{"endpoint": good["endpoint"], "keys": map[string]any{}}
		for k, v := range good["keys"].(map[string]any) {
			m["keys"].(map[string]any)[k] = v
		}
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	b := e.browser()
	b.enroll(userID, password)
	for name, sub := range map[string]string{
		"empty":             "",
		"not JSON":          "{endpoint",
		"plain http":        with(func(m map[string]any) { m["endpoint"] = "http://push.example.com/wp/x" }),
		"no endpoint":       with(func(m map[string]any) { delete(m, "endpoint") }),
		"short auth":        with(func(m map[string]any) { m["keys"].(map[string]any)["auth"] = "AAAA" }),
		"p256dh off curve":  with(func(m map[string]any) { m["keys"].(map[string]any)["p256dh"] = "BAAA" + strings.Repeat("A", 83) }),
		"endpoint too long": with(func(m map[string]any) { m["endpoint"] = "https://push.example.com/" + strings.Repeat("x", 2100) }),
	} {
		r := b.post("/setup/push", url.Values{"subscription": {sub}, "label": {"mine"}})
		if r.status != http.StatusBadRequest || r.path != "/setup/push" || errorOf(r) != text("ja", "err_push_subscription") {
			t.Errorf("%s: %d %s %q", name, r.status, r.path, errorOf(r))
		}
		if !strings.Contains(r.body, `value="mine"`) {
			t.Errorf("%s: the name typed is gone", name)
		}
	}
	// A valid subscription at a host that is not a push service (an
	// internal address, say) is refused: kakunin would post to it.
	for _, endpoint := range []string{"https://intranet.example.ac.jp/wp/x", "http://localhost:9090/wp/x", "https://fcm.googleapis.com.evil.example/wp/x",
		"https://fcm.googleapis.com:9812/x", "https://updates.push.services.mozilla.com:8443/wpush/v2/x"} {
		sub := with(func(m map[string]any) { m["endpoint"] = endpoint })
		r := b.post("/setup/push", url.Values{"subscription": {sub}, "label": {"mine"}})
		if r.status != http.StatusBadRequest || errorOf(r) != text("ja", "err_push_service") {
			t.Errorf("endpoint %s: %d %q", endpoint, r.status, errorOf(r))
		}
	}
	if ms := e.pushMethods(); len(ms) != 0 {
		t.Errorf("an invalid subscription was saved: %+v", ms)
	}
}

func TestAddingAPushAppNeedsStepUpAndSameOrigin(t *testing.T) {
	e, v := newPushEnv(t)
	ps := e.pushService(t, v)
	b := e.browser()
	seed := b.enroll(userID, password)
	form := url.Values{"subscription": {ps.Subscription()}, "label": {"Pixel"}}

	// Another site's page cannot post a subscription of its own.
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}} {
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/setup/push", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if r := b.do(req); r.status != http.StatusForbidden {
			t.Errorf("cross-origin POST with %v: %d, want 403", h, r.status)
		}
	}
	// Ten minutes after the last code, a change needs a new one.
	e.clock.advance(11 * time.Minute)
	if r := b.get("/setup/push"); r.path != "/stepup?next=%2Fsetup%2Fpush" {
		t.Errorf("add-push page 11 minutes after the code: %s", r.path)
	}
	if r := b.post("/setup/push", form); !strings.HasPrefix(r.path, "/stepup") {
		t.Errorf("posting a subscription without step-up: %s", r.path)
	}
	if ms := e.pushMethods(); len(ms) != 0 {
		t.Fatalf("saved without step-up or from another origin: %+v", ms)
	}
	if r := b.post("/stepup", url.Values{"code": {e.code(seed)}, "next": {"/setup/push"}}); r.path != "/setup/push" {
		t.Fatalf("after step-up: %s", r.path)
	}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/setup/push", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", e.ts.URL)
	if r := b.do(req); r.path != "/security?notice=push_added" {
		t.Errorf("same-origin POST after step-up: %d %s", r.status, r.path)
	}
	// A user with no method yet is sent to set up a first one (a push app
	// cannot verify a portal sign-in).
	b2 := e.browser()
	b2.signIn(otherID, otherPW, nil)
	b2.post("/apply", url.Values{"use": {"yes"}})
	if r := b2.get("/setup/push"); r.path != "/setup" {
		t.Errorf("add-push page without a method: %s, want /setup", r.path)
	}
}

func TestServiceWorkerAndManifestAreServedForTheWholePortal(t *testing.T) {
	e, _ := newPushEnv(t)
	b := e.browser()
	r := b.get("/sw.js")
	if r.status != http.StatusOK {
		t.Fatalf("/sw.js: %d", r.status)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/javascript; charset=utf-8",
		"Service-Worker-Allowed": "/",
		"Cache-Control":          "no-cache",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("/sw.js: %s = %q, want %q", k, got, want)
		}
	}
	for _, want := range []string{"'push'", "showNotification", "requireInteraction: true", "tag: d.tag", "'notificationclick'", "openWindow", "d.url"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the service worker lacks %s", want)
		}
	}
	r = b.get("/static/manifest.webmanifest")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/manifest+json" {
		t.Fatalf("manifest: %d %s", r.status, r.header.Get("Content-Type"))
	}
	var m struct {
		Name, Scope, Display string
		ShortName            string `json:"short_name"`
		StartURL             string `json:"start_url"`
		Icons                []struct{ Src, Sizes, Type string }
	}
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.ShortName == "" || m.StartURL != "/security" || m.Display != "standalone" || len(m.Icons) == 0 {
		t.Errorf("manifest %+v", m)
	}
	for _, ic := range m.Icons {
		r := b.get(ic.Src)
		img, err := png.Decode(bytes.NewReader([]byte(r.body)))
		if r.header.Get("Content-Type") != "image/png" || err != nil {
			t.Errorf("icon %s: %s %v", ic.Src, r.header.Get("Content-Type"), err)
			continue
		}
		if s := img.Bounds().Size(); ic.Sizes != fmt.Sprintf("%dx%d", s.X, s.Y) {
			t.Errorf("icon %s is %v, manifest says %s", ic.Src, s, ic.Sizes)
		}
	}
	if r := b.get("/signin"); !strings.Contains(r.body, `rel="manifest"`) || !strings.Contains(r.body, `rel="apple-touch-icon"`) {
		t.Error("the layout does not link the manifest and the home-screen icon")
	}
}

func TestPushServicesAreHostsAndTheirSubdomainsOnTheirPort(t *testing.T) {
	c := Config{Listen: "127.0.0.1:0", PushServices: append([]string{"push.internal.example:8443", "127.0.0.1:9090"}, DefaultPushServices...)}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for endpoint, want := range map[string]bool{
		"https://fcm.googleapis.com/fcm/send/x":               true,
		"https://web.push.apple.com/QGx":                      true,
		"https://updates.push.services.mozilla.com/wpush/v2/": true,
		"https://wns2-par02p.notify.windows.com/w/?token=x":   true,
		"https://FCM.googleapis.com/fcm/send/x":               true,
		"https://evilpush.apple.com.example/x":                false,
		"https://notpush.apple.com/x":                         false,
		"https://127.0.0.1/x":                                 false,
		"::":                                                  false,
		// The service's port, 443, and no other.
		"https://fcm.googleapis.com:443/fcm/send/x":   true,
		"https://fcm.googleapis.com:9812/x":           false,
		"https://fcm.googleapis.com:0443/x":           false,
		"https://web.push.apple.com:8443/QGx":         false,
		"http://fcm.googleapis.com/x":                 false,
		"http://fcm.googleapis.com:443/x":             false,
		"https://user@fcm.googleapis.com/x":           false,
		"https://fcm.googleapis.com:/x":               true, // an empty port is the default
		"wss://fcm.googleapis.com/x":                  false,
		"https://push.internal.example:8443/wp/x":     true, // listed with its port
		"https://push.internal.example/wp/x":          false,
		"https://a.push.internal.example:8443/wp/x":   true,
		"https://push.internal.example:8444/wp/x":     false,
		"http://127.0.0.1:9090/wp/x":                  true, // a loopback test service, with its port
		"http://127.0.0.1:9091/wp/x":                  false,
		"http://127.0.0.1/wp/x":                       false,
		"https://127.0.0.1:9090.evil.example/wp/x":    false,
		"https://fcm.googleapis.com%3A9812/x":         false,
		"https://fcm.googleapis.com:443@evil.example": false,
	} {
		if got := c.pushServiceAllowed(endpoint); got != want {
			t.Errorf("%s: allowed %v, want %v", endpoint, got, want)
		}
	}
	for _, bad := range []string{"https://fcm.googleapis.com", "fcm.googleapis.com:", "fcm.googleapis.com:0", "fcm.googleapis.com:65536",
		"fcm.googleapis.com:0443", "fcm.googleapis.com:x", ":443", "[::1]:443", "user@fcm.googleapis.com", ""} {
		c := Config{Listen: "127.0.0.1:0", PushServices: []string{bad}}
		c.SetDefaults()
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "push_services[0]") {
			t.Errorf("push_services [%q]: %v", bad, err)
		}
	}
}
