-- 010_web: signet-web's sessions and login throttling.
--
-- A session token is 256 random bits handed to the browser once, in the
-- signet_session cookie; only its SHA-256 is stored, so a copy of this
-- table cannot be replayed as a login (DESIGN.md, security rules).

CREATE TABLE IF NOT EXISTS web_sessions (
	token_hash	bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
	kind		text NOT NULL CHECK (kind IN ('employee', 'operator')),
	subject		text NOT NULL,		-- directory DN or operator name
	display_name	text NOT NULL DEFAULT '',
	mail		text NOT NULL DEFAULT '',
	csrf		text NOT NULL CHECK (length(csrf) = 64),
	created		timestamptz NOT NULL DEFAULT now(),
	expires		timestamptz NOT NULL,
	last_seen	timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS web_sessions_expires ON web_sessions (expires);
CREATE INDEX IF NOT EXISTS web_sessions_subject ON web_sessions (kind, subject);

-- One row per failed login; throttling counts the recent rows for the
-- account and, separately, for the client address.
CREATE TABLE IF NOT EXISTS web_login_failures (
	id		bigserial PRIMARY KEY,
	account		text NOT NULL,		-- the login as typed, lowercased
	client		text NOT NULL,		-- client address
	at		timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS web_login_failures_account
	ON web_login_failures (account, at);
CREATE INDEX IF NOT EXISTS web_login_failures_client
	ON web_login_failures (client, at);
