package callback

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/internal/secret"
)

func TestTokenNamesOneApprovalPurposeAndExpiry(t *testing.T) {
	s := NewSigner("https://mfa.example.ac.jp/kakunin/", []byte("0123456789abcdef0123456789abcdef"))
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Minute)
	u := s.URL(challenge.CallbackPush, "APPROVAL1", exp)
	prefix := "https://mfa.example.ac.jp/kakunin/v1/push/"
	if !strings.HasPrefix(u, prefix) {
		t.Fatalf("URL %q, want it under %q", u, prefix)
	}
	tok := strings.TrimPrefix(u, prefix)
	if id, err := s.verify(challenge.CallbackPush, tok, now); err != nil || id != "APPROVAL1" {
		t.Fatalf("verify = %q, %v", id, err)
	}
	other := NewSigner("https://mfa.example.ac.jp/kakunin", []byte("another key, another deployment!"))
	id, exp64, _ := strings.Cut(tok, ".")
	for name, check := range map[string]func() error{
		"another purpose": func() error { _, err := s.verify(challenge.CallbackApprove, tok, now); return err },
		"expired":         func() error { _, err := s.verify(challenge.CallbackPush, tok, exp); return err },
		"another key":     func() error { _, err := other.verify(challenge.CallbackPush, tok, now); return err },
		"another id":      func() error { _, err := s.verify(challenge.CallbackPush, "APPROVAL2."+exp64, now); return err },
		"later expiry": func() error {
			parts := strings.Split(tok, ".")
			_, err := s.verify(challenge.CallbackPush, id+".1900000000."+parts[2], now)
			return err
		},
		"truncated": func() error { _, err := s.verify(challenge.CallbackPush, tok[:len(tok)-1], now); return err },
		"empty":     func() error { _, err := s.verify(challenge.CallbackPush, "", now); return err },
	} {
		if check() == nil {
			t.Errorf("%s: token accepted", name)
		}
	}
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	good := Config{Listen: ":8444", PublicURL: "https://mfa.example.ac.jp/kakunin", SigningKey: secret.New(strings.Repeat("k", 32))}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	demo := good
	demo.PublicURL = "http://127.0.0.1:8081"
	if err := demo.Validate(); err != nil {
		t.Errorf("http on loopback (the demo): %v", err)
	}
	for want, mod := range map[string]func(*Config){
		"listen":        func(c *Config) { c.Listen = "" },
		"public_url":    func(c *Config) { c.PublicURL = "http://mfa.example.ac.jp" },
		"signing_key":   func(c *Config) { c.SigningKey = secret.New("short") },
		"tls_cert_file": func(c *Config) { c.TLSCertFile = "/etc/kakunin/tls.crt" },
	} {
		c := good
		mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Validate() = %v, want an error naming it", want, err)
		}
	}
}

// noDecider is a Decider for constructor tests; nothing calls it.
type noDecider struct{ Decider }

func TestNewRefusesAMissingLogger(t *testing.T) {
	s := NewSigner("https://mfa.example.ac.jp", []byte("0123456789abcdef0123456789abcdef"))
	if h, err := New(noDecider{}, s, Options{}, nil); err == nil || h != nil {
		t.Fatalf("New without a logger = %v, %v; want an error", h, err)
	}
	if _, err := New(noDecider{}, s, Options{}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("New with a logger: %v", err)
	}
}
