-- kakunin schema, version 8 (SQLite): the numbers a number-matching
-- approval offers, drawn at random when it is created (not derived from its
-- ID, which is in every URL), so that every node shows the same ones.
ALTER TABLE approvals ADD COLUMN choices TEXT NOT NULL DEFAULT '[]'; -- JSON array
