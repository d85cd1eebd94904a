package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

const sqliteApprovalCols = `id, user_id, method_id, kind, hold_key, request_id, client, number, groups, status, node,
	created_at, expires_at, decided_at, choices`

func scanSQLiteApproval(row interface{ Scan(...any) error }) (Approval, error) {
	var a Approval
	var groups, status, choices string
	var created, expires, decided int64
	if err := row.Scan(&a.ID, &a.UserID, &a.MethodID, &a.Kind, &a.Key, &a.RequestID, &a.Client, &a.Number,
		&groups, &status, &a.Node, &created, &expires, &decided, &choices); err != nil {
		return Approval{}, err
	}
	a.Status = ApprovalStatus(status)
	a.CreatedAt, a.ExpiresAt = fromMicros(created), fromMicros(expires)
	if decided > 0 {
		a.DecidedAt = fromMicros(decided)
	}
	if err := json.Unmarshal([]byte(groups), &a.Groups); err != nil {
		return Approval{}, fmt.Errorf("groups: %w", err)
	}
	if len(a.Groups) == 0 {
		a.Groups = nil
	}
	if err := json.Unmarshal([]byte(choices), &a.Choices); err != nil {
		return Approval{}, fmt.Errorf("choices: %w", err)
	}
	if len(a.Choices) == 0 {
		a.Choices = nil
	}
	return a, nil
}

func (s *sqliteStore) CreateApproval(ctx context.Context, a Approval, max int, since time.Time) (bool, error) {
	if err := checkApproval(&a); err != nil {
		return false, err
	}
	if max <= 0 {
		max = math.MaxInt32
	}
	groups, err := json.Marshal(nonNil(a.Groups))
	if err != nil {
		return false, fmt.Errorf("store: create approval for user %q: %w", a.UserID, err)
	}
	choices, err := json.Marshal(nonNilInts(a.Choices))
	if err != nil {
		return false, fmt.Errorf("store: create approval for user %q: %w", a.UserID, err)
	}
	// One statement on the single writer: the count and the insert are
	// atomic across connections and processes.
	res, err := s.w.ExecContext(ctx, `INSERT INTO approvals (`+sqliteApprovalCols+`)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $16
		WHERE (SELECT count(*) FROM approvals WHERE user_id = $2 AND kind = $4 AND created_at > $14) < $15`,
		a.ID, a.UserID, a.MethodID, a.Kind, a.Key, a.RequestID, a.Client, a.Number, string(groups), string(a.Status),
		a.Node, orNow(a.CreatedAt).UnixMicro(), a.ExpiresAt.UnixMicro(), since.UnixMicro(), max, string(choices))
	if sqliteConstraint(err) != 0 {
		return false, fmt.Errorf("approval for user %q: id already exists: %w", a.UserID, ErrConflict)
	}
	if err != nil {
		return false, fmt.Errorf("store: create approval for user %q: %w", a.UserID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: create approval for user %q: %w", a.UserID, err)
	}
	return n == 1, nil
}

func (s *sqliteStore) GetApproval(ctx context.Context, id string) (Approval, error) {
	if checkMethodID(id) != nil {
		return Approval{}, fmt.Errorf("approval: %w", ErrNotFound)
	}
	a, err := scanSQLiteApproval(s.r.QueryRowContext(ctx, `SELECT `+sqliteApprovalCols+` FROM approvals WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Approval{}, fmt.Errorf("approval: %w", ErrNotFound)
	}
	if err != nil {
		return Approval{}, fmt.Errorf("store: get approval: %w", err)
	}
	return a, nil
}

func (s *sqliteStore) FindApproval(ctx context.Context, key, requestID string, now time.Time) (Approval, error) {
	if key == "" || checkText("key", key) != nil {
		return Approval{}, fmt.Errorf("approval: %w", ErrNotFound)
	}
	a, err := scanSQLiteApproval(s.r.QueryRowContext(ctx, `SELECT `+sqliteApprovalCols+` FROM approvals
		WHERE hold_key = $1 AND expires_at > $2 ORDER BY request_id = $3 DESC, created_at DESC LIMIT 1`, key, now.UnixMicro(), requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return Approval{}, fmt.Errorf("approval: %w", ErrNotFound)
	}
	if err != nil {
		return Approval{}, fmt.Errorf("store: find approval: %w", err)
	}
	return a, nil
}

func (s *sqliteStore) DecideApproval(ctx context.Context, id string, status ApprovalStatus, now time.Time) (Approval, bool, error) {
	if !status.Valid() || status == ApprovalPending {
		return Approval{}, false, fmt.Errorf("store: decide approval: status %q: %w", truncate(string(status)), errInvalid)
	}
	if checkMethodID(id) != nil {
		return Approval{}, false, fmt.Errorf("approval: %w", ErrNotFound)
	}
	a, err := scanSQLiteApproval(s.w.QueryRowContext(ctx, `UPDATE approvals SET status = $2, decided_at = $3
		WHERE id = $1 AND status = 'pending' AND expires_at > $3
		RETURNING `+sqliteApprovalCols, id, string(status), now.UnixMicro()))
	if err == nil {
		return a, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Approval{}, false, fmt.Errorf("store: decide approval: %w", err)
	}
	a, err = s.GetApproval(ctx, id)
	return a, false, err
}

func (s *sqliteStore) DecidedApprovals(ctx context.Context, since time.Time) ([]Approval, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteApprovalCols+` FROM approvals
		WHERE decided_at > 0 AND decided_at >= $1 ORDER BY decided_at`, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("store: decided approvals: %w", err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		a, err := scanSQLiteApproval(rows)
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

func (s *sqliteStore) FailApprovals(ctx context.Context, nodeName, boot string, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE approvals SET status = 'failed', decided_at = $3
		WHERE status = 'pending' AND node LIKE $1 ESCAPE '\' AND node <> $2`,
		likePrefix(nodeName+"/"), nodeName+"/"+boot, now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("store: fail approvals of node %q: %w", nodeName, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *sqliteStore) SetOutOfBandLock(ctx context.Context, userID string, locked bool, now time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	var at int64
	if locked {
		at = now.UnixMicro()
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.st.ensureUser).ExecContext(ctx, userID, now.UnixMicro()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE users SET out_of_band_locked = $2, updated_at = $3 WHERE id = $1`, userID, at, now.UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: out-of-band lock of user %q: %w", userID, err)
	}
	return nil
}

func (s *sqliteStore) SetLanguage(ctx context.Context, userID, lang string, now time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkLanguage(lang); err != nil {
		return err
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.st.ensureUser).ExecContext(ctx, userID, now.UnixMicro()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE users SET language = $2, updated_at = $3 WHERE id = $1`, userID, lang, now.UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: language of user %q: %w", userID, err)
	}
	return nil
}
