-- 031_crl_speed: what a CRL of a million entries needs to be read and
-- stored in about a second (tests/bench/bench_crlgen.sh).

-- The CRL's read (store_crl_entries) as an index-only scan in serial
-- order: every column it needs is in the index, so neither the table nor
-- a sort is touched. COLLATE "C" makes the order byte order whatever the
-- database's locale. It replaces 030's narrower index.
CREATE INDEX certificates_crl ON certificates (serial COLLATE "C")
	INCLUDE (revoked_at, revocation_reason, not_after)
	WHERE revoked_at IS NOT NULL;
DROP INDEX certificates_revoked;

-- A CRL is ~45 octets an entry and compresses ~6:1; LZ4 does it several
-- times faster than the default pglz, both when ca-serve stores a CRL and
-- when signet-web and the publisher read it. Servers built without LZ4
-- keep pglz.
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_settings WHERE name =
	    'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
		ALTER TABLE crls ALTER COLUMN der SET COMPRESSION lz4;
	END IF;
END $$;
