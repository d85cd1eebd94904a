package twilio

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"kakunin/internal/secret"
)

// Config is the Twilio section of the configuration file:
//
//	sms:
//	  provider: twilio
//	  twilio:
//	    account_sid: AC0123456789abcdef0123456789abcdef
//	    auth_token: {file: /etc/kakunin/twilio.token}
//	    from: "+815012345678"            # a Twilio number, E.164
//	    # messaging_service_sid: MG0123456789abcdef0123456789abcdef  # instead of from
//	    timeout: 10s
//
// Give exactly one of from and messaging_service_sid. A messaging service
// is the way to send from an alphanumeric sender ID or a pool of numbers;
// from takes only an E.164 number.
type Config struct {
	AccountSID          string        `yaml:"account_sid"`
	AuthToken           secret.Secret `yaml:"auth_token"`
	From                string        `yaml:"from"`
	MessagingServiceSID string        `yaml:"messaging_service_sid"`
	// BaseURL is Twilio's API root; tests point it at an httptest.Server.
	BaseURL string        `yaml:"base_url"`
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultBaseURL is Twilio's REST API.
const DefaultBaseURL = "https://api.twilio.com"

// SetDefaults fills in every unset field.
func (c *Config) SetDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

var (
	accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
)

// Validate checks the section; errors name the key relative to it.
func (c *Config) Validate() error {
	switch {
	case c.AccountSID == "":
		return errors.New("account_sid: required")
	case !strings.HasPrefix(c.AccountSID, "AC"):
		return errors.New("account_sid: must start with AC")
	case !accountSID.MatchString(c.AccountSID):
		return errors.New("account_sid: must be AC followed by 32 hexadecimal digits")
	}
	if !c.AuthToken.IsSet() {
		return errors.New("auth_token: required")
	}
	switch {
	case c.From == "" && c.MessagingServiceSID == "":
		return errors.New("from, messaging_service_sid: give one of them")
	case c.From != "" && c.MessagingServiceSID != "":
		return errors.New("from, messaging_service_sid: give only one of them")
	case c.From != "" && !e164.MatchString(c.From):
		return fmt.Errorf("from: %q is not an E.164 number (+ country code and number, digits only)", c.From)
	case c.MessagingServiceSID != "" && !serviceSID.MatchString(c.MessagingServiceSID):
		return errors.New("messaging_service_sid: must be MG followed by 32 hexadecimal digits")
	}
	if err := checkBaseURL(c.BaseURL); err != nil {
		return fmt.Errorf("base_url: %w", err)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	}
	return nil
}

// checkBaseURL refuses plain HTTP beyond this machine (the auth token rides
// in every request) and credentials in the URL (they would be printed by
// check-config; the token belongs in auth_token).
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return errors.New("must not hold credentials (use account_sid and auth_token)")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not have a query or fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return errors.New("must be https:// (plain http only to a loopback address)")
	}
	return fmt.Errorf("scheme %q is not https", u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
