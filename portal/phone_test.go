package portal

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/challenge/callback"
	"kakunin/challenge/twilio"
	"kakunin/internal/secret"
	"kakunin/internal/testenv"
	"kakunin/store"
)

// phoneEnv is the portal with Twilio (a fake speaking its API) sending
// SMS and placing calls, and the callback server Twilio's key presses
// reach.
type phoneEnv struct {
	*env
	tw     *testenv.FakeTwilio
	client *http.Client // trusts the callback server
}

// newPhoneEnv wires the providers asked for: sms, call.
func newPhoneEnv(t *testing.T, sms, call bool) *phoneEnv {
	t.Helper()
	return newPhoneEnvOn(t, store.DriverSQLite, sms, call)
}

// newPhoneEnvOn is newPhoneEnv on a store of the driver given.
func newPhoneEnvOn(t *testing.T, driver string, sms, call bool) *phoneEnv {
	t.Helper()
	tw := testenv.NewFakeTwilio(t)
	tc := twilio.Config{AccountSID: tw.AccountSID, AuthToken: secret.New(tw.AuthToken), From: "+815012345678", BaseURL: tw.URL}
	tc.SetDefaults()
	client, err := twilio.New(tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.RWMutex
		handler http.Handler = http.NotFoundHandler()
	)
	cb := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		h := handler
		mu.RUnlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(cb.Close)
	signer := callback.NewSigner(cb.URL, []byte("callback-signing-key-0123456789abcdef"))
	var opts []challenge.Option
	if sms {
		opts = append(opts, challenge.WithSMS(client))
	}
	if call {
		opts = append(opts, challenge.WithCaller(twilio.Caller{Client: client}), challenge.WithCallbacks(signer))
	}
	e := newEnvOn(t, driver, Config{Listen: "127.0.0.1:0"}, opts...)
	h, err := callback.New(e.eng, signer, callback.Options{TwilioAuthToken: tw.AuthToken, Now: e.clock.now}, e.srv.log)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	handler = h
	mu.Unlock()
	return &phoneEnv{env: e, tw: tw, client: cb.Client()}
}

var smsCodeRE = regexp.MustCompile(`\b[0-9]{6}\b`)

// lastCode is the code of the last SMS to to.
func (e *phoneEnv) lastCode(to string) string {
	e.t.Helper()
	sent := e.tw.Sent()
	for i := len(sent) - 1; i >= 0; i-- {
		if sent[i].To == to {
			return smsCodeRE.FindString(sent[i].Body)
		}
	}
	e.t.Fatalf("no SMS to %s: %+v", to, sent)
	return ""
}

func (e *phoneEnv) methods(id string) []store.Method {
	e.t.Helper()
	ms, err := e.st.Methods(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func phoneOf(ms []store.Method, k store.MethodKind) (store.Method, bool) {
	i := slices.IndexFunc(ms, func(m store.Method) bool { return m.Kind == k })
	if i < 0 {
		return store.Method{}, false
	}
	return ms[i], true
}

// addPhoneBySMS adds a phone of the user signed in on b, verified by the
// SMS code, and returns the final page.
func (e *phoneEnv) addPhoneBySMS(b *browser, number string, form url.Values) response {
	e.t.Helper()
	f := url.Values{"kind": {"phone"}, "country": {"JP"}, "number": {number}, "via": {"sms"}}
	for k, v := range form {
		f[k] = v
	}
	r := b.post("/setup/phone", f)
	if r.path != "/setup/phone/verify" {
		e.t.Fatalf("after the number: %s, error %q", r.path, errorOf(r))
	}
	e.clock.advance(time.Minute) // past the per-phone send limit for the next one
	to, _ := phoneNumber("JP", number)
	return b.post("/setup/phone/verify", url.Values{"code": {e.lastCode(to)}})
}

func TestPhoneIsSavedOnlyAfterTheSMSCode(t *testing.T) {
	e := newPhoneEnv(t, true, true)
	b := e.browser()
	b.enroll(userID, password)
	if r := b.get("/security"); !strings.Contains(r.body, `id="add-phone"`) || !strings.Contains(r.body, `id="add-office_phone"`) {
		t.Fatalf("security info offers no phone to add:\n%s", r.body)
	}
	r := b.get("/setup/phone?kind=phone")
	if !strings.Contains(r.body, `id="via-sms"`) || !strings.Contains(r.body, `id="via-call"`) || !strings.Contains(r.body, `<option value="JP" selected>`) {
		t.Fatalf("phone form without SMS, call or Japan as the default:\n%s", r.body)
	}
	r = b.post("/setup/phone", url.Values{"kind": {"phone"}, "country": {"JP"}, "number": {"090-1234-5678"}, "via": {"sms"}})
	if r.path != "/setup/phone/verify" || !strings.Contains(r.body, "81 ••-••••-5678") {
		t.Fatalf("after the number: %s\n%s", r.path, r.body)
	}
	sent := e.tw.Sent()
	if len(sent) != 1 || sent[0].To != "+819012345678" {
		t.Fatalf("SMS sent: %+v, want one to +819012345678 (leading 0 dropped)", sent)
	}
	if _, ok := phoneOf(e.methods(userID), store.KindPhone); ok {
		t.Fatal("the phone was saved before its code was entered")
	}
	code := e.lastCode("+819012345678")
	raw, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(code)) && bytes.Contains(raw, []byte(`"Code":"`+code)) {
		t.Error("the pending SMS code is in the store in clear")
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if r = b.post("/setup/phone/verify", url.Values{"code": {wrong}}); r.path != "/setup/phone/verify" || errorOf(r) != text("ja", "err_phone_code") {
		t.Fatalf("wrong code: %s, error %q", r.path, errorOf(r))
	}
	if r = b.post("/setup/phone/verify", url.Values{"code": {code}}); r.path != "/security?notice=added" {
		t.Fatalf("right code: %s, error %q", r.path, errorOf(r))
	}
	m, ok := phoneOf(e.methods(userID), store.KindPhone)
	if !ok || m.Phone != "+819012345678" {
		t.Fatalf("saved phone: %+v", m)
	}
	if r = b.get("/security"); !strings.Contains(r.body, "81 ••-••••-5678") || strings.Contains(r.body, "9012345678") || strings.Contains(r.body, `id="add-phone"`) {
		t.Errorf("security info after adding the phone:\n%s", r.body)
	}
	// The same code cannot add it twice.
	if r = b.post("/setup/phone/verify", url.Values{"code": {code}}); r.path != "/security" {
		t.Errorf("code posted again: %s", r.path)
	}
	if n := len(e.methods(userID)); n != 2 {
		t.Errorf("%d methods, want the app and the phone", n)
	}
}

func TestBadPhoneInputIsShownBackWithTheForm(t *testing.T) {
	e := newPhoneEnv(t, true, true)
	b := e.browser()
	b.enroll(userID, password)
	for _, c := range []struct {
		form url.Values
		err  string
		kept string
	}{
		{url.Values{"kind": {"phone"}, "country": {"JP"}, "number": {"090-12ab-5678"}, "via": {"sms"}}, "err_phone_number", `value="090-12ab-5678"`},
		{url.Values{"kind": {"phone"}, "country": {"JP"}, "number": {"090-1234"}, "via": {"sms"}}, "err_phone_number", `value="090-1234"`},
		{url.Values{"kind": {"phone"}, "country": {"US"}, "number": {"555-0100"}, "via": {"sms"}}, "err_phone_number", `<option value="US" selected>`},
		{url.Values{"kind": {"office_phone"}, "country": {"JP"}, "number": {"03-5555-1234"}, "extension": {"12a"}}, "err_phone_extension", `value="03-5555-1234"`},
	} {
		r := b.post("/setup/phone", c.form)
		if r.path != "/setup/phone" || errorOf(r) != text("ja", c.err) || !strings.Contains(r.body, c.kept) {
			t.Errorf("%v: %s, error %q, want %q with %s kept", c.form, r.path, errorOf(r), text("ja", c.err), c.kept)
		}
	}
	if len(e.tw.Sent())+len(e.tw.Calls()) != 0 {
		t.Error("something was sent to a bad number")
	}
	if n := len(e.methods(userID)); n != 1 {
		t.Errorf("%d methods after bad input", n)
	}
}

func TestPhoneNumberToE164(t *testing.T) {
	for _, c := range []struct{ country, in, want string }{
		{"JP", "090-1234-5678", "+819012345678"},
		{"JP", "03 5555 1234", "+81355551234"},
		{"JP", "９０", ""},
		{"US", "(415) 555-0100", "+14155550100"},
		{"US", "1 415 555 0100", "+14155550100"},
		{"GB", "07700 900123", "+447700900123"},
		{"JP", "+44 7700 900123", "+447700900123"},
		{"XX", "090-1234-5678", ""},
		{"JP", "0", ""},
	} {
		got, ok := phoneNumber(c.country, c.in)
		if (c.want == "") == ok || got != c.want {
			t.Errorf("phoneNumber(%s, %q) = %q, %v; want %q", c.country, c.in, got, ok, c.want)
		}
	}
}

func TestOfficePhoneIsVerifiedByACallDiallingTheExtension(t *testing.T) {
	e := newPhoneEnv(t, true, true)
	b := e.browser()
	b.enroll(userID, password)
	r := b.get("/setup/phone?kind=office_phone")
	if strings.Contains(r.body, `id="via-sms"`) || !strings.Contains(r.body, `id="extension"`) {
		t.Fatalf("office phone form offers SMS or lacks the extension:\n%s", r.body)
	}
	r = b.post("/setup/phone", url.Values{"kind": {"office_phone"}, "country": {"JP"}, "number": {"03-5555-1234"}, "extension": {"4321"}, "via": {"sms"}})
	if r.path != "/setup/phone/verify" || !strings.Contains(r.body, `id="continue"`) {
		t.Fatalf("after the number: %s, error %q", r.path, errorOf(r))
	}
	calls := e.tw.Calls()
	if len(e.tw.Sent()) != 0 || len(calls) != 1 || calls[0].To != "+81355551234" || !strings.Contains(calls[0].SendDigits, "4321") {
		t.Fatalf("calls %+v, SMS %+v: want one call to +81355551234 dialling 4321", calls, e.tw.Sent())
	}
	// Continue before answering: nothing saved, the page says to press #.
	if r = b.post("/setup/phone/verify", nil); r.path != "/setup/phone/verify" || !strings.Contains(r.body, text("ja", "phone_call_waiting")) {
		t.Fatalf("continue before the call was answered: %s\n%s", r.path, r.body)
	}
	if _, ok := phoneOf(e.methods(userID), store.KindOfficePhone); ok {
		t.Fatal("saved before the call was answered")
	}
	if code, body, err := e.tw.Press(calls[0], "#", e.client); err != nil || code != http.StatusOK {
		t.Fatalf("press #: %d %v %s", code, err, body)
	}
	if r = b.post("/setup/phone/verify", nil); r.path != "/security?notice=added" {
		t.Fatalf("continue after #: %s, error %q", r.path, errorOf(r))
	}
	m, ok := phoneOf(e.methods(userID), store.KindOfficePhone)
	if !ok || m.Phone != "+81355551234" || m.Extension != "4321" {
		t.Fatalf("saved office phone: %+v", m)
	}
	if r = b.get("/security"); !strings.Contains(r.body, "4321") {
		t.Error("security info does not show the extension")
	}
}

func TestUnansweredCallSavesNothing(t *testing.T) {
	e := newPhoneEnv(t, false, true)
	b := e.browser()
	b.enroll(userID, password)
	r := b.post("/setup/phone", url.Values{"kind": {"alternate_phone"}, "country": {"JP"}, "number": {"080-5555-0001"}})
	if r.path != "/setup/phone/verify" {
		t.Fatalf("after the number: %s, error %q", r.path, errorOf(r))
	}
	calls := e.tw.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls: %+v", calls)
	}
	if code, body, err := e.tw.Press(calls[0], "1", e.client); err != nil || code != http.StatusOK {
		t.Fatalf("press 1: %d %v %s", code, err, body)
	}
	if r = b.post("/setup/phone/verify", nil); r.path != "/setup/phone/verify" || errorOf(r) != text("ja", "err_phone_call_failed") || !strings.Contains(r.body, `value="alternate_phone"`) {
		t.Fatalf("continue after a wrong key: %s, error %q", r.path, errorOf(r))
	}
	if _, ok := phoneOf(e.methods(userID), store.KindAlternatePhone); ok {
		t.Fatal("saved after the call was denied")
	}
}

func TestOneOfEachPhoneKind(t *testing.T) {
	e := newPhoneEnv(t, true, true)
	b := e.browser()
	b.enroll(userID, password)
	if r := e.addPhoneBySMS(b, "090-1234-5678", nil); r.path != "/security?notice=added" {
		t.Fatalf("first phone: %s, error %q", r.path, errorOf(r))
	}
	r := b.get("/setup/phone?kind=phone")
	if errorOf(r) != text("ja", "err_phone_exists") || strings.Contains(r.body, `id="send"`) {
		t.Errorf("a second phone: error %q, form shown %v", errorOf(r), strings.Contains(r.body, `id="send"`))
	}
	r = b.post("/setup/phone", url.Values{"kind": {"phone"}, "country": {"JP"}, "number": {"090-1111-2222"}, "via": {"sms"}})
	if errorOf(r) != text("ja", "err_phone_exists") || len(e.tw.Sent()) != 1 {
		t.Errorf("posting a second phone: error %q, %d SMS", errorOf(r), len(e.tw.Sent()))
	}
}

func TestEditingAPhoneVerifiesTheNewNumberAndKeepsTheDefault(t *testing.T) {
	e := newPhoneEnv(t, true, true)
	b := e.browser()
	b.enroll(userID, password)
	e.addPhoneBySMS(b, "090-1234-5678", nil)
	old, _ := phoneOf(e.methods(userID), store.KindPhone)
	if r := b.post("/security/default", url.Values{"method": {old.ID}}); r.path != "/security?notice=default" {
		t.Fatalf("make the phone the default: %s", r.path)
	}
	r := b.get("/security")
	if !strings.Contains(r.body, `href="/setup/phone?edit=`+old.ID+`"`) {
		t.Fatalf("no edit link for the phone:\n%s", r.body)
	}
	r = b.get("/setup/phone?edit=" + old.ID)
	if !strings.Contains(r.body, "81 ••-••••-5678") {
		t.Errorf("edit page does not show the current number:\n%s", r.body)
	}
	r = b.post("/setup/phone", url.Values{"edit": {old.ID}, "country": {"JP"}, "number": {"080-9999-0000"}, "via": {"sms"}})
	if r.path != "/setup/phone/verify" {
		t.Fatalf("new number: %s, error %q", r.path, errorOf(r))
	}
	if m, _ := phoneOf(e.methods(userID), store.KindPhone); m.ID != old.ID {
		t.Fatal("the old number was replaced before the new one was verified")
	}
	r = b.post("/setup/phone/verify", url.Values{"code": {e.lastCode("+818099990000")}})
	if r.path != "/security?notice=phone_changed" {
		t.Fatalf("after the code: %s, error %q", r.path, errorOf(r))
	}
	ms := e.methods(userID)
	m, _ := phoneOf(ms, store.KindPhone)
	if len(ms) != 2 || m.ID == old.ID || m.Phone != "+818099990000" {
		t.Fatalf("methods after the edit: %+v", ms)
	}
	u, err := e.st.GetUser(t.Context(), userID)
	if err != nil || u.DefaultMethod != m.ID {
		t.Errorf("default after the edit: %q, want the new number %q (%v)", u.DefaultMethod, m.ID, err)
	}
	events, _ := e.st.Events(t.Context(), userID, 0)
	if !slices.ContainsFunc(events, func(ev store.Event) bool { return ev.Action == "phone_changed" && ev.Actor == "portal" }) {
		t.Errorf("no phone_changed audit event: %+v", events)
	}
	for _, ev := range events {
		if strings.Contains(ev.Detail, "8099990000") {
			t.Errorf("audit event with the full number: %+v", ev)
		}
	}
}

func TestFirstMethodCanBeAPhone(t *testing.T) {
	e := newPhoneEnv(t, true, false)
	b := e.browser()
	b.signIn(userID, password, nil)
	b.post("/apply", url.Values{"use": {"yes"}})
	r := b.get("/setup")
	if !strings.Contains(r.body, `id="setup-phone"`) {
		t.Fatalf("first-method setup offers no phone:\n%s", r.body)
	}
	if r = b.get("/setup/phone?kind=phone"); strings.Contains(r.body, `id="via-call"`) || !strings.Contains(r.body, text("ja", "phone_no_call")) {
		t.Errorf("without a caller the call option is offered or not explained:\n%s", r.body)
	}
	r = e.addPhoneBySMS(b, "09012345678", nil)
	if r.path != "/setup/done?method=phone" || !strings.Contains(r.body, text("ja", "done_text_phone")) {
		t.Fatalf("after the code: %s\n%s", r.path, r.body)
	}
	m, ok := phoneOf(e.methods(userID), store.KindPhone)
	u, _ := e.st.GetUser(t.Context(), userID)
	if !ok || u.DefaultMethod != m.ID {
		t.Errorf("first phone %+v is not the default %q", m, u.DefaultMethod)
	}
}

func TestNoProviderNoPhoneOption(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(userID, password, nil)
	b.post("/apply", url.Values{"use": {"yes"}})
	if r := b.get("/setup"); strings.Contains(r.body, `id="setup-phone"`) {
		t.Error("first-method setup offers a phone with no SMS sender or caller")
	}
	r := b.get("/setup/phone?kind=phone")
	if errorOf(r) != text("ja", "err_phone_unavailable") || strings.Contains(r.body, `id="send"`) {
		t.Errorf("phone page without providers: error %q\n%s", errorOf(r), r.body)
	}
	if r := b.post("/setup/phone", url.Values{"kind": {"phone"}, "country": {"JP"}, "number": {"09012345678"}, "via": {"sms"}}); r.path != "/setup/phone" || errorOf(r) != text("ja", "err_phone_unavailable") {
		t.Errorf("posting a phone without providers: %s %q", r.path, errorOf(r))
	}
}

func TestPhoneChangesNeedStepUp(t *testing.T) {
	e := newPhoneEnv(t, true, true)
	b := e.browser()
	b.enroll(userID, password)
	e.clock.advance(11 * time.Minute)
	if r := b.get("/setup/phone?kind=phone"); !strings.HasPrefix(r.path, "/stepup") {
		t.Errorf("adding a phone 11 minutes after the last code: %s, want /stepup", r.path)
	}
	if r := b.post("/setup/phone", url.Values{"kind": {"phone"}, "country": {"JP"}, "number": {"09012345678"}, "via": {"sms"}}); !strings.HasPrefix(r.path, "/stepup") || len(e.tw.Sent()) != 0 {
		t.Errorf("posting a phone 11 minutes after the last code: %s, %d SMS", r.path, len(e.tw.Sent()))
	}
}

func TestPhoneSendsAreLimited(t *testing.T) {
	e := newPhoneEnv(t, true, true)
	b := e.browser()
	b.enroll(userID, password)
	f := url.Values{"kind": {"phone"}, "country": {"JP"}, "number": {"090-1234-5678"}, "via": {"sms"}}
	if r := b.post("/setup/phone", f); r.path != "/setup/phone/verify" {
		t.Fatalf("first send: %s %q", r.path, errorOf(r))
	}
	r := b.post("/setup/phone", f)
	if errorOf(r) != text("ja", "err_phone_limited") || !strings.Contains(r.body, `value="090-1234-5678"`) || len(e.tw.Sent()) != 1 {
		t.Errorf("second send at once: %s, error %q, %d SMS", r.path, errorOf(r), len(e.tw.Sent()))
	}
}

func TestPhoneOnlyUserSignsInWithAnSMSCode(t *testing.T) {
	e := newPhoneEnv(t, true, true)
	m, err := e.admin.AddPhone(t.Context(), userID, store.KindPhone, "+81 90 1234 5678", "", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	r := b.signIn(userID, password, nil)
	if r.path != "/signin/code" || errorOf(r) != "" || !strings.Contains(r.body, `id="sms-`+m.ID+`"`) || !strings.Contains(r.body, `id="call-`+m.ID+`"`) {
		t.Fatalf("phone-only user after the password: %s, error %q\n%s", r.path, errorOf(r), r.body)
	}
	if r = b.get("/security"); r.path != "/signin/code" {
		t.Fatalf("security info before the second factor: %s", r.path)
	}
	r = b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"sms"}})
	if r.path != "/signin/phone" || !strings.Contains(r.body, `id="code"`) {
		t.Fatalf("after choosing SMS: %s, error %q", r.path, errorOf(r))
	}
	code := e.lastCode("+819012345678")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if r = b.post("/signin/phone/verify", url.Values{"code": {wrong}}); r.path != "/signin/phone/verify" || errorOf(r) != text("ja", "err_phone_code") {
		t.Fatalf("wrong code: %s, error %q", r.path, errorOf(r))
	}
	if n, _ := e.st.CountFailures(t.Context(), userID, store.FailCode, e.clock.now().Add(-time.Hour)); n != 1 {
		t.Errorf("%d code failures recorded, want 1: a wrong SMS code counts towards the shared lockout", n)
	}
	if r = b.post("/signin/phone/verify", url.Values{"code": {code}}); r.path != "/security" {
		t.Fatalf("right code: %s, error %q", r.path, errorOf(r))
	}
	// The code was good once.
	if r = b.post("/signin/phone/verify", url.Values{"code": {code}}); r.path != "/security" || strings.Contains(r.body, `id="code"`) {
		t.Errorf("code posted again: %s", r.path)
	}
}

func TestPhoneSignInCodeStopsAfterThreeWrongCodes(t *testing.T) {
	e := newPhoneEnv(t, true, false)
	m, err := e.admin.AddPhone(t.Context(), userID, store.KindPhone, "+81 90 1234 5678", "", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn(userID, password, nil)
	b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"sms"}})
	code := e.lastCode("+819012345678")
	var r response
	for _, c := range []string{"000001", "000002", "000003"} {
		if c == code {
			c = "000004"
		}
		r = b.post("/signin/phone/verify", url.Values{"code": {c}})
	}
	if r.path != "/signin/phone/verify" || errorOf(r) != text("ja", "err_phone_code_expired") {
		t.Fatalf("after three wrong codes: %s, error %q", r.path, errorOf(r))
	}
	if r = b.post("/signin/phone/verify", url.Values{"code": {code}}); r.path == "/security" {
		t.Error("the code still worked after three wrong ones")
	}
}

func TestPhoneOnlyUserSignsInByCallAndStepsUpByCall(t *testing.T) {
	e := newPhoneEnv(t, false, true)
	m, err := e.admin.AddPhone(t.Context(), userID, store.KindOfficePhone, "+81 3 5555 1234", "204", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	r := b.signIn(userID, password, nil)
	if strings.Contains(r.body, `id="sms-`) || !strings.Contains(r.body, `id="call-`+m.ID+`"`) {
		t.Fatalf("office phone options: %s", r.body)
	}
	press := func(key string) {
		t.Helper()
		calls := e.tw.Calls()
		if len(calls) == 0 {
			t.Fatal("no call placed")
		}
		c := calls[len(calls)-1]
		if !strings.Contains(c.SendDigits, "204") {
			t.Errorf("call does not dial the extension: %+v", c)
		}
		if code, body, err := e.tw.Press(c, key, e.client); err != nil || code != http.StatusOK {
			t.Fatalf("press %s: %d %v %s", key, code, err, body)
		}
	}
	if r = b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"call"}}); r.path != "/signin/phone" || !strings.Contains(r.body, `id="continue"`) {
		t.Fatalf("after choosing a call: %s, error %q", r.path, errorOf(r))
	}
	if r = b.post("/signin/phone/verify", nil); r.path != "/signin/phone/verify" || !strings.Contains(r.body, text("ja", "phone_call_waiting")) {
		t.Fatalf("continue before answering: %s", r.path)
	}
	press("#")
	if r = b.post("/signin/phone/verify", nil); r.path != "/security" {
		t.Fatalf("continue after #: %s, error %q", r.path, errorOf(r))
	}

	// Eleven minutes later a change needs the phone again.
	e.clock.advance(11 * time.Minute)
	r = b.get("/setup/phone?kind=phone")
	if !strings.HasPrefix(r.path, "/stepup") || !strings.Contains(r.body, `id="call-`+m.ID+`"`) || strings.Contains(r.body, `id="code"`) {
		t.Fatalf("step-up of a phone-only user: %s\n%s", r.path, r.body)
	}
	r = b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"call"}, "next": {"/setup/phone?kind=phone"}})
	if r.path != "/signin/phone" {
		t.Fatalf("step-up call: %s, error %q", r.path, errorOf(r))
	}
	press("#")
	if r = b.post("/signin/phone/verify", nil); r.path != "/setup/phone?kind=phone" {
		t.Fatalf("after the step-up call: %s, error %q", r.path, errorOf(r))
	}
}

func TestSecurityInfoOffersOnlyPhonesThatCanBeVerified(t *testing.T) {
	e := newPhoneEnv(t, true, false)
	b := e.browser()
	b.enroll(userID, password)
	r := b.get("/security")
	if !strings.Contains(r.body, `id="add-phone"`) || strings.Contains(r.body, `id="add-alternate_phone"`) || strings.Contains(r.body, `id="add-office_phone"`) {
		t.Errorf("with SMS only, security info offers:\n%s", r.body)
	}
	if r = b.get("/setup/phone?kind=office_phone"); errorOf(r) != text("ja", "err_phone_unavailable") {
		t.Errorf("office phone without a caller: error %q", errorOf(r))
	}
}
