package store_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for raw access

	"kakunin/internal/testenv"
	"kakunin/store"
	"kakunin/store/storetest"
)

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return mustOpen(t, postgresConfig(testenv.PostgresDSN(t), storetest.NewEncryption()))
	})
}

func TestPostgresShared(t *testing.T) {
	var dbs perTest
	storetest.RunShared(t, func(t *testing.T, enc store.Encryption) store.Store {
		return mustOpen(t, postgresConfig(dbs.get(t, func() string { return testenv.PostgresDSN(t) }), enc))
	})
}

func TestPostgresSessions(t *testing.T) {
	storetest.RunSessions(t, func(t *testing.T) store.Store {
		return mustOpen(t, postgresConfig(testenv.PostgresDSN(t), storetest.NewEncryption()))
	})
	var dbs perTest
	storetest.RunSessionsShared(t, func(t *testing.T, enc store.Encryption) store.Store {
		return mustOpen(t, postgresConfig(dbs.get(t, func() string { return testenv.PostgresDSN(t) }), enc))
	})
}

func openRawPostgres(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func TestPostgresSecretsEncryptedAtRest(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	s := mustOpen(t, postgresConfig(dsn, storetest.NewEncryption()))
	testAtRest(t, s, openRawPostgres(t, dsn))
}

func TestPostgresChallengeSecretEncryptedAtRest(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	s := mustOpen(t, postgresConfig(dsn, storetest.NewEncryption()))
	testChallengeAtRest(t, s, openRawPostgres(t, dsn))
}

func TestPostgresUpgradeKeepsPendingChallenge(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	testUpgradeFrom1(t, openRawPostgres(t, dsn), "postgres",
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO challenges (state, user_id, client, method_id, attempts, groups, expires_at, created_at)
			VALUES ($1, $2, 'gw', '', 1, '{vpn}', $3, now())`,
		time.Now().Add(time.Hour),
		func() store.Store { return mustOpen(t, postgresConfig(dsn, storetest.NewEncryption())) })
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	s := mustOpen(t, postgresConfig(dsn, storetest.NewEncryption()))
	if _, err := openRawPostgres(t, dsn).Exec(`INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := store.Open(t.Context(), postgresConfig(dsn, storetest.NewEncryption()), testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a database migrated by a newer kakunin = %v, want an error naming migration 9999", err)
	}
}

// Nodes starting at once on an empty database all succeed: the advisory
// lock serialises the migrations, which are applied once.
func TestPostgresConcurrentOpen(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	enc := storetest.NewEncryption()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(context.Background(), postgresConfig(dsn, enc), testLogger(t))
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
	if err := openRawPostgres(t, dsn).QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = 1`).Scan(&n); err != nil || n != 1 {
		t.Errorf("migration 1 recorded %d times (%v)", n, err)
	}
}

// An unreachable database fails Open with an error that names the server
// but never the password.
func TestPostgresUnreachableErrorHidesPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10e9)
	defer cancel()
	cfg := postgresConfig("postgres://kakunin:Sup3rSecret@127.0.0.1:1/kakunin?sslmode=disable&connect_timeout=2", storetest.NewEncryption())
	_, err := store.Open(ctx, cfg, testLogger(t))
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if strings.Contains(err.Error(), "Sup3rSecret") {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error does not say which server: %v", err)
	}
}
