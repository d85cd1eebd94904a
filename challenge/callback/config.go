package callback

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"kakunin/internal/secret"
)

// Config is the callbacks section of the configuration file:
//
//	callbacks:
//	  listen: ":8443"
//	  public_url: https://mfa.example.ac.jp/kakunin   # what phones and providers reach
//	  signing_key: {file: /etc/kakunin/callback.key}  # at least 32 characters
//	  tls_cert_file: /etc/kakunin/tls.crt             # or terminate TLS in a proxy
//	  tls_key_file: /etc/kakunin/tls.key
//
// Several nodes share one signing key and one public URL (a load balancer
// in front of them): a callback decides the approval on whichever node it
// reaches.
type Config struct {
	Listen      string        `yaml:"listen"`
	PublicURL   string        `yaml:"public_url"`
	SigningKey  secret.Secret `yaml:"signing_key"`
	TLSCertFile string        `yaml:"tls_cert_file"`
	TLSKeyFile  string        `yaml:"tls_key_file"`
}

// MinKeyLen is the shortest signing key Validate accepts.
const MinKeyLen = 32

// Enabled reports whether the section is configured at all.
func (c *Config) Enabled() bool { return c.Listen != "" || c.PublicURL != "" }

// Validate checks the section; errors name the key relative to it.
func (c *Config) Validate() error {
	if c.Listen == "" {
		return errors.New("listen: required (host:port)")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if c.PublicURL == "" {
		return errors.New("public_url: required: the https URL phones and providers reach this listener at")
	}
	u, err := url.Parse(c.PublicURL)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("public_url: %q is not an absolute URL", c.PublicURL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("public_url: must not hold credentials, a query or a fragment")
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		return fmt.Errorf("public_url: %q must be https (http only on a loopback address, for the demo)", c.PublicURL)
	}
	if n := len(c.SigningKey.Value()); n < MinKeyLen {
		return fmt.Errorf("signing_key: %d characters; at least %d (e.g. openssl rand -base64 32)", n, MinKeyLen)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("tls_cert_file, tls_key_file: give both or neither")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
