-- 030_revocation: CRLs, the OCSP responder's signer and pre-signed
-- responses, and the queue through which signet-web asks ca-serve for
-- responses it cannot take from the cache (DESIGN.md, Revocation).

-- Partial indexes: the CRL reads revoked certificates only, in serial order.
CREATE INDEX certificates_revoked ON certificates (serial)
	WHERE revoked_at IS NOT NULL;

-- Every revocation, in commit order of ids; a CRL records the last one it
-- covers, so "a revocation since the last CRL" is max(id) > last_event.
CREATE TABLE revocation_events (
	id		bigserial PRIMARY KEY,
	serial		text NOT NULL,
	at		timestamptz NOT NULL DEFAULT now()
);

-- RFC 5280 5.2.3: cRLNumber monotonically increasing, never reused; a
-- sequence never hands out a value twice, even when a transaction fails.
CREATE SEQUENCE crl_number_seq MINVALUE 1 NO CYCLE;

CREATE TABLE crls (
	number		bigint PRIMARY KEY CHECK (number > 0),
	this_update	timestamptz NOT NULL,
	-- RFC 5280 5.1.2.5; S/MIME BR 4.9.7: at most 10 days later
	next_update	timestamptz NOT NULL CHECK (next_update > this_update AND
			next_update <= this_update + interval '10 days'),
	entries		bigint NOT NULL,
	last_event	bigint NOT NULL DEFAULT 0,
	der		bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);

-- Delegated OCSP responder certificates (RFC 6960 4.2.2.2). The key is an
-- encrypted PKCS#8 file in the instance (key_file), under the CA secret;
-- signet-web never reads this table.
CREATE TABLE ocsp_signers (
	id		bigserial PRIMARY KEY,
	cert		bytea NOT NULL,
	key_file	text NOT NULL,
	not_before	timestamptz NOT NULL,
	not_after	timestamptz NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);

-- Pre-signed responses, one per certificate and CertID hash (RFC 6960
-- 4.1.1: the CertID is echoed, so SHA-1 and SHA-256 requests need their
-- own). signet-web's hot path is one lookup on the primary key.
CREATE TABLE ocsp_responses (
	serial		text NOT NULL,
	hash		text NOT NULL CHECK (hash IN ('sha1', 'sha256')),
	status		text NOT NULL CHECK (status IN ('good', 'revoked')),
	der		bytea NOT NULL,
	this_update	timestamptz NOT NULL,
	next_update	timestamptz NOT NULL,
	produced_at	timestamptz NOT NULL,
	PRIMARY KEY (serial, hash)
);
CREATE INDEX ocsp_responses_next ON ocsp_responses (next_update);

-- What ca-serve must sign now: a request signet-web could not answer from
-- the cache (a nonce, several CertIDs, a miss), or a serial to re-sign at
-- once after its revocation (request NULL).
CREATE TABLE ocsp_queue (
	id		bigserial PRIMARY KEY,
	request		bytea CHECK (request IS NULL OR length(request) <= 16384),
	serial		text,
	response	bytea,
	created_at	timestamptz NOT NULL DEFAULT now(),
	answered_at	timestamptz,
	CHECK ((request IS NULL) <> (serial IS NULL))
);
CREATE INDEX ocsp_queue_open ON ocsp_queue (id) WHERE answered_at IS NULL;
CREATE INDEX ocsp_queue_created ON ocsp_queue (created_at);

CREATE FUNCTION ocsp_queue_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('signet_revoke', 'ocsp ' || NEW.id::text);
	RETURN NULL;
END $$;

CREATE TRIGGER ocsp_queue_notify AFTER INSERT ON ocsp_queue
	FOR EACH ROW EXECUTE FUNCTION ocsp_queue_notify();
