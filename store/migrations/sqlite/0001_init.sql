-- kakunin schema, version 1 (SQLite).
-- Times are INTEGER microseconds since the Unix epoch, UTC
-- (datetime(at / 1000000, 'unixepoch') reads one).

CREATE TABLE users (
	id             TEXT PRIMARY KEY,
	mfa_applied    INTEGER NOT NULL DEFAULT 0,
	-- The user's default method; cleared when that method is deleted.
	default_method TEXT REFERENCES methods (id) ON DELETE SET NULL,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX users_default_method ON users (default_method);

CREATE TABLE methods (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind         TEXT NOT NULL,
	label        TEXT NOT NULL DEFAULT '',
	-- AES-256-GCM, nonce || ciphertext || tag, under the key named by key_id,
	-- bound to the row by its associated data (store/crypto.go).
	secret_ct    BLOB NOT NULL,
	phone_ct     BLOB NOT NULL,
	extension_ct BLOB NOT NULL,
	key_id       TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	last_used    INTEGER,
	-- Last TOTP time step accepted: a code is good once, on every node.
	last_step    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX methods_user_id ON methods (user_id, created_at);
-- At most one method of each phone kind per user; totp and push may repeat.
CREATE UNIQUE INDEX methods_one_phone_per_kind ON methods (user_id, kind)
	WHERE kind IN ('phone', 'alternate_phone', 'office_phone');

-- Every login inserts one row and deletes it again, so the table is a
-- single b-tree (WITHOUT ROWID) with no secondary index: Purge and Reset,
-- which look rows up by expiry or user, are rare and scan a small table.
CREATE TABLE challenges (
	state      TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL,
	client     TEXT NOT NULL,
	method_id  TEXT NOT NULL DEFAULT '',
	attempts   INTEGER NOT NULL DEFAULT 0,
	groups     TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
	expires_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE failures (
	user_id TEXT NOT NULL,
	kind    TEXT NOT NULL,
	at      INTEGER NOT NULL
) STRICT;

CREATE INDEX failures_user_kind_at ON failures (user_id, kind, at);
CREATE INDEX failures_at ON failures (at);

CREATE TABLE audit_events (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	user_id TEXT NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	detail  TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_events_user_at ON audit_events (user_id, at, id);
