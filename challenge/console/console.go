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
