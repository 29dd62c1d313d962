-- 032_ocsp_epoch: a counter that every revocation moves, for the caches
-- of pre-signed OCSP responses that signet-web's workers keep in memory
-- (web/ocsp.c). A worker reads it in the same snapshot as each response
-- it caches, and polls it; a cached response is served only while the
-- counter has not moved since. max(revocation_events.id) would not do:
-- ids are drawn before commit, so a revocation may commit with an id
-- below one already seen. An UPDATE of one row serializes revocations,
-- and its value moves in commit order.
CREATE TABLE ocsp_epoch (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	n		bigint NOT NULL
);
INSERT INTO ocsp_epoch (one, n) VALUES (true, 0);

CREATE FUNCTION ocsp_epoch_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE ocsp_epoch SET n = n + 1;
	RETURN NULL;
END $$;

CREATE TRIGGER ocsp_epoch_bump AFTER INSERT ON revocation_events
	FOR EACH STATEMENT EXECUTE FUNCTION ocsp_epoch_bump();
