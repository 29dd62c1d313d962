-- 011_web_enrol: what signet-web needs for enrolment and the console.
--
-- A session remembers the directory uid (employees) or the operator name:
-- requests are owned by requester = uid, and an employee sees only those.

ALTER TABLE web_sessions ADD COLUMN IF NOT EXISTS uid text NOT NULL DEFAULT '';
