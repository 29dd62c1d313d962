-- 005_audit_batch: the audit chain's head, for appending many records at once.
--
-- ca-serve decides and issues a batch of requests per transaction and
-- appends its audit records (cert.issue, request.issue|pend|deny, ...)
-- together (ca/audit.c, audit_append_buf): it reads the head here, under
-- the lock audit_append takes (sql/009_audit_append.sql), computes each
-- record's hash with the very function `signet audit verify` recomputes,
--   SHA-256(prev_hash || seq || at_us || actor || action || subject || detail)
-- and inserts the records in one statement. Hashing in plpgsql costs
-- about 30 us a record; the lock -- which every auditing transaction
-- waits for, to its commit -- is held that much less.
--
-- The lock is held until the transaction ends. now_us is the database's
-- clock (microseconds since the epoch), the at_us of the records that
-- follow.

CREATE FUNCTION audit_head(OUT seq bigint, OUT hash bytea, OUT now_us bigint)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(495874847746);	-- 0x73676e7402, "sgnt" 2
	SELECT a.seq, a.hash INTO seq, hash
	    FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
	IF NOT FOUND THEN
		seq := 0;
		hash := decode(repeat('00', 32), 'hex');
	END IF;
	now_us := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
END $$;
