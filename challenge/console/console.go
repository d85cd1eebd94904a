package console

import (
	"context"
	"io"
	"strings"
	"sync"
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
	line := "[demo SMS to " + Mask(to) + "] " + oneLine(body) + "\n"
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

// Mask hides all but the last four digits of a phone number. An E.164
// number keeps its country code, so the reader can tell which country it
// goes to: "+819012345678" becomes "+81 ••-••••-5678". Anything else has
// every digit but the last four replaced.
func Mask(number string) string {
	if cc, national, ok := splitE164(number); ok && len(national) >= 4 {
		return "+" + cc + " " + groups(len(national)-4) + national[len(national)-4:]
	}
	digits := 0
	for _, r := range number {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	var b strings.Builder
	for _, r := range number {
		if r >= '0' && r <= '9' {
			if digits > 4 {
				r = '•'
			}
			digits--
		}
		b.WriteRune(r)
	}
	return b.String()
}

// groups is n masked digits in groups of four from the right, each followed
// by a hyphen: 6 → "••-••••-".
func groups(n int) string {
	if n <= 0 {
		return ""
	}
	var parts []string
	for n > 0 {
		k := min(n, 4)
		parts = append([]string{strings.Repeat("•", k)}, parts...)
		n -= k
	}
	return strings.Join(parts, "-") + "-"
}

// splitE164 separates the country code of an E.164 number. Country codes
// are prefix-free: 1 and 7 are the one-digit codes, the list below the
// two-digit ones, and every other code has three digits (ITU-T E.164
// assignments).
func splitE164(s string) (cc, national string, ok bool) {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return "", "", false
	}
	d := s[1:]
	for _, r := range d {
		if r < '0' || r > '9' {
			return "", "", false
		}
	}
	n := 3
	switch {
	case d[0] == '1' || d[0] == '7':
		n = 1
	case twoDigit[d[:2]]:
		n = 2
	}
	if len(d) <= n {
		return "", "", false
	}
	return d[:n], d[n:], true
}

var twoDigit = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49
		51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98`) {
		m[c] = true
	}
	return m
}()
