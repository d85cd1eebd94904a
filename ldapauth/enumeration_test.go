package ldapauth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"kakunin/internal/testenv"
)

// An unknown user name costs the directory the same operations, in the
// same order, as a known user with a wrong password: first (search, bind),
// then, once the name is remembered, (bind, search), as a cached DN does.
// The unknown name's bind goes to a DN under base_dn that has no entry,
// so no real account is touched.
func TestUnknownUserCostsTheSameDirectoryOperationsAsAWrongPassword(t *testing.T) {
	s := testSlapd(t)
	searchBind, bindSearch, bind := []string{"search", "bind"}, []string{"bind", "search"}, []string{"bind"}
	for _, tc := range []struct {
		name   string
		config func(*Config)
		rounds [][]string // the operations of each round
	}{
		{"dn cache", func(*Config) {}, [][]string{searchBind, bindSearch, bindSearch}},
		{"dn cache off", func(c *Config) { c.DNCacheTTL = -1 }, [][]string{searchBind, searchBind}},
		{"required group and attributes", func(c *Config) {
			c.RequiredGroup = s.VPNStaffDN
			c.Attributes = map[string]string{"mail": "mail"}
		}, [][]string{searchBind, bindSearch}},
		{"bind template", func(c *Config) { c.BindTemplate = "uid=%s," + s.PeopleDN }, [][]string{bind, bind}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := startLDAPRecorder(t, s.URL)
			cfg := baseConfig(s)
			cfg.URLs = []string{rec.URL()}
			tc.config(&cfg)
			d, reg := newDirectory(t, cfg)
			// Open both pools' connections, so that no dial (and no
			// service bind) falls into a measured login.
			if _, err := d.Authenticate(ctx, testenv.UserID(30), testenv.UserPassword(30)); err != nil && !errors.Is(err, ErrNotAllowed) {
				t.Fatal(err)
			}
			rec.take()

			known, unknown := testenv.UserID(31), "9999999931"
			for round, want := range tc.rounds {
				if _, err := d.Authenticate(ctx, known, "wrong-password"); err != ErrInvalidCredentials {
					t.Fatalf("round %d, known user: err = %v, want ErrInvalidCredentials", round, err)
				}
				knownOps := rec.take()
				if _, err := d.Authenticate(ctx, unknown, "wrong-password"); err != ErrInvalidCredentials {
					t.Fatalf("round %d, unknown user: err = %v, want ErrInvalidCredentials", round, err)
				}
				unknownOps := rec.take()
				if k, u := opKinds(knownOps), opKinds(unknownOps); !slices.Equal(k, want) || !slices.Equal(u, want) {
					t.Errorf("round %d: known user with a wrong password cost %v, unknown user %v; want %v for both", round, k, u, want)
				}
				for _, op := range unknownOps {
					if op.op == "bind" {
						assertNoEntry(t, s, cfg.BaseDN, op.name)
					}
				}
			}
			if n := counter(t, reg, "kakunin_ldap_errors_total"); n != 0 {
				t.Errorf("%v directory errors", n)
			}
		})
	}
}

func opKinds(ops []wireOp) []string {
	var kinds []string
	for _, op := range ops {
		kinds = append(kinds, op.op)
	}
	return kinds
}

// assertNoEntry checks that dn is under base and that the directory has
// no entry there.
func assertNoEntry(t *testing.T, s *testenv.Slapd, base, dn string) {
	t.Helper()
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		t.Fatalf("bind name %q is not a DN: %v", dn, err)
	}
	b, _ := ldap.ParseDN(base)
	if !b.AncestorOfFold(parsed) {
		t.Errorf("bind name %q is not under base_dn %q", dn, base)
	}
	admin, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Bind(s.AdminDN, s.AdminPassword); err != nil {
		t.Fatal(err)
	}
	_, err = admin.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		t.Errorf("bind name %q of an unknown user: search err = %v, want no such object", dn, err)
	}
}

// A name remembered as unknown logs in as soon as its entry exists: the
// remembered name costs a bind to the non-existent DN, then the search
// that finds the new entry, then its bind.
func TestUserAddedAfterUnknownLoginLogsInAtOnce(t *testing.T) {
	s := testSlapd(t)
	d, _ := newDirectory(t, baseConfig(s))
	const user, password = "n1", "n1-pass"
	dn := "uid=" + user + "," + s.PeopleDN
	for range 2 {
		if _, err := d.Authenticate(ctx, user, password); err != ErrInvalidCredentials {
			t.Fatalf("before the entry exists: err = %v, want ErrInvalidCredentials", err)
		}
	}

	admin, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Bind(s.AdminDN, s.AdminPassword); err != nil {
		t.Fatal(err)
	}
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{user})
	add.Attribute("cn", []string{"New One"})
	add.Attribute("sn", []string{"One"})
	add.Attribute("userPassword", []string{password})
	if err := admin.Add(add); err != nil {
		t.Fatal(err)
	}
	defer func() { // for -count
		if err := admin.Del(ldap.NewDelRequest(dn, nil)); err != nil {
			t.Errorf("delete: %v", err)
		}
	}()

	e, err := d.Authenticate(ctx, user, password)
	if err != nil {
		t.Fatalf("after the entry was added: %v", err)
	}
	if !strings.EqualFold(e.DN, dn) {
		t.Errorf("DN = %q, want %q", e.DN, dn)
	}
}
