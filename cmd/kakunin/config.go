package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"kakunin/challenge"
	"kakunin/challenge/callback"
	"kakunin/internal/username"
	"kakunin/ldapauth"
	"kakunin/portal"
	"kakunin/radius"
	"kakunin/store"
)

// config is the whole configuration file: one section per package.
type config struct {
	Radius    radius.Config    `yaml:"radius"`
	LDAP      ldapauth.Config  `yaml:"ldap"`
	Store     store.Config     `yaml:"store"`
	Flow      challenge.Config `yaml:"flow"`
	SMS       smsConfig        `yaml:"sms"`
	Push      pushConfig       `yaml:"push"`
	Voice     voiceConfig      `yaml:"voice"`
	Callbacks callback.Config  `yaml:"callbacks"`
	Metrics   metricsConfig    `yaml:"metrics"`
	Log       logConfig        `yaml:"log"`
	Portal    portal.Config    `yaml:"portal"`

	// demoMail prints the portal's mails on the terminal when no
	// portal.smtp is set: kakunin demo only, never from a file.
	demoMail bool
}

type metricsConfig struct {
	// Listen is the address of /metrics, /healthz and /readyz; empty
	// disables it.
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiler under /debug/pprof/ on the same listener
	// (off by default: it exposes internals; keep the listener private).
	Pprof bool `yaml:"pprof"`
}

type logConfig struct {
	Format string `yaml:"format"` // text (default) or json
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

// loadConfig reads, defaults and validates a configuration file. Every
// error names the key (or line) and the reason.
func loadConfig(path string) (*config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseConfig(b)
}

func parseConfig(b []byte) (*config, error) {
	var c config
	// The directory's defaults go in before decoding, so a key written
	// in the file wins even where zero means something (dn_cache_ttl: 0
	// turns the DN cache off).
	c.LDAP.SetDefaults()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	c.setDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *config) setDefaults() {
	c.Radius.SetDefaults()
	c.Store.SetDefaults()
	c.Flow.SetDefaults()
	c.SMS.setDefaults()
	c.Portal.SetDefaults()
	if c.Metrics.Listen == "" {
		c.Metrics.Listen = "127.0.0.1:9812"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

func (c *config) validate() error {
	var problems []string
	for _, s := range []struct {
		name string
		v    interface{ Validate() error }
	}{
		{"radius", &c.Radius}, {"ldap", &c.LDAP}, {"store", &c.Store}, {"flow", &c.Flow},
		{"portal", &c.Portal},
	} {
		if err := s.v.Validate(); err != nil {
			// A section may report several problems, one a line: each
			// names its key, so each gets the section's prefix.
			for _, l := range splitLines(err.Error()) {
				problems = append(problems, s.name+"."+l)
			}
		}
	}
	problems = append(problems, c.SMS.validate()...)
	problems = append(problems, c.validateApprovals()...)
	switch c.Log.Format {
	case "text", "json":
	default:
		problems = append(problems, fmt.Sprintf("log.format: %q is not text or json", c.Log.Format))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		problems = append(problems, fmt.Sprintf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

// warnings are what a valid configuration may still get wrong, for a
// serve run with this -shutdown-grace: each names its key. check-config
// prints them; serve logs them at start-up.
func (c *config) warnings(grace time.Duration) []string {
	w := c.holdWarnings(grace)
	if v, err := username.PatternVariants(c.Flow.UserPattern); err == nil && len(v) > 0 {
		w = append(w, fmt.Sprintf("flow.user_pattern: %q admits %s: the directory matches IDs loosely (ALICE, ａｌｉｃｅ and alice are one account), "+
			"so kakunin refuses any ID not typed in canonical form (lower case, half-width, no spaces); users must type their IDs that way",
			c.Flow.UserPattern, strings.Join(v, ", ")))
	}
	return w
}

// dump prints the effective configuration; secrets print masked.
func (c *config) dump(w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return err
	}
	return enc.Close()
}
