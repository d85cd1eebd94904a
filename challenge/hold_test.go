package challenge_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/challenge/callback"
	"kakunin/challenge/twilio"
	"kakunin/challenge/webhook"
	"kakunin/internal/secret"
	"kakunin/internal/testenv"
	"kakunin/store"
)

// pushGateway is a fake organisation push gateway: a real HTTP server that
// checks the signature of each push message and records it.
type pushGateway struct {
	t      *testing.T
	url    string
	secret string
	mu     sync.Mutex
	got    []webhook.PushMessage
	fail   bool
}

func newPushGateway(t *testing.T) *pushGateway {
	g := &pushGateway{t: t, secret: "push-gateway-shared-secret-0123456789"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m webhook.PushMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if !webhook.VerifyApproval(g.secret, r.Header.Get("X-Kakunin-Timestamp"), m.ID, "push", string(raw), r.Header.Get("X-Kakunin-Signature"), time.Now(), time.Minute) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.fail {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		g.got = append(g.got, m)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

func (g *pushGateway) pushes() []webhook.PushMessage {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]webhook.PushMessage(nil), g.got...)
}

// answer posts the phone's decision to the push's callback URL, signed as
// the gateway signs it.
func (g *pushGateway) answer(client *http.Client, m webhook.PushMessage, decision string, number int) (int, string) {
	g.t.Helper()
	return postDecision(g.t, client, g.secret, m.CallbackURL, m.ID, "push", decision, number)
}

// postDecision posts a gateway's decision about approval id for purpose
// ("push" or "call") to url, signed with secret.
func postDecision(t *testing.T, client *http.Client, secret, url, id, purpose, decision string, number int) (int, string) {
	t.Helper()
	raw, _ := json.Marshal(webhook.Decision{Decision: decision, Number: number})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("X-Kakunin-Timestamp", ts)
	req.Header.Set("X-Kakunin-Signature", webhook.SignApproval(secret, ts, id, purpose, raw))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// telephonySecret is the telephony gateway's own secret (voice webhook).
const telephonySecret = "telephony-gateway-shared-secret-0123456789"

type holdFixture struct {
	t       *testing.T
	path    string
	dsn     string // PostgreSQL instead of SQLite at path
	key     store.EncryptionKey
	st      store.Store
	e       *challenge.Engine
	admin   *challenge.Admin
	gw      *pushGateway
	twilio  *testenv.FakeTwilio
	cb      *httptest.Server
	client  *http.Client // trusts the callback server
	logs    *testenv.LogBuffer
	cfg     challenge.Config
	handler http.Handler
	signer  *callback.Signer
}

const (
	pushUser = "2024000021" // push (default) and an app
	callUser = "2024000022" // an office phone with an extension
	pushOnly = "2024000023" // push only
)

func newHoldFixture(t *testing.T, mod ...func(*challenge.Config)) *holdFixture {
	return newHoldFixtureOn(t, "", mod...)
}

// newHoldFixtureOn runs on PostgreSQL at dsn ("" for SQLite).
func newHoldFixtureOn(t *testing.T, dsn string, mod ...func(*challenge.Config)) *holdFixture {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	f := &holdFixture{t: t, path: filepath.Join(t.TempDir(), "k.db"), dsn: dsn, logs: &testenv.LogBuffer{},
		key: store.EncryptionKey{ID: "t", Key: secret.New(base64.StdEncoding.EncodeToString(k))}}
	f.st = f.open()
	f.gw = newPushGateway(t)
	f.twilio = testenv.NewFakeTwilio(t)
	var mu sync.RWMutex
	f.cb = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		h := f.handler
		mu.RUnlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.cb.Close)
	f.client = f.cb.Client()
	f.signer = callback.NewSigner(f.cb.URL, []byte("callback-signing-key-0123456789abcdef"))
	f.cfg.SetDefaults()
	f.cfg.Languages = []string{"en"}
	f.cfg.Hold.NodeName = "node-a"
	f.cfg.Hold.Timeout = 3 * time.Second
	f.cfg.SMS.PerPhone = time.Nanosecond // tests call one phone again at once
	for _, m := range mod {
		m(&f.cfg)
	}
	f.e = f.engine(f.st, f.cfg)
	h, err := callback.New(f.e, f.signer, callback.Options{TwilioAuthToken: f.twilio.AuthToken,
		PushGatewaySecret: f.gw.secret, CallGatewaySecret: telephonySecret},
		slog.New(slog.NewTextHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	f.handler = h
	mu.Unlock()
	if f.admin, err = challenge.NewAdmin(f.cfg, f.st); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.admin.AddPush(ctx, pushUser, "Pixel", challenge.PushRegistration{Channel: "webhook", Device: "dev-1"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.admin.AddTOTP(ctx, pushUser, "", seed, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.AddPush(ctx, pushOnly, "", challenge.PushRegistration{Channel: "webhook", Device: "dev-2"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.AddPhone(ctx, callUser, store.KindOfficePhone, "+81 3-5555-1234", "4321", "desk", "test"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *holdFixture) open() store.Store {
	f.t.Helper()
	sc := store.Config{Driver: "sqlite", Path: f.path}
	if f.dsn != "" {
		sc = store.Config{Driver: store.DriverPostgres, DSN: secret.New(f.dsn)}
		sc.SetDefaults()
	}
	sc.Encryption.Keys = []store.EncryptionKey{f.key}
	st, err := store.Open(context.Background(), sc, slog.New(slog.NewTextHandler(f.logs, nil)))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { st.Close() })
	return st
}

// engine builds a node's engine on st and runs its watcher.
func (f *holdFixture) engine(st store.Store, cfg challenge.Config) *challenge.Engine {
	f.t.Helper()
	sms, err := webhook.New(webhook.Config{URL: f.gw.url, Secret: secret.New(f.gw.secret)}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	tc := twilio.Config{AccountSID: f.twilio.AccountSID, AuthToken: secret.New(f.twilio.AuthToken), From: "+815012345678", BaseURL: f.twilio.URL}
	tw, err := twilio.New(tc, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := challenge.New(cfg, directory{pushUser: "pw", callUser: "pw", pushOnly: "pw"}, st, log, nil,
		challenge.WithPush("webhook", sms), challenge.WithCaller(twilio.Caller{Client: tw}), challenge.WithCallbacks(f.signer))
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, 50*time.Millisecond) }()
	f.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("Run: %v", err)
		}
	})
	return e
}

var gw = netip.MustParseAddr("192.0.2.10")

func request(user, pw string, state []byte, id string) *challenge.Request {
	return &challenge.Request{Client: "gw", ClientAddr: gw, UserName: user, Password: pw, State: state,
		RequestID: id, CallingStationID: "203.0.113.5"}
}

// async runs one Authenticate in the background.
func async(e *challenge.Engine, req *challenge.Request) chan challenge.Decision {
	ch := make(chan challenge.Decision, 1)
	go func() { ch <- e.Authenticate(context.Background(), req) }()
	return ch
}

func (f *holdFixture) waitPushes(n int) []webhook.PushMessage {
	f.t.Helper()
	return waitN(f.t, "pushes", f.gw.pushes, n)
}

func (f *holdFixture) waitCalls(n int) []testenv.TwilioCall {
	f.t.Helper()
	return waitN(f.t, "calls", f.twilio.Calls, n)
}

// waitN waits until list returns at least n things (providers are called
// from goroutines the test does not join).
func waitN[T any](t *testing.T, what string, list func() []T, n int) []T {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got := list(); len(got) >= n {
			return got
		}
	}
	t.Fatalf("wanted %d %s, got %d", n, what, len(list()))
	return nil
}

func get(t *testing.T, ch chan challenge.Decision) challenge.Decision {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("held request never answered")
	}
	return challenge.Decision{}
}

var numberIn = regexp.MustCompile(`choose ([0-9]{2})`)

// pushChallenge signs in pushUser up to the number-matching challenge.
func (f *holdFixture) pushChallenge(user string) (challenge.Decision, int) {
	f.t.Helper()
	d := f.e.Authenticate(context.Background(), request(user, "pw", nil, "r1"))
	if user == pushUser {
		// The menu: push is the default, so option 1.
		if d.Outcome != challenge.Challenge || !strings.Contains(d.Messages[0], "1: approve on Pixel") {
			f.t.Fatalf("menu: %+v", d)
		}
		d = f.e.Authenticate(context.Background(), request(user, "1", d.State, "r2"))
	}
	m := numberIn.FindStringSubmatch(strings.Join(d.Messages, " "))
	if d.Outcome != challenge.Challenge || d.Method != "push" || m == nil {
		f.t.Fatalf("push challenge: %+v", d)
	}
	n, _ := strconv.Atoi(m[1])
	return d, n
}

func TestPushNumberMatchingApproves(t *testing.T) {
	f := newHoldFixture(t)
	d, n := f.pushChallenge(pushUser)
	p := f.waitPushes(1)[0]
	if p.User != pushUser || p.Device != "dev-1" || len(p.Numbers) != 3 || !slices.Contains(p.Numbers, n) {
		t.Fatalf("push message: %+v (number %d)", p, n)
	}
	// The user presses Enter: held until the phone answers.
	held := async(f.e, request(pushUser, "", d.State, "r3"))
	select {
	case d := <-held:
		t.Fatalf("answered before the phone did: %+v", d)
	case <-time.After(200 * time.Millisecond):
	}
	if code, body := f.gw.answer(f.client, p, "approve", n); code != 200 || !strings.Contains(body, "approved") {
		t.Fatalf("callback: %d %s", code, body)
	}
	if d := get(t, held); d.Outcome != challenge.Accept || d.Method != "push" {
		t.Fatalf("after approval: %+v", d)
	}
	// A duplicate callback is harmless and learns the outcome.
	if code, body := f.gw.answer(f.client, p, "deny", 0); code != 200 || !strings.Contains(body, "approved") {
		t.Errorf("duplicate callback: %d %s", code, body)
	}
}

func TestPushApprovedBeforeEnter(t *testing.T) {
	f := newHoldFixture(t)
	d, n := f.pushChallenge(pushOnly)
	p := f.waitPushes(1)[0]
	f.gw.answer(f.client, p, "approve", n)
	if d := f.e.Authenticate(context.Background(), request(pushOnly, "", d.State, "r3")); d.Outcome != challenge.Accept {
		t.Fatalf("Enter after approval: %+v", d)
	}
}

func TestPushWrongNumberDenies(t *testing.T) {
	f := newHoldFixture(t)
	d, n := f.pushChallenge(pushOnly)
	p := f.waitPushes(1)[0]
	held := async(f.e, request(pushOnly, "", d.State, "r3"))
	wrong := n + 1
	if wrong > 99 {
		wrong = 10
	}
	f.gw.answer(f.client, p, "approve", wrong)
	if d := get(t, held); d.Outcome != challenge.Reject || d.Reason != "wrong_number" || !strings.Contains(d.Messages[0], "did not match") {
		t.Fatalf("wrong number: %+v", d)
	}
}

func TestPushDeniedRejects(t *testing.T) {
	f := newHoldFixture(t)
	d, _ := f.pushChallenge(pushOnly)
	p := f.waitPushes(1)[0]
	held := async(f.e, request(pushOnly, "", d.State, "r3"))
	f.gw.answer(f.client, p, "deny", 0)
	if d := get(t, held); d.Outcome != challenge.Reject || d.Reason != "denied" {
		t.Fatalf("denied: %+v", d)
	}
}

func TestPushFraudLocksOutOfBandMethods(t *testing.T) {
	f := newHoldFixture(t)
	d, _ := f.pushChallenge(pushUser)
	p := f.waitPushes(1)[0]
	held := async(f.e, request(pushUser, "", d.State, "r3"))
	f.gw.answer(f.client, p, "fraud", 0)
	if d := get(t, held); d.Outcome != challenge.Reject || d.Reason != "fraud" || !strings.Contains(d.Messages[0], "help desk") {
		t.Fatalf("fraud: %+v", d)
	}
	// Push is no longer offered: the app's code is asked for directly.
	d = f.e.Authenticate(context.Background(), request(pushUser, "pw", nil, "r4"))
	if d.Outcome != challenge.Challenge || d.Method != "totp" {
		t.Fatalf("after fraud, sign-in offered %+v, want the app only", d)
	}
	ev, _ := f.st.Events(context.Background(), pushUser, 0)
	if len(ev) == 0 || ev[0].Action != "fraud_reported" {
		t.Errorf("audit events: %+v", ev)
	}
	// The help desk unlocks.
	if err := f.admin.Unlock(context.Background(), pushUser, "test"); err != nil {
		t.Fatal(err)
	}
	if d := f.e.Authenticate(context.Background(), request(pushUser, "pw", nil, "r5")); !strings.Contains(d.Messages[0], "approve on Pixel") {
		t.Errorf("after unlock: %+v", d)
	}
}

func TestPushUnansweredTimesOut(t *testing.T) {
	f := newHoldFixture(t, func(c *challenge.Config) { c.Hold.Timeout = 300 * time.Millisecond })
	d, n := f.pushChallenge(pushOnly)
	p := f.waitPushes(1)[0]
	if d := f.e.Authenticate(context.Background(), request(pushOnly, "", d.State, "r3")); d.Outcome != challenge.Reject || d.Reason != "no_answer" {
		t.Fatalf("unanswered: %+v", d)
	}
	// A late approval changes nothing.
	if code, body := f.gw.answer(f.client, p, "approve", n); code != 200 || !strings.Contains(body, "timeout") {
		t.Errorf("late callback: %d %s", code, body)
	}
}

func TestPushCappedPerUser(t *testing.T) {
	f := newHoldFixture(t, func(c *challenge.Config) { c.Push.MaxPerUser = 2 })
	f.pushChallenge(pushOnly)
	f.pushChallenge(pushOnly)
	d := f.e.Authenticate(context.Background(), request(pushOnly, "pw", nil, "r9"))
	if d.Outcome != challenge.Reject || d.Reason != "push_limited" {
		t.Fatalf("third push: %+v", d)
	}
	if n := len(f.gw.pushes()); n != 2 {
		t.Errorf("%d pushes sent, want 2", n)
	}
}

func TestPushGatewayFailureOffersOtherMethods(t *testing.T) {
	f := newHoldFixture(t)
	f.gw.mu.Lock()
	f.gw.fail = true
	f.gw.mu.Unlock()
	d := f.e.Authenticate(context.Background(), request(pushUser, "pw", nil, "r1"))
	d = f.e.Authenticate(context.Background(), request(pushUser, "1", d.State, "r2"))
	if d.Outcome != challenge.Challenge || d.Reason != "push_failed" || d.Method != "totp" {
		t.Fatalf("push gateway down: %+v", d)
	}
}

func TestForgedOrCrossPurposeCallbacksRefused(t *testing.T) {
	f := newHoldFixture(t)
	d, n := f.pushChallenge(pushOnly)
	p := f.waitPushes(1)[0]
	held := async(f.e, request(pushOnly, "", d.State, "r3"))
	// A forged MAC, and the push token used on the approval page's path.
	u, _ := url.Parse(p.CallbackURL)
	forged := *u
	forged.Path = u.Path[:len(u.Path)-3] + "AAA"
	page := *u
	page.Path = strings.Replace(u.Path, "/v1/push/", "/v1/approve/", 1)
	for _, bad := range []string{forged.String(), page.String()} {
		m := p
		m.CallbackURL = bad
		if code, _ := f.gw.answer(f.client, m, "approve", n); code != http.StatusNotFound {
			t.Errorf("callback to %s: status %d, want 404", bad, code)
		}
	}
	// Unsigned: refused.
	resp, err := f.client.Post(p.CallbackURL, "application/json", strings.NewReader(`{"decision":"approve","number":`+strconv.Itoa(n)+`}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned decision: %d, want 401", resp.StatusCode)
	}
	f.gw.answer(f.client, p, "deny", 0)
	if d := get(t, held); d.Outcome != challenge.Reject {
		t.Fatalf("%+v", d)
	}
}

func TestApprovePageApproves(t *testing.T) {
	f := newHoldFixture(t)
	d, n := f.pushChallenge(pushOnly)
	p := f.waitPushes(1)[0]
	held := async(f.e, request(pushOnly, "", d.State, "r3"))
	// The page a notification opens offers the three numbers.
	a, err := f.e.GetApproval(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	u := f.signer.URL(challenge.CallbackApprove, a.ID, a.ExpiresAt)
	resp, err := f.client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `value="`+strconv.Itoa(n)+`"`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("page: %d %s", resp.StatusCode, body)
	}
	// A cross-site form post is refused.
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("decision=approve&number="+strconv.Itoa(n)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := f.client.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site post: %v %v", resp.StatusCode, err)
	}
	resp, err = f.client.PostForm(u, url.Values{"decision": {"approve"}, "number": {strconv.Itoa(n)}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Approved") {
		t.Errorf("after approving: %s", body)
	}
	if d := get(t, held); d.Outcome != challenge.Accept {
		t.Fatalf("%+v", d)
	}
}

func TestCallApprovedWithPound(t *testing.T) {
	f := newHoldFixture(t)
	// The user chose English in the portal; the server's first language
	// is Japanese.
	f.cfg.Languages = []string{"ja", "en"}
	f.e = f.engine(f.st, f.cfg)
	h, err := callback.New(f.e, f.signer, callback.Options{TwilioAuthToken: f.twilio.AuthToken}, slog.New(slog.NewTextHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.handler = h
	if err := f.admin.SetLanguage(context.Background(), callUser, "en", "test"); err != nil {
		t.Fatal(err)
	}
	held := async(f.e, request(callUser, "pw", nil, "r1"))
	c := f.waitCalls(1)[0]
	if c.To != "+81355551234" || !strings.HasSuffix(c.SendDigits, "4321") || !strings.Contains(c.Twiml, "pound") {
		t.Fatalf("call: %+v", c)
	}
	code, twiml, err := f.twilio.Press(c, "#", f.client)
	if err != nil || code != 200 || !strings.Contains(twiml, "approved") {
		t.Fatalf("press #: %d %q %v", code, twiml, err)
	}
	if d := get(t, held); d.Outcome != challenge.Accept || d.Method != "call" {
		t.Fatalf("after #: %+v", d)
	}
	// The status callback after the call ends changes nothing.
	if code, err := f.twilio.End(c, "completed", f.client); err != nil || code != http.StatusNoContent {
		t.Errorf("status callback: %d %v", code, err)
	}
}

func TestCallFraudAndNoAnswer(t *testing.T) {
	f := newHoldFixture(t)
	held := async(f.e, request(callUser, "pw", nil, "r1"))
	c := f.waitCalls(1)[0]
	f.twilio.Press(c, "0", f.client)
	if d := get(t, held); d.Outcome != challenge.Reject || d.Reason != "fraud" {
		t.Fatalf("0: %+v", d)
	}
	// Locked: the office phone is not offered any more.
	if d := f.e.Authenticate(context.Background(), request(callUser, "pw", nil, "r2")); d.Reason != "no_usable_method" {
		t.Fatalf("after fraud: %+v", d)
	}
	f.admin.Unlock(context.Background(), callUser, "test")
	// Unanswered: the status callback denies; a forged signature is refused.
	held = async(f.e, request(callUser, "pw", nil, "r3"))
	c = f.waitCalls(2)[1]
	req, _ := http.NewRequest(http.MethodPost, c.GatherURL, strings.NewReader("Digits=%23&CallStatus=in-progress"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
	if resp, err := f.client.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged gather: %v %v", resp, err)
	}
	f.twilio.End(c, "no-answer", f.client)
	if d := get(t, held); d.Outcome != challenge.Reject || d.Reason != "denied" {
		t.Fatalf("no answer: %+v", d)
	}
}

func TestRetransmitToAnotherNodeAttaches(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			dsn := ""
			if db == "postgres" {
				dsn = testenv.PostgresDSN(t)
			}
			retransmitToAnotherNode(t, newHoldFixtureOn(t, dsn))
		})
	}
}

func retransmitToAnotherNode(t *testing.T, f *holdFixture) {
	cfgB := f.cfg
	cfgB.Hold.NodeName = "node-b"
	b := f.engine(f.open(), cfgB)

	// A call held in the first round at node A; the gateway fails over
	// and sends the same request to node B: no second call.
	heldA := async(f.e, request(callUser, "pw", nil, "r1"))
	c := f.waitCalls(1)[0]
	heldB := async(b, request(callUser, "pw", nil, "r1"))
	time.Sleep(200 * time.Millisecond)
	if n := len(f.twilio.Calls()); n != 1 {
		t.Fatalf("%d calls after the failover, want 1", n)
	}
	f.twilio.Press(c, "#", f.client)
	if d := get(t, heldA); d.Outcome != challenge.Accept {
		t.Errorf("node A: %+v", d)
	}
	if d := get(t, heldB); d.Outcome != challenge.Accept {
		t.Errorf("node B: %+v", d)
	}
	// The same request again after the decision learns it; another
	// request (another ID) starts afresh.
	if d := b.Authenticate(context.Background(), request(callUser, "pw", nil, "r1")); d.Outcome != challenge.Accept {
		t.Errorf("copy after the decision: %+v", d)
	}
	other := async(b, request(callUser, "pw", nil, "r2"))
	f.waitCalls(2)
	f.twilio.Press(f.twilio.Calls()[1], "1", f.client)
	if d := get(t, other); d.Outcome != challenge.Reject {
		t.Errorf("new request: %+v", d)
	}

	// Number matching: Enter held at node A, its retransmit at node B.
	d, n := f.pushChallenge(pushOnly)
	p := f.waitPushes(1)[0]
	heldA = async(f.e, request(pushOnly, "", d.State, "r3"))
	time.Sleep(100 * time.Millisecond)
	heldB = async(b, request(pushOnly, "", d.State, "r3"))
	time.Sleep(100 * time.Millisecond)
	f.gw.answer(f.client, p, "approve", n)
	if d := get(t, heldA); d.Outcome != challenge.Accept {
		t.Errorf("push node A: %+v", d)
	}
	if d := get(t, heldB); d.Outcome != challenge.Accept {
		t.Errorf("push node B: %+v", d)
	}
	if n := len(f.gw.pushes()); n != 1 {
		t.Errorf("%d pushes, want 1", n)
	}
}

func TestRestartFailsHeldApprovals(t *testing.T) {
	f := newHoldFixture(t)
	d, n := f.pushChallenge(pushOnly)
	p := f.waitPushes(1)[0]
	// The node restarts (same name, new run) before the user answers.
	restarted := f.engine(f.open(), f.cfg)
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, _ := f.st.GetApproval(context.Background(), p.ID)
		if a.Status == store.ApprovalFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("approval after restart: %s, want failed", a.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := f.gw.answer(f.client, p, "approve", n); code != 200 || !strings.Contains(body, "failed") {
		t.Errorf("approval after restart: %d %s", code, body)
	}
	// The gateway's retransmit reaches the restarted node: refused.
	if d := restarted.Authenticate(context.Background(), request(pushOnly, "", d.State, "r3")); d.Outcome != challenge.Reject {
		t.Fatalf("retransmit after restart: %+v", d)
	}
}

func TestHoldRefusedWhenTransportFull(t *testing.T) {
	f := newHoldFixture(t)
	req := request(callUser, "pw", nil, "r1")
	req.Hold = func() bool { return false }
	d := f.e.Authenticate(context.Background(), req)
	if d.Outcome != challenge.Reject || d.Reason != "busy" {
		t.Fatalf("%+v", d)
	}
	if n := len(f.twilio.Calls()); n != 0 {
		t.Errorf("%d calls placed for a request that could not be held", n)
	}
}

func TestPasswordSuffixPushAndCallHoldOneRequest(t *testing.T) {
	f := newHoldFixture(t)
	n := 0
	suffix := func(user, pw string) *challenge.Request {
		n++ // each a new packet, as a gateway sends them
		r := request(user, pw, nil, "s"+strconv.Itoa(n))
		r.Policy.PasswordSuffix = true
		return r
	}
	// password,push: no number to show, so the first request is held.
	held := async(f.e, suffix(pushOnly, "pw,push"))
	p := f.waitPushes(1)[0]
	if len(p.Numbers) != 0 {
		t.Errorf("a push without a prompt offers numbers %v", p.Numbers)
	}
	f.gw.answer(f.client, p, "approve", 0)
	if d := get(t, held); d.Outcome != challenge.Accept || d.Method != "push" {
		t.Fatalf("password,push: %+v", d)
	}
	// password,call: the office phone rings, # approves.
	held = async(f.e, suffix(callUser, "pw,call"))
	c := f.waitCalls(1)[0]
	f.twilio.Press(c, "#", f.client)
	if d := get(t, held); d.Outcome != challenge.Accept || d.Method != "call" {
		t.Fatalf("password,call: %+v", d)
	}
	// A method the user does not have is refused with a message.
	if d := f.e.Authenticate(context.Background(), suffix(pushOnly, "pw,call")); d.Outcome != challenge.Reject || d.Reason != "suffix_unsupported" {
		t.Fatalf("password,call without a phone: %+v", d)
	}
	// A wrong password with a suffix is a wrong password.
	if d := f.e.Authenticate(context.Background(), suffix(pushOnly, "nope,push")); d.Reason != "bad_password" {
		t.Fatalf("wrong password,push: %+v", d)
	}
	if n := len(f.gw.pushes()); n != 1 {
		t.Errorf("%d pushes, want 1", n)
	}
}

func TestSlowPushGatewayFailsOverToAnotherMethod(t *testing.T) {
	f := newHoldFixture(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer slow.Close()
	wc, err := webhook.New(webhook.Config{URL: slow.URL, Secret: secret.New(f.gw.secret), Timeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	e, err := challenge.New(f.cfg, directory{pushUser: "pw"}, f.st, log, nil,
		challenge.WithPush("webhook", wc), challenge.WithCallbacks(f.signer))
	if err != nil {
		t.Fatal(err)
	}
	d := e.Authenticate(context.Background(), request(pushUser, "pw", nil, "r1"))
	d = e.Authenticate(context.Background(), request(pushUser, "1", d.State, "r2"))
	if d.Outcome != challenge.Challenge || d.Reason != "push_failed" || d.Method != "totp" {
		t.Fatalf("push gateway too slow: %+v", d)
	}
}

func TestFailedCallIsNeverAnAccept(t *testing.T) {
	f := newHoldFixture(t)
	f.twilio.Fail(http.StatusInternalServerError)
	d := f.e.Authenticate(context.Background(), request(callUser, "pw", nil, "r1"))
	if d.Outcome != challenge.Reject || d.Reason != "call_failed" || !strings.Contains(d.Messages[0], "could not be placed") {
		t.Fatalf("Twilio down: %+v", d)
	}
}

func TestWebhookTelephonyGatewayCall(t *testing.T) {
	f := newHoldFixture(t)
	var mu sync.Mutex
	var calls []webhook.CallMessage
	tel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m webhook.CallMessage
		json.Unmarshal(raw, &m)
		if !webhook.VerifyApproval(telephonySecret, r.Header.Get("X-Kakunin-Timestamp"), m.ID, "call", string(raw), r.Header.Get("X-Kakunin-Signature"), time.Now(), time.Minute) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		calls = append(calls, m)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer tel.Close()
	wc, err := webhook.New(webhook.Config{URL: tel.URL, Secret: secret.New(telephonySecret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := challenge.New(f.cfg, directory{callUser: "pw"}, f.st, slog.New(slog.NewTextHandler(f.logs, nil)), nil,
		challenge.WithCaller(webhook.Caller{Client: wc}), challenge.WithCallbacks(f.signer))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx, 50*time.Millisecond)
	held := async(e, request(callUser, "pw", nil, "r1"))
	m := waitN(t, "call requests", func() []webhook.CallMessage {
		mu.Lock()
		defer mu.Unlock()
		return append([]webhook.CallMessage(nil), calls...)
	}, 1)[0]
	if m.Type != "call" || m.To != "+81355551234" || m.Extension != "4321" || !strings.Contains(m.Prompt, "pound") {
		t.Fatalf("call message %+v", m)
	}
	// The gateway posts the callee's answer like a push gateway does.
	if code, body := postDecision(t, f.client, telephonySecret, m.CallbackURL, m.ID, "call", "approve", 0); code != 200 {
		t.Fatalf("the gateway's approve: %d %s", code, body)
	}
	if d := get(t, held); d.Outcome != challenge.Accept || d.Method != "call" {
		t.Fatalf("after the gateway's approve: %+v", d)
	}
}

func TestWithoutStationOnlyTheSamePacketAttaches(t *testing.T) {
	f := newHoldFixture(t)
	first := request(callUser, "pw", nil, "r1")
	first.CallingStationID = ""
	heldA := async(f.e, first)
	f.waitCalls(1)
	// The same packet (a retransmit to this or another node) attaches.
	copyOf := *first
	heldB := async(f.e, &copyOf)
	// Another sign-in with the same password does not ride on it.
	other := request(callUser, "pw", nil, "r2")
	other.CallingStationID = ""
	heldC := async(f.e, other)
	calls := f.waitCalls(2)
	time.Sleep(100 * time.Millisecond)
	if n := len(f.twilio.Calls()); n != 2 {
		t.Fatalf("%d calls, want 2 (one per sign-in)", n)
	}
	f.twilio.Press(calls[0], "#", f.client)
	for name, ch := range map[string]chan challenge.Decision{"first": heldA, "its copy": heldB} {
		if d := get(t, ch); d.Outcome != challenge.Accept {
			t.Errorf("%s: %+v", name, d)
		}
	}
	f.twilio.Press(calls[1], "1", f.client)
	if d := get(t, heldC); d.Outcome != challenge.Reject {
		t.Errorf("the other sign-in: %+v", d)
	}
}

// transport stands in for radius.Server's side of Request.Hold: at most
// max requests held at once (radius.max_held), each until its Wait returns.
type transport struct {
	mu        sync.Mutex
	held, max int
}

// authenticate runs one request as the server does: a Hold decision is
// waited for in the background. The channel gets the answer; held says
// whether the request was held.
func (tr *transport) authenticate(e *challenge.Engine, req *challenge.Request) (answer chan challenge.Decision, held bool) {
	took := false
	req.Hold = func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if took {
			return true
		}
		if tr.held >= tr.max {
			return false
		}
		tr.held++
		took = true
		return true
	}
	release := func() {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if took {
			tr.held--
			took = false
		}
	}
	answer = make(chan challenge.Decision, 1)
	d := e.Authenticate(context.Background(), req)
	if d.Outcome != challenge.Hold || !req.Hold() {
		release()
		answer <- d
		return answer, false
	}
	go func() {
		d := d.Wait(context.Background())
		release()
		answer <- d
	}()
	return answer, true
}

// TestCopiesOverTheCapAreBusyAndTheApprovalGoesOn floods one user's held
// sign-in with copies (50, then 70, with radius.max_held 50): only the
// copies over flow.hold.max_per_approval are refused, as busy; another
// user's push is still held, and the approval and the copies held for it
// go on to the user's answer. Before, the copies filled max_held (the
// other user got busy) and the one that overflowed it failed the approval
// under all of them (interrupted).
func TestCopiesOverTheCapAreBusyAndTheApprovalGoesOn(t *testing.T) {
	for _, copies := range []int{50, 70} {
		t.Run(strconv.Itoa(copies), func(t *testing.T) {
			f := newHoldFixture(t, func(c *challenge.Config) {
				off := false
				c.Push.NumberMatching = &off
				c.Hold.Timeout = time.Minute
			})
			tr := &transport{max: 50}
			var held []chan challenge.Decision
			busy := 0
			for i := range copies {
				ch, ok := tr.authenticate(f.e, request(pushOnly, "pw", nil, "r1"))
				if ok {
					held = append(held, ch)
					continue
				}
				if d := <-ch; d.Outcome != challenge.Reject || d.Reason != "busy" {
					t.Fatalf("copy %d: %+v, want held or busy", i, d)
				}
				busy++
				if i == 0 {
					t.Fatal("the first request was not held")
				}
			}
			if len(held) != f.cfg.Hold.MaxPerApproval || busy != copies-len(held) {
				t.Fatalf("%d held, %d busy; want %d held (flow.hold.max_per_approval)", len(held), busy, f.cfg.Hold.MaxPerApproval)
			}
			p := f.waitPushes(1)[0]
			if a, err := f.st.GetApproval(context.Background(), p.ID); err != nil || a.Status != store.ApprovalPending {
				t.Fatalf("the flooded approval: %s %v, want pending", a.Status, err)
			}

			// Another user's push is still held.
			menu := f.e.Authenticate(context.Background(), request(pushUser, "pw", nil, "u1"))
			if menu.Outcome != challenge.Challenge {
				t.Fatalf("other user's menu: %+v", menu)
			}
			other, ok := tr.authenticate(f.e, request(pushUser, "1", menu.State, "u2"))
			if !ok {
				t.Fatalf("another user's push was not held: %+v", <-other)
			}
			pushes := f.waitPushes(2)

			f.gw.answer(f.client, p, "approve", 0)
			for i, ch := range held {
				if d := get(t, ch); d.Outcome != challenge.Accept {
					t.Errorf("held copy %d: %+v, want accept", i, d)
				}
			}
			f.gw.answer(f.client, pushes[1], "deny", 0)
			if d := get(t, other); d.Outcome != challenge.Reject || d.Reason != "denied" {
				t.Errorf("other user: %+v, want denied", d)
			}
		})
	}
}

// TestOneUsersHeldRequestsAreCapped: over flow.hold.max_per_user, a new
// sign-in of that user is busy, and what the user has held goes on.
func TestOneUsersHeldRequestsAreCapped(t *testing.T) {
	f := newHoldFixture(t, func(c *challenge.Config) {
		off := false
		c.Push.NumberMatching = &off
		c.Hold.MaxPerApproval, c.Hold.MaxPerUser = 2, 3
	})
	tr := &transport{max: 50}
	var held []chan challenge.Decision
	signIn := func(id string) *challenge.Request {
		r := request(pushOnly, "pw", nil, id)
		r.CallingStationID = "station-" + id
		return r
	}
	for _, id := range []string{"r1", "r1", "r2"} { // a sign-in and its copy, another sign-in
		ch, ok := tr.authenticate(f.e, signIn(id))
		if !ok {
			t.Fatalf("request %s not held: %+v", id, <-ch)
		}
		held = append(held, ch)
	}
	pushes := f.waitPushes(2)
	for _, id := range []string{"r2", "r3"} {
		ch, ok := tr.authenticate(f.e, signIn(id))
		if d := <-ch; ok || d.Outcome != challenge.Reject || d.Reason != "busy" {
			t.Fatalf("request %s over the user's cap: held %v, %+v; want busy", id, ok, d)
		}
	}
	if n := len(f.gw.pushes()); n != 2 {
		t.Errorf("%d pushes, want 2: a request refused as busy sends none", n)
	}
	for _, p := range pushes {
		f.gw.answer(f.client, p, "approve", 0)
	}
	for i, ch := range held {
		if d := get(t, ch); d.Outcome != challenge.Accept {
			t.Errorf("held request %d: %+v, want accept", i, d)
		}
	}
}

// TestAnotherSignInFromTheSameStationGetsItsOwnApproval: two different
// Access-Requests of one user from the same gateway and station (two
// people behind one NAT, or someone else with the password) are two
// sign-ins: each gets its own call, and approving the first accepts only
// the first. Before, the second attached to the first's approval and both
// were accepted by one answer.
func TestAnotherSignInFromTheSameStationGetsItsOwnApproval(t *testing.T) {
	for _, session := range []string{"", "with Acct-Session-Id"} {
		t.Run(strings.ReplaceAll(session+" ", " ", "_"), func(t *testing.T) {
			f := newHoldFixture(t)
			first, second := request(callUser, "pw", nil, "r1"), request(callUser, "pw", nil, "r2")
			if session != "" {
				first.SessionID, second.SessionID = "nas-session-1", "nas-session-2"
			}
			heldA := async(f.e, first)
			f.waitCalls(1)
			heldB := async(f.e, second)
			calls := f.waitCalls(2)
			f.twilio.Press(calls[0], "#", f.client)
			if d := get(t, heldA); d.Outcome != challenge.Accept {
				t.Fatalf("first sign-in: %+v", d)
			}
			select {
			case d := <-heldB:
				t.Fatalf("the second sign-in was answered by the first's approval: %+v", d)
			default:
			}
			f.twilio.Press(calls[1], "1", f.client)
			if d := get(t, heldB); d.Outcome != challenge.Reject || d.Reason != "denied" {
				t.Errorf("second sign-in: %+v, want denied by its own call", d)
			}
		})
	}
}

// TestFailoverCopyWithNewAuthenticatorAttaches: a gateway that fails over
// to another node may send the sign-in with a new Request Authenticator
// (another RequestID) but keeps its Acct-Session-Id: the copy waits for
// the same approval, and no second call is placed.
func TestFailoverCopyWithNewAuthenticatorAttaches(t *testing.T) {
	f := newHoldFixture(t)
	cfgB := f.cfg
	cfgB.Hold.NodeName = "node-b"
	b := f.engine(f.open(), cfgB)
	first := request(callUser, "pw", nil, "r1")
	first.SessionID = "nas-session-7"
	heldA := async(f.e, first)
	c := f.waitCalls(1)[0]
	failover := request(callUser, "pw", nil, "r1-at-b")
	failover.SessionID = "nas-session-7"
	heldB := async(b, failover)
	time.Sleep(200 * time.Millisecond)
	if n := len(f.twilio.Calls()); n != 1 {
		t.Fatalf("%d calls after the failover, want 1", n)
	}
	f.twilio.Press(c, "#", f.client)
	for name, ch := range map[string]chan challenge.Decision{"first": heldA, "failover copy": heldB} {
		if d := get(t, ch); d.Outcome != challenge.Accept {
			t.Errorf("%s: %+v", name, d)
		}
	}
}
