package radius

import (
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"kakunin/internal/secret"
)

func validConfig() Config {
	return Config{
		Clients: []ClientConfig{
			{Name: "vpn", Addresses: []string{"192.0.2.10", "2001:db8::10"}, Secret: secret.New(testSecret)},
			{Name: "switches", Addresses: []string{"10.20.0.0/16"}, Secret: secret.New(testSecret)},
			{Name: "lab", Addresses: []string{"10.30.0.1"}, Secret: secret.New(testSecret)},
		},
		GroupAttributes: []GroupAttributes{
			{Group: "vpn-staff", Attributes: []Attribute{{Name: "Filter-Id", Value: "staff"}}},
		},
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(c *Config)
		want   string // the exact text the error must contain
	}{
		{"bad address", func(c *Config) { c.Clients[1].Addresses[0] = "10.0.0.300" },
			`clients[1].addresses[0]: "10.0.0.300" is not an IP address or CIDR`},
		{"bad CIDR", func(c *Config) { c.Clients[1].Addresses[0] = "10.0.0.0/33" },
			`clients[1].addresses[0]: "10.0.0.0/33" is not an IP address or CIDR`},
		{"hostname", func(c *Config) { c.Clients[0].Addresses[1] = "vpn.example.org" },
			`clients[0].addresses[1]: "vpn.example.org" is not an IP address or CIDR`},
		{"no addresses", func(c *Config) { c.Clients[2].Addresses = nil },
			`clients[2].addresses: empty`},
		{"empty secret", func(c *Config) { c.Clients[0].Secret = secret.Secret{} },
			`clients[0].secret: empty`},
		{"unknown attribute", func(c *Config) { c.Clients[2].ReplyAttributes = []Attribute{{Name: "Foo", Value: "x"}} },
			`clients[2].reply_attributes[0].name: unknown attribute "Foo"`},
		{"bad integer", func(c *Config) {
			c.Clients[0].ReplyAttributes = []Attribute{{Name: "Class", Value: "x"}, {Name: "Session-Timeout", Value: "8h"}}
		}, `clients[0].reply_attributes[1].value: Session-Timeout: "8h" is not an integer`},
		{"bad ipaddr", func(c *Config) {
			c.Clients[0].ReplyAttributes = []Attribute{{Name: "Framed-IP-Address", Value: "2001:db8::1"}}
		},
			`clients[0].reply_attributes[0].value: Framed-IP-Address: "2001:db8::1" is not an IPv4 address`},
		{"value too long", func(c *Config) {
			c.Clients[0].ReplyAttributes = []Attribute{{Name: "Cisco-AVPair", Value: strings.Repeat("x", 248)}}
		}, `clients[0].reply_attributes[0].value: Cisco-AVPair: 248 octets is too long for Cisco-AVPair (at most 247)`},
		{"bad generic VSA", func(c *Config) { c.Clients[0].ReplyAttributes = []Attribute{{Name: "Vendor-Specific:9", Value: "x"}} },
			`clients[0].reply_attributes[0].name: attribute "Vendor-Specific:9": want Vendor-Specific:<vendor-id>:<vendor-type>`},
		{"bad hex", func(c *Config) { c.Clients[0].ReplyAttributes = []Attribute{{Name: "Class", Value: "0xZZ"}} },
			`clients[0].reply_attributes[0].value: Class: "0xZZ" is not valid hex after 0x`},
		{"duplicate name", func(c *Config) { c.Clients[2].Name = "vpn" },
			`clients[2].name: "vpn" is also clients[0].name`},
		{"empty name", func(c *Config) { c.Clients[1].Name = "" },
			`clients[1].name: empty`},
		{"same address twice", func(c *Config) { c.Clients[2].Addresses = []string{"2001:DB8::10"} },
			`clients[2].addresses[0]: 2001:db8::10/128 is also clients[0].addresses[1]`},
		{"same prefix written differently", func(c *Config) { c.Clients[2].Addresses = []string{"10.20.1.1/16"} },
			`clients[2].addresses[0]: 10.20.0.0/16 is also clients[1].addresses[0]`},
		{"bad mfa", func(c *Config) { c.Clients[0].MFA = "maybe" },
			`clients[0].mfa: "maybe" is not required or optional`},
		{"bad unavailable", func(c *Config) { c.Clients[1].Unavailable = "ignore" },
			`clients[1].unavailable: "ignore" is not reject or drop`},
		{"no clients", func(c *Config) { c.Clients = nil },
			`clients: empty`},
		{"bad listen", func(c *Config) { c.Listen = []string{":1812", "1812"} },
			`listen[1]: "1812" is not host:port`},
		{"listen hostname", func(c *Config) { c.Listen = []string{"localhost:1812"} },
			`listen[0]: "localhost:1812": host must be an IP address or empty`},
		{"bad accounting port", func(c *Config) { c.AccountingListen = []string{":radius-acct"} },
			`accounting_listen[0]: ":radius-acct": port must be a number from 0 to 65535`},
		{"empty listen", func(c *Config) { c.Listen = []string{} },
			`listen: empty`},
		{"negative max_in_flight", func(c *Config) { c.MaxInFlight = -1 },
			`max_in_flight: must be at least 1, not -1`},
		{"negative timeout", func(c *Config) { c.RequestTimeout = -time.Second },
			`request_timeout: must be positive`},
		{"short retransmit_window", func(c *Config) { c.RetransmitWindow = 10 * time.Second },
			`retransmit_window: must be at least 30s (and no less than the gateways' RADIUS timeout), not 10s`},
		{"negative retransmit_window", func(c *Config) { c.RetransmitWindow = -time.Second },
			`retransmit_window: must be at least 30s`},
		{"empty group", func(c *Config) { c.GroupAttributes[0].Group = " " },
			`group_attributes[0].group: empty`},
		{"unknown group attribute", func(c *Config) { c.GroupAttributes[0].Attributes[0].Name = "Filter-ID-X" },
			`group_attributes[0].attributes[0].name: unknown attribute "Filter-ID-X"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			c.SetDefaults()
			err := c.Validate()
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}

	t.Run("valid", func(t *testing.T) {
		c := validConfig()
		c.SetDefaults()
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("every problem at once", func(t *testing.T) {
		c := validConfig()
		c.Clients[0].Secret = secret.Secret{}
		c.Clients[1].MFA = "x"
		c.SetDefaults()
		err := c.Validate()
		if err == nil || strings.Count(err.Error(), "\n") != 1 {
			t.Errorf("want two errors on two lines, got %v", err)
		}
	})
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := yaml.Unmarshal([]byte(`
clients:
  - name: vpn
    addresses: ["192.0.2.10"]
    secret: "0123456789abcdef"
`), &c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Listen, []string{":1812"}) || !slices.Equal(c.AccountingListen, []string{":1813"}) {
		t.Errorf("listen %q accounting %q", c.Listen, c.AccountingListen)
	}
	if c.MaxInFlight != 1024 || c.RequestTimeout != 90*time.Second || c.RetransmitWindow != 90*time.Second {
		t.Errorf("got %d %s %s", c.MaxInFlight, c.RequestTimeout, c.RetransmitWindow)
	}
	cl := c.Clients[0]
	if cl.RequireMessageAuthenticator == nil || !*cl.RequireMessageAuthenticator || cl.MFA != "required" || cl.Unavailable != "reject" {
		t.Errorf("client defaults: %+v", cl)
	}
}

func TestConfigAccountingCanBeTurnedOff(t *testing.T) {
	var c Config
	if err := yaml.Unmarshal([]byte(`
accounting_listen: []
request_timeout: 2m
clients:
  - {name: vpn, addresses: ["192.0.2.10"], secret: "0123456789abcdef", require_message_authenticator: false}
`), &c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if c.AccountingListen == nil || len(c.AccountingListen) != 0 {
		t.Errorf("accounting_listen: [] became %q", c.AccountingListen)
	}
	if c.RequestTimeout != 2*time.Minute {
		t.Errorf("request_timeout = %s", c.RequestTimeout)
	}
	if *c.Clients[0].RequireMessageAuthenticator {
		t.Errorf("require_message_authenticator: false was overridden")
	}
}

func TestNewDoesNotModifyCallerConfig(t *testing.T) {
	c := validConfig()
	if _, err := New(c, &stubAuth{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if c.Clients[0].RequireMessageAuthenticator != nil || c.Clients[0].MFA != "" {
		t.Errorf("New wrote defaults into the caller's clients: %+v", c.Clients[0])
	}
}

func TestRetransmitWindowDefaultCoversGatewayTimeout(t *testing.T) {
	// The README tells admins to set the gateway's RADIUS timeout to 60 s
	// or more; a retransmit after that must still find the response.
	if DefaultRetransmitWindow < DefaultRequestTimeout || DefaultRetransmitWindow < 60*time.Second {
		t.Errorf("DefaultRetransmitWindow = %s, want at least request_timeout (%s) and 60s", DefaultRetransmitWindow, DefaultRequestTimeout)
	}
	c := validConfig()
	c.RetransmitWindow = MinRetransmitWindow
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("retransmit_window: %s rejected: %v", MinRetransmitWindow, err)
	}
}
