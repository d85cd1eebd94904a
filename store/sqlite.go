package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite connections. All writes of a process go through one connection,
// so writers of this process queue in Go instead of spinning on
// SQLITE_BUSY; reads use a pool of query-only connections, which WAL lets
// run beside the writer. Transactions begin IMMEDIATE, taking the write
// lock up front: another process (a second node on the same file, the
// CLI) then waits on busy_timeout instead of failing on a lock upgrade.
// synchronous=NORMAL is durable against a crash of the process; a power
// loss may lose the last transactions, never corrupt the file.
const (
	sqliteWriterParams = "_busy_timeout=5000&_foreign_keys=1&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate"
	sqliteReaderParams = "_busy_timeout=5000&_foreign_keys=1&_query_only=1"
	// sqlitePurgeBatch bounds how long Purge holds the write lock at once.
	sqlitePurgeBatch = 1000
	rekeyBatch       = 100
)

type sqliteStore struct {
	path string
	w, r *sql.DB // writer (one connection), readers
	kr   *keyring
	log  *slog.Logger
	st   sqliteStmts
	// commits runs the writer's transactions (group commit).
	commits *committer
}

// sqliteStmts are prepared once per connection; w: on the writer, r: on
// the readers.
type sqliteStmts struct {
	getUser, methods, account, methodExists, countFailures, events, staleKeys *sql.Stmt // r
	accountW                                                                  *sql.Stmt // w: the account read inside Redeem's transaction

	putUser, ensureUser, addMethod, deleteMethod, useStep,
	createChallenge, takeChallenge, reserveSend, recordFailure, clearFailures,
	reserveAttempt, pausedAttempt, forgiveAttempt, settleAttempt, settledFailures,
	resetUser, deleteMethods, deleteChallenges, deleteSends, audit,
	purgeChallenges, purgeFailures, purgeSends, rekey *sql.Stmt // w
	failUserApprovals, purgeApprovals *sql.Stmt // w
}

func openSQLite(ctx context.Context, cfg Config, kr *keyring, log *slog.Logger) (_ *sqliteStore, err error) {
	if err := createPrivate(cfg.Path); err != nil {
		return nil, fmt.Errorf("store: create sqlite database %s: %w", cfg.Path, err)
	}
	s := &sqliteStore{path: cfg.Path, kr: kr, log: log}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.w, err = sql.Open("sqlite", cfg.Path+"?"+sqliteWriterParams); err != nil {
		return nil, fmt.Errorf("store: open sqlite database %s: %w", cfg.Path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := pingSQLite(ctx, s.w); err != nil {
		return nil, fmt.Errorf("store: open sqlite database %s: %w", cfg.Path, err)
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("store: migrate sqlite database %s: %w", cfg.Path, err)
	}
	if s.r, err = sql.Open("sqlite", cfg.Path+"?"+sqliteReaderParams); err != nil {
		return nil, fmt.Errorf("store: open sqlite database %s: %w", cfg.Path, err)
	}
	s.r.SetMaxOpenConns(cfg.MaxConns)
	s.r.SetMaxIdleConns(cfg.MaxConns)
	s.r.SetConnMaxIdleTime(10 * time.Minute)
	if err := s.prepare(ctx); err != nil {
		return nil, fmt.Errorf("store: sqlite database %s: %w", cfg.Path, err)
	}
	s.commits = newCommitter(s.w)
	log.Info("store open", "path", cfg.Path)
	return s, nil
}

// pingSQLite opens the writer's connection. Turning a new file to WAL
// needs an exclusive lock, and SQLite answers SQLITE_BUSY at once, without
// waiting on busy_timeout, when another process opening the same file at
// that moment holds a shared one; so a busy open is retried for a while.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	var err error
	for attempt := 1; attempt <= 50; attempt++ {
		if err = db.PingContext(ctx); err == nil || sqliteCode(err) != sqlite3.SQLITE_BUSY {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
	return err
}

// sqliteCode is the primary result code of an SQLite error, 0 for others.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

// createPrivate creates the database file readable by its owner only, so
// that SQLite, which gives the -wal and -shm files the mode of the
// database, does not create any of them world-readable.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

func (s *sqliteStore) migrate(ctx context.Context) error {
	all, err := loadMigrations(migrationFS, "sqlite")
	if err != nil {
		return err
	}
	// BEGIN IMMEDIATE: a second process opening the file at the same time
	// waits here, then finds the migrations applied.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	var applied []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		applied = append(applied, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	todo, err := pending(all, applied)
	if err != nil {
		return err
	}
	for _, m := range todo {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("record migration %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, m := range todo {
		s.log.Info("store migration applied", "migration", m.name)
	}
	return nil
}

func (s *sqliteStore) prepare(ctx context.Context) error {
	for _, p := range []struct {
		st  **sql.Stmt
		db  *sql.DB
		sql string
	}{
		{&s.st.getUser, s.r, `SELECT mfa_applied, default_method, created_at, updated_at, out_of_band_locked, language FROM users WHERE id = $1`},
		{&s.st.methods, s.r, `SELECT id, kind, label, secret_ct, phone_ct, extension_ct, key_id, created_at, last_used, last_step
			FROM methods WHERE user_id = $1 ORDER BY created_at, id`},
		{&s.st.account, s.r, accountSQL},
		{&s.st.accountW, s.w, accountSQL},
		{&s.st.methodExists, s.r, `SELECT count(*) FROM methods WHERE id = $1`},
		{&s.st.countFailures, s.r, `SELECT count(*) FROM failures WHERE user_id = $1 AND kind = $2 AND at >= $3`},
		{&s.st.events, s.r, `SELECT id, at, actor, action, detail FROM audit_events
			WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2`},
		{&s.st.staleKeys, s.r, `SELECT id, user_id, secret_ct, phone_ct, extension_ct, key_id FROM methods
			WHERE key_id <> $1 ORDER BY id LIMIT $2`},

		// The default method must be one of the user's: the insert selects
		// no row otherwise, and the foreign key catches a method deleted
		// in between.
		{&s.st.putUser, s.w, `INSERT INTO users (id, mfa_applied, default_method, created_at, updated_at)
			SELECT $1, $2, $3, $4, $5
			WHERE $3 IS NULL OR EXISTS (SELECT 1 FROM methods WHERE id = $3 AND user_id = $1)
			ON CONFLICT (id) DO UPDATE SET
				mfa_applied = excluded.mfa_applied,
				default_method = excluded.default_method,
				updated_at = excluded.updated_at`},
		{&s.st.ensureUser, s.w, `INSERT INTO users (id, mfa_applied, default_method, created_at, updated_at)
			VALUES ($1, 0, NULL, $2, $2) ON CONFLICT (id) DO NOTHING`},
		{&s.st.addMethod, s.w, `INSERT INTO methods (id, user_id, kind, label, secret_ct, phone_ct, extension_ct, key_id, created_at, last_used, last_step)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`},
		{&s.st.deleteMethod, s.w, `DELETE FROM methods WHERE id = $1 AND user_id = $2`},
		{&s.st.useStep, s.w, `UPDATE methods SET last_step = $1, last_used = $2 WHERE id = $3 AND last_step < $1`},
		{&s.st.createChallenge, s.w, `INSERT INTO challenges (state, user_id, client, method_id, kind, secret_ct, key_id, options,
				attempts, groups, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`},
		{&s.st.takeChallenge, s.w, `DELETE FROM challenges WHERE state = $1
			RETURNING user_id, client, method_id, kind, secret_ct, key_id, options, attempts, groups, expires_at, created_at`},
		// One statement, so one write transaction: SQLite takes the
		// write lock when the statement starts, before it counts, and
		// holds it until the row is in. No other connection, in this
		// process or another, can count or insert in between.
		{&s.st.reserveSend, s.w, `INSERT INTO sends (user_id, method_id, at)
			SELECT $1, $2, $3
			WHERE NOT EXISTS (SELECT 1 FROM sends WHERE user_id = $1 AND method_id = $2 AND at > $4)
			AND (SELECT count(*) FROM sends WHERE user_id = $1 AND at > $5) < $6`},
		{&s.st.recordFailure, s.w, `INSERT INTO failures (user_id, kind, at) VALUES ($1, $2, $3)`},
		// One statement on the single writer: check and record are atomic.
		// Pending attempts count towards the limit, so parallel
		// attempts cannot outrun it.
		{&s.st.reserveAttempt, s.w, `INSERT INTO failures (user_id, kind, at, pending) SELECT $1, $2, $3, 1
			WHERE (SELECT count(*) FROM failures WHERE user_id = $1 AND kind = $2 AND at >= $4) < $5`},
		// Whether a refused reservation is a pause: failures, and
		// attempts pending since before $5 (stale), reach the limit.
		{&s.st.pausedAttempt, s.w, `SELECT count(*) >= $4 FROM failures
			WHERE user_id = $1 AND kind = $2 AND at >= $3 AND (pending = 0 OR at < $5)`},
		{&s.st.forgiveAttempt, s.w, `DELETE FROM failures WHERE rowid IN
			(SELECT rowid FROM failures WHERE user_id = $1 AND kind = $2 AND at = $3 AND pending = 1 LIMIT 1)`},
		{&s.st.settleAttempt, s.w, `UPDATE failures SET pending = 0 WHERE rowid IN
			(SELECT rowid FROM failures WHERE user_id = $1 AND kind = $2 AND at = $3 AND pending = 1 LIMIT 1)`},
		{&s.st.settledFailures, s.w, `SELECT count(*) FROM failures WHERE user_id = $1 AND kind = $2 AND at >= $3 AND pending = 0`},
		{&s.st.clearFailures, s.w, `DELETE FROM failures WHERE user_id = $1`},
		{&s.st.resetUser, s.w, `UPDATE users SET default_method = NULL, out_of_band_locked = 0, updated_at = $2 WHERE id = $1`},
		// A held request of a reset user can no longer be approved.
		{&s.st.failUserApprovals, s.w, `UPDATE approvals SET status = 'failed', decided_at = $2
			WHERE user_id = $1 AND status = 'pending'`},
		{&s.st.purgeApprovals, s.w, `DELETE FROM approvals WHERE id IN
			(SELECT id FROM approvals WHERE expires_at < $1 LIMIT $2)`},
		{&s.st.deleteMethods, s.w, `DELETE FROM methods WHERE user_id = $1`},
		{&s.st.deleteChallenges, s.w, `DELETE FROM challenges WHERE user_id = $1`},
		{&s.st.deleteSends, s.w, `DELETE FROM sends WHERE user_id = $1`},
		{&s.st.audit, s.w, `INSERT INTO audit_events (at, user_id, actor, action, detail) VALUES ($1, $2, $3, $4, $5)`},
		{&s.st.purgeChallenges, s.w, `DELETE FROM challenges WHERE state IN
			(SELECT state FROM challenges WHERE expires_at <= $1 LIMIT $2)`},
		{&s.st.purgeFailures, s.w, `DELETE FROM failures WHERE rowid IN
			(SELECT rowid FROM failures WHERE at < $1 LIMIT $2)`},
		{&s.st.purgeSends, s.w, `DELETE FROM sends WHERE rowid IN
			(SELECT rowid FROM sends WHERE at < $1 LIMIT $2)`},
		{&s.st.rekey, s.w, `UPDATE methods SET secret_ct = $1, phone_ct = $2, extension_ct = $3, key_id = $4
			WHERE id = $5 AND key_id = $6`},
	} {
		st, err := p.db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.st = st
	}
	return nil
}

// sqliteConstraint returns the extended result code of a constraint
// violation, 0 for any other error.
func sqliteConstraint(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		return se.Code()
	}
	return 0
}

// inTx runs fn in a write transaction, committed together with the
// transactions of other callers waiting at the same time (group commit,
// sqlite_commit.go). fn must use the context it is given.
func (s *sqliteStore) inTx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	return s.commits.do(ctx, fn)
}

func (s *sqliteStore) GetUser(ctx context.Context, id string) (User, error) {
	if checkUserID(id) != nil {
		return User{}, fmt.Errorf("user %q: %w", truncate(id), ErrNotFound)
	}
	u := User{ID: id}
	var def sql.NullString
	var created, updated, oob int64
	err := s.st.getUser.QueryRowContext(ctx, id).Scan(&u.MFAApplied, &def, &created, &updated, &oob, &u.Language)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: get user %q: %w", id, err)
	}
	u.DefaultMethod = def.String
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	if oob > 0 {
		u.OutOfBandLocked = fromMicros(oob)
	}
	return u, nil
}

func (s *sqliteStore) PutUser(ctx context.Context, u User) error {
	if err := checkUserID(u.ID); err != nil {
		return err
	}
	now := time.Now()
	created, updated := u.CreatedAt, u.UpdatedAt
	if created.IsZero() {
		created = now
	}
	if updated.IsZero() {
		updated = now
	}
	res, err := s.st.putUser.ExecContext(ctx, u.ID, u.MFAApplied, nullString(u.DefaultMethod), created.UnixMicro(), updated.UnixMicro())
	if sqliteConstraint(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
		return fmt.Errorf("user %q: default method %s: %w", u.ID, u.DefaultMethod, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: put user %q: %w", u.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: put user %q: %w", u.ID, err)
	} else if n == 0 {
		return fmt.Errorf("user %q: default method %s: %w", u.ID, u.DefaultMethod, ErrNotFound)
	}
	return nil
}

func (s *sqliteStore) Methods(ctx context.Context, userID string) ([]Method, error) {
	if checkUserID(userID) != nil {
		return nil, nil
	}
	rows, err := s.st.methods.QueryContext(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("store: methods of user %q: %w", userID, err)
	}
	defer rows.Close()
	var ms []Method
	for rows.Next() {
		m := Method{UserID: userID}
		var sm sealedMethod
		var created int64
		var lastUsed sql.NullInt64
		if err := rows.Scan(&m.ID, &m.Kind, &m.Label, &sm.secret, &sm.phone, &sm.extension, &sm.keyID,
			&created, &lastUsed, &m.LastStep); err != nil {
			return nil, fmt.Errorf("store: methods of user %q: %w", userID, err)
		}
		if err := s.kr.openMethod(&m, sm); err != nil {
			return nil, err
		}
		m.CreatedAt = fromMicros(created)
		if lastUsed.Valid {
			m.LastUsed = fromMicros(lastUsed.Int64)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: methods of user %q: %w", userID, err)
	}
	return ms, nil
}

func (s *sqliteStore) Account(ctx context.Context, userID string, q AccountQuery) (Account, error) {
	if checkUserID(userID) != nil {
		return Account{}, nil
	}
	return s.account(ctx, s.st.account, userID, q)
}

// account runs an accountSQL statement (the reader's, or the writer's
// inside a transaction) and decrypts the methods.
func (s *sqliteStore) account(ctx context.Context, st *sql.Stmt, userID string, q AccountQuery) (Account, error) {
	var a Account
	rows, err := st.QueryContext(ctx, userID, q.PasswordSince.UnixMicro(), q.CodeSince.UnixMicro(), q.CodeDaySince.UnixMicro())
	if err != nil {
		return a, fmt.Errorf("store: account of user %q: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind, label, keyID sql.NullString
		var def sql.NullString
		var sm sealedMethod
		var created, lastUsed, lastStep, oob sql.NullInt64
		var lang sql.NullString
		if err := rows.Scan(&a.PasswordFailures, &a.CodeFailures, &a.CodeFailuresDay, &def, &oob, &lang,
			&id, &kind, &label, &sm.secret, &sm.phone, &sm.extension, &keyID, &created, &lastUsed, &lastStep); err != nil {
			return a, fmt.Errorf("store: account of user %q: %w", userID, err)
		}
		a.DefaultMethod = def.String
		a.OutOfBandLocked = oob.Int64 > 0
		a.Language = lang.String
		if !id.Valid {
			continue // the user has no method: the one row carries the counts
		}
		m := Method{UserID: userID, ID: id.String, Kind: MethodKind(kind.String), Label: label.String,
			CreatedAt: fromMicros(created.Int64), LastStep: lastStep.Int64}
		sm.keyID = keyID.String
		if lastUsed.Valid {
			m.LastUsed = fromMicros(lastUsed.Int64)
		}
		if err := s.kr.openMethod(&m, sm); err != nil {
			return a, err
		}
		a.Methods = append(a.Methods, m)
	}
	if err := rows.Err(); err != nil {
		return a, fmt.Errorf("store: account of user %q: %w", userID, err)
	}
	return a, nil
}

func (s *sqliteStore) AddMethod(ctx context.Context, m Method) error {
	if err := checkMethod(&m); err != nil {
		return err
	}
	sm := s.kr.sealMethod(&m)
	created := orNow(m.CreatedAt).UnixMicro()
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.st.ensureUser).ExecContext(ctx, m.UserID, created); err != nil {
			return err
		}
		_, err := tx.StmtContext(ctx, s.st.addMethod).ExecContext(ctx, m.ID, m.UserID, string(m.Kind), m.Label,
			sm.secret, sm.phone, sm.extension, sm.keyID, created, nullMicros(m.LastUsed), m.LastStep)
		return err
	})
	switch sqliteConstraint(err) {
	case 0:
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("method %s: already exists: %w", m.ID, ErrConflict)
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return fmt.Errorf("user %q already has a method of kind %s: %w", m.UserID, m.Kind, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: add method %s for user %q: %w", m.ID, m.UserID, err)
	}
	return nil
}

func (s *sqliteStore) DeleteMethod(ctx context.Context, userID, methodID string) error {
	if checkUserID(userID) != nil || checkMethodID(methodID) != nil {
		return fmt.Errorf("method %s of user %q: %w", truncate(methodID), truncate(userID), ErrNotFound)
	}
	res, err := s.st.deleteMethod.ExecContext(ctx, methodID, userID)
	if err != nil {
		return fmt.Errorf("store: delete method %s of user %q: %w", methodID, userID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: delete method %s of user %q: %w", methodID, userID, err)
	} else if n == 0 {
		return fmt.Errorf("method %s of user %q: %w", methodID, userID, ErrNotFound)
	}
	return nil
}

func (s *sqliteStore) UseTOTPStep(ctx context.Context, methodID string, step int64, now time.Time) (bool, error) {
	if checkMethodID(methodID) != nil {
		return false, fmt.Errorf("method %s: %w", truncate(methodID), ErrNotFound)
	}
	res, err := s.st.useStep.ExecContext(ctx, step, now.UnixMicro(), methodID)
	if err != nil {
		return false, fmt.Errorf("store: use totp step of method %s: %w", methodID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: use totp step of method %s: %w", methodID, err)
	}
	if n == 1 {
		return true, nil
	}
	// Refused: a replay, or no such method. Only this rare path pays for
	// telling them apart.
	var count int
	if err := s.st.methodExists.QueryRowContext(ctx, methodID).Scan(&count); err != nil {
		return false, fmt.Errorf("store: use totp step of method %s: %w", methodID, err)
	}
	if count == 0 {
		return false, fmt.Errorf("method %s: %w", methodID, ErrNotFound)
	}
	return false, nil
}

func (s *sqliteStore) CreateChallenge(ctx context.Context, c Challenge) error {
	return s.IssueChallenge(ctx, c, time.Time{}, 0)
}

func (s *sqliteStore) IssueChallenge(ctx context.Context, c Challenge, forgiveAt time.Time, forgive int) error {
	if err := checkChallenge(&c); err != nil {
		return err
	}
	groups, err := json.Marshal(nonNil(c.Groups))
	if err != nil {
		return fmt.Errorf("store: create challenge for user %q: %w", c.UserID, err)
	}
	options, err := json.Marshal(nonNil(c.Options))
	if err != nil {
		return fmt.Errorf("store: create challenge for user %q: %w", c.UserID, err)
	}
	ct, keyID := s.kr.sealChallenge(&c)
	create := func(st *sql.Stmt) error {
		_, err := st.ExecContext(ctx, c.State, c.UserID, c.Client, c.MethodID, c.Kind, ct, keyID, string(options),
			c.Attempts, string(groups), c.ExpiresAt.UnixMicro(), orNow(c.CreatedAt).UnixMicro())
		return err
	}
	if forgive == 0 {
		err = create(s.st.createChallenge)
	} else {
		err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if err := create(tx.StmtContext(ctx, s.st.createChallenge)); err != nil {
				return err
			}
			for range forgive {
				if _, err := tx.StmtContext(ctx, s.st.forgiveAttempt).ExecContext(ctx, c.UserID, string(FailPassword), forgiveAt.UnixMicro()); err != nil {
					return fmt.Errorf("forgive password attempt: %w", err)
				}
			}
			return nil
		})
	}
	if sqliteConstraint(err) != 0 {
		return fmt.Errorf("challenge for user %q: state already exists: %w", c.UserID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create challenge for user %q: %w", c.UserID, err)
	}
	return nil
}

func (s *sqliteStore) TakeChallenge(ctx context.Context, state string, now time.Time) (Challenge, error) {
	if checkText("", state) != nil {
		return Challenge{}, fmt.Errorf("challenge: %w", ErrNotFound)
	}
	return s.take(ctx, s.st.takeChallenge, state, now)
}

// take runs the takeChallenge statement (alone, or in Redeem's
// transaction). Once it returns, the row is deleted whatever the error:
// an expired challenge gives ErrNotFound, one whose secret does not
// decrypt ErrDecrypt.
func (s *sqliteStore) take(ctx context.Context, st *sql.Stmt, state string, now time.Time) (Challenge, error) {
	c := Challenge{State: state}
	var ct []byte
	var keyID, options, groups string
	var expires, created int64
	err := st.QueryRowContext(ctx, state).Scan(&c.UserID, &c.Client, &c.MethodID, &c.Kind, &ct, &keyID, &options,
		&c.Attempts, &groups, &expires, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Challenge{}, fmt.Errorf("challenge: %w", ErrNotFound)
	}
	if err != nil {
		return Challenge{}, fmt.Errorf("store: take challenge: %w", err)
	}
	c.ExpiresAt, c.CreatedAt = fromMicros(expires), fromMicros(created)
	if !now.Before(c.ExpiresAt) {
		return Challenge{}, fmt.Errorf("challenge for user %q expired at %s: %w", c.UserID, c.ExpiresAt.Format(time.RFC3339), ErrNotFound)
	}
	if err := json.Unmarshal([]byte(groups), &c.Groups); err != nil {
		return Challenge{}, fmt.Errorf("store: take challenge for user %q: groups: %w", c.UserID, err)
	}
	if len(c.Groups) == 0 {
		c.Groups = nil
	}
	if err := json.Unmarshal([]byte(options), &c.Options); err != nil {
		return Challenge{}, fmt.Errorf("store: take challenge for user %q: options: %w", c.UserID, err)
	}
	if len(c.Options) == 0 {
		c.Options = nil
	}
	if err := s.kr.openChallenge(&c, keyID, ct); err != nil {
		return Challenge{}, err
	}
	return c, nil
}

// settle reads the user's account inside tx (the single writer: users are
// serialised), asks decide, and applies its answer.
func (s *sqliteStore) settle(ctx context.Context, tx *sql.Tx, userID string, now time.Time, q AccountQuery, decide func(Account) Redemption) (a Account, fresh bool, err error) {
	if a, err = s.account(ctx, tx.StmtContext(ctx, s.st.accountW), userID, q); err != nil {
		return a, false, err
	}
	r := decide(a)
	if r.MethodID != "" {
		res, err := tx.StmtContext(ctx, s.st.useStep).ExecContext(ctx, r.Step, now.UnixMicro(), r.MethodID)
		if err != nil {
			return a, false, fmt.Errorf("store: use totp step of method %s: %w", r.MethodID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return a, false, err
		}
		fresh = n == 1
	}
	if r.Fail && !fresh {
		if _, err := tx.StmtContext(ctx, s.st.recordFailure).ExecContext(ctx, userID, string(FailCode), now.UnixMicro()); err != nil {
			return a, false, fmt.Errorf("store: record code failure of user %q: %w", userID, err)
		}
	}
	return a, fresh, nil
}

func (s *sqliteStore) Verify(ctx context.Context, userID string, now time.Time, q AccountQuery, decide func(Account) Redemption) (a Account, fresh bool, err error) {
	if err := checkUserID(userID); err != nil {
		return a, false, err
	}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		a, fresh, err = s.settle(ctx, tx, userID, now, q, decide)
		return err
	})
	return a, fresh, err
}

func (s *sqliteStore) Redeem(ctx context.Context, state string, now time.Time, q AccountQuery, decide func(Challenge, Account) Redemption) (c Challenge, a Account, fresh bool, err error) {
	if checkText("", state) != nil {
		return c, a, false, fmt.Errorf("challenge: %w", ErrNotFound)
	}
	// One write transaction on the single writer connection: one commit
	// instead of three, and no reader can see the challenge half redeemed.
	var spent error // why a challenge that was deleted cannot be redeemed
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if c, err = s.take(ctx, tx.StmtContext(ctx, s.st.takeChallenge), state, now); err != nil {
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrDecrypt) {
				// Commit the delete of an expired or undecryptable
				// challenge all the same: a state is used once.
				spent = err
				return nil
			}
			return err
		}
		a, fresh, err = s.settle(ctx, tx, c.UserID, now, q, func(a Account) Redemption { return decide(c, a) })
		return err
	})
	if err == nil && spent != nil {
		err = spent
	}
	if err == nil && c.UserID == "" {
		err = fmt.Errorf("challenge: %w", ErrNotFound)
	}
	return c, a, fresh, err
}

func (s *sqliteStore) ReserveAttempt(ctx context.Context, userID string, kind FailureKind, now, since time.Time, limit int) (Reservation, error) {
	if err := checkUserID(userID); err != nil {
		return Paused, err
	}
	if err := checkFailureKind(kind); err != nil {
		return Paused, err
	}
	var r Reservation
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		r, err = s.reserve(ctx, tx, userID, kind, now, since, limit)
		return err
	})
	if err != nil {
		return Paused, fmt.Errorf("store: reserve %s attempt of user %q: %w", kind, userID, err)
	}
	return r, nil
}

// reserve records a pending attempt unless the limit is reached, and then
// tells a pause from attempts in flight. The write transaction holds
// SQLite's single writer lock: no other connection, in this process or
// another, can reserve or settle in between.
func (s *sqliteStore) reserve(ctx context.Context, tx *sql.Tx, userID string, kind FailureKind, now, since time.Time, limit int) (Reservation, error) {
	res, err := tx.StmtContext(ctx, s.st.reserveAttempt).ExecContext(ctx, userID, string(kind), now.UnixMicro(), since.UnixMicro(), limit)
	if err != nil {
		return Paused, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return Reserved, err
	}
	var paused bool
	if err := tx.StmtContext(ctx, s.st.pausedAttempt).QueryRowContext(ctx, userID, string(kind), since.UnixMicro(), limit,
		now.Add(-StaleAttempt).UnixMicro()).Scan(&paused); err != nil {
		return Paused, err
	}
	if paused {
		return Paused, nil
	}
	return Busy, nil
}

func (s *sqliteStore) Login(ctx context.Context, userID string, now time.Time, q AccountQuery, limit int) (a Account, r Reservation, err error) {
	if err := checkUserID(userID); err != nil {
		return a, Paused, err
	}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if a, err = s.account(ctx, tx.StmtContext(ctx, s.st.accountW), userID, q); err != nil {
			return err
		}
		if r, err = s.reserve(ctx, tx, userID, FailPassword, now, q.PasswordSince, limit); err != nil {
			return fmt.Errorf("store: reserve password attempt of user %q: %w", userID, err)
		}
		return nil
	})
	return a, r, err
}

func (s *sqliteStore) ForgiveAttempt(ctx context.Context, userID string, kind FailureKind, at time.Time) error {
	if _, err := s.st.forgiveAttempt.ExecContext(ctx, userID, string(kind), at.UnixMicro()); err != nil {
		return fmt.Errorf("store: forgive %s attempt of user %q: %w", kind, userID, err)
	}
	return nil
}

func (s *sqliteStore) SettleFailure(ctx context.Context, userID string, kind FailureKind, at, since time.Time) (int, error) {
	var n int
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.st.settleAttempt).ExecContext(ctx, userID, string(kind), at.UnixMicro()); err != nil {
			return err
		}
		return tx.StmtContext(ctx, s.st.settledFailures).QueryRowContext(ctx, userID, string(kind), since.UnixMicro()).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("store: settle %s failure of user %q: %w", kind, userID, err)
	}
	return n, nil
}

func (s *sqliteStore) ReserveSend(ctx context.Context, userID, methodID string, now time.Time, l SendLimits) (bool, error) {
	if err := checkUserID(userID); err != nil {
		return false, err
	}
	if err := checkMethodID(methodID); err != nil {
		return false, err
	}
	res, err := s.st.reserveSend.ExecContext(ctx, userID, methodID, now.UnixMicro(),
		now.Add(-l.PerMethod).UnixMicro(), now.Add(-l.PerUserWindow).UnixMicro(), l.PerUser)
	if err != nil {
		return false, fmt.Errorf("store: reserve send to method %s of user %q: %w", methodID, userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: reserve send to method %s of user %q: %w", methodID, userID, err)
	}
	return n == 1, nil
}

func (s *sqliteStore) RecordFailure(ctx context.Context, userID string, kind FailureKind, at time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkFailureKind(kind); err != nil {
		return err
	}
	if _, err := s.st.recordFailure.ExecContext(ctx, userID, string(kind), orNow(at).UnixMicro()); err != nil {
		return fmt.Errorf("store: record %s failure of user %q: %w", kind, userID, err)
	}
	return nil
}

func (s *sqliteStore) CountFailures(ctx context.Context, userID string, kind FailureKind, since time.Time) (int, error) {
	if checkUserID(userID) != nil || checkFailureKind(kind) != nil {
		return 0, nil
	}
	var n int
	if err := s.st.countFailures.QueryRowContext(ctx, userID, string(kind), since.UnixMicro()).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count %s failures of user %q: %w", kind, userID, err)
	}
	return n, nil
}

func (s *sqliteStore) ClearFailures(ctx context.Context, userID string) error {
	if checkUserID(userID) != nil {
		return nil
	}
	if _, err := s.st.clearFailures.ExecContext(ctx, userID); err != nil {
		return fmt.Errorf("store: clear failures of user %q: %w", userID, err)
	}
	return nil
}

func (s *sqliteStore) Reset(ctx context.Context, userID string) error {
	if checkUserID(userID) != nil {
		return nil
	}
	now := time.Now().UnixMicro()
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.st.resetUser).ExecContext(ctx, userID, now); err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, s.st.failUserApprovals).ExecContext(ctx, userID, now); err != nil {
			return err
		}
		for _, st := range []*sql.Stmt{s.st.deleteMethods, s.st.deleteChallenges, s.st.clearFailures, s.st.deleteSends} {
			if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, userID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: reset user %q: %w", userID, err)
	}
	return nil
}

func (s *sqliteStore) Audit(ctx context.Context, e Event) error {
	if err := checkEvent(&e); err != nil {
		return err
	}
	if _, err := s.st.audit.ExecContext(ctx, orNow(e.At).UnixMicro(), e.UserID, e.Actor, e.Action, e.Detail); err != nil {
		return fmt.Errorf("store: audit %s of user %q: %w", e.Action, e.UserID, err)
	}
	return nil
}

func (s *sqliteStore) Events(ctx context.Context, userID string, limit int) ([]Event, error) {
	if checkUserID(userID) != nil {
		return nil, nil
	}
	if limit <= 0 {
		limit = -1 // no limit
	}
	rows, err := s.st.events.QueryContext(ctx, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: events of user %q: %w", userID, err)
	}
	defer rows.Close()
	var es []Event
	for rows.Next() {
		e := Event{UserID: userID}
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: events of user %q: %w", userID, err)
		}
		e.At = fromMicros(at)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events of user %q: %w", userID, err)
	}
	return es, nil
}

func (s *sqliteStore) Purge(ctx context.Context, now, before time.Time) error {
	for _, p := range []struct {
		what string
		st   *sql.Stmt
		t    time.Time
	}{
		{"expired challenges", s.st.purgeChallenges, now},
		{"old failures", s.st.purgeFailures, before},
		{"old sends", s.st.purgeSends, before},
		{"old approvals", s.st.purgeApprovals, before},
	} {
		var total int64
		for {
			res, err := p.st.ExecContext(ctx, p.t.UnixMicro(), sqlitePurgeBatch)
			if err != nil {
				return fmt.Errorf("store: purge %s: %w", p.what, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: purge %s: %w", p.what, err)
			}
			total += n
			if n < sqlitePurgeBatch {
				break
			}
		}
		if total > 0 {
			s.log.Debug("store purged", "what", p.what, "rows", total)
		}
	}
	return nil
}

func (s *sqliteStore) Rekey(ctx context.Context) (int, error) {
	done := 0
	for {
		type stale struct {
			id, userID string
			sm         sealedMethod
		}
		var batch []stale
		rows, err := s.st.staleKeys.QueryContext(ctx, s.kr.current, rekeyBatch)
		if err != nil {
			return done, fmt.Errorf("store: rekey: %w", err)
		}
		for rows.Next() {
			var x stale
			if err := rows.Scan(&x.id, &x.userID, &x.sm.secret, &x.sm.phone, &x.sm.extension, &x.sm.keyID); err != nil {
				rows.Close()
				return done, fmt.Errorf("store: rekey: %w", err)
			}
			batch = append(batch, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return done, fmt.Errorf("store: rekey: %w", err)
		}
		if len(batch) == 0 {
			return done, nil
		}
		for _, x := range batch {
			sm, err := s.kr.reseal(x.userID, x.id, x.sm)
			if err != nil {
				return done, fmt.Errorf("store: rekey: %w", err)
			}
			// Only if no other node re-encrypted or deleted it meanwhile.
			res, err := s.st.rekey.ExecContext(ctx, sm.secret, sm.phone, sm.extension, sm.keyID, x.id, x.sm.keyID)
			if err != nil {
				return done, fmt.Errorf("store: rekey method %s: %w", x.id, err)
			}
			if n, err := res.RowsAffected(); err == nil {
				done += int(n)
			}
		}
	}
}

func (s *sqliteStore) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping sqlite database %s: %w", s.path, err)
	}
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store: ping sqlite database %s: %w", s.path, err)
	}
	return nil
}

// Close closes the database; the last connection to close checkpoints the
// WAL into the database file.
func (s *sqliteStore) Close() error {
	if s.commits != nil {
		s.commits.close()
	}
	var errs []error
	for _, db := range []*sql.DB{s.r, s.w} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close sqlite database %s: %w", s.path, err)
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
