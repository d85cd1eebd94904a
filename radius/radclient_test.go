package radius

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"kakunin/challenge"
	"kakunin/internal/testenv"
)

// radclient (FreeRADIUS) is the outside client: it checks our Response
// Authenticator and Message-Authenticator with an implementation we did
// not write, the way a NAS would.

// radclient runs one request with the test secret.
func radclient(t *testing.T, addr, command, input string) testenv.RadReply {
	t.Helper()
	return testenv.Radclient(t, addr, command, testSecret, input)
}

// longPrompt is over 253 bytes, so it travels as two Reply-Messages.
var longPrompt = strings.Repeat("認証アプリに表示されている6桁のコードを入力してください。", 3)

// twoRounds is a stub flow: password first, then a code in a second round
// bound to the State it issued.
type twoRounds struct {
	mu      sync.Mutex
	pending map[string]string // State → user
}

func (f *twoRounds) Authenticate(_ context.Context, req *challenge.Request) challenge.Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(req.State) == 0 {
		if req.Password != "correct horse" {
			return challenge.Decision{Outcome: challenge.Reject, Messages: []string{"Wrong password"}, Reason: "bad_password"}
		}
		b := make([]byte, 16)
		rand.Read(b)
		state := hex.EncodeToString(b)
		f.pending[state] = req.UserName
		return challenge.Decision{
			Outcome:  challenge.Challenge,
			Messages: []string{longPrompt},
			State:    []byte(state),
			Reason:   "challenge",
			Method:   "totp",
		}
	}
	user, ok := f.pending[string(req.State)]
	delete(f.pending, string(req.State))
	if !ok || user != req.UserName || req.Password != "123456" {
		return challenge.Decision{Outcome: challenge.Reject, Messages: []string{"Wrong code"}, Reason: "bad_code"}
	}
	return challenge.Decision{Outcome: challenge.Accept, Messages: []string{"Welcome"}, Groups: []string{"cn=vpn-staff,ou=groups,dc=example,dc=org"}, Reason: "ok", Method: "totp"}
}

func TestRadclientChallengeRoundTrip(t *testing.T) {
	cfg := testConfig()
	cfg.GroupAttributes = []GroupAttributes{{Group: "vpn-staff", Attributes: []Attribute{{Name: "Filter-Id", Value: "staff"}}}}
	ts := startServer(t, cfg, &twoRounds{pending: map[string]string{}}, nil)
	addr := ts.AuthAddrs()[0].String()

	r := radclient(t, addr, "auth", `User-Name = "alice", User-Password = "wrong", Message-Authenticator = 0x00`)
	if r.Code != "Access-Reject" || strings.Join(r.Attrs["Reply-Message"], "") != "Wrong password" {
		t.Fatalf("wrong password: got %q %q\n%s", r.Code, r.Attrs["Reply-Message"], r.Out)
	}

	r = radclient(t, addr, "auth", `User-Name = "alice", User-Password = "correct horse", Message-Authenticator = 0x00`)
	if r.Code != "Access-Challenge" {
		t.Fatalf("right password: got %q, want Access-Challenge\n%s", r.Code, r.Out)
	}
	if msgs := r.Attrs["Reply-Message"]; len(msgs) != 2 || strings.Join(msgs, "") != longPrompt {
		t.Errorf("challenge Reply-Messages = %q, want %q in two pieces", msgs, longPrompt)
	}
	states := r.Attrs["State"]
	if len(states) != 1 || !strings.HasPrefix(states[0], "0x") {
		t.Fatalf("challenge State = %q\n%s", states, r.Out)
	}

	r = radclient(t, addr, "auth", `User-Name = "alice", User-Password = "123456", State = `+states[0]+`, Message-Authenticator = 0x00`)
	if r.Code != "Access-Accept" {
		t.Fatalf("code: got %q, want Access-Accept\n%s", r.Code, r.Out)
	}
	if got := r.Attrs["Reply-Message"]; len(got) != 1 || got[0] != "Welcome" {
		t.Errorf("accept Reply-Message = %q", got)
	}
	if got := r.Attrs["Filter-Id"]; len(got) != 1 || got[0] != "staff" {
		t.Errorf("accept Filter-Id (group attribute) = %q", got)
	}

	// The State was single use in the stub: replaying it is refused.
	r = radclient(t, addr, "auth", `User-Name = "alice", User-Password = "123456", State = `+states[0]+`, Message-Authenticator = 0x00`)
	if r.Code != "Access-Reject" {
		t.Errorf("replayed State: got %q, want Access-Reject\n%s", r.Code, r.Out)
	}
}

func TestRadclientStatusServerAndAccounting(t *testing.T) {
	ts := startServer(t, testConfig(), &stubAuth{}, nil)

	r := radclient(t, ts.AuthAddrs()[0].String(), "status", `Message-Authenticator = 0x00`)
	if r.Code != "Access-Accept" {
		t.Errorf("Status-Server on the auth port: got %q\n%s", r.Code, r.Out)
	}
	r = radclient(t, ts.AcctAddrs()[0].String(), "status", `Message-Authenticator = 0x00`)
	if r.Code != "Accounting-Response" {
		t.Errorf("Status-Server on the accounting port: got %q\n%s", r.Code, r.Out)
	}
	// With and without a Message-Authenticator (most NAS send none in
	// accounting); radclient checks the Response Authenticator both ways.
	for _, in := range []string{
		`User-Name = "alice", Acct-Status-Type = Start, Acct-Session-Id = "s-1", Message-Authenticator = 0x00`,
		`User-Name = "alice", Acct-Status-Type = Stop, Acct-Session-Id = "s-1"`,
	} {
		r = radclient(t, ts.AcctAddrs()[0].String(), "acct", in)
		if r.Code != "Accounting-Response" {
			t.Errorf("%s: got %q\n%s", in, r.Code, r.Out)
		}
	}
	if !strings.Contains(ts.logs.String(), "session_id=s-1") {
		t.Errorf("accounting not logged:\n%s", ts.logs.String())
	}
}
