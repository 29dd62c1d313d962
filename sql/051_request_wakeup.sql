-- 051_request_wakeup: new requests wake ca-serve after their commit.
--
-- A transaction that calls NOTIFY holds PostgreSQL's notification lock
-- from its pre-commit to the end of its commit -- through the WAL flush --
-- so every submission, each notifying in its own transaction, committed
-- one after another and never shared a flush. The registration authority
-- now commits first and then notifies in a statement of its own, which
-- writes no WAL and holds the lock a moment (ca/ra.c, ra_wake). A wake-up
-- lost to a crash between the two costs at most ca-serve's one-second
-- sweep. Requests that become `approved` (an officer's decision, at
-- human pace) or go back to `submitted` still notify from here.

CREATE OR REPLACE FUNCTION requests_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.state IN ('submitted', 'approved') THEN
		PERFORM pg_notify('signet_request', NEW.id::text);
	END IF;
	RETURN NULL;
END $$;
