/*
 * p7 certs-only (RFC 5652 5.1, RFC 8551 3.2.2), checked by openssl and by
 * GnuTLS's own PKCS#7 parser.
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
#include <gnutls/pkcs7.h>
#include <gnutls/x509.h>

#include "p7.h"

static char	tmpdir[] = "/tmp/signet-p7-XXXXXX";

/* A self-signed certificate with subject CN=<cn>. */
static gnutls_datum_t
make_cert(const char *cn, unsigned serial)
{
	gnutls_x509_privkey_t	key;
	gnutls_x509_crt_t	crt;
	gnutls_datum_t		der;
	unsigned char		sn[2] = { 0x10, (unsigned char)serial };
	time_t			now = time(NULL);

	assert_int_equal(gnutls_x509_privkey_init(&key), 0);
	assert_int_equal(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(crt, sn, sizeof(sn)), 0);
	assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)), 0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 60), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt,
	    now + 86400), 0);
	assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key,
	    GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER,
	    &der), 0);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return der;
}

static char *
write_file(const char *name, const gnutls_datum_t *d)
{
	static char	path[256];
	FILE		*f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(d->data, 1, d->size, f), d->size);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Runs cmd and returns its stdout (malloc'd), asserting exit status 0. */
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
	while ((r = fread(buf + len, 1, cap - 1 - len, p)) > 0)
		len += r;
	buf[len] = '\0';
	assert_int_equal(pclose(p), 0);
	return buf;
}

static void
test_p7_certs_only_lists_every_cert_in_openssl(void **state)
{
	gnutls_datum_t	 certs[3], out = { NULL, 0 };
	const char	*cns[3] = { "Alice Example", "Bob Example",
			    "carol@example.org" };
	struct err	 e = { "" };
	char		*path, *txt;
	size_t		 i;

	for (i = 0; i < 3; i++)
		certs[i] = make_cert(cns[i], i);
	assert_int_equal(p7_certs_only(certs, 3, &out, &e), 0);
	path = write_file("three.p7b", &out);

	txt = run("openssl pkcs7 -inform DER -in %s -print_certs -noout", path);
	for (i = 0; i < 3; i++) {
		char	want[128];

		snprintf(want, sizeof(want), "subject=CN = %s", cns[i]);
		assert_non_null(strstr(txt, want));
	}
	free(txt);

	txt = run("openssl asn1parse -inform DER -in %s", path);
	assert_non_null(strstr(txt, ":pkcs7-signedData"));
	assert_non_null(strstr(txt, ":pkcs7-data"));
	/* RFC 8551 3.2.2: no content, no signers; no digestedData label. */
	assert_null(strstr(txt, "pkcs7-digestData"));
	assert_null(strstr(txt, "OCTET STRING"));
	free(txt);

	for (i = 0; i < 3; i++)
		gnutls_free(certs[i].data);
	gnutls_free(out.data);
}

static void
test_p7_certs_only_structure_is_rfc5652_version1_empty_sets(void **state)
{
	gnutls_datum_t	 cert = make_cert("Dave", 9), out = { NULL, 0 };
	struct err	 e = { "" };
	char		*txt, *path;

	assert_int_equal(p7_certs_only(&cert, 1, &out, &e), 0);
	path = write_file("one.p7b", &out);
	/* ContentInfo -> [0] -> SignedData: version 1, SET {} digestAlgs,
	 * SEQUENCE { id-data }, [0] certificates, SET {} signerInfos. */
	txt = run("openssl asn1parse -inform DER -in %s -i | "
	    "awk '$0 ~ /d=(2|3|4)/' | sed 's/^.*d=//'", path);
	assert_non_null(strstr(txt, "INTEGER           :01"));
	assert_non_null(strstr(txt, "SET"));
	assert_non_null(strstr(txt, "cont [ 0 ]"));
	free(txt);
	txt = run("openssl cms -cmsout -print -inform DER -in %s", path);
	assert_non_null(strstr(txt, "version: 1"));
	assert_non_null(strstr(txt, "digestAlgorithms:\n      <EMPTY>"));
	assert_non_null(strstr(txt, "eContentType: pkcs7-data"));
	assert_non_null(strstr(txt, "eContent: <ABSENT>"));
	assert_non_null(strstr(txt, "signerInfos:\n      <EMPTY>"));
	assert_non_null(strstr(txt, "crls:\n      <ABSENT>"));
	free(txt);
	gnutls_free(cert.data);
	gnutls_free(out.data);
}

static void
test_p7_certs_only_gnutls_counts_and_returns_same_certs(void **state)
{
	gnutls_datum_t	 certs[4], out = { NULL, 0 }, got;
	gnutls_pkcs7_t	 p7;
	struct err	 e = { "" };
	size_t		 i, j;
	int		 found;

	for (i = 0; i < 4; i++)
		certs[i] = make_cert("Count Me", i);
	assert_int_equal(p7_certs_only(certs, 4, &out, &e), 0);
	assert_int_equal(gnutls_pkcs7_init(&p7), 0);
	assert_int_equal(gnutls_pkcs7_import(p7, &out, GNUTLS_X509_FMT_DER), 0);
	assert_int_equal(gnutls_pkcs7_get_crt_count(p7), 4);
	assert_int_equal(gnutls_pkcs7_get_signature_count(p7), 0);
	for (j = 0; j < 4; j++) {
		assert_int_equal(gnutls_pkcs7_get_crt_raw2(p7, j, &got), 0);
		found = 0;
		for (i = 0; i < 4; i++)
			found |= got.size == certs[i].size &&
			    memcmp(got.data, certs[i].data, got.size) == 0;
		assert_true(found);
		gnutls_free(got.data);
	}
	gnutls_pkcs7_deinit(p7);
	for (i = 0; i < 4; i++)
		gnutls_free(certs[i].data);
	gnutls_free(out.data);
}

static void
test_p7_certs_only_nss_cmsutil_decodes(void **state)
{
	gnutls_datum_t	 cert = make_cert("Nss Reader", 3), out = { NULL, 0 };
	struct err	 e = { "" };
	char		*path, *txt;

	if (system("command -v cmsutil >/dev/null 2>&1") != 0)
		skip();
	assert_int_equal(p7_certs_only(&cert, 1, &out, &e), 0);
	path = write_file("nss.p7b", &out);
	/* NSS then tries to verify the (self-signed, non-CA) test cert as an
	 * email signer and says so; what matters is how it decoded. */
	txt = run("mkdir -p %s/nssdb && certutil -N -d %s/nssdb "
	    "--empty-password && cmsutil -D -d %s/nssdb -i %s -n -h 2 2>&1; "
	    "true", tmpdir, tmpdir, tmpdir, path);
	assert_non_null(strstr(txt, "type=signedData; nsigners=0"));
	free(txt);
	gnutls_free(cert.data);
	gnutls_free(out.data);
}

static void
test_p7_certs_only_refuses_non_der_certificate(void **state)
{
	uint8_t		junk[] = { 0x04, 0x02, 0xaa, 0xbb };
	uint8_t		trailing[] = { 0x30, 0x00, 0x00 };
	gnutls_datum_t	c = { junk, sizeof(junk) }, out = { NULL, 0 };
	struct err	e = { "" };

	assert_int_equal(p7_certs_only(&c, 1, &out, &e), -1);
	assert_non_null(strstr(e.msg, "certificate 1 is not a DER SEQUENCE"));
	assert_null(out.data);
	c.data = trailing;
	c.size = sizeof(trailing);
	assert_int_equal(p7_certs_only(&c, 1, &out, &e), -1);
	assert_null(out.data);
}

static int
setup(void **state)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
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
		cmocka_unit_test(test_p7_certs_only_lists_every_cert_in_openssl),
		cmocka_unit_test(test_p7_certs_only_structure_is_rfc5652_version1_empty_sets),
		cmocka_unit_test(test_p7_certs_only_gnutls_counts_and_returns_same_certs),
		cmocka_unit_test(test_p7_certs_only_nss_cmsutil_decodes),
		cmocka_unit_test(test_p7_certs_only_refuses_non_der_certificate),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
