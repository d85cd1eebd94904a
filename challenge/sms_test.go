package challenge_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/challenge/twilio"
	"kakunin/internal/secret"
	"kakunin/internal/testenv"
	"kakunin/ldapauth"
	"kakunin/store"
)

// directory accepts one password per user (the flow's unit tests; the
// integration tests use a real slapd).
type directory map[string]string

func (d directory) Authenticate(_ context.Context, user, password string) (ldapauth.Entry, error) {
	if pw, ok := d[user]; !ok || pw != password {
		return ldapauth.Entry{}, ldapauth.ErrInvalidCredentials
	}
	return ldapauth.Entry{DN: "uid=" + user}, nil
}

type smsFixture struct {
	t      *testing.T
	dir    directory
	e      *challenge.Engine
	admin  *challenge.Admin
	st     store.Store
	twilio *testenv.FakeTwilio
	logs   *testenv.LogBuffer
	mu     sync.Mutex
	now    time.Time
}

const (
	phoneOnly = "2024000011" // one phone
	both      = "2024000012" // an app (default) and a phone
)

var seed = []byte("12345678901234567890")

func newSMSFixture(t *testing.T, policy ...func(*challenge.Config)) *smsFixture {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	sc := store.Config{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "k.db")}
	sc.Encryption.Keys = []store.EncryptionKey{{ID: "t", Key: secret.New(base64.StdEncoding.EncodeToString(key))}}
	f := &smsFixture{t: t, logs: &testenv.LogBuffer{}, now: time.Date(2026, 11, 25, 9, 0, 10, 0, time.UTC)}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(context.Background(), sc, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	f.twilio = testenv.NewFakeTwilio(t)
	tc := twilio.Config{AccountSID: f.twilio.AccountSID, AuthToken: secret.New(f.twilio.AuthToken), From: "+815012345678", BaseURL: f.twilio.URL}
	tc.SetDefaults()
	sms, err := twilio.New(tc, &http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg challenge.Config
	cfg.SetDefaults()
	cfg.Languages = []string{"en"}
	for _, p := range policy {
		p(&cfg)
	}
	dir := directory{phoneOnly: "pw", both: "pw"}
	f.dir = dir
	if f.e, err = challenge.New(cfg, dir, st, log, nil, challenge.WithClock(f.clock), challenge.WithSMS(sms)); err != nil {
		t.Fatal(err)
	}
	if f.admin, err = challenge.NewAdmin(cfg, st, challenge.AdminClock(f.clock)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.admin.AddPhone(ctx, phoneOnly, store.KindPhone, "+81 90-1111-5678", "", "mobile", "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.admin.AddTOTP(ctx, both, "", seed, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.AddPhone(ctx, both, store.KindPhone, "+819022224321", "", "", "test"); err != nil {
		t.Fatal(err)
	}
	return f
}

// setPassword changes a user's password in the directory (before any
// concurrent use).
func (f *smsFixture) setPassword(user, pw string) { f.dir[user] = pw }

func (f *smsFixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *smsFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *smsFixture) auth(user, answer string, state []byte, p challenge.Policy) challenge.Decision {
	return f.e.Authenticate(context.Background(), &challenge.Request{Client: "gw", Policy: p, UserName: user, Password: answer, State: state})
}

var codeIn = regexp.MustCompile(`\b[0-9]{6}\b`)

// lastCode is the code in the newest SMS to the number.
func (f *smsFixture) lastCode(to string) string {
	f.t.Helper()
	sent := f.twilio.Sent()
	for i := len(sent) - 1; i >= 0; i-- {
		if sent[i].To == to {
			return codeIn.FindString(sent[i].Body)
		}
	}
	f.t.Fatalf("no SMS to %s (sent: %+v)", to, sent)
	return ""
}

func TestSMSCodeSignsIn(t *testing.T) {
	f := newSMSFixture(t)
	d := f.auth(phoneOnly, "pw", nil, challenge.Policy{})
	if d.Outcome != challenge.Challenge || d.Method != "sms" {
		t.Fatalf("round 1: %+v", d)
	}
	if !strings.Contains(d.Messages[0], "+81 ••-••••-5678") {
		t.Errorf("prompt does not show the masked number: %q", d.Messages)
	}
	sent := f.twilio.Sent()
	if len(sent) != 1 || sent[0].To != "+819011115678" || sent[0].From != "+815012345678" {
		t.Fatalf("sent: %+v", sent)
	}
	code := f.lastCode("+819011115678")
	if d = f.auth(phoneOnly, code, d.State, challenge.Policy{}); d.Outcome != challenge.Accept || d.Method != "sms" {
		t.Fatalf("round 2: %+v", d)
	}
	if strings.Contains(f.logs.String(), code) {
		t.Errorf("the SMS code is in the log:\n%s", f.logs.String())
	}
}

func TestSMSWrongCodeThenRightCode(t *testing.T) {
	f := newSMSFixture(t)
	d := f.auth(phoneOnly, "pw", nil, challenge.Policy{})
	code := f.lastCode("+819011115678")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	d = f.auth(phoneOnly, wrong, d.State, challenge.Policy{})
	if d.Outcome != challenge.Challenge || !strings.Contains(d.Messages[0], "not correct") || !strings.Contains(d.Messages[0], "sent by SMS to +81 ••-••••-5678") {
		t.Fatalf("wrong code: %+v", d)
	}
	if len(f.twilio.Sent()) != 1 {
		t.Errorf("a wrong code sent another SMS")
	}
	if d = f.auth(phoneOnly, code, d.State, challenge.Policy{}); d.Outcome != challenge.Accept {
		t.Fatalf("the code sent, after a wrong one: %+v", d)
	}
}

func TestSMSCodeExpires(t *testing.T) {
	f := newSMSFixture(t)
	d := f.auth(phoneOnly, "pw", nil, challenge.Policy{})
	code := f.lastCode("+819011115678")
	f.advance(5*time.Minute + time.Second)
	if d = f.auth(phoneOnly, code, d.State, challenge.Policy{}); d.Outcome != challenge.Reject {
		t.Fatalf("expired code: %+v", d)
	}
}

func TestSMSLimitedPerPhone(t *testing.T) {
	f := newSMSFixture(t)
	if d := f.auth(phoneOnly, "pw", nil, challenge.Policy{}); d.Outcome != challenge.Challenge {
		t.Fatalf("first: %+v", d)
	}
	d := f.auth(phoneOnly, "pw", nil, challenge.Policy{})
	if d.Outcome != challenge.Reject || d.Reason != "sms_limited" {
		t.Fatalf("second within 30 s: %+v", d)
	}
	if n := len(f.twilio.Sent()); n != 1 {
		t.Errorf("%d SMS sent, want 1", n)
	}
	f.advance(31 * time.Second)
	if d := f.auth(phoneOnly, "pw", nil, challenge.Policy{}); d.Outcome != challenge.Challenge {
		t.Fatalf("after 30 s: %+v", d)
	}
	// Per user and hour: five in all.
	for i := 0; i < 3; i++ {
		f.advance(31 * time.Second)
		f.auth(phoneOnly, "pw", nil, challenge.Policy{})
	}
	f.advance(31 * time.Second)
	if d := f.auth(phoneOnly, "pw", nil, challenge.Policy{}); d.Reason != "sms_limited" {
		t.Fatalf("sixth in an hour: %+v", d)
	}
	if n := len(f.twilio.Sent()); n != 5 {
		t.Errorf("%d SMS sent in the hour, want 5", n)
	}
}

func TestMenuOffersDefaultFirst(t *testing.T) {
	f := newSMSFixture(t)
	d := f.auth(both, "pw", nil, challenge.Policy{})
	if d.Outcome != challenge.Challenge || d.Method != "menu" {
		t.Fatalf("round 1: %+v", d)
	}
	if want := "1: code from app  2: SMS to ••4321"; !strings.Contains(d.Messages[0], want) {
		t.Fatalf("menu %q does not contain %q", d.Messages[0], want)
	}
	if len(f.twilio.Sent()) != 0 {
		t.Fatal("an SMS was sent before the user chose it")
	}
	// Choose the phone: a code is sent and asked for.
	d = f.auth(both, "2", d.State, challenge.Policy{})
	if d.Outcome != challenge.Challenge || d.Method != "sms" || !strings.Contains(d.Messages[0], "4321") {
		t.Fatalf("chose 2: %+v", d)
	}
	if d = f.auth(both, f.lastCode("+819022224321"), d.State, challenge.Policy{}); d.Outcome != challenge.Accept {
		t.Fatalf("SMS code: %+v", d)
	}
}

func TestMenuTakesATOTPCode(t *testing.T) {
	f := newSMSFixture(t)
	d := f.auth(both, "pw", nil, challenge.Policy{})
	d = f.auth(both, challenge.TOTPCode(seed, f.clock()), d.State, challenge.Policy{})
	if d.Outcome != challenge.Accept || d.Method != "totp" {
		t.Fatalf("TOTP code at the menu: %+v", d)
	}
}

func TestMenuBadChoiceAsksAgain(t *testing.T) {
	f := newSMSFixture(t)
	d := f.auth(both, "pw", nil, challenge.Policy{})
	d = f.auth(both, "7", d.State, challenge.Policy{})
	if d.Outcome != challenge.Challenge || d.Reason != "bad_choice" || !strings.Contains(d.Messages[0], "1: code from app") {
		t.Fatalf("bad choice: %+v", d)
	}
	s, err := f.admin.Show(context.Background(), both)
	if err != nil || s.CodeFailures != 0 {
		t.Errorf("a mistyped choice counted as a code failure: %d, %v", s.CodeFailures, err)
	}
	if d = f.auth(both, "1", d.State, challenge.Policy{}); d.Outcome != challenge.Challenge || d.Method != "totp" {
		t.Fatalf("chose 1: %+v", d)
	}
}

func TestSMSProviderFailureOffersTheApp(t *testing.T) {
	f := newSMSFixture(t)
	f.twilio.Fail(http.StatusInternalServerError)
	d := f.auth(both, "pw", nil, challenge.Policy{})
	d = f.auth(both, "2", d.State, challenge.Policy{})
	if d.Outcome != challenge.Challenge || d.Reason != "sms_failed" || d.Method != "totp" {
		t.Fatalf("SMS provider down: %+v", d)
	}
	if !strings.Contains(strings.Join(d.Messages, " "), "could not be sent") {
		t.Errorf("user not told: %q", d.Messages)
	}
	if d = f.auth(both, challenge.TOTPCode(seed, f.clock()), d.State, challenge.Policy{}); d.Outcome != challenge.Accept {
		t.Fatalf("app after SMS failure: %+v", d)
	}
	// With no other method, the failure is a reject, never an accept.
	d = f.auth(phoneOnly, "pw", nil, challenge.Policy{})
	if d.Outcome != challenge.Reject || d.Reason != "sms_failed" {
		t.Fatalf("phone only, provider down: %+v", d)
	}
}

func TestDefaultMethodOnlySkipsTheMenu(t *testing.T) {
	f := newSMSFixture(t)
	s, _ := f.admin.Show(context.Background(), both)
	var phoneID string
	for _, m := range s.Methods {
		if m.Kind == store.KindPhone {
			phoneID = m.ID
		}
	}
	if err := f.admin.SetDefault(context.Background(), both, phoneID, "test"); err != nil {
		t.Fatal(err)
	}
	d := f.auth(both, "pw", nil, challenge.Policy{DefaultMethodOnly: true})
	if d.Outcome != challenge.Challenge || d.Method != "sms" {
		t.Fatalf("default phone: %+v", d)
	}
	// With the menu, the default (now the phone) comes first.
	f.advance(31 * time.Second)
	d = f.auth(both, "pw", nil, challenge.Policy{})
	if !strings.Contains(d.Messages[0], "1: SMS to ••4321  2: code from app") {
		t.Fatalf("menu with the phone as default: %q", d.Messages)
	}
}

func TestMaskAndNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"+81 90-1234-5678":  "+819012345678",
		"+1 (415) 555-0100": "+14155550100",
	} {
		got, err := challenge.NormalizePhone(in)
		if err != nil || got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"090-1234-5678", "+0 123456789", "+81 90 abc", "+12"} {
		if _, err := challenge.NormalizePhone(bad); err == nil {
			t.Errorf("NormalizePhone(%q) accepted", bad)
		}
	}
	if got := challenge.MaskPhone("+819012345678"); got != "+81 ••-••••-5678" {
		t.Errorf("MaskPhone = %q", got)
	}
	if got := challenge.MaskPhone("+14155550100"); got != "+1 ••-••••-0100" {
		t.Errorf("MaskPhone = %q", got)
	}
}

func TestPasswordSuffix(t *testing.T) {
	f := newSMSFixture(t)
	suffix := challenge.Policy{PasswordSuffix: true}

	// Off by default: "pw,123456" is just a wrong password.
	code := challenge.TOTPCode(seed, f.clock())
	if d := f.auth(both, "pw,"+code, nil, challenge.Policy{}); d.Outcome != challenge.Reject || d.Reason != "bad_password" {
		t.Fatalf("suffix on a client without password_suffix: %+v", d)
	}
	// The app's code after the password: accepted in one request, once.
	if d := f.auth(both, "pw,"+code, nil, suffix); d.Outcome != challenge.Accept || d.Method != "totp" {
		t.Fatalf("pw,TOTP: %+v", d)
	}
	if d := f.auth(both, "pw,"+code, nil, suffix); d.Outcome != challenge.Reject || d.Reason != "replayed_code" {
		t.Fatalf("pw,TOTP again: %+v", d)
	}
	// "pw,sms" sends a code and rejects with instructions; "pw,CODE" then
	// signs in.
	d := f.auth(phoneOnly, "pw,sms", nil, suffix)
	if d.Outcome != challenge.Reject || d.Reason != "sms_sent" || !strings.Contains(d.Messages[0], "password,123456") {
		t.Fatalf("pw,sms: %+v", d)
	}
	sms := f.lastCode("+819011115678")
	wrong := "000000"
	if sms == wrong {
		wrong = "111111"
	}
	if d := f.auth(phoneOnly, "pw,"+wrong, nil, suffix); d.Outcome != challenge.Reject || d.Reason != "bad_code" {
		t.Fatalf("pw,wrong: %+v", d)
	}
	if d := f.auth(phoneOnly, "pw,"+sms, nil, suffix); d.Outcome != challenge.Accept || d.Method != "sms" {
		t.Fatalf("pw,SMS code after a wrong one: %+v", d)
	}
	if d := f.auth(phoneOnly, "pw,"+sms, nil, suffix); d.Outcome == challenge.Accept {
		t.Fatalf("the SMS code worked twice: %+v", d)
	}
	// Not built yet: never accepted.
	if d := f.auth(both, "pw,push", nil, suffix); d.Outcome != challenge.Reject {
		t.Fatalf("pw,push: %+v", d)
	}
	// The suffix store key cannot be sent as a State.
	if d := f.auth(phoneOnly, sms, []byte("sfx:gw:"+phoneOnly), challenge.Policy{}); d.Outcome != challenge.Reject || d.Reason != "unknown_state" {
		t.Fatalf("suffix key as State: %+v", d)
	}
}

func TestWrongSuffixedPasswordCountsBothBinds(t *testing.T) {
	f := newSMSFixture(t)
	suffix := challenge.Policy{PasswordSuffix: true}
	if d := f.auth(both, "wrong,123456", nil, suffix); d.Reason != "bad_password" {
		t.Fatalf("wrong suffixed password: %+v", d)
	}
	s, err := f.admin.Show(context.Background(), both)
	if err != nil || s.PasswordFailures != 2 {
		t.Errorf("password failures = %d, %v; want 2 (two binds failed at the directory)", s.PasswordFailures, err)
	}
	if d := f.auth(both, "wrong", nil, suffix); d.Reason != "bad_password" {
		t.Fatalf("wrong plain password: %+v", d)
	}
	if s, _ = f.admin.Show(context.Background(), both); s.PasswordFailures != 3 {
		t.Errorf("password failures = %d, want 3", s.PasswordFailures)
	}
}

func TestPasswordWithACommaStillWorks(t *testing.T) {
	f := newSMSFixture(t, func(c *challenge.Config) {})
	f.setPassword(both, "pa,ss,123456")
	// The whole string is the password: a challenge follows, as without
	// the suffix mode.
	d := f.auth(both, "pa,ss,123456", nil, challenge.Policy{PasswordSuffix: true})
	if d.Outcome != challenge.Challenge {
		t.Fatalf("password with commas: %+v", d)
	}
	code := challenge.TOTPCode(seed, f.clock())
	if d := f.auth(both, "pa,ss,123456,"+code, nil, challenge.Policy{PasswordSuffix: true}); d.Outcome != challenge.Accept {
		t.Fatalf("password with commas, then the code: %+v", d)
	}
}
