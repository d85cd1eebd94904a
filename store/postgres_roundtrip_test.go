package store

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kakunin/internal/secret"
	"kakunin/internal/testenv"
)

// wireCounter counts what a client sends PostgreSQL, once counting is on:
// Sync and Query messages, each a round trip the client waits for, and
// Parse messages, a statement prepared.
type wireCounter struct {
	mu      sync.Mutex
	on      bool
	pending []byte // a message split across writes
	counts  map[byte]int
}

func (w *wireCounter) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.on, w.pending, w.counts = true, nil, map[byte]int{}
}

// stop returns the round trips and the statements prepared since start.
func (w *wireCounter) stop() (roundTrips, parses int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.on = false
	return w.counts['S'] + w.counts['Q'], w.counts['P']
}

func (w *wireCounter) sent(p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.on {
		return
	}
	// Counting starts between calls, at a message boundary: type byte,
	// then a length that counts itself.
	w.pending = append(w.pending, p...)
	for len(w.pending) >= 5 {
		n := int(binary.BigEndian.Uint32(w.pending[1:5])) + 1
		if len(w.pending) < n {
			break
		}
		w.counts[w.pending[0]]++
		w.pending = w.pending[n:]
	}
}

type countedConn struct {
	net.Conn
	w *wireCounter
}

func (c countedConn) Write(p []byte) (int, error) {
	c.w.sent(p)
	return c.Conn.Write(p)
}

// openCountedPostgres opens the store on one connection whose messages w
// counts. The pool never pings a connection before handing it out (it
// does after a second idle), so that only the calls' own round trips are
// counted.
func openCountedPostgres(t *testing.T) (*postgresStore, *wireCounter) {
	t.Helper()
	enc := Encryption{Current: "k1", Keys: []EncryptionKey{testKey("k1")}}
	cfg := Config{Driver: DriverPostgres, DSN: secret.New(testenv.PostgresDSN(t)), Encryption: enc, MaxConns: 1}
	kr, err := newKeyring(enc)
	if err != nil {
		t.Fatal(err)
	}
	pcfg, err := postgresPoolConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pcfg.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement {
		t.Errorf("query exec mode %v, want statements prepared once and cached", pcfg.ConnConfig.DefaultQueryExecMode)
	}
	w := &wireCounter{}
	dial := pcfg.ConnConfig.DialFunc
	pcfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countedConn{Conn: c, w: w}, nil
	}
	pcfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	s, err := openPostgresPool(t.Context(), pcfg, kr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, w
}

// Each call of a login costs the round trips postgres_login.go promises,
// once its statements are prepared: a second login prepares nothing.
func TestPostgresLoginRoundTrips(t *testing.T) {
	s, w := openCountedPostgres(t)
	ctx := t.Context()
	now := time.Now()
	q := AccountQuery{PasswordSince: now.Add(-time.Hour), CodeSince: now.Add(-time.Hour), CodeDaySince: now.Add(-24 * time.Hour)}
	m := Method{ID: NewID(), UserID: "alice", Kind: KindTOTP, Secret: []byte("seed"), CreatedAt: now}
	if err := s.AddMethod(ctx, m); err != nil {
		t.Fatal(err)
	}
	step := int64(0)
	calls := []struct {
		name string
		want int
		call func() error
	}{
		{"Login", 1, func() error {
			_, r, err := s.Login(ctx, "alice", now, q, 5)
			if err == nil && r != Reserved {
				t.Errorf("login: %v", r)
			}
			return err
		}},
		{"IssueChallenge", 1, func() error {
			return s.IssueChallenge(ctx, Challenge{State: "st" + NewID(), UserID: "alice", Client: "gw", Kind: "totp", ExpiresAt: now.Add(time.Hour)}, now, 1)
		}},
		{"Redeem", 2, func() error {
			st := "st" + NewID()
			if err := s.CreateChallenge(ctx, Challenge{State: st, UserID: "alice", Client: "gw", Kind: "totp", ExpiresAt: now.Add(time.Hour)}); err != nil {
				return err
			}
			step++
			w.start() // not the CreateChallenge
			_, _, fresh, err := s.Redeem(ctx, st, now, q, func(Challenge, Account) Redemption {
				return Redemption{MethodID: m.ID, Step: step}
			})
			if err == nil && !fresh {
				t.Errorf("redeem: step %d not fresh", step)
			}
			return err
		}},
		{"Verify", 2, func() error {
			_, _, err := s.Verify(ctx, "alice", now, q, func(Account) Redemption { return Redemption{Fail: true} })
			return err
		}},
		{"ReserveAttempt", 1, func() error {
			_, err := s.ReserveAttempt(ctx, "alice", FailPassword, now, q.PasswordSince, 100)
			return err
		}},
		{"SettleFailure", 1, func() error {
			_, err := s.SettleFailure(ctx, "alice", FailPassword, now, q.PasswordSince)
			return err
		}},
		{"ForgiveAttempt", 1, func() error {
			return s.ForgiveAttempt(ctx, "alice", FailPassword, now)
		}},
	}
	for pass := range 2 {
		for _, c := range calls {
			w.start()
			if err := c.call(); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			rt, parses := w.stop()
			if pass == 0 {
				continue // statements prepared on first use
			}
			if rt != c.want {
				t.Errorf("%s: %d round trips, want %d", c.name, rt, c.want)
			}
			if parses != 0 {
				t.Errorf("%s prepared %d statements again", c.name, parses)
			}
		}
	}
}

// IssueChallenge's commit does not wait for the WAL flush, and the
// setting ends with its transaction: the connection's next write, a
// reservation, is durable again.
func TestPostgresAsyncCommitStaysInItsTransaction(t *testing.T) {
	s, _ := openCountedPostgres(t) // one connection: the next query runs on it
	ctx := t.Context()
	now := time.Now()
	if err := s.IssueChallenge(ctx, Challenge{State: NewID(), UserID: "alice", Client: "gw", Kind: "totp", ExpiresAt: now.Add(time.Hour)}, now, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgiveAttempt(ctx, "alice", FailPassword, now); err != nil {
		t.Fatal(err)
	}
	var setting string
	if err := s.pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "on" {
		t.Errorf("after IssueChallenge and ForgiveAttempt, synchronous_commit = %q on their connection, want on", setting)
	}
}
