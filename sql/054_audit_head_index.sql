-- 054_audit_head_index: a chain's head is found through its own index.
--
-- "WHERE chain = c ORDER BY seq DESC LIMIT 1" was planned as a backward
-- scan of the primary key (seq) with chain as a filter: the planner
-- takes the chains to be spread evenly along seq and expects a match
-- within a few rows. They are not. A backend takes the chain its process
-- id picks (sql/050), so a chain can go unused for a long time, and its
-- next record then read back through every record appended since --
-- 49,000 index entries and 36 ms for one lookup in a log of 270,000,
-- growing with the log, while the chain's lock was held. Written as a
-- range on chain ordered by (chain, seq), only audit_log_chain_seq
-- gives that order, and the lookup reads one entry (0.02 ms there).
-- ca/store.c's SQL_AUDIT_HEAD has the same lookup for the records
-- written from C.

CREATE OR REPLACE FUNCTION audit_append(p_actor text, p_action text,
    p_subject text, p_detail text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	c		smallint := audit_chain();
	head_hash	bytea;
	s		bigint;
	at		bigint;
	a		bytea;
	b		bytea;
	u		bytea;
	d		bytea;
BEGIN
	SELECT hash INTO head_hash FROM audit_log
	    WHERE chain >= c AND chain <= c
	    ORDER BY chain DESC, seq DESC LIMIT 1;
	IF NOT FOUND THEN
		head_hash := decode(repeat('00', 32), 'hex');
	END IF;
	s := nextval('audit_log_seq');
	at := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
	a := convert_to(coalesce(p_actor, ''), 'UTF8');
	b := convert_to(coalesce(p_action, ''), 'UTF8');
	u := convert_to(coalesce(p_subject, ''), 'UTF8');
	d := convert_to(coalesce(p_detail, ''), 'UTF8');
	INSERT INTO audit_log (seq, chain, at_us, actor, action, subject,
	    detail, prev_hash, hash)
	VALUES (s, c, at, p_actor, p_action, coalesce(p_subject, ''),
	    coalesce(p_detail, ''), head_hash,
	    sha256(head_hash || int8send(s) || int8send(at) ||
	        int4send(octet_length(a)) || a ||
	        int4send(octet_length(b)) || b ||
	        int4send(octet_length(u)) || u ||
	        int4send(octet_length(d)) || d));
	RETURN s;
END $$;

-- audit_head(n) has had no caller since ca/store.c wrote it out as one
-- statement (SQL_AUDIT_HEAD, with the lookup above): dropped rather than
-- fixed.
DROP FUNCTION audit_head(int);
