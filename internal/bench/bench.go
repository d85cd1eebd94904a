// Package bench measures kakunin's whole two-round login (password, TOTP
// challenge, code, accept) against a real slapd, and in the same run the
// naive floor: a plain go-ldap loop doing search-then-bind against the same
// slapd with no RADIUS in between. It reports both and their ratio; it is a
// load tool, never a timed test.
package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"layeh.com/radius"

	"kakunin/challenge"
	"kakunin/internal/secret"
	"kakunin/internal/testenv"
	kradius "kakunin/radius"
	"kakunin/store"
)

// Options say what to measure.
type Options struct {
	Users         int           // users in the directory and the store
	Concurrency   int           // logins in flight at once
	Duration      time.Duration // measured time per phase
	Warmup        time.Duration // unmeasured time before each phase
	Driver        string        // store driver: sqlite or postgres (RunHeld)
	Drivers       []string      // Run: one kakunin system per store driver (default: Driver)
	Peer          string        // Run: "freeradius" to measure FreeRADIUS too, "none" not to
	FreeRADIUS    string        // the freeradius binary (default: found on PATH or in /usr/sbin)
	Rounds        int           // Run: interleaved rounds per system (A B A B)
	StoreUsers    int           // users in kakunin's store; beyond the directory's, enrolled only in the store
	Rate          int           // logins started per second by all workers together; 0: as fast as they go
	Nodes         int           // Run: with postgres, also measure this many kakunin nodes on one database driven together
	PostgresDSN   string        // with postgres; a fresh schema is made in it
	RequiredGroup bool          // both loops check membership of vpn-staff
	BindTemplate  bool          // kakunin binds with a DN template instead of searching
	Kakunin       string        // the kakunin binary to run as the server
	Dir           string        // work directory (slapd, store, logs)
	Out           io.Writer     // progress and the report
	Held          int           // RunHeld: push requests to hold beside the TOTP flow
	ProfileDir    string        // Run: save a CPU profile of each kakunin phase here

	// Extra configuration for the server (RunHeld).
	extraConfig, flowConfig, radiusConfig string
}

// Result is one phase's measurement.
type Result struct {
	Name     string
	Logins   int
	Errors   int
	Rate     float64 // logins per second
	P50, P99 time.Duration
	// CPU time per login, by process: where the machine's cores went.
	// CPUPostgres is the sum of the PostgreSQL backends serving kakunin.
	CPUBench, CPUServer, CPUSlapd, CPUPostgres time.Duration
	Kind                                       string // naive, freeradius or kakunin
	Driver                                     string // kakunin's store driver
	HasServer, HasPostgres                     bool   // whether CPUServer, CPUPostgres apply
}

// Seed is the TOTP seed the benchmark enrolls for generated user i.
func Seed(i int) []byte {
	s := sha256.Sum256([]byte("kakunin-bench:" + testenv.UserID(i)))
	return s[:20]
}

// A system is one thing measured: a name, how a worker signs in, and the
// processes whose CPU time it is charged.
type system struct {
	name      string
	kind      string // naive, freeradius, kakunin
	driver    string // kakunin's store driver
	pids      cpuPids
	newWorker func() (login func() error, done func(), err error)
	samples   []sample
	srv       *server // kakunin on one node: what -cpuprofile profiles
}

// Run starts slapd with opt.Users users, enrolls them in each store of
// opt.Drivers, starts kakunin serve for each (and FreeRADIUS with the
// same users when opt.Peer is freeradius), then measures every system in
// turn, opt.Rounds times interleaved (A B C A B C), and returns one
// result per system.
func Run(ctx context.Context, opt Options) ([]Result, error) {
	out := opt.Out
	if opt.Rounds < 1 {
		opt.Rounds = 1
	}
	if len(opt.Drivers) == 0 {
		opt.Drivers = []string{opt.Driver}
	}
	// A kept work directory is reused: start from an empty one.
	if err := os.RemoveAll(opt.Dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return nil, err
	}
	t0 := time.Now()
	fmt.Fprintf(out, "starting slapd with %d users ... ", opt.Users)
	sl, err := testenv.StartSlapd(filepath.Join(opt.Dir, "slapd"), testenv.SlapdOptions{Users: opt.Users})
	if err != nil {
		return nil, err
	}
	defer sl.Stop()
	fmt.Fprintf(out, "%.1fs\n", time.Since(t0).Seconds())

	users := eligible(opt.Users, opt.RequiredGroup)
	group := ""
	if opt.RequiredGroup {
		group = sl.VPNStaffDN
	}
	bench := os.Getpid()
	systems := []*system{{
		name: "naive go-ldap search+bind", kind: "naive",
		pids: cpuPids{bench: bench, slapd: sl.Pid()},
		newWorker: func() (func() error, func(), error) {
			return naiveLogin(sl, group, newPicker(users, false))
		},
	}}

	if opt.Peer == "freeradius" {
		bin := opt.FreeRADIUS
		if bin == "" {
			if bin, err = FindFreeRADIUS(); err != nil {
				return nil, err
			}
		}
		t0 = time.Now()
		fmt.Fprintf(out, "starting FreeRADIUS with %d users ... ", len(users))
		p, err := startFreeRADIUS(ctx, bin, filepath.Join(opt.Dir, "freeradius"), sl, group, max(opt.Concurrency, 4), users)
		if err != nil {
			return nil, err
		}
		defer p.stop()
		fmt.Fprintf(out, "%.1fs\n", time.Since(t0).Seconds())
		// The peer must really do both rounds: a wrong code is refused.
		if err := selfCheck(ctx, p.radiusAddr, p.secret, users[0], users[1]); err != nil {
			return nil, fmt.Errorf("FreeRADIUS phase: %w (see %s)", err, p.log)
		}
		picker := newPicker(users[2:], true)
		systems = append(systems, &system{
			name: "FreeRADIUS password+TOTP (2 rounds)", kind: "freeradius",
			pids: cpuPids{bench: bench, server: p.cmd.Process.Pid, slapd: sl.Pid()},
			newWorker: func() (func() error, func(), error) {
				return radiusLogin(p.radiusAddr, p.secret, picker)
			},
		})
	}

	for _, driver := range opt.Drivers {
		o := opt
		o.Driver = driver
		o.Dir = filepath.Join(opt.Dir, "kakunin-"+driver)
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return nil, err
		}
		storeCfg, dropSchema, err := storeConfig(ctx, o)
		if err != nil {
			return nil, err
		}
		defer dropSchema()
		// Each node's PostgreSQL backends are told apart by application_name.
		app := ""
		if driver == store.DriverPostgres {
			app = "kakunin-bench-" + strings.ToLower(rand.Text()[:8])
		}
		enrolled, extra := users, []int(nil)
		if opt.StoreUsers > 0 && opt.StoreUsers < len(users) {
			enrolled = users[:opt.StoreUsers]
		} else if opt.StoreUsers > len(users) {
			// Users beyond the directory: only in the store.
			for i := opt.Users + 1; len(extra) < opt.StoreUsers-len(users); i++ {
				extra = append(extra, i)
			}
		}
		t0 = time.Now()
		fmt.Fprintf(out, "enrolling %d users in the %s store ... ", len(enrolled)+len(extra), driver)
		if err := enroll(ctx, storeCfg, slices.Concat(enrolled, extra)); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "%.1fs\n", time.Since(t0).Seconds())
		nodes := 1
		if driver == store.DriverPostgres && opt.Nodes > 1 {
			nodes = opt.Nodes
		}
		var srvs []*server
		for n := 1; n <= nodes; n++ {
			on := o
			if n > 1 {
				on.Dir = fmt.Sprintf("%s-node%d", o.Dir, n)
				if err := os.MkdirAll(on.Dir, 0o700); err != nil {
					return nil, err
				}
			}
			sc := storeCfg
			if app != "" {
				sc.DSN = secret.New(withParam(storeCfg.DSN.Value(), "application_name", fmt.Sprintf("%s-node%d", app, n)))
			}
			srv, err := startServer(ctx, on, sl, sc)
			if err != nil {
				return nil, err
			}
			defer srv.stop()
			srvs = append(srvs, srv)
		}
		pids := cpuPids{bench: bench, server: srvs[0].cmd.Process.Pid, slapd: sl.Pid()}
		one := pids
		if app != "" {
			pg, err := newPGBackends(ctx, opt.PostgresDSN)
			if err != nil {
				return nil, err
			}
			defer pg.close()
			one.postgres = func() []int { return pg.pids(app + "-node1") }
			pids.postgres = func() []int { return pg.pids(app + "-node%") }
		}
		picker := newPicker(enrolled, true)
		srv := srvs[0]
		systems = append(systems, &system{
			name: "kakunin password+TOTP, " + driver, kind: "kakunin", driver: driver, pids: one,
			newWorker: func() (func() error, func(), error) {
				return radiusLogin(srv.radiusAddr, srv.secret, picker)
			},
			srv: srv,
		})
		if nodes > 1 {
			all := pids
			for _, s := range srvs[1:] {
				all.moreServers = append(all.moreServers, s.cmd.Process.Pid)
			}
			var next atomic.Int64
			systems = append(systems, &system{
				name: fmt.Sprintf("kakunin password+TOTP, %s, %d nodes", driver, nodes), kind: "kakunin", driver: fmt.Sprintf("%s %d nodes", driver, nodes), pids: all,
				newWorker: func() (func() error, func(), error) {
					// Workers spread over the nodes; both rounds of a login at one node.
					s := srvs[int(next.Add(1)-1)%len(srvs)]
					return radiusLogin(s.radiusAddr, s.secret, picker)
				},
			})
		}
	}

	for round := 1; round <= opt.Rounds; round++ {
		for _, s := range systems {
			fmt.Fprintf(out, "round %d/%d: %s, concurrency %d, %s ... ", round, opt.Rounds, s.name, opt.Concurrency, opt.Duration)
			var profiled chan error
			if opt.ProfileDir != "" && s.srv != nil {
				// The middle of the measured time, past the warm-up.
				path := filepath.Join(opt.ProfileDir, fmt.Sprintf("cpu-%s-round%d.pprof", s.driver, round))
				profiled = make(chan error, 1)
				go func() { profiled <- s.srv.profile(opt.Warmup+opt.Duration/4, opt.Duration/2, path) }()
			}
			smp, err := sampleOnce(ctx, s.name, opt, s.pids, s.newWorker)
			if profiled != nil {
				if perr := <-profiled; perr != nil {
					fmt.Fprintf(out, "(no profile: %v) ", perr)
				}
			}
			if err != nil {
				return nil, err
			}
			s.samples = append(s.samples, smp)
			fmt.Fprintf(out, "%.0f/s\n", float64(len(smp.lats))/smp.elapsed.Seconds())
		}
	}
	var res []Result
	for _, s := range systems {
		r, err := finish(s.name, s.samples)
		if err != nil {
			return nil, err
		}
		r.Kind, r.Driver = s.kind, s.driver
		r.HasServer, r.HasPostgres = s.pids.server != 0, s.pids.postgres != nil
		res = append(res, r)
	}
	return res, nil
}

// withParam adds a run-time parameter to a PostgreSQL DSN in URL or
// key=value form.
func withParam(dsn, key, value string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

// Report prints the results, then kakunin's ratios to FreeRADIUS and to
// the naive loop.
func Report(w io.Writer, opt Options, rs []Result) {
	storeUsers := ""
	if opt.StoreUsers > 0 {
		storeUsers = fmt.Sprintf(", %d users in the store", opt.StoreUsers)
	}
	fmt.Fprintf(w, "\n%d users%s, concurrency %d, %d interleaved rounds of %s per system, required group %v, %d CPUs\n",
		opt.Users, storeUsers, opt.Concurrency, opt.Rounds, opt.Duration, opt.RequiredGroup, runtime.NumCPU())
	fmt.Fprintf(w, "%-42s %8s %6s %7s %8s %8s   %s\n", "", "logins", "errors", "rate/s", "p50", "p99",
		"CPU µs per login: server / slapd / PostgreSQL / load client")
	us := func(d time.Duration, ok bool) string {
		if !ok {
			return "–"
		}
		return fmt.Sprintf("%d", d.Microseconds())
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
	var naive, peer *Result
	for i, r := range rs {
		fmt.Fprintf(w, "%-42s %8d %6d %7.0f %8s %8s   %s / %s / %s / %s\n", r.Name, r.Logins, r.Errors, r.Rate,
			ms(r.P50), ms(r.P99), us(r.CPUServer, r.HasServer), us(r.CPUSlapd, true), us(r.CPUPostgres, r.HasPostgres), us(r.CPUBench, true))
		switch r.Kind {
		case "naive":
			naive = &rs[i]
		case "freeradius":
			peer = &rs[i]
		}
	}
	for _, r := range rs {
		if r.Kind != "kakunin" {
			continue
		}
		if peer != nil && peer.Rate > 0 && peer.P99 > 0 && peer.CPUServer > 0 {
			fmt.Fprintf(w, "kakunin %s / FreeRADIUS: rate %.2fx, p99 %.2fx, server CPU per login %.2fx",
				r.Driver, r.Rate/peer.Rate, float64(r.P99)/float64(peer.P99), float64(r.CPUServer)/float64(peer.CPUServer))
			if r.HasPostgres {
				fmt.Fprintf(w, " (%.2fx with PostgreSQL's)", float64(r.CPUServer+r.CPUPostgres)/float64(peer.CPUServer))
			}
			fmt.Fprintln(w)
		}
		if naive != nil && naive.Rate > 0 && naive.P99 > 0 {
			fmt.Fprintf(w, "kakunin %s / naive: rate %.2fx, p99 %.2fx\n", r.Driver, r.Rate/naive.Rate, float64(r.P99)/float64(naive.P99))
		}
	}
	if peer != nil && naive != nil && naive.Rate > 0 {
		fmt.Fprintf(w, "FreeRADIUS / naive: rate %.2fx, p99 %.2fx\n", peer.Rate/naive.Rate, float64(peer.P99)/float64(naive.P99))
	}
}

// eligible are the users who may sign in: with a required group, only
// members of vpn-staff.
func eligible(n int, group bool) []int {
	var us []int
	for i := 1; i <= n; i++ {
		if !group || testenv.InVPNStaff(i) {
			us = append(us, i)
		}
	}
	return us
}

func storeConfig(ctx context.Context, opt Options) (c store.Config, cleanup func(), err error) {
	cleanup = func() {}
	key := make([]byte, 32)
	rand.Read(key)
	c = store.Config{Driver: opt.Driver, Path: filepath.Join(opt.Dir, "kakunin.db")}
	c.Encryption.Keys = []store.EncryptionKey{{ID: "bench", Key: secret.New(base64.StdEncoding.EncodeToString(key))}}
	if opt.Driver == store.DriverPostgres {
		dsn, drop, err := testenv.NewPostgresSchema(ctx, opt.PostgresDSN)
		if err != nil {
			return c, nil, err
		}
		c.DSN = secret.New(dsn)
		c.Path = ""
		cleanup = func() { drop() }
	}
	c.SetDefaults()
	return c, cleanup, c.Validate()
}

func enroll(ctx context.Context, cfg store.Config, users []int) error {
	st, err := store.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(users) {
					return
				}
				i := users[k]
				m := store.Method{ID: store.NewID(), UserID: testenv.UserID(i), Kind: store.KindTOTP,
					Label: "bench", Secret: Seed(i), CreatedAt: now}
				if err := st.AddMethod(ctx, m); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// picker hands out users in turn. With oncePerStep no user signs in twice
// within one TOTP step: a code works once, so a reused user would be
// refused (the naive loop has no such limit).
type picker struct {
	users []int
	next  atomic.Int64
	last  []atomic.Int64 // last TOTP step each user signed in at
	once  bool
}

func newPicker(users []int, oncePerStep bool) *picker {
	return &picker{users: users, last: make([]atomic.Int64, len(users)), once: oncePerStep}
}

func (p *picker) pick(now time.Time) (int, bool) {
	if !p.once {
		return p.users[int(p.next.Add(1)-1)%len(p.users)], true
	}
	step := now.Unix() / 30
	for tries := 0; tries < len(p.users); tries++ {
		k := int(p.next.Add(1)-1) % len(p.users)
		if old := p.last[k].Load(); old < step && p.last[k].CompareAndSwap(old, step) {
			return p.users[k], true
		}
	}
	return 0, false
}

// sample is one measured phase of one system.
type sample struct {
	lats     []time.Duration
	errors   int
	firstErr error
	elapsed  time.Duration
	cpu      cpuTimes // spent during the phase, not per login
}

// measure runs one phase and returns its result (RunHeld).
func measure(ctx context.Context, name string, opt Options, pids cpuPids, newWorker func() (login func() error, done func(), err error)) (Result, error) {
	s, err := sampleOnce(ctx, name, opt, pids, newWorker)
	if err != nil {
		return Result{}, err
	}
	return finish(name, []sample{s})
}

// sampleOnce runs one login function per worker for the warm-up, then for
// the measured duration, and collects every login's latency.
func sampleOnce(ctx context.Context, name string, opt Options, pids cpuPids, newWorker func() (login func() error, done func(), err error)) (sample, error) {
	type worker struct {
		login func() error
		done  func()
	}
	ws := make([]worker, opt.Concurrency)
	for i := range ws {
		l, d, err := newWorker()
		if err != nil {
			for _, w := range ws[:i] {
				w.done()
			}
			return sample{}, fmt.Errorf("%s: %w", name, err)
		}
		ws[i] = worker{l, d}
	}
	defer func() {
		for _, w := range ws {
			w.done()
		}
	}()
	var lats = make([][]time.Duration, len(ws))
	var errCount atomic.Int64
	var firstErr atomic.Value
	run := func(d time.Duration, record bool) time.Duration {
		stop := time.Now().Add(d)
		start := time.Now()
		// With a fixed rate, each login waits for its turn: the cost of a
		// login at that load, whatever the store's size lets through.
		var turns chan struct{}
		if opt.Rate > 0 {
			turns = make(chan struct{}, opt.Concurrency)
			tctx, cancel := context.WithDeadline(ctx, stop)
			defer cancel()
			go func() {
				defer close(turns)
				t := time.NewTicker(time.Second / time.Duration(opt.Rate))
				defer t.Stop()
				for {
					select {
					case <-tctx.Done():
						return
					case <-t.C:
						select {
						case turns <- struct{}{}:
						default: // the workers fall behind: counted as a lower rate
						}
					}
				}
			}()
		}
		var wg sync.WaitGroup
		for i, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) && ctx.Err() == nil {
					if turns != nil {
						if _, ok := <-turns; !ok {
							return
						}
					}
					t := time.Now()
					err := w.login()
					if !record {
						continue
					}
					if err != nil {
						errCount.Add(1)
						firstErr.CompareAndSwap(nil, err)
						continue
					}
					lats[i] = append(lats[i], time.Since(t))
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	run(opt.Warmup, false)
	before := pids.read()
	elapsed := run(opt.Duration, true)
	after := pids.read()
	s := sample{lats: slices.Concat(lats...), errors: int(errCount.Load()), elapsed: elapsed, cpu: after.since(before)}
	s.firstErr, _ = firstErr.Load().(error)
	if s.errors > 0 {
		fmt.Fprintf(opt.Out, "(%d errors, first: %v) ", s.errors, s.firstErr)
	}
	return s, ctx.Err()
}

// finish merges a system's phases into its result.
func finish(name string, ss []sample) (Result, error) {
	var all []time.Duration
	var elapsed time.Duration
	var cpu cpuTimes
	r := Result{Name: name}
	var firstErr error
	for _, s := range ss {
		all = append(all, s.lats...)
		elapsed += s.elapsed
		r.Errors += s.errors
		cpu = cpu.plus(s.cpu)
		if firstErr == nil {
			firstErr = s.firstErr
		}
	}
	slices.Sort(all)
	r.Logins = len(all)
	if len(all) == 0 {
		return r, fmt.Errorf("%s: no login succeeded (first error: %v)", name, firstErr)
	}
	r.Rate = float64(len(all)) / elapsed.Seconds()
	r.P50 = all[len(all)/2]
	r.P99 = all[len(all)*99/100]
	per := func(d time.Duration) time.Duration { return d / time.Duration(len(all)) }
	r.CPUBench, r.CPUServer, r.CPUSlapd, r.CPUPostgres = per(cpu.bench), per(cpu.server), per(cpu.slapd), per(cpu.postgres)
	return r, nil
}

// naiveLogin is what a minimal LDAP-backed RADIUS module does per login:
// search for the user's DN as the service account (with memberOf when a
// group is required), then bind as the user. Each worker keeps one
// connection for each role, so no dialing is measured.
func naiveLogin(sl *testenv.Slapd, group string, p *picker) (func() error, func(), error) {
	svc, err := ldap.DialURL(sl.URL)
	if err != nil {
		return nil, nil, err
	}
	if err := svc.Bind(sl.ServiceDN, sl.ServicePassword); err != nil {
		svc.Close()
		return nil, nil, err
	}
	usr, err := ldap.DialURL(sl.URL)
	if err != nil {
		svc.Close()
		return nil, nil, err
	}
	attrs := []string{"1.1"}
	if group != "" {
		attrs = []string{"memberOf"}
	}
	login := func() error {
		i, ok := p.pick(time.Now())
		if !ok {
			return errors.New("no user free in this TOTP step")
		}
		res, err := svc.Search(ldap.NewSearchRequest(sl.PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			2, 5, false, fmt.Sprintf("(&(objectClass=inetOrgPerson)(uid=%s))", ldap.EscapeFilter(testenv.UserID(i))),
			attrs, nil))
		if err != nil {
			return err
		}
		if len(res.Entries) != 1 {
			return fmt.Errorf("search found %d entries", len(res.Entries))
		}
		if err := usr.Bind(res.Entries[0].DN, testenv.UserPassword(i)); err != nil {
			return err
		}
		if group != "" && !slices.ContainsFunc(res.Entries[0].GetAttributeValues("memberOf"), func(g string) bool {
			return strings.EqualFold(g, group)
		}) {
			return errors.New("not in the group")
		}
		return nil
	}
	return login, func() { svc.Close(); usr.Close() }, nil
}

// flowLogin signs in through kakunin: password, challenge, TOTP code,
// accept, over RADIUS with Message-Authenticator.
func flowLogin(srv *server, p *picker) (func() error, func(), error) {
	return radiusLogin(srv.radiusAddr, srv.secret, p)
}

// radiusLogin is the load client of every RADIUS system (kakunin and
// FreeRADIUS alike): Access-Request with the password, Access-Challenge,
// Access-Request with the TOTP code and the State, Access-Accept, each
// with Message-Authenticator.
func radiusLogin(addr, secret string, p *picker) (func() error, func(), error) {
	c := kradius.NewClient(addr, secret, "bench", 2*time.Second)
	login := func() error {
		now := time.Now()
		i, ok := p.pick(now)
		if !ok {
			return errors.New("no user free in this TOTP step")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		id := testenv.UserID(i)
		r, err := c.Access(ctx, id, testenv.UserPassword(i), nil)
		if err != nil {
			return err
		}
		if r.Code != radius.CodeAccessChallenge {
			return fmt.Errorf("round 1: %s %q", r.Code, r.Messages)
		}
		// The code the app shows when the prompt arrives, as a user reads
		// it: FreeRADIUS's rlm_totp takes only the current step, so a
		// code read before round 1 fails across a step boundary.
		r, err = c.Access(ctx, id, challenge.TOTPCode(Seed(i), time.Now()), r.State)
		if err != nil {
			return err
		}
		if r.Code != radius.CodeAccessAccept {
			return fmt.Errorf("round 2: %s %q", r.Code, r.Messages)
		}
		return nil
	}
	return login, func() { c.Close() }, nil
}

// server is kakunin serve running as a child process.
type server struct {
	process
	metrics    string
	radiusAddr string
	secret     string
}

// process is a server the bench started (kakunin serve, freeradius),
// writing to log until it exits.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited and log is closed
}

// start starts cmd with its output to log, which it closes once cmd exits.
func (p *process) start(cmd *exec.Cmd, log *os.File) error {
	p.cmd = cmd
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	p.exited = make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(p.exited) }()
	return nil
}

// stop interrupts the process and waits for it, killing it after 10 s.
func (p *process) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func startServer(ctx context.Context, opt Options, sl *testenv.Slapd, sc store.Config) (*server, error) {
	radiusPort, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	metricsPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	sec := make([]byte, 18)
	rand.Read(sec)
	s := &server{radiusAddr: fmt.Sprintf("127.0.0.1:%d", radiusPort), secret: base64.RawURLEncoding.EncodeToString(sec)}
	group := ""
	if opt.RequiredGroup {
		group = "  required_group: " + sl.VPNStaffDN + "\n"
	}
	bindTemplate := ""
	if opt.BindTemplate {
		bindTemplate = fmt.Sprintf("  bind_template: \"uid=%%s,%s\"\n", sl.PeopleDN)
	}
	storeSection := fmt.Sprintf("  driver: sqlite\n  path: %s\n", sc.Path)
	if sc.Driver == store.DriverPostgres {
		storeSection = fmt.Sprintf("  driver: postgres\n  dsn: %q\n", sc.DSN.Value())
	}
	cfg := fmt.Sprintf(`radius:
  listen: [%q]
  accounting_listen: []
%s  clients:
    - name: bench
      addresses: [127.0.0.1]
      secret: %q
      password_suffix: true
ldap:
  urls: [%q]
  bind_dn: %q
  bind_password: %q
  base_dn: %q
%s%sstore:
%s  encryption:
    keys:
      - id: bench
        key: %q
flow:
%smetrics:
  listen: 127.0.0.1:%d
  pprof: true
log:
  format: json
%s`, s.radiusAddr, opt.radiusConfig, s.secret, sl.URL, sl.ServiceDN, sl.ServicePassword, sl.PeopleDN, bindTemplate, group,
		storeSection, sc.Encryption.Keys[0].Key.Value(), opt.flowConfig, metricsPort, opt.extraConfig)
	path := filepath.Join(opt.Dir, "kakunin.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(opt.Dir, "kakunin.log"))
	if err != nil {
		return nil, err
	}
	if err := s.start(exec.Command(opt.Kakunin, "serve", "-config", path, "-shutdown-grace", "5s"), logf); err != nil {
		return nil, err
	}
	s.metrics = fmt.Sprintf("http://127.0.0.1:%d", metricsPort)
	ready := s.metrics + "/readyz"
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("kakunin serve exited; see %s", logf.Name())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("kakunin serve not ready after 30s; see %s", logf.Name())
		}
	}
}

// profile saves a CPU profile of the server over d, starting after delay.
func (s *server) profile(delay, d time.Duration, path string) error {
	time.Sleep(delay)
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.metrics, max(1, int(d.Seconds()))))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// cpuPids are the processes whose CPU time a phase accounts for; postgres,
// when set, lists the PostgreSQL backends serving the server.
type cpuPids struct {
	bench, server, slapd int
	moreServers          []int // further nodes, charged as server
	postgres             func() []int
}

type cpuTimes struct {
	bench, server, slapd, postgres time.Duration
	pg                             map[int]time.Duration // per backend, to subtract
}

func (p cpuPids) read() cpuTimes {
	t := cpuTimes{bench: cpuTime(p.bench), server: cpuTime(p.server), slapd: cpuTime(p.slapd)}
	if p.server == 0 {
		t.server = 0
	}
	for _, pid := range p.moreServers {
		t.server += cpuTime(pid)
	}
	if p.postgres != nil {
		t.pg = map[int]time.Duration{}
		for _, pid := range p.postgres() {
			t.pg[pid] = cpuTime(pid)
		}
	}
	return t
}

// since is the CPU time spent between two readings. A backend that
// appeared in between is charged all its time; one that ended in between
// is lost (the pool keeps its connections, so neither is common).
func (t cpuTimes) since(b cpuTimes) cpuTimes {
	d := cpuTimes{bench: t.bench - b.bench, server: t.server - b.server, slapd: t.slapd - b.slapd}
	for pid, v := range t.pg {
		d.postgres += v - b.pg[pid]
	}
	return d
}

func (t cpuTimes) plus(o cpuTimes) cpuTimes {
	return cpuTimes{bench: t.bench + o.bench, server: t.server + o.server, slapd: t.slapd + o.slapd, postgres: t.postgres + o.postgres}
}

// pgBackends finds the PostgreSQL backends by application_name.
type pgBackends struct {
	conn *pgx.Conn
}

func newPGBackends(ctx context.Context, dsn string) (*pgBackends, error) {
	conn, err := pgx.Connect(ctx, withParam(dsn, "application_name", "kakunin-bench-observer"))
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL to read pg_stat_activity: %w", err)
	}
	return &pgBackends{conn: conn}, nil
}

// pids are the backends whose application_name is LIKE app.
func (p *pgBackends) pids(app string) []int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := p.conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1", app)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	out := make([]int, len(pids))
	for i, pid := range pids {
		out[i] = int(pid)
	}
	return out
}

func (p *pgBackends) close() { p.conn.Close(context.Background()) }

// cpuTime is a process's user+system time from /proc (Linux; zero
// elsewhere). The clock tick is 100 Hz on every Linux kakunin runs on.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// rss is the server's resident memory in bytes (Linux).
func (s *server) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			var kb int64
			fmt.Sscan(f[1], &kb)
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
