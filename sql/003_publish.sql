-- 003_publish: the publish queue (DESIGN.md, Publishing).
--
-- A job is written in the same transaction as the change that causes it
-- (issue, revoke, expiry, new CRL, new CA certificate), so no change is
-- ever without its job. signet publish takes jobs with
-- FOR UPDATE SKIP LOCKED and retries with backoff.

CREATE TABLE publish_jobs (
	id		bigserial PRIMARY KEY,
	kind		text NOT NULL CHECK (kind IN
			('cert.issue', 'cert.revoke', 'cert.expire', 'crl', 'ca')),
	ref		text NOT NULL DEFAULT '',	-- serial for cert.*, CRL number for crl
	email		text,				-- the mailbox for cert.*
	target		text NOT NULL DEFAULT '*',	-- publisher section name, '*' = all
	state		text NOT NULL DEFAULT 'queued'
			CHECK (state IN ('queued', 'done', 'failed')),
	attempts	int NOT NULL DEFAULT 0,
	next_at		timestamptz NOT NULL DEFAULT now(),
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	done_at		timestamptz
);
CREATE INDEX publish_jobs_due ON publish_jobs (next_at, id)
	WHERE state = 'queued';

CREATE FUNCTION publish_jobs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('signet_publish', NEW.id::text);
	RETURN NULL;
END $$;

CREATE TRIGGER publish_jobs_notify AFTER INSERT ON publish_jobs
	FOR EACH ROW EXECUTE FUNCTION publish_jobs_notify();
