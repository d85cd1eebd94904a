package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgres is the database tests use unless KAKUNIN_TEST_POSTGRES
// names another: a local PostgreSQL with trust authentication.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresDSN creates a fresh schema in the test PostgreSQL database and
// returns a DSN (in the form KAKUNIN_TEST_POSTGRES is written in) whose
// search_path is that schema, so each test starts empty and tests can run
// in parallel. The schema is dropped when the test ends. An unreachable
// PostgreSQL fails the test.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base, ok := os.LookupEnv("KAKUNIN_TEST_POSTGRES")
	if !ok || base == "" {
		base = DefaultPostgres
	}
	dsn, drop, err := NewPostgresSchema(context.Background(), base)
	if err != nil {
		t.Fatalf("%v\n"+
			"Start PostgreSQL on 127.0.0.1:5432 with a database \"test\" that user postgres may use without a password "+
			"(the README's test command does), or set KAKUNIN_TEST_POSTGRES to a DSN.", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Error(err)
		}
	})
	return dsn
}

// NewPostgresSchema creates a schema with a random name in the database of
// base and returns a DSN whose search_path is that schema, and a function
// that drops it (tests and the benchmark).
func NewPostgresSchema(ctx context.Context, base string) (dsn string, drop func() error, err error) {
	schema := "kakunin_test_" + strings.ToLower(rand.Text())
	ident := pgx.Identifier{schema}.Sanitize()
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("PostgreSQL is not reachable: %w", err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + ident); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	drop = func() error {
		if err := exec("DROP SCHEMA " + ident + " CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	dsn, err = withSearchPath(base, schema)
	if err != nil {
		drop()
		return "", nil, err
	}
	return dsn, drop, nil
}

// withSearchPath adds search_path to a DSN in URL or key=value form; pgx
// sends it to the server as a run-time parameter.
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("the PostgreSQL DSN is not a valid URL")
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}
