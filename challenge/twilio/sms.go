package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// Client talks to Twilio's REST API for one account.
type Client struct {
	http     *http.Client
	endpoint string // …/Accounts/{sid}/Messages.json
	sid      string
	token    string
	from     string
	service  string
	timeout  time.Duration
}

// New returns a client for cfg, which it defaults and validates. A nil
// client gets one of its own that does not follow redirects: Twilio's API
// never redirects, and a followed redirect would turn the POST into a GET.
// The time limit comes from cfg.Timeout and the caller's context, not from
// client.Timeout.
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
		http:     client,
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/2010-04-01/Accounts/" + cfg.AccountSID + "/Messages.json",
		sid:      cfg.AccountSID,
		token:    cfg.AuthToken.Value(),
		from:     cfg.From,
		service:  cfg.MessagingServiceSID,
		timeout:  cfg.Timeout,
	}, nil
}

// Error is Twilio's answer to a message it did not accept, e.g. status 400
// with code 21211 (invalid To number) or 21610 (the recipient replied STOP).
// See https://www.twilio.com/docs/api/errors for the codes.
type Error struct {
	Status   int    // HTTP status
	Code     int    // Twilio error code; 0 when the body was not Twilio's JSON
	Message  string // Twilio's message, with the recipient and our body redacted
	MoreInfo string // link to Twilio's page for Code
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "twilio: status %d", e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.MoreInfo != "" {
		b.WriteString(" (" + e.MoreInfo + ")")
	}
	return b.String()
}

// SendSMS asks Twilio to deliver body to the E.164 number to. A nil error
// means Twilio accepted the message (201 Created) and queued it; delivery
// itself is reported later, to a status callback, if at all.
func (c *Client) SendSMS(ctx context.Context, to, body string) error {
	if !e164.MatchString(to) {
		return errors.New("twilio: send SMS: recipient is not an E.164 number")
	}
	if body == "" {
		return errors.New("twilio: send SMS: empty body")
	}
	form := url.Values{"To": {to}, "Body": {body}}
	if c.service != "" {
		form.Set("MessagingServiceSid", c.service)
	} else {
		form.Set("From", c.from)
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("twilio: send SMS: %w", err)
	}
	req.SetBasicAuth(c.sid, c.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "kakunin")

	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error names the endpoint (account SID, not the token) and
		// wraps the cause, so errors.Is(err, context.DeadlineExceeded) holds.
		return fmt.Errorf("twilio: send SMS: %w", err)
	}
	defer resp.Body.Close()
	// Read a bounded amount: enough for Twilio's JSON, and draining it lets
	// the connection be reused.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return apiError(resp.StatusCode, raw, to, body)
}

// apiError turns Twilio's error JSON into an *Error. Twilio's messages can
// quote the To number ("The 'To' number +81… is not a valid phone
// number."); it is redacted, as is our body should it ever be echoed, and
// the text is cut short and stripped of control characters before it can
// reach a log line.
func apiError(status int, raw []byte, to, body string) *Error {
	e := &Error{Status: status}
	var j struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	if json.Unmarshal(raw, &j) != nil {
		return e
	}
	msg := strings.ReplaceAll(j.Message, body, "[body]")
	msg = strings.ReplaceAll(msg, to, "[recipient]")
	e.Code = j.Code
	e.Message = clean(msg, 300)
	e.MoreInfo = clean(j.MoreInfo, 200)
	return e
}

func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return strings.TrimSpace(s)
}
