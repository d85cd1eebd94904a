package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const sqliteSessionColumns = `user_id, created_at, last_seen, idle_expires, expires_at, verified_at, lang, pending_ct, key_id`

func (s *sqliteStore) CreateSession(ctx context.Context, ss Session) error {
	if err := checkSession(&ss); err != nil {
		return err
	}
	h := tokenHash(ss.Token)
	ct, keyID := s.kr.sealSession(h, ss.Pending)
	_, err := s.w.ExecContext(ctx, `INSERT INTO portal_sessions (token_hash, `+sqliteSessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		h, ss.UserID, orNow(ss.CreatedAt).UnixMicro(), orNow(ss.LastSeen).UnixMicro(), ss.IdleExpires.UnixMicro(),
		ss.Expires.UnixMicro(), microsOrZero(ss.Verified), ss.Lang, ct, keyID)
	if sqliteConstraint(err) != 0 {
		return fmt.Errorf("session of user %q: %w", ss.UserID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create session of user %q: %w", ss.UserID, err)
	}
	return nil
}

func (s *sqliteStore) GetSession(ctx context.Context, token string, now time.Time) (Session, error) {
	ss := Session{Token: token}
	h := tokenHash(token)
	var created, seen, idle, expires, verified int64
	var ct []byte
	var keyID string
	err := s.r.QueryRowContext(ctx, `SELECT `+sqliteSessionColumns+` FROM portal_sessions
		WHERE token_hash = $1 AND idle_expires > $2 AND expires_at > $2`, h, now.UnixMicro()).
		Scan(&ss.UserID, &created, &seen, &idle, &expires, &verified, &ss.Lang, &ct, &keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: get session: %w", err)
	}
	ss.CreatedAt, ss.LastSeen, ss.IdleExpires, ss.Expires = fromMicros(created), fromMicros(seen), fromMicros(idle), fromMicros(expires)
	if verified != 0 {
		ss.Verified = fromMicros(verified)
	}
	if ss.Pending, err = s.kr.openSession(ss.UserID, h, keyID, ct); err != nil {
		return Session{}, err
	}
	return ss, nil
}

func (s *sqliteStore) UpdateSession(ctx context.Context, ss Session) error {
	if err := checkSession(&ss); err != nil {
		return err
	}
	h := tokenHash(ss.Token)
	ct, keyID := s.kr.sealSession(h, ss.Pending)
	res, err := s.w.ExecContext(ctx, `UPDATE portal_sessions SET last_seen = $2, idle_expires = $3, verified_at = $4,
		lang = $5, pending_ct = $6, key_id = $7 WHERE token_hash = $1`,
		h, orNow(ss.LastSeen).UnixMicro(), ss.IdleExpires.UnixMicro(), microsOrZero(ss.Verified), ss.Lang, ct, keyID)
	if err != nil {
		return fmt.Errorf("store: update session of user %q: %w", ss.UserID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: update session of user %q: %w", ss.UserID, err)
	} else if n == 0 {
		return fmt.Errorf("session of user %q: %w", ss.UserID, ErrNotFound)
	}
	return nil
}

func (s *sqliteStore) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM portal_sessions WHERE token_hash = $1`, tokenHash(token)); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

func (s *sqliteStore) DeleteUserSessions(ctx context.Context, userID string) error {
	if checkUserID(userID) != nil {
		return nil
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM portal_sessions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("store: delete sessions of user %q: %w", userID, err)
	}
	return nil
}

func (s *sqliteStore) PurgeSessions(ctx context.Context, now time.Time) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM portal_sessions WHERE idle_expires <= $1 OR expires_at <= $1`, now.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: purge sessions: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.log.Debug("store purged", "what", "expired portal sessions", "rows", n)
	}
	return nil
}

func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
