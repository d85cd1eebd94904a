package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/store"
	"kakunin/store/storetest"
)

func tempDB(t testing.TB) string { return filepath.Join(t.TempDir(), "kakunin.db") }

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return mustOpen(t, sqliteConfig(tempDB(t), storetest.NewEncryption()))
	})
}

func TestSQLiteShared(t *testing.T) {
	var dbs perTest
	storetest.RunShared(t, func(t *testing.T, enc store.Encryption) store.Store {
		return mustOpen(t, sqliteConfig(dbs.get(t, func() string { return tempDB(t) }), enc))
	})
}

func TestSQLiteSessions(t *testing.T) {
	storetest.RunSessions(t, func(t *testing.T) store.Store {
		return mustOpen(t, sqliteConfig(tempDB(t), storetest.NewEncryption()))
	})
	var dbs perTest
	storetest.RunSessionsShared(t, func(t *testing.T, enc store.Encryption) store.Store {
		return mustOpen(t, sqliteConfig(dbs.get(t, func() string { return tempDB(t) }), enc))
	})
}

func openRawSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func TestSQLiteSecretsEncryptedAtRest(t *testing.T) {
	path := tempDB(t)
	s := mustOpen(t, sqliteConfig(path, storetest.NewEncryption()))
	testAtRest(t, s, openRawSQLite(t, path))
}

func TestSQLiteChallengeSecretEncryptedAtRest(t *testing.T) {
	path := tempDB(t)
	s := mustOpen(t, sqliteConfig(path, storetest.NewEncryption()))
	testChallengeAtRest(t, s, openRawSQLite(t, path))
}

func TestSQLiteUpgradeKeepsPendingChallenge(t *testing.T) {
	path := tempDB(t)
	testUpgradeFrom1(t, openRawSQLite(t, path), "sqlite",
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		`INSERT INTO challenges (state, user_id, client, method_id, attempts, groups, expires_at, created_at)
			VALUES ($1, $2, 'gw', '', 1, '["vpn"]', $3, 0)`,
		time.Now().Add(time.Hour).UnixMicro(),
		func() store.Store { return mustOpen(t, sqliteConfig(path, storetest.NewEncryption())) })
}

func TestSQLiteFilesArePrivate(t *testing.T) {
	path := tempDB(t)
	s := mustOpen(t, sqliteConfig(path, storetest.NewEncryption()))
	if err := s.RecordFailure(t.Context(), "alice", store.FailCode, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", filepath.Base(p), perm)
		}
	}
}

func TestSQLiteUsesWAL(t *testing.T) {
	path := tempDB(t)
	mustOpen(t, sqliteConfig(path, storetest.NewEncryption()))
	var mode string
	if err := openRawSQLite(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %s, want wal", mode)
	}
}

func TestSQLiteRefusesNewerSchema(t *testing.T) {
	path := tempDB(t)
	s := mustOpen(t, sqliteConfig(path, storetest.NewEncryption()))
	if _, err := openRawSQLite(t, path).Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := store.Open(t.Context(), sqliteConfig(path, storetest.NewEncryption()), testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a database migrated by a newer kakunin = %v, want an error naming migration 9999", err)
	}
}

// Nodes (or the CLI beside the server) opening one new file at once all
// succeed; the migrations are applied once.
func TestSQLiteConcurrentOpen(t *testing.T) {
	path := tempDB(t)
	enc := storetest.NewEncryption()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(context.Background(), sqliteConfig(path, enc), testLogger(t))
			if err != nil {
				errs <- err
				return
			}
			errs <- s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var n int
	if err := openRawSQLite(t, path).QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = 1`).Scan(&n); err != nil || n != 1 {
		t.Errorf("migration 1 recorded %d times (%v)", n, err)
	}
}

// Two handles on one file (two processes, as when the CLI runs beside the
// server) writing at once, transactions included, never see SQLITE_BUSY:
// within a handle writers queue for its one connection, across handles
// they wait on busy_timeout, and transactions take the lock at BEGIN.
func TestSQLiteConcurrentWritersNeverBusy(t *testing.T) {
	path := tempDB(t)
	enc := storetest.NewEncryption()
	nodes := []store.Store{mustOpen(t, sqliteConfig(path, enc)), mustOpen(t, sqliteConfig(path, enc))}
	ctx := t.Context()
	now := time.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := nodes[g%2]
			user := fmt.Sprintf("user%d", g%4) // users shared across goroutines and nodes
			for i := range 25 {
				m := store.Method{ID: store.NewID(), UserID: user, Kind: store.KindTOTP, Secret: []byte("seed")}
				state := store.NewID()
				for _, err := range []error{
					s.AddMethod(ctx, m),
					s.PutUser(ctx, store.User{ID: user, MFAApplied: true, DefaultMethod: m.ID}),
					func() error { _, err := s.UseTOTPStep(ctx, m.ID, int64(i+1), now); return err }(),
					s.CreateChallenge(ctx, store.Challenge{State: state, UserID: user, ExpiresAt: now.Add(time.Minute)}),
					func() error { _, err := nodes[(g+1)%2].TakeChallenge(ctx, state, now); return err }(),
					s.RecordFailure(ctx, user, store.FailCode, now),
					func() error { _, err := s.Methods(ctx, user); return err }(),
					func() error {
						if i%10 == 9 {
							return s.Reset(ctx, user)
						}
						return nil
					}(),
				} {
					// A Reset by another goroutine may remove the method
					// between AddMethod and PutUser: that is ErrNotFound,
					// not a lock error.
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i == 5 {
			t.Errorf("… and %d more", len(errs)-i)
			break
		}
		t.Error(err)
	}
}
