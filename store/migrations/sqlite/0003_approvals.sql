-- kakunin schema, version 3 (SQLite): approvals that held requests (push
-- notifications, voice calls) wait for, and the lock on a user's
-- out-of-band methods after a reported fraud.

-- Microseconds since the epoch when the user's push and phone methods were
-- locked (fraud reported), 0 when they are not.
ALTER TABLE users ADD COLUMN out_of_band_locked INTEGER NOT NULL DEFAULT 0;

CREATE TABLE approvals (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL,
	method_id  TEXT NOT NULL,
	kind       TEXT NOT NULL,           -- push, call
	hold_key   TEXT NOT NULL,           -- what a retransmit finds it by
	request_id TEXT NOT NULL DEFAULT '',
	client     TEXT NOT NULL DEFAULT '',
	number     INTEGER NOT NULL DEFAULT 0,
	groups     TEXT NOT NULL DEFAULT '[]', -- JSON array
	status     TEXT NOT NULL,
	node       TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	decided_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX approvals_hold_key ON approvals (hold_key, created_at);
CREATE INDEX approvals_user_kind ON approvals (user_id, kind, created_at);
CREATE INDEX approvals_decided_at ON approvals (decided_at) WHERE decided_at > 0;
CREATE INDEX approvals_pending_node ON approvals (node) WHERE status = 'pending';
CREATE INDEX approvals_expires_at ON approvals (expires_at);
