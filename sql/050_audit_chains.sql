-- 050_audit_chains: the audit log as eight interleaved hash chains.
--
-- One chain means one lock, held by each auditing transaction from its
-- first record to its commit -- through the commit's WAL flush. Every
-- state change in Signet is audited, so every writer queued behind that
-- one flush: submissions and issuances could not share a group commit,
-- and a signing thread held the lock while it signed.
--
-- Now a transaction takes the first free chain of eight (its own
-- backend's first) and keeps it to its end; up to eight writers append
-- at once, and their commits share flushes. Each chain is what the one
-- chain was: every record carries the hash of the one before it in its
-- chain,
--   hash = SHA-256(prev_hash || seq || at_us || actor || action || subject || detail)
-- (unchanged; integers as 8 octets big-endian, strings as a 4-octet
-- length and their UTF-8 octets), a chain's first record follows 32 zero
-- octets, and `signet audit verify` walks every chain. seq comes from a
-- sequence and orders the whole log in time; it is drawn while the
-- chain's lock is held, so it rises along each chain. A rolled-back
-- transaction leaves a gap in seq, never in a chain.
--
-- Records made before this migration form chain 0 and it goes on from
-- its head.

ALTER TABLE audit_log ADD COLUMN chain smallint NOT NULL DEFAULT 0
	CHECK (chain BETWEEN 0 AND 7);
CREATE INDEX audit_log_chain_seq ON audit_log (chain, seq);
CREATE SEQUENCE audit_log_seq OWNED BY audit_log.seq;
SELECT setval('audit_log_seq', coalesce(max(seq), 0) + 1, false)
    FROM audit_log;

-- The chain this transaction appends to, locked until the transaction
-- ends (advisory locks 0x73676e7410 + chain, "sgnt" 0x10..0x17).
CREATE FUNCTION audit_chain() RETURNS smallint
LANGUAGE plpgsql AS $$
DECLARE
	held	text := current_setting('signet.audit_chain', true);
	first	int := pg_backend_pid() % 8;
	c	int;
BEGIN
	IF held IS NOT NULL AND held <> '' THEN
		RETURN held::smallint;
	END IF;
	c := first;
	LOOP
		EXIT WHEN pg_try_advisory_xact_lock(495874847760 + c);
		c := (c + 1) % 8;
		IF c = first THEN
			-- all eight busy: wait for our own
			PERFORM pg_advisory_xact_lock(495874847760 + c);
			EXIT;
		END IF;
	END LOOP;
	PERFORM set_config('signet.audit_chain', c::text, true);
	RETURN c;
END $$;

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
	SELECT hash INTO head_hash FROM audit_log WHERE chain = c
	    ORDER BY seq DESC LIMIT 1;
	IF NOT FOUND THEN
		head_hash := decode(repeat('00', 32), 'hex');
	END IF;
	s := nextval('audit_log_seq');
	at := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
	-- sql/009's audit_field() written out (and dropped below): a SQL
	-- function called from plpgsql is parsed again at every call, which
	-- cost a fifth of an issuing transaction's time in the database
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

-- audit_append was audit_field's only caller
DROP FUNCTION audit_field(text);

-- For appending n records at once (ca/audit.c, audit_append_buf): the
-- chain, its head's hash, the database's clock and n rising seq values,
-- one row each.
DROP FUNCTION audit_head();
CREATE FUNCTION audit_head(n int) RETURNS TABLE (chain smallint, seq bigint,
    hash bytea, now_us bigint)
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
	FOR i IN 1..n LOOP
		RETURN QUERY SELECT c, nextval('audit_log_seq'), h, t;
	END LOOP;
END $$;
