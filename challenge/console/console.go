package console

import (
	"context"
	"io"
	"strings"
	"sync"

	"kakunin/challenge"
)

// Sender writes messages to w instead of sending them. Demo only: see the
// package documentation.
type Sender struct {
	mu sync.Mutex // one line per message, even from concurrent requests
	w  io.Writer
}

// New returns a Sender that writes to w.
func New(w io.Writer) *Sender { return &Sender{w: w} }

// SendSMS writes one line:
//
//	[demo SMS to +81 ••-••••-5678] kakunin code 483920
//
// The number is masked but for its country code and last four digits, as
// a log line must be; the body is shown whole, because showing the code
// is the point of the demo. It never fails: a demo whose terminal has gone
// away has nobody to tell.
func (s *Sender) SendSMS(ctx context.Context, to, body string) error {
	line := "[demo SMS to " + challenge.MaskPhone(to) + "] " + oneLine(body) + "\n"
	s.mu.Lock()
	defer s.mu.Unlock()
	io.WriteString(s.w, line)
	return nil
}

// oneLine folds line breaks and other control characters to spaces, so a
// message is always exactly one line of the demo's output.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Push writes the notification and the link that approves it:
//
//	[demo push to 2024000001] VPN sign-in for 2024000001 … Open http://127.0.0.1:8081/v1/approve/… to answer.
func (s *Sender) Push(ctx context.Context, r challenge.PushRequest) error {
	s.println("[demo push to " + r.UserID + "] " + oneLine(r.Body) + " Open " + r.ApproveURL + " to answer.")
	return nil
}

// Call writes where the demo's keypad for the call is:
//
//	[demo call to +81 ••-••••-5678] Open http://127.0.0.1:8081/v1/approve/… and press # to approve.
func (s *Sender) Call(ctx context.Context, r challenge.CallRequest) error {
	to := challenge.MaskPhone(r.To)
	if r.Extension != "" {
		to += " ext. " + r.Extension
	}
	s.println("[demo call to " + to + "] Open " + r.ApproveURL + " and press # to approve (0 reports fraud).")
	return nil
}

func (s *Sender) println(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	io.WriteString(s.w, line+"\n")
}
