package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"kakunin/internal/secret"
)

// Config is the webhook section of the configuration file:
//
//	sms:
//	  provider: webhook
//	  webhook:
//	    url: https://sms-gw.example.ac.jp/send
//	    secret: {file: /etc/kakunin/sms-gw.secret}   # at least 16 characters
//	    timeout: 10s
type Config struct {
	URL     string        `yaml:"url"`
	Secret  secret.Secret `yaml:"secret"`
	Timeout time.Duration `yaml:"timeout"`
}

// MinSecretLen is the shortest secret Validate accepts.
const MinSecretLen = 16

// SetDefaults fills in every unset field.
func (c *Config) SetDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate checks the section; errors name the key relative to it.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required")
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		return errors.New("url: not a URL")
	case u.Host == "":
		return fmt.Errorf("url: %q has no host", c.URL)
	case u.User != nil:
		// check-config prints url; credentials belong in secret.
		return errors.New("url: must not hold credentials (the signature authenticates kakunin)")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return errors.New("url: must be https:// (plain http only to a loopback address)")
	default:
		return fmt.Errorf("url: scheme %q is not https", u.Scheme)
	}
	if n := len(c.Secret.Value()); n < MinSecretLen {
		return fmt.Errorf("secret: %d characters, need at least %d", n, MinSecretLen)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Client posts messages to one gateway.
type Client struct {
	http    *http.Client
	url     string
	secret  []byte
	timeout time.Duration
	now     func() time.Time
}

// New returns a client for cfg, which it defaults and validates. A nil
// client gets one of its own that does not follow redirects (a redirected
// POST would arrive as a GET, unsigned content at an unvetted URL). The time
// limit comes from cfg.Timeout and the caller's context.
func New(cfg Config, client *http.Client) (*Client, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Client{
		http:    client,
		url:     cfg.URL,
		secret:  []byte(cfg.Secret.Value()),
		timeout: cfg.Timeout,
		now:     time.Now,
	}, nil
}

// Error is a gateway's refusal: an answer outside 2xx.
type Error struct {
	Status int
}

func (e *Error) Error() string {
	return fmt.Sprintf("webhook: gateway answered status %d %s", e.Status, http.StatusText(e.Status))
}

// message is the JSON body. Field order is the wire order.
type message struct {
	To        string `json:"to"`
	Body      string `json:"body"`
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// SendSMS posts one signed message. A nil error means the gateway answered
// 2xx. Each call carries a fresh random id, so a gateway that deduplicates
// by id still delivers a deliberate resend.
func (c *Client) SendSMS(ctx context.Context, to, body string) error {
	if !e164.MatchString(to) {
		return errors.New("webhook: send SMS: recipient is not an E.164 number")
	}
	if body == "" {
		return errors.New("webhook: send SMS: empty body")
	}
	ts := c.now().Unix()
	return c.post(ctx, "send SMS", ts, message{To: to, Body: body, ID: newID(), Timestamp: ts}, nil)
}

// post sends one signed JSON message. A message about an approval (push,
// call) is signed with its approval's ID and purpose (see SignApproval); an
// SMS with neither.
func (c *Client) post(ctx context.Context, what string, ts int64, v any, about *approvalRef) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", what, err)
	}
	stamp := strconv.FormatInt(ts, 10)
	sig := sign(c.secret, stamp, raw)
	if about != nil {
		sig = signApproval(c.secret, stamp, about.id, about.purpose, raw)
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kakunin")
	req.Header.Set("X-Kakunin-Timestamp", stamp)
	req.Header.Set("X-Kakunin-Signature", sig)

	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error: the URL (password stripped by net/http) and the cause.
		return fmt.Errorf("webhook: %s: %w", what, err)
	}
	defer resp.Body.Close()
	// The answer is not read: a gateway may echo what it was sent. Drain a
	// little so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &Error{Status: resp.StatusCode}
	}
	return nil
}

// newID is 128 random bits in hex: the message's id for the gateway's logs
// and deduplication.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: crypto/rand panics rather than return short
	return hex.EncodeToString(b)
}

// approvalRef names the approval a message is about: its ID and purpose
// ("push" or "call", the message's type).
type approvalRef struct{ id, purpose string }

// Sign returns the X-Kakunin-Signature value for a body sent at timestamp
// (the decimal Unix time of the X-Kakunin-Timestamp header): an SMS.
func Sign(secret, timestamp string, body []byte) string {
	return sign([]byte(secret), timestamp, body)
}

// SignApproval returns the X-Kakunin-Signature value of a message about
// one approval, either way: a push or call request kakunin sends, and the
// decision a gateway posts back. The HMAC covers
//
//	timestamp + "." + approval ID + "." + purpose + "." + body
//
// where purpose is "push" or "call" (the type of the message the gateway
// got), so a decision signed for one approval or channel decides no other.
func SignApproval(secret, timestamp, approvalID, purpose string, body []byte) string {
	return signApproval([]byte(secret), timestamp, approvalID, purpose, body)
}

func sign(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func signApproval(key []byte, timestamp, approvalID, purpose string, body []byte) string {
	// The timestamp is digits, an ID has no dot and the purpose is a
	// fixed word: the parts cannot be shifted into one another.
	return sign(key, timestamp+"."+approvalID+"."+purpose, body)
}

// Verify reports whether signature (the X-Kakunin-Signature header) is the
// HMAC-SHA256 under secret of timestamp (the X-Kakunin-Timestamp header),
// a dot and body (the raw request body, before any JSON decoding), and
// whether timestamp lies within maxSkew of now, either side. An empty
// secret, a maxSkew that is not positive or a malformed header verifies
// nothing. Verify does not refuse a replay within the window: a receiver
// that must, remembers what it has seen for maxSkew (see Replays).
func Verify(secret, timestamp, body, signature string, now time.Time, maxSkew time.Duration) bool {
	return verify(secret, timestamp, "", body, signature, now, maxSkew)
}

// VerifyApproval is Verify for a message about one approval, signed with
// SignApproval. An empty approval ID or one with a dot, or a purpose other
// than "push" or "call", verifies nothing.
func VerifyApproval(secret, timestamp, approvalID, purpose, body, signature string, now time.Time, maxSkew time.Duration) bool {
	if approvalID == "" || strings.Contains(approvalID, ".") || (purpose != "push" && purpose != "call") {
		return false
	}
	return verify(secret, timestamp, "."+approvalID+"."+purpose, body, signature, now, maxSkew)
}

func verify(secret, timestamp, bound, body, signature string, now time.Time, maxSkew time.Duration) bool {
	if secret == "" || maxSkew <= 0 {
		return false
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || strconv.FormatInt(ts, 10) != timestamp {
		return false // only the canonical form was signed by us
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxSkew || d < -maxSkew {
		return false
	}
	hexSig, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + bound))
	m.Write([]byte{'.'})
	m.Write([]byte(body))
	return hmac.Equal(got, m.Sum(nil))
}
