package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"
)

// Message is one plain-text mail to one address.
type Message struct {
	To      string // an address as net/mail.ParseAddress accepts it
	Subject string // any UTF-8; encoded as RFC 2047 when not ASCII
	Body    string // UTF-8 text; lines end in \n
}

// Client sends messages through the configured SMTP server, one
// connection per message (the portal sends a few a day per user).
type Client struct {
	cfg  Config
	from *mail.Address
	tls  *tls.Config
	now  func() time.Time
}

// New returns a client for a defaulted and validated cfg; it reads
// ca_file now, so a missing file is a configuration error at start.
func New(cfg Config) (*Client, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	tc := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return &Client{cfg: cfg, from: from, tls: tc, now: time.Now}, nil
}

// ErrNoStartTLS is returned when tls is starttls and the server does not
// offer STARTTLS: nothing is sent in the clear.
var ErrNoStartTLS = errors.New("the SMTP server does not offer STARTTLS")

// Send delivers m, within ctx's deadline and the configured timeout.
func (c *Client) Send(ctx context.Context, m Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil || strings.ContainsAny(m.To, "\r\n") {
		return fmt.Errorf("recipient is not an address")
	}
	data, err := c.compose(to, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port))
	var conn net.Conn
	if c.cfg.TLS == Implicit {
		conn, err = (&tls.Dialer{Config: c.tls}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp connect %s: %w", addr, err)
	}
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	// Close when ctx ends early, so a stalled server cannot hold us.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sc, err := smtp.NewClient(conn, c.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: greeting: %w", addr, err)
	}
	defer sc.Close()
	if err := c.session(sc, to.Address, data); err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	return nil
}

func (c *Client) session(sc *smtp.Client, to string, data []byte) error {
	host, err := os.Hostname()
	if err != nil || host == "" || strings.ContainsAny(host, " \r\n") {
		host = "localhost"
	}
	if err := sc.Hello(host); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if c.cfg.TLS == StartTLS {
		if ok, _ := sc.Extension("STARTTLS"); !ok {
			return ErrNoStartTLS
		}
		if err := sc.StartTLS(c.tls); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if c.cfg.Username != "" {
		// PlainAuth refuses to send the password unless the connection is
		// TLS or the host is this machine.
		if err := sc.Auth(smtp.PlainAuth("", c.cfg.Username, c.cfg.Password.Value(), c.cfg.Host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := sc.Mail(c.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := sc.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := sc.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return sc.Quit()
}

// compose writes the message: MIME, text/plain in UTF-8, quoted-printable,
// with Date and Message-ID; a non-ASCII subject or display name is
// RFC 2047 encoded.
func (c *Client) compose(to *mail.Address, m Message) ([]byte, error) {
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, errors.New("subject has a line break")
	}
	id := make([]byte, 16)
	rand.Read(id)
	domain := c.from.Address[strings.LastIndexByte(c.from.Address, '@')+1:]
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", c.from.String())
	header("To", to.String())
	header("Subject", mime.BEncoding.Encode("UTF-8", m.Subject))
	header("Date", c.now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := io.WriteString(qp, body); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Console prints messages instead of sending them (kakunin demo only): the
// demo's user reads the verification code in the terminal.
type Console struct{ W io.Writer }

// Send writes m to the console.
func (c Console) Send(_ context.Context, m Message) error {
	if _, err := mail.ParseAddress(m.To); err != nil {
		return fmt.Errorf("recipient is not an address")
	}
	_, err := fmt.Fprintf(c.W, "\n--- mail to %s (demo: printed, not sent) ---\nSubject: %s\n\n%s--- end of mail ---\n\n", m.To, m.Subject, m.Body)
	return err
}
