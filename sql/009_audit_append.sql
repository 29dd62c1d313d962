-- 009_audit_append: extend the audit chain in the database, in one call.
--
-- The record and its hash are made server-side so that appending costs one
-- round trip inside the caller's transaction. The hash is exactly the one
-- ca/audit.c recomputes in `signet audit verify`:
--   SHA-256(prev_hash || seq || at_us || actor || action || subject || detail)
-- integers as 8 octets big-endian, strings as a 4-octet big-endian length
-- and their UTF-8 octets.

CREATE FUNCTION audit_field(t text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
	SELECT int4send(octet_length(convert_to(coalesce(t, ''), 'UTF8'))) ||
	    convert_to(coalesce(t, ''), 'UTF8')
$$;

CREATE FUNCTION audit_append(p_actor text, p_action text, p_subject text,
    p_detail text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	head_seq	bigint;
	head_hash	bytea;
	at		bigint;
BEGIN
	-- one writer extends the chain at a time, until this transaction ends
	PERFORM pg_advisory_xact_lock(495874847746);	-- 0x73676e7402, "sgnt" 2
	SELECT seq, hash INTO head_seq, head_hash
	    FROM audit_log ORDER BY seq DESC LIMIT 1;
	IF NOT FOUND THEN
		head_seq := 0;
		head_hash := decode(repeat('00', 32), 'hex');
	END IF;
	at := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
	INSERT INTO audit_log (seq, at_us, actor, action, subject, detail,
	    prev_hash, hash)
	VALUES (head_seq + 1, at, p_actor, p_action, coalesce(p_subject, ''),
	    coalesce(p_detail, ''), head_hash,
	    sha256(head_hash || int8send(head_seq + 1) || int8send(at) ||
	        audit_field(p_actor) || audit_field(p_action) ||
	        audit_field(p_subject) || audit_field(p_detail)));
	RETURN head_seq + 1;
END $$;
