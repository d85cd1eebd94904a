-- kakunin schema, version 1 (PostgreSQL).

CREATE TABLE users (
	id             text PRIMARY KEY,
	mfa_applied    boolean NOT NULL DEFAULT false,
	-- The user's default method; cleared when that method is deleted
	-- (foreign key added below, once methods exists).
	default_method text,
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL
);

CREATE TABLE methods (
	id           text PRIMARY KEY,
	user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind         text NOT NULL,
	label        text NOT NULL DEFAULT '',
	-- AES-256-GCM, nonce || ciphertext || tag, under the key named by key_id,
	-- bound to the row by its associated data (store/crypto.go).
	secret_ct    bytea NOT NULL,
	phone_ct     bytea NOT NULL,
	extension_ct bytea NOT NULL,
	key_id       text NOT NULL,
	created_at   timestamptz NOT NULL,
	last_used    timestamptz,
	-- Last TOTP time step accepted: a code is good once, on every node.
	last_step    bigint NOT NULL DEFAULT 0
);

CREATE INDEX methods_user_id ON methods (user_id, created_at);
-- At most one method of each phone kind per user; totp and push may repeat.
CREATE UNIQUE INDEX methods_one_phone_per_kind ON methods (user_id, kind)
	WHERE kind IN ('phone', 'alternate_phone', 'office_phone');

ALTER TABLE users ADD CONSTRAINT users_default_method_fkey
	FOREIGN KEY (default_method) REFERENCES methods (id) ON DELETE SET NULL;
CREATE INDEX users_default_method ON users (default_method);

-- Every login inserts one row and deletes it again: no secondary index to
-- maintain. Purge and Reset, which look rows up by expiry or user, are rare
-- and scan a small table.
CREATE TABLE challenges (
	state      text PRIMARY KEY,
	user_id    text NOT NULL,
	client     text NOT NULL,
	method_id  text NOT NULL DEFAULT '',
	attempts   integer NOT NULL DEFAULT 0,
	groups     text[] NOT NULL DEFAULT '{}',
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL
);


CREATE TABLE failures (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id text NOT NULL,
	kind    text NOT NULL,
	at      timestamptz NOT NULL
);

CREATE INDEX failures_user_kind_at ON failures (user_id, kind, at);
CREATE INDEX failures_at ON failures (at);

CREATE TABLE audit_events (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at      timestamptz NOT NULL,
	user_id text NOT NULL,
	actor   text NOT NULL,
	action  text NOT NULL,
	detail  text NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_user_at ON audit_events (user_id, at, id);
