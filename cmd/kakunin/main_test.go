package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/internal/testenv"
)

// The shared secret of the one RADIUS client every test server knows
// (127.0.0.1), and the enrollment URL its users are sent to.
const (
	testSecret    = "kakunin-test-shared-secret"
	testEnrollURL = "https://mfa.example.ac.jp/enroll"
)

// binDir holds the kakunin binary the process tests build once.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kakunin-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var build struct {
	once sync.Once
	path string
	out  []byte
	err  error
}

// kakuninBinary builds ./cmd/kakunin once per test run, with the race
// detector when the tests run with it, so a race in a served process fails
// it with exit status 66.
func kakuninBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.path = filepath.Join(binDir, "kakunin")
		args := []string{"build", "-o", build.path}
		if raceEnabled() {
			args = append(args, "-race")
		}
		// go test puts its own go first on PATH.
		cmd := exec.Command("go", append(args, ".")...)
		build.out, build.err = cmd.CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("go build: %v\n%s", build.err, build.out)
	}
	return build.path
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// serverYAML is a whole configuration for a test server: RADIUS and
// metrics on loopback ports the kernel picks, one client (127.0.0.1) with
// testSecret, Class=staff for vpn-staff, the directory s reached at
// ldapURL (s.URL, or a proxy in front of it), and the store section given.
func serverYAML(s *testenv.Slapd, ldapURL, storeSection string) string {
	return fmt.Sprintf(`radius:
  listen: ["127.0.0.1:0"]
  accounting_listen: []
  clients:
    - name: vpn-gw
      addresses: [127.0.0.1]
      secret: %q
  group_attributes:
    - group: vpn-staff
      attributes:
        - {name: Class, value: staff}
ldap:
  urls: [%q]
  bind_dn: %q
  bind_password: %q
  base_dn: %q
  required_group: %q
  timeout: 60s
%s
flow:
  enroll_url: %q
metrics:
  listen: 127.0.0.1:0
log:
  level: debug
`, testSecret, ldapURL, s.ServiceDN, s.ServicePassword, s.PeopleDN, s.VPNStaffDN, storeSection, testEnrollURL)
}

// sqliteStore is a store section for an SQLite file in dir.
func sqliteStore(dir, key string) string {
	return fmt.Sprintf(`store:
  driver: sqlite
  path: %q
  encryption:
    keys:
      - {id: test, key: %q}`, filepath.Join(dir, "kakunin.db"), key)
}

// postgresStore is a store section for the PostgreSQL schema of dsn.
func postgresStore(dsn, key string) string {
	return fmt.Sprintf(`store:
  driver: postgres
  dsn: %q
  max_conns: 4
  encryption:
    keys:
      - {id: test, key: %q}`, dsn, key)
}

// newStoreKey is a fresh AES-256 key as the configuration takes it.
func newStoreKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// newSeed is a fresh 160-bit TOTP seed.
func newSeed(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// syncBuffer collects log output from several goroutines.
type syncBuffer = testenv.LogBuffer

// logRecord is one line of slog's text handler, key → value.
type logRecord map[string]string

// parseLogLine splits a line of slog's text handler into its keys and
// values; quoted values are unquoted.
func parseLogLine(line string) logRecord {
	r := logRecord{}
	for {
		line = strings.TrimLeft(line, " ")
		k, rest, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return r
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return r
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		r[k] = v
		line = rest
	}
}

// auditRecords are the audit lines (component=audit, msg=decision) of a
// log, in order.
func auditRecords(log string) []logRecord {
	var out []logRecord
	for _, line := range strings.Split(log, "\n") {
		r := parseLogLine(line)
		if r["component"] == "audit" && r["msg"] == "decision" {
			out = append(out, r)
		}
	}
	return out
}

var logTime = regexp.MustCompile(`(?m)^time=\S+ `)

// checkNoSecrets fails the test for every secret that appears in log. The
// timestamps are left out first: their fractions of a second are digits in
// which a 6-digit code could turn up by chance.
func checkNoSecrets(t *testing.T, log string, secrets map[string]string) {
	t.Helper()
	log = logTime.ReplaceAllString(log, "")
	for what, s := range secrets {
		if s == "" {
			t.Fatalf("empty secret %s to look for", what)
		}
		re := regexp.MustCompile(`(?i)` + regexp.QuoteMeta(s))
		if isDigits(s) {
			// A code is a number: only a number of its own counts.
			re = regexp.MustCompile(`(^|[^0-9])` + s + `($|[^0-9])`)
		}
		if loc := re.FindStringIndex(log); loc != nil {
			from, to := max(0, loc[0]-200), min(len(log), loc[1]+200)
			t.Errorf("the log contains the %s:\n…%s…", what, log[from:to])
		}
	}
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// httpGet returns the status and body of a GET.
func httpGet(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// eventually polls cond every 20 ms until it holds, failing the test with
// what() after limit: a bound for a broken server, not a measurement.
func eventually(t *testing.T, limit time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startApp runs kakunin in-process, wired as serve wires it, logging to
// log, until the test ends.
func startApp(t *testing.T, cfg *config, log *slog.Logger) *app {
	t.Helper()
	a, err := newApp(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.start(); err != nil {
		a.shutdown(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return a
}
