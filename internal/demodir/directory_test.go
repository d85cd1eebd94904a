package demodir

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

const (
	yamadaID  = "2024000001"
	yamadaPW  = "demo-yamada"
	garciaID  = "2024000002"
	brownID   = "2024000005"
	userCount = 5
)

func testUsers() []User {
	return []User{
		{ID: yamadaID, Name: "山田 太郎", Password: yamadaPW, Mail: "taro.yamada@staff.univ.example", Phone: "+819000000001", Groups: []string{"vpn-staff"}},
		{ID: garciaID, Name: "Maria Garcia", Password: "demo-garcia", Mail: "maria.garcia@staff.univ.example", Phone: "+819000000002", Groups: []string{"vpn-staff", "vpn-admins"}},
		{ID: "2024000003", Name: "Chen Wei", Password: "demo-chen", Phone: "+819000000003", Groups: []string{"vpn-staff"}},
		{ID: "2024000004", Name: "Sophie Martin", Password: "demo-martin", Groups: []string{"vpn-staff"}},
		{ID: brownID, Name: "Oliver Brown", Password: "demo-brown", Groups: []string{"library-staff"}},
	}
}

// logBuffer collects the directory's debug log. Unlike t.Log it may be
// written after the test ends, by a goroutine still winding down.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startTest(t *testing.T) (*Directory, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := Start("127.0.0.1:0", testUsers(), log)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("directory log:\n%s", logs)
		}
	})
	return d, logs
}

func dial(t *testing.T, d *Directory) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(d.URL())
	if err != nil {
		t.Fatalf("dial %s: %v", d.URL(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func serviceConn(t *testing.T, d *Directory) *ldap.Conn {
	t.Helper()
	c := dial(t, d)
	if err := c.Bind(d.BindDN(), d.BindPassword()); err != nil {
		t.Fatalf("service bind: %v", err)
	}
	return c
}

// wantCode fails unless err is an LDAP error with the given result code.
func wantCode(t *testing.T, what string, err error, code uint16) {
	t.Helper()
	if code == ldap.LDAPResultSuccess {
		if err != nil {
			t.Errorf("%s: %v, want success", what, err)
		}
		return
	}
	if !ldap.IsErrorWithCode(err, code) {
		t.Errorf("%s: got %v, want result code %d (%s)", what, err, code, ldap.LDAPResultCodeMap[code])
	}
}

func search(c *ldap.Conn, base string, scope int, filter string, attrs ...string) (*ldap.SearchResult, error) {
	return c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
}

func dns(res *ldap.SearchResult) []string {
	var out []string
	if res != nil {
		for _, e := range res.Entries {
			out = append(out, e.DN)
		}
	}
	return out
}

func TestServiceAccountBind(t *testing.T) {
	d, _ := startTest(t)
	if d.BindPassword() == "" {
		t.Fatal("empty service password")
	}
	c := dial(t, d)
	wantCode(t, "right password", c.Bind(d.BindDN(), d.BindPassword()), ldap.LDAPResultSuccess)
	wantCode(t, "wrong password", c.Bind(d.BindDN(), d.BindPassword()+"x"), ldap.LDAPResultInvalidCredentials)
	wantCode(t, "case-insensitive DN", c.Bind(strings.ToUpper(d.BindDN()), d.BindPassword()), ldap.LDAPResultSuccess)
}

func TestServicePasswordIsRandom(t *testing.T) {
	a, _ := startTest(t)
	b, _ := startTest(t)
	if a.BindPassword() == b.BindPassword() {
		t.Errorf("two directories share the service password")
	}
}

func TestUserBind(t *testing.T) {
	d, _ := startTest(t)
	c := dial(t, d)
	yamada := d.UserDN(yamadaID)
	tests := []struct {
		name     string
		bind     func() error
		wantCode uint16
	}{
		{"right password", func() error { return c.Bind(yamada, yamadaPW) }, ldap.LDAPResultSuccess},
		{"DN spelled differently", func() error { return c.Bind("UID="+yamadaID+", OU=People, DC=demo, DC=kakunin", yamadaPW) }, ldap.LDAPResultSuccess},
		{"wrong password", func() error { return c.Bind(yamada, "demo-yamadA") }, ldap.LDAPResultInvalidCredentials},
		{"another user's password", func() error { return c.Bind(yamada, "demo-garcia") }, ldap.LDAPResultInvalidCredentials},
		{"unknown user", func() error { return c.Bind(d.UserDN("2024999999"), yamadaPW) }, ldap.LDAPResultInvalidCredentials},
		{"entry without a password", func() error { return c.Bind(d.PeopleDN(), yamadaPW) }, ldap.LDAPResultInvalidCredentials},
		{"empty password", func() error { return c.UnauthenticatedBind(yamada) }, ldap.LDAPResultUnwillingToPerform},
		{"password without DN", func() error { return c.Bind("", yamadaPW) }, ldap.LDAPResultInvalidCredentials},
		{"invalid DN", func() error { return c.Bind("uid=2024000001,,", yamadaPW) }, ldap.LDAPResultInvalidDNSyntax},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, tt.bind(), tt.wantCode)
	}
}

func TestEmptyPasswordBindGrantsNothing(t *testing.T) {
	d, _ := startTest(t)
	c := dial(t, d)
	_ = c.UnauthenticatedBind(d.UserDN(yamadaID))
	_, err := search(c, d.UserDN(yamadaID), ldap.ScopeBaseObject, "(objectClass=*)")
	wantCode(t, "search after refused unauthenticated bind", err, ldap.LDAPResultInsufficientAccessRights)
}

func TestFailedBindLeavesConnectionAnonymous(t *testing.T) {
	d, _ := startTest(t)
	c := serviceConn(t, d)
	wantCode(t, "wrong password", c.Bind(d.BindDN(), "nope"), ldap.LDAPResultInvalidCredentials)
	_, err := search(c, d.PeopleDN(), ldap.ScopeWholeSubtree, "(uid="+yamadaID+")")
	wantCode(t, "search after failed bind", err, ldap.LDAPResultInsufficientAccessRights)
}

func TestSearchByUID(t *testing.T) {
	d, _ := startTest(t)
	c := serviceConn(t, d)
	res, err := search(c, d.PeopleDN(), ldap.ScopeWholeSubtree,
		"(&(objectClass=inetOrgPerson)(uid="+ldap.EscapeFilter(garciaID)+"))",
		"uid", "cn", "mail", "telephoneNumber", "memberOf")
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("entries %v, want just %s", dns(res), d.UserDN(garciaID))
	}
	e := res.Entries[0]
	if e.DN != d.UserDN(garciaID) {
		t.Errorf("DN %q, want %q", e.DN, d.UserDN(garciaID))
	}
	want := map[string][]string{
		"uid":             {garciaID},
		"cn":              {"Maria Garcia"},
		"mail":            {"maria.garcia@staff.univ.example"},
		"telephoneNumber": {"+819000000002"},
		"memberOf":        {d.GroupDN("vpn-staff"), d.GroupDN("vpn-admins")},
	}
	for name, values := range want {
		if got := e.GetAttributeValues(name); !slices.Equal(got, values) {
			t.Errorf("%s = %q, want %q", name, got, values)
		}
	}
	if len(e.Attributes) != len(want) {
		t.Errorf("got %d attributes, want only the %d asked for", len(e.Attributes), len(want))
	}
	if got := e.GetAttributeValues("userPassword"); len(got) != 0 {
		t.Errorf("userPassword returned")
	}
}

func TestSearchUnknownUIDFindsNothing(t *testing.T) {
	d, _ := startTest(t)
	c := serviceConn(t, d)
	for _, id := range []string{"2024999999", "", "202400000"} {
		res, err := search(c, d.PeopleDN(), ldap.ScopeWholeSubtree, "(&(objectClass=inetOrgPerson)(uid="+ldap.EscapeFilter(id)+"))", "uid")
		if err != nil {
			t.Errorf("uid %q: %v", id, err)
			continue
		}
		if len(res.Entries) != 0 {
			t.Errorf("uid %q: entries %v, want none", id, dns(res))
		}
	}
}

func TestSearchBaseUnderWrongSuffixIsNoSuchObject(t *testing.T) {
	d, _ := startTest(t)
	c := serviceConn(t, d)
	_, err := search(c, "ou=people,dc=example,dc=org", ldap.ScopeWholeSubtree, "(objectClass=*)")
	wantCode(t, "foreign base", err, ldap.LDAPResultNoSuchObject)
	_, err = search(c, "", ldap.ScopeWholeSubtree, "(objectClass=*)")
	wantCode(t, "subtree of the root DSE", err, ldap.LDAPResultNoSuchObject)
}

func TestEscapedFilterValuesMatchNothing(t *testing.T) {
	d, _ := startTest(t)
	c := serviceConn(t, d)

	// The unescaped wildcard matches every user: the test has teeth.
	res, err := search(c, d.PeopleDN(), ldap.ScopeWholeSubtree, "(&(objectClass=inetOrgPerson)(uid=*))", "uid")
	if err != nil || len(res.Entries) != userCount {
		t.Fatalf("(uid=*): %v entries %v, want all %d users", err, dns(res), userCount)
	}

	for _, id := range []string{
		"*",
		yamadaID + "*",
		"*" + yamadaID[5:],
		yamadaID + ")(uid=*",
		"*)(|(uid=*",
		yamadaID + ")(|(objectClass=*)",
		`\2a`,
		`\`,
		"2024000001\x00",
		"(uid=2024000001)",
	} {
		filter := "(&(objectClass=inetOrgPerson)(uid=" + ldap.EscapeFilter(id) + "))"
		res, err := search(c, d.PeopleDN(), ldap.ScopeWholeSubtree, filter, "uid")
		if err != nil {
			t.Errorf("%q: %v", id, err)
			continue
		}
		if len(res.Entries) != 0 {
			t.Errorf("%q: entries %v, want none", id, dns(res))
		}
	}
}

func TestAnonymousSearchRefused(t *testing.T) {
	d, _ := startTest(t)

	fresh := dial(t, d)
	_, err := search(fresh, d.PeopleDN(), ldap.ScopeWholeSubtree, "(uid="+yamadaID+")", "uid")
	wantCode(t, "search without bind", err, ldap.LDAPResultInsufficientAccessRights)

	anon := dial(t, d)
	wantCode(t, "anonymous bind", anon.UnauthenticatedBind(""), ldap.LDAPResultSuccess)
	_, err = search(anon, d.BaseDN(), ldap.ScopeBaseObject, "(objectClass=*)")
	wantCode(t, "search after anonymous bind", err, ldap.LDAPResultInsufficientAccessRights)

	// Binding anonymously drops an earlier identity.
	c := serviceConn(t, d)
	wantCode(t, "anonymous bind", c.UnauthenticatedBind(""), ldap.LDAPResultSuccess)
	_, err = search(c, d.PeopleDN(), ldap.ScopeWholeSubtree, "(uid="+yamadaID+")", "uid")
	wantCode(t, "search after rebinding anonymously", err, ldap.LDAPResultInsufficientAccessRights)
}

func TestRootDSEIsPublic(t *testing.T) {
	d, _ := startTest(t)
	c := dial(t, d)
	res, err := search(c, "", ldap.ScopeBaseObject, "(objectClass=*)", "namingContexts", "supportedLDAPVersion")
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("root DSE: %v %v", err, dns(res))
	}
	if got := res.Entries[0].GetAttributeValues("namingContexts"); !slices.Equal(got, []string{d.BaseDN()}) {
		t.Errorf("namingContexts %q, want %q", got, d.BaseDN())
	}
}

func TestUserReadsOnlyItsOwnEntry(t *testing.T) {
	d, _ := startTest(t)
	c := dial(t, d)
	if err := c.Bind(d.UserDN(yamadaID), yamadaPW); err != nil {
		t.Fatalf("bind: %v", err)
	}

	res, err := search(c, d.UserDN(yamadaID), ldap.ScopeBaseObject, "(objectClass=*)", "cn", "memberOf")
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("own entry: %v %v", err, dns(res))
	}
	if got := res.Entries[0].GetAttributeValue("cn"); got != "山田 太郎" {
		t.Errorf("cn %q", got)
	}
	if got := res.Entries[0].GetAttributeValues("memberOf"); !slices.Equal(got, []string{d.GroupDN("vpn-staff")}) {
		t.Errorf("memberOf %q", got)
	}

	_, err = search(c, d.UserDN(garciaID), ldap.ScopeBaseObject, "(objectClass=*)")
	wantCode(t, "another user's entry", err, ldap.LDAPResultNoSuchObject)
	_, err = search(c, d.GroupDN("vpn-staff"), ldap.ScopeBaseObject, "(objectClass=*)")
	wantCode(t, "a group", err, ldap.LDAPResultNoSuchObject)

	res, err = search(c, d.BaseDN(), ldap.ScopeWholeSubtree, "(objectClass=*)", "1.1")
	if err != nil {
		t.Fatalf("subtree: %v", err)
	}
	if got := dns(res); !slices.Equal(got, []string{d.UserDN(yamadaID)}) {
		t.Errorf("subtree search as a user found %v, want only its own entry", got)
	}
}

func TestAttributeSelection(t *testing.T) {
	d, _ := startTest(t)
	c := serviceConn(t, d)
	dn := d.UserDN(yamadaID)
	names := func(attrs ...string) []string {
		t.Helper()
		res, err := search(c, dn, ldap.ScopeBaseObject, "(objectClass=*)", attrs...)
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("%q: %v %v", attrs, err, dns(res))
		}
		var out []string
		for _, a := range res.Entries[0].Attributes {
			out = append(out, a.Name)
		}
		return out
	}
	all := []string{"objectClass", "uid", "cn", "sn", "displayName", "mail", "telephoneNumber"}
	tests := []struct {
		attrs []string
		want  []string
	}{
		{nil, all},
		{[]string{"*"}, all},
		{[]string{"+"}, []string{"memberOf"}},
		{[]string{"*", "+"}, append(slices.Clone(all), "memberOf")},
		{[]string{"1.1"}, nil},
		{[]string{"MAIL", "commonName", "0.9.2342.19200300.100.1.1", "nonsense"}, []string{"uid", "cn", "mail"}},
		{[]string{"memberof"}, []string{"memberOf"}},
	}
	for _, tt := range tests {
		if got := names(tt.attrs...); !slices.Equal(got, tt.want) {
			t.Errorf("attributes %q: got %q, want %q", tt.attrs, got, tt.want)
		}
	}

	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, true, "(objectClass=*)", []string{"mail"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("types only: %v", err)
	}
	if a := res.Entries[0].Attributes; len(a) != 1 || a[0].Name != "mail" || len(a[0].Values) != 0 {
		t.Errorf("types only: got %+v, want mail without values", a)
	}
}

func TestGroupMembershipSearches(t *testing.T) {
	d, _ := startTest(t)
	c := serviceConn(t, d)
	staff := d.GroupDN("vpn-staff")

	res, err := search(c, d.BaseDN(), ldap.ScopeWholeSubtree,
		"(&(objectClass=groupOfNames)(member="+ldap.EscapeFilter(d.UserDN(garciaID))+"))", "cn")
	if err != nil {
		t.Fatal(err)
	}
	if got := dns(res); !slices.Equal(got, []string{d.GroupDN("vpn-admins"), staff}) {
		t.Errorf("groups of %s: %v", garciaID, got)
	}

	// memberOf compares as a DN: case and spaces do not matter.
	filter := "(&(uid=" + brownID + ")(memberOf=" + ldap.EscapeFilter(strings.ToUpper(strings.ReplaceAll(staff, ",", ", "))) + "))"
	res, err = search(c, d.PeopleDN(), ldap.ScopeSingleLevel, filter, "1.1")
	if err != nil || len(res.Entries) != 0 {
		t.Errorf("%s is not in vpn-staff, got %v %v", brownID, err, dns(res))
	}
	filter = "(&(uid=" + yamadaID + ")(memberOf=" + ldap.EscapeFilter(strings.ToUpper(strings.ReplaceAll(staff, ",", ", "))) + "))"
	res, err = search(c, d.PeopleDN(), ldap.ScopeSingleLevel, filter, "1.1")
	if err != nil || len(res.Entries) != 1 {
		t.Errorf("%s is in vpn-staff, got %v %v", yamadaID, err, dns(res))
	}

	res, err = search(c, staff, ldap.ScopeBaseObject, "(objectClass=*)", "member")
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("read group: %v", err)
	}
	if got := len(res.Entries[0].GetAttributeValues("member")); got != 4 {
		t.Errorf("vpn-staff has %d members, want 4", got)
	}
}

func TestSizeLimit(t *testing.T) {
	d, _ := startTest(t)
	c := serviceConn(t, d)
	res, err := c.Search(ldap.NewSearchRequest(d.PeopleDN(), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, 0, false, "(objectClass=inetOrgPerson)", []string{"uid"}, nil))
	wantCode(t, "size limit 2", err, ldap.LDAPResultSizeLimitExceeded)
	if res == nil || len(res.Entries) != 2 {
		t.Errorf("got %v, want 2 entries", dns(res))
	}
}

func TestStartTLSRefused(t *testing.T) {
	d, _ := startTest(t)
	c := dial(t, d)
	wantCode(t, "StartTLS", c.StartTLS(nil), ldap.LDAPResultUnavailable)
	// go-ldap gives up on a connection whose StartTLS failed; the server
	// does not, and serves new ones.
	serviceConn(t, d)
}

func TestWritesRefused(t *testing.T) {
	d, _ := startTest(t)
	c := serviceConn(t, d)
	mod := ldap.NewModifyRequest(d.UserDN(yamadaID), nil)
	mod.Replace("mail", []string{"attacker@example.org"})
	wantCode(t, "modify", c.Modify(mod), ldap.LDAPResultUnwillingToPerform)
	add := ldap.NewAddRequest("uid=2024000099,"+d.PeopleDN(), nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	wantCode(t, "add", c.Add(add), ldap.LDAPResultUnwillingToPerform)
	wantCode(t, "delete", c.Del(ldap.NewDelRequest(d.UserDN(yamadaID), nil)), ldap.LDAPResultUnwillingToPerform)
	_, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", "x", "y"))
	wantCode(t, "password modify", err, ldap.LDAPResultProtocolError)

	// The connection still works.
	res, err := search(c, d.UserDN(yamadaID), ldap.ScopeBaseObject, "(objectClass=*)", "mail")
	if err != nil || res.Entries[0].GetAttributeValue("mail") != "taro.yamada@staff.univ.example" {
		t.Errorf("after refused writes: %v", err)
	}
}

func TestUnbind(t *testing.T) {
	d, _ := startTest(t)
	c, err := ldap.DialURL(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(d.BindDN(), d.BindPassword()); err != nil {
		t.Fatal(err)
	}
	if err := c.Unbind(); err != nil {
		t.Errorf("unbind: %v", err)
	}
	serviceConn(t, d)
}

func TestConcurrentBinds(t *testing.T) {
	d, _ := startTest(t)
	users := testUsers()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ldap.DialURL(d.URL())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := range 25 {
				u := users[(w+i)%len(users)]
				good := i%3 != 0
				pw := u.Password
				if !good {
					pw += "-wrong"
				}
				err := c.Bind(userDN(u.ID), pw)
				switch {
				case good && err != nil:
					errs <- fmt.Errorf("worker %d: %s with right password: %v", w, u.ID, err)
				case !good && !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
					errs <- fmt.Errorf("worker %d: %s with wrong password: %v", w, u.ID, err)
				case good:
					// Each connection sees its own identity, not another's.
					res, err := search(c, d.BaseDN(), ldap.ScopeWholeSubtree, "(objectClass=inetOrgPerson)", "uid")
					if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("uid") != u.ID {
						errs <- fmt.Errorf("worker %d: bound as %s, search found %v (%v)", w, u.ID, dns(res), err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStopClosesIdleConnections(t *testing.T) {
	logs := &logBuffer{}
	d, err := Start("", testUsers(), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.URL(), "ldap://127.0.0.1:") {
		t.Errorf("URL %q, want loopback", d.URL())
	}
	c, err := ldap.DialURL(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(d.BindDN(), d.BindPassword()); err != nil {
		t.Fatal(err)
	}
	d.Stop() // would hang if the idle, bound connection kept the server
	d.Stop()
	if _, err := search(c, d.BaseDN(), ldap.ScopeBaseObject, "(objectClass=*)"); err == nil {
		t.Error("search succeeded after Stop")
	}
	if _, err := ldap.DialURL(d.URL()); err == nil {
		t.Error("dial succeeded after Stop")
	}
}

func TestStartOnBusyAddressFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := Start(ln.Addr().String(), testUsers(), nil)
	if err == nil {
		d.Stop()
		t.Fatal("Start on a busy address succeeded")
	}
}

func TestStartRejectsInvalidUsers(t *testing.T) {
	users := testUsers()
	users[1].ID = users[0].ID
	if _, err := Start("", users, nil); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("Start with duplicate IDs: %v", err)
	}
}

func TestLogsNeverHoldPasswords(t *testing.T) {
	d, logs := startTest(t)
	c := dial(t, d)
	_ = c.Bind(d.BindDN(), d.BindPassword())
	_ = c.Bind(d.BindDN(), "wrong-service-password")
	for _, u := range testUsers() {
		_ = c.Bind(d.UserDN(u.ID), u.Password)
		_ = c.Bind(d.UserDN(u.ID), u.Password+"-typo")
	}
	_ = c.Bind("uid=broken,,", "invalid-dn-password")
	_, _ = search(c, d.PeopleDN(), ldap.ScopeWholeSubtree, "(uid=*)")
	d.Stop()

	out := logs.String()
	if !strings.Contains(out, "demo directory: bind") {
		t.Fatalf("no bind records at debug level; log:\n%s", out)
	}
	secrets := []string{d.BindPassword(), "wrong-service-password", "invalid-dn-password"}
	for _, u := range testUsers() {
		secrets = append(secrets, u.Password)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("log holds password %q", s)
		}
	}
}

func TestNothingLoggedAboveDebug(t *testing.T) {
	logs := &logBuffer{}
	d, err := Start("", testUsers(), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ldap.DialURL(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Bind(d.UserDN(yamadaID), "wrong")
	_ = c.StartTLS(nil)
	c.Close()
	// A client that sends garbage makes gldap log an error.
	if raw, err := net.Dial("tcp", strings.TrimPrefix(d.URL(), "ldap://")); err == nil {
		_, _ = raw.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		raw.Close()
	}
	d.Stop()
	if out := logs.String(); out != "" {
		t.Errorf("logged above debug:\n%s", out)
	}
}

func TestGarbageDoesNotStopTheServer(t *testing.T) {
	d, _ := startTest(t)
	raw, err := net.Dial("tcp", strings.TrimPrefix(d.URL(), "ldap://"))
	if err != nil {
		t.Fatal(err)
	}
	// A message with an ID and no operation.
	_, _ = raw.Write([]byte("\x30\x03\x02\x01\x01"))
	raw.Close()
	serviceConn(t, d)
}
