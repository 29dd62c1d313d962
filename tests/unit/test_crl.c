/*
 * crl: streamed v2 CRLs (RFC 5280 5), read back by openssl and GnuTLS.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "crl.h"

static char	tmpdir[] = "/tmp/signet-crl-XXXXXX";

struct ca {
	gnutls_x509_crt_t	crt;
	gnutls_privkey_t	key;
	char			pem[256];
};

static void
ca_make(struct ca *ca, gnutls_pk_algorithm_t pk, unsigned bits,
    const char *name)
{
	gnutls_x509_privkey_t	xkey;
	gnutls_datum_t		pem;
	unsigned char		sn[8] = { 0x01, 0x02, 0x03, 0x04 }, id[20];
	size_t			idlen = sizeof(id);
	time_t			now = time(NULL);
	FILE			*f;

	assert_int_equal(gnutls_x509_privkey_init(&xkey), 0);
	assert_int_equal(gnutls_x509_privkey_generate(xkey, pk, bits, 0), 0);
	assert_int_equal(gnutls_x509_crt_init(&ca->crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(ca->crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(ca->crt, sn, sizeof(sn)), 0);
	assert_int_equal(gnutls_x509_crt_set_dn(ca->crt,
	    "CN=Signet Test CA,O=Example", NULL), 0);
	assert_int_equal(gnutls_x509_crt_set_key(ca->crt, xkey), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(ca->crt,
	    now - 3600), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(ca->crt,
	    now + 86400 * 30), 0);
	assert_int_equal(gnutls_x509_crt_set_basic_constraints(ca->crt, 1, -1),
	    0);
	assert_int_equal(gnutls_x509_crt_set_key_usage(ca->crt,
	    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
	    GNUTLS_KEY_DIGITAL_SIGNATURE), 0);
	assert_int_equal(gnutls_x509_crt_get_key_id(ca->crt, 0, id, &idlen), 0);
	assert_int_equal(gnutls_x509_crt_set_subject_key_id(ca->crt, id, idlen),
	    0);
	assert_int_equal(gnutls_x509_crt_sign2(ca->crt, ca->crt, xkey,
	    GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_privkey_init(&ca->key), 0);
	assert_int_equal(gnutls_privkey_import_x509(ca->key, xkey,
	    GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE), 0);
	assert_int_equal(gnutls_x509_crt_export2(ca->crt, GNUTLS_X509_FMT_PEM,
	    &pem), 0);
	/* as ca-serve would have it: loaded from its encoding */
	gnutls_x509_crt_deinit(ca->crt);
	assert_int_equal(gnutls_x509_crt_init(&ca->crt), 0);
	assert_int_equal(gnutls_x509_crt_import(ca->crt, &pem,
	    GNUTLS_X509_FMT_PEM), 0);
	snprintf(ca->pem, sizeof(ca->pem), "%s/%s.pem", tmpdir, name);
	assert_non_null(f = fopen(ca->pem, "w"));
	assert_int_equal(fwrite(pem.data, 1, pem.size, f), pem.size);
	assert_int_equal(fclose(f), 0);
	gnutls_free(pem.data);
}

static void
ca_free(struct ca *ca)
{
	gnutls_x509_crt_deinit(ca->crt);
	gnutls_privkey_deinit(ca->key);
}

/* Entries generated from an index: serial 0x7e 00 .. i, reasons cycling. */
struct gen {
	size_t		n, i;
	int		reasons[8];
	size_t		nreasons;
	uint8_t		serial[10];
	time_t		at;
	size_t		pad;		/* first pad serials one octet longer */
	int		drift;		/* change the data on the 2nd run */
	int		runs;
};

static int
gen_rewind(void *arg, struct err *e)
{
	struct gen	*g = arg;

	g->i = 0;
	g->runs++;
	return 0;
}

static int
gen_next(void *arg, struct crl_entry *ent, struct err *e)
{
	struct gen	*g = arg;
	size_t		 k;

	if (g->i >= g->n + (g->drift && g->runs > 1 ? 1 : 0))
		return 0;
	g->serial[0] = 0x7e;
	g->serial[1] = 0x00;
	for (k = 0; k < 8; k++)
		g->serial[2 + k] = (uint64_t)g->i >> (8 * (7 - k));
	if (g->i < g->pad) {
		ent->serial = g->serial;
		ent->serial_len = 10;
	} else {
		g->serial[1] = 0x7e;
		ent->serial = g->serial + 1;
		ent->serial_len = 9;
	}
	ent->revoked_at = g->at + g->i;
	ent->reason = g->nreasons ? g->reasons[g->i % g->nreasons] : -1;
	g->i++;
	return 1;
}

static char *
run(const char *fmt, ...)
{
	char	 cmd[1024], *buf;
	size_t	 len = 0, cap = 1 << 16, r;
	va_list	 ap;
	FILE	*p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_non_null(buf = malloc(cap));
	assert_non_null(p = popen(cmd, "r"));
	while ((r = fread(buf + len, 1, cap - 1 - len, p)) > 0) {
		len += r;
		if (len == cap - 1)
			assert_non_null(buf = realloc(buf, cap *= 2));
	}
	buf[len] = '\0';
	assert_int_equal(pclose(p), 0);
	return buf;
}

/* Writes a CRL for g under ca to <tmpdir>/<name>.crl; returns its path. */
static const char *
crl_file(struct ca *ca, struct gen *g, uint64_t number, time_t this_update,
    const char *name, struct err *e, int *rc)
{
	static char		 path[256];
	struct crl_params	 p = { ca->crt, ca->key, number, this_update,
				     this_update + 7 * 86400 };
	FILE			*f;

	snprintf(path, sizeof(path), "%s/%s.crl", tmpdir, name);
	assert_non_null(f = fopen(path, "wb"));
	*rc = crl_write(&p, gen_next, gen_rewind, g, f, e);
	assert_int_equal(fclose(f), 0);
	return path;
}

static gnutls_x509_crl_t
gnutls_crl_verified(struct ca *ca, const char *path)
{
	gnutls_x509_crl_t	crl;
	gnutls_datum_t		der;
	unsigned		status = 99;

	assert_int_equal(gnutls_load_file(path, &der), 0);
	assert_int_equal(gnutls_x509_crl_init(&crl), 0);
	assert_int_equal(gnutls_x509_crl_import(crl, &der, GNUTLS_X509_FMT_DER),
	    0);
	assert_int_equal(gnutls_x509_crl_verify(crl, &ca->crt, 1, 0, &status),
	    0);
	assert_int_equal(status, 0);
	gnutls_free(der.data);
	return crl;
}

static void
test_crl_empty_has_no_revoked_list_and_verifies(void **state)
{
	struct ca		 ca;
	struct gen		 g = { .n = 0, .at = 1700000000 };
	struct err		 e = { "" };
	gnutls_x509_crl_t	 crl;
	const char		*path;
	char			*txt;
	int			 rc;

	ca_make(&ca, GNUTLS_PK_ECDSA, 256, "ca-empty");
	path = crl_file(&ca, &g, 42, time(NULL), "empty", &e, &rc);
	assert_int_equal(rc, 0);
	txt = run("openssl crl -inform DER -in %s -CAfile %s -noout 2>&1",
	    path, ca.pem);
	assert_non_null(strstr(txt, "verify OK"));
	free(txt);
	txt = run("openssl crl -inform DER -in %s -noout -text", path);
	assert_non_null(strstr(txt, "Version 2 (0x1)"));
	assert_non_null(strstr(txt, "Signature Algorithm: ecdsa-with-SHA256"));
	assert_non_null(strstr(txt, "Issuer: O = Example, CN = Signet Test CA"));
	assert_non_null(strstr(txt, "X509v3 CRL Number: \n                42"));
	assert_non_null(strstr(txt, "X509v3 Authority Key Identifier"));
	assert_non_null(strstr(txt, "No Revoked Certificates."));
	free(txt);
	/* RFC 5280 5.1.2.6: absent, not an empty SEQUENCE */
	txt = run("openssl asn1parse -inform DER -in %s | grep -A1 "
	    "'d=2.*UTCTIME' | tail -1", path);
	assert_non_null(strstr(txt, "d=2  hl=2 l=  47 cons: cont [ 0 ]"));
	free(txt);
	crl = gnutls_crl_verified(&ca, path);
	assert_int_equal(gnutls_x509_crl_get_crt_count(crl), 0);
	gnutls_x509_crl_deinit(crl);
	ca_free(&ca);
}

static void
test_crl_aki_equals_ca_ski(void **state)
{
	struct ca	 ca;
	struct gen	 g = { .n = 1, .at = 1700000000 };
	struct err	 e = { "" };
	const char	*path;
	char		*aki, *ski;
	int		 rc;

	ca_make(&ca, GNUTLS_PK_ECDSA, 256, "ca-aki");
	path = crl_file(&ca, &g, 1, time(NULL), "aki", &e, &rc);
	assert_int_equal(rc, 0);
	aki = run("openssl crl -inform DER -in %s -noout -text | "
	    "grep -A1 'Authority Key Identifier' | tail -1 | "
	    "sed 's/ *\\(keyid:\\)\\?//'", path);
	ski = run("openssl x509 -in %s -noout -ext subjectKeyIdentifier | "
	    "tail -1 | sed 's/ *//'", ca.pem);
	assert_true(strlen(ski) > 20);
	assert_string_equal(aki, ski);
	free(aki);
	free(ski);
	ca_free(&ca);
}

static void
test_crl_one_entry_gnutls_reads_serial_and_date(void **state)
{
	struct ca		 ca;
	struct gen		 g = { .n = 1, .at = 1700000000 };
	struct err		 e = { "" };
	gnutls_x509_crl_t	 crl;
	unsigned char		 sn[32];
	size_t			 snlen = sizeof(sn);
	time_t			 t = 0;
	const char		*path;
	int			 rc;

	ca_make(&ca, GNUTLS_PK_ECDSA, 256, "ca-one");
	path = crl_file(&ca, &g, 7, time(NULL), "one", &e, &rc);
	assert_int_equal(rc, 0);
	crl = gnutls_crl_verified(&ca, path);
	assert_int_equal(gnutls_x509_crl_get_crt_count(crl), 1);
	assert_int_equal(gnutls_x509_crl_get_crt_serial(crl, 0, sn, &snlen, &t),
	    0);
	assert_int_equal(snlen, 9);
	assert_memory_equal(sn, "\x7e\0\0\0\0\0\0\0\0", 9);
	assert_int_equal(t, 1700000000);
	gnutls_x509_crl_deinit(crl);
	ca_free(&ca);
}

static void
test_crl_reason_codes_survive_openssl(void **state)
{
	struct ca		 ca;
	struct gen		 g = { .n = 3, .at = 1700000000,
				     .reasons = { 1, 4, 0 }, .nreasons = 3 };
	struct err		 e = { "" };
	gnutls_x509_crl_t	 crl;
	const char		*path;
	char			*txt, *s0, *s1, *s2;
	int			 rc;

	ca_make(&ca, GNUTLS_PK_ECDSA, 256, "ca-three");
	path = crl_file(&ca, &g, 3, time(NULL), "three", &e, &rc);
	assert_int_equal(rc, 0);
	txt = run("openssl crl -inform DER -in %s -CAfile %s -noout 2>&1",
	    path, ca.pem);
	assert_non_null(strstr(txt, "verify OK"));
	free(txt);
	txt = run("openssl crl -inform DER -in %s -noout -text", path);
	assert_non_null(s0 = strstr(txt, "Serial Number: 7E0000000000000000"));
	assert_non_null(s1 = strstr(txt, "Serial Number: 7E0000000000000001"));
	assert_non_null(s2 = strstr(txt, "Serial Number: 7E0000000000000002"));
	assert_true(s0 < s1 && s1 < s2);
	/* serial 0: keyCompromise; serial 1: superseded; serial 2: none,
	 * since unspecified is written as no reasonCode (RFC 5280 5.3.1) */
	s1[-1] = s2[-1] = '\0';
	assert_non_null(strstr(s0, "Key Compromise"));
	assert_null(strstr(s0, "Superseded"));
	assert_non_null(strstr(s1, "Superseded"));
	assert_null(strstr(s2, "CRL Reason Code"));
	assert_non_null(strstr(s0, "Revocation Date: Nov 14 22:13:20 2023 GMT"));
	free(txt);
	crl = gnutls_crl_verified(&ca, path);
	assert_int_equal(gnutls_x509_crl_get_crt_count(crl), 3);
	gnutls_x509_crl_deinit(crl);
	ca_free(&ca);
}

static void
test_crl_100k_mixed_reasons_verify_in_openssl(void **state)
{
	struct ca	 ca;
	struct gen	 g = { .n = 100000, .at = 1700000000,
			     .reasons = { -1, 1, 4, 5, 0, 3, 9, 2 },
			     .nreasons = 8 };
	struct err	 e = { "" };
	const char	*path;
	char		*txt;
	int		 rc;

	ca_make(&ca, GNUTLS_PK_RSA, 2048, "ca-100k");
	path = crl_file(&ca, &g, 100000, time(NULL), "big", &e, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(g.runs, 2);
	txt = run("openssl crl -inform DER -in %s -CAfile %s -noout 2>&1",
	    path, ca.pem);
	assert_non_null(strstr(txt, "verify OK"));
	free(txt);
	txt = run("openssl crl -inform DER -in %s -noout -text > %s/big.txt; "
	    "grep -c 'Serial Number:' %s/big.txt; "
	    "grep -c 'Key Compromise' %s/big.txt; "
	    "grep -c 'Superseded' %s/big.txt; "
	    "grep -c 'CRL Reason Code' %s/big.txt; "
	    "grep -A4 'Serial Number: 7E000000000001869F' %s/big.txt | "
	    "grep -c 'CA Compromise'; "
	    "grep -c 'sha256WithRSAEncryption' %s/big.txt",
	    path, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
	/* 100000 entries; reasons cycle over 8 slots, 6 carry a code */
	assert_string_equal(txt, "100000\n12500\n12500\n75000\n1\n2\n");
	free(txt);
	ca_free(&ca);
}

static void
test_crl_signature_algorithm_follows_key(void **state)
{
	struct ca	 ca;
	struct gen	 g = { .n = 2, .at = 1700000000 };
	struct err	 e = { "" };
	const char	*path;
	char		*txt;
	int		 rc;

	ca_make(&ca, GNUTLS_PK_ECDSA, 384, "ca-p384");
	path = crl_file(&ca, &g, 5, time(NULL), "p384", &e, &rc);
	assert_int_equal(rc, 0);
	txt = run("openssl crl -inform DER -in %s -CAfile %s -noout -text 2>&1",
	    path, ca.pem);
	assert_non_null(strstr(txt, "verify OK"));
	assert_non_null(strstr(txt, "Signature Algorithm: ecdsa-with-SHA384"));
	free(txt);
	gnutls_x509_crl_deinit(gnutls_crl_verified(&ca, path));
	ca_free(&ca);

	ca_make(&ca, GNUTLS_PK_RSA, 2048, "ca-rsa");
	path = crl_file(&ca, &g, 5, time(NULL), "rsa", &e, &rc);
	assert_int_equal(rc, 0);
	txt = run("openssl crl -inform DER -in %s -CAfile %s -noout -text 2>&1",
	    path, ca.pem);
	assert_non_null(strstr(txt, "verify OK"));
	assert_non_null(strstr(txt, "Signature Algorithm: sha256WithRSAEncryption"));
	free(txt);
	gnutls_x509_crl_deinit(gnutls_crl_verified(&ca, path));
	ca_free(&ca);
}

static void
test_crl_dates_switch_to_generalizedtime_in_2050(void **state)
{
	struct ca	 ca;
	struct gen	 g = { .n = 1, .at = 2524608000 /* 2050-01-01 */ };
	struct err	 e = { "" };
	const char	*path;
	char		*txt;
	int		 rc;

	ca_make(&ca, GNUTLS_PK_ECDSA, 256, "ca-2050");
	/* thisUpdate 2049-12-31 23:00 UTC, nextUpdate a week later */
	path = crl_file(&ca, &g, 9, 2524604400, "y2050", &e, &rc);
	assert_int_equal(rc, 0);
	txt = run("openssl asn1parse -inform DER -in %s | "
	    "grep -o 'UTCTIME.*\\|GENERALIZEDTIME.*'", path);
	/* RFC 5280 5.1.2.4: UTCTime through 2049, then GeneralizedTime */
	assert_string_equal(txt, "UTCTIME           :491231230000Z\n"
	    "GENERALIZEDTIME   :20500107230000Z\n"
	    "GENERALIZEDTIME   :20500101000000Z\n");
	free(txt);
	ca_free(&ca);
}

/* Outer content length of a CRL file, and the size of its signature
 * BIT STRING TLV. */
static void
crl_sizes(const char *path, size_t *content, size_t *sig_tlv)
{
	gnutls_datum_t	der;
	size_t		hdr, tbs;

	assert_int_equal(gnutls_load_file(path, &der), 0);
	assert_true(der.data[1] == 0x82 || der.data[1] == 0x83);
	hdr = der.data[1] == 0x82 ? 4 : 5;
	*content = der.size - hdr;
	assert_int_equal(der.data[hdr + 1], 0x82);
	tbs = 4 + (der.data[hdr + 2] << 8 | der.data[hdr + 3]);
	*sig_tlv = *content - tbs - 12;		/* ecdsa AlgorithmIdentifier */
	gnutls_free(der.data);
}

/* The outer length is fixed before the ECDSA signature's size is known;
 * around 65536 octets its own size changes (X.690 8.1.3.5), and the CRL is
 * then written again. Every such CRL must still verify. */
static void
test_crl_outer_length_right_at_encoding_boundary(void **state)
{
	struct ca		 ca;
	struct gen		 g = { .n = 2330, .at = 1700000000 };
	struct err		 e = { "" };
	gnutls_x509_crl_t	 crl;
	const char		*path;
	char			 name[32], *txt;
	size_t			 content, sig_tlv, guess0;
	int			 rc, j, rewritten = 0;

	ca_make(&ca, GNUTLS_PK_ECDSA, 256, "ca-edge");
	path = crl_file(&ca, &g, 1, time(NULL), "edge", &e, &rc);
	assert_int_equal(rc, 0);
	crl_sizes(path, &content, &sig_tlv);
	/* the writer's guess: the largest P-256 signature, 75 octets */
	guess0 = content - sig_tlv + 75;
	assert_true(guess0 < 65536 && 65536 - guess0 < 200);
	for (j = -3; j < 15; j++) {
		g.pad = 65536 - guess0 + (j < 4 ? j : 0);
		g.runs = 0;
		snprintf(name, sizeof(name), "edge%d", j);
		path = crl_file(&ca, &g, 1, time(NULL), name, &e, &rc);
		assert_int_equal(rc, 0);
		rewritten += g.runs == 3;
		crl = gnutls_crl_verified(&ca, path);
		assert_int_equal(gnutls_x509_crl_get_crt_count(crl), g.n);
		gnutls_x509_crl_deinit(crl);
		txt = run("openssl crl -inform DER -in %s -CAfile %s -noout "
		    "2>&1", path, ca.pem);
		assert_non_null(strstr(txt, "verify OK"));
		free(txt);
	}
	/* a P-256 signature is shorter than its maximum 3 times in 4 */
	assert_true(rewritten > 0);
	ca_free(&ca);
}

static void
test_crl_refuses_bad_entries_and_dates(void **state)
{
	struct ca	 ca;
	struct gen	 g = { .n = 5, .at = 1700000000, .reasons = { 1, 6 },
			     .nreasons = 2 };
	struct err	 e = { "" };
	int		 rc;

	ca_make(&ca, GNUTLS_PK_ECDSA, 256, "ca-bad");
	crl_file(&ca, &g, 1, time(NULL), "hold", &e, &rc);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(e.msg, "revoked entry 2"));
	assert_non_null(strstr(e.msg, "CRL reason 6 is not allowed"));

	g.reasons[1] = 8;		/* removeFromCRL: delta CRLs only */
	crl_file(&ca, &g, 1, time(NULL), "remove", &e, &rc);
	assert_int_equal(rc, -1);

	g.nreasons = 0;
	g.drift = 1;			/* one more entry on the second run */
	g.runs = 0;
	crl_file(&ca, &g, 1, time(NULL), "drift", &e, &rc);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(e.msg, "changed while the CRL was written"));

	{
		struct crl_params	p = { ca.crt, ca.key, 1, 1000, 1000 };
		FILE			*f = tmpfile();

		g.drift = 0;
		assert_int_equal(crl_write(&p, gen_next, gen_rewind, &g, f,
		    &e), -1);
		assert_non_null(strstr(e.msg, "nextUpdate must be later"));
		fclose(f);
	}
	assert_int_equal(crl_reason_check(7, &e), -1);
	assert_int_equal(crl_reason_check(10, &e), 0);
	ca_free(&ca);
}

static int
overlong_next(void *arg, struct crl_entry *ent, struct err *e)
{
	static const uint8_t	sn[21] = { 0x80 };
	int			*done = arg;

	if ((*done)++)
		return 0;
	ent->serial = sn;
	ent->serial_len = 20;	/* 0x80... needs a 21st octet */
	ent->revoked_at = 1700000000;
	ent->reason = -1;
	return 1;
}

static int
overlong_rewind(void *arg, struct err *e)
{
	*(int *)arg = 0;
	return 0;
}

static void
test_crl_refuses_serial_over_20_octets(void **state)
{
	struct ca		 ca;
	struct err		 e = { "" };
	struct crl_params	 p;
	FILE			*f;
	int			 done = 0;

	ca_make(&ca, GNUTLS_PK_ECDSA, 256, "ca-long");
	p = (struct crl_params){ ca.crt, ca.key, 1, 1700000000, 1700086400 };
	assert_non_null(f = tmpfile());
	assert_int_equal(crl_write(&p, overlong_next, overlong_rewind, &done,
	    f, &e), -1);
	assert_non_null(strstr(e.msg, "1 to 20 octets"));
	fclose(f);
	ca_free(&ca);
}

static int
setup(void **state)
{
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return getenv("KEEP") ? 0 : (system(cmd) == 0 ? 0 : -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crl_empty_has_no_revoked_list_and_verifies),
		cmocka_unit_test(test_crl_aki_equals_ca_ski),
		cmocka_unit_test(test_crl_one_entry_gnutls_reads_serial_and_date),
		cmocka_unit_test(test_crl_reason_codes_survive_openssl),
		cmocka_unit_test(test_crl_100k_mixed_reasons_verify_in_openssl),
		cmocka_unit_test(test_crl_signature_algorithm_follows_key),
		cmocka_unit_test(test_crl_dates_switch_to_generalizedtime_in_2050),
		cmocka_unit_test(test_crl_outer_length_right_at_encoding_boundary),
		cmocka_unit_test(test_crl_refuses_bad_entries_and_dates),
		cmocka_unit_test(test_crl_refuses_serial_over_20_octets),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
