package store

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kakunin/internal/secret"
)

// Drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// KeySize is the size of an encryption key in bytes (AES-256).
const KeySize = 32

// Config is the "store" section of the configuration. A single node keeps
// everything in an SQLite file; several nodes share one PostgreSQL database:
//
//	store:
//	  driver: sqlite                       # default; postgres for several nodes
//	  path: /var/lib/kakunin/kakunin.db    # sqlite only
//	  # dsn: {file: /etc/kakunin/store.dsn} # postgres only, e.g.
//	  #   postgres://kakunin:…@db1.example.com:5432/kakunin?sslmode=verify-full
//	  max_conns: 10                        # connections (sqlite: readers)
//	  encryption:
//	    keys:
//	      - id: k2                         # 32 random bytes, base64: openssl rand -base64 32
//	        key: {file: /etc/kakunin/store-k2.key}
//	      - id: k1                         # retired: still read until `rekey` has run
//	        key: {file: /etc/kakunin/store-k1.key}
//	    current: k2                        # default: the first key
//
// TOTP seeds, phone numbers and extensions are encrypted with the current
// key; every row records the id of the key it was written with, so a
// retired key must stay listed until every row written with it has been
// re-encrypted (Rekeyer). The key is required: the store never writes
// these fields in plaintext.
//
// With PostgreSQL, parameters of the DSN that pgx understands apply, e.g.
// default_query_exec_mode=exec behind a PgBouncer in transaction mode.
// A DSN whose host (or any of its fallback hosts) is neither a loopback
// address nor a Unix socket must verify the server's certificate:
// sslmode=verify-full (with sslrootcert=/path/to/ca.pem for a private
// CA), or verify-ca. The default sslmode=prefer, and require, accept any
// certificate, so anyone on the path could read the store's traffic and
// answer in the database's place; insecure_no_tls: true allows that.
type Config struct {
	Driver     string        `yaml:"driver"`
	Path       string        `yaml:"path"`
	DSN        secret.Secret `yaml:"dsn"`
	MaxConns   int           `yaml:"max_conns"`
	Encryption Encryption    `yaml:"encryption"`
	// InsecureNoTLS allows a DSN to a remote host that does not verify
	// the server's certificate (no sslmode, or disable, allow, prefer,
	// require).
	InsecureNoTLS bool `yaml:"insecure_no_tls"`
}

// Encryption lists the keys that encrypt secrets at rest.
type Encryption struct {
	Keys []EncryptionKey `yaml:"keys"`
	// Current is the id of the key new rows are encrypted with.
	Current string `yaml:"current"`
}

// EncryptionKey is one AES-256 key, base64 of 32 bytes.
type EncryptionKey struct {
	ID  string        `yaml:"id"`
	Key secret.Secret `yaml:"key"`
}

// Defaults.
const (
	DefaultPath     = "kakunin.db"
	DefaultMaxConns = 10
)

// SetDefaults fills in what the operator left out.
func (c *Config) SetDefaults() {
	if c.Driver == "" {
		c.Driver = DriverSQLite
	}
	if c.Driver == DriverSQLite && c.Path == "" {
		c.Path = DefaultPath
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Encryption.Current == "" && len(c.Encryption.Keys) > 0 {
		c.Encryption.Current = c.Encryption.Keys[0].ID
	}
}

// Validate checks the configuration (after SetDefaults), naming each
// problem by its key relative to the section. It never shows a secret.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch c.Driver {
	case DriverSQLite:
		switch {
		case c.Path == "":
			bad("path", "required when driver is sqlite")
		case c.Path == ":memory:" || strings.HasPrefix(c.Path, "file:"):
			bad("path", "must be a file name (not :memory: or a file: URI)")
		case strings.ContainsAny(c.Path, "?\x00"):
			bad("path", "must not contain '?' or NUL")
		}
		if c.DSN.IsSet() {
			// A node that silently used a local file while its peers share
			// PostgreSQL would accept replayed codes and lose challenges.
			bad("dsn", "set, but driver is sqlite (set driver: postgres to use it)")
		}
	case DriverPostgres:
		if !c.DSN.IsSet() {
			bad("dsn", "required when driver is postgres")
		} else if pc, err := pgxpool.ParseConfig(c.DSN.Value()); err != nil {
			// pgx redacts passwords only on a best-effort basis, and a
			// URL parse error quotes the whole URL: show nothing of it.
			bad("dsn", "not a valid PostgreSQL connection string (URL or key=value form; the value is not shown)")
		} else if !c.InsecureNoTLS && !verifiesTLS(&pc.ConnConfig.Config) {
			bad("dsn", "connects to a host other than the loopback address or a Unix socket without verifying its TLS certificate: use sslmode=verify-full (with sslrootcert=<CA file> for a private CA), or set insecure_no_tls")
		}
	default:
		bad("driver", "must be sqlite or postgres (got %q)", c.Driver)
	}
	if c.MaxConns < 1 {
		bad("max_conns", "must be at least 1 (got %d)", c.MaxConns)
	}
	errs = append(errs, c.Encryption.validate()...)
	return errors.Join(errs...)
}

// verifiesTLS reports whether every host pgx may connect to (the first
// and each fallback: other hosts, and the plaintext retry of
// sslmode=prefer) is local or verified by TLS.
func verifiesTLS(pc *pgconn.Config) bool {
	if !localHost(pc.Host) && !verifiedTLS(pc.TLSConfig) {
		return false
	}
	for _, fb := range pc.Fallbacks {
		if !localHost(fb.Host) && !verifiedTLS(fb.TLSConfig) {
			return false
		}
	}
	return true
}

// verifiedTLS reports a TLS configuration that checks the server's
// certificate: verify-full, or verify-ca, which pgx implements by
// skipping Go's verification (that would check the name) for its own.
func verifiedTLS(c *tls.Config) bool {
	return c != nil && (!c.InsecureSkipVerify || c.VerifyPeerCertificate != nil)
}

// localHost reports a Unix socket directory or a loopback address.
func localHost(host string) bool {
	if strings.HasPrefix(host, "/") || strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (e *Encryption) validate() []error {
	var errs []error
	if len(e.Keys) == 0 {
		return []error{errors.New("encryption.keys: at least one key is required (32 random bytes, base64: openssl rand -base64 32)")}
	}
	seen := make(map[string]bool, len(e.Keys))
	for i, k := range e.Keys {
		switch {
		case k.ID == "":
			errs = append(errs, fmt.Errorf("encryption.keys[%d].id: required", i))
		case !validKeyID(k.ID):
			errs = append(errs, fmt.Errorf("encryption.keys[%d].id: must be 1 to 32 letters, digits, '.', '_' or '-' (got %q)", i, k.ID))
		case seen[k.ID]:
			errs = append(errs, fmt.Errorf("encryption.keys[%d].id: duplicate %q", i, k.ID))
		}
		seen[k.ID] = true
		if !k.Key.IsSet() {
			errs = append(errs, fmt.Errorf("encryption.keys[%d].key: required", i))
		} else if _, err := decodeKey(k.Key.Value()); err != nil {
			errs = append(errs, fmt.Errorf("encryption.keys[%d].key: %w", i, err))
		}
	}
	if e.Current != "" && !seen[e.Current] {
		errs = append(errs, fmt.Errorf("encryption.current: no key with id %q in encryption.keys", e.Current))
	}
	return errs
}

// decodeKey decodes a base64 key (standard or URL alphabet, padded or not).
// Its errors never quote the value.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != KeySize {
			return nil, fmt.Errorf("must be %d bytes base64 (got %d)", KeySize, len(b))
		}
		return b, nil
	}
	return nil, fmt.Errorf("must be %d bytes base64 (not valid base64)", KeySize)
}

func validKeyID(id string) bool {
	if len(id) < 1 || len(id) > 32 {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}
