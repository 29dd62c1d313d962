/*
 * ocsp (RFC 6960): requests made by `openssl ocsp`, responses checked by
 * `openssl ocsp -respin` and by GnuTLS.
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
#include <gnutls/ocsp.h>
#include <gnutls/x509.h>

#include "asn.h"
#include "ocsp.h"

static char		 dir[] = "/tmp/signet-ocsp-XXXXXX";
static gnutls_x509_crt_t ca, leaf, leaf2;
static gnutls_privkey_t	 ca_key;

static char *
path(const char *name)
{
	static char	p[4][256];
	static int	k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static void
save(const char *name, const gnutls_datum_t *d)
{
	FILE	*f;

	assert_non_null(f = fopen(path(name), "wb"));
	assert_int_equal(fwrite(d->data, 1, d->size, f), d->size);
	assert_int_equal(fclose(f), 0);
}

/* Runs a shell command, returns stdout+stderr; *status gets the exit code. */
static char *
run(int *status, const char *fmt, ...)
{
	char	 body[2048], cmd[2100], *buf;
	size_t	 len = 0, cap = 1 << 16, r;
	va_list	 ap;
	FILE	*p;
	int	 st;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "( %s ) 2>&1", body);
	assert_non_null(buf = malloc(cap));
	assert_non_null(p = popen(cmd, "r"));
	while ((r = fread(buf + len, 1, cap - 1 - len, p)) > 0)
		len += r;
	buf[len] = '\0';
	st = pclose(p);
	if (status != NULL)
		*status = st;
	return buf;
}

static gnutls_x509_crt_t
issue(const char *dn, const unsigned char *sn, size_t snlen,
    gnutls_x509_crt_t issuer, gnutls_privkey_t issuer_key,
    gnutls_privkey_t *key_out, int is_ca, const char *file)
{
	gnutls_x509_privkey_t	xkey;
	gnutls_privkey_t	key;
	gnutls_x509_crt_t	crt, out;
	gnutls_datum_t		pem;
	unsigned char		id[20];
	size_t			idlen = sizeof(id);
	time_t			now = time(NULL);

	assert_int_equal(gnutls_x509_privkey_init(&xkey), 0);
	assert_int_equal(gnutls_x509_privkey_generate(xkey, GNUTLS_PK_ECDSA,
	    256, 0), 0);
	assert_int_equal(gnutls_privkey_init(&key), 0);
	assert_int_equal(gnutls_privkey_import_x509(key, xkey,
	    GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE), 0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(crt, sn, snlen), 0);
	assert_int_equal(gnutls_x509_crt_set_dn(crt, dn, NULL), 0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, xkey), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 3600),
	    0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt,
	    now + 86400 * 30), 0);
	assert_int_equal(gnutls_x509_crt_set_basic_constraints(crt, is_ca, -1),
	    0);
	assert_int_equal(gnutls_x509_crt_set_key_usage(crt, is_ca ?
	    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
	    GNUTLS_KEY_DIGITAL_SIGNATURE : GNUTLS_KEY_DIGITAL_SIGNATURE), 0);
	/* RFC 5280 4.2.1.2 method (1), so that the SKI is the OCSP byKey
	 * hash and GnuTLS finds the CA from the responderID alone */
	{
		uint8_t		kh[64];
		size_t		khlen;
		struct err	e;

		assert_int_equal(asn_key_hash(crt, GNUTLS_DIG_SHA1, kh, &khlen,
		    &e), 0);
		memcpy(id, kh, idlen = khlen);
	}
	assert_int_equal(gnutls_x509_crt_set_subject_key_id(crt, id, idlen), 0);
	assert_int_equal(gnutls_x509_crt_privkey_sign(crt, issuer ? issuer : crt,
	    issuer_key ? issuer_key : key, GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM,
	    &pem), 0);
	save(file, &pem);
	assert_int_equal(gnutls_x509_crt_init(&out), 0);
	assert_int_equal(gnutls_x509_crt_import(out, &pem, GNUTLS_X509_FMT_PEM),
	    0);
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
	if (key_out != NULL)
		*key_out = key;
	else
		gnutls_privkey_deinit(key);
	return out;
}

static int
setup(void **state)
{
	static const unsigned char ca_sn[] = { 0x01 }, sn1[] = { 0x3a, 0x11,
	    0x22, 0x33, 0x44, 0x55, 0x66, 0x77 }, sn2[] = { 0x00, 0x9f, 0x01 };

	if (mkdtemp(dir) == NULL)
		return -1;
	ca = issue("CN=Signet OCSP Test CA,O=Example", ca_sn, sizeof(ca_sn),
	    NULL, NULL, &ca_key, 1, "ca.pem");
	leaf = issue("CN=alice@example.org", sn1, sizeof(sn1), ca, ca_key, NULL,
	    0, "c.pem");
	leaf2 = issue("CN=bob@example.org", sn2, sizeof(sn2), ca, ca_key, NULL,
	    0, "c2.pem");
	return 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	gnutls_x509_crt_deinit(ca);
	gnutls_x509_crt_deinit(leaf);
	gnutls_x509_crt_deinit(leaf2);
	gnutls_privkey_deinit(ca_key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return getenv("KEEP") ? 0 : (system(cmd) == 0 ? 0 : -1);
}

/* Makes a request with openssl and parses it. */
static struct ocsp_request *
openssl_request(const char *opts, const char *name, struct err *e)
{
	struct ocsp_request	*req;
	gnutls_datum_t		 der;
	char			*txt;
	int			 st;

	txt = run(&st, "cd %s && openssl ocsp -issuer ca.pem %s -reqout %s",
	    dir, opts, name);
	assert_int_equal(st, 0);
	free(txt);
	assert_int_equal(gnutls_load_file(path(name), &der), 0);
	req = ocsp_request_parse(der.data, der.size, e);
	gnutls_free(der.data);
	return req;
}

static void
assert_certid_is(const struct ocsp_certid *id, gnutls_x509_crt_t crt,
    int hash)
{
	unsigned char	sn[32];
	size_t		snlen = sizeof(sn);

	assert_non_null(id);
	assert_int_equal(id->hash, hash);
	assert_int_equal(ocsp_certid_matches_issuer(id, ca), 1);
	assert_int_equal(ocsp_certid_matches_issuer(id, leaf), 0);
	assert_int_equal(gnutls_x509_crt_get_serial(crt, sn, &snlen), 0);
	assert_int_equal(id->serial_len, snlen);
	assert_memory_equal(id->serial, sn, snlen);
}

static void
test_ocsp_parses_openssl_sha1_request_with_nonce(void **state)
{
	struct err		 e = { "" };
	struct ocsp_request	*req;
	size_t			 nlen;

	assert_non_null(req = openssl_request("-cert c.pem", "req.der", &e));
	assert_int_equal(ocsp_request_count(req), 1);
	assert_certid_is(ocsp_request_certid(req, 0), leaf, GNUTLS_DIG_SHA1);
	assert_null(ocsp_request_certid(req, 1));
	assert_non_null(ocsp_request_nonce(req, &nlen));
	assert_int_equal(nlen, 16);	/* openssl's default nonce */
	ocsp_request_free(req);

	assert_non_null(req = openssl_request("-cert c.pem -no_nonce",
	    "req-nononce.der", &e));
	assert_null(ocsp_request_nonce(req, &nlen));
	assert_int_equal(nlen, 0);
	ocsp_request_free(req);
}

static void
test_ocsp_parses_sha256_to_sha512_certids_and_two_certs(void **state)
{
	struct err		 e = { "" };
	struct ocsp_request	*req;

	assert_non_null(req = openssl_request("-sha256 -cert c.pem",
	    "req256.der", &e));
	assert_certid_is(ocsp_request_certid(req, 0), leaf, GNUTLS_DIG_SHA256);
	assert_int_equal(ocsp_request_certid(req, 0)->hash_len, 32);
	ocsp_request_free(req);

	/* RFC 6960 names no hash: SHA-384 and SHA-512 CertIDs are read and
	 * matched against the issuer in their own algorithm */
	assert_non_null(req = openssl_request("-sha384 -cert c.pem",
	    "req384.der", &e));
	assert_certid_is(ocsp_request_certid(req, 0), leaf, GNUTLS_DIG_SHA384);
	assert_int_equal(ocsp_request_certid(req, 0)->hash_len, 48);
	ocsp_request_free(req);
	assert_non_null(req = openssl_request("-sha512 -cert c.pem",
	    "req512.der", &e));
	assert_certid_is(ocsp_request_certid(req, 0), leaf, GNUTLS_DIG_SHA512);
	assert_int_equal(ocsp_request_certid(req, 0)->hash_len, 64);
	ocsp_request_free(req);

	assert_non_null(req = openssl_request("-cert c.pem -cert c2.pem",
	    "req2.der", &e));
	assert_int_equal(ocsp_request_count(req), 2);
	assert_certid_is(ocsp_request_certid(req, 0), leaf, GNUTLS_DIG_SHA1);
	/* 0x009f01: a positive serial keeps its leading zero octet */
	assert_certid_is(ocsp_request_certid(req, 1), leaf2, GNUTLS_DIG_SHA1);
	ocsp_request_free(req);
}

static void
test_ocsp_refuses_bad_requests(void **state)
{
	static const uint8_t	 garbage[] = "GET / HTTP/1.0\r\n\r\n";
	struct err		 e = { "" };
	struct ocsp_request	*req;
	gnutls_datum_t		 der;
	uint8_t			*big;
	char			 opts[512] = "";
	int			 i;

	assert_null(ocsp_request_parse(garbage, sizeof(garbage) - 1, &e));
	assert_non_null(strstr(e.msg, "not a DER OCSPRequest"));
	assert_null(ocsp_request_parse(garbage, 0, &e));

	/* SHA-224 (and anything but SHA-1, -256, -384, -512) is refused */
	assert_null(req = openssl_request("-sha224 -cert c.pem", "r224.der",
	    &e));
	assert_non_null(strstr(e.msg, "hash algorithm 2.16.840.1.101.3.4.2.4 "
	    "is not supported"));

	assert_int_equal(gnutls_load_file(path("req.der"), &der), 0);
	for (i = 1; i < (int)der.size; i += 7)
		assert_null(ocsp_request_parse(der.data, i, &e));
	assert_null(ocsp_request_parse(der.data, der.size - 1, &e));
	assert_non_null(big = calloc(1, OCSP_REQUEST_MAX + 1));
	memcpy(big, der.data, der.size);
	assert_null(ocsp_request_parse(big, der.size + 1, &e));
	assert_non_null(strstr(e.msg, "not a DER OCSPRequest"));
	assert_null(ocsp_request_parse(big, OCSP_REQUEST_MAX + 1, &e));
	assert_non_null(strstr(e.msg, "too large"));
	free(big);
	/* a BER long-form length where DER needs the short one */
	{
		uint8_t	*ber = malloc(der.size + 1);

		ber[0] = 0x30;
		ber[1] = 0x81;
		memcpy(ber + 2, der.data + 1, der.size - 1);
		assert_true(der.data[1] < 0x80);
		assert_null(ocsp_request_parse(ber, der.size + 1, &e));
		assert_non_null(strstr(e.msg, "BER, not DER"));
		free(ber);
	}
	gnutls_free(der.data);

	for (i = 0; i < 17; i++)
		strcat(opts, "-cert c.pem ");
	assert_null(openssl_request(opts, "req17.der", &e));
	assert_non_null(strstr(e.msg, "17 certificates (at most 16)"));
	opts[strlen(opts) - strlen("-cert c.pem ")] = '\0';
	assert_non_null(req = openssl_request(opts, "req16.der", &e));
	assert_int_equal(ocsp_request_count(req), 16);
	ocsp_request_free(req);
}

/* Builds a response to req.der for leaf with the given status, writes it
 * to name and returns `openssl ocsp -respin` output. */
static char *
respond(const struct ocsp_signer *signer, enum ocsp_status status,
    int reason, const char *name, const char *verify_ca, gnutls_datum_t *out)
{
	struct err		 e = { "" };
	struct ocsp_request	*req;
	struct ocsp_single	 s;
	gnutls_datum_t		 der;
	const uint8_t		*nonce;
	size_t			 nlen;
	time_t			 now = time(NULL);

	assert_int_equal(gnutls_load_file(path("req.der"), &der), 0);
	assert_non_null(req = ocsp_request_parse(der.data, der.size, &e));
	gnutls_free(der.data);
	memset(&s, 0, sizeof(s));
	s.id = ocsp_request_certid(req, 0);
	s.status = status;
	s.revoked_at = now - 7200;
	s.reason = reason;
	s.this_update = now - 60;
	s.next_update = now + 86400;
	nonce = ocsp_request_nonce(req, &nlen);
	if (ocsp_response_build(signer, &s, 1, nonce, nlen, now - 30, out,
	    &e) < 0)
		fail_msg("%s", e.msg);
	ocsp_request_free(req);
	save(name, out);
	/* first the status of c.pem; then, against the request itself, the
	 * nonce (openssl prints "Nonce Verify error" or a WARNING if bad) */
	return run(NULL, "cd %s && openssl ocsp -respin %s -no_nonce "
	    "-CAfile %s -issuer ca.pem -cert c.pem -resp_text && "
	    "openssl ocsp -respin %s -reqin req.der -CAfile %s -noout",
	    dir, name, verify_ca, name, verify_ca);
}

static void
assert_gnutls_verifies(const gnutls_datum_t *der, gnutls_x509_crt_t signer,
    unsigned want_status)
{
	gnutls_ocsp_resp_t	resp;
	gnutls_x509_trust_list_t tl;
	gnutls_x509_crt_t	 cacopy;
	gnutls_datum_t		 cader;
	unsigned		 verify = 99, cert_status = 99;

	assert_int_equal(gnutls_ocsp_resp_init(&resp), 0);
	assert_int_equal(gnutls_ocsp_resp_import(resp, der), 0);
	assert_int_equal(gnutls_ocsp_resp_get_status(resp), 0);
	assert_int_equal(gnutls_ocsp_resp_verify_direct(resp, signer, &verify,
	    0), 0);
	assert_int_equal(verify, 0);
	/* through a trust list holding only the CA; GnuTLS 3.7 finds the
	 * signer only among the response's certs, so for a delegated
	 * responder only */
	if (signer == ca)
		goto single;
	assert_int_equal(gnutls_x509_crt_export2(ca, GNUTLS_X509_FMT_DER,
	    &cader), 0);
	assert_int_equal(gnutls_x509_crt_init(&cacopy), 0);
	assert_int_equal(gnutls_x509_crt_import(cacopy, &cader,
	    GNUTLS_X509_FMT_DER), 0);
	gnutls_free(cader.data);
	assert_int_equal(gnutls_x509_trust_list_init(&tl, 0), 0);
	assert_int_equal(gnutls_x509_trust_list_add_cas(tl, &cacopy, 1, 0), 1);
	verify = 99;
	assert_int_equal(gnutls_ocsp_resp_verify(resp, tl, &verify, 0), 0);
	assert_int_equal(verify, 0);
	gnutls_x509_trust_list_deinit(tl, 1);
single:
	assert_int_equal(gnutls_ocsp_resp_check_crt(resp, 0, leaf), 0);
	assert_int_equal(gnutls_ocsp_resp_get_single(resp, 0, NULL, NULL, NULL,
	    NULL, &cert_status, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(cert_status, want_status);
	gnutls_ocsp_resp_deinit(resp);
}

static void
test_ocsp_good_revoked_unknown_verify_in_openssl_and_gnutls(void **state)
{
	struct ocsp_signer	 signer = { ca_key, ca, 0 };
	gnutls_datum_t		 der;
	char			*txt, ca_pem[256];

	snprintf(ca_pem, sizeof(ca_pem), "%s", path("ca.pem"));

	txt = respond(&signer, OCSP_GOOD, -1, "good.der", ca_pem, &der);
	assert_non_null(strstr(txt, "Response verify OK"));
	assert_non_null(strstr(txt, "c.pem: good"));
	/* byKey: SHA-1 of the CA key, the same as the SHA-1 issuerKeyHash */
	{
		char	*r = strstr(txt, "Responder Id: "), *k;

		assert_non_null(r);
		assert_non_null(k = strstr(txt, "Issuer Key Hash: "));
		assert_memory_equal(r + 14, k + 17, 40);
	}
	assert_null(strstr(txt, "WARNING"));	/* nonce echoed */
	assert_null(strstr(txt, "Nonce Verify error"));
	free(txt);
	assert_gnutls_verifies(&der, ca, GNUTLS_OCSP_CERT_GOOD);
	gnutls_free(der.data);

	txt = respond(&signer, OCSP_REVOKED, 1, "revoked.der", ca_pem, &der);
	assert_non_null(strstr(txt, "Response verify OK"));
	assert_non_null(strstr(txt, "c.pem: revoked"));
	assert_non_null(strstr(txt, "Reason: keyCompromise"));
	free(txt);
	assert_gnutls_verifies(&der, ca, GNUTLS_OCSP_CERT_REVOKED);
	gnutls_free(der.data);

	txt = respond(&signer, OCSP_REVOKED, 0, "revoked0.der", ca_pem, &der);
	assert_non_null(strstr(txt, "c.pem: revoked"));
	assert_null(strstr(txt, "Reason:"));	/* unspecified: left out */
	free(txt);
	gnutls_free(der.data);

	txt = respond(&signer, OCSP_UNKNOWN, -1, "unknown.der", ca_pem, &der);
	assert_non_null(strstr(txt, "Response verify OK"));
	assert_non_null(strstr(txt, "c.pem: unknown"));
	free(txt);
	assert_gnutls_verifies(&der, ca, GNUTLS_OCSP_CERT_UNKNOWN);
	gnutls_free(der.data);
}

static void
test_ocsp_delegated_responder_verifies_against_ca(void **state)
{
	struct err		 e = { "" };
	gnutls_x509_privkey_t	 xkey;
	gnutls_privkey_t	 rkey;
	gnutls_pubkey_t		 rpub;
	gnutls_x509_crt_t	 rcert;
	gnutls_datum_t		 der, resp;
	struct ocsp_signer	 signer;
	char			*txt, ca_pem[256];

	snprintf(ca_pem, sizeof(ca_pem), "%s", path("ca.pem"));
	assert_int_equal(gnutls_x509_privkey_init(&xkey), 0);
	assert_int_equal(gnutls_x509_privkey_generate(xkey, GNUTLS_PK_ECDSA,
	    384, 0), 0);
	assert_int_equal(gnutls_privkey_init(&rkey), 0);
	assert_int_equal(gnutls_privkey_import_x509(rkey, xkey,
	    GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE), 0);
	assert_int_equal(gnutls_pubkey_init(&rpub), 0);
	assert_int_equal(gnutls_pubkey_import_privkey(rpub, rkey, 0, 0), 0);
	assert_int_equal(ocsp_signer_cert_issue(ca, ca_key, rpub, 24, &der,
	    &e), 0);
	save("responder.der", &der);
	txt = run(NULL, "openssl x509 -inform DER -in %s -noout -text; "
	    "openssl x509 -inform DER -in %s -out %s; openssl verify "
	    "-CAfile %s -purpose ocsphelper %s", path("responder.der"),
	    path("responder.der"), path("responder.pem"), path("ca.pem"),
	    path("responder.pem"));
	assert_non_null(strstr(txt, "Subject: CN = Signet OCSP Test CA OCSP "
	    "Responder"));
	assert_non_null(strstr(txt, "OCSP Signing"));
	assert_non_null(strstr(txt, "OCSP No Check"));
	assert_non_null(strstr(txt, "Digital Signature"));
	assert_non_null(strstr(txt, ": OK"));
	free(txt);
	assert_int_equal(gnutls_x509_crt_init(&rcert), 0);
	assert_int_equal(gnutls_x509_crt_import(rcert, &der,
	    GNUTLS_X509_FMT_DER), 0);
	gnutls_free(der.data);

	signer = (struct ocsp_signer){ rkey, rcert, 1 };
	txt = respond(&signer, OCSP_REVOKED, 4, "delegated.der", ca_pem, &resp);
	assert_non_null(strstr(txt, "Response verify OK"));
	assert_non_null(strstr(txt, "c.pem: revoked"));
	assert_non_null(strstr(txt, "Reason: superseded"));
	assert_non_null(strstr(txt, "Signature Algorithm: ecdsa-with-SHA384"));
	free(txt);
	assert_gnutls_verifies(&resp, rcert, GNUTLS_OCSP_CERT_REVOKED);
	gnutls_free(resp.data);
	gnutls_x509_crt_deinit(rcert);
	gnutls_pubkey_deinit(rpub);
	gnutls_privkey_deinit(rkey);
}

static void
test_ocsp_error_responses_are_what_openssl_reports(void **state)
{
	static const struct { int st; const char *name; } t[] = {
		{ 1, "malformedrequest (1)" }, { 2, "internalerror (2)" },
		{ 3, "trylater (3)" }, { 5, "sigrequired (5)" },
		{ 6, "unauthorized (6)" },
	};
	struct err	 e = { "" };
	gnutls_datum_t	 der;
	char		*txt;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(ocsp_response_error(t[i].st, &der, &e), 0);
		assert_int_equal(der.size, 5);
		save("err.der", &der);
		gnutls_free(der.data);
		txt = run(NULL, "openssl ocsp -respin %s -resp_text -noverify",
		    path("err.der"));
		assert_non_null(strstr(txt, t[i].name));
		free(txt);
	}
	assert_int_equal(ocsp_response_error(4, &der, &e), -1);
	assert_int_equal(ocsp_response_error(0, &der, &e), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ocsp_parses_openssl_sha1_request_with_nonce),
		cmocka_unit_test(
		    test_ocsp_parses_sha256_to_sha512_certids_and_two_certs),
		cmocka_unit_test(test_ocsp_refuses_bad_requests),
		cmocka_unit_test(test_ocsp_good_revoked_unknown_verify_in_openssl_and_gnutls),
		cmocka_unit_test(test_ocsp_delegated_responder_verifies_against_ca),
		cmocka_unit_test(test_ocsp_error_responses_are_what_openssl_reports),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
