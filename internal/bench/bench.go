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
	Driver        string        // store driver: sqlite or postgres
	PostgresDSN   string        // with postgres; a fresh schema is made in it
	RequiredGroup bool          // both loops check membership of vpn-staff
	BindTemplate  bool          // kakunin binds with a DN template instead of searching
	Kakunin       string        // the kakunin binary to run as the server
	Dir           string        // work directory (slapd, store, logs)
	Out           io.Writer     // progress and the report
	Held          int           // RunHeld: push requests to hold beside the TOTP flow

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
	CPUBench, CPUServer, CPUSlapd time.Duration
}

// Seed is the TOTP seed the benchmark enrolls for generated user i.
func Seed(i int) []byte {
	s := sha256.Sum256([]byte("kakunin-bench:" + testenv.UserID(i)))
	return s[:20]
}

// Run starts slapd with opt.Users users, enrolls them in a store, starts
// kakunin serve as a separate process, runs the naive loop and then the
// kakunin flow, and returns both results.
func Run(ctx context.Context, opt Options) (naive, flow Result, err error) {
	out := opt.Out
	// A kept work directory is reused: start from an empty one.
	if err := os.RemoveAll(opt.Dir); err != nil {
		return naive, flow, err
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return naive, flow, err
	}
	t0 := time.Now()
	fmt.Fprintf(out, "starting slapd with %d users ... ", opt.Users)
	sl, err := testenv.StartSlapd(filepath.Join(opt.Dir, "slapd"), testenv.SlapdOptions{Users: opt.Users})
	if err != nil {
		return naive, flow, err
	}
	defer sl.Stop()
	fmt.Fprintf(out, "%.1fs\n", time.Since(t0).Seconds())

	users := eligible(opt.Users, opt.RequiredGroup)
	storeCfg, dropSchema, err := storeConfig(ctx, opt)
	if err != nil {
		return naive, flow, err
	}
	defer dropSchema()
	t0 = time.Now()
	fmt.Fprintf(out, "enrolling %d users in the %s store ... ", len(users), opt.Driver)
	if err := enroll(ctx, storeCfg, users); err != nil {
		return naive, flow, err
	}
	fmt.Fprintf(out, "%.1fs\n", time.Since(t0).Seconds())

	srv, err := startServer(ctx, opt, sl, storeCfg)
	if err != nil {
		return naive, flow, err
	}
	defer srv.stop()

	group := ""
	if opt.RequiredGroup {
		group = sl.VPNStaffDN
	}
	fmt.Fprintf(out, "naive search-then-bind loop, concurrency %d, %s ... ", opt.Concurrency, opt.Duration)
	pids := cpuPids{bench: os.Getpid(), server: srv.cmd.Process.Pid, slapd: sl.Pid()}
	naive, err = measure(ctx, "naive go-ldap search+bind", opt, pids, func() (func() error, func(), error) {
		return naiveLogin(sl, group, newPicker(users, false))
	})
	if err != nil {
		return naive, flow, err
	}
	fmt.Fprintf(out, "%.0f/s\n", naive.Rate)
	fmt.Fprintf(out, "kakunin two-round flow, concurrency %d, %s ... ", opt.Concurrency, opt.Duration)
	picker := newPicker(users, true)
	profDone := make(chan struct{})
	go func() {
		defer close(profDone)
		if err := srv.profile(opt.Warmup+opt.Duration/4, opt.Duration/2, filepath.Join(opt.Dir, "kakunin.cpu.pprof")); err != nil {
			fmt.Fprintf(out, "(cpu profile: %v) ", err)
		}
	}()
	defer func() { <-profDone }()
	flow, err = measure(ctx, "kakunin password+TOTP (2 RADIUS rounds)", opt, pids, func() (func() error, func(), error) {
		return flowLogin(srv, picker)
	})
	if err != nil {
		return naive, flow, err
	}
	fmt.Fprintf(out, "%.0f/s\n", flow.Rate)
	if rss, err := srv.rss(); err == nil {
		fmt.Fprintf(out, "kakunin serve resident memory after the run: %d MB\n", rss>>20)
	}
	return naive, flow, nil
}

// Report prints the two results and their ratios.
func Report(w io.Writer, opt Options, naive, flow Result) {
	fmt.Fprintf(w, "\n%d users, concurrency %d, %s per phase, store %s, required group %v, %d CPUs\n",
		opt.Users, opt.Concurrency, opt.Duration, opt.Driver, opt.RequiredGroup, runtime.NumCPU())
	fmt.Fprintf(w, "%-42s %9s %7s %8s %9s %9s   %s\n", "", "logins", "errors", "rate/s", "p50", "p99", "CPU per login: load client / kakunin / slapd")
	us := func(d time.Duration) string { return fmt.Sprintf("%dµs", d.Microseconds()) }
	for _, r := range []Result{naive, flow} {
		fmt.Fprintf(w, "%-42s %9d %7d %8.0f %9s %9s   %s / %s / %s\n", r.Name, r.Logins, r.Errors, r.Rate,
			r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond),
			us(r.CPUBench), us(r.CPUServer), us(r.CPUSlapd))
	}
	if naive.Rate > 0 && naive.P99 > 0 {
		fmt.Fprintf(w, "kakunin / naive: rate %.2fx, p99 %.2fx\n", flow.Rate/naive.Rate, float64(flow.P99)/float64(naive.P99))
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

// measure runs one login function per worker for the warm-up, then for the
// measured duration, and collects every login's latency.
func measure(ctx context.Context, name string, opt Options, pids cpuPids, newWorker func() (login func() error, done func(), err error)) (Result, error) {
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
			return Result{}, err
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
		var wg sync.WaitGroup
		for i, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) && ctx.Err() == nil {
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
	all := slices.Concat(lats...)
	slices.Sort(all)
	r := Result{Name: name, Logins: len(all), Errors: int(errCount.Load())}
	if len(all) == 0 {
		err, _ := firstErr.Load().(error)
		return r, fmt.Errorf("%s: no login succeeded (first error: %v)", name, err)
	}
	r.Rate = float64(len(all)) / elapsed.Seconds()
	r.P50 = all[len(all)/2]
	r.P99 = all[len(all)*99/100]
	per := func(a, b time.Duration) time.Duration { return (b - a) / time.Duration(len(all)) }
	r.CPUBench, r.CPUServer, r.CPUSlapd = per(before.bench, after.bench), per(before.server, after.server), per(before.slapd, after.slapd)
	if e, ok := firstErr.Load().(error); ok {
		fmt.Fprintf(opt.Out, "(%d errors, first: %v) ", r.Errors, e)
	}
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
	c := kradius.NewClient(srv.radiusAddr, srv.secret, "bench", 2*time.Second)
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
		r, err = c.Access(ctx, id, challenge.TOTPCode(Seed(i), now), r.State)
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
	metrics    string
	cmd        *exec.Cmd
	radiusAddr string
	secret     string
	exited     chan struct{}
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
	s.cmd = exec.Command(opt.Kakunin, "serve", "-config", path, "-shutdown-grace", "5s")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); logf.Close(); close(s.exited) }()
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

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
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

// cpuPids are the processes whose CPU time a phase accounts for.
type cpuPids struct{ bench, server, slapd int }

type cpuTimes struct{ bench, server, slapd time.Duration }

func (p cpuPids) read() cpuTimes {
	return cpuTimes{cpuTime(p.bench), cpuTime(p.server), cpuTime(p.slapd)}
}

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
