package challenge

import (
	"context"
	"net/netip"
	"time"
)

// Request is one Access-Request in plain Go types: the transport (radius/)
// has already checked that it is authentic and decoded the password.
type Request struct {
	// Client is the configured name of the NAS that sent the request.
	Client string
	// Policy is that client's flow policy.
	Policy Policy
	// ClientAddr is the source address of the packet.
	ClientAddr       netip.Addr
	UserName         string
	Password         string
	State            []byte // empty in the first round
	CallingStationID string
	NASIdentifier    string
	// RequestID identifies this Access-Request across retransmits (the
	// transport uses its Request Authenticator), so that a copy that
	// reaches another node after the gateway failed over can learn the
	// outcome of an approval the first copy started.
	RequestID string
	// SessionID is the gateway's own identifier of the sign-in, when the
	// Access-Request carries one (the transport uses Acct-Session-Id): a
	// gateway that fails over to another server keeps it even where it
	// computes a new Request Authenticator. Empty when absent.
	SessionID string
	// Hold is called by the flow before it waits for a push or a call to
	// be approved, up to flow.hold.timeout: the transport stops counting
	// the request against its limit of decisions in flight. It reports
	// false when the transport cannot hold another request; nil holds.
	// Calling it again for the same request reports true.
	Hold func() bool

	// owed password attempts, reserved at owedAt, that a good password
	// leaves to forgive: the flow forgives them with its next write.
	owed   int
	owedAt time.Time
}

// Policy is what a NAS client's configuration says about the flow.
type Policy struct {
	// MFAOptional accepts users with no enrolled method on the password alone.
	MFAOptional bool
	// DropWhenUnavailable answers nothing when the directory or the store
	// is down, so the NAS fails over to another server; otherwise the user
	// gets a reject saying the service is temporarily unavailable.
	DropWhenUnavailable bool
	// DefaultMethodOnly always uses the user's default method instead of
	// offering a menu when the user has several.
	DefaultMethodOnly bool
	// PasswordSuffix accepts the second factor in the password field, for
	// gateways that cannot show a challenge: "password,123456" (a code
	// from the app or from an SMS), "password,sms" (send a code, then sign
	// in again with "password,CODE").
	PasswordSuffix bool
}

// Outcome is what the transport sends back.
type Outcome int

const (
	Reject Outcome = iota
	Accept
	Challenge
	// Drop sends nothing at all.
	Drop
	// Hold: the answer waits for a push or a call to be approved. The
	// transport calls Wait, on a goroutine of its own, for the decision.
	Hold
)

func (o Outcome) String() string {
	switch o {
	case Accept:
		return "accept"
	case Hold:
		return "hold"
	case Challenge:
		return "challenge"
	case Drop:
		return "drop"
	default:
		return "reject"
	}
}

// Decision is the answer to one Request.
type Decision struct {
	Outcome Outcome
	// Messages are Reply-Message texts, already in the user's language.
	// The transport splits long texts into attributes of at most 253 bytes.
	Messages []string
	// State is the opaque handle of a challenge (printable ASCII).
	State []byte
	// Groups are the user's directory groups (Accept only), so the
	// transport can add per-group reply attributes.
	Groups []string
	// Reason is a stable, low-cardinality reason for metrics and audit
	// (e.g. "ok", "bad_password", "bad_code", "locked", "no_method").
	Reason string
	// Method is the second-factor method used or offered ("totp", "none").
	Method string
	// Wait (Hold only) blocks until the approval is decided or ctx ends
	// and returns the final decision, never Hold. The waiting costs a
	// goroutine with a small stack and a channel: the request's work
	// (directory, store, provider) is done before Hold is returned.
	Wait func(ctx context.Context) Decision
}
