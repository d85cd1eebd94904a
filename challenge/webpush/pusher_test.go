package webpush

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"kakunin/challenge"
)

func TestPushSendsTheApprovalToTheRegisteredBrowser(t *testing.T) {
	f := newFixture(t, false, nil)
	sub, err := json.Marshal(f.sub)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := json.Marshal(challenge.PushRegistration{Channel: "webpush", Subscription: sub})
	r := challenge.PushRequest{ApprovalID: "APPROVAL1", UserID: "2024000001", Registration: reg, Title: "VPN",
		Body: "VPN sign-in for 2024000001", Numbers: []int{17, 42, 88}, ApproveURL: "https://mfa.example/v1/approve/x",
		Expires: time.Now().Add(time.Minute)}
	if err := f.sender.Push(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got := f.ps.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	var n Notification
	if err := json.Unmarshal(got[0].plaintext, &n); err != nil {
		t.Fatal(err)
	}
	if n.URL != r.ApproveURL || len(n.Numbers) != 3 || n.Tag != "APPROVAL1" || n.Body != r.Body {
		t.Errorf("notification %+v", n)
	}
	if u := got[0].header.Get("Urgency"); u != "high" {
		t.Errorf("Urgency %q, want high", u)
	}
	if ttl := got[0].header.Get("TTL"); ttl != "59" && ttl != "60" {
		t.Errorf("TTL %q, want the approval's remaining minute", ttl)
	}
	// A registration without a subscription is refused before sending.
	bad, _ := json.Marshal(challenge.PushRegistration{Channel: "webpush"})
	r.Registration = bad
	if err := f.sender.Push(context.Background(), r); err == nil {
		t.Error("pushed without a subscription")
	}
}
