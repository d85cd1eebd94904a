package webpush

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testPath    = "/push/v2/gAAAAABmSubscriptionToken"
	testPayload = `{"type":"approve","id":"7f3c","user":"tanaka","client":"vpn-gw1"}`
)

// fixture is a browser subscribed to a fake push service, and a Sender
// holding the VAPID key the browser subscribed with.
type fixture struct {
	srv     *httptest.Server
	ps      *pushService
	sub     Subscription
	sender  *Sender
	private string // the VAPID private key, which no error may show
}

// A nil handler is the push service; tests of its answers give their own.
func newFixture(t *testing.T, tls bool, handler http.Handler) *fixture {
	t.Helper()
	v, priv := newVAPID(t)
	ps := &pushService{t: t, browser: newBrowser(t), vapidKey: v.PublicKey()}
	if handler == nil {
		handler = ps
	}
	var srv *httptest.Server
	var client *http.Client
	if tls {
		srv = httptest.NewTLSServer(handler)
		client = srv.Client()
	} else {
		srv = httptest.NewServer(handler)
	}
	t.Cleanup(srv.Close)
	return &fixture{
		srv:     srv,
		ps:      ps,
		sub:     ps.browser.subscription(srv.URL + testPath),
		sender:  New(v, client),
		private: priv,
	}
}

// checkQuiet fails if err shows a key, the auth secret, the endpoint's
// path (it addresses one browser) or the payload.
func (f *fixture) checkQuiet(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{f.private, f.sub.Auth, f.sub.P256dh, testPath, "gAAAAABm", testPayload, "tanaka"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows %q", err, s)
		}
	}
}

func TestSendDeliversWhatTheBrowserDecrypts(t *testing.T) {
	tests := []struct {
		name    string
		tls     bool
		payload []byte
	}{
		{"approval JSON", false, []byte(testPayload)},
		{"over TLS", true, []byte(testPayload)},
		{"non-ASCII", false, []byte(`{"title":"サインインの承認","body":"VPN に tanaka としてサインインしますか?"}`)},
		{"empty", false, []byte{}},
		{"largest", false, bytes.Repeat([]byte{'x'}, MaxPayload)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.tls, nil)
			if err := f.sender.Send(context.Background(), f.sub, tt.payload, Options{}); err != nil {
				t.Fatal(err)
			}
			got := f.ps.deliveries()
			if len(got) != 1 {
				t.Fatalf("%d deliveries, want 1", len(got))
			}
			if !bytes.Equal(got[0].plaintext, tt.payload) {
				t.Errorf("browser reads %q, want %q", got[0].plaintext, tt.payload)
			}
			h := got[0].header
			if h.Get("Content-Encoding") != "aes128gcm" || h.Get("Content-Type") != "application/octet-stream" {
				t.Errorf("Content-Encoding %q, Content-Type %q", h.Get("Content-Encoding"), h.Get("Content-Type"))
			}
			if h.Get("TTL") != "60" {
				t.Errorf("TTL %q, want the default 60", h.Get("TTL"))
			}
			if _, ok := h["Urgency"]; ok {
				t.Errorf("Urgency %q sent without being asked for", h.Get("Urgency"))
			}
			if _, ok := h["Topic"]; ok {
				t.Errorf("Topic %q sent without being asked for", h.Get("Topic"))
			}
			if got[0].claims.Sub != testSubject {
				t.Errorf("sub %q", got[0].claims.Sub)
			}
		})
	}
}

func TestSendHeadersFollowOptions(t *testing.T) {
	tests := []struct {
		name                string
		opts                Options
		ttl, urgency, topic string
	}{
		{"sign-in approval", Options{TTL: 120, Urgency: UrgencyHigh, Topic: "signin-tanaka"}, "120", "high", "signin-tanaka"},
		{"very low", Options{Urgency: UrgencyVeryLow}, "60", "very-low", ""},
		{"longest topic", Options{Topic: strings.Repeat("A", 32)}, "60", "", strings.Repeat("A", 32)},
		{"a week", Options{TTL: 604800, Urgency: UrgencyNormal}, "604800", "normal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false, nil)
			if err := f.sender.Send(context.Background(), f.sub, []byte(testPayload), tt.opts); err != nil {
				t.Fatal(err)
			}
			h := f.ps.deliveries()[0].header
			if h.Get("TTL") != tt.ttl || h.Get("Urgency") != tt.urgency || h.Get("Topic") != tt.topic {
				t.Errorf("TTL %q Urgency %q Topic %q, want %q %q %q",
					h.Get("TTL"), h.Get("Urgency"), h.Get("Topic"), tt.ttl, tt.urgency, tt.topic)
			}
		})
	}
}

func TestSendRefusesBadInputBeforeSending(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request sent")
	}))
	defer srv.Close()
	v, _ := newVAPID(t)
	s := New(v, nil)
	good := newBrowser(t).subscription(srv.URL + testPath)
	badAuth := good
	badAuth.Auth = "AAAA"
	tests := []struct {
		name    string
		sub     Subscription
		payload []byte
		opts    Options
		want    string
	}{
		{"payload too large", good, bytes.Repeat([]byte{'x'}, MaxPayload+1), Options{}, "webpush: send: payload of 3994 bytes, at most 3993"},
		{"negative TTL", good, nil, Options{TTL: -1}, "webpush: send: TTL -1 is negative"},
		{"unknown urgency", good, nil, Options{Urgency: "urgent"}, `webpush: send: urgency "urgent" is not`},
		{"topic too long", good, nil, Options{Topic: strings.Repeat("A", 33)}, "webpush: send: topic must be"},
		{"topic padded", good, nil, Options{Topic: "c2lnbmlu="}, "webpush: send: topic must be"},
		{"bad auth", badAuth, nil, Options{}, "webpush: send: subscription: keys.auth: 3 bytes, want 16"},
		{"plain http", Subscription{Endpoint: "http://push.example.net/x", P256dh: good.P256dh, Auth: good.Auth}, nil, Options{}, "webpush: send: subscription: endpoint: must be https://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Send(context.Background(), tt.sub, tt.payload, tt.opts)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			}
		})
	}
}

// answering is a push service that answers every message with status,
// the headers and the body given.
func answering(status int, header map[string]string, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

func TestSendReportsEachAnswer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	long := strings.Repeat("quota exceeded; ", 100)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		ok         bool
		gone       bool
		busy       bool
		retryAfter time.Duration
		excerpt    string
	}{
		{"201 created", http.StatusCreated, nil, "", true, false, false, 0, ""},
		{"202 accepted", http.StatusAccepted, nil, "", true, false, false, 0, ""},
		{"410 gone", http.StatusGone, nil, "push subscription has unsubscribed or expired.\n", false, true, false, 0, "push subscription has unsubscribed or expired."},
		{"404 not found", http.StatusNotFound, nil, "", false, true, false, 0, ""},
		{"429 with seconds", http.StatusTooManyRequests, map[string]string{"Retry-After": "120"}, "", false, false, true, 2 * time.Minute, ""},
		{"503 with a date", http.StatusServiceUnavailable, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, "", false, false, true, 90 * time.Second, ""},
		{"500 without Retry-After", http.StatusInternalServerError, nil, "", false, false, true, 0, ""},
		{"502 with junk Retry-After", http.StatusBadGateway, map[string]string{"Retry-After": "soon"}, "", false, false, true, 0, ""},
		{"400 bad request", http.StatusBadRequest, nil, `{"reason":"UnauthorizedRegistration"}`, false, false, false, 0, `{"reason":"UnauthorizedRegistration"}`},
		{"401 bad token", http.StatusUnauthorized, nil, "invalid JWT\r\nX-Forged: 1", false, false, false, 0, "invalid JWT  X-Forged: 1"},
		{"403 wrong key", http.StatusForbidden, nil, "VAPID key mismatch", false, false, false, 0, "VAPID key mismatch"},
		{"413 too large", http.StatusRequestEntityTooLarge, nil, long, false, false, false, 0, long[:200]},
		{"200 is not 201", http.StatusOK, nil, "", false, false, false, 0, ""},
		{"307 is not followed", http.StatusTemporaryRedirect, map[string]string{"Location": "/elsewhere"}, "", false, false, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false, answering(tt.status, tt.header, tt.body))
			f.sender.now = func() time.Time { return now }

			err := f.sender.Send(context.Background(), f.sub, []byte(testPayload), Options{Urgency: UrgencyHigh})
			if tt.ok {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if errors.Is(err, ErrGone) != tt.gone || errors.Is(err, ErrUnavailable) != tt.busy {
				t.Errorf("error %v: gone %v unavailable %v, want %v %v",
					err, errors.Is(err, ErrGone), errors.Is(err, ErrUnavailable), tt.gone, tt.busy)
			}
			if pe.Status != tt.status || pe.RetryAfter != tt.retryAfter || pe.Body != strings.TrimSpace(tt.excerpt) {
				t.Errorf("Error %+v, want status %d, retry after %s, body %q", pe, tt.status, tt.retryAfter, tt.excerpt)
			}
			if len(pe.Body) > 200 {
				t.Errorf("excerpt of %d bytes", len(pe.Body))
			}
			msg := err.Error()
			if !strings.Contains(msg, strconv.Itoa(tt.status)) || !strings.Contains(msg, "127.0.0.1") {
				t.Errorf("error %q does not name the status and the push service", msg)
			}
			if tt.retryAfter > 0 && !strings.Contains(msg, "retry after "+tt.retryAfter.String()) {
				t.Errorf("error %q does not say when to retry", msg)
			}
			f.checkQuiet(t, err)
		})
	}
}

func TestExcerptCutsOnACharacter(t *testing.T) {
	body := []byte(strings.Repeat("あ", 100)) // 3 bytes each
	got := excerpt(body, 200)
	if len(got) != 198 || got != strings.Repeat("あ", 66) {
		t.Errorf("excerpt of %d bytes: %q", len(got), got)
	}
	if got := excerpt([]byte("ok\xff\x00done"), 200); got != "ok  done" {
		t.Errorf("excerpt %q", got)
	}
}

// blockingHandler never answers. It reads the body first: only then does
// net/http notice the client hanging up and end the request's context.
func blockingHandler(arrived chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		close(arrived)
		<-r.Context().Done()
	})
}

func TestSendHonoursContext(t *testing.T) {
	t.Run("cancelled while waiting", func(t *testing.T) {
		arrived := make(chan struct{})
		f := newFixture(t, false, blockingHandler(arrived))
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		err := f.sender.Send(ctx, f.sub, []byte(testPayload), Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		f.checkQuiet(t, err)
	})
	t.Run("deadline while waiting", func(t *testing.T) {
		f := newFixture(t, false, blockingHandler(make(chan struct{})))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := f.sender.Send(ctx, f.sub, []byte(testPayload), Options{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want context.DeadlineExceeded", err)
		}
		f.checkQuiet(t, err)
	})
	t.Run("cancelled before", func(t *testing.T) {
		f := newFixture(t, false, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := f.sender.Send(ctx, f.sub, []byte(testPayload), Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if n := len(f.ps.deliveries()); n != 0 {
			t.Errorf("%d deliveries after cancellation", n)
		}
	})
}

func TestSendReportsUnreachablePushService(t *testing.T) {
	f := newFixture(t, false, nil)
	f.srv.Close()
	err := f.sender.Send(context.Background(), f.sub, []byte(testPayload), Options{})
	if err == nil {
		t.Fatal("no error from a closed push service")
	}
	if errors.Is(err, ErrGone) {
		t.Errorf("a closed port reported as ErrGone: %v", err)
	}
	f.checkQuiet(t, err)
}
