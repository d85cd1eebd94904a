package twilio

import (
	"strings"
	"testing"
	"time"

	"kakunin/internal/secret"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.BaseURL != "https://api.twilio.com" || c.Timeout != 10*time.Second {
		t.Errorf("defaults %+v", c)
	}
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // prefix of the error; "" for valid
	}{
		{"valid with from", func(*Config) {}, ""},
		{"valid with service", func(c *Config) { c.From, c.MessagingServiceSID = "", testService }, ""},
		{"valid loopback http", func(c *Config) { c.BaseURL = "http://127.0.0.1:8080" }, ""},
		{"missing sid", func(c *Config) { c.AccountSID = "" }, "account_sid: required"},
		{"api key sid", func(c *Config) { c.AccountSID = "SK0123456789abcdef0123456789abcdef" }, "account_sid: must start with AC"},
		{"short sid", func(c *Config) { c.AccountSID = "AC123" }, "account_sid: must be AC followed by 32"},
		{"no token", func(c *Config) { c.AuthToken = secret.Secret{} }, "auth_token: required"},
		{"neither sender", func(c *Config) { c.From = "" }, "from, messaging_service_sid: give one"},
		{"both senders", func(c *Config) { c.MessagingServiceSID = testService }, "from, messaging_service_sid: give only one"},
		{"national from", func(c *Config) { c.From = "05012345678" }, `from: "05012345678" is not an E.164 number`},
		{"spaced from", func(c *Config) { c.From = "+81 50 1234 5678" }, `from: "+81 50 1234 5678" is not an E.164 number`},
		{"bad service", func(c *Config) { c.From, c.MessagingServiceSID = "", "MG1" }, "messaging_service_sid: must be MG"},
		{"http base", func(c *Config) { c.BaseURL = "http://api.twilio.com" }, "base_url: must be https://"},
		{"creds in base", func(c *Config) { c.BaseURL = "https://AC:tok@api.twilio.com" }, "base_url: must not hold credentials"},
		{"ftp base", func(c *Config) { c.BaseURL = "ftp://api.twilio.com" }, "base_url: scheme"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig("")
			c.SetDefaults()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), testToken):
				t.Fatalf("error %q holds the token", err)
			}
		})
	}
}

func TestNewRefusesInvalidConfig(t *testing.T) {
	if _, err := New(Config{}, nil); err == nil {
		t.Fatal("New accepted an empty config")
	}
}
