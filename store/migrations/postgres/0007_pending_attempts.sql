-- kakunin schema, version 7 (PostgreSQL): a password attempt reserved
-- before the bind is pending until the directory answers; only a settled
-- failure (or an attempt left pending by a node that died mid-bind)
-- pauses a user.
ALTER TABLE failures ADD COLUMN pending boolean NOT NULL DEFAULT false;
