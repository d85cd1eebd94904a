package webpush

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"kakunin/challenge"
)

// Notification is the JSON payload the portal's service worker receives:
// it shows Title and Body and opens URL (the approval page, which offers
// Numbers) when the notification is tapped.
type Notification struct {
	Title   string `json:"title"`
	Body    string `json:"body"`
	URL     string `json:"url"`
	Numbers []int  `json:"numbers,omitempty"`
	Tag     string `json:"tag"`
	Expires int64  `json:"expires"` // Unix time
}

// Push sends a sign-in approval (challenge.Pusher) to the subscription
// in the method's registration, urgent, living no longer than the
// approval. ErrGone means the browser dropped the subscription: the user
// registers the phone again in the portal.
func (s *Sender) Push(ctx context.Context, r challenge.PushRequest) error {
	var reg challenge.PushRegistration
	if err := json.Unmarshal(r.Registration, &reg); err != nil {
		return fmt.Errorf("webpush: registration: %w", err)
	}
	sub, err := ParseSubscription(reg.Subscription)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(Notification{Title: r.Title, Body: r.Body, URL: r.ApproveURL, Numbers: r.Numbers,
		Tag: r.ApprovalID, Expires: r.Expires.Unix()})
	if err != nil {
		return err
	}
	ttl := int(time.Until(r.Expires) / time.Second)
	if ttl < 1 {
		ttl = 1
	}
	return s.Send(ctx, sub, payload, Options{TTL: ttl, Urgency: UrgencyHigh})
}
