package mail

import (
	"fmt"
	"net"
	"net/mail"
	"strings"
	"time"

	"kakunin/internal/secret"
)

// Config is the SMTP section of the configuration file (portal.smtp):
//
//	smtp:
//	  host: smtp.example.ac.jp
//	  port: 587                  # default: 587 for starttls, 465 for tls, 25 for none
//	  from: "MFA portal <mfa-noreply@example.ac.jp>"
//	  username: mfa-noreply      # empty: no AUTH
//	  password: {file: /etc/kakunin/smtp.password}
//	  tls: starttls              # starttls (default), tls (implicit, port 465) or
//	                             # none (only to a loopback host: a local relay)
//	  timeout: 10s               # one whole message, connect to QUIT
//	  ca_file: /etc/kakunin/smtp-ca.pem   # optional: trust this CA instead of the system's
type Config struct {
	Host     string        `yaml:"host"`
	Port     int           `yaml:"port"`
	From     string        `yaml:"from"`
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
	TLS      string        `yaml:"tls"`
	Timeout  time.Duration `yaml:"timeout"`
	CAFile   string        `yaml:"ca_file"`
}

// TLS modes.
const (
	StartTLS = "starttls"
	Implicit = "tls"
	NoTLS    = "none"
)

// SetDefaults fills in every unset field.
func (c *Config) SetDefaults() {
	if c.TLS == "" {
		c.TLS = StartTLS
	}
	if c.Port == 0 {
		switch c.TLS {
		case Implicit:
			c.Port = 465
		case NoTLS:
			c.Port = 25
		default:
			c.Port = 587
		}
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate checks the section; errors name the key relative to it.
func (c *Config) Validate() error {
	if c.Host == "" || strings.ContainsAny(c.Host, "/:@ ") && net.ParseIP(c.Host) == nil {
		return fmt.Errorf("host: %q is not a host name or address", c.Host)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("port: %d is outside 1..65535", c.Port)
	}
	if c.From == "" {
		return fmt.Errorf("from: required (the sender address, e.g. mfa-noreply@example.ac.jp)")
	}
	if _, err := mail.ParseAddress(c.From); err != nil || strings.ContainsAny(c.From, "\r\n") {
		return fmt.Errorf("from: %q is not an address", c.From)
	}
	switch c.TLS {
	case StartTLS, Implicit:
	case NoTLS:
		if !loopback(c.Host) {
			return fmt.Errorf("tls: none is allowed only to a loopback host (a local relay), not %s", c.Host)
		}
	default:
		return fmt.Errorf("tls: %q is not starttls, tls or none", c.TLS)
	}
	if c.Username != "" && !c.Password.IsSet() {
		return fmt.Errorf("password: required with username")
	}
	if c.Username == "" && c.Password.IsSet() {
		return fmt.Errorf("username: required with password")
	}
	if strings.ContainsAny(c.Username, "\x00\r\n") {
		return fmt.Errorf("username: control characters")
	}
	if c.Timeout < time.Second || c.Timeout > 5*time.Minute {
		return fmt.Errorf("timeout: %s is outside 1s..5m", c.Timeout)
	}
	if c.CAFile != "" && c.TLS == NoTLS {
		return fmt.Errorf("ca_file: set, but tls is none")
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
