package portal

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/challenge/callback"
	"kakunin/store"
)

// fakePusher records the notifications the engine sends, as a push
// gateway would receive them.
type fakePusher struct {
	mu  sync.Mutex
	got []challenge.PushRequest
}

func (f *fakePusher) Push(_ context.Context, r challenge.PushRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, r)
	return nil
}

func (f *fakePusher) sent() []challenge.PushRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]challenge.PushRequest(nil), f.got...)
}

// newPushSignInEnv is the portal with a push gateway channel ("webhook")
// configured; the tests answer notifications through the engine's Decide,
// as the callback handler does.
func newPushSignInEnv(t *testing.T) (*env, *fakePusher) {
	t.Helper()
	p := &fakePusher{}
	signer := callback.NewSigner("https://callbacks.invalid", []byte("callback-signing-key-0123456789abcdef"))
	return newEnvEngine(t, Config{Listen: "127.0.0.1:0"}, challenge.WithPush("webhook", p), challenge.WithCallbacks(signer)), p
}

func (e *env) addPushApp(label string) store.Method {
	e.t.Helper()
	m, err := e.admin.AddPush(e.t.Context(), userID, label, challenge.PushRegistration{Channel: "webhook", Device: "dev-1"}, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// lastPush is the last notification sent and the number the user must
// choose.
func (e *env) lastPush(p *fakePusher) (challenge.PushRequest, int) {
	e.t.Helper()
	sent := p.sent()
	if len(sent) == 0 {
		e.t.Fatal("no notification sent")
	}
	r := sent[len(sent)-1]
	a, err := e.eng.GetApproval(e.t.Context(), r.ApprovalID)
	if err != nil {
		e.t.Fatal(err)
	}
	return r, a.Number
}

func (e *env) decide(id string, ans challenge.Answer, number int) {
	e.t.Helper()
	if _, err := e.eng.Decide(e.t.Context(), id, ans, number, "test"); err != nil {
		e.t.Fatalf("decide: %v", err)
	}
}

func TestUserWithAnAppAndPushSignsInAndStepsUpByPush(t *testing.T) {
	e, pusher := newPushSignInEnv(t)
	b := e.browser()
	b.enroll(userID, password)
	m := e.addPushApp("Pixel")

	b = e.browser()
	r := b.signIn(userID, password, nil)
	if r.path != "/signin/code" || !strings.Contains(r.body, `id="code"`) || !strings.Contains(r.body, `id="push-`+m.ID+`"`) ||
		!strings.Contains(r.body, text("ja", "signin_push", "Pixel")) {
		t.Fatalf("code page of a user with an app and push: %s\n%s", r.path, r.body)
	}
	r = b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"push"}})
	push, n := e.lastPush(pusher)
	if r.path != "/signin/phone" || !strings.Contains(r.body, text("ja", "signin_push_sent", "Pixel", n)) || !strings.Contains(r.body, `id="continue"`) {
		t.Fatalf("after choosing push: %s, error %q\n%s", r.path, errorOf(r), r.body)
	}
	if push.UserID != userID || len(push.Numbers) != 3 || push.Language != "ja" {
		t.Errorf("notification %+v: want three numbers, in Japanese", push)
	}
	if r = b.post("/signin/phone/verify", nil); r.path != "/signin/phone/verify" || !strings.Contains(r.body, text("ja", "signin_push_waiting")) {
		t.Fatalf("continue before approving: %s\n%s", r.path, r.body)
	}
	if r = b.get("/security"); r.path != "/signin/code" {
		t.Fatalf("security info before the approval: %s", r.path)
	}
	e.decide(push.ApprovalID, challenge.Approve, n)
	if r = b.post("/signin/phone/verify", nil); r.path != "/security" {
		t.Fatalf("continue after approving: %s, error %q", r.path, errorOf(r))
	}

	// Eleven minutes later a change needs a second factor again: push
	// is offered beside the app's code.
	e.clock.advance(11 * time.Minute)
	r = b.get("/setup/app")
	if !strings.HasPrefix(r.path, "/stepup") || !strings.Contains(r.body, `id="push-`+m.ID+`"`) {
		t.Fatalf("step-up: %s\n%s", r.path, r.body)
	}
	if r = b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"push"}, "next": {"/setup/app"}}); r.path != "/signin/phone" {
		t.Fatalf("step-up push: %s, error %q", r.path, errorOf(r))
	}
	push, n = e.lastPush(pusher)
	e.decide(push.ApprovalID, challenge.Approve, n)
	if r = b.post("/signin/phone/verify", nil); r.path != "/setup/app" {
		t.Fatalf("after the step-up push: %s, error %q", r.path, errorOf(r))
	}
}

func TestPushOnlyUserSignsInByPush(t *testing.T) {
	e, pusher := newPushSignInEnv(t)
	m := e.addPushApp("")
	b := e.browser()
	r := b.signIn(userID, password, nil)
	if r.path != "/signin/code" || errorOf(r) != "" || strings.Contains(r.body, `id="code"`) ||
		!strings.Contains(r.body, `id="push-`+m.ID+`"`) || !strings.Contains(r.body, text("ja", "signin_push", pushName("ja", m))) {
		t.Fatalf("push-only user after the password: %s, error %q\n%s", r.path, errorOf(r), r.body)
	}

	// The wrong number fails, and the code page is shown again.
	b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"push"}})
	push, n := e.lastPush(pusher)
	wrong := n + 1
	if wrong > 99 {
		wrong = 10
	}
	e.decide(push.ApprovalID, challenge.Approve, wrong)
	if r = b.post("/signin/phone/verify", nil); r.path != "/signin/phone/verify" || errorOf(r) != text("ja", "err_push_signin_failed") {
		t.Fatalf("continue after the wrong number: %s, error %q", r.path, errorOf(r))
	}
	if r = b.get("/security"); r.path != "/signin/code" {
		t.Fatalf("security info after the wrong number: %s", r.path)
	}

	// The right number signs in.
	if r = b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"push"}}); r.path != "/signin/phone" {
		t.Fatalf("second push: %s, error %q", r.path, errorOf(r))
	}
	push, n = e.lastPush(pusher)
	e.decide(push.ApprovalID, challenge.Approve, n)
	if r = b.post("/signin/phone/verify", nil); r.path != "/security" {
		t.Fatalf("continue after approving: %s, error %q", r.path, errorOf(r))
	}
}

func TestPushSignInReportedAsFraudLocksPushAndPhones(t *testing.T) {
	e, pusher := newPushSignInEnv(t)
	m := e.addPushApp("Pixel")
	b := e.browser()
	b.signIn(userID, password, nil)
	b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"push"}})
	push, _ := e.lastPush(pusher)
	e.decide(push.ApprovalID, challenge.ReportFraud, 0)
	if r := b.post("/signin/phone/verify", nil); errorOf(r) != text("ja", "err_push_signin_failed") {
		t.Fatalf("continue after a fraud report: %s, error %q", r.path, errorOf(r))
	}
	if r := b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"push"}}); errorOf(r) != text("ja", "err_push_locked") || len(pusher.sent()) != 1 {
		t.Errorf("push after a fraud report: %s, error %q, %d notifications", r.path, errorOf(r), len(pusher.sent()))
	}
}
