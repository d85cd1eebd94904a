package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"kakunin/internal/bench"
)

// TestBenchRunsBothLoops keeps the README's load command working: a tiny
// run (slapd, a store, kakunin serve as a child process) completes both
// the naive loop and kakunin's two-round flow without errors. It measures
// nothing; the figures come from kakunin bench itself.
func TestBenchRunsBothLoops(t *testing.T) {
	opt := bench.Options{
		Users: 2000, Concurrency: 2, Duration: time.Second, Warmup: 0,
		Driver: "sqlite", RequiredGroup: true,
		Kakunin: kakuninBinary(t), Dir: filepath.Join(t.TempDir(), "work"), Out: io.Discard,
	}
	naive, flow, err := bench.Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []bench.Result{naive, flow} {
		if r.Logins == 0 || r.Errors != 0 {
			t.Errorf("%s: %d logins, %d errors", r.Name, r.Logins, r.Errors)
		}
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
