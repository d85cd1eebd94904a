-- kakunin schema, version 3 (PostgreSQL): approvals that held requests
-- (push notifications, voice calls) wait for, and the lock on a user's
-- out-of-band methods after a reported fraud.

-- When the user's push and phone methods were locked (fraud reported),
-- NULL when they are not.
ALTER TABLE users ADD COLUMN out_of_band_locked timestamptz;

CREATE TABLE approvals (
	id         text PRIMARY KEY,
	user_id    text NOT NULL,
	method_id  text NOT NULL,
	kind       text NOT NULL,           -- push, call
	hold_key   text NOT NULL,           -- what a retransmit finds it by
	request_id text NOT NULL DEFAULT '',
	client     text NOT NULL DEFAULT '',
	number     integer NOT NULL DEFAULT 0,
	groups     text[] NOT NULL DEFAULT '{}',
	status     text NOT NULL,
	node       text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	decided_at timestamptz
);

CREATE INDEX approvals_hold_key ON approvals (hold_key, created_at);
CREATE INDEX approvals_user_kind ON approvals (user_id, kind, created_at);
CREATE INDEX approvals_decided_at ON approvals (decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX approvals_pending_node ON approvals (node) WHERE status = 'pending';
CREATE INDEX approvals_expires_at ON approvals (expires_at);
