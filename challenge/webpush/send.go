package webpush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sender posts encrypted messages to push services under one VAPID
// identity. It is safe for concurrent use.
type Sender struct {
	vapid *VAPID
	http  *http.Client
	now   func() time.Time
}

// New returns a Sender signing with v, which must not be nil. A nil client gets one of its own
// that gives up after 10 seconds and does not follow redirects: push
// services answer a POST directly, and a followed redirect would turn it
// into a GET. The caller's context can shorten the wait further.
func New(v *VAPID, client *http.Client) *Sender {
	if client == nil {
		client = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Sender{vapid: v, http: client, now: time.Now}
}

// Urgency tells the push service how soon to wake the device (RFC 8030
// section 5.3). A phone saving its battery may hold back anything below
// high for minutes.
type Urgency string

const (
	UrgencyVeryLow Urgency = "very-low"
	UrgencyLow     Urgency = "low"
	UrgencyNormal  Urgency = "normal"
	UrgencyHigh    Urgency = "high" // sign-in approvals: the user is waiting
)

// Options are the delivery hints of one message.
type Options struct {
	// TTL is how many seconds the push service keeps the message for a
	// device that is offline; 0 means DefaultTTL (so RFC 8030's TTL 0,
	// "now or never", cannot be asked for: mobile push services drop such
	// messages for a phone that is merely dozing). An approval nobody can
	// answer in time is worthless, so keep it near the challenge's expiry.
	TTL int
	// Urgency is sent when set; push services take none as normal.
	Urgency Urgency
	// Topic, when set, makes the push service replace an undelivered
	// message with the same topic instead of queueing another: at most 32
	// characters of the base64url alphabet.
	Topic string
}

// DefaultTTL is the TTL of Options that leave it 0.
const DefaultTTL = 60

var topicRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func (o Options) check() error {
	if o.TTL < 0 {
		return fmt.Errorf("TTL %d is negative", o.TTL)
	}
	switch o.Urgency {
	case "", UrgencyVeryLow, UrgencyLow, UrgencyNormal, UrgencyHigh:
	default:
		return fmt.Errorf("urgency %q is not very-low, low, normal or high", o.Urgency)
	}
	if o.Topic != "" && !topicRE.MatchString(o.Topic) {
		return errors.New("topic must be 1 to 32 characters of A-Z, a-z, 0-9, - and _")
	}
	return nil
}

// ErrGone means the push service no longer knows the subscription (404 or
// 410): the browser unsubscribed, or the app was removed. Delete it; it
// will never work again.
var ErrGone = errors.New("webpush: subscription expired or unsubscribed")

// ErrUnavailable means the push service is overloaded or failing (429 or
// 5xx). Try again later, after Error.RetryAfter when it is set.
var ErrUnavailable = errors.New("webpush: push service unavailable")

// Error is a push service's refusal of a message.
type Error struct {
	Host       string        // the push service, e.g. fcm.googleapis.com
	Status     int           // HTTP status
	RetryAfter time.Duration // from Retry-After on 429 and 5xx; 0 if absent
	Body       string        // the start of the answer, at most 200 bytes, control characters blanked
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "webpush: %s: status %d", e.Host, e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if e.Body != "" {
		b.WriteString(": " + e.Body)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrGone) and errors.Is(err, ErrUnavailable)
// hold for the statuses that mean them.
func (e *Error) Unwrap() error {
	switch {
	case e.Status == http.StatusNotFound || e.Status == http.StatusGone:
		return ErrGone
	case e.Status == http.StatusTooManyRequests || e.Status >= 500:
		return ErrUnavailable
	}
	return nil
}

// Send encrypts payload for sub and posts it to sub's push service. A nil
// error means the push service accepted the message (201 or 202); whether
// the device shows it is not reported. Errors wrap ErrGone, ErrUnavailable
// or an *Error for the push service's answers, and the context's error
// when it ends first.
func (s *Sender) Send(ctx context.Context, sub Subscription, payload []byte, opts Options) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("webpush: send: payload of %d bytes, at most %d", len(payload), MaxPayload)
	}
	if err := opts.check(); err != nil {
		return fmt.Errorf("webpush: send: %w", err)
	}
	k, err := sub.parse()
	if err != nil {
		return fmt.Errorf("webpush: send: subscription: %w", err)
	}
	host := k.endpoint.Host
	body, err := encryptMessage(payload, k.p256dh, k.auth)
	if err != nil {
		return fmt.Errorf("webpush: send to %s: encrypt: %w", host, err)
	}
	authz, err := s.vapid.authorization(k.endpoint, s.now())
	if err != nil {
		return fmt.Errorf("webpush: send to %s: %w", host, err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webpush: send to %s: %w", host, err)
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("TTL", strconv.Itoa(ttl))
	if opts.Urgency != "" {
		req.Header.Set("Urgency", string(opts.Urgency))
	}
	if opts.Topic != "" {
		req.Header.Set("Topic", opts.Topic)
	}
	req.Header.Set("Authorization", authz)
	req.Header.Set("User-Agent", "kakunin")

	resp, err := s.http.Do(req)
	if err != nil {
		// A *url.Error would quote the endpoint, which addresses one
		// browser; keep its cause, so errors.Is(err, context.Canceled)
		// still holds.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webpush: send to %s: %w", host, err)
	}
	defer resp.Body.Close()
	// Read a bounded amount: enough for an excerpt, and draining it lets
	// the connection be reused.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusAccepted {
		return nil
	}
	e := &Error{Host: host, Status: resp.StatusCode, Body: excerpt(raw, 200)}
	if errors.Is(e, ErrUnavailable) {
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	return e
}

// retryAfter reads Retry-After as seconds or as an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Truncate(time.Second)
	}
	return 0
}

// excerpt is the start of b, at most limit bytes of whole characters,
// with control characters and invalid UTF-8 blanked so that it cannot
// forge a log line.
func excerpt(b []byte, limit int) string {
	var out strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r == utf8.RuneError || unicode.IsControl(r) {
			r = ' '
		}
		if out.Len()+utf8.RuneLen(r) > limit {
			break
		}
		out.WriteRune(r)
	}
	return strings.TrimSpace(out.String())
}
