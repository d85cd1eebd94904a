package mail

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"kakunin/internal/secret"
	"kakunin/internal/testenv"
)

func clientFor(t *testing.T, srv *testenv.SMTPServer, mode string, edit func(*Config)) *Client {
	t.Helper()
	cfg := Config{Host: srv.Host, Port: srv.Port, From: "MFA <mfa-noreply@example.ac.jp>", TLS: mode, CAFile: srv.CAFile}
	if mode == NoTLS {
		cfg.CAFile = ""
	}
	if edit != nil {
		edit(&cfg)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSendOverStartTLSWithAuth(t *testing.T) {
	srv := testenv.NewSMTPServer(t, testenv.SMTPOptions{Username: "mfa", Password: "pw-1"})
	c := clientFor(t, srv, StartTLS, func(c *Config) { c.Username, c.Password = "mfa", secret.New("pw-1") })
	subject := "【VPN】確認コード"
	body := "確認コード：123456\nA long line " + strings.Repeat("x", 100) + "\n"
	if err := c.Send(context.Background(), Message{To: "taro@example.com", Subject: subject, Body: body}); err != nil {
		t.Fatal(err)
	}
	m := srv.Await(t, "taro@example.com", "123456")
	if !m.TLS || m.Auth != "mfa" || m.From != "mfa-noreply@example.ac.jp" {
		t.Errorf("message TLS=%v auth=%q from=%q; want TLS, auth mfa", m.TLS, m.Auth, m.From)
	}
	if got := m.Header("Subject"); got != subject {
		t.Errorf("Subject = %q, want %q", got, subject)
	}
	raw := string(m.Data)
	for _, want := range []string{"Subject: =?UTF-8?b?", "Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: quoted-printable", "\r\nDate: ", "\r\nMessage-ID: <", "@example.ac.jp>\r\n", "MIME-Version: 1.0"} {
		if !strings.Contains(raw, want) {
			t.Errorf("message lacks %q:\n%s", want, raw)
		}
	}
	if m.Text() != body {
		t.Errorf("body = %q, want %q", m.Text(), body)
	}
	for _, l := range strings.Split(raw, "\r\n") {
		if len(l) > 78 {
			t.Errorf("line longer than 78 octets: %q", l)
		}
	}
}

func TestStartTLSRequired(t *testing.T) {
	srv := testenv.NewSMTPServer(t, testenv.SMTPOptions{NoStartTLS: true})
	c := clientFor(t, srv, StartTLS, nil)
	err := c.Send(context.Background(), Message{To: "taro@example.com", Subject: "s", Body: "b\n"})
	if !errors.Is(err, ErrNoStartTLS) {
		t.Errorf("Send to a server without STARTTLS = %v, want ErrNoStartTLS", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages sent in the clear", n)
	}
}

func TestImplicitTLS(t *testing.T) {
	srv := testenv.NewSMTPServer(t, testenv.SMTPOptions{Implicit: true})
	c := clientFor(t, srv, Implicit, nil)
	if err := c.Send(context.Background(), Message{To: "hanako@example.com", Subject: "Notice", Body: "hello\n"}); err != nil {
		t.Fatal(err)
	}
	if m := srv.Await(t, "hanako@example.com", "hello"); !m.TLS {
		t.Error("not sent over TLS")
	}
}

func TestUntrustedCertificateRefused(t *testing.T) {
	srv := testenv.NewSMTPServer(t, testenv.SMTPOptions{})
	c := clientFor(t, srv, StartTLS, func(c *Config) { c.CAFile = "" }) // system roots only
	if err := c.Send(context.Background(), Message{To: "taro@example.com", Subject: "s", Body: "b\n"}); err == nil {
		t.Error("Send trusted the test CA without ca_file")
	}
}

func TestWrongPasswordRefused(t *testing.T) {
	srv := testenv.NewSMTPServer(t, testenv.SMTPOptions{Username: "mfa", Password: "pw-1"})
	c := clientFor(t, srv, StartTLS, func(c *Config) { c.Username, c.Password = "mfa", secret.New("wrong") })
	err := c.Send(context.Background(), Message{To: "taro@example.com", Subject: "s", Body: "b\n"})
	if err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Errorf("Send with a wrong password = %v, want an AUTH error", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error shows the password: %v", err)
	}
}

func TestPlainToLoopback(t *testing.T) {
	srv := testenv.NewSMTPServer(t, testenv.SMTPOptions{NoStartTLS: true})
	c := clientFor(t, srv, NoTLS, nil)
	if err := c.Send(context.Background(), Message{To: "taro@example.com", Subject: "s", Body: "b\n"}); err != nil {
		t.Fatal(err)
	}
	srv.Await(t, "taro@example.com", "b")
}

func TestHeaderInjectionRefused(t *testing.T) {
	srv := testenv.NewSMTPServer(t, testenv.SMTPOptions{})
	c := clientFor(t, srv, StartTLS, nil)
	for _, m := range []Message{
		{To: "taro@example.com\r\nBcc: x@evil.example", Subject: "s", Body: "b"},
		{To: "taro@example.com", Subject: "s\r\nBcc: x@evil.example", Body: "b"},
		{To: "not an address", Subject: "s", Body: "b"},
	} {
		if err := c.Send(context.Background(), m); err == nil {
			t.Errorf("Send(%q, %q) = nil, want an error", m.To, m.Subject)
		}
	}
}

func TestSendHonoursContext(t *testing.T) {
	srv := testenv.NewSMTPServer(t, testenv.SMTPOptions{})
	c := clientFor(t, srv, StartTLS, nil)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := c.Send(ctx, Message{To: "taro@example.com", Subject: "s", Body: "b\n"}); err == nil {
		t.Error("Send with an expired context = nil")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no host", func(c *Config) { c.Host = "" }, "host:"},
		{"no from", func(c *Config) { c.From = "" }, "from:"},
		{"bad from", func(c *Config) { c.From = "not an address" }, "from:"},
		{"bad tls", func(c *Config) { c.TLS = "ssl" }, "tls:"},
		{"plain to a remote host", func(c *Config) { c.TLS = NoTLS }, "tls: none"},
		{"plain to loopback", func(c *Config) { c.TLS, c.Host = NoTLS, "127.0.0.1" }, ""},
		{"user without password", func(c *Config) { c.Username = "u" }, "password:"},
		{"password without user", func(c *Config) { c.Password = secret.New("p") }, "username:"},
		{"timeout", func(c *Config) { c.Timeout = time.Millisecond }, "timeout:"},
		{"port", func(c *Config) { c.Port = 70000 }, "port:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Host: "smtp.example.ac.jp", From: "mfa@example.ac.jp"}
			tc.edit(&c)
			c.SetDefaults()
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("Validate = %v, want %s…", err, tc.want)
			}
		})
	}
}

func TestDefaultPorts(t *testing.T) {
	for mode, port := range map[string]int{StartTLS: 587, Implicit: 465, NoTLS: 25} {
		c := Config{TLS: mode}
		c.SetDefaults()
		if c.Port != port {
			t.Errorf("tls %s: port %d, want %d", mode, c.Port, port)
		}
	}
}

func TestConsolePrintsTheMail(t *testing.T) {
	var out strings.Builder
	if err := (Console{W: &out}).Send(context.Background(), Message{To: "taro@example.com", Subject: "確認コード", Body: "123456\n"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mail to taro@example.com", "Subject: 確認コード", "123456"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console output lacks %q:\n%s", want, out.String())
		}
	}
	if err := (Console{W: &out}).Send(context.Background(), Message{To: "nobody", Body: "x"}); err == nil {
		t.Error("console accepted a non-address")
	}
}
