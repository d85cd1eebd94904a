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
