package store_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kakunin/internal/secret"
	"kakunin/store"
)

// crashChildEnv makes this test binary the child that writes and is
// killed: its value is the database path and the key, "path|key".
const crashChildEnv = "KAKUNIN_STORE_CRASH_CHILD"

// Writes are committed in groups (group commit), and a caller is
// answered only once its group has committed: a crash of the process
// loses nothing that was acknowledged. The child reserves attempts for
// fresh users from 16 goroutines and prints each one acknowledged; it is
// killed with SIGKILL mid-load, and every acknowledged attempt must be in
// the database afterwards.
func TestSQLiteAcknowledgedWritesSurviveACrash(t *testing.T) {
	if v := os.Getenv(crashChildEnv); v != "" {
		crashChild(v)
		return
	}
	key := make([]byte, 32)
	rand.Read(key)
	k := base64.StdEncoding.EncodeToString(key)
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteAcknowledgedWritesSurviveACrash$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path+"|"+k)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked = append(acked, u)
		}
		if len(acked) == 500 {
			cmd.Process.Kill() // SIGKILL: no deferred close, no flush
			break
		}
	}
	// Acknowledgements already written to the pipe count too.
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked = append(acked, u)
		}
	}
	cmd.Wait()
	if len(acked) < 500 {
		t.Fatalf("the child acknowledged only %d writes before it ended", len(acked))
	}
	s := mustOpen(t, crashConfig(path, k))
	lost := 0
	for _, u := range acked {
		if n, err := s.CountFailures(context.Background(), u, store.FailPassword, time.Time{}); err != nil || n != 1 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost in the crash", lost, len(acked))
	}
}

func crashConfig(path, key string) store.Config {
	return store.Config{Driver: store.DriverSQLite, Path: path,
		Encryption: store.Encryption{Current: "k", Keys: []store.EncryptionKey{{ID: "k", Key: secret.New(key)}}}}
}

// crashChild writes until it is killed.
func crashChild(v string) {
	path, key, _ := strings.Cut(v, "|")
	cfg := crashConfig(path, key)
	cfg.SetDefaults()
	s, err := store.Open(context.Background(), cfg, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var next atomic.Int64
	now := time.Now()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				u := fmt.Sprintf("u%08d", next.Add(1))
				r, err := s.ReserveAttempt(context.Background(), u, store.FailPassword, now, now.Add(-time.Hour), 5)
				if err != nil || r != store.Reserved {
					fmt.Fprintln(os.Stderr, "reserve:", r, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(w, "ack", u)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
