package ldapauth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"kakunin/internal/secret"
	"kakunin/internal/testenv"
)

// hiddenGroupsSlapd is a directory whose users may read their own entry,
// but not their memberOf nor their telephoneNumber: only the service
// account may.
func hiddenGroupsSlapd(tb testing.TB) *testenv.Slapd {
	return sharedSlapd(tb, "hidden-groups", testenv.SlapdOptions{
		Users: 20,
		ExtraACL: `access to dn.subtree="ou=people,dc=example,dc=ac,dc=jp" attrs=memberOf,telephoneNumber
	by dn.exact="cn=kakunin,ou=services,dc=example,dc=ac,dc=jp" read
	by * none`,
	})
}

func TestLoginWithoutSearchReadsGroupsAndAttributesTheUserCannotSee(t *testing.T) {
	s := hiddenGroupsSlapd(t)

	// The directory is as meant: the user reads its own entry, without
	// an error, but memberOf and telephoneNumber are missing.
	l, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Bind(testenv.UserDN(1), testenv.UserPassword(1)); err != nil {
		t.Fatal(err)
	}
	res, err := l.Search(ldap.NewSearchRequest(testenv.UserDN(1), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"mail", "memberOf", "telephoneNumber"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("own read: %v", err)
	}
	if e := res.Entries[0]; e.GetAttributeValue("mail") == "" || e.GetAttributeValue("memberOf") != "" || e.GetAttributeValue("telephoneNumber") != "" {
		t.Fatalf("the ACL does not hide memberOf and telephoneNumber from the user: %+v", e.Attributes)
	}

	for name, tmpl := range map[string]string{"cached DN": "", "DN template": "uid=%s," + s.PeopleDN} {
		t.Run(name, func(t *testing.T) {
			cfg := baseConfig(s)
			cfg.BindTemplate = tmpl
			cfg.RequiredGroup = s.VPNStaffDN
			cfg.Attributes = map[string]string{"mail": "mail", "phone": "telephoneNumber"}
			d, reg := newDirectory(t, cfg)
			wantGroups := []string{s.VPNAdminsDN, s.VPNStaffDN}
			for _, login := range []string{"first", "second"} {
				e, err := d.Authenticate(ctx, testenv.UserID(1), testenv.UserPassword(1))
				if err != nil {
					t.Fatalf("%s login: %v", login, err)
				}
				slices.Sort(e.Groups)
				if !slices.Equal(e.Groups, wantGroups) {
					t.Errorf("%s login: groups %v, want %v", login, e.Groups, wantGroups)
				}
				if e.Attributes["phone"] != testenv.UserPhone(1) || e.Attributes["mail"] != testenv.UserMail(1) {
					t.Errorf("%s login: attributes %v", login, e.Attributes)
				}
				if _, err := d.Authenticate(ctx, testenv.UserID(10), testenv.UserPassword(10)); err != ErrNotAllowed {
					t.Errorf("%s login of a non-member: err = %v, want ErrNotAllowed", login, err)
				}
			}
			// The logins without a search before the bind read after it.
			if n := opCount(t, reg, opRead); n == 0 {
				t.Error("no read after a bind: the test does not test it")
			}
		})
	}
}

func TestCachedDNLoginRechecksUserFilter(t *testing.T) {
	s := testSlapd(t)
	const i = 47 // no other test uses it
	user, password, dn := testenv.UserID(i), testenv.UserPassword(i), testenv.UserDN(i)
	cfg := baseConfig(s)
	cfg.UserFilter = "(&(objectClass=inetOrgPerson)(uid=%s)(!(description=disabled)))"
	cfg.RequiredGroup = s.VPNStaffDN
	d, reg := newDirectory(t, cfg)
	if _, err := d.Authenticate(ctx, user, password); err != nil {
		t.Fatal(err)
	}

	admin, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Bind(s.AdminDN, s.AdminPassword); err != nil {
		t.Fatal(err)
	}
	describe := func(op func(*ldap.ModifyRequest)) {
		t.Helper()
		req := ldap.NewModifyRequest(dn, nil)
		op(req)
		if err := admin.Modify(req); err != nil {
			t.Fatal(err)
		}
	}
	describe(func(r *ldap.ModifyRequest) { r.Add("description", []string{"disabled"}) })
	restored := false
	defer func() { // for -count
		if !restored {
			describe(func(r *ldap.ModifyRequest) { r.Delete("description", nil) })
		}
	}()

	// The DN is cached and the password right, but the entry no longer
	// matches user_filter.
	if _, err := d.Authenticate(ctx, user, password); err != ErrInvalidCredentials {
		t.Errorf("cached DN no longer matching user_filter: err = %v, want ErrInvalidCredentials", err)
	}
	if n := opCount(t, reg, opSearch); n != 1 {
		t.Errorf("%d searches, want 1 (the cached login reads, it does not search)", n)
	}
	// The DN left the cache: the next login searches, and finds no one.
	if _, err := d.Authenticate(ctx, user, password); err != ErrInvalidCredentials {
		t.Errorf("next login: err = %v, want ErrInvalidCredentials", err)
	}
	if n := opCount(t, reg, opSearch); n != 2 {
		t.Errorf("%d searches, want 2", n)
	}

	describe(func(r *ldap.ModifyRequest) { r.Delete("description", nil) })
	restored = true
	for _, login := range []string{"searched", "cached"} {
		if _, err := d.Authenticate(ctx, user, password); err != nil {
			t.Errorf("%s login once matching again: %v", login, err)
		}
	}
}

// adUsers are the accounts of TestPrincipalBindFindsTheBoundAccount.
// Two accounts answer to "eve": eve@example.ac.jp is a guest's user
// principal name, and eve is a staff member's sAMAccountName.
func adUsers() []fakeEntry {
	const groups = "CN=VPN Users,OU=Groups,DC=example,DC=ac,DC=jp"
	user := func(dn, sam, upn, password, phone string, memberOf ...string) fakeEntry {
		return fakeEntry{dn: dn, password: password, attrs: map[string][]string{
			"objectclass": {"top", "person", "user"}, "samaccountname": {sam}, "userprincipalname": {upn},
			"telephonenumber": {phone}, "memberof": memberOf,
		}}
	}
	return []fakeEntry{
		user("CN=Alice,OU=Staff,DC=example,DC=ac,DC=jp", "alice", "alice@example.ac.jp", "alice-pass", "+81 3 0000 0001", groups),
		user("CN=Eve Guest,OU=Guests,DC=example,DC=ac,DC=jp", "eve.guest", "eve@example.ac.jp", "guest-pass", "+81 3 0000 0002"),
		user("CN=Eve Staff,OU=Staff,DC=example,DC=ac,DC=jp", "eve", "eve.staff@example.ac.jp", "staff-pass", "+81 3 0000 0003", groups),
	}
}

func TestPrincipalBindFindsTheBoundAccount(t *testing.T) {
	ad := startFakeAD(t, "EXAMPLE", adUsers()...)
	for _, tmpl := range []string{"%s@example.ac.jp", `EXAMPLE\%s`} {
		t.Run(tmpl, func(t *testing.T) {
			var cfg Config
			cfg.SetDefaults()
			cfg.URLs = []string{ad.URL}
			cfg.BindDN = ad.ServiceDN
			cfg.BindPassword = secret.New(ad.Password)
			cfg.BaseDN = ad.BaseDN
			cfg.UserFilter = "(&(objectClass=user)(sAMAccountName=%s))"
			cfg.BindTemplate = tmpl
			cfg.RequiredGroup = "CN=VPN Users,OU=Groups,DC=example,DC=ac,DC=jp"
			cfg.Attributes = map[string]string{"phone": "telephoneNumber"}
			d, _ := newDirectory(t, cfg)
			before := len(ad.Searches())

			e, err := d.Authenticate(ctx, "alice", "alice-pass")
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			if e.DN != "CN=Alice,OU=Staff,DC=example,DC=ac,DC=jp" || e.Attributes["phone"] != "+81 3 0000 0001" {
				t.Errorf("alice: entry %+v", e)
			}
			if strings.HasPrefix(tmpl, "%s@") {
				// The guest binds as eve@example.ac.jp; user_filter finds
				// the staff member whose sAMAccountName is eve, who is in
				// the required group. That is not who logged in.
				if e, err := d.Authenticate(ctx, "eve", "guest-pass"); err != ErrInvalidCredentials {
					t.Errorf("eve with the guest's password: entry %q, err %v; want ErrInvalidCredentials", e.DN, err)
				}
			} else {
				// EXAMPLE\eve is the staff member.
				if e, err := d.Authenticate(ctx, "eve", "staff-pass"); err != nil || e.DN != "CN=Eve Staff,OU=Staff,DC=example,DC=ac,DC=jp" {
					t.Errorf("eve with the staff member's password: entry %q, err %v", e.DN, err)
				}
			}
			if _, err := d.Authenticate(ctx, "eve", "wrong"); err != ErrInvalidCredentials {
				t.Errorf("wrong password: err = %v, want ErrInvalidCredentials", err)
			}

			searches := ad.Searches()[before:]
			if len(searches) != 2 {
				t.Fatalf("%d searches, want 2: %+v", len(searches), searches)
			}
			for _, s := range searches {
				if s.boundAs != ad.ServiceDN {
					t.Errorf("search %s ran bound as %q, want the service account", s.filter, s.boundAs)
				}
			}
			want := "(userPrincipalName=alice@example.ac.jp)"
			if !strings.HasPrefix(tmpl, "%s@") {
				want = "(sAMAccountName=alice)"
			}
			if f := searches[0].filter; !strings.Contains(f, "(sAMAccountName=alice)") || !strings.Contains(f, want) {
				t.Errorf("filter %s: want user_filter and %s", f, want)
			}
		})
	}
}

func TestPrincipalBindNotMatchingUserFilterIsInvalidCredentials(t *testing.T) {
	// Not "directory unavailable": the password was right, but the
	// account is not one user_filter lets in.
	ad := startFakeAD(t, "EXAMPLE", adUsers()...)
	var cfg Config
	cfg.SetDefaults()
	cfg.URLs = []string{ad.URL}
	cfg.BindDN = ad.ServiceDN
	cfg.BindPassword = secret.New(ad.Password)
	cfg.BaseDN = ad.BaseDN
	cfg.UserFilter = "(&(objectClass=user)(sAMAccountName=%s)(memberOf=CN=VPN Users,OU=Groups,DC=example,DC=ac,DC=jp))"
	cfg.BindTemplate = "%s@example.ac.jp"
	cfg.NeedGroups = true
	d, reg := newDirectory(t, cfg)
	if _, err := d.Authenticate(ctx, "eve", "guest-pass"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("err = %v, want ErrInvalidCredentials", err)
	}
	if n := counter(t, reg, "kakunin_ldap_authentications_total", "outcome", outcomeInvalid); n != 1 {
		t.Errorf("invalid_credentials outcomes = %v, want 1", n)
	}
}
