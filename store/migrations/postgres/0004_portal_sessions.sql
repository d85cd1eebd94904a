-- kakunin schema, version 4 (PostgreSQL): sessions of the enrollment portal.

-- Keyed by the SHA-256 of the cookie's token: the token itself is never
-- stored. verified_at NULL for never.
CREATE TABLE portal_sessions (
	token_hash   bytea PRIMARY KEY,
	user_id      text NOT NULL,
	created_at   timestamptz NOT NULL,
	last_seen    timestamptz NOT NULL,
	idle_expires timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	verified_at  timestamptz,
	lang         text NOT NULL DEFAULT '',
	-- The seed of an app being set up: AES-256-GCM under key_id, bound to
	-- token_hash (store/portal.go). An empty seed is sealed too.
	pending_ct   bytea NOT NULL,
	key_id       text NOT NULL
);

-- DeleteUserSessions; PurgeSessions scans (sessions are few).
CREATE INDEX portal_sessions_user ON portal_sessions (user_id);
