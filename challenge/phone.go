package challenge

import "strings"

// MaskPhone hides all but the last four digits of a phone number, for
// prompts and logs. An E.164
// number keeps its country code, so the reader can tell which country it
// goes to: "+819012345678" becomes "+81 ••-••••-5678". Anything else has
// every digit but the last four replaced.
func MaskPhone(number string) string {
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

func lastDigits(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[len(s)-n:]
}
