package radius

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"kakunin/challenge"
)

// Authenticator decides one authentic Access-Request. It must honour the
// context's deadline (request_timeout) and return a decision even then,
// typically Drop or Reject; the server does not abandon a call in progress.
type Authenticator interface {
	Authenticate(ctx context.Context, req *challenge.Request) challenge.Decision
}

// Server is the RADIUS server: one read loop per socket that checks each
// packet and then drops it, answers it at once (Status-Server, accounting,
// retransmits, Access-Requests without a PAP password), or starts a
// decision in its own goroutine. A read loop never waits for a decision,
// because a decision may wait a minute for a push approval.
type Server struct {
	cfg     Config
	auth    Authenticator
	log     *slog.Logger
	metrics *metrics
	clients *clientTable
	groups  []groupRule
	cache   *cache
	sem     chan struct{} // one slot per decision in flight
	held    atomic.Int64  // requests held for an approval (max_held)
	warn    logLimiter
	now     func() time.Time // the cache's clock; tests replace it

	mu        sync.Mutex
	started   bool
	stopped   bool
	listeners []*listener
	closing   atomic.Bool
	readers   sync.WaitGroup
	decisions sync.WaitGroup
	workers   *workers
	// ctx is the parent of every decision's context. Shutdown cancels it
	// (cause challenge.ErrShuttingDown) when its own deadline passes
	// before the decisions finish.
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// answerWindow is how long Shutdown waits, once its deadline has passed
// and the decisions are cancelled, for them to be answered: a held
// request answers at once ("try again"), a decision in the directory or
// the store as soon as that call returns to its cancelled context.
const answerWindow = 5 * time.Second

// listener is one bound UDP socket.
type listener struct {
	conn  *net.UDPConn
	index uint16
	acct  bool // accounting port: Accounting-Request instead of Access-Request
}

func (l *listener) kind() string {
	if l.acct {
		return "accounting"
	}
	return "authentication"
}

// New checks the configuration, resolves reply attributes and registers
// the metrics on reg (nil: not registered). It binds nothing: Start does.
// It warns about every client that does not require a
// Message-Authenticator and every shared secret shorter than 16
// characters: both are accepted, but both weaken the protocol.
func New(cfg Config, auth Authenticator, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if auth == nil {
		return nil, errors.New("radius: nil Authenticator")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// SetDefaults writes into the clients; leave the caller's slice alone.
	cfg.Clients = slices.Clone(cfg.Clients)
	cfg.SetDefaults()
	comp, err := cfg.compile()
	if err != nil {
		return nil, fmt.Errorf("radius: %w", err)
	}
	m, err := newMetrics(reg, comp.list)
	if err != nil {
		return nil, fmt.Errorf("radius: %w", err)
	}
	for _, c := range comp.list {
		if !c.requireMA {
			log.Warn("client does not require Message-Authenticator: Access-Requests from it can be forged by an attacker on the path (BlastRADIUS, CVE-2024-3596); set require_message_authenticator: true once the NAS sends it",
				"client", c.name)
		}
		if c.shortKey {
			log.Warn("client shared secret is shorter than 16 characters; use a long random secret", "client", c.name)
		}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Server{
		cfg:     cfg,
		auth:    auth,
		log:     log,
		metrics: m,
		clients: comp.clients,
		groups:  comp.groups,
		cache:   newCache(cfg.RetransmitWindow, maxCacheEntries, maxCacheBytes),
		sem:     make(chan struct{}, cfg.MaxInFlight),
		workers: newWorkers(30 * time.Second),
		now:     time.Now,
		ctx:     ctx,
		cancel:  cancel,
	}, nil
}

// Start binds every configured socket and starts reading. If one address
// cannot be bound, none stays bound.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("radius: server already started")
	}
	var ls []*listener
	bind := func(addr string, acct bool) error {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("radius: listen %s: %w", addr, err)
		}
		ls = append(ls, &listener{conn: pc.(*net.UDPConn), index: uint16(len(ls)), acct: acct})
		return nil
	}
	var err error
	for _, a := range s.cfg.Listen {
		if err = bind(a, false); err != nil {
			break
		}
	}
	for _, a := range s.cfg.AccountingListen {
		if err != nil {
			break
		}
		err = bind(a, true)
	}
	if err != nil {
		for _, l := range ls {
			l.conn.Close()
		}
		return err
	}
	s.started = true
	s.listeners = ls
	for _, l := range ls {
		s.log.Info("listening", "addr", l.conn.LocalAddr().String(), "port", l.kind())
		s.readers.Add(1)
		go s.serve(l)
	}
	return nil
}

// AuthAddrs are the bound authentication addresses (useful with port 0).
func (s *Server) AuthAddrs() []net.Addr { return s.addrs(false) }

// AcctAddrs are the bound accounting addresses.
func (s *Server) AcctAddrs() []net.Addr { return s.addrs(true) }

func (s *Server) addrs(acct bool) []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, l := range s.listeners {
		if l.acct == acct {
			out = append(out, l.conn.LocalAddr())
		}
	}
	return out
}

// Shutdown stops reading, waits for the decisions in flight so that their
// users still get an answer, then closes the sockets. If ctx ends first,
// the decisions' contexts are cancelled with challenge.ErrShuttingDown:
// held requests are answered at once with a reject asking the user to try
// again, the others as soon as they return, for at most answerWindow;
// then the sockets are closed and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.stopped = true
		s.mu.Unlock()
		s.cancel(challenge.ErrShuttingDown)
		return nil
	}
	s.stopped = true
	ls := s.listeners
	s.mu.Unlock()

	// A deadline in the past wakes the blocked reads without closing the
	// sockets, which the decisions still need for their answers.
	s.closing.Store(true)
	for _, l := range ls {
		l.conn.SetReadDeadline(time.Unix(1, 0))
	}
	s.readers.Wait() // after this no new decision can start

	drained := make(chan struct{})
	go func() {
		s.decisions.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		s.log.Warn("shutdown deadline passed with decisions in flight; answering them now",
			"in_flight", len(s.sem), "held", s.held.Load())
		s.cancel(challenge.ErrShuttingDown)
		t := time.NewTimer(answerWindow)
		select {
		case <-drained:
		case <-t.C:
			s.log.Warn("decisions still unanswered after the shutdown deadline; closing anyway",
				"in_flight", len(s.sem), "held", s.held.Load())
		}
		t.Stop()
	}
	s.cancel(challenge.ErrShuttingDown)
	s.workers.stop()
	for _, l := range ls {
		l.conn.Close()
	}
	return err
}

// serve is one socket's read loop.
func (s *Server) serve(l *listener) {
	defer s.readers.Done()
	buf := make([]byte, radius.MaxPacketLength)
	for {
		n, src, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if s.warn.allow("read_error", netip.Addr{}, s.now()) {
				s.log.Warn("read failed", "addr", l.conn.LocalAddr().String(), "err", err)
			}
			continue
		}
		s.handlePacket(l, buf[:n], src)
	}
}

// request is what the server keeps of a packet once it is checked: the
// fields a response needs. It holds no reference to the read buffer.
type request struct {
	lis        *listener
	src        netip.AddrPort
	client     *client
	code       radius.Code
	id         byte
	auth       [16]byte
	proxyState radius.Attributes // echoed in order (RFC 2865 section 5.33)
	hasMA      bool
}

func (r *request) key() cacheKey {
	return cacheKey{src: r.src, listener: r.lis.index, id: r.id, auth: r.auth}
}

// handlePacket checks one datagram and answers it or starts its decision.
// It is the entry point FuzzServePacket drives: it must survive any bytes,
// and it must not keep b, which the read loop reuses.
func (s *Server) handlePacket(l *listener, b []byte, src netip.AddrPort) {
	defer func() {
		if v := recover(); v != nil {
			s.metrics.drop(dropPanic)
			s.log.Error("panic while handling a packet", "src", src.String(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()

	c := s.clients.lookup(src.Addr())
	if c == nil {
		s.dropf(dropUnknownClient, src, nil, "packet from an address that is no configured client")
		return
	}
	if len(b) < headerLen {
		s.dropf(dropMalformed, src, c, "packet shorter than a RADIUS header")
		return
	}
	// Octets past the Length field are padding to be ignored (RFC 2865
	// section 3); the authenticators cover exactly Length octets.
	if n := int(binary.BigEndian.Uint16(b[2:4])); n >= headerLen && n <= len(b) {
		b = b[:n]
	}
	code := radius.Code(b[0])
	if !served(l, code) {
		s.dropf(dropUnsupportedCode, src, c, "packet code not served on this port", "code", code.String(), "port", l.kind())
		return
	}
	p, err := radius.Parse(b, c.secret)
	if err != nil {
		s.dropf(dropMalformed, src, c, "malformed packet", "err", err)
		return
	}
	s.metrics.requests.WithLabelValues(c.name, code.String()).Inc()

	ma, err := findMessageAuthenticator(b)
	if err != nil {
		s.dropf(dropMalformed, src, c, "malformed packet", "err", err)
		return
	}
	if code == radius.CodeAccountingRequest && !validAccountingAuthenticator(b, c.secret) {
		s.dropf(dropBadRequestAuth, src, c, "Accounting-Request authenticator does not match; check the shared secret")
		return
	}
	if ma >= 0 && !validMessageAuthenticator(b, ma, c.secret, code == radius.CodeAccountingRequest) {
		s.dropf(dropBadMA, src, c, "Message-Authenticator does not match; check the shared secret")
		return
	}
	if ma < 0 && (code == radius.CodeStatusServer || code == radius.CodeAccessRequest && c.requireMA) {
		s.dropf(dropMissingMA, src, c, "request without Message-Authenticator dropped; configure the NAS to send it (BlastRADIUS), or set require_message_authenticator: false for this client",
			"code", code.String())
		return
	}

	r := &request{lis: l, src: src, client: c, code: code, id: p.Identifier, auth: p.Authenticator, hasMA: ma >= 0}
	for _, a := range p.Attributes {
		if a.Type == rfc2865.ProxyState_Type {
			r.proxyState = append(r.proxyState, a)
		}
	}
	switch code {
	case radius.CodeStatusServer:
		s.statusServer(r)
	case radius.CodeAccountingRequest:
		s.accountingRequest(r, p)
	case radius.CodeAccessRequest:
		s.accessRequest(r, p)
	}
}

// served reports whether a port answers a code. Status-Server (RFC 5997)
// is answered on both, as the NAS probes each port it uses.
func served(l *listener, c radius.Code) bool {
	switch c {
	case radius.CodeStatusServer:
		return true
	case radius.CodeAccountingRequest:
		return l.acct
	case radius.CodeAccessRequest:
		return !l.acct
	}
	return false
}

// statusServer answers a Status-Server probe: Access-Accept on the
// authentication port, Accounting-Response on the accounting port
// (RFC 5997 section 3). Probes are not cached: each deserves a fresh answer.
func (s *Server) statusServer(r *request) {
	code := radius.CodeAccessAccept
	if r.lis.acct {
		code = radius.CodeAccountingResponse
	}
	b, err := s.encode(r, code, nil, true)
	if err != nil {
		s.dropf(dropResponseEncodeFail, r.src, r.client, "cannot encode Status-Server response", "err", err)
		return
	}
	s.send(r, b)
}

// accessRequest turns an Access-Request into a challenge.Request and
// starts its decision, unless it is a retransmit or cannot be decided.
func (s *Server) accessRequest(r *request, p *radius.Packet) {
	c := r.client
	req := &challenge.Request{
		Client:           c.name,
		Policy:           c.policy,
		ClientAddr:       r.src.Addr().Unmap().WithZone(""),
		UserName:         string(p.Get(rfc2865.UserName_Type)),
		State:            p.Get(rfc2865.State_Type),
		CallingStationID: string(p.Get(rfc2865.CallingStationID_Type)),
		NASIdentifier:    string(p.Get(rfc2865.NASIdentifier_Type)),
		RequestID:        hex.EncodeToString(r.auth[:]),
		// What a gateway keeps of a sign-in when it fails over to
		// another server, where it may compute a new authenticator.
		SessionID: string(p.Get(rfc2866.AcctSessionID_Type)),
	}
	pw, hasPassword := p.Lookup(rfc2865.UserPassword_Type)
	if hasPassword {
		v, err := radius.UserPassword(pw, c.secret, r.auth[:])
		if err != nil {
			s.dropf(dropMalformed, r.src, c, "User-Password does not decode", "err", err)
			return
		}
		req.Password = string(v)
	}

	// Only PAP carries a password the directory can check. CHAP, MS-CHAP
	// and EAP are answered with a reject rather than silence, so that the
	// NAS does not fail over and retry the same method elsewhere. These
	// rejects never reach the flow and cost one encoding, so they are not
	// cached: a retransmit gets the same answer computed again, and a
	// flood of them (from a client that does not require a
	// Message-Authenticator) cannot fill the retransmit cache. Nor is the
	// user name logged: it may be a password typed into the wrong field.
	// The log line is rate limited like a drop, as nothing in it is
	// particular to one request.
	reason := ""
	switch {
	case !hasPassword && p.Get(rfc2865.CHAPPassword_Type) != nil:
		reason = "chap_unsupported"
	case !hasPassword && len(req.State) == 0:
		// With a State it is an answer to a challenge, and an empty
		// one may mean "Enter" (push number matching): RFC 2865 lets a
		// request carry a State instead of a password.
		reason = "no_password"
	case req.UserName == "":
		reason = "no_user_name"
	}
	if reason != "" {
		if s.warn.allow(reason, r.src.Addr(), s.now()) {
			s.log.Info("Access-Request rejected before the flow", "client", c.name, "reason", reason, "src", r.src.String())
		}
		if b := s.accessResponse(r, challenge.Decision{Outcome: challenge.Reject}); b != nil {
			s.send(r, b)
		}
		return
	}

	e := s.dedupe(r)
	if e == nil {
		return
	}

	select {
	case s.sem <- struct{}{}:
	default:
		s.cache.forget(e)
		s.dropf(dropOverloaded, r.src, c, "max_in_flight decisions running; dropping new requests until one finishes",
			"max_in_flight", cap(s.sem))
		return
	}
	s.decisions.Add(1)
	s.workers.run(func() { s.decide(e, r, req) })
}

// dedupe returns a new cache entry for a first copy, or nil after
// dealing with a retransmit.
func (s *Server) dedupe(r *request) *cacheEntry {
	e, resp, st := s.cache.begin(r.key(), s.now())
	if st == cacheNew {
		return e
	}
	s.metrics.retransmits.WithLabelValues(r.client.name).Inc()
	if st == cacheAnswered && resp != nil {
		s.send(r, resp)
	}
	return nil
}

// decide runs in its own goroutine, holding a max_in_flight slot until
// the decision is made. The slot is given back before the response is
// sent, so that a NAS that sends its next request as soon as it reads the
// answer finds the slot free.
func (s *Server) decide(e *cacheEntry, r *request, req *challenge.Request) {
	defer s.decisions.Done()
	s.metrics.inFlight.Inc()
	release := sync.OnceFunc(func() {
		s.metrics.inFlight.Dec()
		<-s.sem
	})
	defer release()
	defer func() {
		// The Authenticator's panics are caught in authenticate; this is
		// for a bug of our own while encoding, which must not take the
		// whole server down either.
		if v := recover(); v != nil {
			s.metrics.drop(dropPanic)
			s.log.Error("panic while answering a decision", "client", req.Client, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			s.cache.complete(e, nil, s.now())
		}
	}()

	// A request held for a push or a call gives back its max_in_flight
	// slot while it waits: holding costs a goroutine, not capacity.
	held := false
	req.Hold = func() bool {
		if held {
			return true
		}
		if s.held.Add(1) > int64(s.cfg.MaxHeld) {
			s.held.Add(-1)
			return false
		}
		held = true
		release()
		return true
	}
	waiting := false // the held counter passed on to the waiter
	defer func() {
		if held && !waiting {
			s.held.Add(-1)
		}
	}()

	start := time.Now()
	d, ok := s.authenticate(req)
	if ok && d.Outcome == challenge.Hold {
		if !req.Hold() {
			d = challenge.Decision{Outcome: challenge.Reject, Reason: "busy"}
		} else {
			// The wait runs on a goroutine of its own, started with a
			// small stack: this worker's stack grew in the directory and
			// the store, and ten thousand held requests would keep ten
			// thousand of those.
			waiting = true
			s.decisions.Add(1)
			go s.await(e, r, req, d.Wait)
			return
		}
	}
	elapsed := time.Since(start)
	outcome := d.Outcome.String()
	var resp []byte
	if ok {
		resp = s.accessResponse(r, d)
		// The audit record of the decision is the flow's; this is the
		// transport's view, for debugging only.
		s.log.Debug("answered", "client", req.Client, "code", outcome, "duration_ms", elapsed.Milliseconds())
		if d.Outcome == challenge.Drop {
			s.metrics.drop(dropDecision)
		}
	} else {
		outcome = challenge.Drop.String()
	}
	s.metrics.duration.WithLabelValues(outcome).Observe(elapsed.Seconds())
	release()
	s.complete(e, r, resp)
}

// await waits for a held request's decision and answers it.
func (s *Server) await(e *cacheEntry, r *request, req *challenge.Request, wait func(context.Context) challenge.Decision) {
	defer s.decisions.Done()
	defer s.held.Add(-1)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	d, ok := func() (d challenge.Decision, ok bool) {
		defer func() {
			if v := recover(); v != nil {
				ok = false
				s.metrics.drop(dropPanic)
				s.log.Error("panic in a held decision; request dropped", "client", req.Client,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
		}()
		return wait(ctx), true
	}()
	// Not in the decision-time histogram: the wait is the user's, and
	// the flow measures it (kakunin_auth_approval_wait_seconds).
	var resp []byte
	if ok && d.Outcome != challenge.Hold {
		resp = s.accessResponse(r, d)
	}
	s.complete(e, r, resp)
}

// authenticate calls the Authenticator; ok is false if it panicked. A
// panic is a bug in the flow: the request goes unanswered (cached, so its
// retransmits do not trigger the bug again) and the process lives on.
func (s *Server) authenticate(req *challenge.Request) (d challenge.Decision, ok bool) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			ok = false
			s.metrics.drop(dropPanic)
			s.log.Error("panic in Authenticator; request dropped", "client", req.Client,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	return s.auth.Authenticate(ctx, req), true
}

// complete caches the response (nil: silence) and sends it, once for the
// request and once for each retransmit that waited for it.
func (s *Server) complete(e *cacheEntry, r *request, resp []byte) {
	n := s.cache.complete(e, resp, s.now())
	if resp == nil {
		return
	}
	for range n + 1 {
		s.send(r, resp)
	}
}

func (s *Server) send(r *request, b []byte) {
	if _, err := r.lis.conn.WriteToUDPAddrPort(b, r.src); err != nil {
		if s.closing.Load() && errors.Is(err, net.ErrClosed) {
			s.log.Debug("response not sent: server shut down", "client", r.client.name)
		} else {
			s.dropf(dropSendFailed, r.src, r.client, "sending response failed", "err", err)
		}
		return
	}
	s.metrics.responses.WithLabelValues(r.client.name, radius.Code(b[0]).String()).Inc()
}

// dropf counts a drop and logs why, at most once a minute per reason and
// source address, so that a flood of bad packets cannot flood the log.
func (s *Server) dropf(reason string, src netip.AddrPort, c *client, msg string, args ...any) {
	s.metrics.drop(reason)
	if !s.warn.allow(reason, src.Addr(), s.now()) {
		return
	}
	args = append(args, "reason", reason, "src", src.String())
	if c != nil {
		args = append(args, "client", c.name)
	}
	s.log.Warn(msg, args...)
}

// logLimiter lets one log line through per key and minute. Its memory is
// bounded: when full it starts over, which at worst repeats a line.
type logLimiter struct {
	mu   sync.Mutex
	last map[limitKey]time.Time
}

type limitKey struct {
	reason string
	addr   netip.Addr
}

const (
	logEvery      = time.Minute
	logLimiterMax = 4096
)

func (l *logLimiter) allow(reason string, addr netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := limitKey{reason, addr}
	if t, ok := l.last[k]; ok && now.Sub(t) < logEvery {
		return false
	}
	if l.last == nil || len(l.last) >= logLimiterMax {
		l.last = make(map[limitKey]time.Time)
	}
	l.last[k] = now
	return true
}
