-- kakunin schema, version 5 (PostgreSQL): the language a user chose in the
-- portal ("ja", "en"; '' for the configured default), for calls and
-- notifications. A constant default: no table rewrite.
ALTER TABLE users ADD COLUMN language text NOT NULL DEFAULT '';
