package challenge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"kakunin/internal/secret"
	"kakunin/ldapauth"
	"kakunin/store"
)

// okDirectory accepts every password at once: the benchmarks measure the
// flow and the store, not the directory.
type okDirectory struct{}

func (okDirectory) Authenticate(ctx context.Context, user, password string) (ldapauth.Entry, error) {
	return ldapauth.Entry{DN: "uid=" + user, Groups: []string{"cn=vpn-staff"}}, nil
}

// BenchmarkTwoRoundLogin is one whole login through the engine and a real
// SQLite store (password, challenge, TOTP code, accept), without RADIUS
// or a directory: what kakunin's own flow costs. Each login is a fresh
// user, so no code repeats.
func BenchmarkTwoRoundLogin(b *testing.B) {
	const users = 40000
	key := make([]byte, 32)
	rand.Read(key)
	cfg := store.Config{Driver: "sqlite", Path: filepath.Join(b.TempDir(), "k.db")}
	cfg.Encryption.Keys = []store.EncryptionKey{{ID: "t", Key: secret.New(base64.StdEncoding.EncodeToString(key))}}
	cfg.SetDefaults()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(context.Background(), cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	// One clock for everything the benchmark exercises: the engine
	// (WithClock) and the help desk that enrolls (AdminClock) read it,
	// and the store gets its times from them; it stands still, so every
	// login of a run falls in one TOTP step, on any day.
	now := time.Date(2026, 11, 25, 9, 0, 10, 0, time.UTC)
	clock := func() time.Time { return now }
	var fc Config
	fc.SetDefaults()
	fc.Languages = []string{"en"}
	e, err := New(fc, okDirectory{}, st, log, nil, WithClock(clock))
	if err != nil {
		b.Fatal(err)
	}
	admin, _ := NewAdmin(fc, st, AdminClock(clock))
	seed := []byte("12345678901234567890")
	for i := range users {
		if _, _, err := admin.AddTOTP(context.Background(), fmt.Sprintf("%010d", i), "", seed, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	code := TOTPCode(seed, now)
	var next atomic.Int64
	b.SetParallelism(8) // 16 logins in flight on 2 cores, as a gateway's load
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if i > users {
				b.Fatal("more logins than users: lower -benchtime")
			}
			user := fmt.Sprintf("%010d", i-1)
			d := e.Authenticate(context.Background(), &Request{Client: "gw", UserName: user, Password: "pw"})
			if d.Outcome != Challenge {
				b.Fatalf("round one: %+v", d)
			}
			d = e.Authenticate(context.Background(), &Request{Client: "gw", UserName: user, Password: code, State: d.State})
			if d.Outcome != Accept {
				b.Fatalf("round two: %+v", d)
			}
		}
	})
}
