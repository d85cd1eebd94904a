package radius

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"kakunin/challenge"
)

// challengeEveryTime answers with a fresh random State on every call, so
// that a second decision of the same request would give different bytes.
func challengeEveryTime(b *blocker) *stubAuth {
	return &stubAuth{fn: func(ctx context.Context, _ *challenge.Request) challenge.Decision {
		if b != nil {
			b.wait(ctx)
		}
		return challenge.Decision{Outcome: challenge.Challenge, Messages: []string{"Enter the code"}, State: randomState()}
	}}
}

func TestRetransmitGetsCachedResponse(t *testing.T) {
	b := newBlocker()
	defer b.open()
	auth := challengeEveryTime(b)
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	req := encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true)
	n.send(req)
	b.waitEntered(t)

	// A retransmit while the first copy is still being decided attaches
	// to that decision.
	n.send(req)
	n.barrier()
	if got := value(ts.metrics.retransmits.WithLabelValues("nas1")); got != 1 {
		t.Fatalf("retransmits = %v, want 1", got)
	}

	b.open()
	first := n.recv()
	checkResponse(t, first, req, []byte(testSecret))
	second := n.recv()
	if !bytes.Equal(first, second) {
		t.Errorf("the retransmit that waited got different bytes:\n% x\n% x", first, second)
	}

	// A retransmit after the decision gets the cached bytes.
	n.send(req)
	third := n.recv()
	if !bytes.Equal(first, third) {
		t.Errorf("the retransmit after the decision got different bytes:\n% x\n% x", first, third)
	}
	if c := auth.calls.Load(); c != 1 {
		t.Errorf("Authenticator called %d times, want 1", c)
	}

	// Same Identifier, new Request Authenticator: a new request.
	other := encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true)
	other[1] = req[1]
	other = encodeRequest(t, mustParse(t, other), true)
	n.send(other)
	checkResponse(t, n.recv(), other, []byte(testSecret))
	if c := auth.calls.Load(); c != 2 {
		t.Errorf("Authenticator called %d times, want 2", c)
	}
}

func mustParse(t *testing.T, b []byte) *radius.Packet {
	t.Helper()
	p, err := radius.Parse(b, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRetransmitAfterWindowIsDecidedAgain(t *testing.T) {
	clock := newFakeClock()
	auth := challengeEveryTime(nil)
	ts := startServer(t, testConfig(), auth, func(s *Server) { clock.install(s) })
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	req := encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true)
	n.send(req)
	first := n.recv()

	clock.advance(DefaultRetransmitWindow - time.Second)
	n.send(req)
	if again := n.recv(); !bytes.Equal(first, again) {
		t.Fatalf("inside the window: different bytes")
	}

	clock.advance(2 * time.Second)
	n.send(req)
	late := n.recv()
	checkResponse(t, late, req, []byte(testSecret))
	if bytes.Equal(first, late) {
		t.Errorf("after the window: the old response was replayed")
	}
	if c := auth.calls.Load(); c != 2 {
		t.Errorf("Authenticator called %d times, want 2", c)
	}
}

func TestDropDecisionIsCached(t *testing.T) {
	auth := &stubAuth{fn: func(context.Context, *challenge.Request) challenge.Decision {
		return challenge.Decision{Outcome: challenge.Drop, Reason: "directory_unavailable"}
	}}
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	req := encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true)
	n.send(req)
	n.barrier()
	// Whether the retransmit finds the decision done or still running, it
	// must get silence and no second call.
	n.send(req)
	n.barrier()

	shutdown(t, ts) // drains the decision, so its metrics are final
	if c := auth.calls.Load(); c != 1 {
		t.Errorf("Authenticator called %d times, want 1", c)
	}
	if got := ts.dropped(dropDecision); got != 1 {
		t.Errorf("dropped{decision_drop} = %v, want 1", got)
	}
}

func TestCacheEvictsExpiredAndBoundsSize(t *testing.T) {
	c := newCache(time.Minute, 3, maxCacheBytes)
	now := time.Unix(1000, 0)
	key := func(i int) cacheKey {
		return cacheKey{src: netip.MustParseAddrPort("192.0.2.1:1000"), id: byte(i)}
	}
	for i := range 3 {
		e, _, st := c.begin(key(i), now)
		if st != cacheNew {
			t.Fatalf("entry %d: state %v", i, st)
		}
		c.complete(e, []byte{byte(i)}, now)
	}
	// Full: a fourth entry evicts the oldest answered one early.
	e, _, _ := c.begin(key(3), now)
	if c.len() != 3 {
		t.Errorf("len = %d, want 3", c.len())
	}
	if _, _, st := c.begin(key(0), now); st != cacheNew {
		t.Errorf("oldest entry still cached after eviction")
	}
	c.complete(e, nil, now)

	// After the window everything answered goes on the next insert.
	_, _, st := c.begin(key(9), now.Add(2*time.Minute))
	if st != cacheNew {
		t.Fatal("unexpected state")
	}
	// key(0) was re-begun above and never completed: it stays (in flight).
	if c.len() != 2 {
		t.Errorf("len = %d after expiry, want 2 (one in flight, one new)", c.len())
	}
}

func TestCacheAttachedCopiesAreBounded(t *testing.T) {
	c := newCache(time.Minute, 100, maxCacheBytes)
	now := time.Unix(1000, 0)
	k := cacheKey{src: netip.MustParseAddrPort("192.0.2.1:1000")}
	e, _, _ := c.begin(k, now)
	for range 10 {
		if _, _, st := c.begin(k, now); st != cacheAttached {
			t.Fatalf("state %v, want attached", st)
		}
	}
	if n := c.complete(e, []byte("x"), now); n != maxAttached {
		t.Errorf("copies owed = %d, want %d", n, maxAttached)
	}
	if _, resp, st := c.begin(k, now); st != cacheAnswered || string(resp) != "x" {
		t.Errorf("got %v %q, want answered x", st, resp)
	}
}

func TestCacheBoundsTotalBytes(t *testing.T) {
	const maxBytes = 1 << 20
	c := newCache(time.Minute, maxCacheEntries, maxBytes)
	now := time.Unix(1000, 0)
	key := func(i int) cacheKey {
		return cacheKey{src: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(i)), id: byte(i), auth: [16]byte{byte(i >> 8)}}
	}

	// A request still being decided is neither counted nor evicted.
	pending, _, _ := c.begin(cacheKey{src: netip.MustParseAddrPort("192.0.2.2:1812")}, now)

	// 4 KB responses, as a request full of Proxy-State gets: the entry
	// bound alone would let 1000 of them hold ~4 MB.
	const n = 1000
	const respLen = 4096
	for i := range n {
		e, _, st := c.begin(key(i), now)
		if st != cacheNew {
			t.Fatalf("entry %d: state %v", i, st)
		}
		c.complete(e, make([]byte, respLen), now)
		if got := c.size(); got > maxBytes {
			t.Fatalf("after %d responses the cache accounts %d bytes, over the %d bound", i+1, got, maxBytes)
		}
	}
	perEntry := respLen + entryOverhead
	if got, want := c.len(), maxBytes/perEntry+1; got != want {
		t.Errorf("len = %d, want %d (the bound's worth of answers and the pending request)", got, want)
	}

	// The oldest answers went first; the newest is still served.
	if _, _, st := c.begin(key(0), now); st != cacheNew {
		t.Errorf("oldest response still cached")
	}
	if _, got, st := c.begin(key(n-1), now); st != cacheAnswered || len(got) != respLen {
		t.Errorf("newest response: state %v, %d bytes", st, len(got))
	}
	if _, _, st := c.begin(pending.key, now); st != cacheAttached {
		t.Errorf("request being decided was evicted: state %v", st)
	}

	// Once everything has expired, nothing is accounted.
	c.begin(key(n), now.Add(2*time.Minute))
	if got := c.size(); got != 0 {
		t.Errorf("size after expiry = %d, want 0", got)
	}
}

func TestCacheCompleteTwiceCountsOnce(t *testing.T) {
	c := newCache(time.Minute, 100, maxCacheBytes)
	now := time.Unix(1000, 0)
	e, _, _ := c.begin(cacheKey{}, now)
	c.complete(e, make([]byte, 100), now)
	c.complete(e, nil, now)
	if got, want := c.size(), 100+entryOverhead; got != want {
		t.Errorf("size = %d, want %d", got, want)
	}
	if _, resp, st := c.begin(cacheKey{}, now); st != cacheAnswered || len(resp) != 100 {
		t.Errorf("got %v, %d bytes: the first response should stand", st, len(resp))
	}
}

func TestPreFlowRejectsAreNotCached(t *testing.T) {
	cfg := testConfig()
	no := false
	cfg.Clients[0].RequireMessageAuthenticator = &no
	auth := &stubAuth{}
	ts := startServer(t, cfg, auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)

	noPassword := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	rfc2865.UserName_SetString(noPassword, "alice")
	req := encodeRequest(t, noPassword, false)
	// The retransmit is answered too, computed again rather than from the
	// cache.
	for range 2 {
		n.send(req)
		if p, err := radius.Parse(n.recv(), []byte(testSecret)); err != nil || p.Code != radius.CodeAccessReject {
			t.Fatalf("got %v, %v; want Access-Reject", p, err)
		}
	}
	if got := ts.cache.len(); got != 0 {
		t.Errorf("cache holds %d entries after pre-flow rejects, want 0", got)
	}
	if got := value(ts.metrics.retransmits.WithLabelValues("nas1")); got != 0 {
		t.Errorf("retransmits = %v, want 0", got)
	}
	if c := auth.calls.Load(); c != 0 {
		t.Errorf("Authenticator called %d times", c)
	}
}
