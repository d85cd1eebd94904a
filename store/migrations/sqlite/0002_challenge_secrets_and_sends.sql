-- kakunin schema, version 2 (SQLite): what a challenge waits for, the SMS
-- code it checks (encrypted), the menu it offered; and the sends table that
-- limits SMS codes and calls.

-- Still one b-tree with no secondary index (see 0001). Rows written before
-- this version (by a node not yet upgraded) read as TOTP challenges with no
-- secret: key_id '' marks them.
ALTER TABLE challenges ADD COLUMN kind TEXT NOT NULL DEFAULT 'totp';
-- AES-256-GCM, nonce || ciphertext || tag, under the key named by key_id,
-- bound to the state (store/crypto.go). An empty secret is sealed too.
ALTER TABLE challenges ADD COLUMN secret_ct BLOB NOT NULL DEFAULT x'';
ALTER TABLE challenges ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE challenges ADD COLUMN options TEXT NOT NULL DEFAULT '[]'; -- JSON array of method IDs, in menu order

-- One row per SMS code or call sent (ReserveSend), kept until Purge.
CREATE TABLE sends (
	user_id   TEXT NOT NULL,
	method_id TEXT NOT NULL,
	at        INTEGER NOT NULL
) STRICT;

-- The per-method and per-user counts of ReserveSend, and Purge.
CREATE INDEX sends_user_method_at ON sends (user_id, method_id, at);
CREATE INDEX sends_user_at ON sends (user_id, at);
CREATE INDEX sends_at ON sends (at);
