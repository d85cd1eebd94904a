package challenge_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"kakunin/challenge/webhook"
	"kakunin/store"
)

// postSigned posts body to url with exactly these signature headers (a
// captured request, replayed).
func postSigned(t *testing.T, client *http.Client, url, ts, sig string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("X-Kakunin-Timestamp", ts)
	req.Header.Set("X-Kakunin-Signature", sig)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// pushOf is the push message sent to user.
func (f *holdFixture) pushOf(user string, n int) webhook.PushMessage {
	f.t.Helper()
	for _, p := range f.waitPushes(n) {
		if p.User == user {
			return p
		}
	}
	f.t.Fatalf("no push to %s", user)
	return webhook.PushMessage{}
}

func (f *holdFixture) wantPendingAndUnlocked(user, approvalID string) {
	f.t.Helper()
	ctx := context.Background()
	if a, err := f.st.GetApproval(ctx, approvalID); err != nil || a.Status != store.ApprovalPending {
		f.t.Errorf("%s's approval: %v, %v; want still pending", user, a.Status, err)
	}
	if u, err := f.st.GetUser(ctx, user); err == nil && !u.OutOfBandLocked.IsZero() {
		f.t.Errorf("%s's push and phone methods are locked", user)
	}
}

func TestGatewayFraudReportReplayedToAnotherUserIsRefused(t *testing.T) {
	f := newHoldFixture(t)
	f.pushChallenge(pushUser)
	f.pushChallenge(pushOnly)
	mine, theirs := f.pushOf(pushUser, 2), f.pushOf(pushOnly, 2)
	// pushUser's gateway reports fraud; the request is captured and
	// replayed, headers and all, to pushOnly's decision URL.
	body := []byte(`{"decision":"fraud"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := webhook.SignApproval(f.gw.secret, ts, mine.ID, "push", body)
	if code, b := postSigned(t, f.client, theirs.CallbackURL, ts, sig, body); code != http.StatusUnauthorized {
		t.Errorf("replayed to another user's approval: %d %s, want 401", code, b)
	}
	if code, b := postSigned(t, f.client, mine.CallbackURL, ts, sig, body); code != http.StatusOK {
		t.Fatalf("the genuine report: %d %s", code, b)
	}
	if code, b := postSigned(t, f.client, theirs.CallbackURL, ts, sig, body); code == http.StatusOK {
		t.Errorf("replayed after the genuine one: %d %s", code, b)
	}
	f.wantPendingAndUnlocked(pushOnly, theirs.ID)
}

func TestTelephonyGatewaySecretCannotDecideAPush(t *testing.T) {
	f := newHoldFixture(t)
	f.pushChallenge(pushOnly)
	p := f.pushOf(pushOnly, 1)
	for _, purpose := range []string{"push", "call"} {
		if code, b := postDecision(t, f.client, telephonySecret, p.CallbackURL, p.ID, purpose, "fraud", 0); code != http.StatusUnauthorized {
			t.Errorf("signed by the telephony gateway as %q: %d %s, want 401", purpose, code, b)
		}
	}
	// Nor does the push gateway's secret over another purpose.
	if code, b := postDecision(t, f.client, f.gw.secret, p.CallbackURL, p.ID, "call", "fraud", 0); code != http.StatusUnauthorized {
		t.Errorf("push secret, purpose call: %d %s, want 401", code, b)
	}
	f.wantPendingAndUnlocked(pushOnly, p.ID)
}

func TestExactReplayOfAGatewayDecisionIsRefused(t *testing.T) {
	f := newHoldFixture(t)
	f.pushChallenge(pushOnly)
	p := f.pushOf(pushOnly, 1)
	body := []byte(`{"decision":"deny"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := webhook.SignApproval(f.gw.secret, ts, p.ID, "push", body)
	if code, b := postSigned(t, f.client, p.CallbackURL, ts, sig, body); code != http.StatusOK {
		t.Fatalf("first: %d %s", code, b)
	}
	if code, b := postSigned(t, f.client, p.CallbackURL, ts, sig, body); code != http.StatusConflict {
		t.Errorf("exact replay: %d %s, want 409", code, b)
	}
}
