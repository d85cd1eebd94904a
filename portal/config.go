package portal

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"kakunin/portal/mail"
)

// Config is the portal's section of the configuration file ("portal"):
//
//	portal:
//	  listen: "0.0.0.0:8443"          # empty: no portal
//	  public_url: https://mfa.example.ac.jp/
//	  tls_cert_file: /etc/kakunin/portal.crt   # both or neither; without them,
//	  tls_key_file: /etc/kakunin/portal.key    # put a TLS proxy in front
//	  session_idle: 15m               # signed out after this long without a request
//	  session_max: 8h                 # and this long after signing in, whatever happens
//	  step_up: 10m                    # a change needs a code verified this recently
//	  push_services:                  # push-capable apps: the push services (host
//	    - fcm.googleapis.com          # names and their subdomains) a browser's
//	    - push.apple.com              # subscription may name; the default is the
//	                                  # services of Chrome, Firefox, Safari and Edge
type Config struct {
	Listen      string        `yaml:"listen"`
	PublicURL   string        `yaml:"public_url"`
	TLSCertFile string        `yaml:"tls_cert_file"`
	TLSKeyFile  string        `yaml:"tls_key_file"`
	SessionIdle time.Duration `yaml:"session_idle"`
	SessionMax  time.Duration `yaml:"session_max"`
	StepUp      time.Duration `yaml:"step_up"`
	// PushServices keeps kakunin from posting to whatever host a signed-in
	// user's page names as its push endpoint (an internal address, say).
	PushServices []string `yaml:"push_services"`
	// SMTP sends the code that verifies a notification email, and the
	// notifications; nil: users cannot register an email.
	SMTP *mail.Config `yaml:"smtp"`
	// OwnMailDomains are the university's own mail domains (and their
	// subdomains): notifications should reach the user even when the
	// university account is the one misused.
	OwnMailDomains []string `yaml:"own_mail_domains"`
}

// DefaultPushServices are the push services of the browsers users have:
// Chrome, Samsung Internet and Opera (FCM), Firefox (Mozilla autopush),
// Safari (Apple), Edge (WNS).
var DefaultPushServices = []string{
	"fcm.googleapis.com", "android.googleapis.com",
	"updates.push.services.mozilla.com", "push.apple.com", "notify.windows.com",
}

// SetDefaults fills in every unset field.
func (c *Config) SetDefaults() {
	if c.SessionIdle == 0 {
		c.SessionIdle = 15 * time.Minute
	}
	if c.SessionMax == 0 {
		c.SessionMax = 8 * time.Hour
	}
	if c.StepUp == 0 {
		c.StepUp = 10 * time.Minute
	}
	if c.PushServices == nil {
		c.PushServices = DefaultPushServices
	}
	if c.SMTP != nil {
		c.SMTP.SetDefaults()
	}
}

// Enabled reports whether the portal is to be started.
func (c *Config) Enabled() bool { return c.Listen != "" }

// Validate checks the section; errors name the key relative to it.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("tls_cert_file, tls_key_file: give both or neither")
	}
	var public *url.URL
	if c.PublicURL != "" {
		public, err = url.Parse(c.PublicURL)
		if err != nil || (public.Scheme != "https" && public.Scheme != "http") || public.Host == "" {
			return fmt.Errorf("public_url: %q is not an http(s) URL", c.PublicURL)
		}
	}
	if !c.TLS() && !isLoopback(host) && (public == nil || public.Scheme != "https") {
		return fmt.Errorf("public_url: the portal listens on plain HTTP on %s, which is not a loopback address: "+
			"set tls_cert_file and tls_key_file, or put a TLS proxy in front and set public_url to its https:// address", c.Listen)
	}
	if c.SessionIdle < time.Minute || c.SessionIdle > 24*time.Hour {
		return fmt.Errorf("session_idle: %s is outside 1m..24h", c.SessionIdle)
	}
	if c.SessionMax < c.SessionIdle || c.SessionMax > 7*24*time.Hour {
		return fmt.Errorf("session_max: %s is outside session_idle..168h", c.SessionMax)
	}
	if c.StepUp < time.Minute || c.StepUp > time.Hour {
		return fmt.Errorf("step_up: %s is outside 1m..1h", c.StepUp)
	}
	for i, h := range c.PushServices {
		if _, _, ok := pushService(h); !ok {
			return fmt.Errorf("push_services[%d]: %q is not a host name, or host:port for a service off port 443 (no scheme or path)", i, h)
		}
	}
	if c.SMTP != nil {
		if err := c.SMTP.Validate(); err != nil {
			return fmt.Errorf("smtp.%w", err)
		}
	}
	for i, d := range c.OwnMailDomains {
		if d == "" || strings.ContainsAny(d, "/:@ ") || !strings.Contains(d, ".") {
			return fmt.Errorf("own_mail_domains[%d]: %q is not a domain (example.ac.jp)", i, d)
		}
	}
	return nil
}

// ownMailDomain reports whether addr is at one of own_mail_domains or a
// subdomain of one.
func (c *Config) ownMailDomain(addr string) bool {
	domain := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
	for _, d := range c.OwnMailDomains {
		d = strings.ToLower(d)
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}

// pushServiceAllowed reports whether a subscription's endpoint is at one
// of push_services or a subdomain of one, on its port: https on 443 (the
// browsers' push services all are) unless the entry names another port.
// Plain http is left for a push service on a loopback address (tests),
// and then only on the port its entry names.
func (c *Config) pushServiceAllowed(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.User != nil || u.Opaque != "" || u.Host == "" {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	switch {
	case u.Scheme == "https" && port == "":
		port = "443"
	case u.Scheme == "http" && isLoopback(host) && port == "":
		port = "80"
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(host)):
		return false
	}
	for _, entry := range c.PushServices {
		h, p, ok := pushService(entry)
		if ok && port == p && (host == h || strings.HasSuffix(host, "."+h)) {
			return true
		}
	}
	return false
}

// pushService reads an entry of push_services: a host name (port 443)
// or host:port.
func pushService(entry string) (host, port string, ok bool) {
	host, port = entry, "443"
	if strings.Contains(entry, ":") {
		h, p, err := net.SplitHostPort(entry)
		n, perr := strconv.Atoi(p)
		if err != nil || perr != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return "", "", false
		}
		host, port = h, p
	}
	if host == "" || strings.ContainsAny(host, "/:@ []") {
		return "", "", false
	}
	return strings.ToLower(host), port, true
}

// TLS reports whether the portal serves HTTPS itself.
func (c *Config) TLS() bool { return c.TLSCertFile != "" }

// secureCookies: cookies are Secure (and __Host-) unless the portal is a
// plain-HTTP development server on a loopback address.
func (c *Config) secureCookies() bool {
	if c.TLS() {
		return true
	}
	if u, err := url.Parse(c.PublicURL); err == nil && u.Scheme == "https" {
		return true
	}
	host, _, _ := net.SplitHostPort(c.Listen)
	return !isLoopback(host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
