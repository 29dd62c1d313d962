/*
 * test_cert: the subscriber certificate profile, proved on the DER.
 *
 * Two test CAs (P-384 and RSA-3072) issue every profile for every
 * subscriber key type; each certificate is re-parsed with gnutls and
 * checked against DESIGN.md "Certificates" and S/MIME BR 7.1.2.3
 * (strict, mailbox-validated), then handed to openssl as an independent
 * parser and verifier.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "cert.h"
#include "serial.h"

#define POLICY		"2.23.140.1.5.1.3"
#define CRL_URL		"http://pki.example.com/ca.crl"
#define OCSP_URL	"http://ocsp.example.com/"
#define ISSUER_URL	"http://pki.example.com/ca.crt"
#define MAIL		"alice.smith@example.com"
#define DAY		86400

#define OID_SAN		"2.5.29.17"
#define OID_KU		"2.5.29.15"
#define OID_EKU		"2.5.29.37"
#define OID_AKI		"2.5.29.35"
#define OID_SKI		"2.5.29.14"
#define OID_CRLDP	"2.5.29.31"
#define OID_CP		"2.5.29.32"
#define OID_AIA		"1.3.6.1.5.5.7.1.1"
#define OID_OCSP	"1.3.6.1.5.5.7.48.1"
#define OID_CAISSUERS	"1.3.6.1.5.5.7.48.2"
#define OID_EMAILPROT	"1.3.6.1.5.5.7.3.4"
#define OID_CN		"2.5.4.3"
#define OID_EMAIL	"1.2.840.113549.1.9.1"

/* ---- test CA and keys ---------------------------------------------- */

struct test_ca {
	gnutls_x509_privkey_t	xkey;
	gnutls_privkey_t	key;
	gnutls_x509_crt_t	crt;
};

struct sub_key {
	const char		*name;
	gnutls_pk_algorithm_t	 alg;
	unsigned		 bits;
	gnutls_x509_privkey_t	 xkey;
	gnutls_pubkey_t		 pub;
};

struct fixture {
	struct test_ca	ca_p384;
	struct test_ca	ca_rsa3072;
	struct sub_key	keys[4];
	char		dir[64];
};

static void
key_generate(gnutls_pk_algorithm_t alg, unsigned bits,
    gnutls_x509_privkey_t *out)
{
	assert_int_equal(gnutls_x509_privkey_init(out), 0);
	assert_int_equal(gnutls_x509_privkey_generate(*out, alg, bits, 0), 0);
}

/*
 * Exports and re-imports a certificate built in memory, so that it is
 * what ca-serve would load from disk (gnutls caches the raw DNs used for
 * chain building only at import).
 */
static void
reload(gnutls_x509_crt_t *crt)
{
	gnutls_datum_t		der;
	gnutls_x509_crt_t	back;

	assert_int_equal(gnutls_x509_crt_export2(*crt, GNUTLS_X509_FMT_DER,
	    &der), 0);
	assert_int_equal(gnutls_x509_crt_init(&back), 0);
	assert_int_equal(gnutls_x509_crt_import(back, &der,
	    GNUTLS_X509_FMT_DER), 0);
	gnutls_free(der.data);
	gnutls_x509_crt_deinit(*crt);
	*crt = back;
}

/*
 * A self-signed CA as DESIGN.md describes it: basicConstraints cA
 * critical, keyUsage keyCertSign+cRLSign, SKI by RFC 5280 4.2.1.2 (1).
 * without_ski leaves the SKI out, to prove cert_issue refuses such a CA.
 */
static void
test_ca_make(struct test_ca *ca, gnutls_pk_algorithm_t alg, unsigned bits,
    const char *cn, time_t lifetime, int without_ski)
{
	unsigned char	id[20];
	size_t		idlen = sizeof(id);
	unsigned char	ser[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0, 0, 1 };
	time_t		now = time(NULL);

	key_generate(alg, bits, &ca->xkey);
	assert_int_equal(gnutls_privkey_init(&ca->key), 0);
	assert_int_equal(gnutls_privkey_import_x509(ca->key, ca->xkey, 0), 0);
	assert_int_equal(gnutls_x509_crt_init(&ca->crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(ca->crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(ca->crt, ser,
	    sizeof(ser)), 0);
	assert_int_equal(gnutls_x509_crt_set_dn_by_oid(ca->crt,
	    GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "Signet Test", 11), 0);
	assert_int_equal(gnutls_x509_crt_set_dn_by_oid(ca->crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(ca->crt,
	    now - 3600), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(ca->crt,
	    now + lifetime), 0);
	assert_int_equal(gnutls_x509_crt_set_key(ca->crt, ca->xkey), 0);
	assert_int_equal(gnutls_x509_crt_set_basic_constraints(ca->crt, 1,
	    -1), 0);
	assert_int_equal(gnutls_x509_crt_set_key_usage(ca->crt,
	    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN), 0);
	if (!without_ski) {
		assert_int_equal(gnutls_x509_crt_get_key_id(ca->crt,
		    GNUTLS_KEYID_USE_SHA1, id, &idlen), 0);
		assert_int_equal(gnutls_x509_crt_set_subject_key_id(ca->crt,
		    id, idlen), 0);
	}
	{
		gnutls_digest_algorithm_t h;

		assert_int_equal(cert_sig_hash(ca->key, &h, NULL), 0);
		assert_int_equal(gnutls_x509_crt_privkey_sign(ca->crt,
		    ca->crt, ca->key, h, 0), 0);
	}
	reload(&ca->crt);
}

static void
test_ca_free(struct test_ca *ca)
{
	if (ca->crt != NULL)
		gnutls_x509_crt_deinit(ca->crt);
	if (ca->key != NULL)
		gnutls_privkey_deinit(ca->key);
	if (ca->xkey != NULL)
		gnutls_x509_privkey_deinit(ca->xkey);
	memset(ca, 0, sizeof(*ca));
}

static gnutls_pubkey_t
pubkey_of(gnutls_x509_privkey_t xkey)
{
	gnutls_privkey_t	k;
	gnutls_pubkey_t		pub;

	assert_int_equal(gnutls_privkey_init(&k), 0);
	assert_int_equal(gnutls_privkey_import_x509(k, xkey, 0), 0);
	assert_int_equal(gnutls_pubkey_init(&pub), 0);
	assert_int_equal(gnutls_pubkey_import_privkey(pub, k, 0, 0), 0);
	gnutls_privkey_deinit(k);
	return pub;
}

static struct cert_issuer
issuer_of(const struct test_ca *ca)
{
	struct cert_issuer	is;

	memset(&is, 0, sizeof(is));
	is.crt = ca->crt;
	is.key = ca->key;
	is.crl_url = CRL_URL;
	is.ocsp_url = OCSP_URL;
	is.issuer_url = ISSUER_URL;
	is.policy_oid = POLICY;
	return is;
}

static int
fixture_setup(void **state)
{
	static struct fixture	fx;
	static const struct { const char *name; gnutls_pk_algorithm_t alg;
	    unsigned bits; } types[4] = {
		{ "rsa-2048", GNUTLS_PK_RSA, 2048 },
		{ "rsa-3072", GNUTLS_PK_RSA, 3072 },
		{ "ecdsa-p256", GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1) },
		{ "ecdsa-p384", GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1) },
	};
	size_t			i;

	memset(&fx, 0, sizeof(fx));
	test_ca_make(&fx.ca_p384, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1),
	    "Signet Test CA P-384", 3650L * DAY, 0);
	test_ca_make(&fx.ca_rsa3072, GNUTLS_PK_RSA, 3072,
	    "Signet Test CA RSA-3072", 3650L * DAY, 0);
	for (i = 0; i < 4; i++) {
		fx.keys[i].name = types[i].name;
		fx.keys[i].alg = types[i].alg;
		fx.keys[i].bits = types[i].bits;
		key_generate(types[i].alg, types[i].bits, &fx.keys[i].xkey);
		fx.keys[i].pub = pubkey_of(fx.keys[i].xkey);
	}
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/test_cert.XXXXXX");
	assert_non_null(mkdtemp(fx.dir));
	*state = &fx;
	return 0;
}

static int
fixture_teardown(void **state)
{
	struct fixture	*fx = *state;
	char		 cmd[128];
	size_t		 i;

	for (i = 0; i < 4; i++) {
		gnutls_pubkey_deinit(fx->keys[i].pub);
		gnutls_x509_privkey_deinit(fx->keys[i].xkey);
	}
	test_ca_free(&fx->ca_p384);
	test_ca_free(&fx->ca_rsa3072);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- issuing and reading back --------------------------------------- */

static struct cert_spec
spec_of(const char *email, enum cert_profile p, unsigned days)
{
	struct cert_spec	s;

	memset(&s, 0, sizeof(s));
	s.email = email;
	s.profile = p;
	s.days = days;
	return s;
}

/* Issues and re-imports; the DER goes to *der when der is not NULL. */
static gnutls_x509_crt_t
issue_ok(const struct cert_issuer *is, const struct cert_spec *spec,
    gnutls_pubkey_t pub, struct serial *ser, gnutls_datum_t *der)
{
	gnutls_x509_crt_t	crt;
	gnutls_datum_t		d;
	struct err		e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(serial_new(ser, &e), 0);
	if (cert_issue(is, spec, pub, ser, &d, &e) != 0)
		fail_msg("cert_issue: %s", e.msg);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER),
	    0);
	if (der != NULL)
		*der = d;
	else
		gnutls_free(d.data);
	return crt;
}

/* Expects cert_issue to refuse, with a message containing want. */
static void
issue_refused(const struct cert_issuer *is, const struct cert_spec *spec,
    gnutls_pubkey_t pub, const char *want)
{
	struct serial	ser;
	gnutls_datum_t	d = { NULL, 0 };
	struct err	e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(serial_new(&ser, &e), 0);
	assert_int_equal(cert_issue(is, spec, pub, &ser, &d, &e), -1);
	assert_null(d.data);
	if (strstr(e.msg, want) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", e.msg, want);
}

/* Reads one DER TLV header at p; returns the header length. */
static size_t
der_header(const unsigned char *p, size_t avail, size_t *len)
{
	size_t	n, i, hl;

	assert_true(avail >= 2);
	if (!(p[1] & 0x80)) {
		*len = p[1];
		hl = 2;
	} else {
		n = p[1] & 0x7f;
		assert_true(n >= 1 && n <= 3 && avail >= 2 + n);
		for (*len = 0, i = 0; i < n; i++)
			*len = *len << 8 | p[2 + i];
		hl = 2 + n;
	}
	assert_true(hl + *len <= avail);
	return hl;
}

/*
 * RFC 5280 4.2.1.2 method 1, computed here without gnutls' help:
 * SHA-1 over the subjectPublicKey BIT STRING value, after the
 * unused-bits octet.
 */
static void
ski_method1(gnutls_pubkey_t pub, unsigned char out[20])
{
	gnutls_datum_t	spki;
	const unsigned char *p;
	size_t		len, hl, left;

	assert_int_equal(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER,
	    &spki), 0);
	p = spki.data;
	left = spki.size;
	assert_int_equal(p[0], 0x30);			/* SEQUENCE */
	hl = der_header(p, left, &len);
	p += hl;
	left = len;
	assert_int_equal(p[0], 0x30);			/* AlgorithmIdentifier */
	hl = der_header(p, left, &len);
	p += hl + len;
	left -= hl + len;
	assert_int_equal(p[0], 0x03);			/* BIT STRING */
	hl = der_header(p, left, &len);
	assert_int_equal(p[hl], 0);			/* no unused bits */
	assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA1, p + hl + 1,
	    len - 1, out), 0);
	gnutls_free(spki.data);
}

/*
 * The certificate's extensions are exactly these OIDs, each once, and
 * only critical_oid is critical (read from the extension list itself,
 * since not every gnutls getter reports criticality).
 */
static void
assert_extension_set(gnutls_x509_crt_t crt, const char *const *want,
    size_t nwant, const char *critical_oid)
{
	char		oid[128];
	size_t		size, i, j;
	unsigned	crit;
	int		found;

	for (i = 0; ; i++) {
		size = sizeof(oid);
		if (gnutls_x509_crt_get_extension_info(crt, i, oid, &size,
		    &crit) < 0)
			break;
		for (found = 0, j = 0; j < nwant; j++)
			if (strcmp(oid, want[j]) == 0)
				found++;
		if (found != 1)
			fail_msg("unexpected extension %s", oid);
		if (crit != (strcmp(oid, critical_oid) == 0))
			fail_msg("extension %s has critical=%u", oid, crit);
	}
	assert_int_equal(i, nwant);
}

static unsigned
expected_key_usage(enum cert_profile p, gnutls_pk_algorithm_t alg, int nr)
{
	unsigned	kmgmt;

	kmgmt = alg == GNUTLS_PK_RSA ? GNUTLS_KEY_KEY_ENCIPHERMENT :
	    GNUTLS_KEY_KEY_AGREEMENT;
	switch (p) {
	case PROFILE_SIGNING:
		return GNUTLS_KEY_DIGITAL_SIGNATURE |
		    (nr ? GNUTLS_KEY_NON_REPUDIATION : 0);
	case PROFILE_ENCRYPTION:
		return kmgmt;
	case PROFILE_DUAL:
		return GNUTLS_KEY_DIGITAL_SIGNATURE | kmgmt;
	}
	return 0;
}

static void
assert_subject_is_mailbox(gnutls_x509_crt_t crt, const char *mail,
    int with_cn)
{
	gnutls_x509_dn_t	dn;
	gnutls_x509_ava_st	ava;
	const char		*oids[2];
	size_t			nrdn = 0, i;

	if (with_cn) {
		oids[nrdn++] = OID_CN;
	}
	oids[nrdn++] = OID_EMAIL;
	/* S/MIME BR 7.1.4.2.2: CN and emailAddress, one AVA per RDN,
	 * nothing else, in that order. */
	assert_int_equal(gnutls_x509_crt_get_subject(crt, &dn), 0);
	for (i = 0; i < nrdn; i++) {
		assert_int_equal(gnutls_x509_dn_get_rdn_ava(dn, (int)i, 0,
		    &ava), 0);
		assert_string_equal((const char *)ava.oid.data, oids[i]);
		/* RFC 5280 A.1: emailAddress is an IA5String (tag 22); CN a
		 * DirectoryString, UTF8String (tag 12) per 4.1.2.6. */
		assert_int_equal(ava.value_tag, i + 1 == nrdn ? 22 : 12);
		assert_int_equal(ava.value.size, strlen(mail));
		assert_memory_equal(ava.value.data, mail, ava.value.size);
		assert_int_not_equal(gnutls_x509_dn_get_rdn_ava(dn, (int)i, 1,
		    &ava), 0);
	}
	assert_int_not_equal(gnutls_x509_dn_get_rdn_ava(dn, (int)nrdn, 0,
	    &ava), 0);
}

static void
assert_san_is_mailbox(gnutls_x509_crt_t crt, const char *mail)
{
	char		buf[300];
	size_t		size = sizeof(buf);
	unsigned	type, crit;

	/* RFC 5280 4.2.1.6: one rfc822Name, not critical (subject set). */
	assert_int_equal(gnutls_x509_crt_get_subject_alt_name2(crt, 0, buf,
	    &size, &type, &crit), GNUTLS_SAN_RFC822NAME);
	assert_int_equal(type, GNUTLS_SAN_RFC822NAME);
	assert_int_equal(size, strlen(mail));
	assert_memory_equal(buf, mail, size);
	size = sizeof(buf);
	assert_int_equal(gnutls_x509_crt_get_subject_alt_name2(crt, 1, buf,
	    &size, &type, &crit), GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
}

static void
assert_key_ids(gnutls_x509_crt_t crt, const struct test_ca *ca,
    gnutls_pubkey_t pub)
{
	unsigned char	ca_ski[64], aki[64], ski[64], want[20];
	size_t		ca_len = sizeof(ca_ski), aki_len = sizeof(aki);
	size_t		ski_len = sizeof(ski);
	unsigned	crit;

	assert_int_equal(gnutls_x509_crt_get_subject_key_id(ca->crt, ca_ski,
	    &ca_len, &crit), 0);
	/* RFC 5280 4.2.1.1: keyIdentifier = issuer SKI, no issuer/serial. */
	assert_int_equal(gnutls_x509_crt_get_authority_key_id(crt, aki,
	    &aki_len, &crit), 0);
	assert_int_equal(aki_len, ca_len);
	assert_memory_equal(aki, ca_ski, ca_len);
	assert_int_equal(gnutls_x509_crt_get_authority_key_gn_serial(crt, 0,
	    NULL, NULL, NULL, NULL, NULL, &crit),
	    GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	/* RFC 5280 4.2.1.2 method 1. */
	assert_int_equal(gnutls_x509_crt_get_subject_key_id(crt, ski,
	    &ski_len, &crit), 0);
	ski_method1(pub, want);
	assert_int_equal(ski_len, 20);
	assert_memory_equal(ski, want, 20);
}

static void
assert_crl_and_aia(gnutls_x509_crt_t crt)
{
	char		buf[256];
	size_t		size = sizeof(buf);
	unsigned	reasons = 9, crit;
	gnutls_datum_t	d;

	/* RFC 5280 4.2.1.13; S/MIME BR 7.1.2.3(b): one http URI. */
	assert_int_equal(gnutls_x509_crt_get_crl_dist_points(crt, 0, buf,
	    &size, &reasons, &crit), GNUTLS_SAN_URI);
	assert_int_equal(reasons, 0);
	assert_int_equal(size, strlen(CRL_URL));
	assert_memory_equal(buf, CRL_URL, size);
	size = sizeof(buf);
	assert_int_equal(gnutls_x509_crt_get_crl_dist_points(crt, 1, buf,
	    &size, &reasons, &crit), GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);

	/* RFC 5280 4.2.2.1; S/MIME BR 7.1.2.3(c): OCSP then caIssuers. */
	assert_int_equal(gnutls_x509_crt_get_authority_info_access(crt, 0,
	    GNUTLS_IA_ACCESSMETHOD_OID, &d, &crit), 0);
	assert_string_equal((const char *)d.data, OID_OCSP);
	gnutls_free(d.data);
	assert_int_equal(gnutls_x509_crt_get_authority_info_access(crt, 0,
	    GNUTLS_IA_URI, &d, &crit), 0);
	assert_int_equal(d.size, strlen(OCSP_URL));
	assert_memory_equal(d.data, OCSP_URL, d.size);
	gnutls_free(d.data);
	assert_int_equal(gnutls_x509_crt_get_authority_info_access(crt, 1,
	    GNUTLS_IA_ACCESSMETHOD_OID, &d, &crit), 0);
	assert_string_equal((const char *)d.data, OID_CAISSUERS);
	gnutls_free(d.data);
	assert_int_equal(gnutls_x509_crt_get_authority_info_access(crt, 1,
	    GNUTLS_IA_URI, &d, &crit), 0);
	assert_int_equal(d.size, strlen(ISSUER_URL));
	assert_memory_equal(d.data, ISSUER_URL, d.size);
	gnutls_free(d.data);
	assert_int_equal(gnutls_x509_crt_get_authority_info_access(crt, 2,
	    GNUTLS_IA_ACCESSMETHOD_OID, &d, &crit),
	    GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
}

static void
assert_policy_only(gnutls_x509_crt_t crt, const char *oid)
{
	struct gnutls_x509_policy_st	pol;
	unsigned			crit;

	/* RFC 5280 4.2.1.4; S/MIME BR 7.1.2.3(a): the OID, no qualifiers */
	assert_int_equal(gnutls_x509_crt_get_policy(crt, 0, &pol, &crit), 0);
	assert_string_equal(pol.oid, oid);
	assert_int_equal(pol.qualifiers, 0);
	gnutls_x509_policy_release(&pol);
	assert_int_equal(gnutls_x509_crt_get_policy(crt, 1, &pol, &crit),
	    GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
}

/*
 * Every point of the profile, on a certificate read back from DER.
 */
static void
assert_profile(gnutls_x509_crt_t crt, const struct test_ca *ca,
    const struct sub_key *k, enum cert_profile p, const struct serial *ser,
    unsigned days, int nr)
{
	static const char *const exts[] = { OID_SAN, OID_KU, OID_EKU, OID_AKI,
	    OID_SKI, OID_CRLDP, OID_AIA, OID_CP };
	unsigned char	sb[32];
	char		oid[64];
	size_t		size = sizeof(sb);
	unsigned	ku = 0, crit = 9, status = 99;
	gnutls_datum_t	ci, cs;
	gnutls_x509_crt_t ca_crt = ca->crt;
	gnutls_digest_algorithm_t dig;
	int		sign;

	assert_int_equal(gnutls_x509_crt_get_version(crt), 3);

	/* RFC 5280 4.1.2.2: the DER INTEGER is 16 octets and positive. */
	assert_int_equal(gnutls_x509_crt_get_serial(crt, sb, &size), 0);
	assert_int_equal(size, SERIAL_LEN);
	assert_int_equal(sb[0] & 0x80, 0);
	assert_int_not_equal(sb[0], 0);
	assert_memory_equal(sb, ser->b, SERIAL_LEN);

	/* RFC 5280 4.1.2.4: issuer = CA subject, octet for octet. */
	assert_int_equal(gnutls_x509_crt_get_raw_issuer_dn(crt, &ci), 0);
	assert_int_equal(gnutls_x509_crt_get_raw_dn(ca->crt, &cs), 0);
	assert_int_equal(ci.size, cs.size);
	assert_memory_equal(ci.data, cs.data, cs.size);
	gnutls_free(ci.data);
	gnutls_free(cs.data);

	assert_subject_is_mailbox(crt, MAIL, 1);
	assert_san_is_mailbox(crt, MAIL);

	/* RFC 5280 4.2.1.3; S/MIME BR 7.1.2.3(e): critical, by profile. */
	assert_int_equal(gnutls_x509_crt_get_key_usage(crt, &ku, &crit), 0);
	assert_int_equal(crit, 1);
	assert_int_equal(ku, expected_key_usage(p, k->alg, nr));

	/* S/MIME BR 7.1.2.3(f): emailProtection only, not critical. */
	size = sizeof(oid);
	assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 0, oid,
	    &size, &crit), 0);
	assert_string_equal(oid, OID_EMAILPROT);
	size = sizeof(oid);
	assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 1, oid,
	    &size, &crit), GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);

	assert_key_ids(crt, ca, k->pub);
	assert_crl_and_aia(crt);
	assert_policy_only(crt, POLICY);
	/* S/MIME BR 7.1.2.3(d): basicConstraints omitted. */
	assert_int_equal(gnutls_x509_crt_get_basic_constraints(crt, &crit,
	    NULL, NULL), GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	/* RFC 5280 4.2: only keyUsage is critical (S/MIME BR 7.1.2.3(e));
	 * the SAN is not, since the subject is not empty (4.2.1.6). */
	assert_extension_set(crt, exts, sizeof(exts) / sizeof(exts[0]),
	    OID_KU);

	/* RFC 5280 4.1.2.5; S/MIME BR 6.3.2 */
	assert_true(days <= CERT_MAX_DAYS);
	assert_int_equal(gnutls_x509_crt_get_expiration_time(crt) -
	    gnutls_x509_crt_get_activation_time(crt),
	    (time_t)days * DAY - 1);

	/* The signature verifies with the CA and its hash is not SHA-1. */
	assert_int_equal(gnutls_x509_crt_verify(crt, &ca_crt, 1, 0, &status),
	    0);
	assert_int_equal(status, 0);
	sign = gnutls_x509_crt_get_signature_algorithm(crt);
	dig = gnutls_sign_get_hash_algorithm(sign);
	assert_int_not_equal(dig, GNUTLS_DIG_SHA1);
	assert_int_equal(dig, GNUTLS_DIG_SHA384);   /* both CAs: P-384, 3072 */
}

/* ---- openssl as an independent client ------------------------------ */

/* Runs cmd with stderr folded in; returns the exit status. */
static int
run(const char *cmd, char *out, size_t outsz)
{
	FILE	*f;
	size_t	 n = 0, r;

	f = popen(cmd, "r");
	assert_non_null(f);
	while (n + 1 < outsz && (r = fread(out + n, 1, outsz - 1 - n, f)) > 0)
		n += r;
	out[n] = '\0';
	return pclose(f);
}

static void
write_file(const char *dir, const char *name, const gnutls_datum_t *d,
    char *path, size_t pathsz)
{
	FILE	*f;

	snprintf(path, pathsz, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(d->data, 1, d->size, f), d->size);
	assert_int_equal(fclose(f), 0);
}

static void
write_pem(const char *dir, const char *name, gnutls_x509_crt_t crt,
    char *path, size_t pathsz)
{
	gnutls_datum_t	pem;

	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM,
	    &pem), 0);
	write_file(dir, name, &pem, path, pathsz);
	gnutls_free(pem.data);
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" not in:\n%s", needle, hay);
}

/*
 * openssl x509 -text shows the profile, and openssl verify -x509_strict
 * accepts the certificate for the S/MIME purpose it is meant for.
 */
static void
openssl_check(struct fixture *fx, const struct test_ca *ca,
    const struct sub_key *k, enum cert_profile p)
{
	struct cert_issuer	is = issuer_of(ca);
	struct cert_spec	spec = spec_of(MAIL, p, 365);
	struct serial		ser;
	gnutls_x509_crt_t	crt;
	gnutls_datum_t		der;
	char			ca_pem[128], crt_pem[128], crt_der[128];
	char			cmd[512], out[16384];

	crt = issue_ok(&is, &spec, k->pub, &ser, &der);
	write_file(fx->dir, "cert.der", &der, crt_der, sizeof(crt_der));
	write_pem(fx->dir, "cert.pem", crt, crt_pem, sizeof(crt_pem));
	write_pem(fx->dir, "ca.pem", ca->crt, ca_pem, sizeof(ca_pem));

	snprintf(cmd, sizeof(cmd),
	    "openssl x509 -inform DER -noout -text -in %s 2>&1", crt_der);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_contains(out, "Version: 3 (0x2)");
	assert_contains(out, "Subject: CN = " MAIL ", emailAddress = " MAIL);
	assert_contains(out, "X509v3 Key Usage: critical");
	assert_contains(out, "X509v3 Extended Key Usage: \n"
	    "                E-mail Protection\n");
	assert_contains(out, "email:" MAIL);
	assert_contains(out, "Policy: " POLICY);
	assert_contains(out, "URI:" CRL_URL);
	assert_contains(out, "OCSP - URI:" OCSP_URL);
	assert_contains(out, "CA Issuers - URI:" ISSUER_URL);
	assert_contains(out, "ecdsa-with-SHA384");
	if (p == PROFILE_SIGNING || p == PROFILE_DUAL)
		assert_contains(out, "Digital Signature");
	if (p == PROFILE_ENCRYPTION || p == PROFILE_DUAL)
		assert_contains(out, k->alg == GNUTLS_PK_RSA ?
		    "Key Encipherment" : "Key Agreement");
	if (p == PROFILE_ENCRYPTION && strstr(out, "Digital Signature"))
		fail_msg("encryption certificate has Digital Signature");

	/* OpenSSL's smimeencrypt purpose demands keyEncipherment, so an EC
	 * encryption certificate is checked with the signing purpose off. */
	snprintf(cmd, sizeof(cmd), "openssl verify -x509_strict -purpose %s "
	    "-CAfile %s %s 2>&1", p == PROFILE_ENCRYPTION ? "smimeencrypt" :
	    "smimesign", ca_pem, crt_pem);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_contains(out, "cert.pem: OK");

	gnutls_free(der.data);
	gnutls_x509_crt_deinit(crt);
}

/* ---- tests ------------------------------------------------------------ */

static void
test_every_profile_and_key_type_meets_the_mailbox_profile(void **state)
{
	struct fixture		*fx = *state;
	const struct test_ca	*cas[2] = { &fx->ca_p384, &fx->ca_rsa3072 };
	enum cert_profile	 p;
	struct cert_issuer	 is;
	struct cert_spec	 spec;
	struct serial		 ser;
	gnutls_x509_crt_t	 crt;
	size_t			 c, k;

	for (c = 0; c < 2; c++) {
		is = issuer_of(cas[c]);
		for (p = PROFILE_SIGNING; p <= PROFILE_DUAL; p++) {
			for (k = 0; k < 4; k++) {
				spec = spec_of(MAIL, p, 365);
				crt = issue_ok(&is, &spec, fx->keys[k].pub,
				    &ser, NULL);
				print_message("  %s CA, %s, %s\n", c == 0 ?
				    "P-384" : "RSA-3072", cert_profile_name(p),
				    fx->keys[k].name);
				assert_profile(crt, cas[c], &fx->keys[k], p,
				    &ser, 365, 0);
				gnutls_x509_crt_deinit(crt);
			}
		}
	}
}

static void
test_signing_certificate_carries_non_repudiation_when_configured(void **state)
{
	struct fixture		*fx = *state;
	struct cert_issuer	 is = issuer_of(&fx->ca_p384);
	struct cert_spec	 spec;
	struct serial		 ser;
	gnutls_x509_crt_t	 crt;
	enum cert_profile	 p;

	is.non_repudiation = 1;
	for (p = PROFILE_SIGNING; p <= PROFILE_DUAL; p++) {
		spec = spec_of(MAIL, p, 30);
		crt = issue_ok(&is, &spec, fx->keys[0].pub, &ser, NULL);
		/* Only the signing profile gets nonRepudiation. */
		assert_profile(crt, &fx->ca_p384, &fx->keys[0], p, &ser, 30,
		    p == PROFILE_SIGNING);
		gnutls_x509_crt_deinit(crt);
	}
}

static void
test_validity_is_days_asked_from_not_before(void **state)
{
	struct fixture		*fx = *state;
	struct cert_issuer	 is = issuer_of(&fx->ca_p384);
	struct cert_spec	 spec = spec_of(MAIL, PROFILE_SIGNING, 825);
	struct serial		 ser;
	gnutls_x509_crt_t	 crt;
	time_t			 nb = time(NULL) + 7 * DAY;

	spec.not_before = nb;
	crt = issue_ok(&is, &spec, fx->keys[2].pub, &ser, NULL);
	assert_int_equal(gnutls_x509_crt_get_activation_time(crt), nb);
	assert_int_equal(gnutls_x509_crt_get_expiration_time(crt),
	    nb + 825L * DAY - 1);
	gnutls_x509_crt_deinit(crt);

	spec = spec_of(MAIL, PROFILE_SIGNING, 1);
	crt = issue_ok(&is, &spec, fx->keys[2].pub, &ser, NULL);
	assert_true(labs(gnutls_x509_crt_get_activation_time(crt) -
	    time(NULL)) <= 5);
	assert_int_equal(gnutls_x509_crt_get_expiration_time(crt) -
	    gnutls_x509_crt_get_activation_time(crt), DAY - 1);
	gnutls_x509_crt_deinit(crt);
}

static void
test_validity_outside_1_to_825_days_is_refused(void **state)
{
	struct fixture		*fx = *state;
	struct cert_issuer	 is = issuer_of(&fx->ca_p384);
	struct cert_spec	 spec = spec_of(MAIL, PROFILE_SIGNING, 826);

	issue_refused(&is, &spec, fx->keys[2].pub, "826 days");
	spec.days = 0;
	issue_refused(&is, &spec, fx->keys[2].pub, "0 days");
}

static void
test_certificate_never_outlives_its_ca(void **state)
{
	struct fixture		*fx = *state;
	struct test_ca		 shortca;
	struct cert_issuer	 is;
	struct cert_spec	 spec = spec_of(MAIL, PROFILE_SIGNING, 365);
	struct serial		 ser;
	gnutls_x509_crt_t	 crt;

	memset(&shortca, 0, sizeof(shortca));
	test_ca_make(&shortca, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
	    "Signet Short CA", 30L * DAY, 0);
	is = issuer_of(&shortca);
	issue_refused(&is, &spec, fx->keys[2].pub, "CA certificate expires");
	spec.days = 29;
	crt = issue_ok(&is, &spec, fx->keys[2].pub, &ser, NULL);
	assert_true(gnutls_x509_crt_get_expiration_time(crt) <=
	    gnutls_x509_crt_get_expiration_time(shortca.crt));
	/* P-256 CA: SHA-256 (S/MIME BR 7.1.3.2.2). */
	assert_int_equal(gnutls_sign_get_hash_algorithm(
	    gnutls_x509_crt_get_signature_algorithm(crt)), GNUTLS_DIG_SHA256);
	gnutls_x509_crt_deinit(crt);
	test_ca_free(&shortca);
}

static void
test_non_http_urls_are_refused(void **state)
{
	struct fixture		*fx = *state;
	struct cert_issuer	 is;
	struct cert_spec	 spec = spec_of(MAIL, PROFILE_SIGNING, 365);

	is = issuer_of(&fx->ca_p384);
	is.crl_url = "https://pki.example.com/ca.crl";
	issue_refused(&is, &spec, fx->keys[2].pub, "not an http:// URL");
	is.crl_url = "ldap://ldap.example.com/cn=CA?certificateRevocationList";
	issue_refused(&is, &spec, fx->keys[2].pub, "CRL URL");
	is.crl_url = NULL;
	issue_refused(&is, &spec, fx->keys[2].pub, "no CRL URL");
	is.crl_url = "http://";
	issue_refused(&is, &spec, fx->keys[2].pub, "no host");
	is = issuer_of(&fx->ca_p384);
	is.ocsp_url = "https://ocsp.example.com/";
	issue_refused(&is, &spec, fx->keys[2].pub, "OCSP URL");
	is = issuer_of(&fx->ca_p384);
	is.issuer_url = "ftp://pki.example.com/ca.crt";
	issue_refused(&is, &spec, fx->keys[2].pub, "CA issuers URL");
}

static void
test_ca_without_ski_or_policy_or_matching_key_is_refused(void **state)
{
	struct fixture		*fx = *state;
	struct test_ca		 noski;
	struct cert_issuer	 is;
	struct cert_spec	 spec = spec_of(MAIL, PROFILE_SIGNING, 365);

	memset(&noski, 0, sizeof(noski));
	test_ca_make(&noski, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
	    "Signet No-SKI CA", 365L * DAY, 1);
	is = issuer_of(&noski);
	issue_refused(&is, &spec, fx->keys[2].pub, "no subject key identifier");
	test_ca_free(&noski);

	is = issuer_of(&fx->ca_p384);
	is.policy_oid = NULL;
	issue_refused(&is, &spec, fx->keys[2].pub, "policy");
	is = issuer_of(&fx->ca_p384);
	is.key = fx->ca_rsa3072.key;
	issue_refused(&is, &spec, fx->keys[2].pub, "does not match");
}

static void
test_long_mailbox_goes_in_email_address_without_cn(void **state)
{
	struct fixture		*fx = *state;
	struct cert_issuer	 is = issuer_of(&fx->ca_p384);
	struct cert_spec	 spec;
	struct serial		 ser;
	gnutls_x509_crt_t	 crt;
	char			 mail[128];

	/* RFC 5280 A.1 ub-common-name = 64: a 76-octet mailbox is no CN. */
	memset(mail, 'x', 64);
	strcpy(mail + 64, "@example.com");
	spec = spec_of(mail, PROFILE_SIGNING, 365);
	crt = issue_ok(&is, &spec, fx->keys[2].pub, &ser, NULL);
	assert_subject_is_mailbox(crt, mail, 0);
	assert_san_is_mailbox(crt, mail);
	gnutls_x509_crt_deinit(crt);
}

static void
test_openssl_shows_and_verifies_each_profile(void **state)
{
	struct fixture	*fx = *state;

	/* RSA-2048 for encryption, since openssl wants keyEncipherment. */
	openssl_check(fx, &fx->ca_p384, &fx->keys[2], PROFILE_SIGNING);
	openssl_check(fx, &fx->ca_p384, &fx->keys[0], PROFILE_ENCRYPTION);
	openssl_check(fx, &fx->ca_p384, &fx->keys[3], PROFILE_DUAL);
	openssl_check(fx, &fx->ca_p384, &fx->keys[1], PROFILE_DUAL);
}

static void
test_bad_mailboxes_are_refused_with_the_reason(void **state)
{
	static const struct { const char *mail, *why; } bad[] = {
		{ "", "empty" },
		{ "a@b", "no dot" },
		{ "a..b@example.com", "two dots" },
		{ ".a@example.com", "starts or ends with a dot" },
		{ "a.@example.com", "starts or ends with a dot" },
		{ "\xc3\xa4@example.com", "non-ASCII" },
		{ "a@ex\xc3\xa4mple.com", "non-ASCII" },
		{ "a@-x.com", "hyphen" },
		{ "a@x-.com", "hyphen" },
		{ "a b@example.com", "space" },
		{ "a\t@example.com", "control" },
		{ "alice@example.com\n", "control" },
		{ "<a@example.com>", "not allowed in a dot-atom" },
		{ "\"a\"@example.com", "not allowed in a dot-atom" },
		{ "a(b)@example.com", "not allowed in a dot-atom" },
		{ "a,b@example.com", "not allowed in a dot-atom" },
		{ "a:b@example.com", "not allowed in a dot-atom" },
		{ "a\\b@example.com", "not allowed in a dot-atom" },
		{ "alice", "no '@'" },
		{ "@example.com", "empty local part" },
		{ "a@", "empty domain" },
		{ "a@@example.com", "more than one '@'" },
		{ "a@b@example.com", "more than one '@'" },
		{ "a@example..com", "empty label" },
		{ "a@.example.com", "empty label" },
		{ "a@example.com.", "empty label" },
		{ "a@exam_ple.com", "letter, digit, hyphen" },
		{ "a@[192.0.2.1]", "letter, digit, hyphen" },
	};
	struct err	e;
	char		mail[400];
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (cert_email_check(bad[i].mail, &e) != -1)
			fail_msg("accepted \"%s\"", bad[i].mail);
		if (strstr(e.msg, bad[i].why) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"",
			    bad[i].mail, e.msg, bad[i].why);
	}
	/* 65-octet local part (RFC 5321 4.5.3.1.1) */
	memset(mail, 'a', 65);
	strcpy(mail + 65, "@example.com");
	assert_int_equal(cert_email_check(mail, &e), -1);
	assert_non_null(strstr(e.msg, "more than 64"));
	/* 64-octet label (RFC 1035 2.3.4) */
	strcpy(mail, "a@");
	memset(mail + 2, 'b', 64);
	strcpy(mail + 66, ".com");
	assert_int_equal(cert_email_check(mail, &e), -1);
	assert_non_null(strstr(e.msg, "longer than 63"));
	/* 255-octet mailbox (RFC 5321 4.5.3.1.3) */
	strcpy(mail, "a@");
	for (i = 2; i < 255; i += 2)
		memcpy(mail + i, "b.", 2);
	mail[255] = '\0';
	mail[254] = 'c';
	assert_int_equal(cert_email_check(mail, &e), -1);
	assert_non_null(strstr(e.msg, "more than 254"));
}

static void
test_good_mailboxes_are_accepted(void **state)
{
	static const char *good[] = {
		"alice@example.com",
		"a@b.co",
		"first.last@sub.example.org",
		"o'brien@example.com",
		"x+tag@example.com",
		"!#$%&'*+-/=?^_`{|}~@example.com",
		"Alice.Smith@EXAMPLE.COM",
		"user@xn--bcher-kva.example",
		"u@a-b.c-d.example",
		"1@2.3",
	};
	struct err	e;
	char		mail[400];
	size_t		i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (cert_email_check(good[i], &e) != 0)
			fail_msg("refused \"%s\": %s", good[i], e.msg);
	}
	/* the limits themselves: 64-octet local part, 63-octet labels,
	 * 254 octets in all */
	memset(mail, 'a', 64);
	strcpy(mail + 64, "@");
	memset(mail + 65, 'b', 63);
	strcpy(mail + 128, ".");
	memset(mail + 129, 'c', 63);
	strcpy(mail + 192, ".");
	memset(mail + 193, 'd', 57);
	strcpy(mail + 250, ".com");
	assert_int_equal(strlen(mail), 254);
	if (cert_email_check(mail, &e) != 0)
		fail_msg("refused the 254-octet mailbox: %s", e.msg);
}

static void
test_cert_issue_checks_the_mailbox_itself(void **state)
{
	struct fixture		*fx = *state;
	struct cert_issuer	 is = issuer_of(&fx->ca_p384);
	struct cert_spec	 spec = spec_of("bad..dots@example.com",
	    PROFILE_SIGNING, 365);

	issue_refused(&is, &spec, fx->keys[2].pub, "two dots");
}

/* The TBSCertificate inside a Certificate: its first element. */
static void
tbs_of(const gnutls_datum_t *d, const unsigned char **tbs, size_t *tlen)
{
	size_t	len, h = der_header(d->data, d->size, &len);
	size_t	h2, len2;

	assert_true(h > 0);
	h2 = der_header(d->data + h, d->size - h, &len2);
	assert_true(h2 > 0);
	*tbs = d->data + h;
	*tlen = h2 + len2;
}

/*
 * A prepared issuer (cert_issuer_prepare encodes the CA's parts once)
 * writes the very TBSCertificate an unprepared one builds from scratch,
 * for every profile and key, under both CAs; both verify. Preparing
 * again and releasing leaves nothing behind (the sanitizer build checks).
 */
static void
test_prepared_issuer_writes_the_same_certificate(void **state)
{
	struct fixture		*fx = *state;
	const struct test_ca	*cas[2] = { &fx->ca_p384, &fx->ca_rsa3072 };
	const unsigned char	*ta, *tb;
	struct cert_issuer	 plain, prep;
	struct cert_spec	 spec;
	struct serial		 ser;
	gnutls_datum_t		 a, b;
	gnutls_x509_crt_t	 crt, ca_crt;
	unsigned		 status;
	struct err		 e;
	size_t			 c, k, la, lb;
	int			 p;

	for (c = 0; c < 2; c++) {
		plain = issuer_of(cas[c]);
		prep = issuer_of(cas[c]);
		assert_int_equal(cert_issuer_prepare(&prep, &e), 0);
		assert_int_equal(cert_issuer_prepare(&prep, &e), 0);
		assert_true(prep.prepared);
		for (k = 0; k < 4; k++)
			for (p = PROFILE_SIGNING; p <= PROFILE_DUAL; p++) {
				spec = spec_of("alice@example.com",
				    (enum cert_profile)p, 365);
				spec.not_before = time(NULL) - 60;
				assert_int_equal(serial_new(&ser, &e), 0);
				assert_int_equal(cert_issue(&plain, &spec,
				    fx->keys[k].pub, &ser, &a, &e), 0);
				assert_int_equal(cert_issue(&prep, &spec,
				    fx->keys[k].pub, &ser, &b, &e), 0);
				tbs_of(&a, &ta, &la);
				tbs_of(&b, &tb, &lb);
				assert_int_equal(la, lb);
				assert_memory_equal(ta, tb, la);
				assert_int_equal(gnutls_x509_crt_init(&crt), 0);
				assert_int_equal(gnutls_x509_crt_import(crt, &b,
				    GNUTLS_X509_FMT_DER), 0);
				ca_crt = cas[c]->crt;
				assert_int_equal(gnutls_x509_crt_verify(crt,
				    &ca_crt, 1, 0, &status), 0);
				assert_int_equal(status, 0);
				gnutls_x509_crt_deinit(crt);
				gnutls_free(a.data);
				gnutls_free(b.data);
			}
		/* X.690 8.3.2: a needless leading zero octet is not DER */
		ser.len = 2;
		ser.b[0] = 0x00;
		ser.b[1] = 0x42;
		spec = spec_of("alice@example.com", PROFILE_SIGNING, 365);
		assert_int_equal(cert_issue(&prep, &spec, fx->keys[2].pub,
		    &ser, &b, &e), -1);
		assert_non_null(strstr(e.msg, "serial number"));
		cert_issuer_release(&prep);
		assert_false(prep.prepared);
		assert_null(prep.tmpl);
	}
}

static void
test_profile_names_round_trip(void **state)
{
	static const char *names[] = { "signing", "encryption", "dual" };
	enum cert_profile	p;
	struct err		e;
	size_t			i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(cert_profile_parse(names[i], &p, &e), 0);
		assert_string_equal(cert_profile_name(p), names[i]);
	}
	assert_int_equal(cert_profile_parse("Signing", &p, &e), -1);
	assert_non_null(strstr(e.msg, "\"Signing\""));
	assert_int_equal(cert_profile_parse("", &p, &e), -1);
	assert_null(cert_profile_name((enum cert_profile)0));
}

static void
test_signature_hash_follows_the_ca_key(void **state)
{
	struct fixture		*fx = *state;
	gnutls_privkey_t	 k;
	gnutls_digest_algorithm_t h;
	size_t			 i;
	static const gnutls_digest_algorithm_t want[4] = {
		GNUTLS_DIG_SHA256, GNUTLS_DIG_SHA384,	/* RSA 2048, 3072 */
		GNUTLS_DIG_SHA256, GNUTLS_DIG_SHA384,	/* P-256, P-384 */
	};

	for (i = 0; i < 4; i++) {
		assert_int_equal(gnutls_privkey_init(&k), 0);
		assert_int_equal(gnutls_privkey_import_x509(k,
		    fx->keys[i].xkey, 0), 0);
		assert_int_equal(cert_sig_hash(k, &h, NULL), 0);
		assert_int_equal(h, want[i]);
		gnutls_privkey_deinit(k);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_every_profile_and_key_type_meets_the_mailbox_profile),
		cmocka_unit_test(
		    test_signing_certificate_carries_non_repudiation_when_configured),
		cmocka_unit_test(test_validity_is_days_asked_from_not_before),
		cmocka_unit_test(test_validity_outside_1_to_825_days_is_refused),
		cmocka_unit_test(test_certificate_never_outlives_its_ca),
		cmocka_unit_test(test_non_http_urls_are_refused),
		cmocka_unit_test(
		    test_ca_without_ski_or_policy_or_matching_key_is_refused),
		cmocka_unit_test(
		    test_long_mailbox_goes_in_email_address_without_cn),
		cmocka_unit_test(test_openssl_shows_and_verifies_each_profile),
		cmocka_unit_test(test_bad_mailboxes_are_refused_with_the_reason),
		cmocka_unit_test(test_good_mailboxes_are_accepted),
		cmocka_unit_test(test_cert_issue_checks_the_mailbox_itself),
		cmocka_unit_test(
		    test_prepared_issuer_writes_the_same_certificate),
		cmocka_unit_test(test_profile_names_round_trip),
		cmocka_unit_test(test_signature_hash_follows_the_ca_key),
	};

	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
