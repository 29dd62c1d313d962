-- Signet core schema: the CA, its certificates, and the audit chain.

CREATE TABLE ca (
	id		int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	subject		text NOT NULL,
	cert		bytea NOT NULL,
	installed_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE certificates (
	serial		text PRIMARY KEY CHECK (serial ~ '^[0-9a-f]{2,40}$'),
	email		text NOT NULL,
	display_name	text,
	profile		text NOT NULL
			CHECK (profile IN ('signing', 'encryption', 'dual')),
	key_type	text NOT NULL,
	spki_sha256	bytea NOT NULL CHECK (length(spki_sha256) = 32),
	not_before	timestamptz NOT NULL,
	not_after	timestamptz NOT NULL,
	der		bytea NOT NULL,
	issued_at	timestamptz NOT NULL DEFAULT now(),
	issued_by	text NOT NULL,
	request_id	bigint,
	revoked_at	timestamptz,
	-- RFC 5280 5.3.1 CRLReason; 6 (certificateHold) never: S/MIME BR strict
	revocation_reason smallint CHECK (revocation_reason IS NULL OR
			(revocation_reason BETWEEN 0 AND 10 AND
			 revocation_reason NOT IN (6, 7))),
	CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX certificates_email ON certificates (lower(email));
CREATE INDEX certificates_spki ON certificates (spki_sha256);

-- Append-only and hash-chained: hash = SHA-256(prev_hash || the record).
CREATE TABLE audit_log (
	seq		bigint PRIMARY KEY CHECK (seq > 0),
	at_us		bigint NOT NULL,	-- microseconds since the epoch
	actor		text NOT NULL,
	action		text NOT NULL,
	subject		text NOT NULL DEFAULT '',
	detail		text NOT NULL DEFAULT '',
	prev_hash	bytea NOT NULL CHECK (length(prev_hash) = 32),
	hash		bytea NOT NULL CHECK (length(hash) = 32)
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only';
END $$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
