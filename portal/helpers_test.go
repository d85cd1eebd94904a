package portal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/internal/demodir"
	"kakunin/internal/secret"
	"kakunin/internal/testenv"
	"kakunin/ldapauth"
	"kakunin/store"
)

// Users of the test directory.
const (
	userID   = "2024000001"
	password = "demo-portal-1"
	otherID  = "2024000002"
	otherPW  = "demo-portal-2"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is the portal wired as serve wires it, against the in-process demo
// directory (a real LDAP server) and an SQLite store, with one clock for
// the portal and the engine.
type env struct {
	t      *testing.T
	srv    *Server
	ts     *httptest.Server
	st     store.Store
	admin  *challenge.Admin
	clock  *clock
	dbPath string // the SQLite file, for raw checks
	eng    *challenge.Engine
	issuer string
	dir    *demodir.Directory
}

func newEnv(t *testing.T) *env { return newEnvWith(t, Config{Listen: "127.0.0.1:0"}) }

// newEnvWith is newEnv with another portal configuration.
func newEnvWith(t *testing.T, pc Config) *env { t.Helper(); return newEnvEngine(t, pc) }

// newEnvEngine is newEnvWith with options for the engine (providers).
func newEnvEngine(t *testing.T, pc Config, engOpts ...challenge.Option) *env {
	t.Helper()
	return newEnvOn(t, store.DriverSQLite, pc, engOpts...)
}

// newEnvOn is newEnvEngine on a store of the driver given: sqlite, or
// postgres (a fresh schema in the test PostgreSQL), for behaviour that
// rests on the store's atomicity.
func newEnvOn(t *testing.T, driver string, pc Config, engOpts ...challenge.Option) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	dir, err := demodir.Start("", []demodir.User{
		{ID: userID, Name: "Test One", Password: password, Groups: []string{"vpn-staff"}},
		{ID: otherID, Name: "Test Two", Password: otherPW, Groups: []string{"vpn-staff"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dir.Stop)
	var lc ldapauth.Config
	lc.SetDefaults()
	lc.URLs, lc.InsecureNoTLS = []string{dir.URL()}, true
	lc.BindDN, lc.BindPassword = dir.BindDN(), secret.New(dir.BindPassword())
	lc.BaseDN, lc.RequiredGroup = dir.BaseDN(), dir.GroupDN("vpn-staff")
	ldir, err := ldapauth.New(lc, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ldir.Close() })

	key := make([]byte, 32)
	rand.Read(key)
	sc := store.Config{Driver: store.DriverSQLite, Path: filepath.Join(t.TempDir(), "k.db")}
	if driver == store.DriverPostgres {
		sc = store.Config{Driver: store.DriverPostgres, DSN: secret.New(testenv.PostgresDSN(t))}
	}
	sc.Encryption.Keys = []store.EncryptionKey{{ID: "t", Key: secret.New(base64.StdEncoding.EncodeToString(key))}}
	sc.SetDefaults()
	st, err := store.Open(context.Background(), sc, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	clk := &clock{t: time.Date(2026, 11, 25, 9, 0, 5, 0, time.UTC)}
	var fc challenge.Config
	fc.SetDefaults()
	eng, err := challenge.New(fc, ldir, st, log, nil, append([]challenge.Option{challenge.WithClock(clk.now)}, engOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := challenge.NewAdmin(fc, st, challenge.AdminClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	pc.SetDefaults()
	if err := pc.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(pc, eng, admin, st, fc.Issuer, log, nil, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, srv: srv, ts: ts, st: st, admin: admin, clock: clk, dbPath: sc.Path, eng: eng, issuer: fc.Issuer, dir: dir}
}

// node starts another portal on the same store and engine, as a second
// kakunin node behind a load balancer would be.
func (e *env) node() *httptest.Server {
	srv, err := New(e.srv.cfg, e.eng, e.admin, e.st, e.issuer, e.srv.log, nil, WithClock(e.clock.now))
	if err != nil {
		e.t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	e.t.Cleanup(ts.Close)
	return ts
}

// browser is a cookie-keeping client that follows redirects.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar}}
}

// response is a page after redirects: where it ended up and what it says.
type response struct {
	status int
	path   string // final URL path (and query)
	body   string
	header http.Header
}

func (b *browser) do(req *http.Request) response {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, path: resp.Request.URL.RequestURI(), body: string(body), header: resp.Header}
}

func (b *browser) get(path string) response {
	req, _ := http.NewRequest(http.MethodGet, b.e.ts.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) response {
	req, _ := http.NewRequest(http.MethodPost, b.e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn signs in with a password (and a code when the user has an app).
func (b *browser) signIn(id, pw string, seed []byte) response {
	b.e.t.Helper()
	r := b.post("/signin", url.Values{"id": {id}, "password": {pw}})
	if seed != nil {
		if r.path != "/signin/code" {
			b.e.t.Fatalf("after the password: %s, want /signin/code", r.path)
		}
		r = b.post("/signin/code", url.Values{"code": {b.e.code(seed)}})
	}
	return r
}

// code is a fresh code for seed: the clock moves a step, so no code is
// used twice.
func (e *env) code(seed []byte) string {
	e.clock.advance(30 * time.Second)
	return challenge.TOTPCode(seed, e.clock.now())
}

var secretRE = regexp.MustCompile(`<code id="secret">([A-Z2-7 ]+)</code>`)

// enroll goes from a fresh sign-in through applying and setting up an
// app, and returns the app's seed.
func (b *browser) enroll(id, pw string) []byte {
	t := b.e.t
	t.Helper()
	r := b.signIn(id, pw, nil)
	if r.path != "/apply" {
		t.Fatalf("first sign-in landed on %s, want /apply", r.path)
	}
	if r = b.post("/apply", url.Values{"use": {"yes"}}); !strings.Contains(r.body, "/setup") {
		t.Fatalf("after applying: %s\n%s", r.path, r.body)
	}
	if r = b.get("/"); r.path != "/setup" {
		t.Fatalf("home after applying: %s, want /setup", r.path)
	}
	return b.addApp("")
}

// addApp opens the app page, reads the secret and confirms with a code.
func (b *browser) addApp(label string) []byte {
	t := b.e.t
	t.Helper()
	r := b.get("/setup/app")
	m := secretRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no secret on %s:\n%s", r.path, r.body)
	}
	seed, err := challenge.ParseTOTPSecret(m[1])
	if err != nil {
		t.Fatal(err)
	}
	r = b.post("/setup/app", url.Values{"code": {b.e.code(seed)}, "label": {label}})
	if r.path != "/setup/done" && r.path != "/security?notice=added" && r.path != "/setup/email?first=app" {
		t.Fatalf("after the app's code: %s\n%s", r.path, r.body)
	}
	return seed
}

var errorRE = regexp.MustCompile(`<p class="error"[^>]*>([^<]*)</p>`)

func errorOf(r response) string {
	if m := errorRE.FindStringSubmatch(r.body); m != nil {
		return m[1]
	}
	return ""
}
