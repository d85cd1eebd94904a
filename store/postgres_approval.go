package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgApprovalCols = `id, user_id, method_id, kind, hold_key, request_id, client, number, groups, status, node,
	created_at, expires_at, decided_at, choices`

func scanPGApproval(row pgx.Row) (Approval, error) {
	var a Approval
	var status string
	var decided *time.Time
	if err := row.Scan(&a.ID, &a.UserID, &a.MethodID, &a.Kind, &a.Key, &a.RequestID, &a.Client, &a.Number,
		&a.Groups, &status, &a.Node, &a.CreatedAt, &a.ExpiresAt, &decided, &a.Choices); err != nil {
		return Approval{}, err
	}
	a.Status = ApprovalStatus(status)
	a.CreatedAt, a.ExpiresAt = a.CreatedAt.UTC(), a.ExpiresAt.UTC()
	if decided != nil {
		a.DecidedAt = decided.UTC()
	}
	if len(a.Groups) == 0 {
		a.Groups = nil
	}
	if len(a.Choices) == 0 {
		a.Choices = nil
	}
	return a, nil
}

// pgApprovalLock serialises CreateApproval per user across nodes (see
// ReserveSend for why a conditional INSERT alone is not enough).
const pgApprovalLock = `SELECT pg_advisory_xact_lock(hashtext('kakunin/approval'), hashtext($1))`

func (s *postgresStore) CreateApproval(ctx context.Context, a Approval, max int, since time.Time) (bool, error) {
	if err := checkApproval(&a); err != nil {
		return false, err
	}
	if max <= 0 {
		max = math.MaxInt32
	}
	var ok bool
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, pgApprovalLock, a.UserID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO approvals (`+pgApprovalCols+`)
			SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::integer, $9::text[], $10::text,
				$11::text, $12::timestamptz, $13::timestamptz, NULL, $16::integer[]
			WHERE (SELECT count(*) FROM approvals WHERE user_id = $2 AND kind = $4 AND created_at > $14) < $15`,
			a.ID, a.UserID, a.MethodID, a.Kind, a.Key, a.RequestID, a.Client, a.Number, nonNil(a.Groups), string(a.Status),
			a.Node, orNow(a.CreatedAt), a.ExpiresAt, since, int64(max), nonNilInts(a.Choices))
		ok = tag.RowsAffected() == 1
		return err
	})
	if code, _ := pgCode(err); code == "23505" {
		return false, fmt.Errorf("approval for user %q: id already exists: %w", a.UserID, ErrConflict)
	}
	if err != nil {
		return false, fmt.Errorf("store: create approval for user %q: %w", a.UserID, err)
	}
	return ok, nil
}

func (s *postgresStore) GetApproval(ctx context.Context, id string) (Approval, error) {
	if checkMethodID(id) != nil {
		return Approval{}, fmt.Errorf("approval: %w", ErrNotFound)
	}
	a, err := scanPGApproval(s.pool.QueryRow(ctx, `SELECT `+pgApprovalCols+` FROM approvals WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Approval{}, fmt.Errorf("approval: %w", ErrNotFound)
	}
	if err != nil {
		return Approval{}, fmt.Errorf("store: get approval: %w", err)
	}
	return a, nil
}

func (s *postgresStore) FindApproval(ctx context.Context, key, requestID string, now time.Time) (Approval, error) {
	if key == "" || checkText("key", key) != nil {
		return Approval{}, fmt.Errorf("approval: %w", ErrNotFound)
	}
	a, err := scanPGApproval(s.pool.QueryRow(ctx, `SELECT `+pgApprovalCols+` FROM approvals
		WHERE hold_key = $1 AND expires_at > $2 ORDER BY request_id = $3 DESC, created_at DESC LIMIT 1`, key, now, requestID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Approval{}, fmt.Errorf("approval: %w", ErrNotFound)
	}
	if err != nil {
		return Approval{}, fmt.Errorf("store: find approval: %w", err)
	}
	return a, nil
}

func (s *postgresStore) DecideApproval(ctx context.Context, id string, status ApprovalStatus, now time.Time) (Approval, bool, error) {
	if !status.Valid() || status == ApprovalPending {
		return Approval{}, false, fmt.Errorf("store: decide approval: status %q: %w", truncate(string(status)), errInvalid)
	}
	if checkMethodID(id) != nil {
		return Approval{}, false, fmt.Errorf("approval: %w", ErrNotFound)
	}
	// One UPDATE: under READ COMMITTED a second decider waits for the
	// first's row lock, re-checks status = 'pending' and finds it decided.
	a, err := scanPGApproval(s.pool.QueryRow(ctx, `UPDATE approvals SET status = $2, decided_at = $3
		WHERE id = $1 AND status = 'pending' AND expires_at > $3
		RETURNING `+pgApprovalCols, id, string(status), now))
	if err == nil {
		return a, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Approval{}, false, fmt.Errorf("store: decide approval: %w", err)
	}
	a, err = s.GetApproval(ctx, id)
	return a, false, err
}

func (s *postgresStore) DecidedApprovals(ctx context.Context, since time.Time) ([]Approval, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgApprovalCols+` FROM approvals
		WHERE decided_at IS NOT NULL AND decided_at >= $1 ORDER BY decided_at`, since)
	if err != nil {
		return nil, fmt.Errorf("store: decided approvals: %w", err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		a, err := scanPGApproval(rows)
		if err != nil {
			return nil, fmt.Errorf("store: decided approvals: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: decided approvals: %w", err)
	}
	return out, nil
}

func (s *postgresStore) FailApprovals(ctx context.Context, nodeName, boot string, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE approvals SET status = 'failed', decided_at = $3
		WHERE status = 'pending' AND node LIKE $1 AND node <> $2`,
		likePrefix(nodeName+"/"), nodeName+"/"+boot, now)
	if err != nil {
		return 0, fmt.Errorf("store: fail approvals of node %q: %w", nodeName, err)
	}
	return int(tag.RowsAffected()), nil
}

func (s *postgresStore) SetOutOfBandLock(ctx context.Context, userID string, locked bool, now time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	var at *time.Time
	if locked {
		at = &now
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO users (id, mfa_applied, default_method, created_at, updated_at, out_of_band_locked)
		VALUES ($1, false, NULL, $2, $2, $3)
		ON CONFLICT (id) DO UPDATE SET out_of_band_locked = excluded.out_of_band_locked, updated_at = excluded.updated_at`,
		userID, now, at)
	if err != nil {
		return fmt.Errorf("store: out-of-band lock of user %q: %w", userID, err)
	}
	return nil
}

func (s *postgresStore) SetLanguage(ctx context.Context, userID, lang string, now time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkLanguage(lang); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO users (id, mfa_applied, default_method, created_at, updated_at, language)
		VALUES ($1, false, NULL, $2, $2, $3)
		ON CONFLICT (id) DO UPDATE SET language = excluded.language, updated_at = excluded.updated_at`,
		userID, now, lang)
	if err != nil {
		return fmt.Errorf("store: language of user %q: %w", userID, err)
	}
	return nil
}
