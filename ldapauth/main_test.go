package ldapauth

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"kakunin/internal/secret"
	"kakunin/internal/testenv"
)

// Servers shared by the tests of this package (starting one per test
// would dominate the run time); TestMain stops them. Tests that change
// the directory use entries no other test uses.
var shared struct {
	sync.Mutex
	slapds map[string]*testenv.Slapd
	dirs   []string
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Lock()
	for _, s := range shared.slapds {
		if err := s.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop slapd:", err)
		}
	}
	for _, dir := range shared.dirs {
		os.RemoveAll(dir)
	}
	shared.Unlock()
	os.Exit(code)
}

func sharedSlapd(tb testing.TB, name string, opt testenv.SlapdOptions) *testenv.Slapd {
	tb.Helper()
	shared.Lock()
	defer shared.Unlock()
	if s, ok := shared.slapds[name]; ok {
		return s
	}
	dir, err := os.MkdirTemp("", "kakunin-slapd-"+name+"-")
	if err != nil {
		tb.Fatal(err)
	}
	shared.dirs = append(shared.dirs, dir)
	s, err := testenv.StartSlapd(dir, opt)
	if err != nil {
		tb.Fatalf("start slapd: %v", err)
	}
	if shared.slapds == nil {
		shared.slapds = map[string]*testenv.Slapd{}
	}
	shared.slapds[name] = s
	return s
}

// Entries of the test directory besides the 50 generated users.
const (
	contractorUID      = "c1" // outside ou=people: may not read its own entry
	contractorPassword = "c1-pass"
	movedUser          = 45 // TestMovedEntryStillLogsIn moves it to ou=moved
)

// testSlapd is the directory most tests use: 50 users, TLS, a contractor
// in vpn-staff, and an empty ou=moved.
func testSlapd(tb testing.TB) *testenv.Slapd {
	return sharedSlapd(tb, "test", testenv.SlapdOptions{
		Users: 50,
		TLS:   true,
		ExtraLDIF: `dn: ou=contractors,dc=example,dc=ac,dc=jp
objectClass: organizationalUnit
ou: contractors

dn: uid=c1,ou=contractors,dc=example,dc=ac,dc=jp
objectClass: inetOrgPerson
uid: c1
cn: Contractor One
sn: One
mail: c1@contractor.example
userPassword: c1-pass

dn: cn=vpn-staff,ou=groups,dc=example,dc=ac,dc=jp
changetype: modify
add: member
member: uid=c1,ou=contractors,dc=example,dc=ac,dc=jp

dn: ou=moved,dc=example,dc=ac,dc=jp
objectClass: organizationalUnit
ou: moved
`,
	})
}

// baseConfig is a valid configuration for s with the defaults.
func baseConfig(s *testenv.Slapd) Config {
	var cfg Config
	cfg.SetDefaults()
	cfg.URLs = []string{s.URL}
	cfg.BindDN = s.ServiceDN
	cfg.BindPassword = secret.New(s.ServicePassword)
	cfg.BaseDN = s.BaseDN
	return cfg
}

// newDirectory starts a Directory on cfg with its own registry, logging to
// the test's log.
func newDirectory(t testing.TB, cfg Config) (*Directory, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	d, err := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, reg
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// opCount is the number of LDAP operations of a kind a Directory ran.
func opCount(t testing.TB, reg *prometheus.Registry, op string) uint64 {
	t.Helper()
	var n uint64
	for _, m := range gather(t, reg, "kakunin_ldap_operation_duration_seconds") {
		if label(m, "op") == op {
			n += m.GetHistogram().GetSampleCount()
		}
	}
	return n
}

// counter is the value of a counter with the given labels.
func counter(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	var v float64
next:
	for _, m := range gather(t, reg, name) {
		for i := 0; i+1 < len(labels); i += 2 {
			if label(m, labels[i]) != labels[i+1] {
				continue next
			}
		}
		v += m.GetCounter().GetValue()
	}
	return v
}

func gather(t testing.TB, reg *prometheus.Registry, name string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// closedPort is an address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentServer accepts connections and never answers. It signals each
// connection it accepts on accepted, if there is room.
func silentServer(t testing.TB) (addr string, accepted <-chan struct{}) {
	t.Helper()
	acc := make(chan struct{}, 1)
	ln := testenv.ServeTCP(t, func(c net.Conn) {
		select {
		case acc <- struct{}{}:
		default:
		}
		io.Copy(io.Discard, c) // and never answer
	})
	return ln.Addr().String(), acc
}
