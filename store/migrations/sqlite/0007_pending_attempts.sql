-- kakunin schema, version 7 (SQLite): a password attempt reserved before
-- the bind is pending until the directory answers; only a settled failure
-- (or an attempt left pending by a node that died mid-bind) pauses a user.
ALTER TABLE failures ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
