package ldapauth

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"kakunin/internal/testenv"
)

// testClock is a clock the test moves; safe for the Directory's
// goroutines to read.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// wireOp is one LDAP request as a directory received it.
type wireOp struct {
	op   string // "bind", "search", …
	name string // the bind name, or the search base
}

// ldapRecorder is a TCP proxy in front of a directory (an ldap:// URL)
// that records the requests passing through it, in the order they
// arrive.
type ldapRecorder struct {
	ln net.Listener

	mu  sync.Mutex
	ops []wireOp
}

func startLDAPRecorder(t *testing.T, target string) *ldapRecorder {
	t.Helper()
	r := &ldapRecorder{}
	r.ln = testenv.ServeTCP(t, func(c net.Conn) {
		up, err := net.Dial("tcp", strings.TrimPrefix(target, "ldap://"))
		if err != nil {
			return
		}
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(c, up); c.Close() })
		r.forward(up, c)
		up.Close()
		wg.Wait()
	})
	return r
}

func (r *ldapRecorder) URL() string { return "ldap://" + r.ln.Addr().String() }

// forward copies requests from client to server, packet by packet,
// recording each before passing it on.
func (r *ldapRecorder) forward(server, client net.Conn) {
	var raw bytes.Buffer
	in := io.TeeReader(client, &raw)
	for {
		raw.Reset()
		p, err := ber.ReadPacket(in)
		if err != nil {
			return
		}
		if len(p.Children) >= 2 {
			op := p.Children[1]
			w := wireOp{op: ldapOpName(op.Tag)}
			if len(op.Children) >= 2 {
				w.name, _ = op.Children[1].Value.(string)
				if op.Tag == ldap.ApplicationSearchRequest {
					w.name, _ = op.Children[0].Value.(string)
				}
			}
			r.mu.Lock()
			r.ops = append(r.ops, w)
			r.mu.Unlock()
		}
		if _, err := server.Write(raw.Bytes()); err != nil {
			return
		}
	}
}

// take returns the requests recorded since the last take.
func (r *ldapRecorder) take() []wireOp {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

func ldapOpName(tag ber.Tag) string {
	switch tag {
	case ldap.ApplicationBindRequest:
		return "bind"
	case ldap.ApplicationSearchRequest:
		return "search"
	case ldap.ApplicationUnbindRequest:
		return "unbind"
	case ldap.ApplicationExtendedRequest:
		return "extended"
	}
	return ldap.ApplicationMap[uint8(tag)]
}

// answeringServer answers every bind with resultCode and counts the
// binds it received.
type answeringServer struct {
	ln net.Listener

	mu    sync.Mutex
	binds int
}

func startAnsweringServer(t *testing.T, resultCode uint16) *answeringServer {
	t.Helper()
	s := &answeringServer{}
	s.ln = testenv.ServeTCP(t, func(c net.Conn) {
		for {
			p, err := ber.ReadPacket(c)
			if err != nil || len(p.Children) < 2 {
				return
			}
			if p.Children[1].Tag != ldap.ApplicationBindRequest {
				return
			}
			s.mu.Lock()
			s.binds++
			s.mu.Unlock()
			if _, err := c.Write(bindResponse(p.Children[0].Value.(int64), resultCode).Bytes()); err != nil {
				return
			}
		}
	})
	return s
}

func (s *answeringServer) URL() string { return "ldap://" + s.ln.Addr().String() }

func (s *answeringServer) bindCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.binds
}

func bindResponse(id int64, code uint16) *ber.Packet {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "messageID"))
	resp := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindResponse, nil, "BindResponse")
	resp.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(code), "resultCode"))
	resp.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
	resp.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "diagnosticMessage"))
	msg.AppendChild(resp)
	return msg
}
