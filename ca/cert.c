/*
 * cert: the subscriber certificate profile and its construction.
 *
 * The profile is S/MIME BR 7.1.2.3 "strict, mailbox-validated" (policy
 * 2.23.140.1.5.1.3) as DESIGN.md "Certificates" states it. Subject and SAN
 * come only from the cert_spec (the directory identity), never from a CSR.
 */
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <gnutls/x509-ext.h>
#include <gnutls/crypto.h>
#include <libtasn1.h>

#include "cert.h"

#define OID_AIA		"1.3.6.1.5.5.7.1.1"	/* RFC 5280 4.2.2.1 */
#define SKI_MAX		64			/* generous: SHA-1 is 20 */
#define CN_MAX		64			/* RFC 5280 A.1 ub-common-name */

static const struct {
	enum cert_profile	 p;
	const char		*name;
} profiles[] = {
	{ PROFILE_SIGNING, "signing" },
	{ PROFILE_ENCRYPTION, "encryption" },
	{ PROFILE_DUAL, "dual" },
};

int
cert_profile_parse(const char *name, enum cert_profile *p, struct err *e)
{
	size_t	i;

	for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
		if (name != NULL && strcmp(name, profiles[i].name) == 0) {
			*p = profiles[i].p;
			return 0;
		}
	}
	return err_set(e, "unknown certificate profile \"%s\" (expected "
	    "signing, encryption or dual)", name == NULL ? "" : name);
}

const char *
cert_profile_name(enum cert_profile p)
{
	size_t	i;

	for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (profiles[i].p == p)
			return profiles[i].name;
	return NULL;
}

/* RFC 5322 3.2.3 atext. */
static int
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* RFC 5321 4.1.2 Dot-string; RFC 5322 3.2.3 dot-atom-text. */
static int
check_local_part(const char *s, size_t len, struct err *e)
{
	size_t	i;

	if (len == 0)
		return err_set(e, "mailbox has an empty local part");
	/* RFC 5321 4.5.3.1.1 */
	if (len > 64)
		return err_set(e, "mailbox local part is %zu octets, more "
		    "than 64", len);
	if (s[0] == '.' || s[len - 1] == '.')
		return err_set(e, "mailbox local part starts or ends with a "
		    "dot");
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return err_set(e, "mailbox local part has two "
				    "dots in a row");
			continue;
		}
		if (!is_atext((unsigned char)s[i]))
			return err_set(e, "mailbox local part has a character "
			    "not allowed in a dot-atom: '%c'", s[i]);
	}
	return 0;
}

/* RFC 5321 4.1.2 Domain; RFC 1123 2.1 LDH labels. */
static int
check_domain(const char *s, size_t len, struct err *e)
{
	size_t	i, start, dots = 0;

	if (len == 0)
		return err_set(e, "mailbox has an empty domain");
	/* RFC 1035 2.3.4, less the root label and length octets */
	if (len > 253)
		return err_set(e, "mailbox domain is %zu octets, more than 253",
		    len);
	for (start = 0, i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (!is_ldh((unsigned char)s[i]))
				return err_set(e, "mailbox domain has a "
				    "character other than a letter, digit, "
				    "hyphen or dot: '%c'", s[i]);
			continue;
		}
		if (i == start)
			return err_set(e, "mailbox domain has an empty label");
		if (i - start > 63)
			return err_set(e, "mailbox domain has a label longer "
			    "than 63 octets");
		if (s[start] == '-' || s[i - 1] == '-')
			return err_set(e, "mailbox domain label starts or ends "
			    "with a hyphen");
		if (i < len)
			dots++;
		start = i + 1;
	}
	if (dots == 0)
		return err_set(e, "mailbox domain \"%.*s\" is not a fully "
		    "qualified name (no dot)", (int)len, s);
	return 0;
}

int
cert_email_check(const char *email, struct err *e)
{
	const char	*at;
	size_t		 len, i;

	if (email == NULL || email[0] == '\0')
		return err_set(e, "mailbox is empty");
	len = strlen(email);
	/* RFC 5321 4.5.3.1.3 path limit 256 less the angle brackets */
	if (len > 254)
		return err_set(e, "mailbox is %zu octets, more than 254", len);
	for (i = 0; i < len; i++) {
		/* RFC 5280 4.2.1.6: rfc822Name is an IA5String; no SMTPUTF8 */
		if ((unsigned char)email[i] >= 0x80)
			return err_set(e, "mailbox has a non-ASCII character "
			    "at octet %zu (internationalized addresses are "
			    "not supported)", i + 1);
		if ((unsigned char)email[i] <= 0x20 || email[i] == 0x7f)
			return err_set(e, "mailbox has a space or control "
			    "character at octet %zu", i + 1);
	}
	at = strchr(email, '@');
	if (at == NULL)
		return err_set(e, "mailbox \"%s\" has no '@'", email);
	if (strchr(at + 1, '@') != NULL)
		return err_set(e, "mailbox \"%s\" has more than one '@'",
		    email);
	if (check_local_part(email, (size_t)(at - email), e) == -1 ||
	    check_domain(at + 1, len - (size_t)(at - email) - 1, e) == -1)
		return err_wrap(e, "mailbox \"%s\"", email);
	return 0;
}

/* Bit length of an RSA modulus, from the public key itself. */
static int
rsa_bits(gnutls_pubkey_t pub, unsigned *bits)
{
	gnutls_datum_t	m = { NULL, 0 }, ex = { NULL, 0 };
	unsigned	i = 0, top;

	if (gnutls_pubkey_export_rsa_raw2(pub, &m, &ex, 0) < 0)
		return -1;
	while (i < m.size && m.data[i] == 0)
		i++;
	*bits = 0;
	if (i < m.size) {
		*bits = (m.size - i) * 8;
		for (top = m.data[i]; !(top & 0x80); top <<= 1)
			(*bits)--;
	}
	gnutls_free(m.data);
	gnutls_free(ex.data);
	return *bits == 0 ? -1 : 0;
}

int
cert_sig_hash(gnutls_privkey_t key, gnutls_digest_algorithm_t *dig,
    struct err *e)
{
	gnutls_pubkey_t		pub = NULL;
	gnutls_ecc_curve_t	curve = GNUTLS_ECC_CURVE_INVALID;
	unsigned		bits = 0;
	int			alg, ret, rc = -1;

	if ((ret = gnutls_pubkey_init(&pub)) < 0 ||
	    (ret = gnutls_pubkey_import_privkey(pub, key, 0, 0)) < 0) {
		err_set(e, "reading the CA public key: %s", gnutls_strerror(ret));
		goto out;
	}
	alg = gnutls_pubkey_get_pk_algorithm(pub, &bits);
	if (alg == GNUTLS_PK_RSA) {
		/* S/MIME BR 7.1.3.2.1: match the hash to the key's strength */
		if (bits == 0 && rsa_bits(pub, &bits) == -1) {
			err_set(e, "reading the CA public key: unreadable RSA "
			    "modulus");
			goto out;
		}
		*dig = bits >= 3072 ? GNUTLS_DIG_SHA384 : GNUTLS_DIG_SHA256;
	} else if (alg == GNUTLS_PK_ECDSA) {
		if ((ret = gnutls_pubkey_export_ecc_raw2(pub, &curve, NULL,
		    NULL, 0)) < 0) {
			err_set(e, "reading the CA public key: %s",
			    gnutls_strerror(ret));
			goto out;
		}
		/* S/MIME BR 7.1.3.2.2: the curve fixes the hash */
		*dig = curve == GNUTLS_ECC_CURVE_SECP521R1 ? GNUTLS_DIG_SHA512 :
		    curve == GNUTLS_ECC_CURVE_SECP384R1 ? GNUTLS_DIG_SHA384 :
		    GNUTLS_DIG_SHA256;
	} else {
		err_set(e, "the CA key is %s; S/MIME BR 6.1.5 allows only RSA "
		    "and ECDSA", alg < 0 ? "unreadable" : gnutls_pk_get_name(alg));
		goto out;
	}
	rc = 0;
out:
	gnutls_pubkey_deinit(pub);
	return rc;
}

/* S/MIME BR 7.1.2.3(b),(c): CRL and AIA URLs use the http scheme. */
static int
check_http_url(const char *what, const char *url, struct err *e)
{
	size_t	i;

	if (strncmp(url, "http://", 7) != 0)
		return err_set(e, "%s \"%s\" is not an http:// URL "
		    "(S/MIME BR 7.1.2.3 requires plain HTTP)", what, url);
	if (url[7] == '\0' || url[7] == '/')
		return err_set(e, "%s \"%s\" has no host", what, url);
	for (i = 0; url[i] != '\0'; i++)
		/* RFC 3986 2: URIs are printable ASCII without spaces */
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f)
			return err_set(e, "%s has a space, control or "
			    "non-ASCII character", what);
	return 0;
}

static int
check_issuer(const struct cert_issuer *is, struct err *e)
{
	if (is->crt == NULL || is->key == NULL)
		return err_set(e, "no CA certificate or key");
	if (is->crl_url == NULL)
		return err_set(e, "no CRL URL configured "
		    "(S/MIME BR 7.1.2.3(b) requires a CRL distribution point)");
	if (check_http_url("CRL URL", is->crl_url, e) == -1)
		return -1;
	if (is->ocsp_url != NULL &&
	    check_http_url("OCSP URL", is->ocsp_url, e) == -1)
		return -1;
	if (is->issuer_url != NULL &&
	    check_http_url("CA issuers URL", is->issuer_url, e) == -1)
		return -1;
	if (is->policy_oid == NULL || is->policy_oid[0] == '\0')
		return err_set(e, "no certificate policy OID configured "
		    "(S/MIME BR 7.1.2.3(a))");
	return 0;
}

/*
 * The validity: notAfter is the last second covered, so days*86400 - 1
 * (RFC 5280 4.1.2.5 counts both ends). It must lie within the CA's own
 * validity, or the certificate outlives the CA that vouches for it.
 */
static int
cert_validity(const struct cert_issuer *is, const struct cert_spec *spec,
    time_t *nb, time_t *na, struct err *e)
{
	time_t	ca_nb, ca_na;

	/* S/MIME BR 6.3.2 */
	if (spec->days == 0 || spec->days > CERT_MAX_DAYS)
		return err_set(e, "validity of %u days is outside 1..%d "
		    "(S/MIME BR 6.3.2)", spec->days, CERT_MAX_DAYS);
	*nb = spec->not_before != 0 ? spec->not_before : time(NULL);
	*na = *nb + (time_t)spec->days * 86400 - 1;
	ca_nb = gnutls_x509_crt_get_activation_time(is->crt);
	ca_na = gnutls_x509_crt_get_expiration_time(is->crt);
	if (ca_nb == (time_t)-1 || ca_na == (time_t)-1)
		return err_set(e, "cannot read the CA certificate's validity");
	if (*nb < ca_nb)
		return err_set(e, "certificate would start before the CA "
		    "certificate is valid");
	if (*na > ca_na)
		return err_set(e, "a %u-day certificate would end after the "
		    "CA certificate expires; issue a shorter one or renew "
		    "the CA", spec->days);
	return 0;
}

/* S/MIME BR 7.1.2.3(e): key usage by profile and key type. */
static int
cert_key_usage(const struct cert_issuer *is, enum cert_profile profile,
    gnutls_pubkey_t pub, unsigned *usage, struct err *e)
{
	unsigned	bits = 0, kmgmt;
	int		alg;

	alg = gnutls_pubkey_get_pk_algorithm(pub, &bits);
	if (alg == GNUTLS_PK_RSA)
		kmgmt = GNUTLS_KEY_KEY_ENCIPHERMENT;
	else if (alg == GNUTLS_PK_ECDSA)
		kmgmt = GNUTLS_KEY_KEY_AGREEMENT;
	else
		return err_set(e, "subscriber key type %s is not supported "
		    "(RSA or EC only)", gnutls_pk_get_name(alg) ?
		    gnutls_pk_get_name(alg) : "unknown");
	switch (profile) {
	case PROFILE_SIGNING:
		*usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
		if (is->non_repudiation)
			*usage |= GNUTLS_KEY_NON_REPUDIATION;
		return 0;
	case PROFILE_ENCRYPTION:
		*usage = kmgmt;
		return 0;
	case PROFILE_DUAL:
		*usage = GNUTLS_KEY_DIGITAL_SIGNATURE | kmgmt;
		return 0;
	}
	return err_set(e, "unknown certificate profile %d", (int)profile);
}

/*
 * S/MIME BR 7.1.4.2.2(a),(h): the mailbox-validated profile allows only a
 * mailbox address in commonName, so CN is the mailbox even where
 * DESIGN.md mentions a display name; emailAddress is the mailbox too and
 * nothing else is in the subject. A mailbox longer than ub-common-name
 * (RFC 5280 A.1, 64) cannot be a CN: then CN is left out, which the BR
 * allows (commonName is MAY), and emailAddress (up to 255) carries it.
 */
static int
set_subject(gnutls_x509_crt_t crt, const char *email, struct err *e)
{
	size_t	len = strlen(email);
	int	r;

	if (len <= CN_MAX) {
		r = gnutls_x509_crt_set_dn_by_oid(crt,
		    GNUTLS_OID_X520_COMMON_NAME, 0, email, (unsigned)len);
		if (r < 0)
			return err_set(e, "setting subject CN: %s",
			    gnutls_strerror(r));
	}
	r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_PKCS9_EMAIL, 0,
	    email, (unsigned)len);
	if (r < 0)
		return err_set(e, "setting subject emailAddress: %s",
		    gnutls_strerror(r));
	/* RFC 5280 4.2.1.6: not critical, since the subject is not empty. */
	r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_RFC822NAME,
	    email, (unsigned)len, GNUTLS_FSAN_SET);
	if (r < 0)
		return err_set(e, "setting subjectAltName: %s",
		    gnutls_strerror(r));
	return 0;
}

/*
 * Reads one DER TLV at *p with libtasn1 and checks its tag; on success
 * *p points at the content and *len is its length.
 */
static int
der_enter(const unsigned char **p, int *left, unsigned char want_cls,
    unsigned long want_tag, int *len)
{
	unsigned char	cls;
	unsigned long	tag;
	int		tl, ll;
	long		cl;

	if (asn1_get_tag_der(*p, *left, &cls, &tl, &tag) != ASN1_SUCCESS ||
	    cls != want_cls || tag != want_tag)
		return -1;
	cl = asn1_get_length_der(*p + tl, *left - tl, &ll);
	if (cl < 0 || cl > *left - tl - ll)
		return -1;
	*p += tl + ll;
	*left -= tl + ll;
	*len = (int)cl;
	return 0;
}

/*
 * RFC 5280 4.2.1.2 method (1): the SHA-1 of the value of the BIT STRING
 * subjectPublicKey, without tag, length and unused-bits octet. gnutls'
 * own key ids hash the whole SubjectPublicKeyInfo, which is a different
 * value, so the BIT STRING is taken out of the SPKI here.
 */
static int
ski_method1(gnutls_pubkey_t pub, unsigned char out[20], struct err *e)
{
	gnutls_datum_t		 spki = { NULL, 0 };
	const unsigned char	*p;
	int			 left, len, r, rc = -1;

	if ((r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki)) < 0) {
		err_set(e, "exporting the subject public key: %s",
		    gnutls_strerror(r));
		goto out;
	}
	p = spki.data;
	left = (int)spki.size;
	/* RFC 5280 4.1: SPKI ::= SEQUENCE { algorithm, subjectPublicKey } */
	if (der_enter(&p, &left, ASN1_CLASS_STRUCTURED, ASN1_TAG_SEQUENCE,
	    &len) == -1 ||
	    der_enter(&p, &left, ASN1_CLASS_STRUCTURED, ASN1_TAG_SEQUENCE,
	    &len) == -1) {
		err_set(e, "subject public key is not a valid SPKI");
		goto out;
	}
	p += len;
	left -= len;
	if (der_enter(&p, &left, ASN1_CLASS_UNIVERSAL, ASN1_TAG_BIT_STRING,
	    &len) == -1 || len < 2 || p[0] != 0) {
		err_set(e, "subject public key BIT STRING is malformed");
		goto out;
	}
	if ((r = gnutls_hash_fast(GNUTLS_DIG_SHA1, p + 1, (size_t)len - 1,
	    out)) < 0) {
		err_set(e, "hashing the subject public key: %s",
		    gnutls_strerror(r));
		goto out;
	}
	rc = 0;
out:
	gnutls_free(spki.data);
	return rc;
}

/*
 * RFC 5280 4.2.1.1: AKI keyIdentifier = the CA's SKI, which must exist
 * (RFC 5280 4.2.1.2: CA certificates carry one). SKI by method (1).
 */
static int
set_key_ids(gnutls_x509_crt_t crt, gnutls_x509_crt_t ca, gnutls_pubkey_t pub,
    struct err *e)
{
	unsigned char	id[SKI_MAX];
	size_t		size = sizeof(id);
	unsigned	crit = 0;
	int		r;

	r = gnutls_x509_crt_get_subject_key_id(ca, id, &size, &crit);
	if (r < 0 || size == 0)
		return err_set(e, "the CA certificate has no subject key "
		    "identifier (RFC 5280 4.2.1.2), so no authority key "
		    "identifier can be made");
	if ((r = gnutls_x509_crt_set_authority_key_id(crt, id, size)) < 0)
		return err_set(e, "setting authorityKeyIdentifier: %s",
		    gnutls_strerror(r));
	if (ski_method1(pub, id, e) == -1)
		return -1;
	if ((r = gnutls_x509_crt_set_subject_key_id(crt, id, 20)) < 0)
		return err_set(e, "setting subjectKeyIdentifier: %s",
		    gnutls_strerror(r));
	return 0;
}

/* RFC 5280 4.2.2.1; S/MIME BR 7.1.2.3(c): OCSP first, then caIssuers. */
static int
set_aia(gnutls_x509_crt_t crt, const struct cert_issuer *is, struct err *e)
{
	gnutls_x509_aia_t	aia = NULL;
	gnutls_datum_t		d, der = { NULL, 0 };
	int			r, rc = -1;

	if (is->ocsp_url == NULL && is->issuer_url == NULL)
		return 0;
	if ((r = gnutls_x509_aia_init(&aia)) < 0) {
		err_set(e, "authorityInfoAccess: %s", gnutls_strerror(r));
		goto out;
	}
	if (is->ocsp_url != NULL) {
		d.data = (unsigned char *)is->ocsp_url;
		d.size = (unsigned)strlen(is->ocsp_url);
		if ((r = gnutls_x509_aia_set(aia, GNUTLS_OID_AD_OCSP,
		    GNUTLS_SAN_URI, &d)) < 0) {
			err_set(e, "authorityInfoAccess OCSP: %s",
			    gnutls_strerror(r));
			goto out;
		}
	}
	if (is->issuer_url != NULL) {
		d.data = (unsigned char *)is->issuer_url;
		d.size = (unsigned)strlen(is->issuer_url);
		if ((r = gnutls_x509_aia_set(aia, GNUTLS_OID_AD_CAISSUERS,
		    GNUTLS_SAN_URI, &d)) < 0) {
			err_set(e, "authorityInfoAccess caIssuers: %s",
			    gnutls_strerror(r));
			goto out;
		}
	}
	if ((r = gnutls_x509_ext_export_aia(aia, &der)) < 0 ||
	    (r = gnutls_x509_crt_set_extension_by_oid(crt, OID_AIA, der.data,
	    der.size, 0)) < 0) {
		err_set(e, "authorityInfoAccess: %s", gnutls_strerror(r));
		goto out;
	}
	rc = 0;
out:
	gnutls_free(der.data);
	if (aia != NULL)
		gnutls_x509_aia_deinit(aia);
	return rc;
}

static int
set_extensions(gnutls_x509_crt_t crt, const struct cert_issuer *is,
    unsigned usage, gnutls_pubkey_t pub, struct err *e)
{
	struct gnutls_x509_policy_st	pol;
	int				r;

	/* RFC 5280 4.2.1.3; S/MIME BR 7.1.2.3(e): critical. */
	if ((r = gnutls_x509_crt_set_key_usage(crt, usage)) < 0)
		return err_set(e, "setting keyUsage: %s", gnutls_strerror(r));
	/* S/MIME BR 7.1.2.3(f): id-kp-emailProtection only, not critical. */
	if ((r = gnutls_x509_crt_set_key_purpose_oid(crt,
	    GNUTLS_KP_EMAIL_PROTECTION, 0)) < 0)
		return err_set(e, "setting extKeyUsage: %s",
		    gnutls_strerror(r));
	if (set_key_ids(crt, is->crt, pub, e) == -1)
		return -1;
	/* RFC 5280 4.2.1.13; S/MIME BR 7.1.2.3(b): one http fullName. */
	if ((r = gnutls_x509_crt_set_crl_dist_points2(crt, GNUTLS_SAN_URI,
	    is->crl_url, (unsigned)strlen(is->crl_url), 0)) < 0)
		return err_set(e, "setting cRLDistributionPoints: %s",
		    gnutls_strerror(r));
	if (set_aia(crt, is, e) == -1)
		return -1;
	/* RFC 5280 4.2.1.4; S/MIME BR 7.1.2.3(a): the OID, no qualifiers. */
	memset(&pol, 0, sizeof(pol));
	pol.oid = (char *)is->policy_oid;
	if ((r = gnutls_x509_crt_set_policy(crt, &pol, 0)) < 0)
		return err_set(e, "setting certificatePolicies %s: %s",
		    is->policy_oid, gnutls_strerror(r));
	/* S/MIME BR 7.1.2.3(d): basicConstraints MAY be present; omitted. */
	return 0;
}

/* Refuses to sign with a key that does not belong to the CA certificate:
 * the result would never verify. */
static int
check_ca_key(const struct cert_issuer *is, struct err *e)
{
	gnutls_pubkey_t	pk = NULL;
	unsigned char	a[32], b[32];
	size_t		alen = sizeof(a), blen = sizeof(b);
	int		rc = -1;

	if (gnutls_pubkey_init(&pk) < 0 ||
	    gnutls_pubkey_import_privkey(pk, is->key, 0, 0) < 0 ||
	    gnutls_pubkey_get_key_id(pk, GNUTLS_KEYID_USE_SHA256, a,
	    &alen) < 0 ||
	    gnutls_x509_crt_get_key_id(is->crt, GNUTLS_KEYID_USE_SHA256, b,
	    &blen) < 0) {
		err_set(e, "cannot read the CA key or certificate public key");
		goto out;
	}
	if (alen != blen || memcmp(a, b, alen) != 0) {
		err_set(e, "the CA private key does not match the CA "
		    "certificate");
		goto out;
	}
	rc = 0;
out:
	if (pk != NULL)
		gnutls_pubkey_deinit(pk);
	return rc;
}

int
cert_issuer_prepare(struct cert_issuer *is, struct err *e)
{
	if (check_issuer(is, e) == -1 || check_ca_key(is, e) == -1 ||
	    cert_sig_hash(is->key, &is->hash, e) == -1)
		return -1;
	is->prepared = 1;
	return 0;
}

int
cert_issue(const struct cert_issuer *issuer, const struct cert_spec *spec,
    gnutls_pubkey_t pub, const struct serial *serial,
    gnutls_datum_t *der, struct err *e)
{
	gnutls_x509_crt_t	crt = NULL;
	gnutls_digest_algorithm_t hash;
	time_t			nb = 0, na = 0;
	unsigned		usage = 0;
	int			r, rc = -1;

	der->data = NULL;
	der->size = 0;
	if ((!issuer->prepared && (check_issuer(issuer, e) == -1 ||
	    check_ca_key(issuer, e) == -1)) ||
	    cert_email_check(spec->email, e) == -1 ||
	    cert_validity(issuer, spec, &nb, &na, e) == -1 ||
	    cert_key_usage(issuer, spec->profile, pub, &usage, e) == -1)
		goto out;
	/* RFC 5280 4.1.2.2: 1..20 octets, positive. */
	if (serial->len == 0 || serial->len > sizeof(serial->b) ||
	    (serial->b[0] & 0x80)) {
		err_set(e, "serial number is not a positive INTEGER of 1..20 "
		    "octets (RFC 5280 4.1.2.2)");
		goto out;
	}
	if ((r = gnutls_x509_crt_init(&crt)) < 0 ||
	    (r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (r = gnutls_x509_crt_set_serial(crt, serial->b, serial->len)) < 0 ||
	    (r = gnutls_x509_crt_set_activation_time(crt, nb)) < 0 ||
	    (r = gnutls_x509_crt_set_expiration_time(crt, na)) < 0 ||
	    (r = gnutls_x509_crt_set_pubkey(crt, pub)) < 0) {
		err_set(e, "building the certificate: %s", gnutls_strerror(r));
		goto out;
	}
	if (set_subject(crt, spec->email, e) == -1 ||
	    set_extensions(crt, issuer, usage, pub, e) == -1)
		goto out;
	/* The issuer DN is copied from the CA certificate's subject by
	 * gnutls, octet for octet (RFC 5280 4.1.2.4, 7.1 name chaining). */
	hash = issuer->hash;
	if (!issuer->prepared && cert_sig_hash(issuer->key, &hash, e) != 0)
		goto out;
	if ((r = gnutls_x509_crt_privkey_sign(crt, issuer->crt, issuer->key,
	    hash, 0)) < 0) {
		err_set(e, "signing the certificate: %s", gnutls_strerror(r));
		goto out;
	}
	if ((r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, der)) < 0) {
		err_set(e, "exporting the certificate: %s", gnutls_strerror(r));
		goto out;
	}
	rc = 0;
out:
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return rc;
}
