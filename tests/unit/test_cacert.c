/*
 * cacert: the root certificate profile as GnuTLS and openssl read it, the
 * subordinate CA request, and the checks before a CA certificate is
 * installed.
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
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "cacert.h"

static char	tmpdir[64];

/* Writes der as PEM CERTIFICATE to tmpdir/name; returns the path. */
static const char *
write_cert_pem(const char *name, const gnutls_datum_t *der)
{
	static char	path[4][256];
	static int	slot;
	gnutls_datum_t	pem;
	char		*p = path[slot++ % 4];

	assert_int_equal(gnutls_pem_base64_encode2("CERTIFICATE", der, &pem),
	    0);
	snprintf(p, 256, "%s/%s", tmpdir, name);
	write_file(p, pem.data, pem.size);
	gnutls_free(pem.data);
	return p;
}

static gnutls_privkey_t
make_key(gnutls_pk_algorithm_t alg, unsigned bits)
{
	gnutls_x509_privkey_t	x;
	gnutls_privkey_t	k;

	assert_int_equal(gnutls_x509_privkey_init(&x), 0);
	assert_int_equal(gnutls_x509_privkey_generate(x, alg, bits, 0), 0);
	assert_int_equal(gnutls_privkey_init(&k), 0);
	assert_int_equal(gnutls_privkey_import_x509(k, x,
	    GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE), 0);
	return k;
}

static int
setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_cacert.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_cacert_root_has_the_ca_profile(void **state)
{
	gnutls_privkey_t	 key = make_key(GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1));
	gnutls_datum_t		 der, dn;
	gnutls_x509_crt_t	 crt;
	struct err		 e = { "" };
	unsigned char		 serial[32], ski[64], aki[64];
	char			 hex[41];
	size_t			 len, skilen;
	unsigned int		 critical, ca, usage;
	int			 pathlen;
	char			 oid[128], *out;
	const char		*pem;

	assert_int_equal(cacert_self_signed(key, "Signet Test Root", 3650,
	    &der, &e), 0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_import(crt, &der,
	    GNUTLS_X509_FMT_DER), 0);

	/* RFC 5280 4.1.2.1 v3. */
	assert_int_equal(gnutls_x509_crt_get_version(crt), 3);
	/* RFC 5280 4.1.2.2: 16 random octets, positive. */
	len = sizeof(serial);
	assert_int_equal(gnutls_x509_crt_get_serial(crt, serial, &len), 0);
	assert_int_equal(len, 16);
	assert_int_equal(serial[0] & 0x80, 0);
	assert_int_not_equal(serial[0], 0);
	/* Subject = issuer = CN only. */
	assert_int_equal(gnutls_x509_crt_get_dn3(crt, &dn, 0), 0);
	assert_string_equal((char *)dn.data, "CN=Signet Test Root");
	gnutls_free(dn.data);
	assert_int_equal(gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0), 0);
	assert_string_equal((char *)dn.data, "CN=Signet Test Root");
	gnutls_free(dn.data);
	/* RFC 5280 4.2.1.9: critical cA=TRUE, no pathLenConstraint. */
	assert_true(gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca,
	    &pathlen) >= 0);
	assert_true(critical);
	assert_true(ca);
	assert_int_equal(pathlen, -1);
	/* RFC 5280 4.2.1.3: critical keyCertSign, cRLSign, digitalSignature. */
	assert_true(gnutls_x509_crt_get_key_usage(crt, &usage, &critical) >=
	    0);
	assert_true(critical);
	assert_int_equal(usage, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
	    GNUTLS_KEY_DIGITAL_SIGNATURE);
	/* SKI: RFC 5280 4.2.1.2 method 1, as openssl computes it below. */
	skilen = sizeof(ski);
	assert_int_equal(gnutls_x509_crt_get_subject_key_id(crt, ski, &skilen,
	    &critical), 0);
	assert_false(critical);
	assert_int_equal(skilen, 20);
	len = sizeof(aki);
	assert_int_equal(gnutls_x509_crt_get_authority_key_id(crt, aki, &len,
	    &critical), 0);
	assert_int_equal(len, 20);
	assert_memory_equal(aki, ski, 20);
	/* No EKU on the root. */
	len = sizeof(oid);
	assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 0, oid, &len,
	    NULL), GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	/* Validity of exactly `days`; SHA-384 for P-384. */
	assert_int_equal(gnutls_x509_crt_get_expiration_time(crt) -
	    gnutls_x509_crt_get_activation_time(crt), 3650L * 86400);
	assert_true(gnutls_x509_crt_get_activation_time(crt) <= time(NULL));
	assert_int_equal(gnutls_x509_crt_get_signature_algorithm(crt),
	    GNUTLS_SIGN_ECDSA_SHA384);

	/* What an administrator sees with openssl. */
	pem = write_cert_pem("root.pem", &der);
	assert_int_equal(run(&out, "openssl x509 -noout -text -in %s", pem),
	    0);
	assert_non_null(strstr(out, "X509v3 Basic Constraints: critical\n"
	    "                CA:TRUE\n"));
	assert_non_null(strstr(out, "X509v3 Key Usage: critical\n"
	    "                Digital Signature, Certificate Sign, CRL Sign\n"));
	assert_non_null(strstr(out, "Subject: CN = Signet Test Root"));
	assert_non_null(strstr(out, "Signature Algorithm: ecdsa-with-SHA384"));
	assert_null(strstr(out, "Extended Key Usage"));
	free(out);
	/*
	 * Method 1 is SHA-1 of the subjectPublicKey bits: for P-384 the
	 * last 97 octets of the SPKI (0x04 || X || Y).
	 */
	assert_int_equal(run(&out, "openssl x509 -noout -pubkey -in %s | "
	    "openssl pkey -pubin -outform DER | tail -c 97 | sha1sum", pem),
	    0);
	for (len = 0; len < 20; len++)
		snprintf(hex + 2 * len, 3, "%02x", ski[len]);
	assert_memory_equal(out, hex, 40);
	free(out);
	assert_int_equal(run(&out, "openssl verify -x509_strict -CAfile %s %s",
	    pem, pem), 0);
	assert_non_null(strstr(out, ": OK"));
	free(out);

	/* And it passes its own installation check, PEM or DER. */
	assert_int_equal(cacert_check_install(&der, key, 0, &e), 0);

	gnutls_x509_crt_deinit(crt);
	gnutls_free(der.data);
	gnutls_privkey_deinit(key);
}

static void
test_cacert_signature_hash_follows_key_size(void **state)
{
	struct {
		gnutls_pk_algorithm_t	alg;
		unsigned		bits;
		gnutls_sign_algorithm_t	sig;
	} cases[] = {
		{ GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
		    GNUTLS_SIGN_ECDSA_SHA256 },
		{ GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP521R1),
		    GNUTLS_SIGN_ECDSA_SHA512 },	/* S/MIME BR 7.1.3.2.2 */
		{ GNUTLS_PK_RSA, 2048, GNUTLS_SIGN_RSA_SHA256 },
		{ GNUTLS_PK_RSA, 3072, GNUTLS_SIGN_RSA_SHA384 },
	};
	gnutls_privkey_t	key;
	gnutls_datum_t		der, der2;
	gnutls_x509_crt_t	crt;
	struct err		e = { "" };
	unsigned char		s1[32], s2[32];
	size_t			l1 = sizeof(s1), l2 = sizeof(s2), i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		key = make_key(cases[i].alg, cases[i].bits);
		assert_int_equal(cacert_self_signed(key, "Root", 30, &der, &e),
		    0);
		assert_int_equal(gnutls_x509_crt_init(&crt), 0);
		assert_int_equal(gnutls_x509_crt_import(crt, &der,
		    GNUTLS_X509_FMT_DER), 0);
		assert_int_equal(gnutls_x509_crt_get_signature_algorithm(crt),
		    cases[i].sig);
		gnutls_x509_crt_deinit(crt);
		gnutls_free(der.data);
		gnutls_privkey_deinit(key);
	}

	/* Two roots never share a serial. */
	key = make_key(GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	assert_int_equal(cacert_self_signed(key, "Root", 30, &der, &e), 0);
	assert_int_equal(cacert_self_signed(key, "Root", 30, &der2, &e), 0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_import(crt, &der,
	    GNUTLS_X509_FMT_DER), 0);
	assert_int_equal(gnutls_x509_crt_get_serial(crt, s1, &l1), 0);
	gnutls_x509_crt_deinit(crt);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_import(crt, &der2,
	    GNUTLS_X509_FMT_DER), 0);
	assert_int_equal(gnutls_x509_crt_get_serial(crt, s2, &l2), 0);
	gnutls_x509_crt_deinit(crt);
	assert_int_equal(l1, l2);
	assert_memory_not_equal(s1, s2, l1);

	gnutls_free(der.data);
	gnutls_free(der2.data);

	/* Bad arguments get messages. */
	assert_int_equal(cacert_self_signed(key, "", 30, &der, &e), -1);
	assert_non_null(strstr(e.msg, "needs a name"));
	assert_int_equal(cacert_self_signed(key, "Root", 0, &der, &e), -1);
	assert_non_null(strstr(e.msg, "validity"));
	assert_null(der.data);
	gnutls_privkey_deinit(key);
}

enum sub_eku { SUB_EKU_FROM_CSR, SUB_EKU_NONE, SUB_EKU_ANY };

/*
 * What an outside root would do with Signet's request: issue a
 * subordinate CA certificate, built here with GnuTLS alone.
 */
static void
issue_sub(gnutls_privkey_t rkey, const gnutls_datum_t *rder,
    const gnutls_datum_t *csr, enum sub_eku eku, int ca, time_t notafter,
    gnutls_datum_t *out)
{
	gnutls_x509_crt_t	root, crt;
	gnutls_x509_crq_t	crq;
	gnutls_pubkey_t		pub;
	unsigned char		id[64], serial[] = { 0x12, 0x34, 0x56, 0x78 };
	size_t			len = sizeof(id);

	assert_int_equal(gnutls_x509_crt_init(&root), 0);
	assert_int_equal(gnutls_x509_crt_import(root, rder,
	    GNUTLS_X509_FMT_DER), 0);
	assert_int_equal(gnutls_x509_crq_init(&crq), 0);
	assert_int_equal(gnutls_x509_crq_import(crq, csr, GNUTLS_X509_FMT_PEM),
	    0);
	assert_int_equal(gnutls_x509_crq_verify(crq, 0), 0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_set_crq(crt, crq), 0);
	if (ca && eku == SUB_EKU_FROM_CSR)
		assert_int_equal(gnutls_x509_crt_set_crq_extensions(crt, crq),
		    0);
	else {
		assert_int_equal(gnutls_x509_crt_set_basic_constraints(crt, ca,
		    -1), 0);
		assert_int_equal(gnutls_x509_crt_set_key_usage(crt,
		    ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN :
		    GNUTLS_KEY_DIGITAL_SIGNATURE), 0);
		if (eku == SUB_EKU_ANY) {
			assert_int_equal(gnutls_x509_crt_set_key_purpose_oid(
			    crt, GNUTLS_KP_EMAIL_PROTECTION, 0), 0);
			assert_int_equal(gnutls_x509_crt_set_key_purpose_oid(
			    crt, GNUTLS_KP_ANY, 0), 0);
		} else if (eku == SUB_EKU_FROM_CSR)
			assert_int_equal(gnutls_x509_crt_set_key_purpose_oid(
			    crt, GNUTLS_KP_EMAIL_PROTECTION, 0), 0);
	}
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(crt, serial,
	    sizeof(serial)), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt,
	    notafter < time(NULL) ? notafter - 10 * 86400 : time(NULL) - 60),
	    0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, notafter),
	    0);
	assert_int_equal(gnutls_pubkey_init(&pub), 0);
	assert_int_equal(gnutls_pubkey_import_x509_crq(pub, crq, 0), 0);
	assert_int_equal(gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA1,
	    id, &len), 0);
	assert_int_equal(gnutls_x509_crt_set_subject_key_id(crt, id, len), 0);
	len = sizeof(id);
	assert_int_equal(gnutls_x509_crt_get_subject_key_id(root, id, &len,
	    NULL), 0);
	assert_int_equal(gnutls_x509_crt_set_authority_key_id(crt, id, len), 0);
	assert_int_equal(gnutls_x509_crt_privkey_sign(crt, root, rkey,
	    GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, out),
	    0);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crq_deinit(crq);
	gnutls_x509_crt_deinit(root);
}

static void
test_cacert_csr_requests_a_smime_sub_ca(void **state)
{
	gnutls_privkey_t	 key = make_key(GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1));
	gnutls_datum_t		 pem;
	struct err		 e = { "" };
	char			 path[256], *out;

	assert_int_equal(cacert_csr(key, "Signet Sub CA", &pem, &e), 0);
	snprintf(path, sizeof(path), "%s/sub.csr", tmpdir);
	write_file(path, pem.data, pem.size);
	assert_int_equal(run(&out, "openssl req -verify -noout -in %s", path),
	    0);
	assert_non_null(strstr(out, "verify OK"));
	free(out);
	assert_int_equal(run(&out, "openssl req -noout -text -in %s", path),
	    0);
	assert_non_null(strstr(out, "Subject: CN = Signet Sub CA"));
	assert_non_null(strstr(out, "Requested Extensions:"));
	assert_non_null(strstr(out, "X509v3 Basic Constraints: critical\n"
	    "                    CA:TRUE"));
	assert_non_null(strstr(out, "X509v3 Key Usage: critical\n"
	    "                    Digital Signature, Certificate Sign, CRL Sign"));
	assert_non_null(strstr(out, "X509v3 Extended Key Usage: \n"
	    "                    E-mail Protection\n"));
	assert_non_null(strstr(out, "ecdsa-with-SHA384"));
	free(out);
	gnutls_free(pem.data);
	gnutls_privkey_deinit(key);
}

static void
test_cacert_check_install_accepts_only_a_matching_smime_sub_ca(void **state)
{
	gnutls_privkey_t	 rkey = make_key(GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	gnutls_privkey_t	 skey = make_key(GNUTLS_PK_RSA, 3072);
	gnutls_privkey_t	 other = make_key(GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	gnutls_datum_t		 rder, csr, sub, pem;
	struct err		 e = { "" };
	const char		*rpath, *spath;
	char			*out;
	time_t			 later = time(NULL) + 365 * 86400;

	assert_int_equal(cacert_self_signed(rkey, "Outside Root", 3650, &rder,
	    &e), 0);
	assert_int_equal(cacert_csr(skey, "Signet Sub CA", &csr, &e), 0);

	/* Issued with the requested EKU emailProtection: accepted. */
	issue_sub(rkey, &rder, &csr, SUB_EKU_FROM_CSR, 1, later, &sub);
	if (cacert_check_install(&sub, skey, 1, &e) != 0)
		fail_msg("%s", e.msg);
	/* ... also as PEM, and openssl agrees the chain is sound. */
	assert_int_equal(gnutls_pem_base64_encode2("CERTIFICATE", &sub, &pem),
	    0);
	assert_int_equal(cacert_check_install(&pem, skey, 1, &e), 0);
	gnutls_free(pem.data);
	rpath = write_cert_pem("outside-root.pem", &rder);
	spath = write_cert_pem("sub.pem", &sub);
	assert_int_equal(run(&out, "openssl verify -x509_strict -purpose "
	    "smimesign -CAfile %s %s", rpath, spath), 0);
	assert_non_null(strstr(out, ": OK"));
	free(out);
	/* It is no root: installing it as one is refused. */
	assert_int_equal(cacert_check_install(&sub, skey, 0, &e), -1);
	assert_non_null(strstr(e.msg, "not self-signed"));

	/* Wrong key. */
	assert_int_equal(cacert_check_install(&sub, other, 1, &e), -1);
	assert_string_equal(e.msg, "the certificate does not match the CA key");
	gnutls_free(sub.data);

	/* No EKU. */
	issue_sub(rkey, &rder, &csr, SUB_EKU_NONE, 1, later, &sub);
	assert_int_equal(cacert_check_install(&sub, skey, 1, &e), -1);
	assert_string_equal(e.msg, "the certificate has no emailProtection "
	    "EKU: S/MIME BR 7.1.2.2 requires it on a subordinate CA");
	gnutls_free(sub.data);

	/* anyExtendedKeyUsage. */
	issue_sub(rkey, &rder, &csr, SUB_EKU_ANY, 1, later, &sub);
	assert_int_equal(cacert_check_install(&sub, skey, 1, &e), -1);
	assert_non_null(strstr(e.msg, "anyExtendedKeyUsage"));
	gnutls_free(sub.data);

	/* Not a CA. */
	issue_sub(rkey, &rder, &csr, SUB_EKU_FROM_CSR, 0, later, &sub);
	assert_int_equal(cacert_check_install(&sub, skey, 1, &e), -1);
	assert_non_null(strstr(e.msg, "not a CA certificate"));
	gnutls_free(sub.data);

	/* Expired. */
	issue_sub(rkey, &rder, &csr, SUB_EKU_FROM_CSR, 1, time(NULL) - 86400,
	    &sub);
	assert_int_equal(cacert_check_install(&sub, skey, 1, &e), -1);
	assert_string_equal(e.msg, "the certificate has expired");
	gnutls_free(sub.data);

	/* Not a certificate at all. */
	assert_int_equal(cacert_check_install(&csr, skey, 1, &e), -1);
	assert_non_null(strstr(e.msg, "not an X.509 certificate"));

	gnutls_free(csr.data);
	gnutls_free(rder.data);
	gnutls_privkey_deinit(rkey);
	gnutls_privkey_deinit(skey);
	gnutls_privkey_deinit(other);
}

static void
test_cacert_fingerprint_matches_openssl(void **state)
{
	gnutls_privkey_t	 key = make_key(GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	gnutls_datum_t		 der;
	struct err		 e = { "" };
	char			 fp[3 * 64], small[10], *out, *eq;
	const char		*pem;

	assert_int_equal(cacert_self_signed(key, "FP Root", 30, &der, &e), 0);
	assert_int_equal(cacert_fingerprint(&der, GNUTLS_DIG_SHA256, fp,
	    sizeof(fp), &e), 0);
	assert_int_equal(strlen(fp), 32 * 3 - 1);
	pem = write_cert_pem("fp.pem", &der);
	assert_int_equal(run(&out, "openssl x509 -noout -fingerprint -sha256 "
	    "-in %s", pem), 0);
	assert_non_null(eq = strchr(out, '='));
	eq[strcspn(eq, "\n")] = '\0';
	assert_string_equal(eq + 1, fp);
	free(out);
	assert_int_equal(cacert_fingerprint(&der, GNUTLS_DIG_SHA256, small,
	    sizeof(small), &e), -1);
	assert_non_null(strstr(e.msg, "too small"));
	gnutls_free(der.data);
	gnutls_privkey_deinit(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cacert_root_has_the_ca_profile),
		cmocka_unit_test(test_cacert_signature_hash_follows_key_size),
		cmocka_unit_test(test_cacert_csr_requests_a_smime_sub_ca),
		cmocka_unit_test(
		    test_cacert_check_install_accepts_only_a_matching_smime_sub_ca),
		cmocka_unit_test(test_cacert_fingerprint_matches_openssl),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
