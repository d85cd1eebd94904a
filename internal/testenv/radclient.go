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
	bin := LookPath(t, "radclient", "freeradius-utils")
	// -r 1: no retries; -t 5: how long radclient itself waits.
	cmd := exec.Command(bin, "-x", "-r", "1", "-t", "5", addr, command, secret)
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
