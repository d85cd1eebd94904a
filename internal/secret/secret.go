// Package secret is a configuration value that must never be printed: a
// shared secret, a bind password, an encryption key. In YAML it is written
// inline, or as a reference to a file or an environment variable:
//
//	secret: "s3cret"            # inline
//	secret: {file: /etc/kakunin/nas1.secret}
//	secret: {env: KAKUNIN_NAS1_SECRET}
package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is a configured secret. Its zero value is empty. It prints as a
// mask, so it can sit in a struct that is logged or dumped.
type Secret struct {
	value  string
	source string // "inline", "file:PATH", "env:NAME", "" when unset
}

// New returns an inline secret (tests and generated configs).
func New(v string) Secret { return Secret{value: v, source: "inline"} }

// Value is the secret itself.
func (s Secret) Value() string { return s.value }

// IsSet reports whether a non-empty secret was configured.
func (s Secret) IsSet() bool { return s.value != "" }

// Source says where the secret came from, without revealing it.
func (s Secret) Source() string { return s.source }

// String masks the value.
func (s Secret) String() string {
	if s.source == "" {
		return "(unset)"
	}
	return "******** (" + s.source + ")"
}

// MarshalYAML masks the value, so check-config can print a configuration.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads an inline string or {file: PATH} or {env: NAME}.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var v string
		if err := n.Decode(&v); err != nil {
			return err
		}
		*s = Secret{value: v, source: "inline"}
		return nil
	case yaml.MappingNode:
		var ref struct {
			File string `yaml:"file"`
			Env  string `yaml:"env"`
		}
		dec := n
		if err := dec.Decode(&ref); err != nil {
			return err
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != "file" && k != "env" {
				return fmt.Errorf("line %d: unknown key %q (want file or env)", n.Content[i].Line, k)
			}
		}
		switch {
		case ref.File != "" && ref.Env != "":
			return fmt.Errorf("line %d: give file or env, not both", n.Line)
		case ref.File != "":
			b, err := os.ReadFile(ref.File)
			if err != nil {
				return fmt.Errorf("line %d: read secret file: %w", n.Line, err)
			}
			*s = Secret{value: strings.TrimRight(string(b), "\r\n"), source: "file:" + ref.File}
			return nil
		case ref.Env != "":
			v, ok := os.LookupEnv(ref.Env)
			if !ok {
				return fmt.Errorf("line %d: environment variable %s is not set", n.Line, ref.Env)
			}
			*s = Secret{value: v, source: "env:" + ref.Env}
			return nil
		}
		return errors.New("secret reference needs file or env")
	}
	return fmt.Errorf("line %d: secret must be a string or {file: PATH} or {env: NAME}", n.Line)
}
