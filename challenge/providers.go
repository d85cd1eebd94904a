package challenge

import (
	"context"
	"time"
)

// SMSSender delivers a text message to a phone number (E.164). The
// implementations live in subpackages: twilio (Twilio's Messages API),
// webhook (an organisation's own HTTPS gateway) and console (the demo).
// An error means the message was not accepted for delivery; its text may
// reach the log but never the user, and must not hold the message body.
type SMSSender interface {
	SendSMS(ctx context.Context, to, body string) error
}

// PushRequest is one sign-in approval notification.
type PushRequest struct {
	ApprovalID string
	UserID     string
	// Registration is the push method's stored registration (its
	// channel's device token or Web Push subscription), see PushChannel.
	Registration []byte
	Language     string
	Title        string
	Body         string
	// Numbers are the choices the notification offers, one of them the
	// number the VPN client shows; nil without number matching.
	Numbers []int
	// ApproveURL is a signed page where a person decides (Web Push opens
	// it; the console prints it). CallbackURL is where a push gateway
	// posts the decision (signed JSON). Both expire with the approval.
	ApproveURL  string
	CallbackURL string
	Expires     time.Time
}

// Pusher delivers approval notifications over one push channel: Web Push
// to the portal installed on the phone, an organisation's push gateway
// (webhook), or the demo's console. An error means the notification was
// not accepted for delivery; its text may reach the log, never the user.
type Pusher interface {
	Push(ctx context.Context, r PushRequest) error
}

// CallRequest is one approval call.
type CallRequest struct {
	ApprovalID string
	To         string // E.164
	Extension  string // dialled after the main number answers (office phones)
	Language   string
	Prompt     string // what the call says
	// GatherURL receives the key pressed and StatusURL the end of the
	// call (signed per approval); ApproveURL is the console's keypad page.
	GatherURL  string
	StatusURL  string
	ApproveURL string
	// DecisionURL is where a telephony gateway of the organisation's own
	// (webhook) posts the callee's answer, signed like a push decision.
	DecisionURL string
	Expires     time.Time
}

// Caller places approval calls: Twilio's Calls API, or the console.
type Caller interface {
	Call(ctx context.Context, r CallRequest) error
}

// CallbackKind names what a signed callback URL is for.
type CallbackKind string

const (
	CallbackApprove CallbackKind = "approve" // a page for the user
	CallbackPush    CallbackKind = "push"    // a push or telephony gateway's signed decision
	CallbackGather  CallbackKind = "gather"  // the key pressed in a call
	CallbackStatus  CallbackKind = "status"  // a call ended
)

// Callbacks makes the signed, expiring URLs on which providers and users
// decide approvals (package callback serves them).
type Callbacks interface {
	URL(kind CallbackKind, approvalID string, expires time.Time) string
}
