package radius

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"

	"kakunin/challenge"
)

// holding is an Authenticator whose decisions are held: it reserves a
// held slot, then returns Hold with a Wait that blocks until release.
func holding(release chan struct{}) *stubAuth {
	return &stubAuth{fn: func(ctx context.Context, req *challenge.Request) challenge.Decision {
		if !req.Hold() {
			return challenge.Decision{Outcome: challenge.Reject, Reason: "busy"}
		}
		return challenge.Decision{Outcome: challenge.Hold, Wait: func(ctx context.Context) challenge.Decision {
			select {
			case <-release:
				return challenge.Decision{Outcome: challenge.Accept, Reason: "ok"}
			case <-ctx.Done():
				return challenge.Decision{Outcome: challenge.Reject, Reason: "no_answer"}
			}
		}}
	}}
}

func TestHeldRequestsFreeTheirInFlightSlot(t *testing.T) {
	release := make(chan struct{})
	cfg := testConfig()
	cfg.MaxInFlight = 1
	auth := holding(release)
	ts := startServer(t, cfg, auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	// Three requests held at once with one decision slot: none dropped.
	var reqs [][]byte
	for i, u := range []string{"alice", "bob", "carol"} {
		q := accessRequest(t, testSecret, u, "pw")
		q.Identifier = byte(i) // answers are told apart by identifier
		p := encodeRequest(t, q, true)
		reqs = append(reqs, p)
		n.send(p)
		waitHeld(t, ts, int64(i+1))
	}
	if got := ts.dropped(dropOverloaded); got != 0 {
		t.Fatalf("dropped{overloaded} = %v, want 0", got)
	}
	// A retransmit of a held request waits for the same decision.
	n.send(reqs[0])
	n.barrier()
	if c := auth.calls.Load(); c != 3 {
		t.Fatalf("Authenticator called %d times, want 3", c)
	}
	if got := ts.held.Load(); got != 3 {
		t.Errorf("held = %d, want 3", got)
	}
	close(release)
	answers := map[byte]int{}
	for range 4 {
		b := n.recv()
		answers[b[1]]++
		if radius.Code(b[0]) != radius.CodeAccessAccept {
			t.Errorf("answer %v, want Access-Accept", radius.Code(b[0]))
		}
	}
	if answers[reqs[0][1]] != 2 {
		t.Errorf("the retransmitted request got %d answers, want 2 (one per copy)", answers[reqs[0][1]])
	}
	shutdown(t, ts)
	if got := ts.held.Load(); got != 0 {
		t.Errorf("held = %d after all were answered, want 0", got)
	}
}

func TestMaxHeldRefusesMore(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	cfg := testConfig()
	cfg.MaxHeld = 1
	ts := startServer(t, cfg, holding(release), nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)
	n.send(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true))
	waitHeld(t, ts, 1)
	second := encodeRequest(t, accessRequest(t, testSecret, "bob", "pw"), true)
	n.send(second)
	b := n.recv()
	if b[1] != second[1] || radius.Code(b[0]) != radius.CodeAccessReject {
		t.Fatalf("over max_held: %v for id %d, want Access-Reject for id %d", radius.Code(b[0]), b[1], second[1])
	}
}

// waitHeld waits until n requests are held (the decision runs on a worker
// after the packet is read).
func waitHeld(t *testing.T, ts *testServer, n int64) {
	t.Helper()
	deadline := time.Now().Add(ioGuard)
	for ts.held.Load() < n || value(ts.metrics.inFlight) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("held = %d, want %d", ts.held.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestShutdownAnswersEveryHeldRequest: when the shutdown deadline passes
// with requests held, their waits are cancelled with
// challenge.ErrShuttingDown and every one is answered before the sockets
// close. Before, the sockets were closed at once and the answers lost.
func TestShutdownAnswersEveryHeldRequest(t *testing.T) {
	const n = 20
	var told atomic.Int64
	auth := &stubAuth{fn: func(ctx context.Context, req *challenge.Request) challenge.Decision {
		if !req.Hold() {
			return challenge.Decision{Outcome: challenge.Reject, Reason: "busy"}
		}
		return challenge.Decision{Outcome: challenge.Hold, Wait: func(ctx context.Context) challenge.Decision {
			<-ctx.Done()
			if errors.Is(context.Cause(ctx), challenge.ErrShuttingDown) {
				told.Add(1)
			}
			return challenge.Decision{Outcome: challenge.Reject, Reason: "shutdown", Messages: []string{"try again"}}
		}}
	}}
	ts := startServer(t, testConfig(), auth, nil)
	nas := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)
	ids := map[byte]bool{}
	for i := range n {
		p := accessRequest(t, testSecret, fmt.Sprintf("user%d", i), "pw")
		p.Identifier = byte(i)
		ids[p.Identifier] = true
		nas.send(encodeRequest(t, p, true))
		waitHeld(t, ts, int64(i+1))
	}
	// The grace is over before shutdown begins.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	for range n {
		b := nas.recv()
		if radius.Code(b[0]) != radius.CodeAccessReject || !ids[b[1]] {
			t.Fatalf("answer %v for id %d, want Access-Reject for a held request", radius.Code(b[0]), b[1])
		}
		delete(ids, b[1])
	}
	if got := told.Load(); got != n {
		t.Errorf("%d waits saw challenge.ErrShuttingDown as the cause, want %d", got, n)
	}
}
