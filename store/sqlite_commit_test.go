package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// openCommitter returns a committer on a new database's writer, and a
// reader of that database.
func openCommitter(t *testing.T) (*committer, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	w, err := sql.Open("sqlite", path+"?"+sqliteWriterParams)
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	t.Cleanup(func() { w.Close() })
	if _, err := w.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY) STRICT`); err != nil {
		t.Fatal(err)
	}
	r, err := sql.Open("sqlite", path+"?"+sqliteReaderParams)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c := newCommitter(w)
	t.Cleanup(c.close)
	return c, r
}

func insert(k string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t (k) VALUES ($1)`, k)
		return err
	}
}

// A group of transactions commits once; a job that fails (or panics)
// after writing loses its own writes only, and the others' stand.
func TestGroupCommitRollsBackOnlyTheJobThatFailed(t *testing.T) {
	c, db := openCommitter(t)
	// Hold the writer with a first job until a whole group is queued
	// behind it, so the next group is exactly maxGroup jobs.
	release, started := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- c.do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			close(started)
			<-release
			return insert("first")(ctx, tx)
		})
	}()
	<-started
	var wg sync.WaitGroup
	errs := make([]error, maxGroup)
	for i := range maxGroup {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Sprintf("k%02d", i)
			errs[i] = c.do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
				if err := insert(k)(ctx, tx); err != nil {
					return err
				}
				switch i % 8 {
				case 3:
					return insert(k)(ctx, tx) // a constraint error after a write
				case 5:
					panic("job " + k)
				}
				return nil
			})
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); len(c.jobs) < maxGroup; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d jobs queued", len(c.jobs))
		}
		time.Sleep(time.Millisecond)
	}
	var before int
	db.QueryRow(`SELECT count(*) FROM t`).Scan(&before)
	releaseOnce.Do(func() { close(release) })
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		k := fmt.Sprintf("k%02d", i)
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM t WHERE k = $1`, k).Scan(&n); err != nil {
			t.Fatal(err)
		}
		failing := i%8 == 3 || i%8 == 5
		switch {
		case failing && (err == nil || n != 0):
			t.Errorf("%s: failed job answered %v, %d rows kept", k, err, n)
		case !failing && (err != nil || n != 1):
			t.Errorf("%s: answered %v, %d rows", k, err, n)
		}
	}
	if before != 0 {
		t.Errorf("%d rows visible before the group committed", before)
	}
}

// A caller whose context has ended before its turn is not run; one that is
// run is answered after the commit, whatever its context does meanwhile.
func TestGroupCommitSkipsCallersThatGaveUp(t *testing.T) {
	c, db := openCommitter(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.do(ctx, insert("late")); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled caller: %v", err)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM t`).Scan(&n)
	if n != 0 {
		t.Errorf("a cancelled caller's work was written")
	}
	// Cancelled while its work runs: rolled back, beside a job that stands.
	ctx, cancel = context.WithCancel(context.Background())
	other := make(chan error, 1)
	go func() { other <- c.do(context.Background(), insert("other")) }()
	err := c.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := insert("interrupted")(ctx, tx); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a caller cancelled while its work ran: %v", err)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	db.QueryRow(`SELECT count(*) FROM t WHERE k = 'interrupted'`).Scan(&n)
	if n != 0 {
		t.Errorf("the work of a caller cancelled while it ran was kept")
	}
	c.close()
	if err := c.do(context.Background(), insert("closed")); !errors.Is(err, errStoreClosed) {
		t.Errorf("after close: %v", err)
	}
}
