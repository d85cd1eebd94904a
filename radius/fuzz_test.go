package radius

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"kakunin/challenge"
	"kakunin/internal/secret"
)

// fuzzAuth answers by user name, so the fuzzer can reach every kind of
// response, including a panicking flow.
type fuzzAuth struct{}

func (fuzzAuth) Authenticate(_ context.Context, req *challenge.Request) challenge.Decision {
	switch req.UserName {
	case "accept":
		return challenge.Decision{Outcome: challenge.Accept, Messages: []string{req.Password}, Groups: []string{req.Password, "cn=staff,dc=x"}}
	case "challenge":
		return challenge.Decision{Outcome: challenge.Challenge, Messages: []string{req.Password}, State: []byte(req.Password)}
	case "drop":
		return challenge.Decision{Outcome: challenge.Drop}
	case "panic":
		panic("fuzz")
	case "weird":
		return challenge.Decision{Outcome: challenge.Outcome(len(req.Password))}
	}
	return challenge.Decision{Outcome: challenge.Reject, Messages: []string{req.UserName, string(req.State)}}
}

// FuzzServePacket feeds arbitrary datagrams to the packet handler, on the
// authentication or the accounting port. With sign set, the harness first
// recomputes the Message-Authenticator and accounting Request
// Authenticator the way a NAS holding the secret would, so the fuzzer gets
// past authentication into decoding and response encoding, not only into
// the cheap rejections.
func FuzzServePacket(f *testing.F) {
	cfg := testConfig()
	no := false
	cfg.Clients[0].RequireMessageAuthenticator = &no
	cfg.Clients[0].ReplyAttributes = []Attribute{{Name: "Session-Timeout", Value: "60"}}
	cfg.GroupAttributes = []GroupAttributes{{Group: "staff", Attributes: []Attribute{{Name: "Cisco-AVPair", Value: "a=b"}}}}
	cfg.Clients = append(cfg.Clients, ClientConfig{Name: "v6", Addresses: []string{"::1"}, Secret: secret.New(testSecret)})
	caught := &panicCatcher{}
	s, err := New(cfg, fuzzAuth{}, slog.New(caught), nil)
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Shutdown(context.Background()) })
	// Responses go to a socket nobody reads; the kernel discards them.
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sink.Close() })
	src := sink.LocalAddr().(*net.UDPAddr).AddrPort()

	var authL, acctL *listener
	for _, l := range s.listeners {
		if l.acct {
			acctL = l
		} else {
			authL = l
		}
	}

	f.Fuzz(func(t *testing.T, data []byte, sign, acct bool) {
		if sign {
			data = signForFuzz(data, []byte(testSecret))
		}
		l := authL
		if acct {
			l = acctL
		}
		s.handlePacket(l, data, src)
		// Wait for any decision it started, so that a bug in response
		// encoding is blamed on this input. Nothing else starts decisions:
		// nobody sends to the server's sockets.
		s.decisions.Wait()
		if msg := caught.take(); msg != "" {
			t.Fatal(msg)
		}
	})
}

// panicCatcher is a slog.Handler that remembers the server's reports of
// its own panics, which it recovers from (so that one bad packet cannot
// stop authentication for everyone) and which the fuzzer must still see.
// The flow's panics, which fuzzAuth causes on purpose, are not ours.
type panicCatcher struct {
	mu  sync.Mutex
	msg string
}

func (p *panicCatcher) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicCatcher) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *panicCatcher) WithGroup(string) slog.Handler            { return p }
func (p *panicCatcher) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "panic while") {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, "\n%s: %v", a.Key, a.Value)
		return true
	})
	p.mu.Lock()
	p.msg = b.String()
	p.mu.Unlock()
	return nil
}

func (p *panicCatcher) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.msg
	p.msg = ""
	return m
}

// signForFuzz fixes up the authenticators of anything that looks enough
// like a packet.
func signForFuzz(b []byte, secret []byte) []byte {
	if len(b) < headerLen {
		return b
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < headerLen || n > len(b) {
		return b
	}
	b = bytes.Clone(b[:n])
	acct := b[0] == 4
	if acct {
		clear(b[4:headerLen])
	}
	if off, err := findMessageAuthenticator(b); err == nil && off >= 0 {
		clear(b[off : off+maLen])
		h := hmac.New(md5.New, secret)
		h.Write(b)
		copy(b[off:], h.Sum(nil))
	}
	if acct {
		h := md5.New()
		h.Write(b)
		h.Write(secret)
		copy(b[4:headerLen], h.Sum(nil))
	}
	return b
}
