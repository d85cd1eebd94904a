-- kakunin schema, version 2 (PostgreSQL): what a challenge waits for, the
-- SMS code it checks (encrypted), the menu it offered; and the sends table
-- that limits SMS codes and calls.

-- Still no secondary index (see 0001). Rows written before this version
-- (by a node not yet upgraded) read as TOTP challenges with no secret:
-- key_id '' marks them. Constant defaults: no table rewrite.
ALTER TABLE challenges
	ADD COLUMN kind      text NOT NULL DEFAULT 'totp',
	-- AES-256-GCM, nonce || ciphertext || tag, under the key named by
	-- key_id, bound to the state (store/crypto.go). An empty secret is
	-- sealed too.
	ADD COLUMN secret_ct bytea NOT NULL DEFAULT ''::bytea,
	ADD COLUMN key_id    text NOT NULL DEFAULT '',
	-- Method IDs, in menu order.
	ADD COLUMN options   text[] NOT NULL DEFAULT '{}';

-- One row per SMS code or call sent (ReserveSend), kept until Purge.
CREATE TABLE sends (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id   text NOT NULL,
	method_id text NOT NULL,
	at        timestamptz NOT NULL
);

-- The per-method and per-user counts of ReserveSend, and Purge.
CREATE INDEX sends_user_method_at ON sends (user_id, method_id, at);
CREATE INDEX sends_user_at ON sends (user_id, at);
CREATE INDEX sends_at ON sends (at);
