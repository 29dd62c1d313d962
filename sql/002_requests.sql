-- 002_requests: operators, certificate requests and their workflow.
--
-- States (DESIGN.md, Requests): submitted -> issued | pending | denied;
-- pending -> approved -> issued, or pending -> denied. ca-serve takes
-- submitted and approved rows; every transition has an audit record.

CREATE TABLE operators (
	name		text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9._-]{0,63}$'),
	role		text NOT NULL
			CHECK (role IN ('officer', 'auditor', 'admin', 'recovery-agent')),
	password_hash	text,		-- argon2id, libsodium crypto_pwhash_str
	client_cert_sha256 bytea CHECK (client_cert_sha256 IS NULL OR
			length(client_cert_sha256) = 32),
	disabled	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE requests (
	id		bigserial PRIMARY KEY,
	-- requests made together (a signing + encryption pair with key
	-- recovery on) share a batch and are issued in one transaction
	batch_id	bigint,
	state		text NOT NULL DEFAULT 'submitted' CHECK (state IN
			('submitted', 'pending', 'approved', 'issued', 'denied')),
	source		text NOT NULL
			CHECK (source IN ('browser', 'csr', 'server', 'cli')),
	via_ra		boolean NOT NULL DEFAULT false,
	requester	text NOT NULL,		-- directory uid, or operator name
	requester_mail	text,
	authenticated	boolean NOT NULL DEFAULT false,
	account_disabled boolean NOT NULL DEFAULT false,
	on_behalf	boolean NOT NULL DEFAULT false,
	groups		text[] NOT NULL DEFAULT '{}',
	email		text NOT NULL,
	display_name	text,
	profile		text NOT NULL
			CHECK (profile IN ('signing', 'encryption', 'dual')),
	days		int NOT NULL DEFAULT 0 CHECK (days BETWEEN 0 AND 825),
	csr		bytea NOT NULL,		-- PKCS#10, DER
	-- server-made keys: the key sealed to the KRA (encryption keys only)
	-- and the key as encrypted PKCS#8 under the employee's password,
	-- deleted at pickup
	key_escrow	bytea,
	key_pickup	bytea,
	reason		text,			-- the policy's or officer's words
	decided_by	text,
	decided_at	timestamptz,
	serial		text REFERENCES certificates (serial),
	attempts	int NOT NULL DEFAULT 0,
	last_error	text,
	submitted_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK ((state = 'issued') = (serial IS NOT NULL))
);
CREATE INDEX requests_work ON requests (id)
	WHERE state IN ('submitted', 'approved');
CREATE INDEX requests_state ON requests (state, id);
CREATE INDEX requests_requester ON requests (requester, id);
CREATE INDEX requests_batch ON requests (batch_id) WHERE batch_id IS NOT NULL;

-- one request never yields two certificates
CREATE UNIQUE INDEX certificates_request ON certificates (request_id)
	WHERE request_id IS NOT NULL;

-- wake ca-serve when there is work
CREATE FUNCTION requests_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.state IN ('submitted', 'approved') THEN
		PERFORM pg_notify('signet_request', NEW.id::text);
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER requests_notify AFTER INSERT OR UPDATE OF state ON requests
	FOR EACH ROW EXECUTE FUNCTION requests_notify();
