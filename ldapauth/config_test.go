package ldapauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"kakunin/internal/secret"
	"kakunin/internal/testenv"
)

func validConfig() Config {
	var c Config
	c.SetDefaults()
	c.URLs = []string{"ldaps://ldap1.example.ac.jp", "ldaps://ldap2.example.ac.jp:1636"}
	c.BindDN = "cn=kakunin,ou=services,dc=example,dc=ac,dc=jp"
	c.BindPassword = secret.New("s3cret")
	c.BaseDN = "ou=people,dc=example,dc=ac,dc=jp"
	return c
}

func TestValidate(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"start_tls on ldap", func(c *Config) { c.URLs = []string{"ldap://dc1.example.ac.jp"}; c.StartTLS = true }, ""},
		{"ldap on loopback", func(c *Config) { c.URLs = []string{"ldap://127.0.0.1:3389", "ldap://localhost"} }, ""},
		{"ldap with insecure_no_tls", func(c *Config) { c.URLs = []string{"ldap://ldap.example.ac.jp"}; c.InsecureNoTLS = true }, ""},
		{"AD template", func(c *Config) {
			c.UserFilter = "(&(objectClass=user)(sAMAccountName=%s))"
			c.BindTemplate = "%s@example.ac.jp"
		}, ""},
		{"DN template", func(c *Config) { c.BindTemplate = "uid=%s,ou=people,dc=example,dc=ac,dc=jp" }, ""},
		{"down-level template", func(c *Config) { c.BindTemplate = `EXAMPLE\%s` }, ""},
		{"no cache", func(c *Config) { c.DNCacheTTL = -time.Second }, ""},
		{"no cache, no size", func(c *Config) { c.DNCacheTTL = -time.Second; c.DNCacheSize = 0 }, ""},
		{"attributes", func(c *Config) { c.Attributes = map[string]string{"phone": "telephoneNumber", "mail": "mail;lang-ja"} }, ""},

		{"no urls", func(c *Config) { c.URLs = nil }, "urls: required"},
		{"bad scheme", func(c *Config) { c.URLs = append(c.URLs, "http://ldap.example.ac.jp") }, "urls[2]: scheme must be ldap or ldaps"},
		{"no host", func(c *Config) { c.URLs = []string{"ldaps://"} }, "urls[0]: host required"},
		{"url with DN", func(c *Config) { c.URLs = []string{"ldaps://ldap.example.ac.jp/dc=example"} }, "urls[0]: must be scheme://host[:port]"},
		{"ldaps with start_tls", func(c *Config) { c.URLs = []string{"ldap://a.example", "ldaps://b.example"}; c.StartTLS = true }, "urls[1]: ldaps:// cannot be combined with start_tls"},
		{"clear text", func(c *Config) { c.URLs = []string{"ldap://ldap.example.ac.jp"} }, "urls[0]: ldap:// without start_tls"},
		{"ca_file missing", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, "ca_file: open /nonexistent/ca.pem"},
		{"ca_file not PEM", func(c *Config) { c.CAFile = notPEM }, "ca_file: " + notPEM + ": no PEM certificates"},
		{"no bind_dn", func(c *Config) { c.BindDN = "" }, "bind_dn: required"},
		{"bad bind_dn", func(c *Config) { c.BindDN = "kakunin" }, "bind_dn: not a DN"},
		{"no bind_password", func(c *Config) { c.BindPassword = secret.Secret{} }, "bind_password: required"},
		{"no base_dn", func(c *Config) { c.BaseDN = "" }, "base_dn: required"},
		{"filter without %s", func(c *Config) { c.UserFilter = "(uid=alice)" }, "user_filter: must contain %s exactly once"},
		{"filter with two %s", func(c *Config) { c.UserFilter = "(|(uid=%s)(mail=%s))" }, "user_filter: must contain %s exactly once"},
		{"filter malformed", func(c *Config) { c.UserFilter = "(&(uid=%s)" }, "user_filter: not a filter"},
		{"template without %s", func(c *Config) { c.BindTemplate = "uid=alice,dc=example" }, "bind_template: must contain %s exactly once"},
		{"template not a DN", func(c *Config) { c.BindTemplate = "uid=%s,,dc=example" }, "bind_template: not a DN"},
		{"template a bare name", func(c *Config) { c.BindTemplate = "%s" }, "bind_template: must be a DN, a user principal name"},
		{"template without domain", func(c *Config) { c.BindTemplate = "%s@" }, "bind_template: must be a DN, a user principal name"},
		{"template with domain first", func(c *Config) { c.BindTemplate = `EXAMPLE\%s@x` }, "bind_template: must be a DN, a user principal name"},
		{"template down-level with suffix", func(c *Config) { c.BindTemplate = `EXAMPLE\%s-adm` }, "bind_template: must be a DN, a user principal name"},
		{"bad required_group", func(c *Config) { c.RequiredGroup = "vpn-staff" }, "required_group: not a DN"},
		{"bad group_attribute", func(c *Config) { c.GroupAttribute = "member of" }, `group_attribute: "member of" is not an attribute name`},
		{"bad attribute", func(c *Config) { c.Attributes = map[string]string{"phone": "(tel)"} }, `attributes.phone: "(tel)" is not an attribute name`},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "timeout: must be positive"},
		{"zero dial_timeout", func(c *Config) { c.DialTimeout = 0 }, "dial_timeout: must be positive"},
		{"zero pool", func(c *Config) { c.PoolSize = 0 }, "pool_size: must be at least 1"},
		{"zero cache size", func(c *Config) { c.DNCacheSize = 0 }, "dn_cache_size: must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

// A negative dn_cache_ttl survives SetDefaults, whichever order the
// caller decodes and fills defaults in; zero becomes the default.
func TestDNCacheTTLFromYAML(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want time.Duration
	}{
		{"dn_cache_ttl: -1s", -time.Second},
		{"dn_cache_ttl: 30s", 30 * time.Second},
		{"dn_cache_ttl: 0s", DefaultDNCacheTTL},
		{"pool_size: 8", DefaultDNCacheTTL},
	} {
		var c Config
		if err := yaml.Unmarshal([]byte(tc.yaml), &c); err != nil {
			t.Fatal(err)
		}
		c.SetDefaults()
		if c.DNCacheTTL != tc.want {
			t.Errorf("%s: ttl %v, want %v", tc.yaml, c.DNCacheTTL, tc.want)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	var c Config
	c.SetDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("empty config valid")
	}
	for _, key := range []string{"urls:", "bind_dn:", "bind_password:", "base_dn:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not mention %s:\n%v", key, err)
		}
	}
}

// The example in Config's documentation decodes strictly and validates.
func TestConfigDocExample(t *testing.T) {
	t.Setenv("KAKUNIN_LDAP_PASSWORD", "s3cret")
	ca := writeCA(t)
	doc := configDoc(t)
	if len(doc) != 2 {
		t.Fatalf("found %d examples in the Config doc comment, want 2", len(doc))
	}
	for i, example := range doc {
		var file struct {
			LDAP Config `yaml:"ldap"`
		}
		file.LDAP.SetDefaults()
		example = strings.ReplaceAll(example, "/etc/kakunin/ldap-ca.pem", ca)
		example = strings.ReplaceAll(example, "/etc/kakunin/ad-ca.pem", ca)
		example = strings.ReplaceAll(example, "{file: /etc/kakunin/ldap-bind.secret}", "s3cret")
		dec := yaml.NewDecoder(strings.NewReader(example))
		dec.KnownFields(true)
		if err := dec.Decode(&file); err != nil {
			t.Fatalf("example %d: %v\n%s", i, err, example)
		}
		if err := file.LDAP.Validate(); err != nil {
			t.Errorf("example %d: %v", i, err)
		}
		if file.LDAP.BindPassword.Value() != "s3cret" {
			t.Errorf("example %d: bind password not read", i)
		}
	}
}

// configDoc extracts the YAML examples from Config's doc comment.
func configDoc(t *testing.T) []string {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	var (
		examples []string
		cur      []string
	)
	flush := func() {
		if len(cur) > 0 {
			examples = append(examples, strings.Join(cur, "\n")+"\n")
			cur = nil
		}
	}
	for _, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "type Config struct") {
			break
		}
		if rest, ok := strings.CutPrefix(line, "//\t"); ok {
			cur = append(cur, rest)
			continue
		}
		flush()
	}
	flush()
	return examples
}

// writeCA writes a self-signed certificate for ca_file.
func writeCA(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, testenv.CAPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
