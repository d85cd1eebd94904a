package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgreSQL, for several nodes sharing one database. Statements run in
// autocommit under READ COMMITTED: the single-statement operations (a TOTP
// step, taking a challenge) are atomic across nodes because the row lock
// makes a concurrent statement re-check its WHERE clause against the
// committed row. pgx prepares each statement once per connection and
// caches it. The login path, its round trips and its durability per
// kind of write, is in postgres_login.go.

// Key of the advisory lock that serialises migrations of one schema across
// nodes (the second half is the schema, so test schemas do not contend).
const pgMigrateLock = `SELECT pg_advisory_xact_lock(hashtext('kakunin/migrate'), hashtext(coalesce(current_schema(), '')))`

const pgConnectTimeout = 10 * time.Second

// PostgreSQL error codes (SQLSTATE).
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

type postgresStore struct {
	pool *pgxpool.Pool
	kr   *keyring
	log  *slog.Logger
}

func openPostgres(ctx context.Context, cfg Config, kr *keyring, log *slog.Logger) (*postgresStore, error) {
	pcfg, err := postgresPoolConfig(cfg)
	if err != nil {
		return nil, err
	}
	return openPostgresPool(ctx, pcfg, kr, log)
}

// postgresPoolConfig is the pool's configuration from cfg. Queries keep
// pgx's default mode, QueryExecModeCacheStatement (unless the DSN's
// default_query_exec_mode says otherwise): each statement is prepared once
// per connection, and then a call sends only Bind and Execute.
func postgresPoolConfig(cfg Config) (*pgxpool.Config, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DSN.Value())
	if err != nil {
		// Validate has checked it; never show the DSN.
		return nil, errors.New("store: dsn: not a valid PostgreSQL connection string")
	}
	pcfg.MaxConns = int32(cfg.MaxConns)
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		// A login's context bounds its own connects; this bounds those
		// the pool makes in the background (connect_timeout overrides).
		pcfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	if _, ok := pcfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		pcfg.ConnConfig.RuntimeParams["application_name"] = "kakunin"
	}
	return pcfg, nil
}

func openPostgresPool(ctx context.Context, pcfg *pgxpool.Config, kr *keyring, log *slog.Logger) (_ *postgresStore, err error) {
	where := fmt.Sprintf("postgres %s:%d/%s", pcfg.ConnConfig.Host, pcfg.ConnConfig.Port, pcfg.ConnConfig.Database)
	log = log.With("database", where)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to %s: %w", where, err)
	}
	s := &postgresStore{pool: pool, kr: kr, log: log}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	if err := pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("store: connect to %s: %w", where, err)
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("store: migrate %s: %w", where, err)
	}
	log.Info("store open")
	return s, nil
}

func (s *postgresStore) migrate(ctx context.Context) error {
	all, err := loadMigrations(migrationFS, "postgres")
	if err != nil {
		return err
	}
	var todo []migration
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Nodes starting together queue here; the later ones then find
		// the migrations applied.
		if _, err := tx.Exec(ctx, pgMigrateLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rows, _ := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		versions := make([]int, len(applied))
		for i, v := range applied {
			versions[i] = int(v)
		}
		if todo, err = pending(all, versions); err != nil {
			return err
		}
		for _, m := range todo {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range todo {
		s.log.Info("store migration applied", "migration", m.name)
	}
	return nil
}

func pgCode(err error) (code, constraint string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.ConstraintName
	}
	return "", ""
}

func (s *postgresStore) GetUser(ctx context.Context, id string) (User, error) {
	if checkUserID(id) != nil {
		return User{}, fmt.Errorf("user %q: %w", truncate(id), ErrNotFound)
	}
	u := User{ID: id}
	var def *string
	var oob *time.Time
	err := s.pool.QueryRow(ctx, `SELECT mfa_applied, default_method, created_at, updated_at, out_of_band_locked, language FROM users WHERE id = $1`, id).
		Scan(&u.MFAApplied, &def, &u.CreatedAt, &u.UpdatedAt, &oob, &u.Language)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: get user %q: %w", id, err)
	}
	if def != nil {
		u.DefaultMethod = *def
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	if oob != nil {
		u.OutOfBandLocked = oob.UTC()
	}
	return u, nil
}

func (s *postgresStore) PutUser(ctx context.Context, u User) error {
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
	// The default method must be one of the user's: the insert selects no
	// row otherwise, and the foreign key catches a method deleted in
	// between.
	tag, err := s.pool.Exec(ctx, `INSERT INTO users (id, mfa_applied, default_method, created_at, updated_at)
		SELECT $1::text, $2::boolean, $3::text, $4::timestamptz, $5::timestamptz
		WHERE $3::text IS NULL OR EXISTS (SELECT 1 FROM methods WHERE id = $3::text AND user_id = $1::text)
		ON CONFLICT (id) DO UPDATE SET
			mfa_applied = excluded.mfa_applied,
			default_method = excluded.default_method,
			updated_at = excluded.updated_at`,
		u.ID, u.MFAApplied, nullString(u.DefaultMethod), created, updated)
	if code, _ := pgCode(err); code == pgForeignKeyViolation {
		return fmt.Errorf("user %q: default method %s: %w", u.ID, u.DefaultMethod, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: put user %q: %w", u.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("user %q: default method %s: %w", u.ID, u.DefaultMethod, ErrNotFound)
	}
	return nil
}

func (s *postgresStore) Methods(ctx context.Context, userID string) ([]Method, error) {
	if checkUserID(userID) != nil {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, kind, label, secret_ct, phone_ct, extension_ct, key_id, created_at, last_used, last_step
		FROM methods WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: methods of user %q: %w", userID, err)
	}
	defer rows.Close()
	var ms []Method
	for rows.Next() {
		m := Method{UserID: userID}
		var sm sealedMethod
		var kind string
		var lastUsed *time.Time
		if err := rows.Scan(&m.ID, &kind, &m.Label, &sm.secret, &sm.phone, &sm.extension, &sm.keyID,
			&m.CreatedAt, &lastUsed, &m.LastStep); err != nil {
			return nil, fmt.Errorf("store: methods of user %q: %w", userID, err)
		}
		if err := s.kr.openMethod(&m, sm); err != nil {
			return nil, err
		}
		m.Kind = MethodKind(kind)
		m.CreatedAt = m.CreatedAt.UTC()
		if lastUsed != nil {
			m.LastUsed = lastUsed.UTC()
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: methods of user %q: %w", userID, err)
	}
	return ms, nil
}

func (s *postgresStore) Account(ctx context.Context, userID string, q AccountQuery) (Account, error) {
	if checkUserID(userID) != nil {
		return Account{}, nil
	}
	return s.account(ctx, s.pool, userID, q)
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *postgresStore) account(ctx context.Context, db querier, userID string, q AccountQuery) (Account, error) {
	rows, err := db.Query(ctx, accountSQL, userID, q.PasswordSince, q.CodeSince, q.CodeDaySince)
	if err != nil {
		return Account{}, fmt.Errorf("store: account of user %q: %w", userID, err)
	}
	return s.scanAccount(rows, userID)
}

// scanAccount reads and closes the rows of accountSQL (or a query with
// its columns) for userID, decrypting the methods.
func (s *postgresStore) scanAccount(rows pgx.Rows, userID string) (Account, error) {
	var a Account
	defer rows.Close()
	for rows.Next() {
		var id, kind, label, keyID *string
		var def *string
		var sm sealedMethod
		var created, lastUsed, oob *time.Time
		var lastStep *int64
		var lang *string
		if err := rows.Scan(&a.PasswordFailures, &a.CodeFailures, &a.CodeFailuresDay, &def, &oob, &lang,
			&id, &kind, &label, &sm.secret, &sm.phone, &sm.extension, &keyID, &created, &lastUsed, &lastStep); err != nil {
			return a, fmt.Errorf("store: account of user %q: %w", userID, err)
		}
		if def != nil {
			a.DefaultMethod = *def
		}
		a.OutOfBandLocked = oob != nil
		if lang != nil {
			a.Language = *lang
		}
		if id == nil {
			continue // the user has no method: the one row carries the counts
		}
		m := Method{UserID: userID, ID: *id, Kind: MethodKind(*kind), Label: *label, CreatedAt: created.UTC(), LastStep: *lastStep}
		sm.keyID = *keyID
		if lastUsed != nil {
			m.LastUsed = lastUsed.UTC()
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

func (s *postgresStore) AddMethod(ctx context.Context, m Method) error {
	if err := checkMethod(&m); err != nil {
		return err
	}
	sm := s.kr.sealMethod(&m)
	created := orNow(m.CreatedAt)
	var lastUsed *time.Time
	if !m.LastUsed.IsZero() {
		lastUsed = &m.LastUsed
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, mfa_applied, default_method, created_at, updated_at)
			VALUES ($1, false, NULL, $2, $2) ON CONFLICT (id) DO NOTHING`, m.UserID, created); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO methods (id, user_id, kind, label, secret_ct, phone_ct, extension_ct, key_id, created_at, last_used, last_step)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			m.ID, m.UserID, string(m.Kind), m.Label, sm.secret, sm.phone, sm.extension, sm.keyID, created, lastUsed, m.LastStep)
		return err
	})
	if code, constraint := pgCode(err); code == pgUniqueViolation {
		if constraint == "methods_pkey" {
			return fmt.Errorf("method %s: already exists: %w", m.ID, ErrConflict)
		}
		return fmt.Errorf("user %q already has a method of kind %s: %w", m.UserID, m.Kind, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: add method %s for user %q: %w", m.ID, m.UserID, err)
	}
	return nil
}

func (s *postgresStore) DeleteMethod(ctx context.Context, userID, methodID string) error {
	if checkUserID(userID) != nil || checkMethodID(methodID) != nil {
		return fmt.Errorf("method %s of user %q: %w", truncate(methodID), truncate(userID), ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM methods WHERE id = $1 AND user_id = $2`, methodID, userID)
	if err != nil {
		return fmt.Errorf("store: delete method %s of user %q: %w", methodID, userID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("method %s of user %q: %w", methodID, userID, ErrNotFound)
	}
	return nil
}

func (s *postgresStore) UseTOTPStep(ctx context.Context, methodID string, step int64, now time.Time) (bool, error) {
	if checkMethodID(methodID) != nil {
		return false, fmt.Errorf("method %s: %w", truncate(methodID), ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE methods SET last_step = $1, last_used = $2 WHERE id = $3 AND last_step < $1`,
		step, now, methodID)
	if err != nil {
		return false, fmt.Errorf("store: use totp step of method %s: %w", methodID, err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	// Refused: a replay, or no such method. Only this rare path pays for
	// telling them apart.
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM methods WHERE id = $1)`, methodID).Scan(&exists); err != nil {
		return false, fmt.Errorf("store: use totp step of method %s: %w", methodID, err)
	}
	if !exists {
		return false, fmt.Errorf("method %s: %w", methodID, ErrNotFound)
	}
	return false, nil
}

func (s *postgresStore) CreateChallenge(ctx context.Context, c Challenge) error {
	return s.IssueChallenge(ctx, c, time.Time{}, 0)
}

// pgSendLock serialises ReserveSend per user across nodes: a transaction
// lock, released at commit. Users whose IDs share a hash only wait for
// each other.
const pgSendLock = `SELECT pg_advisory_xact_lock(hashtext('kakunin/send'), hashtext($1))`

func (s *postgresStore) ReserveSend(ctx context.Context, userID, methodID string, now time.Time, l SendLimits) (bool, error) {
	if err := checkUserID(userID); err != nil {
		return false, err
	}
	if err := checkMethodID(methodID); err != nil {
		return false, err
	}
	// A conditional INSERT alone is not enough under READ COMMITTED: two
	// nodes would both count before either inserts. So the user's lock
	// first; the INSERT, a later statement, then counts with a snapshot
	// taken after the previous holder committed. The isolation level is
	// set, not inherited: under REPEATABLE READ the snapshot would date
	// from before the wait.
	var ok bool
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, pgSendLock, userID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO sends (user_id, method_id, at)
			SELECT $1::text, $2::text, $3::timestamptz
			WHERE NOT EXISTS (SELECT 1 FROM sends WHERE user_id = $1 AND method_id = $2 AND at > $4)
			AND (SELECT count(*) FROM sends WHERE user_id = $1 AND at > $5) < $6`,
			userID, methodID, now, now.Add(-l.PerMethod), now.Add(-l.PerUserWindow), int64(l.PerUser))
		ok = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: reserve send to method %s of user %q: %w", methodID, userID, err)
	}
	return ok, nil
}

func (s *postgresStore) RecordFailure(ctx context.Context, userID string, kind FailureKind, at time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkFailureKind(kind); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO failures (user_id, kind, at) VALUES ($1, $2, $3)`,
		userID, string(kind), orNow(at)); err != nil {
		return fmt.Errorf("store: record %s failure of user %q: %w", kind, userID, err)
	}
	return nil
}

func (s *postgresStore) CountFailures(ctx context.Context, userID string, kind FailureKind, since time.Time) (int, error) {
	if checkUserID(userID) != nil || checkFailureKind(kind) != nil {
		return 0, nil
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM failures WHERE user_id = $1 AND kind = $2 AND at >= $3`,
		userID, string(kind), since).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count %s failures of user %q: %w", kind, userID, err)
	}
	return n, nil
}

func (s *postgresStore) ClearFailures(ctx context.Context, userID string) error {
	if checkUserID(userID) != nil {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM failures WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("store: clear failures of user %q: %w", userID, err)
	}
	return nil
}

func (s *postgresStore) Reset(ctx context.Context, userID string) error {
	if checkUserID(userID) != nil {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The user row first, in the order PutUser locks: users, then
		// methods.
		now := time.Now()
		if _, err := tx.Exec(ctx, `UPDATE users SET default_method = NULL, out_of_band_locked = NULL, updated_at = $2 WHERE id = $1`, userID, now); err != nil {
			return err
		}
		// A held request of a reset user can no longer be approved.
		if _, err := tx.Exec(ctx, `UPDATE approvals SET status = 'failed', decided_at = $2
			WHERE user_id = $1 AND status = 'pending'`, userID, now); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM methods WHERE user_id = $1`,
			`DELETE FROM challenges WHERE user_id = $1`,
			`DELETE FROM failures WHERE user_id = $1`,
			`DELETE FROM sends WHERE user_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
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

func (s *postgresStore) Audit(ctx context.Context, e Event) error {
	if err := checkEvent(&e); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_events (at, user_id, actor, action, detail) VALUES ($1, $2, $3, $4, $5)`,
		orNow(e.At), e.UserID, e.Actor, e.Action, e.Detail); err != nil {
		return fmt.Errorf("store: audit %s of user %q: %w", e.Action, e.UserID, err)
	}
	return nil
}

func (s *postgresStore) Events(ctx context.Context, userID string, limit int) ([]Event, error) {
	if checkUserID(userID) != nil {
		return nil, nil
	}
	var lim *int64 // NULL: no limit
	if limit > 0 {
		l := int64(limit)
		lim = &l
	}
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor, action, detail FROM audit_events
		WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, userID, lim)
	if err != nil {
		return nil, fmt.Errorf("store: events of user %q: %w", userID, err)
	}
	defer rows.Close()
	var es []Event
	for rows.Next() {
		e := Event{UserID: userID}
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: events of user %q: %w", userID, err)
		}
		e.At = e.At.UTC()
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events of user %q: %w", userID, err)
	}
	return es, nil
}

func (s *postgresStore) Purge(ctx context.Context, now, before time.Time) error {
	for _, p := range []struct {
		what, sql string
		t         time.Time
	}{
		{"expired challenges", `DELETE FROM challenges WHERE expires_at <= $1`, now},
		{"old failures", `DELETE FROM failures WHERE at < $1`, before},
		{"old sends", `DELETE FROM sends WHERE at < $1`, before},
		{"old approvals", `DELETE FROM approvals WHERE expires_at < $1`, before},
	} {
		tag, err := s.pool.Exec(ctx, p.sql, p.t)
		if err != nil {
			return fmt.Errorf("store: purge %s: %w", p.what, err)
		}
		if n := tag.RowsAffected(); n > 0 {
			s.log.Debug("store purged", "what", p.what, "rows", n)
		}
	}
	return nil
}

func (s *postgresStore) Rekey(ctx context.Context) (int, error) {
	done := 0
	for {
		type stale struct {
			id, userID string
			sm         sealedMethod
		}
		rows, _ := s.pool.Query(ctx, `SELECT id, user_id, secret_ct, phone_ct, extension_ct, key_id FROM methods
			WHERE key_id <> $1 ORDER BY id LIMIT $2`, s.kr.current, rekeyBatch)
		batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (stale, error) {
			var x stale
			err := row.Scan(&x.id, &x.userID, &x.sm.secret, &x.sm.phone, &x.sm.extension, &x.sm.keyID)
			return x, err
		})
		if err != nil {
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
			tag, err := s.pool.Exec(ctx, `UPDATE methods SET secret_ct = $1, phone_ct = $2, extension_ct = $3, key_id = $4
				WHERE id = $5 AND key_id = $6`, sm.secret, sm.phone, sm.extension, sm.keyID, x.id, x.sm.keyID)
			if err != nil {
				return done, fmt.Errorf("store: rekey method %s: %w", x.id, err)
			}
			done += int(tag.RowsAffected())
		}
	}
}

func (s *postgresStore) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping postgres: %w", err)
	}
	return nil
}

func (s *postgresStore) Close() error {
	s.pool.Close()
	return nil
}
