package testenv

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// RadReply is what radclient (FreeRADIUS) printed for the response it
// received: an outside client that checks kakunin's authenticators with an
// implementation kakunin did not write, the way a NAS would.
type RadReply struct {
	Code  string              // "Access-Accept", or "" when nothing came back
	Attrs map[string][]string // attribute name → values, quotes removed
	Out   string              // everything radclient printed
}

// Radclient runs one radclient request: command is auth, acct or status;
// input is radclient's attribute list ("Message-Authenticator = 0x00" in
// it makes radclient compute one). A missing radclient fails the test.
func Radclient(t testing.TB, addr, command, secret, input string) RadReply {
	t.Helper()
	// -r 1: no retries; -t 5: how long radclient itself waits.
	return RadclientRetrying(t, addr, command, secret, input, 1, 5)
}

// RadclientRetrying is Radclient sending the request up to tries times,
// waiting wait seconds for each answer: a NAS that retransmits.
func RadclientRetrying(t testing.TB, addr, command, secret, input string, tries, wait int) RadReply {
	t.Helper()
	bin := LookPath(t, "radclient", "freeradius-utils")
	cmd := exec.Command(bin, "-x", "-r", strconv.Itoa(tries), "-t", strconv.Itoa(wait), addr, command, secret)
	cmd.Stdin = strings.NewReader(input)
	out, _ := cmd.CombinedOutput() // exits 1 for anything but an accept; the output says what came
	r := RadReply{Attrs: map[string][]string{}, Out: string(out)}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	in := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Received "):
			r.Code = strings.Fields(line)[1]
			in = true
		case in && strings.HasPrefix(line, "\t"):
			name, val, ok := strings.Cut(strings.TrimSpace(line), " = ")
			if !ok {
				continue
			}
			if s, err := strconv.Unquote(val); err == nil {
				val = s
			}
			r.Attrs[name] = append(r.Attrs[name], val)
		default:
			in = false
		}
	}
	return r
}
