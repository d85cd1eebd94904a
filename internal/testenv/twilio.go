package testenv

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
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

	mu   sync.Mutex
	sent []TwilioMessage
	fail int // answer this HTTP status instead of 201 (0: succeed)
}

// TwilioMessage is one message the fake accepted.
type TwilioMessage struct{ To, From, MessagingServiceSID, Body string }

// NewFakeTwilio starts a fake Twilio for the test.
func NewFakeTwilio(t testing.TB) *FakeTwilio {
	t.Helper()
	f := &FakeTwilio{AccountSID: "AC" + hex32(), AuthToken: hex32()}
	path := regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)
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
