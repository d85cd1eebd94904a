package portal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"kakunin/store"
)

// A session token is 256 random bits; the store keeps only its SHA-256.
const tokenBytes = 32

func newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Cookie names: with Secure cookies the __Host- prefix makes the browser
// refuse a cookie set by another host or for a narrower path.
func (s *Server) sessionCookie() string {
	if s.secure {
		return "__Host-kakunin"
	}
	return "kakunin"
}

func (s *Server) langCookie() string {
	if s.secure {
		return "__Host-kakunin-lang"
	}
	return "kakunin-lang"
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: s.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// loadSession returns the request's live session, moving its idle expiry
// forward, or nil when there is none (no cookie, unknown or expired).
func (s *Server) loadSession(ctx context.Context, r *http.Request) (*store.Session, error) {
	c, err := r.Cookie(s.sessionCookie())
	if err != nil || c.Value == "" {
		return nil, nil
	}
	now := s.now()
	sess, err := s.st.GetSession(ctx, c.Value, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sess.LastSeen = now
	sess.IdleExpires = minTime(now.Add(s.cfg.SessionIdle), sess.Expires)
	if err := s.st.UpdateSession(ctx, sess); errors.Is(err, store.ErrNotFound) {
		return nil, nil // signed out on another tab or node meanwhile
	} else if err != nil {
		return nil, err
	}
	return &sess, nil
}

// startSession signs a user in with a new token, ending the request's old
// session if any (no session fixation). verified is when a second factor
// was verified (zero for none).
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, old *store.Session, user, lang string, verified time.Time) (*store.Session, error) {
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	now := s.now()
	sess := store.Session{
		Token: token, UserID: user, CreatedAt: now, LastSeen: now,
		IdleExpires: now.Add(s.cfg.SessionIdle), Expires: now.Add(s.cfg.SessionMax),
		Verified: verified, Lang: lang,
	}
	if old != nil {
		// A rotation after the second factor keeps the sign-in's limit.
		if old.UserID == user {
			sess.CreatedAt, sess.Expires = old.CreatedAt, old.Expires
			sess.IdleExpires = minTime(sess.IdleExpires, sess.Expires)
		}
		if err := s.st.DeleteSession(ctx, old.Token); err != nil {
			return nil, err
		}
	}
	if err := s.st.CreateSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	s.setCookie(w, s.sessionCookie(), token, 0)
	return &sess, nil
}

func (s *Server) endSession(ctx context.Context, w http.ResponseWriter, sess *store.Session) error {
	s.setCookie(w, s.sessionCookie(), "", -1)
	if sess == nil {
		return nil
	}
	return s.st.DeleteSession(ctx, sess.Token)
}

// maintain deletes expired sessions every interval until ctx ends.
func (s *Server) maintain(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.st.PurgeSessions(ctx, s.now()); err != nil && ctx.Err() == nil {
				s.log.Warn("purge expired portal sessions", "err", err)
			}
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
