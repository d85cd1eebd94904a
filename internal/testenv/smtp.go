package testenv

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTPOptions choose what a fake SMTP server offers.
type SMTPOptions struct {
	NoStartTLS bool   // do not offer STARTTLS (a client that requires it must refuse)
	Implicit   bool   // TLS from the first byte (port 465 style)
	Username   string // with Password: AUTH PLAIN required before MAIL
	Password   string
}

// SMTPServer is a real SMTP server in the test process (EHLO, STARTTLS
// with a test certificate for 127.0.0.1, AUTH PLAIN, MAIL, RCPT, DATA,
// RSET, NOOP, QUIT) that keeps the messages it accepts.
type SMTPServer struct {
	Host   string // 127.0.0.1
	Port   int
	CAFile string // the CA that signed the server's certificate

	opts SMTPOptions
	tls  *tls.Config
	ln   net.Listener
	wg   sync.WaitGroup

	mu   sync.Mutex
	msgs []SMTPMessage
	got  chan struct{}
}

// SMTPMessage is one accepted message.
type SMTPMessage struct {
	From string
	To   []string
	Data []byte
	TLS  bool   // sent over TLS
	Auth string // the user that authenticated, "" for none
}

// NewSMTPServer starts a fake SMTP server on 127.0.0.1, stopped when the
// test ends.
func NewSMTPServer(t testing.TB, o SMTPOptions) *SMTPServer {
	t.Helper()
	f, err := writeTestCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTPServer{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, CAFile: f.CA, opts: o,
		tls: &tls.Config{Certificates: []tls.Certificate{cert}}, ln: ln, got: make(chan struct{}, 1)}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *SMTPServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.conn(c) }()
	}
}

// Messages returns the messages accepted so far.
func (s *SMTPServer) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.msgs...)
}

// Await returns the first message accepted for to whose decoded text
// contains want (any text when want is ""), waiting for it up to 10 s
// (notifications are sent in the background); the test fails without
// one.
func (s *SMTPServer) Await(t testing.TB, to, want string) SMTPMessage {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, m := range s.Messages() {
			if slicesContains(m.To, to) && strings.Contains(m.Text(), want) {
				return m
			}
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("no mail to %s containing %q; got %d messages", to, want, len(s.Messages()))
		}
	}
}

func slicesContains(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// Header returns a header of the message, RFC 2047 words decoded.
func (m SMTPMessage) Header(name string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	v, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get(name))
	if err != nil {
		return ""
	}
	return v
}

// Text returns the body, its transfer encoding (quoted-printable, base64)
// decoded.
func (m SMTPMessage) Text() string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	var r io.Reader = msg.Body
	switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, _ := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func (s *SMTPServer) conn(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	secure := false
	if s.opts.Implicit {
		c = tls.Server(c, s.tls)
		secure = true
	}
	tp := textproto.NewConn(c)
	reply := func(code int, lines ...string) {
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			tp.PrintfLine("%d%s%s", code, sep, l)
		}
	}
	reply(220, "kakunin-test ESMTP")
	var (
		auth, from string
		to         []string
		helo       bool
	)
	needAuth := s.opts.Username != ""
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			helo = true
			ext := []string{"kakunin-test", "8BITMIME", "SIZE 1048576"}
			if !secure && !s.opts.NoStartTLS {
				ext = append(ext, "STARTTLS")
			}
			if needAuth && secure {
				ext = append(ext, "AUTH PLAIN")
			}
			reply(250, ext...)
		case "STARTTLS":
			if secure || s.opts.NoStartTLS {
				reply(502, "not offered")
				continue
			}
			reply(220, "go ahead")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, secure, helo = tc, true, false
			tp = textproto.NewConn(c)
			auth, from, to = "", "", nil
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if !secure || !needAuth || !strings.EqualFold(mech, "PLAIN") {
				reply(504, "unrecognized authentication type")
				continue
			}
			if resp == "" {
				reply(334, "")
				if resp, err = tp.ReadLine(); err != nil {
					return
				}
			}
			b, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(b), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.opts.Username || parts[2] != s.opts.Password {
				reply(535, "authentication failed")
				continue
			}
			auth = parts[1]
			reply(235, "authenticated")
		case "MAIL":
			switch {
			case !helo:
				reply(503, "EHLO first")
			case needAuth && auth == "":
				reply(530, "authentication required")
			default:
				from, to = addrArg(arg), nil
				reply(250, "ok")
			}
		case "RCPT":
			if from == "" {
				reply(503, "MAIL first")
				continue
			}
			to = append(to, addrArg(arg))
			reply(250, "ok")
		case "DATA":
			if len(to) == 0 {
				reply(503, "RCPT first")
				continue
			}
			reply(354, "end with <CRLF>.<CRLF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			data = bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			s.mu.Lock()
			s.msgs = append(s.msgs, SMTPMessage{From: from, To: to, Data: data, TLS: secure, Auth: auth})
			s.mu.Unlock()
			select {
			case s.got <- struct{}{}:
			default:
			}
			from, to = "", nil
			reply(250, "queued as "+strconv.Itoa(len(s.Messages())))
		case "RSET":
			from, to = "", nil
			reply(250, "ok")
		case "NOOP":
			reply(250, "ok")
		case "QUIT":
			reply(221, "bye")
			return
		default:
			reply(502, "unknown command")
		}
	}
}

// addrArg reads the address of "FROM:<a@b> SIZE=…" or "TO:<a@b>".
func addrArg(arg string) string {
	_, a, _ := strings.Cut(arg, ":")
	a = strings.TrimSpace(a)
	if i := strings.IndexByte(a, '>'); strings.HasPrefix(a, "<") && i > 0 {
		return a[1:i]
	}
	return a
}
