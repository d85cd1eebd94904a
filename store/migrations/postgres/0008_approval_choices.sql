-- kakunin schema, version 8 (PostgreSQL): the numbers a number-matching
-- approval offers, drawn at random when it is created (not derived from its
-- ID, which is in every URL), so that every node shows the same ones.
ALTER TABLE approvals ADD COLUMN choices integer[] NOT NULL DEFAULT '{}';
