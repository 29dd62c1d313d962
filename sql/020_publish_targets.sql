-- 020_publish_targets: what the publisher (signet publish) needs beside
-- the queue of 003_publish.
--
-- A job names no target ('*' = every configured publisher), so each
-- publisher that has applied a job is recorded here; the job is done when
-- every configured target has its row. A retry skips the targets that
-- already succeeded, so a directory outage retries only the directory.
CREATE TABLE publish_done (
	job_id		bigint NOT NULL REFERENCES publish_jobs (id) ON DELETE CASCADE,
	target		text NOT NULL,		-- "ldap.NAME" or "web.NAME"
	done_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (job_id, target)
);

-- Expiry is a change like any other: the publisher's sweep queues one
-- cert.expire job per certificate past notAfter. The primary key makes
-- that exactly once, even with two publishers sweeping at the same time.
CREATE TABLE publish_expired (
	serial		text PRIMARY KEY REFERENCES certificates (serial),
	queued_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX certificates_not_after ON certificates (not_after);

-- signet publish status: failures first, by how often they failed.
CREATE INDEX publish_jobs_failing ON publish_jobs (id)
	WHERE state <> 'done' AND last_error IS NOT NULL;
