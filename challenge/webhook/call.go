package webhook

import (
	"context"
	"errors"

	"kakunin/challenge"
)

// CallMessage is the JSON body of an approval call request to an
// organisation's own telephony gateway. The gateway calls To (dialling
// Extension once it answers), says Prompt in Language, and posts the
// callee's answer to CallbackURL as a Decision ("approve" for #, "fraud"
// for 0, "deny" for anything else, no answer or a hang-up), signed like
// this message (SignApproval with the ID and purpose "call"), before
// ExpiresAt.
type CallMessage struct {
	Type        string `json:"type"` // "call"
	ID          string `json:"id"`   // the approval's ID
	To          string `json:"to"`   // E.164
	Extension   string `json:"extension,omitempty"`
	Language    string `json:"language"`
	Prompt      string `json:"prompt"`
	CallbackURL string `json:"callback_url"`
	ExpiresAt   int64  `json:"expires_at"`
	Timestamp   int64  `json:"timestamp"`
}

// Caller places approval calls through the gateway (challenge.Caller).
type Caller struct{ *Client }

// Call posts one signed call request.
func (c Caller) Call(ctx context.Context, r challenge.CallRequest) error {
	if !e164.MatchString(r.To) {
		return errors.New("webhook: call: recipient is not an E.164 number")
	}
	if r.DecisionURL == "" {
		return errors.New("webhook: call: no decision URL")
	}
	ts := c.now().Unix()
	return c.post(ctx, "call", ts, CallMessage{Type: "call", ID: r.ApprovalID, To: r.To, Extension: r.Extension,
		Language: r.Language, Prompt: r.Prompt, CallbackURL: r.DecisionURL, ExpiresAt: r.Expires.Unix(), Timestamp: ts},
		&approvalRef{id: r.ApprovalID, purpose: "call"})
}
