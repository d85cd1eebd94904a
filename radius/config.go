package radius

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"layeh.com/radius"

	"kakunin/challenge"
	"kakunin/internal/secret"
)

// Config is the "radius" section of the configuration file. An example:
//
//	radius:
//	  listen: [":1812"]              # default; dual-stack where the host has IPv6
//	  accounting_listen: [":1813"]   # default; [] turns accounting off
//	  max_in_flight: 1024
//	  request_timeout: 90s
//	  retransmit_window: 90s         # at least the gateway's RADIUS timeout
//	  clients:
//	    - name: vpn-gw1
//	      addresses: ["192.0.2.10", "2001:db8::10"]
//	      secret: {file: /etc/kakunin/vpn-gw1.secret}
//	      mfa: required                       # or optional: no enrolment, password only
//	      unavailable: reject                 # or drop: stay silent so the NAS fails over
//	      reply_attributes:
//	        - {name: Class, value: "kakunin"}
//	    - name: office-switches
//	      addresses: ["10.20.0.0/16"]
//	      secret: {env: KAKUNIN_SWITCH_SECRET}
//	  group_attributes:
//	    - group: vpn-admins                   # or the group's full DN
//	      attributes:
//	        - {name: Fortinet-Group-Name, value: admins}
//	        - {name: Vendor-Specific:9:1, value: "shell:priv-lvl=15"}
//
// Listen addresses are host:port with an IP literal or an empty host. On a
// host with several addresses, list the address the NAS devices are
// configured with rather than a wildcard: a reply to a wildcard socket
// leaves from whatever address the kernel picks, and a NAS discards replies
// from an address it did not send to.
type Config struct {
	// Listen are the UDP addresses for Access-Request and Status-Server.
	// Default [":1812"]: one socket that takes IPv4 and IPv6 where the host
	// has IPv6, and IPv4 alone where it has not.
	Listen []string `yaml:"listen"`
	// AccountingListen are the UDP addresses for Accounting-Request. Left
	// out, it defaults to [":1813"]: NAS devices configured for accounting
	// retransmit and log errors when nobody answers. An explicit empty list
	// ([]) turns the accounting listener off.
	AccountingListen []string `yaml:"accounting_listen"`
	// MaxInFlight is how many decisions may run at once. Requests beyond it
	// are dropped (and counted): the NAS retransmits, and a retransmit
	// arriving after capacity frees up is decided then. Default 1024.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxHeld is how many requests may be held at once waiting for a push
	// or a call to be approved. A held request does not count against
	// max_in_flight: it costs a goroutine and a few kilobytes. Beyond
	// it the user is told the service is busy. Default 20000.
	MaxHeld int `yaml:"max_held"`
	// RequestTimeout bounds one decision. Push and voice methods hold a
	// request for up to 60 s, so the default is 90s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// RetransmitWindow is how long a response is kept for retransmits of
	// its request (RFC 5080). Default 90s, the default request_timeout;
	// at least 30s. Set it to no less than the RADIUS timeout configured
	// on the gateways (60 s or more, so that push and voice methods have
	// time): a gateway whose answer was lost retransmits only after that
	// timeout, and a retransmit that finds the response expired is decided
	// again, when the State or one-time code the first decision consumed
	// is spent, so the user who was just accepted is rejected. A longer
	// window costs only memory, which the cache bounds.
	RetransmitWindow time.Duration `yaml:"retransmit_window"`
	// Clients are the NAS devices allowed to talk to kakunin.
	Clients []ClientConfig `yaml:"clients"`
	// GroupAttributes add reply attributes to an Access-Accept for members
	// of directory groups.
	GroupAttributes []GroupAttributes `yaml:"group_attributes"`
}

// ClientConfig is one NAS, or a group of NAS devices sharing a secret.
type ClientConfig struct {
	// Name labels the client in logs and metrics and is handed to the flow.
	Name string `yaml:"name"`
	// Addresses are IP addresses or CIDR prefixes (IPv4 or IPv6). A packet
	// belongs to the client with the longest matching prefix, so a /32 can
	// carve one device out of a subnet configured for others.
	Addresses []string `yaml:"addresses"`
	// Secret is the RADIUS shared secret. It must not be empty; one shorter
	// than 16 characters is accepted with a warning (RFC 2865 section 3).
	Secret secret.Secret `yaml:"secret"`
	// RequireMessageAuthenticator drops Access-Requests without a
	// Message-Authenticator. Default true: without it an on-path attacker
	// can forge an Access-Accept (BlastRADIUS, CVE-2024-3596). Turn it off
	// only for a NAS that cannot send one, and plan to replace it.
	RequireMessageAuthenticator *bool `yaml:"require_message_authenticator"`
	// MFA is "required" (default) or "optional": optional lets users with
	// no enrolled method in on their password alone.
	MFA string `yaml:"mfa"`
	// Unavailable is what the NAS gets when the directory or the store is
	// down: "reject" (default) tells the user, "drop" answers nothing so
	// the NAS fails over to another RADIUS server.
	Unavailable string `yaml:"unavailable"`
	// MethodSelection is "menu" (default): a user with several methods
	// chooses from a numbered list in the first challenge; or "default":
	// the user's default method is always used, as gateways whose prompt
	// cannot show a menu need.
	MethodSelection string `yaml:"method_selection"`
	// PasswordSuffix (off by default) accepts the second factor typed
	// after the password, for gateways that cannot show a challenge:
	// "password,123456" or "password,sms". A password that itself
	// contains a comma still works: the whole string is tried first.
	PasswordSuffix bool `yaml:"password_suffix"`
	// ReplyAttributes go into every Access-Accept sent to this client.
	ReplyAttributes []Attribute `yaml:"reply_attributes"`
}

// Attribute is a reply attribute by dictionary name, e.g.
// {name: Session-Timeout, value: "28800"}. Names are the FreeRADIUS
// dictionary names (case-insensitive) of the attributes in attributes.go,
// or Vendor-Specific:<vendor-id>:<vendor-type> for any other vendor
// attribute, whose value is sent as text, or as octets when written 0x….
type Attribute struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// GroupAttributes are reply attributes for the members of one directory
// group. Group matches a user's group case-insensitively, either its full
// DN or the value of its first RDN ("vpn-staff" matches
// "cn=vpn-staff,ou=groups,dc=example,dc=org").
type GroupAttributes struct {
	Group      string      `yaml:"group"`
	Attributes []Attribute `yaml:"attributes"`
}

// Defaults.
const (
	DefaultMaxInFlight      = 1024
	DefaultMaxHeld          = 20000
	DefaultRequestTimeout   = 90 * time.Second
	DefaultRetransmitWindow = 90 * time.Second
	// MinRetransmitWindow is the shortest retransmit_window Validate
	// accepts: a NAS's RADIUS timeout is rarely shorter.
	MinRetransmitWindow = 30 * time.Second

	MFARequired       = "required"
	MFAOptional       = "optional"
	UnavailableReject = "reject"
	UnavailableDrop   = "drop"
	SelectionMenu     = "menu"
	SelectionDefault  = "default"
)

// SetDefaults fills in what the configuration left out. Call it before
// Validate.
func (c *Config) SetDefaults() {
	if c.Listen == nil {
		c.Listen = []string{":1812"}
	}
	if c.AccountingListen == nil {
		c.AccountingListen = []string{":1813"}
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxHeld == 0 {
		c.MaxHeld = DefaultMaxHeld
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.RetransmitWindow == 0 {
		c.RetransmitWindow = DefaultRetransmitWindow
	}
	for i := range c.Clients {
		cl := &c.Clients[i]
		if cl.RequireMessageAuthenticator == nil {
			t := true
			cl.RequireMessageAuthenticator = &t
		}
		if cl.MFA == "" {
			cl.MFA = MFARequired
		}
		if cl.Unavailable == "" {
			cl.Unavailable = UnavailableReject
		}
		if cl.MethodSelection == "" {
			cl.MethodSelection = SelectionMenu
		}
	}
}

// Validate checks the configuration after SetDefaults. It reports every
// problem at once, one per line, each naming its key relative to the
// section (clients[1].addresses[0]: …), and resolves every reply attribute,
// so a typo fails at start-up rather than in a user's VPN login.
func (c *Config) Validate() error {
	_, err := c.compile()
	return err
}

// client is a ClientConfig resolved for the hot path.
type client struct {
	name       string
	secret     []byte
	requireMA  bool
	policy     challenge.Policy
	replyAttrs radius.Attributes
	shortKey   bool // secret shorter than RFC 2865 recommends
}

// compiled is a validated configuration in the form the server uses.
type compiled struct {
	clients *clientTable
	list    []*client
	groups  []groupRule
}

func (c *Config) compile() (*compiled, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if len(c.Listen) == 0 {
		bad("listen", "empty; give at least one address such as \":1812\"")
	}
	for i, a := range c.Listen {
		if err := checkListenAddr(a); err != nil {
			bad(fmt.Sprintf("listen[%d]", i), "%v", err)
		}
	}
	for i, a := range c.AccountingListen {
		if err := checkListenAddr(a); err != nil {
			bad(fmt.Sprintf("accounting_listen[%d]", i), "%v", err)
		}
	}
	if c.MaxInFlight < 1 {
		bad("max_in_flight", "must be at least 1, not %d", c.MaxInFlight)
	}
	if c.MaxHeld < 1 {
		bad("max_held", "must be at least 1, not %d", c.MaxHeld)
	}
	if c.RequestTimeout <= 0 {
		bad("request_timeout", "must be positive, not %s", c.RequestTimeout)
	}
	if c.RetransmitWindow < MinRetransmitWindow {
		bad("retransmit_window", "must be at least %s (and no less than the gateways' RADIUS timeout), not %s",
			MinRetransmitWindow, c.RetransmitWindow)
	}

	out := &compiled{clients: &clientTable{}}
	if len(c.Clients) == 0 {
		bad("clients", "empty; without a client every packet is dropped")
	}
	names := map[string]int{}
	owner := map[netip.Prefix]string{}
	for i, cc := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		cl := &client{name: cc.Name}
		switch {
		case cc.Name == "":
			bad(key+".name", "empty")
		case strings.TrimSpace(cc.Name) != cc.Name:
			bad(key+".name", "%q has leading or trailing spaces", cc.Name)
		default:
			if j, dup := names[cc.Name]; dup {
				bad(key+".name", "%q is also clients[%d].name", cc.Name, j)
			}
			names[cc.Name] = i
		}
		if len(cc.Addresses) == 0 {
			bad(key+".addresses", "empty")
		}
		for j, a := range cc.Addresses {
			akey := fmt.Sprintf("%s.addresses[%d]", key, j)
			p, err := parseClientPrefix(a)
			if err != nil {
				bad(akey, "%v", err)
				continue
			}
			if prev, dup := owner[p]; dup {
				bad(akey, "%s is also %s", p, prev)
				continue
			}
			owner[p] = akey
			out.clients.add(p, cl)
		}
		if !cc.Secret.IsSet() {
			bad(key+".secret", "empty")
		}
		cl.secret = []byte(cc.Secret.Value())
		cl.shortKey = len(cl.secret) < 16
		cl.requireMA = cc.RequireMessageAuthenticator == nil || *cc.RequireMessageAuthenticator
		switch cc.MFA {
		case MFARequired, "":
		case MFAOptional:
			cl.policy.MFAOptional = true
		default:
			bad(key+".mfa", "%q is not %s or %s", cc.MFA, MFARequired, MFAOptional)
		}
		switch cc.Unavailable {
		case UnavailableReject, "":
		case UnavailableDrop:
			cl.policy.DropWhenUnavailable = true
		default:
			bad(key+".unavailable", "%q is not %s or %s", cc.Unavailable, UnavailableReject, UnavailableDrop)
		}
		cl.policy.PasswordSuffix = cc.PasswordSuffix
		switch cc.MethodSelection {
		case SelectionMenu, "":
		case SelectionDefault:
			cl.policy.DefaultMethodOnly = true
		default:
			bad(key+".method_selection", "%q is not %s or %s", cc.MethodSelection, SelectionMenu, SelectionDefault)
		}
		attrs, aerrs := resolveAttributes(key+".reply_attributes", cc.ReplyAttributes)
		errs = append(errs, aerrs...)
		cl.replyAttrs = attrs
		out.list = append(out.list, cl)
	}

	for i, g := range c.GroupAttributes {
		key := fmt.Sprintf("group_attributes[%d]", i)
		if strings.TrimSpace(g.Group) == "" {
			bad(key+".group", "empty")
		}
		if len(g.Attributes) == 0 {
			bad(key+".attributes", "empty")
		}
		attrs, aerrs := resolveAttributes(key+".attributes", g.Attributes)
		errs = append(errs, aerrs...)
		out.groups = append(out.groups, groupRule{group: strings.TrimSpace(g.Group), attrs: attrs})
	}

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func resolveAttributes(key string, list []Attribute) (radius.Attributes, []error) {
	var attrs radius.Attributes
	var errs []error
	for i, a := range list {
		k := fmt.Sprintf("%s[%d]", key, i)
		d, err := lookupAttribute(a.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.name: %w", k, err))
			continue
		}
		avp, err := d.encode(a.Value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.value: %s: %w", k, d.name, err))
			continue
		}
		attrs = append(attrs, avp)
	}
	return attrs, errs
}

// checkListenAddr accepts host:port with an IP literal or empty host.
// Hostnames are refused so that start-up does not depend on DNS.
func checkListenAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: host must be an IP address or empty", a)
		}
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", a)
	}
	return nil
}
