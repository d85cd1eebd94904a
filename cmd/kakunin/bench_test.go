package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kakunin/internal/bench"
	"kakunin/internal/testenv"
)

// TestBenchRunsEverySystem keeps the README's load command working: a
// tiny run (slapd, FreeRADIUS, kakunin serve on SQLite and on PostgreSQL
// as child processes) completes the naive loop, FreeRADIUS's two rounds
// and kakunin's on both stores and on two PostgreSQL nodes, interleaved,
// without errors, and charges PostgreSQL's backends to the PostgreSQL
// phases. It measures nothing; the figures come from kakunin bench itself.
func TestBenchRunsEverySystem(t *testing.T) {
	opt := bench.Options{
		Users: 5000, Concurrency: 2, Duration: 200 * time.Millisecond, Warmup: 0, Rounds: 2,
		Drivers: []string{"sqlite", "postgres"}, PostgresDSN: testPostgres(), Peer: "freeradius", Nodes: 2, RequiredGroup: true,
		Kakunin: kakuninBinary(t), Dir: filepath.Join(t.TempDir(), "work"), Out: io.Discard,
	}
	rs, err := bench.Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range rs {
		kinds[r.Kind]++
		if r.Logins == 0 || r.Errors != 0 {
			t.Errorf("%s: %d logins, %d errors", r.Name, r.Logins, r.Errors)
		}
		if r.Driver == "postgres" && (!r.HasPostgres || r.CPUPostgres == 0) {
			t.Errorf("%s: no PostgreSQL backend CPU charged (%v)", r.Name, r.CPUPostgres)
		}
	}
	if kinds["naive"] != 1 || kinds["freeradius"] != 1 || kinds["kakunin"] != 3 {
		t.Errorf("systems measured: %v", kinds)
	}
}

// TestBenchHoldsPushRequests keeps kakunin bench -held working: a tiny
// run holds a few push requests and measures the TOTP flow beside them;
// none of the held requests may end in an accept.
func TestBenchHoldsPushRequests(t *testing.T) {
	opt := bench.Options{
		Users: 3000, Concurrency: 2, Duration: time.Second, Warmup: 0, Held: 50,
		Driver: "sqlite", RequiredGroup: true,
		Kakunin: kakuninBinary(t), Dir: filepath.Join(t.TempDir(), "work"), Out: io.Discard,
	}
	r, err := bench.RunHeld(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Held != 50 || r.With.Logins == 0 || r.With.Errors != 0 || r.Without.Logins == 0 {
		t.Errorf("held %d; with: %d logins, %d errors; without: %d logins", r.Held, r.With.Logins, r.With.Errors, r.Without.Logins)
	}
}

// testPostgres is the database the PostgreSQL tests use.
func testPostgres() string {
	if v := os.Getenv("KAKUNIN_TEST_POSTGRES"); v != "" {
		return v
	}
	return testenv.DefaultPostgres
}
