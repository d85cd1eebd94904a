package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"kakunin/internal/testenv"
	"kakunin/store"
	"kakunin/store/storetest"
)

// The hot paths of a login, per driver, serial and with 8 goroutines per
// CPU (logins of different users at once). Ping, one round trip that
// touches no table, is the baseline to read them against:
//
//	go test -run '^$' -bench . -benchtime 2s ./store/
var benchDrivers = []struct {
	name string
	open func(b *testing.B) store.Store
}{
	{"sqlite", func(b *testing.B) store.Store {
		return mustOpen(b, sqliteConfig(tempDB(b), storetest.NewEncryption()))
	}},
	{"postgres", func(b *testing.B) store.Store {
		return mustOpen(b, postgresConfig(testenv.PostgresDSN(b), storetest.NewEncryption()))
	}},
}

const benchParallelism = 8

func eachDriver(b *testing.B, fn func(b *testing.B, s store.Store, parallel bool)) {
	for _, d := range benchDrivers {
		for _, parallel := range []bool{false, true} {
			name := d.name + "/serial"
			if parallel {
				name = d.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				fn(b, d.open(b), parallel)
			})
		}
	}
}

// run calls op b.N times in all, serially or from parallel goroutines; i
// numbers the goroutine (0 when serial).
func run(b *testing.B, parallel bool, op func(g int) error) {
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for range b.N {
			if err := op(0); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	var goroutines atomic.Int32
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		g := int(goroutines.Add(1) - 1)
		for pb.Next() {
			if err := op(g); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkPing(b *testing.B) {
	ctx := context.Background()
	eachDriver(b, func(b *testing.B, s store.Store, parallel bool) {
		run(b, parallel, func(int) error { return s.Ping(ctx) })
	})
}

func BenchmarkUseTOTPStep(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	eachDriver(b, func(b *testing.B, s store.Store, parallel bool) {
		// One method per goroutine: concurrent logins are of different users.
		const methods = 256
		ids := make([]string, methods)
		steps := make([]int64, methods)
		for i := range ids {
			ids[i] = store.NewID()
			m := store.Method{ID: ids[i], UserID: fmt.Sprintf("user%d", i), Kind: store.KindTOTP, Secret: []byte("seed")}
			if err := s.AddMethod(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		run(b, parallel, func(g int) error {
			steps[g]++
			ok, err := s.UseTOTPStep(ctx, ids[g], steps[g], now)
			if err == nil && !ok {
				err = fmt.Errorf("step %d of a fresh method refused", steps[g])
			}
			return err
		})
	})
}

func BenchmarkTakeChallenge(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	eachDriver(b, func(b *testing.B, s store.Store, parallel bool) {
		states := make([]string, b.N)
		for i := range states {
			states[i] = store.NewID()
			c := store.Challenge{State: states[i], UserID: fmt.Sprintf("user%d", i%1000), Client: "gw1",
				Groups: []string{"vpn"}, ExpiresAt: now.Add(time.Hour)}
			if err := s.CreateChallenge(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Int64
		run(b, parallel, func(int) error {
			_, err := s.TakeChallenge(ctx, states[next.Add(1)-1], now)
			return err
		})
	})
}

// A whole login's store calls on PostgreSQL (multi-node mode), one user
// per goroutine as when different people sign in at once: round one
// (Login before the bind, IssueChallenge after a good password) and
// round two (Redeem of that challenge using a fresh TOTP step). Compare
// with BenchmarkPing, one bare round trip, in the same run:
//
//	go test -run '^$' -bench Postgres -benchtime 3s ./store/
func BenchmarkPostgresLogin(b *testing.B) {
	ctx := context.Background()
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			s := mustOpen(b, postgresConfig(testenv.PostgresDSN(b), storetest.NewEncryption()))
			l := newBenchLogins(b, s)
			run(b, parallel, func(g int) error {
				state, err := l.roundOne(ctx, g)
				if err != nil {
					return err
				}
				return l.roundTwo(ctx, g, state)
			})
		})
	}
}

// BenchmarkPostgresRoundOne and BenchmarkPostgresRoundTwo time each round
// apart (round two's challenges are issued before the timer starts).
func BenchmarkPostgresRoundOne(b *testing.B) {
	ctx := context.Background()
	s := mustOpen(b, postgresConfig(testenv.PostgresDSN(b), storetest.NewEncryption()))
	l := newBenchLogins(b, s)
	run(b, true, func(g int) error {
		_, err := l.roundOne(ctx, g)
		return err
	})
}

func BenchmarkPostgresRoundTwo(b *testing.B) {
	ctx := context.Background()
	s := mustOpen(b, postgresConfig(testenv.PostgresDSN(b), storetest.NewEncryption()))
	l := newBenchLogins(b, s)
	states := make([][]string, benchLoginUsers)
	for i := range b.N {
		g := i % benchLoginUsers
		st, err := l.roundOne(ctx, g)
		if err != nil {
			b.Fatal(err)
		}
		states[g] = append(states[g], st)
	}
	// Goroutines take their own users' challenges in order; one that runs
	// out (RunParallel does not split b.N evenly) takes another user's.
	var next atomic.Int64
	run(b, true, func(int) error {
		i := int(next.Add(1) - 1)
		g, k := i%benchLoginUsers, i/benchLoginUsers
		// Steps are numbered by the user's challenge, so a goroutine
		// that overtakes another on one user finds its step spent: that
		// costs the same and is not an error here.
		_, err := l.redeem(ctx, g, states[g][k], int64(k+1))
		return err
	})
}

// benchLoginUsers is more than the goroutines RunParallel starts on any
// machine this runs on: each has users of its own.
const benchLoginUsers = 256

type benchLogins struct {
	s     store.Store
	users []string
	steps []atomic.Int64
	q     store.AccountQuery
	now   time.Time
}

func newBenchLogins(b *testing.B, s store.Store) *benchLogins {
	now := time.Now()
	l := &benchLogins{s: s, now: now, steps: make([]atomic.Int64, benchLoginUsers),
		q: store.AccountQuery{PasswordSince: now.Add(-15 * time.Minute), CodeSince: now.Add(-15 * time.Minute), CodeDaySince: now.Add(-24 * time.Hour)}}
	for i := range benchLoginUsers {
		u := fmt.Sprintf("user%d", i)
		m := store.Method{ID: store.NewID(), UserID: u, Kind: store.KindTOTP, Secret: []byte("seed"), CreatedAt: now}
		if err := s.AddMethod(context.Background(), m); err != nil {
			b.Fatal(err)
		}
		l.users = append(l.users, u)
	}
	return l
}

// roundOne reserves the password attempt and, the password being good,
// issues the challenge and forgives the attempt.
func (l *benchLogins) roundOne(ctx context.Context, g int) (string, error) {
	a, r, err := l.s.Login(ctx, l.users[g], l.now, l.q, 5)
	if err != nil {
		return "", err
	}
	if r != store.Reserved || len(a.Methods) != 1 {
		return "", fmt.Errorf("login of %s: %v with %d methods", l.users[g], r, len(a.Methods))
	}
	c := store.Challenge{State: store.NewID(), UserID: l.users[g], Client: "gw1", Kind: "totp",
		Groups: []string{"vpn"}, ExpiresAt: l.now.Add(time.Hour), CreatedAt: l.now}
	if err := l.s.IssueChallenge(ctx, c, l.now, 1); err != nil {
		return "", err
	}
	return c.State, nil
}

// roundTwo redeems the challenge with the user's next TOTP step.
func (l *benchLogins) roundTwo(ctx context.Context, g int, state string) error {
	step := l.steps[g].Add(1)
	fresh, err := l.redeem(ctx, g, state, step)
	if err == nil && !fresh {
		err = fmt.Errorf("step %d of %s refused", step, l.users[g])
	}
	return err
}

func (l *benchLogins) redeem(ctx context.Context, g int, state string, step int64) (bool, error) {
	_, _, fresh, err := l.s.Redeem(ctx, state, l.now, l.q, func(_ store.Challenge, a store.Account) store.Redemption {
		return store.Redemption{MethodID: a.Methods[0].ID, Step: step}
	})
	return fresh, err
}
