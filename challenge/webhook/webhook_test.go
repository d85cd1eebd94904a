package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/internal/secret"
)

const (
	testSecret = "0123456789abcdef-gateway-secret"
	testTo     = "+819012345678"
	testBody   = "kakunin code 483920"
)

var _ interface {
	SendSMS(ctx context.Context, to, body string) error
} = (*Client)(nil)

// gateway is an organisation's SMS gateway as the docs describe it: it
// checks the signature with Verify and accepts with 202.
type gateway struct {
	t *testing.T

	mu  sync.Mutex
	got []message
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		g.t.Errorf("read body: %v", err)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		g.t.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
	}
	ts, sig := r.Header.Get("X-Kakunin-Timestamp"), r.Header.Get("X-Kakunin-Signature")
	if !Verify(testSecret, ts, string(raw), sig, time.Now(), 5*time.Minute) {
		g.t.Errorf("signature %q over %q.%s does not verify", sig, ts, raw)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var m message
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		g.t.Errorf("decode %s: %v", raw, err)
	}
	if strconv.FormatInt(m.Timestamp, 10) != ts {
		g.t.Errorf("body timestamp %d, header %s", m.Timestamp, ts)
	}
	g.mu.Lock()
	g.got = append(g.got, m)
	g.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func newClient(t *testing.T, u string, edit ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: u, Secret: secret.New(testSecret)}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkQuiet(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{testSecret, testBody, "483920", testTo} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestSendSMSPostsSignedJSON(t *testing.T) {
	gw := &gateway{t: t}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	c := newClient(t, srv.URL+"/send")

	for range 2 {
		if err := c.SendSMS(context.Background(), testTo, testBody); err != nil {
			t.Fatal(err)
		}
	}
	if len(gw.got) != 2 {
		t.Fatalf("%d messages, want 2", len(gw.got))
	}
	m := gw.got[0]
	if m.To != testTo || m.Body != testBody || !hexID.MatchString(m.ID) {
		t.Errorf("message %+v", m)
	}
	if d := time.Since(time.Unix(m.Timestamp, 0)); d < -time.Minute || d > time.Minute {
		t.Errorf("timestamp %d is %s off", m.Timestamp, d)
	}
	if gw.got[1].ID == m.ID {
		t.Errorf("two sends share id %s", m.ID)
	}
}

func TestSendSMSOverTLS(t *testing.T) {
	gw := &gateway{t: t}
	srv := httptest.NewTLSServer(gw)
	defer srv.Close()
	c, err := New(Config{URL: srv.URL, Secret: secret.New(testSecret)}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendSMS(context.Background(), testTo, testBody); err != nil {
		t.Fatal(err)
	}
}

// TestWireFormat pins the bytes a gateway sees, with a fixed clock.
func TestWireFormat(t *testing.T) {
	var raw []byte
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ = io.ReadAll(r.Body)
		hdr = r.Header.Clone()
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	c.now = func() time.Time { return time.Unix(1767225600, 0) }

	if err := c.SendSMS(context.Background(), testTo, testBody); err != nil {
		t.Fatal(err)
	}
	var m message
	json.Unmarshal(raw, &m)
	want := `{"to":"+819012345678","body":"kakunin code 483920","id":"` + m.ID + `","timestamp":1767225600}`
	if string(raw) != want {
		t.Errorf("body\n%s\nwant\n%s", raw, want)
	}
	if ts := hdr.Get("X-Kakunin-Timestamp"); ts != "1767225600" {
		t.Errorf("X-Kakunin-Timestamp %q", ts)
	}
	if sig := hdr.Get("X-Kakunin-Signature"); sig != Sign(testSecret, "1767225600", raw) || !strings.HasPrefix(sig, "sha256=") {
		t.Errorf("X-Kakunin-Signature %q", sig)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1767225600, 0)
	ts := "1767225600"
	body := `{"to":"+819012345678","body":"kakunin code 483920","id":"00","timestamp":1767225600}`
	sig := Sign(testSecret, ts, []byte(body))
	tests := []struct {
		name                  string
		secret, ts, body, sig string
		now                   time.Time
		skew                  time.Duration
		want                  bool
	}{
		{"genuine", testSecret, ts, body, sig, now, 5 * time.Minute, true},
		{"within skew, late", testSecret, ts, body, sig, now.Add(5 * time.Minute), 5 * time.Minute, true},
		{"within skew, early clock", testSecret, ts, body, sig, now.Add(-5 * time.Minute), 5 * time.Minute, true},
		{"body altered", testSecret, ts, strings.Replace(body, "483920", "000000", 1), sig, now, 5 * time.Minute, false},
		{"number altered", testSecret, ts, strings.Replace(body, "+8190", "+8180", 1), sig, now, 5 * time.Minute, false},
		{"too old", testSecret, ts, body, sig, now.Add(5*time.Minute + time.Second), 5 * time.Minute, false},
		{"from the future", testSecret, ts, body, sig, now.Add(-6 * time.Minute), 5 * time.Minute, false},
		{"timestamp swapped", testSecret, "1767225601", body, sig, now, 5 * time.Minute, false},
		{"timestamp not canonical", testSecret, "+1767225600", body, sig, now, 5 * time.Minute, false},
		{"timestamp not a number", testSecret, "yesterday", body, sig, now, 5 * time.Minute, false},
		{"other secret", "another-secret-of-length", ts, body, sig, now, 5 * time.Minute, false},
		{"empty secret", "", ts, body, Sign("", ts, []byte(body)), now, 5 * time.Minute, false},
		{"no prefix", testSecret, ts, body, strings.TrimPrefix(sig, "sha256="), now, 5 * time.Minute, false},
		{"bad hex", testSecret, ts, body, "sha256=zz", now, 5 * time.Minute, false},
		{"truncated", testSecret, ts, body, sig[:len(sig)-2], now, 5 * time.Minute, false},
		{"zero skew", testSecret, ts, body, sig, now, 0, false},
	}
	for _, tt := range tests {
		if got := Verify(tt.secret, tt.ts, tt.body, tt.sig, tt.now, tt.skew); got != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSendSMSReportsRefusal(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusInternalServerError, http.StatusFound} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, _ := io.ReadAll(r.Body)
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(status)
			w.Write(raw) // a gateway that echoes what it got
		}))
		err := newClient(t, srv.URL).SendSMS(context.Background(), testTo, testBody)
		srv.Close()
		var we *Error
		if !errors.As(err, &we) || we.Status != status {
			t.Errorf("status %d: err %v", status, err)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Itoa(status)) {
			t.Errorf("error %q does not say %d", err, status)
		}
		checkQuiet(t, err)
	}
}

// blockingHandler never answers. It reads the body first: only then does
// net/http notice the client hanging up and end the request's context.
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
	c := newClient(t, srv.URL, func(c *Config) { c.Timeout = 50 * time.Millisecond })

	err := c.SendSMS(context.Background(), testTo, testBody)
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
	if err := newClient(t, srv.URL).SendSMS(ctx, testTo, testBody); !errors.Is(err, context.Canceled) {
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

	err = newClient(t, "http://"+addr+"/send").SendSMS(context.Background(), testTo, testBody)
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
	c := newClient(t, srv.URL)
	for _, tt := range []struct{ to, body string }{
		{"09012345678", testBody},
		{testTo, ""},
	} {
		if err := c.SendSMS(context.Background(), tt.to, tt.body); err == nil {
			t.Errorf("SendSMS(%q, %q): no error", tt.to, tt.body)
		}
	}
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // error prefix; "" for valid
	}{
		{"https", Config{URL: "https://sms-gw.example.ac.jp/send", Secret: secret.New(testSecret)}, ""},
		{"http to 127.0.0.1", Config{URL: "http://127.0.0.1:9000/send", Secret: secret.New(testSecret)}, ""},
		{"http to localhost", Config{URL: "http://localhost:9000/send", Secret: secret.New(testSecret)}, ""},
		{"http to ::1", Config{URL: "http://[::1]:9000/send", Secret: secret.New(testSecret)}, ""},
		{"no url", Config{Secret: secret.New(testSecret)}, "url: required"},
		{"http elsewhere", Config{URL: "http://sms-gw.example.ac.jp/send", Secret: secret.New(testSecret)}, "url: must be https://"},
		{"http to a lookalike", Config{URL: "http://localhost.example.org/send", Secret: secret.New(testSecret)}, "url: must be https://"},
		{"credentials", Config{URL: "https://u:p@sms-gw.example.ac.jp/", Secret: secret.New(testSecret)}, "url: must not hold credentials"},
		{"no host", Config{URL: "https:///send", Secret: secret.New(testSecret)}, "url: "},
		{"ftp", Config{URL: "ftp://sms-gw.example.ac.jp/", Secret: secret.New(testSecret)}, "url: scheme"},
		{"no secret", Config{URL: "https://sms-gw.example.ac.jp/"}, "secret: 0 characters"},
		{"short secret", Config{URL: "https://sms-gw.example.ac.jp/", Secret: secret.New("fifteen-chars!!")}, "secret: 15 characters, need at least 16"},
		{"negative timeout", Config{URL: "https://sms-gw.example.ac.jp/", Secret: secret.New(testSecret), Timeout: -1}, "timeout: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.SetDefaults()
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), testSecret):
				t.Fatalf("error %q holds the secret", err)
			}
		})
	}
	var c Config
	c.SetDefaults()
	if c.Timeout != 10*time.Second {
		t.Errorf("default timeout %s", c.Timeout)
	}
}
