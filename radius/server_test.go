package radius

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"kakunin/challenge"
	"kakunin/internal/secret"
)

func TestStatusServer(t *testing.T) {
	auth := &stubAuth{}
	cfg := testConfig()
	no := false
	cfg.Clients[0].RequireMessageAuthenticator = &no // Status-Server needs one regardless
	ts := startServer(t, cfg, auth, nil)

	for _, tc := range []struct {
		port net.Addr
		want radius.Code
	}{
		{ts.AuthAddrs()[0], radius.CodeAccessAccept},
		{ts.AcctAddrs()[0], radius.CodeAccountingResponse},
	} {
		n := dialNAS(t, tc.port, "127.0.0.1:0", testSecret)
		p, _ := n.exchange(encodeRequest(t, radius.New(radius.CodeStatusServer, []byte(testSecret)), true))
		if p.Code != tc.want {
			t.Errorf("%s: got %v, want %v", tc.port, p.Code, tc.want)
		}
		n.send(encodeRequest(t, radius.New(radius.CodeStatusServer, []byte(testSecret)), false))
		n.barrier()
	}
	if got := ts.dropped(dropMissingMA); got != 2 {
		t.Errorf("Status-Server without Message-Authenticator: dropped %v, want 2", got)
	}
	if c := auth.calls.Load(); c != 0 {
		t.Errorf("Status-Server reached the Authenticator")
	}
}

func TestUnknownClientDropped(t *testing.T) {
	auth := &stubAuth{}
	ts := startServer(t, testConfig(), auth, nil)
	// 127.0.0.2 is loopback too, but no configured client.
	stranger := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.2:0", testSecret)
	known := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	stranger.send(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true))
	stranger.send(encodeRequest(t, radius.New(radius.CodeStatusServer, []byte(testSecret)), true))
	known.barrier()

	if got := ts.dropped(dropUnknownClient); got != 2 {
		t.Errorf("dropped{unknown_client} = %v, want 2", got)
	}
	if c := auth.calls.Load(); c != 0 {
		t.Errorf("Authenticator called for an unknown client")
	}
	if got := value(ts.metrics.requests.WithLabelValues("nas1", "Access-Request")); got != 0 {
		t.Errorf("unknown client's packets counted as nas1 requests")
	}
	if !strings.Contains(ts.logs.String(), "src=127.0.0.2:") {
		t.Errorf("the dropped source is not logged")
	}
}

func TestMalformedPacketsDropped(t *testing.T) {
	auth := &stubAuth{}
	ts := startServer(t, testConfig(), auth, nil)
	auth1 := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)
	acct1 := dialNAS(t, ts.AcctAddrs()[0], "127.0.0.1:0", testSecret)

	valid := func() []byte { return encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true) }
	withLen := func(b []byte, n int) []byte { binary.BigEndian.PutUint16(b[2:4], uint16(n)); return b }
	twoMA := func() []byte {
		b := valid()
		b = append(b, 80, 18)
		b = append(b, make([]byte, 16)...)
		return withLen(b, len(b))
	}
	shortMA := func() []byte {
		p := accessRequest(t, testSecret, "alice", "pw")
		p.Add(rfc2869.MessageAuthenticator_Type, make([]byte, 10))
		b, _ := p.MarshalBinary()
		return b
	}
	badPassword := func() []byte {
		p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
		rfc2865.UserName_SetString(p, "alice")
		p.Add(rfc2865.UserPassword_Type, make([]byte, 17)) // not a multiple of 16
		return encodeRequest(t, p, true)
	}
	code := func(c radius.Code) []byte {
		p := radius.New(c, []byte(testSecret))
		return encodeRequest(t, p, true)
	}
	cases := []struct {
		name   string
		to     *nas
		packet []byte
		reason string
	}{
		{"shorter than a header", auth1, []byte{1, 2, 0, 10, 0, 0, 0, 0, 0, 0}, dropMalformed},
		{"length beyond datagram", auth1, withLen(valid(), 1000), dropMalformed},
		{"length below header", auth1, withLen(valid(), 19), dropMalformed},
		{"attribute overruns", auth1, append(withLen(valid(), len(valid())+3), 1, 9, 'x'), dropMalformed},
		{"attribute length 1", auth1, append(withLen(valid(), len(valid())+2), 1, 1), dropMalformed},
		{"two Message-Authenticators", auth1, twoMA(), dropMalformed},
		{"short Message-Authenticator", auth1, shortMA(), dropMalformed},
		{"User-Password of bad length", auth1, badPassword(), dropMalformed},
		{"Access-Accept sent to us", auth1, code(radius.CodeAccessAccept), dropUnsupportedCode},
		{"Accounting-Request on the auth port", auth1, code(radius.CodeAccountingRequest), dropUnsupportedCode},
		{"Access-Request on the accounting port", acct1, valid(), dropUnsupportedCode},
		{"CoA-Request", auth1, code(radius.CodeCoARequest), dropUnsupportedCode},
		{"code 255", auth1, code(radius.Code(255)), dropUnsupportedCode},
	}
	want := map[string]float64{}
	for _, tc := range cases {
		tc.to.send(tc.packet)
		tc.to.barrier()
		want[tc.reason]++
		if got := ts.dropped(tc.reason); got != want[tc.reason] {
			t.Errorf("%s: dropped{%s} = %v, want %v", tc.name, tc.reason, got, want[tc.reason])
		}
	}
	if c := auth.calls.Load(); c != 0 {
		t.Errorf("Authenticator called %d times for malformed packets", c)
	}

	// Octets past Length are padding, not an error (RFC 2865 section 3).
	req := valid()
	auth1.send(append(req, 0xde, 0xad))
	checkResponse(t, auth1.recv(), req, []byte(testSecret))
}

func TestRequestFields(t *testing.T) {
	cfg := testConfig()
	cfg.Clients[0].MFA = MFAOptional
	cfg.Clients[0].Unavailable = UnavailableDrop
	auth := &stubAuth{}
	ts := startServer(t, cfg, auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	password := "a passphrase longer than sixteen octets: パスワード"
	p := accessRequest(t, testSecret, "alice@example.org", password)
	rfc2865.State_Set(p, []byte("state-123"))
	rfc2865.CallingStationID_SetString(p, "203.0.113.7")
	rfc2865.NASIdentifier_SetString(p, "fw-tokyo-1")
	// What tells this sign-in's copies from another sign-in of the same
	// user at the same gateway and station (see challenge.identityKey).
	rfc2866.AcctSessionID_SetString(p, "sess-0001")
	n.exchange(encodeRequest(t, p, true))

	reqs := auth.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d calls", len(reqs))
	}
	want := challenge.Request{
		Client:           "nas1",
		Policy:           challenge.Policy{MFAOptional: true, DropWhenUnavailable: true},
		ClientAddr:       netip.MustParseAddr("127.0.0.1"),
		UserName:         "alice@example.org",
		Password:         password,
		State:            []byte("state-123"),
		CallingStationID: "203.0.113.7",
		NASIdentifier:    "fw-tokyo-1",
		RequestID:        hex.EncodeToString(p.Authenticator[:]),
		SessionID:        "sess-0001",
	}
	got := reqs[0]
	if got.Client != want.Client || got.Policy != want.Policy || got.ClientAddr != want.ClientAddr ||
		got.UserName != want.UserName || got.Password != want.Password || string(got.State) != string(want.State) ||
		got.CallingStationID != want.CallingStationID || got.NASIdentifier != want.NASIdentifier ||
		got.RequestID != want.RequestID || got.SessionID != want.SessionID {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestUnsupportedAuthenticationRejected(t *testing.T) {
	auth := &stubAuth{}
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	chap := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	rfc2865.UserName_SetString(chap, "alice")
	rfc2865.CHAPPassword_Set(chap, make([]byte, 17))
	noPassword := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	rfc2865.UserName_SetString(noPassword, "alice")
	noUser := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	rfc2865.UserPassword_SetString(noUser, "pw")

	for name, p := range map[string]*radius.Packet{"chap": chap, "no password": noPassword, "no user name": noUser} {
		resp, _ := n.exchange(encodeRequest(t, p, true))
		if resp.Code != radius.CodeAccessReject {
			t.Errorf("%s: got %v, want Access-Reject", name, resp.Code)
		}
	}
	if c := auth.calls.Load(); c != 0 {
		t.Errorf("Authenticator called %d times", c)
	}
}

func TestPanicInAuthenticatorIsDropped(t *testing.T) {
	auth := &stubAuth{fn: func(_ context.Context, req *challenge.Request) challenge.Decision {
		if req.UserName == "boom" {
			panic("flow bug")
		}
		return challenge.Decision{Outcome: challenge.Accept}
	}}
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	boom := encodeRequest(t, accessRequest(t, testSecret, "boom", "pw"), true)
	n.send(boom)
	n.barrier()
	// The server lives on and answers others.
	if p, _ := n.exchange(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true)); p.Code != radius.CodeAccessAccept {
		t.Errorf("after a panic: got %v", p.Code)
	}
	// A retransmit does not trigger the bug again.
	n.send(boom)
	n.barrier()

	shutdown(t, ts)
	if got := ts.dropped(dropPanic); got != 1 {
		t.Errorf("dropped{panic} = %v, want 1", got)
	}
	if c := auth.calls.Load(); c != 2 {
		t.Errorf("Authenticator called %d times, want 2", c)
	}
	if !strings.Contains(ts.logs.String(), "panic in Authenticator") {
		t.Errorf("panic not logged")
	}
}

func TestMaxInFlightDropsExcess(t *testing.T) {
	b := newBlocker()
	defer b.open()
	cfg := testConfig()
	cfg.MaxInFlight = 1
	auth := challengeEveryTime(b)
	ts := startServer(t, cfg, auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	first := encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true)
	second := encodeRequest(t, accessRequest(t, testSecret, "bob", "pw"), true)
	n.send(first)
	b.waitEntered(t)
	if got := value(ts.metrics.inFlight); got != 1 {
		t.Errorf("in_flight = %v, want 1", got)
	}
	n.send(second)
	n.barrier()
	if got := ts.dropped(dropOverloaded); got != 1 {
		t.Fatalf("dropped{overloaded} = %v, want 1", got)
	}

	b.open()
	checkResponse(t, n.recv(), first, []byte(testSecret))
	// The NAS retransmits the dropped request; now there is room.
	n.send(second)
	checkResponse(t, n.recv(), second, []byte(testSecret))
	if c := auth.calls.Load(); c != 2 {
		t.Errorf("Authenticator called %d times, want 2", c)
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	b := newBlocker()
	defer b.open()
	ts := startServer(t, testConfig(), challengeEveryTime(b), nil)
	addr := ts.AuthAddrs()[0]
	n := dialNAS(t, addr, "127.0.0.1:0", testSecret)

	req := encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true)
	n.send(req)
	b.waitEntered(t)

	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a decision in flight", err)
	default:
	}

	b.open()
	// The user still gets the answer: the socket stays open for it.
	checkResponse(t, n.recv(), req, []byte(testSecret))
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Then the socket is closed: its port can be bound again.
	pc, err := net.ListenPacket("udp", addr.String())
	if err != nil {
		t.Fatalf("port still bound after Shutdown: %v", err)
	}
	pc.Close()
}

func TestShutdownDeadlineCancelsDecisions(t *testing.T) {
	b := newBlocker()
	defer b.open()
	sawCancel := make(chan error, 1)
	auth := &stubAuth{fn: func(ctx context.Context, _ *challenge.Request) challenge.Decision {
		sawCancel <- b.wait(ctx)
		return challenge.Decision{Outcome: challenge.Drop}
	}}
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)
	n.send(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true))
	b.waitEntered(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	if err := <-sawCancel; !errors.Is(err, context.Canceled) {
		t.Errorf("the decision's context: %v, want cancelled", err)
	}
}

func TestStartFailsWhenAddressTaken(t *testing.T) {
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig()
	cfg.AccountingListen = []string{taken.LocalAddr().String()}
	s, err := New(cfg, &stubAuth{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Start()
	if err == nil || !strings.Contains(err.Error(), taken.LocalAddr().String()) {
		t.Fatalf("Start = %v, want an error naming %s", err, taken.LocalAddr())
	}
	if len(s.AuthAddrs()) != 0 {
		t.Errorf("a socket stayed bound after Start failed")
	}
}

func TestMetricsCountRequestsAndOutcomes(t *testing.T) {
	ts := startServer(t, testConfig(), &stubAuth{}, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)
	n.exchange(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true))
	shutdown(t, ts)

	if got := value(ts.metrics.requests.WithLabelValues("nas1", "Access-Request")); got != 1 {
		t.Errorf("requests = %v", got)
	}
	if got := value(ts.metrics.responses.WithLabelValues("nas1", "Access-Accept")); got != 1 {
		t.Errorf("responses = %v", got)
	}
	families, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		seen[f.GetName()] = true
		if f.GetName() == "kakunin_radius_decision_duration_seconds" {
			for _, m := range f.GetMetric() {
				if m.GetLabel()[0].GetValue() == "accept" && m.GetHistogram().GetSampleCount() != 1 {
					t.Errorf("accept decisions observed: %d", m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	for _, name := range []string{
		"kakunin_radius_requests_total", "kakunin_radius_responses_total", "kakunin_radius_dropped_total",
		"kakunin_radius_decision_duration_seconds", "kakunin_radius_in_flight", "kakunin_radius_retransmits_total",
	} {
		if !seen[name] {
			t.Errorf("%s not registered", name)
		}
	}
}

func TestLogsNeverContainSecrets(t *testing.T) {
	const password = "hunter2-correct-horse"
	cfg := testConfig()
	no := false
	cfg.Clients = append(cfg.Clients, ClientConfig{Name: "legacy", Addresses: []string{"127.0.0.3"}, Secret: secret.New("Xq7-tiny"), RequireMessageAuthenticator: &no})
	auth := &stubAuth{fn: func(_ context.Context, req *challenge.Request) challenge.Decision {
		if req.UserName == "boom" {
			panic("flow bug")
		}
		return challenge.Decision{Outcome: challenge.Reject, Reason: "bad_password"}
	}}
	ts := startServer(t, cfg, auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)
	n.exchange(encodeRequest(t, accessRequest(t, testSecret, "alice", password), true))
	n.send(encodeRequest(t, accessRequest(t, testSecret, "boom", password), true))
	n.send(encodeRequest(t, accessRequest(t, "wrong-secret-wrong-secret", "alice", password), true))
	n.send(encodeRequest(t, accessRequest(t, testSecret, "alice", password), false))
	acct := radius.New(radius.CodeAccountingRequest, []byte(testSecret))
	rfc2866.AcctStatusType_Set(acct, rfc2866.AcctStatusType_Value_Start)
	a := dialNAS(t, ts.AcctAddrs()[0], "127.0.0.1:0", testSecret)
	a.exchange(encodeRequest(t, acct, true))
	n.barrier()
	shutdown(t, ts)

	logs := ts.logs.String()
	for _, s := range []string{password, testSecret, "Xq7-tiny", "wrong-secret"} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains %q:\n%s", s, logs)
		}
	}
}

// TestTransportLogsOmitUserName: a user name that is really a password
// typed into the wrong field must not reach the log from the transport.
// The flow's audit line has the user name, filtered. (Accounting is only
// sent for sessions the server accepted, so its User-Name is logged.)
func TestTransportLogsOmitUserName(t *testing.T) {
	const typedPassword = "Tr0ub4dor&3-typed-as-user"
	auth := &stubAuth{fn: func(_ context.Context, req *challenge.Request) challenge.Decision {
		if req.UserName == typedPassword {
			panic("flow bug")
		}
		return challenge.Decision{Outcome: challenge.Accept}
	}}
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	// Rejected before the flow: CHAP, and no password.
	chap := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	rfc2865.UserName_SetString(chap, typedPassword)
	rfc2865.CHAPPassword_Set(chap, make([]byte, 17))
	noPassword := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	rfc2865.UserName_SetString(noPassword, typedPassword)
	for _, p := range []*radius.Packet{chap, noPassword} {
		if resp, _ := n.exchange(encodeRequest(t, p, true)); resp.Code != radius.CodeAccessReject {
			t.Errorf("got %v, want Access-Reject", resp.Code)
		}
	}
	// A panic in the flow.
	n.send(encodeRequest(t, accessRequest(t, testSecret, typedPassword, "pw"), true))
	n.barrier()
	shutdown(t, ts)
	logs := ts.logs.String()
	for _, want := range []string{"rejected before the flow", "panic in Authenticator"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log has no %q line:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, typedPassword) {
		t.Errorf("the user name reached the log:\n%s", logs)
	}
}
