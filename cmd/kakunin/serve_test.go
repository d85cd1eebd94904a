package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"kakunin/challenge"
	"kakunin/challenge/webhook"
	"kakunin/internal/testenv"
	kradius "kakunin/radius"
	"kakunin/store"
)

// node is one `kakunin serve` process.
type node struct {
	name    string
	cmd     *exec.Cmd
	logs    *syncBuffer // its stdout and stderr
	exited  chan struct{}
	waitErr error  // set before exited is closed
	radius  string // bound RADIUS address, once listening
	http    string // bound metrics address, once listening
}

var (
	listeningRADIUS  = regexp.MustCompile(`msg="listening for Access-Request" addr=(\S+)`)
	listeningMetrics = regexp.MustCompile(`msg="serving metrics and health checks" addr=(\S+)`)
)

// startNode starts `kakunin serve -config cfgPath`; waitReady waits until
// it answers. A node still running when the test ends is killed.
func startNode(t *testing.T, name, cfgPath string) *node {
	t.Helper()
	n := &node{name: name, logs: &syncBuffer{}, exited: make(chan struct{})}
	n.cmd = exec.Command(kakuninBinary(t), "serve", "-config", cfgPath, "-shutdown-grace", "60s")
	n.cmd.Stdout = n.logs
	n.cmd.Stderr = n.logs
	setDeathSignal(n.cmd)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.waitErr = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", n.name, n.logs.String())
		}
	})
	return n
}

// waitReady waits for the node's addresses in its log (it listens on ports
// the kernel picks), then for /readyz to answer 200.
func (n *node) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, 2*time.Minute, func() bool {
		select {
		case <-n.exited:
			t.Fatalf("%s exited before listening: %v\n%s", n.name, n.waitErr, n.logs.String())
		default:
		}
		log := n.logs.String()
		r, h := listeningRADIUS.FindStringSubmatch(log), listeningMetrics.FindStringSubmatch(log)
		if r == nil || h == nil {
			return false
		}
		n.radius, n.http = r[1], h[1]
		return true
	}, func() string { return n.name + " does not log its addresses:\n" + n.logs.String() })
	var status int
	var body string
	eventually(t, time.Minute, func() bool {
		var err error
		status, body, err = httpGet("http://" + n.http + "/readyz")
		return err == nil && status == 200
	}, func() string { return n.name + " /readyz: " + body })
}

// terminate sends SIGTERM.
func (n *node) terminate(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", n.name, err)
	}
}

// waitExit waits for the process to end and checks it exited 0.
func (n *node) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-n.exited:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s still runs 2 minutes after SIGTERM\n%s", n.name, n.logs.String())
	}
	if n.waitErr != nil {
		t.Errorf("%s: %v after SIGTERM, want exit status 0\n%s", n.name, n.waitErr, n.logs.String())
	}
}

// waitAudit waits until the node's log holds an audit line for user with
// the given outcome and reason (the log travels through a pipe, so it may
// trail the RADIUS answer).
func (n *node) waitAudit(t *testing.T, user, outcome string, reasons ...string) {
	t.Helper()
	eventually(t, time.Minute, func() bool {
		for _, r := range auditRecords(n.logs.String()) {
			if r["user"] == user && r["outcome"] == outcome && (len(reasons) == 0 || slices.Contains(reasons, r["reason"])) {
				return true
			}
		}
		return false
	}, func() string {
		return n.name + " has no audit line user=" + user + " outcome=" + outcome + " reason in " + strings.Join(reasons, ",") + ":\n" + n.logs.String()
	})
}

// writeFile writes a test file and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// enroll adds an authenticator app with seed for user i, through a store
// opened on the configuration's store section, as `kakunin user add-totp`
// does.
func enroll(t *testing.T, cfg *config, i int, seed []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, cfg.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin, err := challenge.NewAdmin(cfg.Flow, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.AddTOTP(ctx, testenv.UserID(i), "test phone", seed, "test"); err != nil {
		t.Fatal(err)
	}
}

// access sends one Access-Request (with Message-Authenticator) to addr.
func access(t *testing.T, addr, secret, user, password string, state []byte) kradius.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := kradius.NewClient(addr, secret, "kakunin-test", 2*time.Second).Access(ctx, user, password, state)
	if err != nil {
		t.Fatalf("Access-Request to %s: %v", addr, err)
	}
	return r
}

func TestTwoNodesShareOnePostgreSQL(t *testing.T) {
	const user = 5
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 20})
	dsn := testenv.PostgresDSN(t)
	// Both nodes listen on ports the kernel picks ("127.0.0.1:0", found in
	// their logs), so their configuration files are the same otherwise.
	text := serverYAML(slapd, slapd.URL, postgresStore(dsn, newStoreKey(t)))
	cfg, err := parseConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Started together, the nodes also race to migrate the empty schema.
	a := startNode(t, "node A", writeFile(t, dir, "a.yaml", text))
	b := startNode(t, "node B", writeFile(t, dir, "b.yaml", text))
	a.waitReady(t)
	b.waitReady(t)
	if a.radius == b.radius {
		t.Fatalf("both nodes report %s", a.radius)
	}

	seed := newSeed(t)
	enroll(t, cfg, user, seed)
	id, password := testenv.UserID(user), testenv.UserPassword(user)

	// A challenge issued by one node is answered at the other.
	r := access(t, a.radius, testSecret, id, password, nil)
	if r.Code != radius.CodeAccessChallenge || len(r.State) == 0 {
		t.Fatalf("round 1 at node A: got %v (State %q), want Access-Challenge with a State", r.Code, r.State)
	}
	code := challenge.TOTPCode(seed, time.Now())
	r = access(t, b.radius, testSecret, id, code, r.State)
	if r.Code != radius.CodeAccessAccept {
		t.Fatalf("round 2 at node B: got %v %q, want Access-Accept", r.Code, r.Messages)
	}
	if class := string(rfc2865.Class_Get(r.Packet)); class != "staff" {
		t.Errorf("Class = %q, want staff", class)
	}
	b.waitAudit(t, id, "accept", "ok")

	// A code used at one node is refused at the other.
	r = access(t, b.radius, testSecret, id, password, nil)
	if r.Code != radius.CodeAccessChallenge || len(r.State) == 0 {
		t.Fatalf("round 1 at node B: got %v (State %q), want Access-Challenge with a State", r.Code, r.State)
	}
	r = access(t, a.radius, testSecret, id, code, r.State)
	if r.Code == radius.CodeAccessAccept {
		t.Fatal("node A accepted the code node B had just accepted")
	}
	a.waitAudit(t, id, "challenge", "replayed_code", "bad_code")

	a.terminate(t)
	b.terminate(t)
	a.waitExit(t)
	b.waitExit(t)
}

// TestServeDrainsOnSIGTERM holds a login at the directory, sends SIGTERM,
// and only then lets the directory answer: the user still gets the answer,
// and the process exits 0.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	const user = 6
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 20})
	gate := startLDAPGate(t, strings.TrimPrefix(slapd.URL, "ldap://"))
	dir := t.TempDir()
	text := serverYAML(slapd, "ldap://"+gate.addr(), sqliteStore(dir, newStoreKey(t)))
	cfg, err := parseConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	enroll(t, cfg, user, newSeed(t))
	n := startNode(t, "node", writeFile(t, dir, "kakunin.yaml", text))
	n.waitReady(t)

	gate.hold()
	type result struct {
		r   kradius.Reply
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		r, err := kradius.NewClient(n.radius, testSecret, "kakunin-test", 5*time.Second).
			Access(ctx, testenv.UserID(user), testenv.UserPassword(user), nil)
		done <- result{r, err}
	}()
	select {
	case <-gate.held:
	case res := <-done:
		t.Fatalf("answered (%v, %v) without asking the directory", res.r.Code, res.err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the login did not reach the directory within 2 minutes")
	}

	// The decision is in flight, waiting for the directory.
	n.terminate(t)
	eventually(t, time.Minute, func() bool {
		return strings.Contains(n.logs.String(), `msg="stopping: finishing in-flight requests"`)
	}, func() string { return "no stopping line after SIGTERM:\n" + n.logs.String() })
	gate.open()

	select {
	case res := <-done:
		if res.err != nil || res.r.Code != radius.CodeAccessChallenge {
			t.Errorf("in-flight login: got %v %q (err %v), want Access-Challenge", res.r.Code, res.r.Messages, res.err)
		}
	case <-time.After(2 * time.Minute):
		t.Error("no answer to the in-flight login within 2 minutes of SIGTERM")
	}
	n.waitExit(t)
	if log := n.logs.String(); !strings.Contains(log, `msg=stopped`) || strings.Contains(log, "shutdown deadline passed") {
		t.Errorf("shutdown did not finish cleanly:\n%s", log)
	}
}

// ldapGate is a TCP proxy in front of the directory that can hold what
// kakunin sends, so a test can keep a decision in flight for as long as it
// needs without timing anything.
type ldapGate struct {
	ln     net.Listener
	target string
	held   chan struct{} // receives when bytes from kakunin are being held
	wg     sync.WaitGroup

	mu      sync.Mutex
	release chan struct{} // closed by open; nil while the gate is open
	conns   []net.Conn
	stopped bool
}

func startLDAPGate(t *testing.T, target string) *ldapGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &ldapGate{ln: ln, target: target, held: make(chan struct{}, 1)}
	g.wg.Add(1)
	go g.serve()
	t.Cleanup(g.stop)
	return g
}

func (g *ldapGate) addr() string { return g.ln.Addr().String() }

func (g *ldapGate) serve() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", g.target)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		if g.stopped {
			g.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		g.conns = append(g.conns, c, s)
		g.wg.Add(2)
		g.mu.Unlock()
		go g.pipe(s, c, true)
		go g.pipe(c, s, false)
	}
}

// pipe copies src to dst, through the gate if gated; either side ending
// ends both.
func (g *ldapGate) pipe(dst, src net.Conn, gated bool) {
	defer g.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if gated {
				g.wait()
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hold makes the gate keep what kakunin sends from now on.
func (g *ldapGate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release == nil {
		g.release = make(chan struct{})
	}
}

// open lets everything held, and what follows, through.
func (g *ldapGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release != nil {
		close(g.release)
		g.release = nil
	}
}

func (g *ldapGate) wait() {
	g.mu.Lock()
	release := g.release
	g.mu.Unlock()
	if release == nil {
		return
	}
	select {
	case g.held <- struct{}{}:
	default:
	}
	<-release
}

func (g *ldapGate) stop() {
	g.open()
	g.ln.Close()
	g.mu.Lock()
	g.stopped = true
	for _, c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// TestShutdownAnswersHeldRequestsAndFailsTheirApprovals holds pushes, then
// shuts down with the grace already spent (flow.hold.timeout is longer):
// every held request is answered with Access-Reject asking the user to try
// again, and none of their approvals is left pending in the store. Before,
// the sockets closed under the held requests (no answer) and their
// approvals stayed pending until the node restarted.
func TestShutdownAnswersHeldRequestsAndFailsTheirApprovals(t *testing.T) {
	const users = 9 // 1..9 are in vpn-staff
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 20})
	var mu sync.Mutex
	var pushes []webhook.PushMessage
	const gwSecret = "push-gateway-secret-0123456789abcdef"
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m webhook.PushMessage
		json.Unmarshal(raw, &m)
		mu.Lock()
		pushes = append(pushes, m)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer gw.Close()
	cert, key, _ := testenv.TLSFiles(t)
	cb := freeAddr(t)
	text := strings.Replace(serverYAML(slapd, slapd.URL, sqliteStore(t.TempDir(), newStoreKey(t))), "flow:\n",
		"flow:\n  push: {number_matching: false}\n  hold: {timeout: 60s}\n", 1) + fmt.Sprintf(`push:
  webhook: {url: %s, secret: %q}
callbacks:
  listen: %s
  public_url: https://%s
  signing_key: "callback-signing-key-for-the-test-0123456789"
  tls_cert_file: %s
  tls_key_file: %s
`, gw.URL, gwSecret, cb, cb, cert, key)
	cfg, err := parseConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := newApp(context.Background(), cfg, newLogger(cfg.Log, logs))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.start(); err != nil {
		a.shutdown(context.Background())
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			a.shutdown(context.Background())
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()
	admin, err := challenge.NewAdmin(cfg.Flow, a.store)
	if err != nil {
		t.Fatal(err)
	}
	addr := a.radius.AuthAddrs()[0].String()
	answers := make(chan kradius.Reply, users)
	for i := 1; i <= users; i++ {
		if _, err := admin.AddPush(context.Background(), testenv.UserID(i), "", challenge.PushRegistration{Channel: "webhook", Device: fmt.Sprint("device-", i)}, "test"); err != nil {
			t.Fatal(err)
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			c := kradius.NewClient(addr, testSecret, "kakunin-test", 5*time.Second)
			defer c.Close()
			r, err := c.Access(ctx, testenv.UserID(i), testenv.UserPassword(i), nil)
			if err != nil {
				t.Errorf("user %d: %v", i, err)
			}
			answers <- r
		}()
	}
	eventually(t, time.Minute, func() bool { return gaugeValue(t, a, "kakunin_auth_held_requests") == users },
		func() string {
			return fmt.Sprintf("%v requests held, want %d", gaugeValue(t, a, "kakunin_auth_held_requests"), users)
		})

	// SIGTERM with a grace shorter than the hold: it has passed already.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("shutdown: %v, want context.Canceled (the grace passed)", err)
	}
	stopped = true
	for range users {
		select {
		case r := <-answers:
			if r.Code != radius.CodeAccessReject || !strings.Contains(strings.Join(r.Messages, " "), "もう一度") {
				t.Errorf("held request answered %v %q, want Access-Reject asking to try again", r.Code, r.Messages)
			}
		case <-time.After(time.Minute):
			t.Fatal("a held request got no answer at shutdown")
		}
	}

	st, err := store.Open(context.Background(), cfg.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(pushes) != users {
		t.Fatalf("%d pushes, want %d", len(pushes), users)
	}
	for _, p := range pushes {
		ap, err := st.GetApproval(context.Background(), p.ID)
		if err != nil || ap.Status != store.ApprovalFailed {
			t.Errorf("approval of a request answered at shutdown: %s %v, want failed", ap.Status, err)
		}
	}
	if n := strings.Count(logs.String(), "reason=shutdown"); n != users {
		t.Errorf("%d audit lines with reason=shutdown, want %d", n, users)
	}
}

// gaugeValue reads a gauge without labels from the app's registry.
func gaugeValue(t *testing.T, a *app, name string) float64 {
	t.Helper()
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
