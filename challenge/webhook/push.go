package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"kakunin/challenge"
)

// PushMessage is the JSON body of a push request to an organisation's push
// gateway. The gateway shows Title and Body on the phone registered as
// Device, offers Numbers (when present: the user picks the one the VPN
// client shows) with approve and deny, and posts the answer to
// CallbackURL as a Decision, signed like this message, before ExpiresAt.
type PushMessage struct {
	Type        string `json:"type"` // "push"
	ID          string `json:"id"`   // the approval's ID: repeat deliveries share it
	User        string `json:"user"`
	Device      string `json:"device"`
	Title       string `json:"title"`
	Body        string `json:"body"`
	Language    string `json:"language"`
	Numbers     []int  `json:"numbers,omitempty"`
	CallbackURL string `json:"callback_url"`
	ExpiresAt   int64  `json:"expires_at"` // Unix time
	Timestamp   int64  `json:"timestamp"`
}

// Decision is what a push gateway posts to a push message's callback URL,
// with X-Kakunin-Timestamp and X-Kakunin-Signature headers made with the
// shared secret (see Sign).
type Decision struct {
	Decision string `json:"decision"` // "approve", "deny" or "fraud"
	Number   int    `json:"number,omitempty"`
}

// Push posts one signed push message (challenge.Pusher). The device token
// comes from the method's registration.
func (c *Client) Push(ctx context.Context, r challenge.PushRequest) error {
	var reg challenge.PushRegistration
	if err := json.Unmarshal(r.Registration, &reg); err != nil || reg.Device == "" {
		return errors.New("webhook: push: the registration has no device token")
	}
	ts := c.now().Unix()
	return c.post(ctx, "push", ts, PushMessage{Type: "push", ID: r.ApprovalID, User: r.UserID, Device: reg.Device,
		Title: r.Title, Body: r.Body, Language: r.Language, Numbers: r.Numbers, CallbackURL: r.CallbackURL,
		ExpiresAt: r.Expires.Unix(), Timestamp: ts})
}

// MaxDecisionBody bounds a decision callback's body.
const MaxDecisionBody = 4 << 10

// ReadDecision reads and verifies a decision callback signed under one of
// secrets (each gateway's): the signature over the raw body, and a
// timestamp within maxSkew of now.
func ReadDecision(r *http.Request, secrets []string, now time.Time, maxSkew time.Duration) (Decision, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxDecisionBody+1))
	if err != nil {
		return Decision{}, fmt.Errorf("read body: %w", err)
	}
	if len(raw) > MaxDecisionBody {
		return Decision{}, errors.New("body too large")
	}
	ok := false
	for _, secret := range secrets {
		ok = ok || Verify(secret, r.Header.Get("X-Kakunin-Timestamp"), string(raw), r.Header.Get("X-Kakunin-Signature"), now, maxSkew)
	}
	if !ok {
		return Decision{}, errors.New("bad or missing signature")
	}
	var d Decision
	if err := json.Unmarshal(raw, &d); err != nil {
		return Decision{}, fmt.Errorf("body: %w", err)
	}
	switch d.Decision {
	case "approve", "deny", "fraud":
	default:
		return Decision{}, fmt.Errorf("decision %q is not approve, deny or fraud", strconv.Quote(d.Decision))
	}
	return d, nil
}
