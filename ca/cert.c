/*
 * cert: the subscriber certificate profile and its construction.
 *
 * The profile is S/MIME BR 7.1.2.3 "strict, mailbox-validated" (policy
 * 2.23.140.1.5.1.3) as DESIGN.md "Certificates" states it. Subject and SAN
 * come only from the cert_spec (the directory identity), never from a CSR.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <gnutls/x509-ext.h>
#include <gnutls/crypto.h>
#include <libtasn1.h>

#include "asn.h"
#include "cert.h"

#define SKI_MAX		64			/* generous: SHA-1 is 20 */
#define CN_MAX		64			/* RFC 5280 A.1 ub-common-name */

/* What cert_issuer_prepare encodes once. */
struct cert_tmpl {
	struct asn_sigalg	 sa;
	uint8_t			*dn;		/* the CA's subject, as is */
	size_t			 dn_len;
	time_t			 ca_nb, ca_na;	/* the CA's validity */
	uint8_t			*mid;		/* extensions EKU, AKI */
	size_t			 mid_len;
	uint8_t			*tail;		/* CRL DP, AIA, policies */
	size_t			 tail_len;
};

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
cert_validity(const struct cert_tmpl *t, const struct cert_spec *spec,
    time_t *nb, time_t *na, struct err *e)
{
	/* S/MIME BR 6.3.2 */
	if (spec->days == 0 || spec->days > CERT_MAX_DAYS)
		return err_set(e, "validity of %u days is outside 1..%d "
		    "(S/MIME BR 6.3.2)", spec->days, CERT_MAX_DAYS);
	*nb = spec->not_before != 0 ? spec->not_before : time(NULL);
	*na = *nb + (time_t)spec->days * 86400 - 1;
	if (*nb < t->ca_nb)
		return err_set(e, "certificate would start before the CA "
		    "certificate is valid");
	if (*na > t->ca_na)
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

/* ---- DER, written by hand (X.690 8.1, 10) ------------------------------
 *
 * gnutls' certificate writer builds a libtasn1 tree of the whole
 * certificate for every issue, which cost twice the signature itself.
 * The TBSCertificate is instead written straight into one buffer: the
 * parts that depend only on the CA (issuer name, signature algorithm,
 * AKI, CRL DP, AIA, policies) are encoded once by cert_issuer_prepare,
 * the rest (serial, validity, subject, key, SAN, KU, SKI) per certificate.
 */

/* OID content octets (X.690 8.19) */
static const uint8_t OID_CN[] = { 0x55, 0x04, 0x03 };	/* 2.5.4.3 */
static const uint8_t OID_EMAIL[] = {			/* 1.2.840.113549.1.9.1 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01 };
static const uint8_t OID_SAN[] = { 0x55, 0x1d, 0x11 };	/* RFC 5280 4.2.1.6 */
static const uint8_t OID_KU[] = { 0x55, 0x1d, 0x0f };	/* 4.2.1.3 */
static const uint8_t OID_EKU[] = { 0x55, 0x1d, 0x25 };	/* 4.2.1.12 */
static const uint8_t OID_AKI[] = { 0x55, 0x1d, 0x23 };	/* 4.2.1.1 */
static const uint8_t OID_SKI[] = { 0x55, 0x1d, 0x0e };	/* 4.2.1.2 */
static const uint8_t OID_CRLDP[] = { 0x55, 0x1d, 0x1f };	/* 4.2.1.13 */
static const uint8_t OID_POLICIES[] = { 0x55, 0x1d, 0x20 };	/* 4.2.1.4 */
static const uint8_t OID_AIA[] = {			/* 4.2.2.1 */
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01 };
/* extKeyUsage value: SEQUENCE { id-kp-emailProtection } (S/MIME BR
 * 7.1.2.3(f): that purpose only) */
static const uint8_t EKU_EMAIL[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04 };

#define IA5_EMAIL	0x16	/* IA5String */
#define UTF8_STRING	0x0c
#define SAN_RFC822	0x81	/* GeneralName [1] rfc822Name, primitive */
#define ASN_TRUE_LEN	3	/* BOOLEAN TRUE: 01 01 ff */

/* A write cursor over a buffer sized beforehand. */
struct wbuf {
	uint8_t	*p;
};

static void
w_bytes(struct wbuf *w, const void *d, size_t n)
{
	memcpy(w->p, d, n);
	w->p += n;
}

static void
w_hdr(struct wbuf *w, uint8_t tag, size_t len)
{
	w->p += asn_put_hdr(w->p, tag, len);
}

static void
w_tlv(struct wbuf *w, uint8_t tag, const void *d, size_t n)
{
	w_hdr(w, tag, n);
	w_bytes(w, d, n);
}

/* Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue } */
static size_t
ext_size(size_t oid_len, int critical, size_t vlen)
{
	return asn_tlv_size(asn_tlv_size(oid_len) +
	    (critical ? ASN_TRUE_LEN : 0) + asn_tlv_size(vlen));
}

/* Writes the header of an extension whose value (vlen octets) follows. */
static void
ext_hdr(struct wbuf *w, const uint8_t *oid, size_t oid_len, int critical,
    size_t vlen)
{
	static const uint8_t	 yes[ASN_TRUE_LEN] = { 0x01, 0x01, 0xff };

	w_hdr(w, ASN_SEQUENCE, asn_tlv_size(oid_len) +
	    (critical ? ASN_TRUE_LEN : 0) + asn_tlv_size(vlen));
	w_tlv(w, ASN_OID, oid, oid_len);
	if (critical)
		w_bytes(w, yes, ASN_TRUE_LEN);
	w_hdr(w, ASN_OCTETSTRING, vlen);
}

static void
ext_put(struct wbuf *w, const uint8_t *oid, size_t oid_len, int critical,
    const uint8_t *v, size_t vlen)
{
	ext_hdr(w, oid, oid_len, critical, vlen);
	w_bytes(w, v, vlen);
}

/* A DER blob of n octets, for the extensions encoded once. */
static uint8_t *
blob_new(size_t n, struct err *e)
{
	uint8_t	*b;

	if ((b = malloc(n > 0 ? n : 1)) == NULL)
		err_set(e, "out of memory");
	return b;
}

/*
 * RFC 5280 4.2.1.13; S/MIME BR 7.1.2.3(b): one DistributionPoint with one
 * http fullName. RFC 5280 4.2.2.1; S/MIME BR 7.1.2.3(c): OCSP first, then
 * caIssuers. RFC 5280 4.2.1.4; S/MIME BR 7.1.2.3(a): the policy OID, no
 * qualifiers. gnutls encodes the three values once.
 */
static int
tmpl_tail(struct cert_tmpl *t, const struct cert_issuer *is, struct err *e)
{
	gnutls_x509_crl_dist_points_t	 dp = NULL;
	gnutls_x509_aia_t		 aia = NULL;
	gnutls_x509_policies_t		 pols = NULL;
	struct gnutls_x509_policy_st	 pol;
	gnutls_datum_t			 d, v_dp = { NULL, 0 },
					 v_aia = { NULL, 0 }, v_pol = { NULL, 0 };
	struct wbuf			 w;
	int				 r, rc = -1;

	d.data = (unsigned char *)is->crl_url;
	d.size = (unsigned)strlen(is->crl_url);
	if ((r = gnutls_x509_crl_dist_points_init(&dp)) < 0 ||
	    (r = gnutls_x509_crl_dist_points_set(dp, GNUTLS_SAN_URI, &d,
	    0)) < 0 ||
	    (r = gnutls_x509_ext_export_crl_dist_points(dp, &v_dp)) < 0) {
		err_set(e, "cRLDistributionPoints: %s", gnutls_strerror(r));
		goto out;
	}
	if (is->ocsp_url != NULL || is->issuer_url != NULL) {
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
			if ((r = gnutls_x509_aia_set(aia,
			    GNUTLS_OID_AD_CAISSUERS, GNUTLS_SAN_URI, &d)) < 0) {
				err_set(e, "authorityInfoAccess caIssuers: %s",
				    gnutls_strerror(r));
				goto out;
			}
		}
		if ((r = gnutls_x509_ext_export_aia(aia, &v_aia)) < 0) {
			err_set(e, "authorityInfoAccess: %s", gnutls_strerror(r));
			goto out;
		}
	}
	memset(&pol, 0, sizeof(pol));
	pol.oid = (char *)is->policy_oid;
	if ((r = gnutls_x509_policies_init(&pols)) < 0 ||
	    (r = gnutls_x509_policies_set(pols, &pol)) < 0 ||
	    (r = gnutls_x509_ext_export_policies(pols, &v_pol)) < 0) {
		err_set(e, "certificatePolicies %s: %s", is->policy_oid,
		    gnutls_strerror(r));
		goto out;
	}
	t->tail_len = ext_size(sizeof(OID_CRLDP), 0, v_dp.size) +
	    (v_aia.size > 0 ? ext_size(sizeof(OID_AIA), 0, v_aia.size) : 0) +
	    ext_size(sizeof(OID_POLICIES), 0, v_pol.size);
	if ((t->tail = blob_new(t->tail_len, e)) == NULL)
		goto out;
	w.p = t->tail;
	ext_put(&w, OID_CRLDP, sizeof(OID_CRLDP), 0, v_dp.data, v_dp.size);
	if (v_aia.size > 0)
		ext_put(&w, OID_AIA, sizeof(OID_AIA), 0, v_aia.data,
		    v_aia.size);
	ext_put(&w, OID_POLICIES, sizeof(OID_POLICIES), 0, v_pol.data,
	    v_pol.size);
	rc = 0;
out:
	gnutls_free(v_dp.data);
	gnutls_free(v_aia.data);
	gnutls_free(v_pol.data);
	if (dp != NULL)
		gnutls_x509_crl_dist_points_deinit(dp);
	if (aia != NULL)
		gnutls_x509_aia_deinit(aia);
	if (pols != NULL)
		gnutls_x509_policies_deinit(pols);
	return rc;
}

static void
tmpl_free(struct cert_tmpl *t)
{
	if (t == NULL)
		return;
	gnutls_free(t->dn);
	free(t->mid);
	free(t->tail);
	free(t);
}

/*
 * The CA-dependent parts. RFC 5280 4.2.1.1: AKI keyIdentifier = the CA's
 * SKI, which must exist (4.2.1.2: CA certificates carry one). The issuer
 * name is the CA certificate's subject octet for octet (RFC 5280 4.1.2.4,
 * 7.1: name chaining compares them).
 */
static struct cert_tmpl *
tmpl_new(const struct cert_issuer *is, struct err *e)
{
	struct cert_tmpl	*t;
	gnutls_datum_t		 dn = { NULL, 0 };
	unsigned char		 id[SKI_MAX];
	size_t			 size = sizeof(id), aki_len;
	unsigned		 crit = 0;
	struct wbuf		 w;
	int			 r;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	if (asn_sigalg(is->key, &t->sa, e) != 0)
		goto fail;
	if ((r = gnutls_x509_crt_get_raw_dn(is->crt, &dn)) < 0) {
		err_set(e, "reading the CA certificate's subject: %s",
		    gnutls_strerror(r));
		goto fail;
	}
	t->dn = dn.data;
	t->dn_len = dn.size;
	t->ca_nb = gnutls_x509_crt_get_activation_time(is->crt);
	t->ca_na = gnutls_x509_crt_get_expiration_time(is->crt);
	if (t->ca_nb == (time_t)-1 || t->ca_na == (time_t)-1) {
		err_set(e, "cannot read the CA certificate's validity");
		goto fail;
	}
	r = gnutls_x509_crt_get_subject_key_id(is->crt, id, &size, &crit);
	if (r < 0 || size == 0) {
		err_set(e, "the CA certificate has no subject key identifier "
		    "(RFC 5280 4.2.1.2), so no authority key identifier can "
		    "be made");
		goto fail;
	}
	/* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] } */
	aki_len = asn_tlv_size(asn_tlv_size(size));
	t->mid_len = ext_size(sizeof(OID_EKU), 0, sizeof(EKU_EMAIL)) +
	    ext_size(sizeof(OID_AKI), 0, aki_len);
	if ((t->mid = blob_new(t->mid_len, e)) == NULL)
		goto fail;
	w.p = t->mid;
	/* S/MIME BR 7.1.2.3(f): not critical */
	ext_put(&w, OID_EKU, sizeof(OID_EKU), 0, EKU_EMAIL, sizeof(EKU_EMAIL));
	ext_hdr(&w, OID_AKI, sizeof(OID_AKI), 0, aki_len);
	w_hdr(&w, ASN_SEQUENCE, asn_tlv_size(size));
	w_tlv(&w, ASN_CTX_PRIM(0), id, size);
	if (tmpl_tail(t, is, e) != 0)
		goto fail;
	return t;
fail:
	tmpl_free(t);
	return NULL;
}

/*
 * S/MIME BR 7.1.4.2.2(a),(h): the mailbox-validated profile allows only a
 * mailbox address in commonName, so CN is the mailbox even where
 * DESIGN.md mentions a display name; emailAddress is the mailbox too and
 * nothing else is in the subject. A mailbox longer than ub-common-name
 * (RFC 5280 A.1, 64) cannot be a CN: then CN is left out, which the BR
 * allows (commonName is MAY), and emailAddress (up to 255) carries it.
 * CN is a UTF8String (RFC 5280 4.1.2.6), emailAddress an IA5String
 * (RFC 5280 A.1); one attribute per RDN.
 */
static size_t
rdn_size(size_t oid_len, size_t vlen)
{
	return asn_tlv_size(asn_tlv_size(asn_tlv_size(oid_len) +
	    asn_tlv_size(vlen)));
}

static void
rdn_put(struct wbuf *w, const uint8_t *oid, size_t oid_len, uint8_t tag,
    const char *v, size_t vlen)
{
	size_t	atv = asn_tlv_size(oid_len) + asn_tlv_size(vlen);

	w_hdr(w, ASN_SET, asn_tlv_size(atv));
	w_hdr(w, ASN_SEQUENCE, atv);
	w_tlv(w, ASN_OID, oid, oid_len);
	w_tlv(w, tag, v, vlen);
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
ski_method1(const gnutls_datum_t *spki, unsigned char out[20], struct err *e)
{
	const unsigned char	*p = spki->data;
	int			 left = (int)spki->size, len, r;

	/* RFC 5280 4.1: SPKI ::= SEQUENCE { algorithm, subjectPublicKey } */
	if (der_enter(&p, &left, ASN1_CLASS_STRUCTURED, ASN1_TAG_SEQUENCE,
	    &len) == -1 ||
	    der_enter(&p, &left, ASN1_CLASS_STRUCTURED, ASN1_TAG_SEQUENCE,
	    &len) == -1)
		return err_set(e, "subject public key is not a valid SPKI");
	p += len;
	left -= len;
	if (der_enter(&p, &left, ASN1_CLASS_UNIVERSAL, ASN1_TAG_BIT_STRING,
	    &len) == -1 || len < 2 || p[0] != 0)
		return err_set(e, "subject public key BIT STRING is malformed");
	if ((r = gnutls_hash_fast(GNUTLS_DIG_SHA1, p + 1, (size_t)len - 1,
	    out)) < 0)
		return err_set(e, "hashing the subject public key: %s",
		    gnutls_strerror(r));
	return 0;
}

/*
 * KeyUsage BIT STRING (RFC 5280 4.2.1.3): the gnutls usage flags used here
 * are bits 0..4, the first content octet as is; DER (X.690 11.2.2) drops
 * the trailing zero bits, counted in the unused-bits octet.
 */
static void
ku_value(unsigned usage, uint8_t v[4])
{
	uint8_t	b = (uint8_t)usage;
	uint8_t	unused = 0;

	while (unused < 7 && !(b & (1u << unused)))
		unused++;
	v[0] = ASN_BITSTRING;
	v[1] = 2;
	v[2] = unused;
	v[3] = b;
}

/* The signed Certificate (RFC 5280 4.1) around tbs, in gnutls memory. */
static int
wrap_signed(const struct cert_tmpl *t, const gnutls_datum_t *tbs,
    const gnutls_datum_t *sig, gnutls_datum_t *der, struct err *e)
{
	size_t		len = tbs->size + t->sa.algid_len +
			    asn_tlv_size(sig->size + 1);
	struct wbuf	w;
	uint8_t		zero = 0;

	der->size = (unsigned)asn_tlv_size(len);
	if ((der->data = gnutls_malloc(der->size)) == NULL)
		return err_set(e, "out of memory");
	w.p = der->data;
	w_hdr(&w, ASN_SEQUENCE, len);
	w_bytes(&w, tbs->data, tbs->size);
	w_bytes(&w, t->sa.algid, t->sa.algid_len);
	w_hdr(&w, ASN_BITSTRING, sig->size + 1);
	w_bytes(&w, &zero, 1);
	w_bytes(&w, sig->data, sig->size);
	return 0;
}

/*
 * The TBSCertificate (RFC 5280 4.1): v3, serial, signature, issuer,
 * validity, subject, key, then the extensions in a fixed order: SAN, KU
 * (critical, S/MIME BR 7.1.2.3(e)), EKU, AKI, SKI, CRL DP, AIA, policies.
 * basicConstraints MAY be present (7.1.2.3(d)) and is left out. The SAN
 * is not critical (RFC 5280 4.2.1.6: the subject is not empty).
 */
static int
build_tbs(const struct cert_tmpl *t, const struct cert_spec *spec,
    const gnutls_datum_t *spki, const struct serial *serial, time_t nb,
    time_t na, unsigned usage, gnutls_datum_t *tbs, struct err *e)
{
	static const uint8_t	 v3[] = { ASN_CTX(0), 3, ASN_INTEGER, 1, 2 };
	uint8_t			 tnb[ASN_TIME_MAX], tna[ASN_TIME_MAX];
	uint8_t			 ski[20], ku[4];
	size_t			 elen = strlen(spec->email), nbl, nal;
	size_t			 subj, san, exts, len;
	int			 cn = elen <= CN_MAX;
	struct wbuf		 w;

	if (ski_method1(spki, ski, e) != 0)
		return -1;
	if ((nbl = asn_time_put(tnb, nb)) == 0 ||
	    (nal = asn_time_put(tna, na)) == 0)
		return err_set(e, "validity outside the years 1950..9999");
	ku_value(usage, ku);
	subj = (cn ? rdn_size(sizeof(OID_CN), elen) : 0) +
	    rdn_size(sizeof(OID_EMAIL), elen);
	san = asn_tlv_size(asn_tlv_size(elen));
	exts = ext_size(sizeof(OID_SAN), 0, san) +
	    ext_size(sizeof(OID_KU), 1, sizeof(ku)) + t->mid_len +
	    ext_size(sizeof(OID_SKI), 0, asn_tlv_size(sizeof(ski))) +
	    t->tail_len;
	len = sizeof(v3) + asn_tlv_size(serial->len) + t->sa.algid_len +
	    t->dn_len + asn_tlv_size(nbl + nal) + asn_tlv_size(subj) +
	    spki->size + asn_tlv_size(asn_tlv_size(exts));
	tbs->size = (unsigned)asn_tlv_size(len);
	if ((tbs->data = gnutls_malloc(tbs->size)) == NULL)
		return err_set(e, "out of memory");
	w.p = tbs->data;
	w_hdr(&w, ASN_SEQUENCE, len);
	w_bytes(&w, v3, sizeof(v3));
	w_tlv(&w, ASN_INTEGER, serial->b, serial->len);
	w_bytes(&w, t->sa.algid, t->sa.algid_len);
	w_bytes(&w, t->dn, t->dn_len);
	w_hdr(&w, ASN_SEQUENCE, nbl + nal);
	w_bytes(&w, tnb, nbl);
	w_bytes(&w, tna, nal);
	w_hdr(&w, ASN_SEQUENCE, subj);
	if (cn)
		rdn_put(&w, OID_CN, sizeof(OID_CN), UTF8_STRING, spec->email,
		    elen);
	rdn_put(&w, OID_EMAIL, sizeof(OID_EMAIL), IA5_EMAIL, spec->email,
	    elen);
	w_bytes(&w, spki->data, spki->size);
	w_hdr(&w, ASN_CTX(3), asn_tlv_size(exts));
	w_hdr(&w, ASN_SEQUENCE, exts);
	ext_hdr(&w, OID_SAN, sizeof(OID_SAN), 0, san);
	w_hdr(&w, ASN_SEQUENCE, asn_tlv_size(elen));
	w_tlv(&w, SAN_RFC822, spec->email, elen);
	ext_put(&w, OID_KU, sizeof(OID_KU), 1, ku, sizeof(ku));
	w_bytes(&w, t->mid, t->mid_len);
	ext_hdr(&w, OID_SKI, sizeof(OID_SKI), 0, asn_tlv_size(sizeof(ski)));
	w_tlv(&w, ASN_OCTETSTRING, ski, sizeof(ski));
	w_bytes(&w, t->tail, t->tail_len);
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
	struct cert_tmpl	*t;

	if (check_issuer(is, e) == -1 || check_ca_key(is, e) == -1 ||
	    (t = tmpl_new(is, e)) == NULL)
		return -1;
	cert_issuer_release(is);
	is->tmpl = t;
	is->hash = t->sa.hash;
	is->prepared = 1;
	return 0;
}

void
cert_issuer_release(struct cert_issuer *is)
{
	tmpl_free(is->tmpl);
	is->tmpl = NULL;
	is->prepared = 0;
}

int
cert_issue(const struct cert_issuer *issuer, const struct cert_spec *spec,
    gnutls_pubkey_t pub, const struct serial *serial,
    gnutls_datum_t *der, struct err *e)
{
	struct cert_tmpl	*own = NULL;
	const struct cert_tmpl	*t = issuer->tmpl;
	gnutls_datum_t		 spki = { NULL, 0 }, tbs = { NULL, 0 },
				 sig = { NULL, 0 };
	time_t			 nb = 0, na = 0;
	unsigned		 usage = 0;
	int			 r, rc = -1;

	der->data = NULL;
	der->size = 0;
	if (!issuer->prepared || t == NULL) {
		if (check_issuer(issuer, e) == -1 ||
		    check_ca_key(issuer, e) == -1 ||
		    (own = tmpl_new(issuer, e)) == NULL)
			goto out;
		t = own;
	}
	if (cert_email_check(spec->email, e) == -1 ||
	    cert_validity(t, spec, &nb, &na, e) == -1 ||
	    cert_key_usage(issuer, spec->profile, pub, &usage, e) == -1)
		goto out;
	/* RFC 5280 4.1.2.2: 1..20 octets, positive; X.690 8.3.2: minimal */
	if (serial->len == 0 || serial->len > sizeof(serial->b) ||
	    (serial->b[0] & 0x80) || (serial->len > 1 && serial->b[0] == 0 &&
	    !(serial->b[1] & 0x80))) {
		err_set(e, "serial number is not a positive INTEGER of 1..20 "
		    "octets (RFC 5280 4.1.2.2)");
		goto out;
	}
	if ((r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki)) < 0) {
		err_set(e, "exporting the subject public key: %s",
		    gnutls_strerror(r));
		goto out;
	}
	if (build_tbs(t, spec, &spki, serial, nb, na, usage, &tbs, e) != 0)
		goto out;
	if ((r = gnutls_privkey_sign_data(issuer->key, t->sa.hash, 0, &tbs,
	    &sig)) < 0) {
		err_set(e, "signing the certificate: %s", gnutls_strerror(r));
		goto out;
	}
	if (wrap_signed(t, &tbs, &sig, der, e) != 0)
		goto out;
	rc = 0;
out:
	gnutls_free(sig.data);
	gnutls_free(tbs.data);
	gnutls_free(spki.data);
	tmpl_free(own);
	return rc;
}
