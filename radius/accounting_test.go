package radius

import (
	"bytes"
	"strings"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
)

func accountingRequest(t *testing.T, secret string, status rfc2866.AcctStatusType, session string) *radius.Packet {
	t.Helper()
	p := radius.New(radius.CodeAccountingRequest, []byte(secret))
	rfc2866.AcctStatusType_Set(p, status)
	rfc2865.UserName_SetString(p, "alice")
	rfc2866.AcctSessionID_SetString(p, session)
	return p
}

func TestAccounting(t *testing.T) {
	auth := &stubAuth{}
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AcctAddrs()[0], "127.0.0.1:0", testSecret)
	secret := []byte(testSecret)

	// Most NAS send accounting without a Message-Authenticator; the
	// response then carries none either.
	start := encodeRequest(t, accountingRequest(t, testSecret, rfc2866.AcctStatusType_Value_Start, "sess-1"), false)
	n.send(start)
	resp := n.recv()
	if radius.Code(resp[0]) != radius.CodeAccountingResponse || !radius.IsAuthenticResponse(resp, start, secret) {
		t.Fatalf("Start: bad response % x", resp)
	}
	if len(resp) != 20 {
		t.Errorf("Start: response has attributes: % x", resp[20:])
	}

	// A retransmit gets the same bytes and is not logged twice.
	n.send(start)
	if again := n.recv(); !bytes.Equal(again, resp) {
		t.Errorf("retransmit: different bytes")
	}

	// With a Message-Authenticator, the response has one, first.
	stop := encodeRequest(t, accountingRequest(t, testSecret, rfc2866.AcctStatusType_Value_Stop, "sess-1"), true)
	n.send(stop)
	checkResponse(t, n.recv(), stop, secret)

	interim := encodeRequest(t, accountingRequest(t, testSecret, rfc2866.AcctStatusType_Value_InterimUpdate, "sess-2"), false)
	n.send(interim)
	n.recv()

	// A wrong secret makes the Request Authenticator wrong.
	n.send(encodeRequest(t, accountingRequest(t, "wrong-secret-wrong-secret", rfc2866.AcctStatusType_Value_Start, "sess-3"), false))
	// So does any change on the way.
	tampered := bytes.Clone(start)
	tampered[len(tampered)-1] ^= 1
	n.send(tampered)
	n.barrier()

	if got := ts.dropped(dropBadRequestAuth); got != 2 {
		t.Errorf("dropped{bad_request_authenticator} = %v, want 2", got)
	}
	for status, want := range map[string]float64{"Start": 1, "Stop": 1, "Interim-Update": 1} {
		if got := value(ts.metrics.accounting.WithLabelValues("nas1", status)); got != want {
			t.Errorf("accounting{%s} = %v, want %v", status, got, want)
		}
	}
	logs := ts.logs.String()
	if c := strings.Count(logs, "session_id=sess-1"); c != 2 {
		t.Errorf("sess-1 logged %d times, want 2 (start and stop, not the retransmit):\n%s", c, logs)
	}
	if !strings.Contains(logs, "msg=accounting client=nas1 status=Start user=alice session_id=sess-1") {
		t.Errorf("accounting log line missing or changed:\n%s", logs)
	}
	if c := auth.calls.Load(); c != 0 {
		t.Errorf("accounting reached the Authenticator")
	}
}

func TestAccountingListenerOff(t *testing.T) {
	cfg := testConfig()
	cfg.AccountingListen = []string{}
	ts := startServer(t, cfg, &stubAuth{}, nil)
	if len(ts.AcctAddrs()) != 0 || len(ts.AuthAddrs()) != 1 {
		t.Errorf("auth %v, accounting %v", ts.AuthAddrs(), ts.AcctAddrs())
	}
}
