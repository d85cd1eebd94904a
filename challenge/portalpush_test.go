package challenge_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"kakunin/challenge"
	"kakunin/store"
)

func (f *holdFixture) pushMethod(user string) store.Method {
	f.t.Helper()
	ms, err := f.st.Methods(context.Background(), user)
	if err != nil {
		f.t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m store.Method) bool { return m.Kind == store.KindPush })
	if i < 0 {
		f.t.Fatalf("%s has no push method", user)
	}
	return ms[i]
}

func otherNumber(n int) int {
	if n == 99 {
		return 10
	}
	return n + 1
}

func TestPortalSignInPushIsDecidedOnThePhone(t *testing.T) {
	f := newHoldFixture(t)
	ctx := context.Background()
	m := f.pushMethod(pushUser)
	if !f.e.CanPush(m) {
		t.Fatal("CanPush: false for a webhook push method")
	}
	if _, _, err := f.e.PushToSignIn(ctx, pushOnly, m.ID, "en"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("push to another user's app: %v, want ErrNotFound", err)
	}
	id, n, err := f.e.PushToSignIn(ctx, pushUser, m.ID, "ja")
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 || n > 99 {
		t.Errorf("number %d is not 10..99", n)
	}
	p := f.waitPushes(1)[0]
	if p.ID != id || !slices.Contains(p.Numbers, n) || len(p.Numbers) != 3 || !strings.Contains(p.Body, "ポータル") || p.Language != "ja" {
		t.Errorf("push %+v: want approval %s offering %d, the portal's Japanese body", p, id, n)
	}
	if st, err := f.e.VerificationStatus(ctx, pushUser, id); err != nil || st != challenge.CallPending {
		t.Fatalf("before answering: %v, %v", st, err)
	}
	if code, body := f.gw.answer(f.client, p, "approve", n); code != 200 {
		t.Fatalf("approve: %d %s", code, body)
	}
	if st, err := f.e.VerificationStatus(ctx, pushUser, id); err != nil || st != challenge.CallApproved {
		t.Errorf("after approving with the right number: %v, %v", st, err)
	}
	if st, _ := f.e.VerificationStatus(ctx, pushOnly, id); st != challenge.CallFailed {
		t.Errorf("another user's status of the push: %v, want CallFailed", st)
	}

	// The wrong number fails the sign-in.
	id, n, err = f.e.PushToSignIn(ctx, pushUser, m.ID, "en")
	if err != nil {
		t.Fatal(err)
	}
	p = f.waitPushes(2)[1]
	if !strings.Contains(p.Body, "portal") {
		t.Errorf("English body %q does not name the portal", p.Body)
	}
	f.gw.answer(f.client, p, "approve", otherNumber(n))
	if st, err := f.e.VerificationStatus(ctx, pushUser, id); err != nil || st != challenge.CallFailed {
		t.Errorf("after the wrong number: %v, %v", st, err)
	}

	// A fraud report fails it and stops pushes (and calls) until unlocked.
	id, _, err = f.e.PushToSignIn(ctx, pushUser, m.ID, "en")
	if err != nil {
		t.Fatal(err)
	}
	f.gw.answer(f.client, f.waitPushes(3)[2], "fraud", 0)
	if st, _ := f.e.VerificationStatus(ctx, pushUser, id); st != challenge.CallFailed {
		t.Errorf("after a fraud report: %v, want CallFailed", st)
	}
	if _, _, err := f.e.PushToSignIn(ctx, pushUser, m.ID, "en"); !errors.Is(err, challenge.ErrPhoneLocked) {
		t.Errorf("push after a fraud report: %v, want ErrPhoneLocked", err)
	}
}

func TestPortalSignInPushKeepsThePerUserCap(t *testing.T) {
	f := newHoldFixture(t, func(c *challenge.Config) { c.Push.MaxPerUser = 3 })
	ctx := context.Background()
	m := f.pushMethod(pushOnly)
	for i := range 3 {
		if _, _, err := f.e.PushToSignIn(ctx, pushOnly, m.ID, "en"); err != nil {
			t.Fatalf("push %d: %v", i+1, err)
		}
	}
	if _, _, err := f.e.PushToSignIn(ctx, pushOnly, m.ID, "en"); !errors.Is(err, challenge.ErrSendLimited) {
		t.Errorf("fourth push in the window: %v, want ErrSendLimited", err)
	}
	if n := len(f.gw.pushes()); n != 3 {
		t.Errorf("%d pushes sent, want 3", n)
	}
}

func TestPortalSignInPushFailureClosesTheApproval(t *testing.T) {
	f := newHoldFixture(t)
	ctx := context.Background()
	f.gw.mu.Lock()
	f.gw.fail = true
	f.gw.mu.Unlock()
	if _, _, err := f.e.PushToSignIn(ctx, pushOnly, f.pushMethod(pushOnly).ID, "en"); !errors.Is(err, challenge.ErrProvider) {
		t.Errorf("push through a failing gateway: %v, want ErrProvider", err)
	}
}
