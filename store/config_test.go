package store

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"kakunin/internal/secret"
	"kakunin/internal/testenv"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Encryption: Encryption{Keys: []EncryptionKey{testKey("a"), testKey("b")}}}
	c.SetDefaults()
	if c.Driver != DriverSQLite || c.Path != DefaultPath || c.MaxConns != DefaultMaxConns || c.Encryption.Current != "a" {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after SetDefaults: %v", err)
	}
	p := Config{Driver: DriverPostgres}
	p.SetDefaults()
	if p.Path != "" {
		t.Errorf("postgres got a default path %q", p.Path)
	}
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	key := func(n int) secret.Secret {
		return secret.New(base64.StdEncoding.EncodeToString(make([]byte, n)))
	}
	good := func() Config {
		return Config{Driver: DriverSQLite, Path: "k.db", MaxConns: 1,
			Encryption: Encryption{Keys: []EncryptionKey{{ID: "k1", Key: key(32)}}, Current: "k1"}}
	}
	for _, c := range []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"good", func(c *Config) {}, ""},
		{"unpadded base64", func(c *Config) {
			c.Encryption.Keys[0].Key = secret.New(base64.RawURLEncoding.EncodeToString(make([]byte, 32)))
		}, ""},
		{"key with trailing newline", func(c *Config) {
			c.Encryption.Keys[0].Key = secret.New(base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n")
		}, ""},
		{"driver", func(c *Config) { c.Driver = "mysql" }, `driver: must be sqlite or postgres (got "mysql")`},
		{"empty path", func(c *Config) { c.Path = "" }, "path: required when driver is sqlite"},
		{"memory", func(c *Config) { c.Path = ":memory:" }, "path: must be a file name"},
		{"question mark", func(c *Config) { c.Path = "a?b.db" }, "path: must not contain '?'"},
		{"dsn with sqlite", func(c *Config) { c.DSN = secret.New("postgres://x") }, "dsn: set, but driver is sqlite"},
		{"postgres without dsn", func(c *Config) { c.Driver = DriverPostgres }, "dsn: required when driver is postgres"},
		{"bad dsn", func(c *Config) {
			c.Driver, c.DSN = DriverPostgres, secret.New("postgres://kakunin:hunter2@db:notaport/x")
		}, "dsn: not a valid PostgreSQL connection string"},
		{"max_conns", func(c *Config) { c.MaxConns = -1 }, "max_conns: must be at least 1 (got -1)"},
		{"no keys", func(c *Config) { c.Encryption = Encryption{} }, "encryption.keys: at least one key is required"},
		{"short key", func(c *Config) { c.Encryption.Keys[0].Key = key(12) }, "encryption.keys[0].key: must be 32 bytes base64 (got 12)"},
		{"not base64", func(c *Config) { c.Encryption.Keys[0].Key = secret.New("hunter2!!") }, "encryption.keys[0].key: must be 32 bytes base64 (not valid base64)"},
		{"missing key", func(c *Config) { c.Encryption.Keys[0].Key = secret.Secret{} }, "encryption.keys[0].key: required"},
		{"missing id", func(c *Config) { c.Encryption.Keys[0].ID = "" }, "encryption.keys[0].id: required"},
		{"bad id", func(c *Config) { c.Encryption.Keys[0].ID = "k 1" }, `encryption.keys[0].id: must be 1 to 32 letters`},
		{"duplicate id", func(c *Config) {
			c.Encryption.Keys = append(c.Encryption.Keys, EncryptionKey{ID: "k1", Key: key(32)})
		}, `encryption.keys[1].id: duplicate "k1"`},
		{"unknown current", func(c *Config) { c.Encryption.Current = "k9" }, `encryption.current: no key with id "k9" in encryption.keys`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := good()
			c.mod(&cfg)
			err := cfg.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
driver: postgres
dsn: {env: KAKUNIN_TEST_DSN}
max_conns: 20
encryption:
  keys:
    - id: k2
      key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
    - id: k1
      key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
`
	t.Setenv("KAKUNIN_TEST_DSN", "postgres://kakunin@db/kakunin?sslmode=verify-full")
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.DSN.Value() != "postgres://kakunin@db/kakunin?sslmode=verify-full" || c.MaxConns != 20 || c.Encryption.Current != "k2" || len(c.Encryption.Keys) != 2 {
		t.Errorf("decoded %+v", c)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "AQEBAQ") || strings.Contains(string(out), "kakunin@db") {
		t.Errorf("marshalled config shows secrets:\n%s", out)
	}
}

func TestConfigPostgresDSNToARemoteHostMustVerifyTLS(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, testenv.CAPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	const refused = "dsn: connects to a host other than the loopback address or a Unix socket without verifying its TLS certificate: use sslmode=verify-full"
	for _, c := range []struct {
		name     string
		dsn      string
		insecure bool
		want     string // "" for valid
	}{
		{"127.0.0.1 without sslmode", "postgres://kakunin:hunter2@127.0.0.1:5432/kakunin", false, ""},
		{"localhost without sslmode", "postgres://kakunin:hunter2@localhost/kakunin", false, ""},
		{"::1 with sslmode=disable", "postgres://kakunin:hunter2@[::1]/kakunin?sslmode=disable", false, ""},
		{"unix socket", "host=/var/run/postgresql user=kakunin password=hunter2 dbname=kakunin", false, ""},
		{"unix socket URL", "postgres:///kakunin?host=/tmp", false, ""},
		{"remote with verify-full", "postgres://kakunin:hunter2@db.example.ac.jp/kakunin?sslmode=verify-full", false, ""},
		{"remote with verify-full and a CA", "postgres://kakunin:hunter2@db.example.ac.jp/kakunin?sslmode=verify-full&sslrootcert=" + ca, false, ""},
		{"remote with verify-ca", "host=db.example.ac.jp user=kakunin password=hunter2 sslmode=verify-ca sslrootcert=" + ca, false, ""},
		{"remote with require and a CA (verify-ca)", "host=db.example.ac.jp user=kakunin password=hunter2 sslmode=require sslrootcert=" + ca, false, ""},
		{"several remote hosts with verify-full", "postgres://kakunin:hunter2@db1.example.ac.jp,db2.example.ac.jp/kakunin?sslmode=verify-full", false, ""},

		{"remote without sslmode", "postgres://kakunin:hunter2@db.example.ac.jp/kakunin", false, refused},
		{"remote with require", "postgres://kakunin:hunter2@db.example.ac.jp/kakunin?sslmode=require", false, refused},
		{"remote with prefer", "host=db.example.ac.jp user=kakunin password=hunter2 sslmode=prefer", false, refused},
		{"remote with disable", "postgres://kakunin:hunter2@10.0.0.5/kakunin?sslmode=disable", false, refused},
		{"local first, remote fallback", "postgres://kakunin:hunter2@127.0.0.1,db.example.ac.jp/kakunin?sslmode=disable", false, refused},

		{"remote without sslmode, insecure_no_tls", "postgres://kakunin:hunter2@db.example.ac.jp/kakunin", true, ""},
		{"remote with disable, insecure_no_tls", "postgres://kakunin:hunter2@db.example.ac.jp/kakunin?sslmode=disable", true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The environment pgx reads must not decide the outcome.
			for _, v := range []string{"PGHOST", "PGSSLMODE", "PGSSLROOTCERT", "PGSSLNEGOTIATION"} {
				t.Setenv(v, "")
				os.Unsetenv(v)
			}
			cfg := Config{Driver: DriverPostgres, DSN: secret.New(c.dsn), MaxConns: 1, InsecureNoTLS: c.insecure,
				Encryption: Encryption{Keys: []EncryptionKey{testKey("k1")}, Current: "k1"}}
			err := cfg.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "example.ac.jp") || strings.Contains(err.Error(), "10.0.0.5") {
				t.Errorf("error shows the DSN: %v", err)
			}
		})
	}
}

func TestConfigYAMLInsecureNoTLS(t *testing.T) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader("driver: postgres\ninsecure_no_tls: true\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if !c.InsecureNoTLS {
		t.Error("insecure_no_tls not decoded")
	}
}
