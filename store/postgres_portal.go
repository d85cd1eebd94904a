package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgSessionColumns = `user_id, created_at, last_seen, idle_expires, expires_at, verified_at, lang, pending_ct, key_id`

func (s *postgresStore) CreateSession(ctx context.Context, ss Session) error {
	if err := checkSession(&ss); err != nil {
		return err
	}
	h := tokenHash(ss.Token)
	ct, keyID := s.kr.sealSession(h, ss.Pending)
	_, err := s.pool.Exec(ctx, `INSERT INTO portal_sessions (token_hash, `+pgSessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		h, ss.UserID, orNow(ss.CreatedAt), orNow(ss.LastSeen), ss.IdleExpires, ss.Expires, timeOrNull(ss.Verified), ss.Lang, ct, keyID)
	if code, _ := pgCode(err); code == pgUniqueViolation {
		return fmt.Errorf("session of user %q: %w", ss.UserID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create session of user %q: %w", ss.UserID, err)
	}
	return nil
}

func (s *postgresStore) GetSession(ctx context.Context, token string, now time.Time) (Session, error) {
	ss := Session{Token: token}
	h := tokenHash(token)
	var verified *time.Time
	var ct []byte
	var keyID string
	err := s.pool.QueryRow(ctx, `SELECT `+pgSessionColumns+` FROM portal_sessions
		WHERE token_hash = $1 AND idle_expires > $2 AND expires_at > $2`, h, now).
		Scan(&ss.UserID, &ss.CreatedAt, &ss.LastSeen, &ss.IdleExpires, &ss.Expires, &verified, &ss.Lang, &ct, &keyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: get session: %w", err)
	}
	ss.CreatedAt, ss.LastSeen, ss.IdleExpires, ss.Expires = ss.CreatedAt.UTC(), ss.LastSeen.UTC(), ss.IdleExpires.UTC(), ss.Expires.UTC()
	if verified != nil {
		ss.Verified = verified.UTC()
	}
	if ss.Pending, err = s.kr.openSession(ss.UserID, h, keyID, ct); err != nil {
		return Session{}, err
	}
	return ss, nil
}

func (s *postgresStore) UpdateSession(ctx context.Context, ss Session) error {
	if err := checkSession(&ss); err != nil {
		return err
	}
	h := tokenHash(ss.Token)
	ct, keyID := s.kr.sealSession(h, ss.Pending)
	tag, err := s.pool.Exec(ctx, `UPDATE portal_sessions SET last_seen = $2, idle_expires = $3, verified_at = $4,
		lang = $5, pending_ct = $6, key_id = $7 WHERE token_hash = $1`,
		h, orNow(ss.LastSeen), ss.IdleExpires, timeOrNull(ss.Verified), ss.Lang, ct, keyID)
	if err != nil {
		return fmt.Errorf("store: update session of user %q: %w", ss.UserID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("session of user %q: %w", ss.UserID, ErrNotFound)
	}
	return nil
}

func (s *postgresStore) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM portal_sessions WHERE token_hash = $1`, tokenHash(token)); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

func (s *postgresStore) DeleteUserSessions(ctx context.Context, userID string) error {
	if checkUserID(userID) != nil {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM portal_sessions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("store: delete sessions of user %q: %w", userID, err)
	}
	return nil
}

func (s *postgresStore) PurgeSessions(ctx context.Context, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM portal_sessions WHERE idle_expires <= $1 OR expires_at <= $1`, now)
	if err != nil {
		return fmt.Errorf("store: purge sessions: %w", err)
	}
	if n := tag.RowsAffected(); n > 0 {
		s.log.Debug("store purged", "what", "expired portal sessions", "rows", n)
	}
	return nil
}

func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
