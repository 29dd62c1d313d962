-- 051_request_wakeup: new requests wake ca-serve after their commit.
--
-- A transaction that calls NOTIFY holds PostgreSQL's notification lock
-- from its pre-commit to the end of its commit -- through the WAL flush --
-- so every submission, each notifying in its own transaction, committed
-- one after another and never shared a flush. The registration authority
-- now commits first and then notifies in a statement of its own (ca/ra.c,
-- ra_wake). A wake-up lost to a crash between the two costs at most
-- ca-serve's one-second sweep.
--
-- Later measured otherwise: that statement is a transaction of its own,
-- with a transaction id, a commit record and a flush, and it holds the
-- same lock through that flush. ra_wake now notifies once per transaction
-- just before its COMMIT (sql/053 says the same of the publisher). Requests that become `approved` (an officer's decision, at
-- human pace) or go back to `submitted` still notify from here; the
-- trigger's WHEN clause spares every other insert and update (each issue
-- and denial) the call.
--
-- The publisher reads no payload, only the wake-up, so publish jobs now
-- notify once per statement: ca-serve's batch of 64 jobs is one
-- notification, not 64 calls and 64 queue entries.

DROP TRIGGER requests_notify ON requests;
CREATE TRIGGER requests_notify AFTER UPDATE OF state ON requests
	FOR EACH ROW WHEN (NEW.state IN ('submitted', 'approved'))
	EXECUTE FUNCTION requests_notify();

DROP TRIGGER publish_jobs_notify ON publish_jobs;
CREATE FUNCTION publish_jobs_notify_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('signet_publish', '');
	RETURN NULL;
END $$;
CREATE TRIGGER publish_jobs_notify AFTER INSERT ON publish_jobs
	FOR EACH STATEMENT EXECUTE FUNCTION publish_jobs_notify_once();
