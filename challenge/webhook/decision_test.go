package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"kakunin/challenge"
)

func TestApprovalSignatureNamesApprovalAndPurpose(t *testing.T) {
	now := time.Unix(1767225600, 0)
	ts, body := "1767225600", `{"decision":"fraud"}`
	sig := SignApproval(testSecret, ts, "APPROVAL1", "push", []byte(body))
	if !VerifyApproval(testSecret, ts, "APPROVAL1", "push", body, sig, now, time.Minute) {
		t.Fatal("genuine decision refused")
	}
	for name, ok := range map[string]bool{
		"another approval":          VerifyApproval(testSecret, ts, "APPROVAL2", "push", body, sig, now, time.Minute),
		"another purpose":           VerifyApproval(testSecret, ts, "APPROVAL1", "call", body, sig, now, time.Minute),
		"another gateway's secret":  VerifyApproval("telephony-gateway-secret", ts, "APPROVAL1", "push", body, sig, now, time.Minute),
		"signed without the ID":     VerifyApproval(testSecret, ts, "APPROVAL1", "push", body, Sign(testSecret, ts, []byte(body)), now, time.Minute),
		"ID shifted into purpose":   VerifyApproval(testSecret, ts, "APPROVAL1.push", "", body, sig, now, time.Minute),
		"unknown purpose":           VerifyApproval(testSecret, ts, "APPROVAL1", "sms", body, SignApproval(testSecret, ts, "APPROVAL1", "sms", []byte(body)), now, time.Minute),
		"outside the time window":   VerifyApproval(testSecret, ts, "APPROVAL1", "push", body, sig, now.Add(2*time.Minute), time.Minute),
		"an SMS signature verified": Verify(testSecret, ts, body, sig, now, time.Minute),
	} {
		if ok {
			t.Errorf("%s: verified", name)
		}
	}
}

func decisionRequest(secret, ts, id, purpose, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/push/x", strings.NewReader(body))
	r.Header.Set("X-Kakunin-Timestamp", ts)
	r.Header.Set("X-Kakunin-Signature", SignApproval(secret, ts, id, purpose, []byte(body)))
	return r
}

func TestReadDecisionRefusesAnExactReplay(t *testing.T) {
	now := time.Unix(1767225600, 0)
	replays := NewReplays(10)
	req := func() *http.Request {
		return decisionRequest(testSecret, "1767225600", "A1", "push", `{"decision":"deny"}`)
	}
	if d, err := ReadDecision(req(), testSecret, "A1", "push", now, time.Minute, replays); err != nil || d.Decision != "deny" {
		t.Fatalf("first = %+v, %v", d, err)
	}
	if _, err := ReadDecision(req(), testSecret, "A1", "push", now.Add(30*time.Second), time.Minute, replays); !errors.Is(err, ErrReplayed) {
		t.Errorf("exact copy: err = %v, want ErrReplayed", err)
	}
	// A retry signed afresh is another signature: the receiver decides
	// what a duplicate means (an approval is decided once).
	again := decisionRequest(testSecret, "1767225601", "A1", "push", `{"decision":"deny"}`)
	if _, err := ReadDecision(again, testSecret, "A1", "push", now, time.Minute, replays); err != nil {
		t.Errorf("fresh retry: %v", err)
	}
	if _, err := ReadDecision(req(), testSecret, "A2", "push", now, time.Minute, replays); !errors.Is(err, ErrSignature) {
		t.Errorf("for another approval: err = %v, want ErrSignature", err)
	}
}

func TestReplaysForgetOnlyAfterTheWindow(t *testing.T) {
	now := time.Unix(1767225600, 0)
	r := NewReplays(2)
	if !r.First("a", now.Add(time.Minute), now) || r.First("a", now.Add(time.Minute), now.Add(59*time.Second)) {
		t.Fatal("a signature was taken twice within its window")
	}
	if !r.First("b", now.Add(time.Minute), now) {
		t.Fatal("second signature refused")
	}
	// Full, and both still in their window: refused, not forgotten.
	if r.First("c", now.Add(time.Minute), now) {
		t.Error("full cache forgot a signature still in its window")
	}
	// Once the window is over, room is made.
	if !r.First("c", now.Add(2*time.Minute), now.Add(time.Minute)) {
		t.Error("expired signatures were not dropped")
	}
}

func TestPushAndCallSignedWithTheirApproval(t *testing.T) {
	var raw []byte
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ = io.ReadAll(r.Body)
		hdr = r.Header.Clone()
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	now := time.Unix(1767225600, 0)
	c.now = func() time.Time { return now }
	reg, _ := json.Marshal(challenge.PushRegistration{Channel: "webhook", Device: "dev-1"})
	if err := c.Push(context.Background(), challenge.PushRequest{ApprovalID: "P1", UserID: "u", Registration: reg,
		CallbackURL: "https://mfa.example/v1/push/t", Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if !VerifyApproval(testSecret, hdr.Get("X-Kakunin-Timestamp"), "P1", "push", string(raw), hdr.Get("X-Kakunin-Signature"), now, time.Minute) {
		t.Errorf("push message not signed over its approval: %s", hdr.Get("X-Kakunin-Signature"))
	}
	if err := (Caller{c}).Call(context.Background(), challenge.CallRequest{ApprovalID: "C1", To: testTo,
		DecisionURL: "https://mfa.example/v1/push/t", Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if !VerifyApproval(testSecret, hdr.Get("X-Kakunin-Timestamp"), "C1", "call", string(raw), hdr.Get("X-Kakunin-Signature"), now, time.Minute) {
		t.Errorf("call message not signed over its approval: %s", hdr.Get("X-Kakunin-Signature"))
	}
}
