-- kakunin schema, version 5 (SQLite): the language a user chose in the
-- portal ("ja", "en"; '' for the configured default), for calls and
-- notifications.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT '';
