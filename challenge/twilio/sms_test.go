package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/internal/secret"
)

const (
	testSID     = "AC0123456789abcdef0123456789abcdef"
	testToken   = "f00dfeedf00dfeedf00dfeedf00dfeed"
	testService = "MG0123456789abcdef0123456789abcdef"
	testFrom    = "+815012345678"
	testTo      = "+819012345678"
	testBody    = "kakunin code 483920"
)

// Both SMSSender implementations elsewhere satisfy this; spelled out here so
// the package's tests do not depend on the challenge package compiling.
var _ interface {
	SendSMS(ctx context.Context, to, body string) error
} = (*Client)(nil)

// fakeTwilio speaks the slice of Twilio's Messages API kakunin uses.
type fakeTwilio struct {
	t *testing.T

	mu    sync.Mutex
	forms []url.Values
}

// checkTwilioRequest checks what Twilio checks of every API request (a
// POST to the account's resource, basic auth, a form body) and answers as
// Twilio does when it fails. It reports whether the request may go on.
func checkTwilioRequest(t *testing.T, w http.ResponseWriter, r *http.Request, resource string) bool {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/"+resource {
		t.Errorf("request %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"code": 20404, "message": "The requested resource was not found", "status": 404})
		return false
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != testSID || pass != testToken {
		t.Errorf("basic auth %q/%q (ok %v)", user, pass, ok)
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"code": 20003, "message": "Authenticate", "status": 401})
		return false
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		t.Errorf("parse form: %v", err)
	}
	return true
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !checkTwilioRequest(f.t, w, r, "Messages.json") {
		return
	}
	f.mu.Lock()
	f.forms = append(f.forms, r.PostForm)
	f.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{
		"sid":                   "SM0123456789abcdef0123456789abcdef",
		"account_sid":           testSID,
		"to":                    r.PostForm.Get("To"),
		"from":                  r.PostForm.Get("From"),
		"messaging_service_sid": r.PostForm.Get("MessagingServiceSid"),
		"body":                  r.PostForm.Get("Body"),
		"status":                "queued",
		"num_segments":          "1",
		"direction":             "outbound-api",
		"api_version":           "2010-04-01",
		"error_code":            nil,
		"error_message":         nil,
		"uri":                   "/2010-04-01/Accounts/" + testSID + "/Messages/SM0123456789abcdef0123456789abcdef.json",
	})
}

func testConfig(base string) Config {
	return Config{AccountSID: testSID, AuthToken: secret.New(testToken), From: testFrom, BaseURL: base}
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkQuiet fails if err leaks what an error must never carry.
func checkQuiet(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{testToken, testBody, "483920", testTo} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestSendSMSPostsMessageWithFrom(t *testing.T) {
	fake := &fakeTwilio{t: t}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	if err := newClient(t, testConfig(srv.URL)).SendSMS(context.Background(), testTo, testBody); err != nil {
		t.Fatal(err)
	}
	if len(fake.forms) != 1 {
		t.Fatalf("%d requests, want 1", len(fake.forms))
	}
	want := url.Values{"To": {testTo}, "From": {testFrom}, "Body": {testBody}}
	if got := fake.forms[0]; got.Encode() != want.Encode() {
		t.Errorf("form %v, want %v", got, want)
	}
}

func TestSendSMSPostsMessageWithMessagingService(t *testing.T) {
	fake := &fakeTwilio{t: t}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	cfg := testConfig(srv.URL + "/") // a trailing slash must not double up in the path
	cfg.From, cfg.MessagingServiceSID = "", testService
	if err := newClient(t, cfg).SendSMS(context.Background(), testTo, testBody); err != nil {
		t.Fatal(err)
	}
	want := url.Values{"To": {testTo}, "MessagingServiceSid": {testService}, "Body": {testBody}}
	if got := fake.forms[0]; got.Encode() != want.Encode() {
		t.Errorf("form %v, want %v", got, want)
	}
}

func TestSendSMSReportsTwilioError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		// Twilio's answer quotes the number it was given.
		w.Write([]byte(`{"code": 21211, "message": "The 'To' number ` + testTo + ` is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`))
	}))
	defer srv.Close()

	err := newClient(t, testConfig(srv.URL)).SendSMS(context.Background(), testTo, testBody)
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("err %v (%T), want *Error", err, err)
	}
	if te.Status != 400 || te.Code != 21211 || te.MoreInfo != "https://www.twilio.com/docs/errors/21211" {
		t.Errorf("got %+v", te)
	}
	for _, s := range []string{"400", "21211", "is not a valid phone number", "[recipient]"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	checkQuiet(t, err)
}

func TestSendSMSRedactsEchoedBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"code": 30007, "message": "Filtered: " + r.PostForm.Get("Body") + "\nsecond line", "status": 400})
	}))
	defer srv.Close()

	err := newClient(t, testConfig(srv.URL)).SendSMS(context.Background(), testTo, testBody)
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "Filtered: [body]") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q", err)
	}
	checkQuiet(t, err)
}

func TestSendSMSReportsServerError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>upstream connect error</html>", http.StatusInternalServerError)
	}))
	defer srv.Close()

	err := newClient(t, testConfig(srv.URL)).SendSMS(context.Background(), testTo, testBody)
	var te *Error
	if !errors.As(err, &te) || te.Status != 500 || te.Code != 0 {
		t.Fatalf("err %v, want *Error with status 500", err)
	}
	if !strings.Contains(err.Error(), "500") || strings.Contains(err.Error(), "html") {
		t.Errorf("error %q", err)
	}
	checkQuiet(t, err)
}

// blockingHandler never answers: it reads the request, closes arrived (if
// not nil) and returns only when the client goes away. Reading the body
// first matters: only then does net/http watch the connection and cancel
// the request's context when the client hangs up.
func blockingHandler(arrived chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if arrived != nil {
			close(arrived)
		}
		<-r.Context().Done()
	})
}

func TestSendSMSGivesUpAtTimeout(t *testing.T) {
	srv := httptest.NewServer(blockingHandler(nil))
	defer srv.Close()

	cfg := testConfig(srv.URL)
	cfg.Timeout = 50 * time.Millisecond
	err := newClient(t, cfg).SendSMS(context.Background(), testTo, testBody)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
	checkQuiet(t, err)
}

func TestSendSMSHonoursCallerContext(t *testing.T) {
	arrived := make(chan struct{})
	srv := httptest.NewServer(blockingHandler(arrived))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	err := newClient(t, testConfig(srv.URL)).SendSMS(ctx, testTo, testBody) // default 10s timeout
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestSendSMSReportsClosedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	err = newClient(t, testConfig("http://"+addr)).SendSMS(context.Background(), testTo, testBody)
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	checkQuiet(t, err)
}

func TestSendSMSRefusesBadInputBeforeSending(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request sent")
	}))
	defer srv.Close()
	c := newClient(t, testConfig(srv.URL))
	for _, tt := range []struct{ to, body string }{
		{"09012345678", testBody},
		{"+81 90 1234 5678", testBody},
		{testTo, ""},
	} {
		if err := c.SendSMS(context.Background(), tt.to, tt.body); err == nil {
			t.Errorf("SendSMS(%q, %q): no error", tt.to, tt.body)
		}
	}
}

func TestNewDoesNotFollowRedirects(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()

	err := newClient(t, testConfig(srv.URL)).SendSMS(context.Background(), testTo, testBody)
	var te *Error
	if !errors.As(err, &te) || te.Status != http.StatusFound || hits != 1 {
		t.Fatalf("err %v after %d requests, want status 302 after 1", err, hits)
	}
}
