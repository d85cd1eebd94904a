package ldapauth

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"kakunin/internal/testenv"
)

// Benchmarks run against a slapd with benchUsers users, logging in random
// members of vpn-staff with the right password. Each sub-benchmark of
// BenchmarkAuthenticate also runs the naive loop of
// BenchmarkNaiveSearchBind for as many logins, and reports
// x_naive: how many times faster than that baseline Directory was.
//
//	go test -run '^$' -bench . -benchtime 20000x ./ldapauth/
const benchUsers = 10_000

func benchSlapd(b *testing.B) *testenv.Slapd {
	return sharedSlapd(b, "bench", testenv.SlapdOptions{Users: benchUsers})
}

// benchUser picks a member of vpn-staff.
func benchUser(r *rand.Rand) int {
	for {
		if i := 1 + r.IntN(benchUsers); testenv.InVPNStaff(i) {
			return i
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	s := benchSlapd(b)
	for _, bc := range []struct {
		name   string
		change func(*Config)
	}{
		{"dn_cache", func(*Config) {}},
		{"no_cache", func(c *Config) { c.DNCacheTTL = -1 }},
		{"required_group", func(c *Config) { c.RequiredGroup = s.VPNStaffDN }},
		{"required_group_no_cache", func(c *Config) { c.RequiredGroup = s.VPNStaffDN; c.DNCacheTTL = -1 }},
		{"bind_template", func(c *Config) { c.BindTemplate = "uid=%s," + s.PeopleDN }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := baseConfig(s)
			bc.change(&cfg)
			d, err := New(cfg, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			var seed atomic.Uint64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(seed.Add(1), 1))
				for pb.Next() {
					i := benchUser(r)
					if _, err := d.Authenticate(context.Background(), testenv.UserID(i), testenv.UserPassword(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			ours := b.Elapsed()
			b.StopTimer()
			naive := naiveLogins(b, s, b.N, runtime.GOMAXPROCS(0))
			b.ReportMetric(float64(b.N)/ours.Seconds(), "logins/s")
			b.ReportMetric(naive.Seconds()/ours.Seconds(), "x_naive")
		})
	}
}

// BenchmarkNaiveSearchBind is the baseline: plain go-ldap, one connection
// per worker, search as the service account, bind as the user, bind as
// the service account again.
func BenchmarkNaiveSearchBind(b *testing.B) {
	s := benchSlapd(b)
	b.ResetTimer()
	took := naiveLogins(b, s, b.N, runtime.GOMAXPROCS(0))
	b.ReportMetric(float64(b.N)/took.Seconds(), "logins/s")
}

// naiveLogins runs n naive logins on as many workers as RunParallel uses
// and returns the time they took.
func naiveLogins(b *testing.B, s *testenv.Slapd, n, workers int) time.Duration {
	var (
		left = int64(n)
		wg   sync.WaitGroup
	)
	conns := make([]*ldap.Conn, workers)
	for w := range conns {
		c, err := ldap.DialURL(s.URL)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Bind(s.ServiceDN, s.ServicePassword); err != nil {
			b.Fatal(err)
		}
		conns[w] = c
	}
	start := time.Now()
	for w, c := range conns {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w)+1000, 2))
			for atomic.AddInt64(&left, -1) >= 0 {
				i := benchUser(r)
				res, err := c.Search(ldap.NewSearchRequest(s.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
					"(&(objectClass=inetOrgPerson)(uid="+ldap.EscapeFilter(testenv.UserID(i))+"))", []string{"dn"}, nil))
				if err != nil || len(res.Entries) != 1 {
					b.Errorf("search: %v", err)
					return
				}
				if err := c.Bind(res.Entries[0].DN, testenv.UserPassword(i)); err != nil {
					b.Errorf("bind: %v", err)
					return
				}
				if err := c.Bind(s.ServiceDN, s.ServicePassword); err != nil {
					b.Errorf("rebind: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
