package ldapauth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"kakunin/internal/secret"
)

// Config is the "ldap" section of kakunin's configuration. An example for
// OpenLDAP, with a fail-over replica and a required group:
//
//	ldap:
//	  urls: [ldaps://ldap1.example.ac.jp, ldaps://ldap2.example.ac.jp]
//	  ca_file: /etc/kakunin/ldap-ca.pem
//	  bind_dn: cn=kakunin,ou=services,dc=example,dc=ac,dc=jp
//	  bind_password: {file: /etc/kakunin/ldap-bind.secret}
//	  base_dn: ou=people,dc=example,dc=ac,dc=jp
//	  user_filter: (&(objectClass=inetOrgPerson)(uid=%s))
//	  required_group: cn=vpn-staff,ou=groups,dc=example,dc=ac,dc=jp
//	  attributes:
//	    mail: mail
//	    phone: telephoneNumber
//	  timeout: 5s
//	  dn_cache_ttl: 10m
//
// For Active Directory over StartTLS, binding with the user principal name
// so a login needs no search at all:
//
//	ldap:
//	  urls: [ldap://dc1.example.ac.jp, ldap://dc2.example.ac.jp]
//	  start_tls: true
//	  ca_file: /etc/kakunin/ad-ca.pem
//	  bind_dn: CN=svc-kakunin,OU=Service Accounts,DC=example,DC=ac,DC=jp
//	  bind_password: {env: KAKUNIN_LDAP_PASSWORD}
//	  base_dn: DC=example,DC=ac,DC=jp
//	  user_filter: (&(objectClass=user)(sAMAccountName=%s))
//	  bind_template: "%s@example.ac.jp"
//	  required_group: CN=VPN Users,OU=Groups,DC=example,DC=ac,DC=jp
//
// SetDefaults fills the fields left unset (zero), so it may run before or
// after decoding.
type Config struct {
	// URLs are the directory servers, ldap:// or ldaps://, tried in order:
	// a server that fails is skipped for a short back-off while the next
	// one serves.
	URLs []string `yaml:"urls"`
	// StartTLS upgrades ldap:// connections with the StartTLS operation.
	StartTLS bool `yaml:"start_tls"`
	// InsecureNoTLS allows ldap:// without start_tls to a host other than
	// the loopback address. Passwords then cross the network in clear.
	InsecureNoTLS bool `yaml:"insecure_no_tls"`
	// CAFile holds the PEM certificates that sign the servers'
	// certificates; empty means the system's roots.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked in the servers' certificates
	// (default: the host of each URL).
	ServerName string `yaml:"server_name"`

	// BindDN and BindPassword are the service account that searches for
	// users, reads entries a user may not read itself, and checks
	// readiness.
	BindDN       string        `yaml:"bind_dn"`
	BindPassword secret.Secret `yaml:"bind_password"`

	// BaseDN is where user searches start (whole subtree).
	BaseDN string `yaml:"base_dn"`
	// UserFilter finds a user's entry; %s, which must appear exactly once,
	// is replaced by the escaped user name.
	UserFilter string `yaml:"user_filter"`
	// BindTemplate, if set, is the bind name of a user, with %s replaced by
	// the user name: a DN such as "uid=%s,ou=people,dc=example,dc=ac,dc=jp"
	// (the name is escaped for a DN) or an Active Directory principal: a
	// user principal name such as "%s@example.ac.jp" or a down-level logon
	// name such as "EXAMPLE\%s" (names with characters that could change
	// the principal are refused). Logins then bind directly, without a
	// search before the bind.
	//
	// With a DN, user_filter no longer restricts who may log in: use
	// required_group for that. Groups and attributes are read from the DN
	// after the bind, as the service account.
	//
	// With a principal name, the groups and attributes are read after the
	// bind, as the service account, from the one entry that matches both
	// user_filter and the principal: (userPrincipalName=<bind name>), or
	// (sAMAccountName=<user>) for a down-level name. Active Directory does
	// not guarantee that the account user_filter finds is the one the bind
	// authenticated; a login whose bound principal is not the entry
	// user_filter finds is refused as invalid credentials (and logged), so
	// every account that logs in needs its userPrincipalName set to the
	// bind name (the implicit sAMAccountName@domain principal is not
	// enough). Without a required group, groups or attributes to read there
	// is no read, and user_filter is not consulted.
	BindTemplate string `yaml:"bind_template"`

	// RequiredGroup is the DN of a group a user must be a member of
	// (through GroupAttribute on the user's entry); empty means any user
	// with the right password.
	RequiredGroup string `yaml:"required_group"`
	// GroupAttribute is the attribute of a user's entry that lists the DNs
	// of its groups.
	GroupAttribute string `yaml:"group_attribute"`
	// Attributes maps kakunin's names (mail, phone, …) to the attributes
	// of the user's entry to read them from.
	Attributes map[string]string `yaml:"attributes"`

	// DialTimeout bounds connecting to a server, TLS included.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// Timeout bounds every LDAP operation, and waiting for a pooled
	// connection.
	Timeout time.Duration `yaml:"timeout"`
	// PoolSize is the most connections kept open for each of the two
	// pools: one bound as the service account, one for users' binds.
	PoolSize int `yaml:"pool_size"`
	// DNCacheTTL is how long a user's DN, once found, is used without
	// searching again. A cached DN is re-checked when a bind with it
	// fails, so a renamed or moved entry is found at once. A login that
	// reads groups or attributes (required_group, attributes, per-group
	// reply attributes) reads the cached DN as the service account with
	// user_filter, so a user who stops matching user_filter is refused at
	// once; a login that reads nothing still logs in such a user until the
	// entry expires.
	// A name no entry matches is remembered as unknown for as long, so
	// that trying it again costs the directory what a cached user's wrong
	// password costs (a bind, then a search); a user added meanwhile is
	// found by that search and logs in at once.
	// A negative value (-1s) disables the cache: every login searches.
	// (Zero disables it too, but SetDefaults replaces zero by the default,
	// like any unset field.)
	DNCacheTTL time.Duration `yaml:"dn_cache_ttl"`
	// DNCacheSize bounds the number of cached DNs, and separately the
	// number of names remembered as unknown (so that made-up names cannot
	// evict real users' DNs).
	DNCacheSize int `yaml:"dn_cache_size"`

	// NeedGroups makes Authenticate return the user's groups even without
	// a RequiredGroup. It is not configuration: the caller sets it when
	// something else depends on groups (per-group reply attributes).
	NeedGroups bool `yaml:"-"`
}

// Defaults.
const (
	DefaultUserFilter     = "(&(objectClass=inetOrgPerson)(uid=%s))"
	DefaultGroupAttribute = "memberOf"
	DefaultDialTimeout    = 5 * time.Second
	DefaultTimeout        = 5 * time.Second
	DefaultPoolSize       = 8
	DefaultDNCacheTTL     = 10 * time.Minute
	DefaultDNCacheSize    = 100_000
)

// SetDefaults sets every optional field that is unset to its default.
func (c *Config) SetDefaults() {
	if c.UserFilter == "" {
		c.UserFilter = DefaultUserFilter
	}
	if c.GroupAttribute == "" {
		c.GroupAttribute = DefaultGroupAttribute
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.DNCacheTTL == 0 {
		c.DNCacheTTL = DefaultDNCacheTTL
	}
	if c.DNCacheSize == 0 {
		c.DNCacheSize = DefaultDNCacheSize
	}
}

// attributeName is an attribute description: a name or an OID, with
// options (RFC 4512 section 2.5).
var attributeName = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

// Validate checks the configuration. Each problem is reported on a line of
// its own, prefixed by its key relative to the section
// ("urls[1]: scheme must be ldap or ldaps").
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if len(c.URLs) == 0 {
		bad("urls", "required")
	}
	for i, raw := range c.URLs {
		key := fmt.Sprintf("urls[%d]", i)
		u, err := parseServerURL(raw)
		if err != nil {
			bad(key, "%v", err)
			continue
		}
		switch {
		case u.Scheme == "ldaps" && c.StartTLS:
			bad(key, "ldaps:// cannot be combined with start_tls (use ldap:// with start_tls, or ldaps:// alone)")
		case u.Scheme == "ldap" && !c.StartTLS && !c.InsecureNoTLS && !isLoopback(u.Hostname()):
			bad(key, "ldap:// without start_tls sends passwords in clear: set start_tls, use ldaps://, or set insecure_no_tls")
		}
	}
	if c.CAFile != "" {
		if _, err := loadCAFile(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}

	if c.BindDN == "" {
		bad("bind_dn", "required")
	} else if _, err := ldap.ParseDN(c.BindDN); err != nil {
		bad("bind_dn", "not a DN: %v", err)
	}
	if !c.BindPassword.IsSet() {
		bad("bind_password", "required (an empty password would be an unauthenticated bind)")
	}
	if c.BaseDN == "" {
		bad("base_dn", "required")
	} else if _, err := ldap.ParseDN(c.BaseDN); err != nil {
		bad("base_dn", "not a DN: %v", err)
	}

	if strings.Count(c.UserFilter, "%s") != 1 {
		bad("user_filter", "must contain %%s exactly once")
	} else if _, err := ldap.CompileFilter(strings.Replace(c.UserFilter, "%s", "x", 1)); err != nil {
		bad("user_filter", "not a filter: %v", err)
	}
	if c.BindTemplate != "" {
		if strings.Count(c.BindTemplate, "%s") != 1 {
			bad("bind_template", "must contain %%s exactly once")
		} else if isDNTemplate(c.BindTemplate) {
			if _, err := ldap.ParseDN(strings.Replace(c.BindTemplate, "%s", "x", 1)); err != nil {
				bad("bind_template", "not a DN: %v", err)
			}
		} else if !isPrincipalTemplate(c.BindTemplate) {
			bad("bind_template", `must be a DN, a user principal name ("%%s@example.ac.jp") or a down-level logon name ("EXAMPLE\%%s")`)
		}
	}

	if c.RequiredGroup != "" {
		if _, err := ldap.ParseDN(c.RequiredGroup); err != nil {
			bad("required_group", "not a DN: %v", err)
		}
	}
	if !attributeName.MatchString(c.GroupAttribute) {
		bad("group_attribute", "%q is not an attribute name", c.GroupAttribute)
	}
	for name, attr := range c.Attributes {
		if name == "" {
			bad("attributes", "empty name")
		}
		if !attributeName.MatchString(attr) {
			bad("attributes."+name, "%q is not an attribute name", attr)
		}
	}

	if c.DialTimeout <= 0 {
		bad("dial_timeout", "must be positive")
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive")
	}
	if c.PoolSize < 1 {
		bad("pool_size", "must be at least 1")
	}
	if c.DNCacheTTL > 0 && c.DNCacheSize < 1 {
		bad("dn_cache_size", "must be at least 1 when dn_cache_ttl is set")
	}
	return errors.Join(errs...)
}

// parseServerURL accepts scheme://host[:port] with scheme ldap or ldaps.
func parseServerURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ldap" && u.Scheme != "ldaps" {
		return nil, errors.New("scheme must be ldap or ldaps")
	}
	if u.Hostname() == "" {
		return nil, errors.New("host required")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("must be scheme://host[:port], without a DN or other parts")
	}
	if p := u.Port(); p == "" {
		if u.Scheme == "ldaps" {
			u.Host = net.JoinHostPort(u.Hostname(), ldap.DefaultLdapsPort)
		} else {
			u.Host = net.JoinHostPort(u.Hostname(), ldap.DefaultLdapPort)
		}
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isDNTemplate tells a DN template ("uid=%s,ou=people,…") from a principal
// name template ("%s@example.ac.jp", "EXAMPLE\%s").
func isDNTemplate(t string) bool { return strings.Contains(t, "=") }

// isPrincipalTemplate accepts the Active Directory principal names whose
// account readAfterBind can find: "%s@domain" (or a prefix or suffix
// around %s before the @) and "DOMAIN\%s".
func isPrincipalTemplate(t string) bool {
	before, after, _ := strings.Cut(t, "%s")
	if at := strings.LastIndexByte(after, '@'); at >= 0 {
		return !strings.ContainsAny(before, "@\\") && at < len(after)-1
	}
	domain, ok := strings.CutSuffix(before, "\\")
	return ok && after == "" && domain != "" && !strings.ContainsAny(domain, "@\\")
}

func loadCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificates", path)
	}
	return pool, nil
}
