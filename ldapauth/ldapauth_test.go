package ldapauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"

	"kakunin/internal/secret"
	"kakunin/internal/testenv"
)

var ctx = context.Background()

func TestAuthenticateGoodPassword(t *testing.T) {
	s := testSlapd(t)
	d, _ := newDirectory(t, baseConfig(s))
	e, err := d.Authenticate(ctx, testenv.UserID(3), testenv.UserPassword(3))
	if err != nil {
		t.Fatal(err)
	}
	if e.DN != testenv.UserDN(3) {
		t.Errorf("DN = %q, want %q", e.DN, testenv.UserDN(3))
	}
	if e.Attributes != nil || e.Groups != nil {
		t.Errorf("nothing configured, but got attributes %v groups %v", e.Attributes, e.Groups)
	}
}

func TestWrongPasswordAndUnknownUserGetTheSameError(t *testing.T) {
	s := testSlapd(t)
	d, reg := newDirectory(t, baseConfig(s))
	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", testenv.UserID(4), "not-the-password"},
		{"password of another user", testenv.UserID(4), testenv.UserPassword(5)},
		{"unknown user", "9999999999", testenv.UserPassword(4)},
		{"malformed user", "bad\x00name", testenv.UserPassword(4)},
		{"padded user", " " + testenv.UserID(4), testenv.UserPassword(4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Authenticate(ctx, tc.user, tc.password)
			if err != ErrInvalidCredentials {
				t.Errorf("err = %v, want exactly ErrInvalidCredentials", err)
			}
		})
	}
	if n := counter(t, reg, "kakunin_ldap_errors_total"); n != 0 {
		t.Errorf("rejections counted as %v directory errors", n)
	}
	if n := counter(t, reg, "kakunin_ldap_authentications_total", "outcome", outcomeInvalid); n != 5 {
		t.Errorf("invalid_credentials outcomes = %v, want 5", n)
	}
}

func TestEmptyPasswordMakesNoBind(t *testing.T) {
	s := testSlapd(t)
	d, reg := newDirectory(t, baseConfig(s))
	for _, user := range []string{testenv.UserID(1), "9999999999"} {
		if _, err := d.Authenticate(ctx, user, ""); err != ErrInvalidCredentials {
			t.Errorf("%s: err = %v, want ErrInvalidCredentials", user, err)
		}
	}
	for _, op := range []string{opDial, opBind, opServiceBind, opSearch} {
		if n := opCount(t, reg, op); n != 0 {
			t.Errorf("%d %s operations for an empty password, want none", n, op)
		}
	}
}

func TestFilterInjectionRejected(t *testing.T) {
	s := testSlapd(t)
	password := testenv.UserPassword(1)
	injections := []string{
		"*",
		"0*",
		")(uid=*",
		testenv.UserID(1) + ")(uid=*",
		"*)(|(uid=*",
		testenv.UserID(1) + `\2a`,
		testenv.UserID(1) + ",ou=people",
		"uid=" + testenv.UserID(1) + "," + s.PeopleDN,
	}
	templates := map[string]string{
		"search":      "",
		"dn template": "uid=%s," + s.PeopleDN,
	}
	for name, tmpl := range templates {
		t.Run(name, func(t *testing.T) {
			cfg := baseConfig(s)
			cfg.BindTemplate = tmpl
			d, _ := newDirectory(t, cfg)
			for _, user := range injections {
				if e, err := d.Authenticate(ctx, user, password); err != ErrInvalidCredentials {
					t.Errorf("user %q: entry %q, err %v; want ErrInvalidCredentials", user, e.DN, err)
				}
			}
		})
	}
}

func TestRequiredGroup(t *testing.T) {
	s := testSlapd(t)
	staff := strings.Replace(strings.ToUpper(s.VPNStaffDN), ",", ", ", -1) // the directory's DN matching ignores case and spacing
	for _, tc := range []struct {
		name     string
		group    string
		user     string
		password string
		want     error
	}{
		{"member", s.VPNStaffDN, testenv.UserID(1), testenv.UserPassword(1), nil},
		{"member, group DN in other case", staff, testenv.UserID(2), testenv.UserPassword(2), nil},
		{"not a member", s.VPNStaffDN, testenv.UserID(10), testenv.UserPassword(10), ErrNotAllowed},
		{"not a member, wrong password", s.VPNStaffDN, testenv.UserID(10), "wrong", ErrInvalidCredentials},
		{"admin", s.VPNAdminsDN, testenv.UserID(1), testenv.UserPassword(1), nil},
		{"not an admin", s.VPNAdminsDN, testenv.UserID(2), testenv.UserPassword(2), ErrNotAllowed},
		{"contractor member, reads through the service", s.VPNStaffDN, contractorUID, contractorPassword, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(s)
			cfg.RequiredGroup = tc.group
			d, _ := newDirectory(t, cfg)
			// The second login binds with the cached DN and reads the
			// groups after the bind; the first took them from the search.
			for _, login := range []string{"first", "cached"} {
				_, err := d.Authenticate(ctx, tc.user, tc.password)
				if !errors.Is(err, tc.want) || (err != nil && tc.want == nil) {
					t.Errorf("%s login: err = %v, want %v", login, err, tc.want)
				}
			}
		})
	}
}

func TestAttributesFetched(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.Attributes = map[string]string{"mail": "mail", "phone": "telephoneNumber", "title": "title"}
	cfg.NeedGroups = true
	d, reg := newDirectory(t, cfg)

	want := Entry{
		DN:         testenv.UserDN(1),
		Attributes: map[string]string{"mail": testenv.UserMail(1), "phone": testenv.UserPhone(1)},
		Groups:     []string{s.VPNStaffDN, s.VPNAdminsDN},
	}
	for _, login := range []string{"first", "cached"} {
		e, err := d.Authenticate(ctx, testenv.UserID(1), testenv.UserPassword(1))
		if err != nil {
			t.Fatalf("%s login: %v", login, err)
		}
		slices.Sort(e.Groups)
		slices.Sort(want.Groups)
		if fmt.Sprint(e) != fmt.Sprint(want) {
			t.Errorf("%s login: entry\n%+v, want\n%+v", login, e, want)
		}
	}
	if n := opCount(t, reg, opRead); n != 1 {
		t.Errorf("%d reads after bind, want 1 (for the cached login only)", n)
	}
}

func TestUserWhoCannotReadOwnEntryIsReadByService(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.Attributes = map[string]string{"mail": "mail"}
	d, reg := newDirectory(t, cfg)
	for _, login := range []string{"first", "cached"} {
		e, err := d.Authenticate(ctx, contractorUID, contractorPassword)
		if err != nil {
			t.Fatalf("%s login: %v", login, err)
		}
		if e.Attributes["mail"] != "c1@contractor.example" {
			t.Errorf("%s login: attributes %v", login, e.Attributes)
		}
	}
	// The cached login read the entry once, as the service account.
	if n := opCount(t, reg, opRead); n != 1 {
		t.Errorf("%d reads, want 1", n)
	}
}

func TestNoReadWithoutGroupsOrAttributes(t *testing.T) {
	s := testSlapd(t)
	d, reg := newDirectory(t, baseConfig(s))
	for range 3 {
		if _, err := d.Authenticate(ctx, testenv.UserID(6), testenv.UserPassword(6)); err != nil {
			t.Fatal(err)
		}
	}
	if n := opCount(t, reg, opRead); n != 0 {
		t.Errorf("%d reads, want none", n)
	}
}

func TestLDAPSWithCAFile(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.URLs = []string{s.LDAPSURL}
	cfg.CAFile = s.CAFile
	d, _ := newDirectory(t, cfg)
	if _, err := d.Authenticate(ctx, testenv.UserID(7), testenv.UserPassword(7)); err != nil {
		t.Fatal(err)
	}
	assertPooledTLS(t, d)

	// Without the CA the certificate is not trusted.
	cfg.CAFile = ""
	d, _ = newDirectory(t, cfg)
	if _, err := d.Authenticate(ctx, testenv.UserID(7), testenv.UserPassword(7)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("unknown CA: err = %v, want ErrUnavailable", err)
	}
	// Nor is a certificate for another name.
	cfg.CAFile = s.CAFile
	cfg.ServerName = "ldap.example.ac.jp"
	d, _ = newDirectory(t, cfg)
	if _, err := d.Authenticate(ctx, testenv.UserID(7), testenv.UserPassword(7)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("wrong server name: err = %v, want ErrUnavailable", err)
	}
}

func TestStartTLS(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.StartTLS = true
	cfg.CAFile = s.CAFile
	d, _ := newDirectory(t, cfg)
	if _, err := d.Authenticate(ctx, testenv.UserID(8), testenv.UserPassword(8)); err != nil {
		t.Fatal(err)
	}
	assertPooledTLS(t, d)
}

// assertPooledTLS checks that the connections a login used are encrypted.
func assertPooledTLS(t *testing.T, d *Directory) {
	t.Helper()
	for _, p := range []*pool{d.service, d.users} {
		select {
		case c := <-p.idle:
			if _, ok := c.l.TLSConnectionState(); !ok {
				t.Errorf("%s pool connection is not TLS", p.name)
			}
			p.idle <- c
		default:
			t.Errorf("no idle connection in the %s pool", p.name)
		}
	}
}

func TestFailover(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.URLs = []string{"ldap://" + closedPort(t), s.URL}
	d, reg := newDirectory(t, cfg)
	for i := range 3 {
		if _, err := d.Authenticate(ctx, testenv.UserID(11), testenv.UserPassword(11)); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// The first server was tried once, then skipped during its back-off.
	if n := counter(t, reg, "kakunin_ldap_errors_total", "server", "0", "reason", "dial"); n != 1 {
		t.Errorf("%v dial errors at the dead server, want 1", n)
	}
}

func TestSilentServerTimesOut(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	addr, _ := silentServer(t)
	cfg.URLs = []string{"ldap://" + addr}
	cfg.Timeout = 100 * time.Millisecond
	for _, tmpl := range []string{"", "uid=%s," + s.PeopleDN} {
		cfg.BindTemplate = tmpl
		d, reg := newDirectory(t, cfg)
		if _, err := d.Authenticate(ctx, testenv.UserID(12), testenv.UserPassword(12)); !errors.Is(err, ErrUnavailable) {
			t.Errorf("template %q: err = %v, want ErrUnavailable", tmpl, err)
		}
		if n := counter(t, reg, "kakunin_ldap_errors_total", "reason", "timeout"); n != 1 {
			t.Errorf("template %q: %v timeouts counted, want 1", tmpl, n)
		}
		if err := d.Ping(ctx); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Ping: err = %v, want ErrUnavailable", err)
		}
	}
}

func TestSilentServerFailsOverToNext(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	addr, _ := silentServer(t)
	cfg.URLs = []string{"ldap://" + addr, s.URL}
	cfg.Timeout = 100 * time.Millisecond
	d, _ := newDirectory(t, cfg)
	// The service connection's bind times out at the first server; the
	// dial moves on to the second.
	if _, err := d.Authenticate(ctx, testenv.UserID(13), testenv.UserPassword(13)); err != nil {
		t.Fatal(err)
	}
}

func TestContextDeadlineBoundsOperations(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	addr, accepted := silentServer(t)
	cfg.URLs = []string{"ldap://" + addr}
	cfg.Timeout = time.Hour
	d, reg := newDirectory(t, cfg)

	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if _, err := d.Authenticate(expired, testenv.UserID(14), testenv.UserPassword(14)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("expired context: err = %v, want ErrUnavailable", err)
	}
	if n := opCount(t, reg, opServiceBind) + opCount(t, reg, opSearch) + opCount(t, reg, opBind); n != 0 {
		t.Errorf("%d operations started past the deadline", n)
	}

	// With an hour's timeout, only the context's deadline can end this.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := d.Authenticate(short, testenv.UserID(14), testenv.UserPassword(14)); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("short context: err = %v, want ErrUnavailable wrapping the deadline", err)
	}

	// A cancelled context aborts an operation in flight (or one about
	// to start, whichever the cancellation meets).
	for len(accepted) > 0 {
		<-accepted
	}
	cancelled, cancel := context.WithCancel(ctx)
	go func() {
		<-accepted
		cancel()
	}()
	if _, err := d.Authenticate(cancelled, testenv.UserID(14), testenv.UserPassword(14)); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want ErrUnavailable wrapping the cancellation", err)
	}
}

func TestDNCacheSkipsSearch(t *testing.T) {
	s := testSlapd(t)
	d, reg := newDirectory(t, baseConfig(s))
	for range 3 {
		if _, err := d.Authenticate(ctx, testenv.UserID(15), testenv.UserPassword(15)); err != nil {
			t.Fatal(err)
		}
	}
	if n := opCount(t, reg, opSearch); n != 1 {
		t.Errorf("%d searches, want 1", n)
	}
	if n := opCount(t, reg, opBind); n != 3 {
		t.Errorf("%d binds, want 3", n)
	}
	if n := counter(t, reg, "kakunin_ldap_dn_cache_lookups_total", "result", "hit"); n != 2 {
		t.Errorf("%v cache hits, want 2", n)
	}
}

func TestWrongPasswordWithCachedDNBindsOnce(t *testing.T) {
	s := testSlapd(t)
	d, reg := newDirectory(t, baseConfig(s))
	if _, err := d.Authenticate(ctx, testenv.UserID(16), testenv.UserPassword(16)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, testenv.UserID(16), "wrong"); err != ErrInvalidCredentials {
		t.Fatalf("err = %v, want ErrInvalidCredentials", err)
	}
	// The refused bind searched again, found the same DN, and did not
	// bind the wrong password a second time.
	if n := opCount(t, reg, opBind); n != 2 {
		t.Errorf("%d binds, want 2", n)
	}
	if n := opCount(t, reg, opSearch); n != 2 {
		t.Errorf("%d searches, want 2", n)
	}
}

func TestDNCacheExpires(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.DNCacheTTL = time.Minute
	d, reg := newDirectory(t, cfg)
	now := time.Now()
	d.now = func() time.Time { return now }
	login := func() {
		t.Helper()
		if _, err := d.Authenticate(ctx, testenv.UserID(17), testenv.UserPassword(17)); err != nil {
			t.Fatal(err)
		}
	}
	login()
	now = now.Add(59 * time.Second)
	login()
	if n := opCount(t, reg, opSearch); n != 1 {
		t.Errorf("%d searches within the TTL, want 1", n)
	}
	now = now.Add(time.Second)
	login()
	if n := opCount(t, reg, opSearch); n != 2 {
		t.Errorf("%d searches after the TTL, want 2", n)
	}
}

func TestDNCacheDisabled(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.DNCacheTTL = -1
	d, reg := newDirectory(t, cfg)
	for range 2 {
		if _, err := d.Authenticate(ctx, testenv.UserID(18), testenv.UserPassword(18)); err != nil {
			t.Fatal(err)
		}
	}
	if n := opCount(t, reg, opSearch); n != 2 {
		t.Errorf("%d searches, want 2", n)
	}
}

func TestMovedEntryStillLogsIn(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.RequiredGroup = s.VPNStaffDN
	d, reg := newDirectory(t, cfg)
	user, password := testenv.UserID(movedUser), testenv.UserPassword(movedUser)
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
	newDN := "uid=" + user + ",ou=moved," + s.BaseDN
	if err := admin.ModifyDN(ldap.NewModifyDNRequest(testenv.UserDN(movedUser), "uid="+user, true, "ou=moved,"+s.BaseDN)); err != nil {
		t.Fatal(err)
	}
	defer func() { // for -count
		if err := admin.ModifyDN(ldap.NewModifyDNRequest(newDN, "uid="+user, true, s.PeopleDN)); err != nil {
			t.Errorf("move back: %v", err)
		}
	}()

	e, err := d.Authenticate(ctx, user, password)
	if err != nil {
		t.Fatalf("after the move: %v", err)
	}
	if !sameDN(e.DN, newDN) {
		t.Errorf("DN = %q, want %q", e.DN, newDN)
	}
	// One search per DN, and the refused bind with the old DN.
	if n, m := opCount(t, reg, opSearch), opCount(t, reg, opBind); n != 2 || m != 3 {
		t.Errorf("%d searches and %d binds, want 2 and 3", n, m)
	}
	if _, err := d.Authenticate(ctx, user, password); err != nil {
		t.Fatalf("third login: %v", err)
	}
	if n := opCount(t, reg, opSearch); n != 2 {
		t.Errorf("the new DN was not cached: %d searches", n)
	}
}

func TestBindTemplateSkipsSearch(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.BindTemplate = "uid=%s," + s.PeopleDN
	d, reg := newDirectory(t, cfg)
	e, err := d.Authenticate(ctx, testenv.UserID(19), testenv.UserPassword(19))
	if err != nil {
		t.Fatal(err)
	}
	if e.DN != testenv.UserDN(19) {
		t.Errorf("DN = %q", e.DN)
	}
	if _, err := d.Authenticate(ctx, "9999999999", "x"); err != ErrInvalidCredentials {
		t.Errorf("unknown user: err = %v, want ErrInvalidCredentials", err)
	}
	if n := opCount(t, reg, opSearch); n != 0 {
		t.Errorf("%d searches, want none", n)
	}

	cfg.RequiredGroup = s.VPNStaffDN
	d, reg = newDirectory(t, cfg)
	if _, err := d.Authenticate(ctx, testenv.UserID(19), testenv.UserPassword(19)); err != nil {
		t.Error(err)
	}
	if _, err := d.Authenticate(ctx, testenv.UserID(20), testenv.UserPassword(20)); err != ErrNotAllowed {
		t.Errorf("non-member: err = %v, want ErrNotAllowed", err)
	}
	if n, m := opCount(t, reg, opSearch), opCount(t, reg, opRead); n != 0 || m != 2 {
		t.Errorf("%d searches and %d reads, want 0 and 2", n, m)
	}
}

func TestPrincipalTemplate(t *testing.T) {
	// Active Directory binds with user@domain. OpenLDAP has no such
	// names, so only the refusals can be tested against it.
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.BindTemplate = "%s@example.ac.jp"
	d, reg := newDirectory(t, cfg)
	for _, user := range []string{"a@b", `EXAMPLE\a`, "a b", "a,b"} {
		if _, err := d.Authenticate(ctx, user, "x"); err != ErrInvalidCredentials {
			t.Errorf("%q: err = %v, want ErrInvalidCredentials", user, err)
		}
	}
	if n := opCount(t, reg, opBind); n != 0 {
		t.Errorf("%d binds with refused names", n)
	}
}

func TestConcurrentLogins(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.PoolSize = 3
	cfg.RequiredGroup = s.VPNStaffDN
	cfg.Attributes = map[string]string{"mail": "mail"}
	d, reg := newDirectory(t, cfg)

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 40 {
				i := 1 + r.IntN(40)
				password, want := testenv.UserPassword(i), error(nil)
				switch {
				case r.IntN(4) == 0:
					password, want = "wrong", ErrInvalidCredentials
				case !testenv.InVPNStaff(i):
					want = ErrNotAllowed
				}
				e, err := d.Authenticate(ctx, testenv.UserID(i), password)
				if err != want {
					errs <- fmt.Errorf("user %d: err = %v, want %v", i, err, want)
				} else if err == nil && e.Attributes["mail"] != testenv.UserMail(i) {
					errs <- fmt.Errorf("user %d: got the entry %+v", i, e)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := opCount(t, reg, opDial); n > 6 {
		t.Errorf("%d connections dialled for two pools of 3", n)
	}
}

func TestPoolReusesConnections(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.DNCacheTTL = -1
	d, reg := newDirectory(t, cfg)
	for i := 1; i <= 10; i++ {
		if _, err := d.Authenticate(ctx, testenv.UserID(i), testenv.UserPassword(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, m := opCount(t, reg, opDial), opCount(t, reg, opServiceBind); n != 2 || m != 1 {
		t.Errorf("%d dials and %d service binds for 10 logins, want 2 and 1", n, m)
	}
}

func TestServiceAccountRefused(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.BindPassword = secret.New("wrong")
	d, _ := newDirectory(t, cfg)
	if _, err := d.Authenticate(ctx, testenv.UserID(1), testenv.UserPassword(1)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Authenticate: err = %v, want ErrUnavailable", err)
	}
	if err := d.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping: err = %v, want ErrUnavailable", err)
	}
}

func TestLookup(t *testing.T) {
	s := testSlapd(t)
	cfg := baseConfig(s)
	cfg.Attributes = map[string]string{"phone": "telephoneNumber"}
	d, _ := newDirectory(t, cfg)
	e, err := d.Lookup(ctx, testenv.UserID(21))
	if err != nil {
		t.Fatal(err)
	}
	if e.DN != testenv.UserDN(21) || e.Attributes["phone"] != testenv.UserPhone(21) || !slices.Equal(e.Groups, []string{s.VPNStaffDN}) {
		t.Errorf("entry %+v", e)
	}
	for _, user := range []string{"9999999999", "*", ""} {
		if _, err := d.Lookup(ctx, user); err != ErrNoSuchUser {
			t.Errorf("%q: err = %v, want ErrNoSuchUser", user, err)
		}
	}
}

func TestPingAndClose(t *testing.T) {
	s := testSlapd(t)
	d, _ := newDirectory(t, baseConfig(s))
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping after Close: %v", err)
	}
	if _, err := d.Authenticate(ctx, testenv.UserID(1), testenv.UserPassword(1)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Authenticate after Close: %v", err)
	}
}

func TestLogsNeverContainPasswords(t *testing.T) {
	s := testSlapd(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	cfg := baseConfig(s)
	cfg.RequiredGroup = s.VPNStaffDN
	cfg.URLs = []string{"ldap://" + closedPort(t), s.URL}
	d, err := New(cfg, slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug})), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	passwords := []string{testenv.UserPassword(22), "Wrong-Pa55word", testenv.UserPassword(30), s.ServicePassword}
	d.Authenticate(ctx, testenv.UserID(22), passwords[0])
	d.Authenticate(ctx, testenv.UserID(22), passwords[1])
	d.Authenticate(ctx, "9999999999", passwords[1])
	d.Authenticate(ctx, testenv.UserID(30), passwords[2])
	mu.Lock()
	defer mu.Unlock()
	if buf.Len() == 0 {
		t.Fatal("nothing logged")
	}
	for _, p := range passwords {
		if strings.Contains(buf.String(), p) {
			t.Errorf("log contains the password %q:\n%s", p, buf.String())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func TestRejectReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("")), "bad password"},
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 775, v893")), "account locked"},
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 52e, v3839")), "bad password"},
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 533, v893")), "account disabled"},
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 532, v893")), "password expired"},
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 773, v893")), "password must be changed"},
		{ldap.NewError(ldap.LDAPResultConstraintViolation, errors.New("Exceed password retry limit.")), "refused by password policy"},
	} {
		if !isRejected(tc.err) {
			t.Errorf("%v: not a rejection", tc.err)
		}
		if got := rejectReason(tc.err); got != tc.want {
			t.Errorf("%v: reason %q, want %q", tc.err, got, tc.want)
		}
	}
	for _, err := range []error{
		ldap.NewError(ldap.LDAPResultBusy, errors.New("busy")),
		ldap.NewError(ldap.LDAPResultOther, errors.New("other")),
		ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection timed out")),
		&net.OpError{Op: "dial", Err: errors.New("refused")},
	} {
		if isRejected(err) {
			t.Errorf("%v taken for a rejection", err)
		}
	}
}

func TestValidUserName(t *testing.T) {
	for name, want := range map[string]bool{
		"0000000001":             true,
		"alice":                  true,
		"山田":                     true,
		"":                       false,
		" alice":                 false,
		"alice\t":                false,
		"al\x00ice":              false,
		"al\nice":                false,
		"\xff":                   false,
		strings.Repeat("a", 257): false,
	} {
		if got := validUserName(name); got != want {
			t.Errorf("validUserName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestDNCacheBounded(t *testing.T) {
	c := newDNCache(time.Minute, 3)
	now := time.Now()
	for i := range 10 {
		c.put(fmt.Sprint(i), fmt.Sprint("uid=", i), now)
	}
	if n := c.len(); n != 3 {
		t.Errorf("%d entries, want 3", n)
	}
	if dn, ok := c.get("9", now); !ok || dn != "uid=9" {
		t.Errorf("latest entry: %q %v", dn, ok)
	}
	if _, ok := c.get("9", now.Add(time.Minute)); ok {
		t.Error("expired entry returned")
	}
}
