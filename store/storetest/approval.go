package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"kakunin/store"
)

func approval(user, key string, now time.Time) store.Approval {
	return store.Approval{ID: store.NewID(), UserID: user, MethodID: store.NewID(), Kind: "push", Key: key,
		RequestID: "req-1", Client: "gw@192.0.2.1", Number: 42, Choices: []int{17, 42, 80}, Groups: []string{"staff"},
		Node: "node-a/boot-1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
}

func mustCreateApproval(t *testing.T, s store.Store, a store.Approval) {
	t.Helper()
	ok, err := s.CreateApproval(ctxFor(t), a, 0, time.Time{})
	if err != nil || !ok {
		t.Fatalf("CreateApproval = %v, %v; want true, nil", ok, err)
	}
}

func testApprovalRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := approval("alice", "key-1", base)
	mustCreateApproval(t, s, a)
	got, err := s.GetApproval(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	a.Status = store.ApprovalPending
	if got.ID != a.ID || got.UserID != a.UserID || got.MethodID != a.MethodID || got.Kind != a.Kind || got.Key != a.Key ||
		got.RequestID != a.RequestID || got.Client != a.Client || got.Number != 42 || len(got.Groups) != 1 ||
		got.Groups[0] != "staff" || got.Status != store.ApprovalPending || got.Node != a.Node ||
		!got.CreatedAt.Equal(base) || !got.ExpiresAt.Equal(a.ExpiresAt) || !got.DecidedAt.IsZero() {
		t.Errorf("GetApproval = %+v, want %+v", got, a)
	}
	if !slices.Equal(got.Choices, []int{17, 42, 80}) {
		t.Errorf("GetApproval choices = %v, want [17 42 80] in that order", got.Choices)
	}
	// Without number matching there are no choices.
	plain := approval("alice", "key-2", base)
	plain.Number, plain.Choices = 0, nil
	mustCreateApproval(t, s, plain)
	if got, err := s.GetApproval(ctx, plain.ID); err != nil || got.Number != 0 || got.Choices != nil {
		t.Errorf("GetApproval(no number matching) = %d %v, %v; want 0, nil", got.Number, got.Choices, err)
	}
	if _, err := s.GetApproval(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetApproval(unknown) err = %v, want ErrNotFound", err)
	}
	if ok, err := s.CreateApproval(ctx, a, 0, time.Time{}); ok || !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateApproval(same id) = %v, %v; want ErrConflict", ok, err)
	}

	// FindApproval: the newest unexpired one with the key.
	newer := approval("alice", "key-1", base.Add(time.Second))
	mustCreateApproval(t, s, newer)
	if got, err := s.FindApproval(ctx, "key-1", "", base.Add(2*time.Second)); err != nil || got.ID != newer.ID {
		t.Errorf("FindApproval = %s, %v; want the newer %s", got.ID, err, newer.ID)
	}
	// A copy of the first request finds the first's approval.
	mine := approval("alice", "key-1", base.Add(-time.Second))
	mine.RequestID = "req-mine"
	mustCreateApproval(t, s, mine)
	if got, err := s.FindApproval(ctx, "key-1", "req-mine", base.Add(2*time.Second)); err != nil || got.ID != mine.ID {
		t.Errorf("FindApproval(requestID) = %s, %v; want %s", got.ID, err, mine.ID)
	}
	if _, err := s.FindApproval(ctx, "key-1", "", base.Add(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindApproval after expiry err = %v, want ErrNotFound", err)
	}
	if _, err := s.FindApproval(ctx, "other", "", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindApproval(other key) err = %v, want ErrNotFound", err)
	}
}

func testApprovalRefusesInvalid(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	for name, mod := range map[string]func(*store.Approval){
		"no id":                        func(a *store.Approval) { a.ID = "" },
		"no user":                      func(a *store.Approval) { a.UserID = "" },
		"no key":                       func(a *store.Approval) { a.Key = "" },
		"no kind":                      func(a *store.Approval) { a.Kind = "" },
		"no expiry":                    func(a *store.Approval) { a.ExpiresAt = time.Time{} },
		"bad status":                   func(a *store.Approval) { a.Status = "maybe" },
		"bad number":                   func(a *store.Approval) { a.Number = 100 },
		"number not among the choices": func(a *store.Approval) { a.Choices = []int{17, 43, 80} },
		"choices without a number":     func(a *store.Approval) { a.Number = 0 },
		"choice out of range":          func(a *store.Approval) { a.Choices = []int{42, 100, 17} },
		"choice twice":                 func(a *store.Approval) { a.Choices = []int{42, 17, 17} },
		"NUL in node":                  func(a *store.Approval) { a.Node = "a\x00b" },
	} {
		a := approval("alice", "k", base)
		mod(&a)
		if ok, err := s.CreateApproval(ctx, a, 0, time.Time{}); ok || err == nil {
			t.Errorf("%s: CreateApproval = %v, %v; want an error", name, ok, err)
		}
	}
}

func testApprovalCap(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	since := base.Add(-10 * time.Minute)
	for i := range 3 {
		a := approval("alice", "k", base.Add(time.Duration(i)*time.Second))
		if ok, err := s.CreateApproval(ctx, a, 3, since); err != nil || !ok {
			t.Fatalf("approval %d: %v, %v; want true", i, ok, err)
		}
	}
	a := approval("alice", "k", base.Add(5*time.Second))
	if ok, err := s.CreateApproval(ctx, a, 3, since); err != nil || ok {
		t.Errorf("4th approval in the window = %v, %v; want false", ok, err)
	}
	// Another kind and another user have their own counts; an older
	// window start lets it through.
	call := approval("alice", "k", base.Add(5*time.Second))
	call.Kind = "call"
	if ok, err := s.CreateApproval(ctx, call, 3, since); err != nil || !ok {
		t.Errorf("a call after 3 pushes = %v, %v; want true", ok, err)
	}
	if ok, err := s.CreateApproval(ctx, approval("bob", "k", base), 3, since); err != nil || !ok {
		t.Errorf("bob's first = %v, %v; want true", ok, err)
	}
	if ok, err := s.CreateApproval(ctx, a, 3, base.Add(time.Second)); err != nil || !ok {
		t.Errorf("with a later window start = %v, %v; want true", ok, err)
	}
}

func testApprovalDecidedOnce(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := approval("alice", "k", base)
	mustCreateApproval(t, s, a)
	at := base.Add(10 * time.Second)
	wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		status := store.ApprovalApproved
		if i%2 == 1 {
			status = store.ApprovalDenied
		}
		_, ok, err := s.DecideApproval(ctx, a.ID, status, at)
		return ok, err
	})
	if wins != 1 {
		t.Fatalf("%d deciders won, want 1", wins)
	}
	got, err := s.GetApproval(ctx, a.ID)
	if err != nil || (got.Status != store.ApprovalApproved && got.Status != store.ApprovalDenied) || !got.DecidedAt.Equal(at) {
		t.Fatalf("after the race: %+v, %v", got, err)
	}
	// A late or duplicate callback changes nothing and learns the outcome.
	again, ok, err := s.DecideApproval(ctx, a.ID, store.ApprovalFraud, at.Add(time.Second))
	if err != nil || ok || again.Status != got.Status {
		t.Errorf("second decision = %s, %v, %v; want %s, false", again.Status, ok, err, got.Status)
	}
	// Expired approvals cannot be decided.
	old := approval("alice", "k2", base)
	mustCreateApproval(t, s, old)
	if got, ok, err := s.DecideApproval(ctx, old.ID, store.ApprovalApproved, old.ExpiresAt); err != nil || ok || got.Status != store.ApprovalPending {
		t.Errorf("deciding at expiry = %s, %v, %v; want pending, false", got.Status, ok, err)
	}
	if _, _, err := s.DecideApproval(ctx, store.NewID(), store.ApprovalApproved, at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deciding an unknown approval: %v, want ErrNotFound", err)
	}
	if _, _, err := s.DecideApproval(ctx, old.ID, store.ApprovalPending, at); err == nil {
		t.Error("deciding to pending: no error")
	}
}

func testDecidedApprovalsSince(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a, b, c := approval("alice", "k", base), approval("bob", "k", base), approval("carol", "k", base)
	for _, x := range []store.Approval{a, b, c} {
		mustCreateApproval(t, s, x)
	}
	s.DecideApproval(ctx, a.ID, store.ApprovalApproved, base.Add(time.Second))
	s.DecideApproval(ctx, b.ID, store.ApprovalDenied, base.Add(3*time.Second))
	got, err := s.DecidedApprovals(ctx, base.Add(2*time.Second))
	if err != nil || len(got) != 1 || got[0].ID != b.ID || got[0].Status != store.ApprovalDenied {
		t.Errorf("DecidedApprovals = %+v, %v; want only bob's, denied", got, err)
	}
	if got, _ := s.DecidedApprovals(ctx, base); len(got) != 2 {
		t.Errorf("DecidedApprovals(base) = %d approvals, want 2", len(got))
	}
}

func testFailApprovalsOfEarlierBoot(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	old := approval("alice", "k", base)
	old.Node = "node-a/boot-1"
	cur := approval("bob", "k", base)
	cur.Node = "node-a/boot-2"
	other := approval("carol", "k", base)
	other.Node = "node-ab/boot-1" // a name that merely starts alike
	for _, x := range []store.Approval{old, cur, other} {
		mustCreateApproval(t, s, x)
	}
	n, err := s.FailApprovals(ctx, "node-a", "boot-2", base.Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("FailApprovals = %d, %v; want 1", n, err)
	}
	for id, want := range map[string]store.ApprovalStatus{old.ID: store.ApprovalFailed, cur.ID: store.ApprovalPending, other.ID: store.ApprovalPending} {
		if got, _ := s.GetApproval(ctx, id); got.Status != want {
			t.Errorf("approval of %s: %s, want %s", got.Node, got.Status, want)
		}
	}
	// A failed approval cannot be approved afterwards.
	if _, ok, _ := s.DecideApproval(ctx, old.ID, store.ApprovalApproved, base.Add(2*time.Second)); ok {
		t.Error("a failed approval was approved")
	}
}

func testOutOfBandLock(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustAdd(t, s, totp("alice", base))
	if err := s.SetOutOfBandLock(ctx, "alice", true, base); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOutOfBandLock(ctx, "newuser", true, base); err != nil {
		t.Fatalf("locking an unknown user: %v", err)
	}
	a, err := s.Account(ctx, "alice", store.AccountQuery{})
	if err != nil || !a.OutOfBandLocked {
		t.Errorf("Account after lock: locked=%v, %v", a.OutOfBandLocked, err)
	}
	if u, err := s.GetUser(ctx, "alice"); err != nil || !u.OutOfBandLocked.Equal(base) {
		t.Errorf("GetUser after lock: %v, %v", u.OutOfBandLocked, err)
	}
	// PutUser leaves the lock as it is.
	u, _ := s.GetUser(ctx, "alice")
	u.MFAApplied = true
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Account(ctx, "alice", store.AccountQuery{}); !a.OutOfBandLocked {
		t.Error("PutUser cleared the out-of-band lock")
	}
	if err := s.SetOutOfBandLock(ctx, "alice", false, base); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Account(ctx, "alice", store.AccountQuery{}); a.OutOfBandLocked {
		t.Error("still locked after unlock")
	}
	// Reset clears the lock and fails the user's pending approvals.
	s.SetOutOfBandLock(ctx, "alice", true, base)
	p := approval("alice", "k", base)
	mustCreateApproval(t, s, p)
	if err := s.Reset(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Account(ctx, "alice", store.AccountQuery{}); a.OutOfBandLocked {
		t.Error("still locked after reset")
	}
	if got, _ := s.GetApproval(ctx, p.ID); got.Status != store.ApprovalFailed {
		t.Errorf("approval after reset: %s, want failed", got.Status)
	}
}

func testPurgeApprovals(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := approval("alice", "k", base) // expires base+1m
	mustCreateApproval(t, s, a)
	if err := s.Purge(ctx, base, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetApproval(ctx, a.ID); err != nil {
		t.Errorf("approval expiring at the purge boundary was purged: %v", err)
	}
	if err := s.Purge(ctx, base, base.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetApproval(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old approval not purged: %v", err)
	}
}

func testNodesApprovals(t *testing.T, open func(store.Encryption) store.Store) {
	ctx := ctxFor(t)
	enc := NewEncryption()
	a, b := open(enc), open(enc)
	x := approval("alice", "key", base)
	mustCreateApproval(t, a, x)
	if got, err := b.FindApproval(ctx, "key", "", base); err != nil || got.ID != x.ID {
		t.Fatalf("node B FindApproval = %s, %v", got.ID, err)
	}
	// Every node shows the numbers node A drew, in its order.
	if got, err := b.GetApproval(ctx, x.ID); err != nil || !slices.Equal(got.Choices, x.Choices) {
		t.Fatalf("node B reads choices %v, %v; node A stored %v", got.Choices, err, x.Choices)
	}
	decided, ok, err := b.DecideApproval(ctx, x.ID, store.ApprovalApproved, base.Add(time.Second))
	if err != nil || !ok {
		t.Fatalf("node B decides: %v, %v", ok, err)
	}
	if !slices.Equal(decided.Choices, x.Choices) {
		t.Errorf("DecideApproval returns choices %v, want %v", decided.Choices, x.Choices)
	}
	got, err := a.DecidedApprovals(ctx, base)
	if err != nil || len(got) != 1 || got[0].Status != store.ApprovalApproved {
		t.Errorf("node A sees %+v, %v", got, err)
	}
	// The cap holds across nodes.
	nodes := []store.Store{a, b}
	wins := race(t, Racers, func(ctx context.Context, i int) (bool, error) {
		return nodes[i%2].CreateApproval(ctx, approval("bob", "k", base), 5, base.Add(-time.Minute))
	})
	if wins != 5 {
		t.Errorf("%d approvals created across nodes, want the cap of 5", wins)
	}
}

func testUserLanguage(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	if err := s.SetLanguage(ctx, "alice", "en", base); err != nil {
		t.Fatal(err)
	}
	if u, err := s.GetUser(ctx, "alice"); err != nil || u.Language != "en" {
		t.Errorf("GetUser: %q, %v", u.Language, err)
	}
	mustAdd(t, s, totp("alice", base))
	u, _ := s.GetUser(ctx, "alice")
	u.MFAApplied = true
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Account(ctx, "alice", store.AccountQuery{}); err != nil || a.Language != "en" {
		t.Errorf("Account after PutUser: %q, %v", a.Language, err)
	}
	if err := s.SetLanguage(ctx, "alice", "ja'; DROP", base); err == nil {
		t.Error("a malformed language was stored")
	}
}
