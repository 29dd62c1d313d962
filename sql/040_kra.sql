-- 040_kra: key recovery (DESIGN.md, Key recovery; issue 7).
--
-- The storage key pair is an X25519 crypto_box key; its secret key exists
-- only as Shamir shares, each sealed to one recovery agent's own X25519
-- key, whose secret key is sealed under the agent's passphrase (argon2id).
-- Nothing in these tables opens without agent passphrases.

-- recovery agents: an operator with role recovery-agent and a personal
-- key pair (public here; secret sealed under the passphrase)
CREATE TABLE kra_agents (
	name		text PRIMARY KEY REFERENCES operators (name),
	pk		bytea NOT NULL CHECK (length(pk) = 32),
	-- crypto_secretbox(agent secret key), key = argon2id(passphrase, salt)
	sealed_sk	bytea NOT NULL,
	salt		bytea NOT NULL CHECK (length(salt) = 16),
	opslimit	bigint NOT NULL,
	memlimit	bigint NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);

-- storage public keys; one active generation at a time
CREATE TABLE kra_keys (
	generation	int PRIMARY KEY CHECK (generation > 0),
	pk		bytea NOT NULL CHECK (length(pk) = 32),
	threshold	int NOT NULL CHECK (threshold >= 2),
	-- escrows of this generation are kept until not_after + grace
	grace_days	int NOT NULL DEFAULT 365 CHECK (grace_days >= 0),
	active		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT now(),
	retired_at	timestamptz
);
CREATE UNIQUE INDEX kra_keys_one_active ON kra_keys (active) WHERE active;

-- one share of a generation's secret key per agent, crypto_box_seal'ed
-- to the agent's pk
CREATE TABLE kra_shares (
	generation	int NOT NULL REFERENCES kra_keys (generation),
	agent		text NOT NULL REFERENCES kra_agents (name),
	sealed_share	bytea NOT NULL,
	PRIMARY KEY (generation, agent)
);

-- escrowed encryption keys: PKCS#8 sealed to a storage pk
CREATE TABLE key_escrow (
	serial		text PRIMARY KEY REFERENCES certificates (serial),
	request_id	bigint,
	generation	int NOT NULL REFERENCES kra_keys (generation),
	sealed		bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	-- kept at least until the certificate expires plus the grace
	expires_at	timestamptz NOT NULL
);
CREATE INDEX key_escrow_generation ON key_escrow (generation);

CREATE TABLE recoveries (
	id		bigserial PRIMARY KEY,
	-- not a reference to key_escrow: the history outlives a purged escrow
	serial		text NOT NULL REFERENCES certificates (serial),
	reason		text NOT NULL CHECK (length(btrim(reason)) > 0),
	opened_by	text NOT NULL,
	opened_at	timestamptz NOT NULL DEFAULT now(),
	state		text NOT NULL DEFAULT 'open'
			CHECK (state IN ('open', 'approved', 'fetched', 'expired')),
	window_expires	timestamptz NOT NULL,
	generation	int NOT NULL REFERENCES kra_keys (generation),
	threshold	int NOT NULL,
	approvals	int NOT NULL DEFAULT 0,
	-- per-recovery X25519 key: approved shares are sealed to it; its
	-- secret key is sealed to every agent (recovery_keys). Both go at the
	-- last approval or at expiry.
	eph_pk		bytea CHECK (eph_pk IS NULL OR length(eph_pk) = 32),
	approved_at	timestamptz,
	fetched_by	text,
	fetched_at	timestamptz
);
-- one live recovery per certificate
CREATE UNIQUE INDEX recoveries_live ON recoveries (serial)
	WHERE state IN ('open', 'approved');

CREATE TABLE recovery_keys (
	recovery_id	bigint NOT NULL REFERENCES recoveries (id) ON DELETE CASCADE,
	agent		text NOT NULL REFERENCES kra_agents (name) ON DELETE CASCADE,
	sealed_eph_sk	bytea NOT NULL,		-- crypto_box_seal to the agent pk
	PRIMARY KEY (recovery_id, agent)
);

CREATE TABLE recovery_approvals (
	recovery_id	bigint NOT NULL REFERENCES recoveries (id),
	agent		text NOT NULL,
	at		timestamptz NOT NULL DEFAULT now(),
	sealed_share	bytea,			-- to eph_pk; NULL once used
	CONSTRAINT recovery_approvals_once UNIQUE (recovery_id, agent)
);

-- the recovered key as PKCS#12 under the one-time password; deleted when
-- fetched
CREATE TABLE recovered (
	recovery_id	bigint PRIMARY KEY REFERENCES recoveries (id),
	p12		bytea NOT NULL,
	otp_hash	text NOT NULL,		-- BLAKE2b-256 hex of the random password
	created_at	timestamptz NOT NULL DEFAULT now()
);
