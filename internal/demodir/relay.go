package demodir

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// maxClients bounds the client connections the demo directory serves at
// once; kakunin's own pool needs a handful.
const maxClients = 64

// relay owns the listening socket clients connect to and pipes each
// connection to the gldap server on a private loopback port. gldap's
// Server listens by itself and neither reports the port it bound (so
// "127.0.0.1:0" could not be used) nor closes idle client connections on
// Stop (so Stop would wait until every pooled client hung up). The relay
// gives Start the real address, reports a busy port synchronously, and
// lets Stop close every connection.
type relay struct {
	ln      net.Listener
	backend string
	log     *slog.Logger

	mu      sync.Mutex
	conns   map[net.Conn]struct{} // both ends of every pipe
	clients int
	dialed  int // connections made to the gldap server, ever
	closed  bool
	wg      sync.WaitGroup
}

func newRelay(ln net.Listener, backend string, log *slog.Logger) *relay {
	return &relay{ln: ln, backend: backend, log: log, conns: make(map[net.Conn]struct{})}
}

// serve accepts connections until close. It is run once, in its own
// goroutine.
func (r *relay) serve() {
	defer r.wg.Done()
	var backoff time.Duration
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry,
			// as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			r.log.Debug("demo directory: accept", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !r.track(c, true) {
			r.log.Debug("demo directory: too many connections", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		r.wg.Add(1)
		go r.pipe(c)
	}
}

// track registers c so that close can reach it. It refuses c once the
// relay is closed, and a client once maxClients are connected.
func (r *relay) track(c net.Conn, client bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || (client && r.clients >= maxClients) {
		return false
	}
	r.conns[c] = struct{}{}
	if client {
		r.clients++
	}
	return true
}

// untrack closes and forgets the client connection c and, when given, its
// backend connection b.
func (r *relay) untrack(c, b net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c]; ok {
		delete(r.conns, c)
		r.clients--
	}
	c.Close()
	if b != nil {
		delete(r.conns, b)
		b.Close()
	}
}

// pipe copies bytes both ways between client c and the gldap server until
// either side closes, then closes both.
func (r *relay) pipe(c net.Conn) {
	defer r.wg.Done()
	b, err := net.DialTimeout("tcp", r.backend, 5*time.Second)
	if err != nil {
		r.log.Debug("demo directory: connect to ldap server", "err", err)
		r.untrack(c, nil)
		return
	}
	r.mu.Lock()
	r.dialed++
	r.mu.Unlock()
	if !r.track(b, false) {
		r.untrack(c, b)
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(b, c)
		r.untrack(c, b) // unblocks the copy below
		close(done)
	}()
	_, _ = io.Copy(c, b)
	r.untrack(c, b)
	<-done
}

// close stops accepting, closes every connection and waits for the
// goroutines that served them.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	r.ln.Close()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// backends is how many connections the relay has made to the gldap
// server.
func (r *relay) backends() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dialed
}
