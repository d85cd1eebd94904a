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
// CallbackURL as a Decision, signed like this message (SignApproval with
// the ID and purpose "push"), before ExpiresAt.
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

// Decision is what a push gateway posts to a push message's callback URL
// (and a telephony gateway to a call message's), with X-Kakunin-Timestamp
// and X-Kakunin-Signature headers made with that gateway's secret over the
// approval's ID and purpose (see SignApproval). A retry is signed afresh:
// an exact copy of a decision already taken is refused as a replay.
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
		ExpiresAt: r.Expires.Unix(), Timestamp: ts}, &approvalRef{id: r.ApprovalID, purpose: "push"})
}

// MaxDecisionBody bounds a decision callback's body.
const MaxDecisionBody = 4 << 10

// Errors of ReadDecision the receiver answers differently.
var (
	ErrSignature = errors.New("bad or missing signature")
	ErrReplayed  = errors.New("signature already used")
)

// ReadDecision reads and verifies a decision callback about approval
// approvalID for purpose ("push" or "call"), signed under secret (the
// gateway of that channel's) with a timestamp within maxSkew of now, and
// not seen before by replays (nil checks nothing). It returns ErrSignature
// for a bad signature and ErrReplayed for a copy of one already taken.
func ReadDecision(r *http.Request, secret, approvalID, purpose string, now time.Time, maxSkew time.Duration, replays *Replays) (Decision, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxDecisionBody+1))
	if err != nil {
		return Decision{}, fmt.Errorf("read body: %w", err)
	}
	if len(raw) > MaxDecisionBody {
		return Decision{}, errors.New("body too large")
	}
	ts, sig := r.Header.Get("X-Kakunin-Timestamp"), r.Header.Get("X-Kakunin-Signature")
	if !VerifyApproval(secret, ts, approvalID, purpose, string(raw), sig, now, maxSkew) {
		return Decision{}, ErrSignature
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
	if replays != nil {
		unix, _ := strconv.ParseInt(ts, 10, 64) // verified above
		if !replays.First(sig, time.Unix(unix, 0).Add(maxSkew), now) {
			return Decision{}, ErrReplayed
		}
	}
	return d, nil
}
