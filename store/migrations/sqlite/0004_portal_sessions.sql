-- kakunin schema, version 4 (SQLite): sessions of the enrollment portal.

-- Keyed by the SHA-256 of the cookie's token: the token itself is never
-- stored. Times as in 0001 (microseconds); verified_at 0 for never.
CREATE TABLE portal_sessions (
	token_hash   BLOB PRIMARY KEY,
	user_id      TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	last_seen    INTEGER NOT NULL,
	idle_expires INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	verified_at  INTEGER NOT NULL DEFAULT 0,
	lang         TEXT NOT NULL DEFAULT '',
	-- The seed of an app being set up: AES-256-GCM under key_id, bound to
	-- token_hash (store/portal.go). An empty seed is sealed too.
	pending_ct   BLOB NOT NULL,
	key_id       TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- DeleteUserSessions; PurgeSessions scans (sessions are few).
CREATE INDEX portal_sessions_user ON portal_sessions (user_id);
