-- kakunin schema, version 6 (PostgreSQL): a user has at most one
-- notification email (kind 'email'), as one of each phone kind.
DROP INDEX methods_one_phone_per_kind;
CREATE UNIQUE INDEX methods_one_per_kind ON methods (user_id, kind)
	WHERE kind IN ('phone', 'alternate_phone', 'office_phone', 'email');
