package radius

import (
	"bytes"
	"context"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"kakunin/challenge"
)

func TestMissingMessageAuthenticatorIsDropped(t *testing.T) {
	auth := &stubAuth{}
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	n.send(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), false))
	n.barrier()

	if got := ts.dropped(dropMissingMA); got != 1 {
		t.Errorf("dropped{missing_message_authenticator} = %v, want 1", got)
	}
	if c := auth.calls.Load(); c != 0 {
		t.Errorf("Authenticator called %d times for an unauthenticated request", c)
	}
}

func TestMissingMessageAuthenticatorAllowedWhenNotRequired(t *testing.T) {
	cfg := testConfig()
	no := false
	cfg.Clients[0].RequireMessageAuthenticator = &no
	ts := startServer(t, cfg, &stubAuth{}, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	p, _ := n.exchange(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), false))
	if p.Code != radius.CodeAccessAccept {
		t.Errorf("got %v, want Access-Accept", p.Code)
	}
	if !bytes.Contains([]byte(ts.logs.String()), []byte("BlastRADIUS")) {
		t.Errorf("no start-up warning about the client that does not require Message-Authenticator")
	}
}

func TestBadMessageAuthenticatorIsDropped(t *testing.T) {
	auth := &stubAuth{}
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	// A NAS configured with another secret.
	n.send(encodeRequest(t, accessRequest(t, "not-the-secret", "alice", "pw"), true))
	// A correct packet altered on the way (the attack BlastRADIUS makes
	// practical): the HMAC no longer matches.
	b := encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true)
	b[len(b)-20] ^= 1
	n.send(b)
	n.barrier()

	if got := ts.dropped(dropBadMA); got != 2 {
		t.Errorf("dropped{bad_message_authenticator} = %v, want 2", got)
	}
	if c := auth.calls.Load(); c != 0 {
		t.Errorf("Authenticator called %d times", c)
	}
}

func TestResponseMessageAuthenticatorFirst(t *testing.T) {
	cases := []struct {
		name string
		d    challenge.Decision
		want radius.Code
	}{
		{"accept", challenge.Decision{Outcome: challenge.Accept, Messages: []string{"welcome"}}, radius.CodeAccessAccept},
		{"reject", challenge.Decision{Outcome: challenge.Reject, Messages: []string{"no"}}, radius.CodeAccessReject},
		{"challenge", challenge.Decision{Outcome: challenge.Challenge, Messages: []string{"code?"}, State: []byte("st")}, radius.CodeAccessChallenge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Clients[0].ReplyAttributes = []Attribute{{Name: "Session-Timeout", Value: "3600"}}
			auth := &stubAuth{fn: func(context.Context, *challenge.Request) challenge.Decision { return tc.d }}
			ts := startServer(t, cfg, auth, nil)
			n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)
			// checkResponse verifies the Message-Authenticator is first and
			// correct and the Response Authenticator covers it.
			p, _ := n.exchange(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true))
			if p.Code != tc.want {
				t.Errorf("code %v, want %v", p.Code, tc.want)
			}
		})
	}
}

func TestProxyStateEchoedInOrder(t *testing.T) {
	auth := &stubAuth{fn: func(context.Context, *challenge.Request) challenge.Decision {
		return challenge.Decision{Outcome: challenge.Reject, Messages: []string{"no"}}
	}}
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	states := [][]byte{[]byte("proxy-one"), {0, 1, 2, 0xff}, []byte("proxy-three")}
	p := accessRequest(t, testSecret, "alice", "pw")
	for _, s := range states {
		p.Add(rfc2865.ProxyState_Type, s)
	}
	resp, _ := n.exchange(encodeRequest(t, p, true))

	var got [][]byte
	for _, a := range resp.Attributes {
		if a.Type == rfc2865.ProxyState_Type {
			got = append(got, a.Attribute)
		}
	}
	if len(got) != len(states) {
		t.Fatalf("got %d Proxy-State attributes, want %d", len(got), len(states))
	}
	for i := range states {
		if !bytes.Equal(got[i], states[i]) {
			t.Errorf("Proxy-State %d = %q, want %q", i, got[i], states[i])
		}
	}

	// Status-Server answers echo them too.
	st := radius.New(radius.CodeStatusServer, []byte(testSecret))
	st.Add(rfc2865.ProxyState_Type, []byte("probe"))
	sresp, _ := n.exchange(encodeRequest(t, st, true))
	if ps := sresp.Get(rfc2865.ProxyState_Type); string(ps) != "probe" {
		t.Errorf("Status-Server answer Proxy-State = %q", ps)
	}
}

func TestSignResponseMatchesLayeh(t *testing.T) {
	// Without a Message-Authenticator, signResponse must equal the plain
	// RFC 2865 Response Authenticator that layeh computes.
	reqAuth := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	p := &radius.Packet{Code: radius.CodeAccessReject, Identifier: 7, Authenticator: reqAuth, Secret: []byte(testSecret)}
	rfc2865.ReplyMessage_SetString(p, "no")
	want, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	signResponse(got, reqAuth, reqAuth, []byte(testSecret), false)
	if !bytes.Equal(got, want) {
		t.Errorf("signResponse = % x\nlayeh Encode = % x", got, want)
	}
}
