package demodir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// User is one person in the demo directory, as written in
// configs/demo-users.yaml:
//
//	users:
//	  - id: "2024000001"        # uid: ten digits, like a staff number
//	    name: 山田 太郎           # cn, sn and displayName
//	    password: demo-yamada   # demo only: anyone can read it
//	    mail: taro.yamada@staff.univ.example   # optional
//	    phone: "+819000000001"  # optional, E.164
//	    groups: [vpn-staff]     # cn of groups under ou=groups
type User struct {
	ID       string   `yaml:"id"`
	Name     string   `yaml:"name"`
	Password string   `yaml:"password"`
	Mail     string   `yaml:"mail"`
	Phone    string   `yaml:"phone"`
	Groups   []string `yaml:"groups"`
}

// LogValue keeps the password out of logs should a User ever be logged.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", u.ID),
		slog.Any("groups", u.Groups),
	)
}

// file is the layout of the demo users file.
type file struct {
	Users []User `yaml:"users"`
}

var (
	idPattern    = regexp.MustCompile(`^[0-9]{10}$`)
	e164Pattern  = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	groupPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
)

// Load decodes a demo users file strictly (unknown keys, duplicate keys
// and a second YAML document are errors) and validates every user. All
// problems are reported together, each naming its key, e.g.
// "users[2].id: must be exactly 10 digits, got \"12345\"".
func Load(data []byte) ([]User, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("demo users: empty file")
		}
		return nil, fmt.Errorf("demo users: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("demo users: %w", err)
		}
		return nil, errors.New("demo users: more than one YAML document")
	}
	if err := validate(f.Users); err != nil {
		return nil, fmt.Errorf("demo users: %w", err)
	}
	return f.Users, nil
}

// validate checks users as Load and Start need them: every problem is
// collected so a broken file is fixed in one pass.
func validate(users []User) error {
	if len(users) == 0 {
		return errors.New("users: at least one user is required")
	}
	var errs []error
	bad := func(i int, key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("users[%d].%s: %s", i, key, fmt.Sprintf(format, args...)))
	}
	seen := make(map[string]int, len(users))
	for i, u := range users {
		switch {
		case !idPattern.MatchString(u.ID):
			bad(i, "id", "must be exactly 10 digits, got %q", u.ID)
		default:
			if j, dup := seen[u.ID]; dup {
				bad(i, "id", "duplicate of users[%d].id %q", j, u.ID)
			} else {
				seen[u.ID] = i
			}
		}
		switch {
		case strings.TrimSpace(u.Name) == "":
			bad(i, "name", "required")
		case strings.IndexFunc(u.Name, unicode.IsControl) >= 0:
			bad(i, "name", "must not contain control characters")
		}
		// The password itself is never echoed in an error.
		switch {
		case u.Password == "":
			bad(i, "password", "required")
		case strings.IndexFunc(u.Password, unicode.IsControl) >= 0:
			bad(i, "password", "must not contain control characters")
		}
		if u.Mail != "" {
			if a, err := mail.ParseAddress(u.Mail); err != nil || a.Address != u.Mail {
				bad(i, "mail", "%q is not a plain address like name@example.org", u.Mail)
			}
		}
		if u.Phone != "" && !e164Pattern.MatchString(u.Phone) {
			bad(i, "phone", "%q is not an E.164 number like +819012345678", u.Phone)
		}
		inGroup := make(map[string]bool, len(u.Groups))
		for k, g := range u.Groups {
			switch {
			case !groupPattern.MatchString(g):
				bad(i, fmt.Sprintf("groups[%d]", k), "%q must be lower-case letters, digits, '.', '_' or '-' (at most 64)", g)
			case inGroup[g]:
				bad(i, fmt.Sprintf("groups[%d]", k), "%q is listed twice", g)
			}
			inGroup[g] = true
		}
	}
	return errors.Join(errs...)
}
