package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Group commit. Every write transaction of a process runs on its one
// writer connection, and a commit, not the statements, is most of what a
// transaction costs there: taking and releasing the WAL locks and writing
// the frames, system calls each. So the transactions of concurrent callers
// are run together: one goroutine takes every transaction waiting, runs
// each in a savepoint of one transaction, in the order they arrived, and
// commits once. A caller returns only once the transaction holding its
// work has committed (or with the error that stopped it): nothing is
// acknowledged that a crash of the process could lose. One caller's
// failure rolls back its savepoint alone.
//
// The transactions of one batch run one after the other, as they would
// on the single writer connection anyway, so each sees the writes of
// those before it: serialisation is what it was, only commits are shared.

// maxGroup bounds one group: how long the writer lock is held at once.
const maxGroup = 64

// errStoreClosed is returned for work submitted to a closed store.
var errStoreClosed = errors.New("store: closed")

// txJob is one caller's transaction.
type txJob struct {
	ctx  context.Context
	fn   func(context.Context, *sql.Tx) error
	done chan error
}

type committer struct {
	db   *sql.DB
	jobs chan *txJob
	stop chan struct{}
	wg   sync.WaitGroup
	// mu orders submissions before close: once closed is set, nothing
	// more is queued, so everything queued gets an answer.
	mu     sync.RWMutex
	closed bool
}

func newCommitter(db *sql.DB) *committer {
	c := &committer{db: db, jobs: make(chan *txJob, maxGroup), stop: make(chan struct{})}
	c.wg.Add(1)
	go c.run()
	return c
}

// do runs fn in a transaction of the writer, with others waiting at the
// same time, and returns once that transaction has committed. fn gets a
// context that is not cancelled while it runs: cancelling a statement
// interrupts the connection, which would roll back the whole group. A
// caller whose ctx ends before its turn is not run; one whose ctx ends
// while fn runs has its work rolled back and gets ctx's error.
func (c *committer) do(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	j := &txJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errStoreClosed
	}
	select {
	case c.jobs <- j:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	// Once queued, the job runs or is refused, and its answer always
	// comes: wait for it even if ctx ends, so that the caller never
	// returns while its work may still commit.
	return <-j.done
}

// close answers what is queued (refused) and stops the writer.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.stop)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *committer) run() {
	defer c.wg.Done()
	group := make([]*txJob, 0, maxGroup)
	for {
		select {
		case j := <-c.jobs:
			group = append(group[:0], j)
		case <-c.stop:
			c.refuseQueued()
			return
		}
		// Whatever else is waiting joins this group; nothing waits for
		// more to come.
	more:
		for len(group) < maxGroup {
			select {
			case j := <-c.jobs:
				group = append(group, j)
			default:
				break more
			}
		}
		c.commit(group)
	}
}

func (c *committer) refuseQueued() {
	for {
		select {
		case j := <-c.jobs:
			j.done <- errStoreClosed
		default:
			return
		}
	}
}

// commit runs a group in one transaction and answers each job.
func (c *committer) commit(group []*txJob) {
	errs := make([]error, len(group))
	ran := 0
	for i, j := range group {
		if err := j.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		ran++
	}
	if ran == 0 {
		answer(group, errs)
		return
	}
	tx, err := c.db.BeginTx(context.Background(), nil)
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		answer(group, errs)
		return
	}
	savepoints := ran > 1
	ok := 0
	for i, j := range group {
		if errs[i] != nil {
			continue
		}
		ctx := context.WithoutCancel(j.ctx)
		if !savepoints {
			errs[i] = runJob(ctx, j.ctx, tx, j.fn)
			if errs[i] == nil {
				ok++
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			errs[i] = err
			continue
		}
		if errs[i] = runJob(ctx, j.ctx, tx, j.fn); errs[i] != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO job"); err != nil {
				// The savepoint is gone: SQLite rolled the whole
				// transaction back (an I/O error, a full disk). The
				// jobs before this one are lost with it: none is
				// acknowledged.
				fail := fmt.Errorf("store: group transaction rolled back: %w", errors.Join(errs[i], err))
				for k := range errs {
					if errs[k] == nil || k == i {
						errs[k] = fail
					}
				}
				tx.Rollback()
				answer(group, errs)
				return
			}
		} else {
			ok++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE job"); err != nil && errs[i] == nil {
			errs[i] = err
			ok--
		}
	}
	if ok == 0 {
		tx.Rollback()
	} else if err := tx.Commit(); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("commit: %w", err)
			}
		}
	}
	answer(group, errs)
}

// runJob runs one caller's work; a panic there is that caller's error,
// not the end of the writer. A caller whose context ended while its work
// ran gets that error and its work is rolled back, as a transaction of
// its own would have been: its statements ran on a context that is not
// cancelled (ctx), the caller's own (caller) is checked once they are
// done.
func runJob(ctx, caller context.Context, tx *sql.Tx, fn func(context.Context, *sql.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: transaction panicked: %v", p)
		}
	}()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	return caller.Err()
}

func answer(group []*txJob, errs []error) {
	for i, j := range group {
		j.done <- errs[i]
	}
}
