package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The login path on PostgreSQL: what each call costs in round trips and
// WAL flushes, and why no fewer.
//
// Round trips. Each call sends its statements as one pgx batch: pipelined
// in one round trip, run in order, each under READ COMMITTED with a
// snapshot of its own, so a per-user advisory lock taken by an earlier
// statement protects the reads of the later ones exactly as in a
// transaction of separate round trips. A batch sent outside a transaction
// is one implicit transaction that commits at its end (pgx sends one Sync):
// a statement that fails rolls back the ones before it and skips the ones
// after. So Login, IssueChallenge, ReserveAttempt, SettleFailure and
// ForgiveAttempt are one round trip each (they were 6, 4, 5, 5 and 1).
// Redeem and Verify are two (they were 6 to 7 and 5 to 6): the first
// begins a transaction, locks the user and reads (and takes the
// challenge); decide runs in Go; the second writes what it answered and
// commits. Statements are prepared once per connection and cached (pgx's
// default QueryExecModeCacheStatement, which openPostgres keeps), so a
// batch sends only Bind and Execute messages.
//
// WAL flushes: durability per kind of write. A commit waits for its WAL
// to be flushed (synchronous_commit on, the server's setting) unless the
// loss of that write in a crash of the database server is harmless:
//
//   - Redeem and Verify (a used TOTP step, a recorded code failure, a
//     taken challenge) and SettleFailure (a password failure) are durable:
//     a step or state usable again after a crash would be a replay, a
//     failure lost a free guess.
//   - Login and ReserveAttempt (a pending attempt, before the bind) are
//     durable too. A reservation lost in a crash would take its failure
//     with it: SettleFailure finds no pending row to settle, and an
//     attempt whose node could not reach the restarted database never
//     turns stale, so every guess in flight at the crash, up to the limit
//     for each user, would go uncounted, as often as the attacker can
//     make the server crash. A later durable commit (any session's, WAL is
//     flushed in order) would make it safe, but nothing bounds when that
//     comes, so the reservation pays its own flush.
//   - IssueChallenge and ForgiveAttempt commit with synchronous_commit
//     off, for this transaction only (set_config(..., true)): a lost
//     challenge makes its user sign in again, and a lost forgiveness
//     leaves a pending attempt that counts as a failure after
//     StaleAttempt, which errs on the side of the lockout. Neither can
//     be lost once a later durable commit of the same user is (Redeem
//     flushes the WAL up to its own commit, which is after the challenge
//     it took), and the WAL writer flushes them within a few
//     wal_writer_delay anyway.

// pgUserLock serialises one user's code decisions and attempts across
// nodes: taken before the account or the failures are read, it makes the
// read (READ COMMITTED, a fresh snapshot per statement) see every earlier
// decision's failure records.
const pgUserLock = `SELECT pg_advisory_xact_lock(hashtext('kakunin/user'), hashtext($1))`

// pgAsyncCommit makes the transaction it runs in commit without waiting
// for its WAL flush; the setting ends with the transaction.
const pgAsyncCommit = `SELECT set_config('synchronous_commit', 'off', true)`

// pgReserveSQL counts a user's failures of a kind since $4 (those pending
// for longer than StaleAttempt, before $5, as settled) and records a
// pending attempt at $3 while all of them stay under the limit $6. It
// returns the counts from before the attempt; the user's lock is held.
const pgReserveSQL = `WITH counts AS (
	SELECT count(*) AS total, count(*) FILTER (WHERE NOT pending OR at < $5::timestamptz) AS settled
	FROM failures WHERE user_id = $1::text AND kind = $2::text AND at >= $4::timestamptz
), reserved AS (
	INSERT INTO failures (user_id, kind, at, pending)
	SELECT $1::text, $2::text, $3::timestamptz, true FROM counts WHERE total < $6::bigint
	RETURNING 1
)
SELECT total, settled FROM counts`

// reservation tells what pgReserveSQL did from the counts it returned.
func reservation(total, settled int64, limit int) Reservation {
	switch {
	case settled >= int64(limit):
		return Paused
	case total >= int64(limit):
		return Busy
	}
	return Reserved
}

// pgForgiveSQL removes up to $4 pending attempts of a kind reserved at $3.
const pgForgiveSQL = `DELETE FROM failures WHERE id IN
	(SELECT id FROM failures WHERE user_id = $1 AND kind = $2 AND at = $3 AND pending LIMIT $4)`

// Redeem's first round trip, after BEGIN. The challenge's user is locked
// (read from the challenge: the state is all Redeem is given), then that
// user's account read, then the challenge deleted, in this order: the
// account read's snapshot is taken after the lock. A second Redeem of the
// same state waits on the lock and then finds no challenge.
const (
	pgLockStateUser = `SELECT user_id, pg_advisory_xact_lock(hashtext('kakunin/user'), hashtext(user_id))
		FROM challenges WHERE state = $1`
	pgTakeSQL = `DELETE FROM challenges WHERE state = $1
		RETURNING user_id, client, method_id, kind, secret_ct, key_id, options, attempts, groups, expires_at, created_at`
)

// pgAccountOfStateSQL is accountSQL for the user a challenge was issued
// to ($1 the state; the counts' windows as in accountSQL). Derived, so the
// columns cannot drift apart from scanAccount's.
var pgAccountOfStateSQL = strings.ReplaceAll(accountSQL, "$1", "(SELECT user_id FROM challenges WHERE state = $1)")

// pgSettleSQL applies a Redemption: the TOTP step of method $3 is used if
// it is fresh, and a code failure of user $4 recorded if $5 and the step
// was not. It returns how many steps it used (0 or 1).
const pgSettleSQL = `WITH used AS (
	UPDATE methods SET last_step = $1::bigint, last_used = $2::timestamptz
	WHERE id = $3::text AND last_step < $1::bigint
	RETURNING 1
), failed AS (
	INSERT INTO failures (user_id, kind, at)
	SELECT $4::text, $6::text, $2::timestamptz WHERE $5::boolean AND NOT EXISTS (SELECT 1 FROM used)
)
SELECT count(*) FROM used`

// batch sends b in one round trip and gives read its results, in order.
// Outside a transaction b is one implicit transaction, committed once read
// returns and the results are closed: batch returns only then, so a nil
// error means b's writes are committed. read must read every result it
// needs before it fails on its own (a scan or a decryption): the server
// commits what succeeded on the server regardless.
func batch(ctx context.Context, db interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := db.SendBatch(ctx, b)
	err := read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// pgTx is a transaction of Redeem or Verify on one connection of the
// pool, begun by the first batch and committed by the last, so BEGIN and
// COMMIT cost no round trip of their own.
type pgTx struct {
	conn *pgxpool.Conn
}

func (s *postgresStore) beginTx(ctx context.Context) (*pgTx, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{conn: conn}, nil
}

// first sends BEGIN and then b's statements in one round trip. The
// isolation level is set, not inherited: under REPEATABLE READ the reads
// after the lock would see a snapshot from before the wait.
func (tx *pgTx) first(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	full := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	full.Queue(`BEGIN ISOLATION LEVEL READ COMMITTED`)
	full.QueuedQueries = append(full.QueuedQueries, b.QueuedQueries...)
	return batch(ctx, tx.conn, full, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		return read(br)
	})
}

// commit sends b's statements (b may be empty) and then COMMIT in one
// round trip, and releases the connection. read gets b's results.
func (tx *pgTx) commit(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	defer tx.release(ctx)
	n := len(b.QueuedQueries)
	b.Queue(`COMMIT`)
	return batch(ctx, tx.conn, b, func(br pgx.BatchResults) error {
		if n > 0 {
			if err := read(br); err != nil {
				return err
			}
		}
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		if tag.String() != "COMMIT" {
			return fmt.Errorf("commit: %s", tag)
		}
		return nil
	})
}

// release ends the transaction if commit did not: a failed statement, a
// failed read or decision leave it open or aborted, and a connection in a
// transaction is never handed out again (the pool closes it, which rolls
// back, if the ROLLBACK does not get through).
func (tx *pgTx) release(ctx context.Context) {
	if tx.conn == nil {
		return
	}
	if tx.conn.Conn().PgConn().TxStatus() != 'I' {
		_, _ = tx.conn.Exec(ctx, `ROLLBACK`)
	}
	tx.conn.Release()
	tx.conn = nil
}

// settleBatch is decide's answer r as statements for tx.commit, and how to
// read whether the step was fresh.
func settleBatch(userID string, now time.Time, r Redemption, fresh *bool) (*pgx.Batch, func(pgx.BatchResults) error) {
	b := &pgx.Batch{}
	if r.MethodID == "" && !r.Fail {
		return b, nil
	}
	b.Queue(pgSettleSQL, r.Step, now, nullString(r.MethodID), userID, r.Fail, string(FailCode))
	return b, func(br pgx.BatchResults) error {
		var used int64
		if err := br.QueryRow().Scan(&used); err != nil {
			return fmt.Errorf("store: use totp step of method %s or record code failure of user %q: %w", r.MethodID, userID, err)
		}
		*fresh = used == 1
		return nil
	}
}

func (s *postgresStore) Verify(ctx context.Context, userID string, now time.Time, q AccountQuery, decide func(Account) Redemption) (a Account, fresh bool, err error) {
	if err := checkUserID(userID); err != nil {
		return a, false, err
	}
	tx, err := s.beginTx(ctx)
	if err != nil {
		return a, false, fmt.Errorf("store: verify code of user %q: %w", userID, err)
	}
	defer tx.release(ctx)
	b := &pgx.Batch{}
	b.Queue(pgUserLock, userID)
	b.Queue(accountSQL, userID, q.PasswordSince, q.CodeSince, q.CodeDaySince)
	err = tx.first(ctx, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("store: lock user %q: %w", userID, err)
		}
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("store: account of user %q: %w", userID, err)
		}
		a, err = s.scanAccount(rows, userID)
		return err
	})
	if err != nil {
		return a, false, err
	}
	wb, read := settleBatch(userID, now, decide(a), &fresh)
	if err := tx.commit(ctx, wb, read); err != nil {
		return a, false, fmt.Errorf("store: verify code of user %q: %w", userID, err)
	}
	return a, fresh, nil
}

func (s *postgresStore) ReserveAttempt(ctx context.Context, userID string, kind FailureKind, now, since time.Time, limit int) (Reservation, error) {
	if err := checkUserID(userID); err != nil {
		return Paused, err
	}
	if err := checkFailureKind(kind); err != nil {
		return Paused, err
	}
	b := &pgx.Batch{}
	b.Queue(pgUserLock, userID)
	b.Queue(pgReserveSQL, userID, string(kind), now, since, now.Add(-StaleAttempt), int64(limit))
	var total, settled int64
	err := batch(ctx, s.pool, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.QueryRow().Scan(&total, &settled)
	})
	if err != nil {
		return Paused, fmt.Errorf("store: reserve %s attempt of user %q: %w", kind, userID, err)
	}
	return reservation(total, settled, limit), nil
}

func (s *postgresStore) Login(ctx context.Context, userID string, now time.Time, q AccountQuery, limit int) (a Account, r Reservation, err error) {
	if err := checkUserID(userID); err != nil {
		return a, Paused, err
	}
	b := &pgx.Batch{}
	b.Queue(pgUserLock, userID)
	b.Queue(accountSQL, userID, q.PasswordSince, q.CodeSince, q.CodeDaySince)
	b.Queue(pgReserveSQL, userID, string(FailPassword), now, q.PasswordSince, now.Add(-StaleAttempt), int64(limit))
	var total, settled int64
	var accountErr error // the account was read but not decrypted
	err = batch(ctx, s.pool, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		a, accountErr = s.scanAccount(rows, userID)
		return br.QueryRow().Scan(&total, &settled)
	})
	if err == nil && accountErr != nil {
		// The reservation is committed with the batch: take it back, so
		// that an account this node cannot read (a wrong key) does not
		// leave attempts that turn into failures once stale. Should this
		// fail too, the attempt still counts: the safe side.
		if reservation(total, settled, limit) == Reserved {
			if ferr := s.forgive(ctx, userID, FailPassword, now, 1); ferr != nil {
				s.log.Warn("forgive the attempt of a login that failed", "user", userID, "err", ferr)
			}
		}
		err = accountErr
	}
	if err != nil {
		return Account{}, Paused, fmt.Errorf("store: login of user %q: %w", userID, err)
	}
	return a, reservation(total, settled, limit), nil
}

func (s *postgresStore) ForgiveAttempt(ctx context.Context, userID string, kind FailureKind, at time.Time) error {
	if err := s.forgive(ctx, userID, kind, at, 1); err != nil {
		return fmt.Errorf("store: forgive %s attempt of user %q: %w", kind, userID, err)
	}
	return nil
}

// forgive removes n pending attempts, committing without waiting for the
// WAL flush (see the top of this file).
func (s *postgresStore) forgive(ctx context.Context, userID string, kind FailureKind, at time.Time, n int) error {
	b := &pgx.Batch{}
	b.Queue(pgAsyncCommit)
	b.Queue(pgForgiveSQL, userID, string(kind), at, int64(n))
	return batch(ctx, s.pool, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		_, err := br.Exec()
		return err
	})
}

func (s *postgresStore) SettleFailure(ctx context.Context, userID string, kind FailureKind, at, since time.Time) (int, error) {
	// The user's lock orders settlements: each count, a statement after
	// the update, sees the ones before.
	b := &pgx.Batch{}
	b.Queue(pgUserLock, userID)
	b.Queue(`UPDATE failures SET pending = false WHERE id IN
		(SELECT id FROM failures WHERE user_id = $1 AND kind = $2 AND at = $3 AND pending LIMIT 1)`, userID, string(kind), at)
	b.Queue(`SELECT count(*) FROM failures WHERE user_id = $1 AND kind = $2 AND at >= $3 AND NOT pending`,
		userID, string(kind), since)
	var n int
	err := batch(ctx, s.pool, b, func(br pgx.BatchResults) error {
		for range 2 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return br.QueryRow().Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("store: settle %s failure of user %q: %w", kind, userID, err)
	}
	return n, nil
}

func (s *postgresStore) IssueChallenge(ctx context.Context, c Challenge, forgiveAt time.Time, forgive int) error {
	if err := checkChallenge(&c); err != nil {
		return err
	}
	ct, keyID := s.kr.sealChallenge(&c)
	// One implicit transaction: a challenge that cannot be stored (a
	// state in use) forgives nothing. Committed without waiting for the
	// WAL flush (see the top of this file).
	b := &pgx.Batch{}
	b.Queue(pgAsyncCommit)
	b.Queue(`INSERT INTO challenges (state, user_id, client, method_id, kind, secret_ct, key_id, options,
			attempts, groups, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.State, c.UserID, c.Client, c.MethodID, c.Kind, ct, keyID, nonNil(c.Options),
		c.Attempts, nonNil(c.Groups), c.ExpiresAt, orNow(c.CreatedAt))
	if forgive > 0 {
		b.Queue(pgForgiveSQL, c.UserID, string(FailPassword), forgiveAt, int64(forgive))
	}
	err := batch(ctx, s.pool, b, func(br pgx.BatchResults) error {
		for range b.Len() {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return nil
	})
	if code, _ := pgCode(err); code == pgUniqueViolation {
		return fmt.Errorf("challenge for user %q: state already exists: %w", c.UserID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create challenge for user %q: %w", c.UserID, err)
	}
	return nil
}

func (s *postgresStore) TakeChallenge(ctx context.Context, state string, now time.Time) (Challenge, error) {
	if checkText("", state) != nil {
		return Challenge{}, fmt.Errorf("challenge: %w", ErrNotFound)
	}
	return s.scanTaken(s.pool.QueryRow(ctx, pgTakeSQL, state), state, now)
}

// scanTaken reads the challenge pgTakeSQL deleted. The row is deleted
// whatever the error: an expired challenge gives ErrNotFound, one whose
// secret does not decrypt ErrDecrypt.
func (s *postgresStore) scanTaken(row pgx.Row, state string, now time.Time) (Challenge, error) {
	c := Challenge{State: state}
	var ct []byte
	var keyID string
	err := row.Scan(&c.UserID, &c.Client, &c.MethodID, &c.Kind, &ct, &keyID, &c.Options, &c.Attempts, &c.Groups, &c.ExpiresAt, &c.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Challenge{}, fmt.Errorf("challenge: %w", ErrNotFound)
	}
	if err != nil {
		return Challenge{}, fmt.Errorf("store: take challenge: %w", err)
	}
	c.ExpiresAt, c.CreatedAt = c.ExpiresAt.UTC(), c.CreatedAt.UTC()
	if !now.Before(c.ExpiresAt) {
		return Challenge{}, fmt.Errorf("challenge for user %q expired at %s: %w", c.UserID, c.ExpiresAt.Format(time.RFC3339), ErrNotFound)
	}
	if len(c.Groups) == 0 {
		c.Groups = nil
	}
	if len(c.Options) == 0 {
		c.Options = nil
	}
	if err := s.kr.openChallenge(&c, keyID, ct); err != nil {
		return Challenge{}, err
	}
	return c, nil
}

func (s *postgresStore) Redeem(ctx context.Context, state string, now time.Time, q AccountQuery, decide func(Challenge, Account) Redemption) (c Challenge, a Account, fresh bool, err error) {
	if checkText("", state) != nil {
		return c, a, false, fmt.Errorf("challenge: %w", ErrNotFound)
	}
	tx, err := s.beginTx(ctx)
	if err != nil {
		return c, a, false, fmt.Errorf("store: redeem challenge: %w", err)
	}
	defer tx.release(ctx)
	b := &pgx.Batch{}
	b.Queue(pgLockStateUser, state)
	b.Queue(pgAccountOfStateSQL, state, q.PasswordSince, q.CodeSince, q.CodeDaySince)
	b.Queue(pgTakeSQL, state)
	var locked string    // the user whose lock is held, "" for none
	var accountErr error // the account was read but not decrypted
	var spent error      // why a challenge that was deleted cannot be redeemed
	var takeErr, readErr error
	readErr = tx.first(ctx, b, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("store: lock user of challenge: %w", err)
		}
		for rows.Next() {
			if err := rows.Scan(&locked, nil); err != nil {
				rows.Close()
				return fmt.Errorf("store: lock user of challenge: %w", err)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: lock user of challenge: %w", err)
		}
		if rows, err = br.Query(); err != nil {
			return fmt.Errorf("store: account of challenge's user: %w", err)
		}
		a, accountErr = s.scanAccount(rows, locked)
		c, takeErr = s.scanTaken(br.QueryRow(), state, now)
		return nil
	})
	if readErr != nil {
		return Challenge{}, Account{}, false, readErr
	}
	switch {
	case errors.Is(takeErr, ErrNotFound) || errors.Is(takeErr, ErrDecrypt):
		// Commit the delete of an expired or undecryptable challenge
		// all the same: a state is used once.
		spent = takeErr
	case takeErr != nil:
		return Challenge{}, Account{}, false, takeErr
	case c.UserID != locked:
		// The challenge was stored after the lock's statement looked for
		// it: lock its user now and read the account again, so that the
		// decision is serialised all the same. (A state is random, or
		// bound to its user, so this does not happen in practice.)
		a, accountErr = s.lockAndReadAccount(ctx, tx, c.UserID, q)
	}
	if spent != nil {
		if err := tx.commit(ctx, &pgx.Batch{}, nil); err != nil {
			return Challenge{}, Account{}, false, fmt.Errorf("store: take challenge: %w", err)
		}
		return Challenge{}, Account{}, false, spent
	}
	if accountErr != nil {
		return Challenge{}, Account{}, false, accountErr
	}
	wb, read := settleBatch(c.UserID, now, decide(c, a), &fresh)
	if err := tx.commit(ctx, wb, read); err != nil {
		return Challenge{}, Account{}, false, fmt.Errorf("store: redeem challenge of user %q: %w", c.UserID, err)
	}
	return c, a, fresh, nil
}

// lockAndReadAccount takes userID's lock in tx and then reads the
// account, two round trips: Redeem's rare path.
func (s *postgresStore) lockAndReadAccount(ctx context.Context, tx *pgTx, userID string, q AccountQuery) (Account, error) {
	if _, err := tx.conn.Exec(ctx, pgUserLock, userID); err != nil {
		return Account{}, fmt.Errorf("store: lock user %q: %w", userID, err)
	}
	return s.account(ctx, tx.conn, userID, q)
}
