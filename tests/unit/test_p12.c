/*
 * p12: PKCS#12 files as three independent readers see them -- openssl,
 * NSS's pk12util and GnuPG's gpgsm.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testlib.h"

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "cacert.h"
#include "p12.h"

#define PASSWORD	"Tr0ub4dor&3 p12"
#define FRIENDLY	"alice@example.org"

static char	tmpdir[64];

/* A test CA and an end-entity S/MIME certificate it issued. */
struct pki {
	gnutls_x509_privkey_t	ee_key;
	gnutls_datum_t		chain[2];	/* ee, CA; DER */
};

static gnutls_x509_privkey_t
make_key(gnutls_pk_algorithm_t alg, unsigned bits)
{
	gnutls_x509_privkey_t	x;

	assert_int_equal(gnutls_x509_privkey_init(&x), 0);
	assert_int_equal(gnutls_x509_privkey_generate(x, alg, bits, 0), 0);
	return x;
}

static void
pki_make(struct pki *p, gnutls_pk_algorithm_t alg, unsigned bits)
{
	gnutls_x509_privkey_t	cax = make_key(GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	gnutls_privkey_t	cakey;
	gnutls_x509_crt_t	ca, crt;
	struct err		e = { "" };
	unsigned char		serial[] = { 0x4a, 0x11, 0x2c, 0x05 };
	time_t			now = time(NULL);

	assert_int_equal(gnutls_privkey_init(&cakey), 0);
	assert_int_equal(gnutls_privkey_import_x509(cakey, cax,
	    GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE), 0);
	assert_int_equal(cacert_self_signed(cakey, "P12 Test CA", 30,
	    &p->chain[1], &e), 0);
	assert_int_equal(gnutls_x509_crt_init(&ca), 0);
	assert_int_equal(gnutls_x509_crt_import(ca, &p->chain[1],
	    GNUTLS_X509_FMT_DER), 0);

	p->ee_key = make_key(alg, bits);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(crt, serial,
	    sizeof(serial)), 0);
	assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, "Alice", 5), 0);
	assert_int_equal(gnutls_x509_crt_set_subject_alt_name(crt,
	    GNUTLS_SAN_RFC822NAME, FRIENDLY, strlen(FRIENDLY),
	    GNUTLS_FSAN_SET), 0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, p->ee_key), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 60),
	    0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt,
	    now + 30 * 86400), 0);
	assert_int_equal(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), 0);
	assert_int_equal(gnutls_x509_crt_set_key_usage(crt,
	    GNUTLS_KEY_DIGITAL_SIGNATURE | (alg == GNUTLS_PK_RSA ?
	    GNUTLS_KEY_KEY_ENCIPHERMENT : GNUTLS_KEY_KEY_AGREEMENT)), 0);
	assert_int_equal(gnutls_x509_crt_set_key_purpose_oid(crt,
	    GNUTLS_KP_EMAIL_PROTECTION, 0), 0);
	assert_int_equal(gnutls_x509_crt_privkey_sign(crt, ca, cakey,
	    GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER,
	    &p->chain[0]), 0);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	gnutls_privkey_deinit(cakey);
}

static void
pki_free(struct pki *p)
{
	gnutls_x509_privkey_deinit(p->ee_key);
	gnutls_free(p->chain[0].data);
	gnutls_free(p->chain[1].data);
}

/* Builds the PKCS#12 into tmpdir/name; returns its path. */
static const char *
build(struct pki *p, enum p12_format fmt, const char *name)
{
	static char	path[256];
	gnutls_datum_t	out;
	struct err	e = { "" };

	if (p12_build(p->ee_key, p->chain, 2, PASSWORD, fmt, FRIENDLY, &out,
	    &e) != 0)
		fail_msg("p12_build: %s", e.msg);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	write_file(path, out.data, out.size);
	gnutls_free(out.data);
	return path;
}

static int
setup(void **state)
{
	char	path[128];
	FILE	*f;

	strcpy(tmpdir, "/tmp/test_p12.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* The password reaches the tools through a file, never argv. */
	snprintf(path, sizeof(path), "%s/pass", tmpdir);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(PASSWORD "\n", f);
	return fclose(f);
}

static int
teardown(void **state)
{
	char	cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * What openssl reads: the encryption and MAC named, friendlyName and
 * localKeyID on the key and the end-entity certificate only, and a key
 * that matches the certificate.
 */
static void
assert_openssl_reads(const char *p12, const char *pbe, const char *mac)
{
	char	*out, *pub_key, *pub_crt, want[128];

	assert_int_equal(run(&out, "openssl pkcs12 -info -nokeys -in %s "
	    "-passin file:%s/pass", p12, tmpdir), 0);
	assert_non_null(strstr(out, mac));
	snprintf(want, sizeof(want), "PKCS7 Encrypted data: %s", pbe);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "Shrouded Keybag: %s", pbe);
	assert_non_null(strstr(out, want));
	free(out);

	/* Certificates: the end-entity one is paired, the CA one is not. */
	assert_int_equal(run(&out, "openssl pkcs12 -nokeys -clcerts -in %s "
	    "-passin file:%s/pass 2>/dev/null", p12, tmpdir), 0);
	assert_non_null(strstr(out, "friendlyName: " FRIENDLY));
	assert_non_null(strstr(out, "localKeyID:"));
	assert_non_null(strstr(out, "subject=CN = Alice"));
	assert_null(strstr(out, "subject=CN = P12 Test CA"));
	free(out);
	assert_int_equal(run(&out, "openssl pkcs12 -nokeys -cacerts -in %s "
	    "-passin file:%s/pass 2>/dev/null", p12, tmpdir), 0);
	assert_non_null(strstr(out, "Bag Attributes: <No Attributes>"));
	assert_non_null(strstr(out, "subject=CN = P12 Test CA"));
	free(out);
	assert_int_equal(run(&out, "openssl pkcs12 -nocerts -nodes -in %s "
	    "-passin file:%s/pass 2>/dev/null", p12, tmpdir), 0);
	assert_non_null(strstr(out, "friendlyName: " FRIENDLY));
	free(out);

	/* The key inside matches the certificate inside. */
	assert_int_equal(run(&pub_key, "openssl pkcs12 -nocerts -nodes -in %s "
	    "-passin file:%s/pass 2>/dev/null | openssl pkey -pubout", p12,
	    tmpdir), 0);
	assert_int_equal(run(&pub_crt, "openssl pkcs12 -nokeys -clcerts -in %s "
	    "-passin file:%s/pass 2>/dev/null | openssl x509 -noout -pubkey",
	    p12, tmpdir), 0);
	assert_non_null(strstr(pub_key, "-----BEGIN PUBLIC KEY-----"));
	assert_string_equal(pub_key, pub_crt);
	free(pub_key);
	free(pub_crt);

	/* A wrong password fails the MAC. */
	assert_int_not_equal(run(&out, "echo wrong | openssl pkcs12 -info "
	    "-nokeys -in %s -passin stdin", p12), 0);
	assert_non_null(strstr(out, "Mac verify error"));
	free(out);
}

/* NSS imports it and pairs the key with the certificate ("u,u,u"). */
static void
assert_nss_imports(const char *p12, const char *dbname)
{
	char	*out;

	assert_int_equal(run(&out, "mkdir %s/%s && certutil -N "
	    "--empty-password -d sql:%s/%s", tmpdir, dbname, tmpdir, dbname),
	    0);
	free(out);
	assert_int_equal(run(&out, "pk12util -i %s -d sql:%s/%s -w %s/pass",
	    p12, tmpdir, dbname, tmpdir), 0);
	assert_non_null(strstr(out, "PKCS12 IMPORT SUCCESSFUL"));
	free(out);
	assert_int_equal(run(&out, "certutil -K -d sql:%s/%s", tmpdir,
	    dbname), 0);
	assert_non_null(strstr(out, FRIENDLY));
	free(out);
	assert_int_equal(run(&out, "certutil -L -d sql:%s/%s", tmpdir,
	    dbname), 0);
	assert_non_null(strstr(out, FRIENDLY));
	assert_non_null(strstr(out, "u,u,u"));
	free(out);
}

static void
test_p12_modern_is_aes256_sha256_and_reads_in_openssl_and_nss(void **state)
{
	struct pki	 p;
	const char	*path;

	pki_make(&p, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	path = build(&p, P12_MODERN, "modern.p12");
	assert_openssl_reads(path, "PBES2, PBKDF2, AES-256-CBC",
	    "MAC: sha256");
	assert_nss_imports(path, "nss-modern");
	pki_free(&p);
}

static void
test_p12_compatible_is_3des_sha1_and_reads_in_openssl_and_nss(void **state)
{
	struct pki	 p;
	const char	*path;

	pki_make(&p, GNUTLS_PK_RSA, 2048);
	path = build(&p, P12_COMPATIBLE, "compatible.p12");
	assert_openssl_reads(path, "pbeWithSHA1And3-KeyTripleDES-CBC",
	    "MAC: sha1");
	assert_nss_imports(path, "nss-compatible");
	pki_free(&p);
}

/*
 * gpgsm 2.2 reads only the compatible format (DESIGN.md pitfalls); with
 * an RSA key it imports the certificate and the secret key.
 */
static void
test_p12_compatible_rsa_imports_into_gpgsm(void **state)
{
	struct pki	 p;
	const char	*path;
	char		*out;
	int		 rc;

	pki_make(&p, GNUTLS_PK_RSA, 2048);
	path = build(&p, P12_COMPATIBLE, "gpgsm.p12");
	assert_int_equal(run(&out, "mkdir -m 700 %s/gnupg && echo "
	    "allow-loopback-pinentry > %s/gnupg/gpg-agent.conf", tmpdir,
	    tmpdir), 0);
	free(out);
	rc = run(&out, "GNUPGHOME=%s/gnupg timeout 120 gpgsm --batch "
	    "--pinentry-mode loopback --passphrase-fd 0 --import %s "
	    "< %s/pass", tmpdir, path, tmpdir);
	if (rc != 0 || strstr(out, "secret keys imported: 1") == NULL)
		fail_msg("gpgsm --import (%d): %s", rc, out);
	free(out);
	assert_int_equal(run(&out, "GNUPGHOME=%s/gnupg gpgsm "
	    "--list-secret-keys", tmpdir), 0);
	assert_non_null(strstr(out, "Subject: /CN=Alice"));
	assert_non_null(strstr(out, "aka: " FRIENDLY));
	free(out);
	run(NULL, "GNUPGHOME=%s/gnupg gpgconf --kill gpg-agent", tmpdir);
	pki_free(&p);
}

static void
test_p12_refuses_wrong_key_and_empty_password(void **state)
{
	struct pki		p;
	gnutls_x509_privkey_t	other;
	gnutls_datum_t		out = { NULL, 0 };
	struct err		e = { "" };
	enum p12_format		f;

	pki_make(&p, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	other = make_key(GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	assert_int_equal(p12_build(other, p.chain, 2, PASSWORD, P12_MODERN,
	    FRIENDLY, &out, &e), -1);
	assert_string_equal(e.msg,
	    "the private key does not match the certificate");
	assert_null(out.data);
	/* The CA certificate is not the end-entity one either. */
	assert_int_equal(p12_build(p.ee_key, p.chain + 1, 1, PASSWORD,
	    P12_MODERN, FRIENDLY, &out, &e), -1);
	assert_non_null(strstr(e.msg, "does not match"));
	assert_int_equal(p12_build(p.ee_key, p.chain, 2, "", P12_MODERN,
	    FRIENDLY, &out, &e), -1);
	assert_non_null(strstr(e.msg, "needs a password"));
	assert_int_equal(p12_build(p.ee_key, p.chain, 2, NULL,
	    P12_COMPATIBLE, FRIENDLY, &out, &e), -1);
	assert_null(out.data);

	assert_int_equal(p12_format_parse("modern", &f, &e), 0);
	assert_int_equal(f, P12_MODERN);
	assert_int_equal(p12_format_parse("compatible", &f, &e), 0);
	assert_int_equal(f, P12_COMPATIBLE);
	assert_int_equal(p12_format_parse("legacy", &f, &e), -1);
	assert_non_null(strstr(e.msg, "use modern or compatible"));

	gnutls_x509_privkey_deinit(other);
	pki_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_p12_modern_is_aes256_sha256_and_reads_in_openssl_and_nss),
		cmocka_unit_test(
		    test_p12_compatible_is_3des_sha1_and_reads_in_openssl_and_nss),
		cmocka_unit_test(test_p12_compatible_rsa_imports_into_gpgsm),
		cmocka_unit_test(test_p12_refuses_wrong_key_and_empty_password),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
