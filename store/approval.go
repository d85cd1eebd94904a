package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ApprovalStatus is where a held sign-in stands.
type ApprovalStatus string

const (
	ApprovalPending  ApprovalStatus = "pending"
	ApprovalApproved ApprovalStatus = "approved"
	ApprovalDenied   ApprovalStatus = "denied"
	// ApprovalWrongNumber: the user picked another number than the VPN
	// client showed (number matching), which denies.
	ApprovalWrongNumber ApprovalStatus = "wrong_number"
	// ApprovalFraud: the user said the sign-in was not theirs.
	ApprovalFraud ApprovalStatus = "fraud"
	// ApprovalTimeout: nobody answered before the request gave up.
	ApprovalTimeout ApprovalStatus = "timeout"
	// ApprovalFailed: the provider failed, or the node holding the request
	// restarted: nothing can accept it any more.
	ApprovalFailed ApprovalStatus = "failed"
)

// Valid reports whether s is a known status.
func (s ApprovalStatus) Valid() bool {
	switch s {
	case ApprovalPending, ApprovalApproved, ApprovalDenied, ApprovalWrongNumber, ApprovalFraud, ApprovalTimeout, ApprovalFailed:
		return true
	}
	return false
}

// Approval is an out-of-band approval (a push notification or a voice
// call) that one or more held Access-Requests wait for. It is decided once,
// by the first callback, on whichever node receives it; every node holding
// a request for it learns the outcome from the store.
type Approval struct {
	ID       string // random (NewID); callbacks name it
	UserID   string
	MethodID string
	Kind     string // "push" or "call"
	// Key is what a retransmitted request finds the approval by (the flow
	// derives it from the request, or from the State the request carries),
	// on any node.
	Key string
	// RequestID identifies the Access-Request that started the approval,
	// so that a copy of the very same request may still learn an outcome
	// decided before it arrived.
	RequestID string
	Client    string // the NAS the request came from
	Number    int    // the number to pick (number matching); 0 for none
	// Choices are the numbers offered with Number (number matching), in
	// the order shown, Number among them: drawn at random when the
	// approval is created, so that nothing public (such as the ID)
	// predicts them, and stored, so that every node shows the same.
	Choices []int
	Groups  []string // the user's directory groups, for the Accept
	Status  ApprovalStatus
	// Node is the "name/boot" of the kakunin process that started it.
	Node      string
	CreatedAt time.Time
	ExpiresAt time.Time
	DecidedAt time.Time // zero while pending
}

// Approvals keeps the approvals of held requests.
type Approvals interface {
	// CreateApproval stores a pending approval unless the user already has
	// max or more approvals of the same kind created after since (the cap
	// against notification fatigue): then it stores nothing and reports
	// false. Check and insert are one atomic step on every node. max <= 0
	// checks nothing.
	CreateApproval(ctx context.Context, a Approval, max int, since time.Time) (bool, error)
	// GetApproval returns ErrNotFound for an unknown ID. Status reads as
	// stored: a pending approval past ExpiresAt is the caller's to treat
	// as timed out.
	GetApproval(ctx context.Context, id string) (Approval, error)
	// FindApproval returns the approval with this key that has not
	// expired at now, preferring one started by requestID (a copy of the
	// same request), else the newest; ErrNotFound when there is none.
	FindApproval(ctx context.Context, key, requestID string, now time.Time) (Approval, error)
	// DecideApproval moves a pending, unexpired approval to status (not
	// pending) at now and reports true; otherwise it changes nothing and
	// reports false with the approval as it stands, so a duplicate or late
	// callback is harmless. ErrNotFound for an unknown ID.
	DecideApproval(ctx context.Context, id string, status ApprovalStatus, now time.Time) (Approval, bool, error)
	// DecidedApprovals lists the approvals decided at or after since, for
	// nodes that hold requests waiting on them.
	DecidedApprovals(ctx context.Context, since time.Time) ([]Approval, error)
	// FailApprovals marks as failed, at now, the pending approvals started
	// by an earlier run of this node: nodeName's, except boot's. It
	// returns how many. Held requests do not survive a restart as accepts.
	FailApprovals(ctx context.Context, nodeName, boot string, now time.Time) (int, error)
	// SetOutOfBandLock locks (or unlocks) the user's push and phone
	// methods: after a reported fraud only codes from an app work until
	// the help desk unlocks them.
	SetOutOfBandLock(ctx context.Context, userID string, locked bool, now time.Time) error
}

const (
	maxApprovalKindLen = 16
	maxApprovalChoices = 9
)

func checkApproval(a *Approval) error {
	if err := checkMethodID(a.ID); err != nil {
		return fmt.Errorf("store: approval id: %w", err)
	}
	if err := checkUserID(a.UserID); err != nil {
		return err
	}
	if err := checkMethodID(a.MethodID); err != nil {
		return err
	}
	if a.Kind == "" || len(a.Kind) > maxApprovalKindLen {
		return fmt.Errorf("store: approval kind %q: %w", truncate(a.Kind), errInvalid)
	}
	for what, s := range map[string]string{"key": a.Key, "request id": a.RequestID, "client": a.Client, "node": a.Node} {
		if err := checkText(what, s); err != nil {
			return err
		}
	}
	if a.Key == "" {
		return fmt.Errorf("store: approval key: %w (empty)", errInvalid)
	}
	if a.Status == "" {
		a.Status = ApprovalPending
	}
	if !a.Status.Valid() {
		return fmt.Errorf("store: approval status %q: %w", truncate(string(a.Status)), errInvalid)
	}
	if a.ExpiresAt.IsZero() {
		return fmt.Errorf("store: approval expiry: %w (zero)", errInvalid)
	}
	if a.Number < 0 || a.Number > 99 {
		return fmt.Errorf("store: approval number %d: %w (want 0 to 99)", a.Number, errInvalid)
	}
	if len(a.Choices) > maxApprovalChoices {
		return fmt.Errorf("store: approval choices: %w (%d, at most %d)", errInvalid, len(a.Choices), maxApprovalChoices)
	}
	for i, n := range a.Choices {
		if n < 0 || n > 99 || slices.Contains(a.Choices[:i], n) {
			return fmt.Errorf("store: approval choice %d: %w (want distinct numbers 0 to 99)", n, errInvalid)
		}
	}
	if len(a.Choices) > 0 && (a.Number == 0 || !slices.Contains(a.Choices, a.Number)) {
		return fmt.Errorf("store: approval choices: %w (the number is not among them)", errInvalid)
	}
	return nil
}

// likePrefix is a LIKE pattern matching strings that start with p.
func likePrefix(p string) string {
	var b []byte
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\', '%', '_':
			b = append(b, '\\')
		}
		b = append(b, p[i])
	}
	return string(b) + "%"
}

// checkLanguage accepts "" and short language tags ("ja", "en", "pt-BR").
func checkLanguage(lang string) error {
	if len(lang) > 16 {
		return fmt.Errorf("store: language %q: %w", truncate(lang), errInvalid)
	}
	for _, r := range lang {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return fmt.Errorf("store: language %q: %w", truncate(lang), errInvalid)
		}
	}
	return nil
}

// nonNilInts is ns, or an empty slice for nil (stored as [] and '{}').
func nonNilInts(ns []int) []int {
	if ns == nil {
		return []int{}
	}
	return ns
}
