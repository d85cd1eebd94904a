package ldapauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// Connection lifetimes. Idle connections are dropped before servers or
// firewalls silently forget them; connections to a fail-over server are
// recycled sooner so that traffic returns to the first server once it is
// back.
const (
	maxIdle             = time.Minute
	maxLifetime         = 10 * time.Minute
	maxFailoverLifetime = time.Minute
)

// Back-off of a server that failed: doubling from minBackoff to maxBackoff
// while it keeps failing.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// server is one of the configured URLs and its health.
type server struct {
	index    int
	url      string
	addr     string      // host:port
	tls      *tls.Config // nil for ldap:// without StartTLS
	ldaps    bool
	startTLS bool

	mu        sync.Mutex
	failures  int
	downUntil time.Time
}

func (s *server) down(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Before(s.downUntil)
}

func (s *server) markDown(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := minBackoff << min(s.failures, 5)
	s.downUntil = now.Add(min(b, maxBackoff))
	s.failures++
}

// markUp ends a back-off. Only an LDAP answer proves a server up: a
// server that accepts TCP connections and never answers must keep
// backing off, so connecting is not enough.
func (s *server) markUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = 0
	s.downUntil = time.Time{}
}

// conn is a connection to one server.
type conn struct {
	l       *ldap.Conn
	rx      *countingConn // the socket under l (under TLS, if any)
	srv     *server
	created time.Time
	idle    time.Time // when it was last returned to its pool
	reused  bool      // it came from the pool rather than a fresh dial
	broken  bool      // an error left it in an unknown state: discard it
	probe   bool      // a readiness probe's: leaves the server's health alone
}

// received is the number of bytes read from the server so far.
func (c *conn) received() int64 { return c.rx.n.Load() }

// countingConn counts the bytes the server sent, so that an operation
// that failed can be told to have had no answer at all, not even a
// partial or garbled one.
type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// pool keeps up to size connections open. Connections of the service
// pool are bound as the service account once, when dialled; connections
// of the user pool are bound as whoever logs in next.
type pool struct {
	d       *Directory
	name    string
	service bool
	idle    chan *conn    // connections ready for use
	slots   chan struct{} // one token per open connection
	open    prometheus.Gauge

	mu     sync.Mutex // orders put against close
	closed bool
}

func newPool(d *Directory, name string, service bool, size int) *pool {
	return &pool{
		d:       d,
		name:    name,
		service: service,
		idle:    make(chan *conn, size),
		slots:   make(chan struct{}, size),
		open:    d.m.pool.WithLabelValues(name),
	}
}

// errPoolExhausted is returned when every connection stayed busy for the
// whole operation timeout.
var errPoolExhausted = errors.New("all pooled connections busy")

// errNoOtherServer is returned when every configured server is to be
// avoided.
var errNoOtherServer = errors.New("no other directory server configured")

// get returns an idle connection, or dials a new one if the pool has room,
// or waits for one to be returned. It never returns a connection to a
// server in avoid: idle ones are closed, and the dial skips them.
func (p *pool) get(ctx context.Context, avoid ...*server) (*conn, error) {
	if len(avoid) > 0 && !slices.ContainsFunc(p.d.servers, func(s *server) bool { return !slices.Contains(avoid, s) }) {
		return nil, errNoOtherServer
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		select {
		case c := <-p.idle:
			if p.usable(c) && !slices.Contains(avoid, c.srv) {
				c.reused = true
				return c, nil
			}
			p.discard(c)
			continue
		default:
		}
		if p.isClosed() {
			return nil, errClosed
		}
		if timer == nil {
			wait, _ := p.d.opTimeout(ctx)
			timer = time.NewTimer(wait)
		}
		select {
		case c := <-p.idle:
			if p.usable(c) && !slices.Contains(avoid, c.srv) {
				c.reused = true
				return c, nil
			}
			p.discard(c)
		case p.slots <- struct{}{}:
			c, err := p.d.dial(ctx, p.service, avoid)
			if err != nil {
				<-p.slots
				return nil, err
			}
			p.open.Inc()
			return c, nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-timer.C:
			return nil, errPoolExhausted
		}
	}
}

func (p *pool) usable(c *conn) bool {
	now := p.d.now()
	life := maxLifetime
	if c.srv.index > 0 {
		life = maxFailoverLifetime
	}
	return !c.l.IsClosing() &&
		now.Sub(c.idle) < maxIdle &&
		now.Sub(c.created) < life &&
		!c.srv.down(now)
}

// put returns a connection after use; a broken one is closed instead.
func (p *pool) put(c *conn) {
	if c.broken {
		p.discard(c)
		return
	}
	c.idle = p.d.now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.discard(c)
		return
	}
	p.idle <- c // never blocks: at most cap(slots) connections exist
	p.mu.Unlock()
}

// discard closes a connection and frees its slot.
func (p *pool) discard(c *conn) {
	c.l.Close()
	<-p.slots
	p.open.Dec()
}

func (p *pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// close closes the idle connections, and makes put close the busy ones
// when they come back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	var idle []*conn
drain:
	for {
		select {
		case c := <-p.idle:
			idle = append(idle, c)
		default:
			break drain
		}
	}
	p.mu.Unlock()
	for _, c := range idle {
		p.discard(c)
	}
}

// dial connects to the first server not in avoid that is not backing off
// (all of them, in order, if every one is), and binds as the service
// account if asked. A server that cannot be reached is backed off and the
// next one tried. A connection does not end a back-off: an answer does
// (see op).
func (d *Directory) dial(ctx context.Context, bindService bool, avoid []*server) (*conn, error) {
	now := d.now()
	var order, backingOff []*server
	for _, s := range d.servers {
		switch {
		case slices.Contains(avoid, s):
		case s.down(now):
			backingOff = append(backingOff, s)
		default:
			order = append(order, s)
		}
	}
	if len(order) == 0 {
		order = backingOff
	}
	if len(order) == 0 {
		return nil, errNoOtherServer
	}
	var errs []error
	for _, s := range order {
		if ctx.Err() != nil {
			errs = append(errs, context.Cause(ctx))
			break
		}
		c, err := d.dialServer(ctx, s)
		dialFailed := err != nil
		if err == nil && bindService {
			err = d.op(ctx, c, opServiceBind, func(l *ldap.Conn) error {
				return l.Bind(d.cfg.BindDN, d.cfg.BindPassword.Value())
			})
			if err != nil {
				c.l.Close()
				if !isServerFailure(err) {
					// The server answered and refused: the other servers
					// are configured alike, so do not try them.
					d.log.Error("ldap: service account bind refused", "server", s.url, "bind_dn", d.cfg.BindDN, "err", err)
					return nil, fmt.Errorf("service account bind at %s: %w", s.url, err)
				}
			}
		}
		if err == nil {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", s.url, err))
		if ctx.Err() != nil {
			break // the caller gave up: not the server's fault
		}
		if dialFailed {
			d.m.serverError(s.index, "dial")
			s.markDown(d.now()) // (op has done so for a failed bind)
		}
		d.log.Warn("ldap: server failed", "server", s.url, "err", err)
	}
	return nil, errors.Join(errs...)
}

// dialServer connects to s: TCP, then TLS or StartTLS, all within the
// dial timeout and ctx.
func (d *Directory) dialServer(ctx context.Context, s *server) (*conn, error) {
	start := time.Now()
	defer func() { d.m.ops[opDial].Observe(time.Since(start).Seconds()) }()

	dctx, cancel := context.WithTimeout(ctx, d.cfg.DialTimeout)
	defer cancel()
	var nd net.Dialer
	tcp, err := nd.DialContext(dctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	rx := &countingConn{Conn: tcp}
	var raw net.Conn = rx
	if s.ldaps {
		tc := tls.Client(rx, s.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			tcp.Close()
			return nil, fmt.Errorf("dial: %w", err)
		}
		raw = tc
	}
	l := ldap.NewConn(raw, s.ldaps)
	l.Start()
	if s.startTLS {
		// go-ldap bounds the StartTLS request with its timeout but not the
		// handshake that follows: a deadline on the socket bounds both.
		deadline, _ := dctx.Deadline()
		raw.SetDeadline(deadline)
		l.SetTimeout(time.Until(deadline))
		err := l.StartTLS(s.tls)
		raw.SetDeadline(time.Time{})
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	now := d.now()
	return &conn{l: l, rx: rx, srv: s, created: now, idle: now}, nil
}

// opTimeout is the time an operation may take: the configured timeout,
// or less if ctx ends sooner (bounded reports which).
func (d *Directory) opTimeout(ctx context.Context) (timeout time.Duration, bounded bool) {
	timeout = d.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		if rem := time.Until(dl); rem < timeout {
			return rem, true
		}
	}
	return timeout, false
}

// op runs one LDAP operation on c within the operation timeout and ctx,
// and records its duration and any failure of the server. An operation
// is not started once ctx is done; if ctx ends during it, the connection
// is closed to abort it.
func (d *Directory) op(ctx context.Context, c *conn, name string, f func(*ldap.Conn) error) error {
	timeout, bounded := d.opTimeout(ctx)
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}
	c.l.SetTimeout(timeout)
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { c.l.Close() })
	}
	start := time.Now()
	err := f(c.l)
	elapsed := time.Since(start)
	d.m.ops[name].Observe(elapsed.Seconds())
	if stop != nil && !stop() {
		// ctx ended and closed the connection, maybe after f returned.
		c.broken = true
		if err != nil {
			return fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		return nil
	}
	if err == nil || !isServerFailure(err) {
		// The server answered.
		if !c.probe {
			c.srv.markUp()
		}
	}
	if err == nil {
		return nil
	}
	if !isExpectedResult(err) {
		c.broken = true
	}
	if c.probe {
		return err
	}
	if bounded && elapsed >= timeout && isServerFailure(err) {
		// go-ldap's timeout, set to the caller's deadline, fired first.
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	if isServerFailure(err) {
		reason := "network"
		switch {
		case isTimeout(err) || elapsed >= timeout:
			reason = "timeout"
		case ldap.IsErrorAnyOf(err, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable):
			reason = "busy"
		}
		d.m.serverError(c.srv.index, reason)
		// A timeout cut short by the caller's deadline is not the
		// server's fault.
		if !(reason == "timeout" && bounded) {
			c.srv.markDown(d.now())
		}
	} else if !isExpectedResult(err) {
		d.m.serverError(c.srv.index, "result")
	}
	return err
}

// isServerFailure reports errors that say the connection or the server is
// broken (rather than an answer about the request): the next server
// should be tried.
func isServerFailure(err error) bool {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return true // not from the protocol: the network
	}
	switch le.ResultCode {
	case ldap.ErrorNetwork, ldap.ErrorUnexpectedMessage, ldap.ErrorUnexpectedResponse, ldap.ErrorMalformedPacket,
		ldap.LDAPResultBusy, ldap.LDAPResultUnavailable:
		return true
	}
	return false
}

// isExpectedResult reports answers of the normal flow, which leave the
// connection fit for reuse.
func isExpectedResult(err error) bool {
	return ldap.IsErrorAnyOf(err,
		ldap.LDAPResultInvalidCredentials,
		ldap.LDAPResultConstraintViolation,
		ldap.LDAPResultNoSuchObject,
		ldap.LDAPResultInsufficientAccessRights,
		ldap.LDAPResultSizeLimitExceeded)
}

// isTimeout reports socket deadlines. (go-ldap's own request timeout is a
// plain network error: op tells it by the time the operation took.)
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
