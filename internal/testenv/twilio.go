package testenv

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// FakeTwilio is a real HTTP server speaking the part of Twilio's REST API
// kakunin uses (Messages), for tests: it checks the path and the basic
// auth as Twilio does and records what would have been sent.
type FakeTwilio struct {
	URL        string
	AccountSID string
	AuthToken  string

	mu    sync.Mutex
	sent  []TwilioMessage
	calls []TwilioCall
	fail  int // answer this HTTP status instead of 201 (0: succeed)
}

// TwilioCall is one call the fake accepted (Calls API), with the gather
// URL its TwiML posts key presses to.
type TwilioCall struct {
	SID, To, From, SendDigits, Twiml, StatusCallback, GatherURL string
}

// TwilioMessage is one message the fake accepted.
type TwilioMessage struct{ To, From, MessagingServiceSID, Body string }

// NewFakeTwilio starts a fake Twilio for the test.
func NewFakeTwilio(t testing.TB) *FakeTwilio {
	t.Helper()
	f := &FakeTwilio{AccountSID: "AC" + hex32(), AuthToken: hex32()}
	path := regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/(Messages|Calls)\.json$`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		m := path.FindStringSubmatch(r.URL.Path)
		user, pass, ok := r.BasicAuth()
		switch {
		case r.Method != http.MethodPost || m == nil:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"code": 20404, "message": "The requested resource was not found", "status": 404})
			return
		case !ok || user != f.AccountSID || pass != f.AuthToken || m[1] != f.AccountSID:
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"code": 20003, "message": "Authenticate", "status": 401})
			return
		}
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		fail := f.fail
		if fail == 0 && m[2] == "Calls" {
			c := TwilioCall{SID: "CA" + hex32(), To: r.PostForm.Get("To"), From: r.PostForm.Get("From"),
				SendDigits: r.PostForm.Get("SendDigits"), Twiml: r.PostForm.Get("Twiml"),
				StatusCallback: r.PostForm.Get("StatusCallback")}
			if a := gatherAction.FindStringSubmatch(c.Twiml); a != nil {
				c.GatherURL = html.UnescapeString(a[1])
			}
			f.calls = append(f.calls, c)
			f.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"sid": c.SID, "status": "queued", "to": c.To})
			return
		}
		if fail == 0 {
			f.sent = append(f.sent, TwilioMessage{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"),
				MessagingServiceSID: r.PostForm.Get("MessagingServiceSid"), Body: r.PostForm.Get("Body")})
		}
		f.mu.Unlock()
		switch {
		case fail == http.StatusBadRequest:
			w.WriteHeader(fail)
			json.NewEncoder(w).Encode(map[string]any{"code": 21211, "message": "The 'To' number is not a valid phone number.",
				"more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})
		case fail != 0:
			w.WriteHeader(fail)
			fmt.Fprint(w, `{"code": 20500, "message": "Internal Server Error", "status": 500}`)
		default:
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"sid": "SM" + hex32(), "status": "queued",
				"to": r.PostForm.Get("To"), "body": r.PostForm.Get("Body")})
		}
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Sent returns the messages accepted so far.
func (f *FakeTwilio) Sent() []TwilioMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TwilioMessage(nil), f.sent...)
}

// Calls returns the calls placed so far.
func (f *FakeTwilio) Calls() []TwilioCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TwilioCall(nil), f.calls...)
}

var gatherAction = regexp.MustCompile(`<Gather [^>]*action="([^"]*)"`)

// Press posts what Twilio posts when the callee presses digits during the
// call's Gather: a form signed with X-Twilio-Signature, to the gather URL,
// through client (one that trusts the callback server). It returns the
// status and the TwiML answered.
func (f *FakeTwilio) Press(c TwilioCall, digits string, client *http.Client) (int, string, error) {
	return f.callback(c.GatherURL, url.Values{"CallSid": {c.SID}, "AccountSid": {f.AccountSID}, "From": {c.From},
		"To": {c.To}, "CallStatus": {"in-progress"}, "Digits": {digits}, "Direction": {"outbound-api"}}, client)
}

// End posts the call's status callback with a final status ("completed",
// "no-answer", "busy", "failed").
func (f *FakeTwilio) End(c TwilioCall, status string, client *http.Client) (int, error) {
	code, _, err := f.callback(c.StatusCallback, url.Values{"CallSid": {c.SID}, "AccountSid": {f.AccountSID},
		"From": {c.From}, "To": {c.To}, "CallStatus": {status}, "Direction": {"outbound-api"}}, client)
	return code, err
}

func (f *FakeTwilio) callback(u string, form url.Values, client *http.Client) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSignature(f.AuthToken, u, form))
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// twilioSignature is Twilio's documented request signature, written here
// independently of the code under test: HMAC-SHA1 of the URL followed by
// the sorted parameters' names and values, base64.
func twilioSignature(token, u string, form url.Values) string {
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(u))
	for _, k := range slices.Sorted(maps.Keys(form)) {
		for _, v := range form[k] {
			m.Write([]byte(k + v))
		}
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Fail makes the fake answer status (e.g. 400, 500) from now on; 0 heals it.
func (f *FakeTwilio) Fail(status int) {
	f.mu.Lock()
	f.fail = status
	f.mu.Unlock()
}

func hex32() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}
