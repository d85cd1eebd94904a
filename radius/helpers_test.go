package radius

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"kakunin/challenge"
	"kakunin/internal/secret"
	"kakunin/internal/testenv"
)

// testSecret is the shared secret of the test client at 127.0.0.1.
const testSecret = "s3cret-shared-between-nas-and-kakunin"

// ioGuard bounds a read that should succeed, so that a broken server fails
// the test instead of hanging it. No test asserts on how long anything takes.
const ioGuard = 10 * time.Second

// stubAuth is an Authenticator that records its calls and answers with fn.
type stubAuth struct {
	mu    sync.Mutex
	reqs  []challenge.Request
	calls atomic.Int32
	fn    func(ctx context.Context, req *challenge.Request) challenge.Decision
}

func (a *stubAuth) Authenticate(ctx context.Context, req *challenge.Request) challenge.Decision {
	a.calls.Add(1)
	a.mu.Lock()
	a.reqs = append(a.reqs, *req)
	a.mu.Unlock()
	if a.fn == nil {
		return challenge.Decision{Outcome: challenge.Accept, Reason: "ok"}
	}
	return a.fn(ctx, req)
}

func (a *stubAuth) requests() []challenge.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]challenge.Request(nil), a.reqs...)
}

// blocker makes an Authenticator wait: each call signals entered, then
// waits for release (or its context).
type blocker struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlocker() *blocker {
	return &blocker{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (b *blocker) wait(ctx context.Context) error {
	b.entered <- struct{}{}
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *blocker) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-b.entered:
	case <-time.After(ioGuard):
		t.Fatal("Authenticator was not called")
	}
}

func (b *blocker) open() { b.once.Do(func() { close(b.release) }) }

// syncBuffer collects log output from several goroutines.
type syncBuffer = testenv.LogBuffer

// fakeClock is the retransmit cache's clock in tests.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time            { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration)   { c.ns.Add(int64(d)) }
func (c *fakeClock) install(s *Server) *Server { s.now = c.now; return s }

type testServer struct {
	*Server
	reg  *prometheus.Registry
	logs *syncBuffer
}

// testConfig is one client, 127.0.0.1, on loopback ports chosen by the kernel.
func testConfig() Config {
	return Config{
		Listen:           []string{"127.0.0.1:0"},
		AccountingListen: []string{"127.0.0.1:0"},
		Clients: []ClientConfig{{
			Name:      "nas1",
			Addresses: []string{"127.0.0.1"},
			Secret:    secret.New(testSecret),
		}},
	}
}

// startServer starts a server for the test and shuts it down after it.
// before, if not nil, runs between New and Start.
func startServer(t *testing.T, cfg Config, auth Authenticator, before func(*Server)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	s, err := New(cfg, auth, log, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if before != nil {
		before(s)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioGuard)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &testServer{Server: s, reg: reg, logs: logs}
}

// shutdown shuts the server down now, waiting for its decisions.
func shutdown(t *testing.T, ts *testServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioGuard)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func (ts *testServer) dropped(reason string) float64 {
	return value(ts.metrics.dropped.WithLabelValues(reason))
}

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	panic("not a counter or gauge")
}

// nas is a test NAS: a UDP socket talking to one server port.
type nas struct {
	t      *testing.T
	conn   *net.UDPConn
	secret []byte
}

func dialNAS(t *testing.T, server net.Addr, local string, secret string) *nas {
	t.Helper()
	laddr, err := net.ResolveUDPAddr("udp", local)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", laddr, server.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &nas{t: t, conn: c, secret: []byte(secret)}
}

func (n *nas) send(b []byte) {
	n.t.Helper()
	if _, err := n.conn.Write(b); err != nil {
		n.t.Fatal(err)
	}
}

func (n *nas) recv() []byte {
	n.t.Helper()
	buf := make([]byte, 4096)
	n.conn.SetReadDeadline(time.Now().Add(ioGuard))
	k, err := n.conn.Read(buf)
	if err != nil {
		n.t.Fatalf("no response: %v", err)
	}
	return buf[:k]
}

// exchange sends a request and returns the checked response.
func (n *nas) exchange(req []byte) (*radius.Packet, []byte) {
	n.t.Helper()
	n.send(req)
	resp := n.recv()
	return checkResponse(n.t, resp, req, n.secret), resp
}

// barrier sends a Status-Server and waits for its answer, failing the test
// if anything else arrives first. The server reads a socket in order and
// answers Status-Server in its read loop, so after barrier returns every
// packet sent before it has been handled, and a response to any of them
// that was not read already would have been seen here.
func (n *nas) barrier() {
	n.t.Helper()
	p := radius.New(radius.CodeStatusServer, n.secret)
	req := encodeRequest(n.t, p, true)
	n.send(req)
	resp := n.recv()
	if resp[1] != req[1] || !radius.IsAuthenticResponse(resp, req, n.secret) {
		n.t.Fatalf("expected the Status-Server answer, got an unexpected %v (id %d)", radius.Code(resp[0]), resp[1])
	}
}

// accessRequest builds an Access-Request with PAP.
func accessRequest(t *testing.T, secret, user, password string) *radius.Packet {
	t.Helper()
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	if err := rfc2865.UserName_SetString(p, user); err != nil {
		t.Fatal(err)
	}
	if err := rfc2865.UserPassword_SetString(p, password); err != nil {
		t.Fatal(err)
	}
	return p
}

// encodeRequest encodes an Access-Request, Status-Server or
// Accounting-Request as a NAS does, with a Message-Authenticator as its
// last attribute when withMA. It is written independently of the server's
// code so that a mistake in one is not hidden by the same mistake in the
// other (radclient_test.go checks both against FreeRADIUS).
func encodeRequest(t *testing.T, p *radius.Packet, withMA bool) []byte {
	t.Helper()
	acct := p.Code == radius.CodeAccountingRequest
	if acct {
		p.Authenticator = [16]byte{}
	}
	var off int
	if withMA {
		p.Attributes.Del(rfc2869.MessageAuthenticator_Type)
		p.Add(rfc2869.MessageAuthenticator_Type, make([]byte, 16))
	}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if withMA {
		off = len(b) - 16
		h := hmac.New(md5.New, p.Secret)
		h.Write(b)
		copy(b[off:], h.Sum(nil))
	}
	if acct {
		h := md5.New()
		h.Write(b)
		h.Write(p.Secret)
		copy(b[4:20], h.Sum(nil))
	}
	return b
}

// checkResponse verifies a response as a strict NAS does: the Response
// Authenticator, and a Message-Authenticator that is the first attribute.
func checkResponse(t *testing.T, resp, req []byte, secret []byte) *radius.Packet {
	t.Helper()
	if !radius.IsAuthenticResponse(resp, req, secret) {
		t.Fatalf("response authenticator does not verify")
	}
	if len(resp) < 38 || resp[20] != 80 || resp[21] != 18 {
		t.Fatalf("first attribute is not a Message-Authenticator: % x", resp[20:min(len(resp), 24)])
	}
	if err := checkMA(resp, 22, req, secret); err != nil {
		t.Fatal(err)
	}
	p, err := radius.Parse(resp, secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Identifier != req[1] {
		t.Fatalf("response id %d to request id %d", p.Identifier, req[1])
	}
	return p
}

func checkMA(resp []byte, off int, req []byte, secret []byte) error {
	c := bytes.Clone(resp)
	if !(radius.Code(req[0]) == radius.CodeAccountingRequest) {
		copy(c[4:20], req[4:20])
	} else {
		clear(c[4:20])
	}
	clear(c[off : off+16])
	h := hmac.New(md5.New, secret)
	h.Write(c)
	if !hmac.Equal(h.Sum(nil), resp[off:off+16]) {
		return errors.New("Message-Authenticator does not verify")
	}
	return nil
}

// randomState is a printable State as the flow issues, different each call.
func randomState() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

func replyMessagesOf(p *radius.Packet) []string {
	var out []string
	for _, a := range p.Attributes {
		if a.Type == rfc2865.ReplyMessage_Type {
			out = append(out, string(a.Attribute))
		}
	}
	return out
}
