-- 052_audit_head_set: audit_head(n) hands out its n sequence numbers in
-- one query.
--
-- It ran one RETURN QUERY per record, each a statement of its own inside
-- plpgsql; a caller that writes a set of records at once (ca-serve's
-- issued certificates, the enrolment site's group commits) paid for every
-- record what one statement costs. The rows, chain, head and clock are
-- the same as before.

CREATE OR REPLACE FUNCTION audit_head(n int) RETURNS TABLE (chain smallint,
    seq bigint, hash bytea, now_us bigint)
LANGUAGE plpgsql AS $$
DECLARE
	c	smallint := audit_chain();
	h	bytea;
	t	bigint;
BEGIN
	SELECT a.hash INTO h FROM audit_log a WHERE a.chain = c
	    ORDER BY a.seq DESC LIMIT 1;
	IF NOT FOUND THEN
		h := decode(repeat('00', 32), 'hex');
	END IF;
	t := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
	RETURN QUERY SELECT c, nextval('audit_log_seq'), h, t
	    FROM generate_series(1, n) ORDER BY 2;
END $$;
