#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "asn.h"
#include "cert.h"

extern const asn1_static_node pkix_asn1_tab[];

static asn1_node	defs;
static int		defs_rc = ASN1_SUCCESS;
static char		defs_msg[ASN1_MAX_ERROR_DESCRIPTION_SIZE];
static pthread_once_t	defs_once = PTHREAD_ONCE_INIT;

static void
defs_init(void)
{
	defs_rc = asn1_array2tree(pkix_asn1_tab, &defs, defs_msg);
}

asn1_node
asn_defs(struct err *e)
{
	pthread_once(&defs_once, defs_init);
	if (defs_rc != ASN1_SUCCESS) {
		err_set(e, "loading the ASN.1 definitions: %s (%s)",
		    asn1_strerror(defs_rc), defs_msg);
		return NULL;
	}
	return defs;
}

int
asn_fail(struct err *e, int rc, const char *what)
{
	return err_set(e, "%s: %s", what, asn1_strerror(rc));
}

int
asn_new(const char *type, asn1_node *out, struct err *e)
{
	asn1_node	 d;
	char		 name[128];
	int		 rc;

	*out = NULL;
	if ((d = asn_defs(e)) == NULL)
		return -1;
	snprintf(name, sizeof(name), "SignetPKIX.%s", type);
	if ((rc = asn1_create_element(d, name, out)) != ASN1_SUCCESS)
		return asn_fail(e, rc, name);
	return 0;
}

int
asn_der(asn1_node n, const char *name, gnutls_datum_t *out, struct err *e)
{
	char	 msg[ASN1_MAX_ERROR_DESCRIPTION_SIZE] = "";
	int	 len = 0, rc;

	out->data = NULL;
	out->size = 0;
	rc = asn1_der_coding(n, name, NULL, &len, msg);
	if (rc != ASN1_MEM_ERROR)
		return err_set(e, "encoding %s: %s %s", *name ? name : "DER",
		    asn1_strerror(rc), msg);
	if ((out->data = gnutls_malloc(len)) == NULL)
		return err_set(e, "out of memory");
	if ((rc = asn1_der_coding(n, name, out->data, &len, msg)) !=
	    ASN1_SUCCESS) {
		gnutls_free(out->data);
		out->data = NULL;
		return err_set(e, "encoding %s: %s %s", *name ? name : "DER",
		    asn1_strerror(rc), msg);
	}
	out->size = len;
	return 0;
}

size_t
asn_len_size(size_t len)
{
	size_t	n = 1;

	if (len < 0x80)
		return 1;
	while (len > 0) {
		n++;
		len >>= 8;
	}
	return n;
}

size_t
asn_tlv_size(size_t len)
{
	return 1 + asn_len_size(len) + len;
}

size_t
asn_put_hdr(uint8_t *out, uint8_t tag, size_t len)
{
	size_t	n, i;

	out[0] = tag;
	if (len < 0x80) {		/* X.690 8.1.3.4 short form */
		out[1] = len;
		return 2;
	}
	n = asn_len_size(len) - 1;	/* X.690 8.1.3.5 long form, minimal */
	out[1] = 0x80 | n;
	for (i = 0; i < n; i++)
		out[2 + i] = len >> (8 * (n - 1 - i));
	return 2 + n;
}

static const uint8_t *
uint_trim(const uint8_t *mag, size_t *len)
{
	while (*len > 1 && mag[0] == 0) {
		mag++;
		(*len)--;
	}
	return mag;
}

size_t
asn_uint_len(const uint8_t *mag, size_t len)
{
	if (len == 0)
		return 1;
	mag = uint_trim(mag, &len);
	return len + ((mag[0] & 0x80) ? 1 : 0);
}

size_t
asn_uint_put(uint8_t *out, const uint8_t *mag, size_t len)
{
	size_t	clen = asn_uint_len(mag, len), n;

	n = asn_put_hdr(out, ASN_INTEGER, clen);
	if (len == 0) {
		out[n] = 0;
		return n + 1;
	}
	mag = uint_trim(mag, &len);
	if (clen > len)
		out[n++] = 0x00;	/* X.690 8.3.2: keep it positive */
	memcpy(out + n, mag, len);
	return n + len;
}

size_t
asn_time_put(uint8_t *out, time_t t)
{
	struct tm	tm;
	char		buf[64];
	int		n;

	if (gmtime_r(&t, &tm) == NULL)
		return 0;
	if (tm.tm_year < 50 || tm.tm_year > 9999 - 1900)
		return 0;
	if (tm.tm_year < 150) {		/* RFC 5280 4.1.2.5.1: YYMMDDHHMMSSZ */
		n = snprintf(buf, sizeof(buf), "%02d%02d%02d%02d%02d%02dZ",
		    tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		out[0] = ASN_UTCTIME;
	} else {			/* RFC 5280 4.1.2.5.2 */
		n = snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		out[0] = ASN_GENTIME;
	}
	out[1] = n;
	memcpy(out + 2, buf, n);
	return 2 + n;
}

int
asn_gentime_str(time_t t, char out[16], struct err *e)
{
	struct tm	tm;
	char		buf[64];

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 ||
	    tm.tm_year > 9999 - 1900)
		return err_set(e, "time %lld cannot be a GeneralizedTime",
		    (long long)t);
	snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	memcpy(out, buf, 16);
	return 0;
}

/* OID content octets of the signature algorithms (RFC 5758 3.2, RFC 4055 5). */
static const struct {
	gnutls_pk_algorithm_t		pk;
	gnutls_digest_algorithm_t	hash;
	gnutls_sign_algorithm_t		sign;
	const char			*oid;
	uint8_t				 der[9];
	size_t				 der_len;
} sigalgs[] = {
	{ GNUTLS_PK_ECDSA, GNUTLS_DIG_SHA256, GNUTLS_SIGN_ECDSA_SHA256,
	  "1.2.840.10045.4.3.2", { 0x2a,0x86,0x48,0xce,0x3d,0x04,0x03,0x02 }, 8 },
	{ GNUTLS_PK_ECDSA, GNUTLS_DIG_SHA384, GNUTLS_SIGN_ECDSA_SHA384,
	  "1.2.840.10045.4.3.3", { 0x2a,0x86,0x48,0xce,0x3d,0x04,0x03,0x03 }, 8 },
	{ GNUTLS_PK_ECDSA, GNUTLS_DIG_SHA512, GNUTLS_SIGN_ECDSA_SHA512,
	  "1.2.840.10045.4.3.4", { 0x2a,0x86,0x48,0xce,0x3d,0x04,0x03,0x04 }, 8 },
	{ GNUTLS_PK_RSA, GNUTLS_DIG_SHA256, GNUTLS_SIGN_RSA_SHA256,
	  "1.2.840.113549.1.1.11",
	  { 0x2a,0x86,0x48,0x86,0xf7,0x0d,0x01,0x01,0x0b }, 9 },
	{ GNUTLS_PK_RSA, GNUTLS_DIG_SHA384, GNUTLS_SIGN_RSA_SHA384,
	  "1.2.840.113549.1.1.12",
	  { 0x2a,0x86,0x48,0x86,0xf7,0x0d,0x01,0x01,0x0c }, 9 },
};

int
asn_sigalg(gnutls_privkey_t key, struct asn_sigalg *sa, struct err *e)
{
	gnutls_digest_algorithm_t	hash;
	unsigned			bits = 0;
	size_t				i, n;
	int				pk;

	memset(sa, 0, sizeof(*sa));
	pk = gnutls_privkey_get_pk_algorithm(key, &bits);
	if (pk != GNUTLS_PK_RSA && pk != GNUTLS_PK_ECDSA)
		return err_set(e, "signing key type %s is not supported "
		    "(RSA or ECDSA)", gnutls_pk_get_name(pk));
	/* the same rule as certificates: S/MIME BR 7.1.3.2 */
	if (cert_sig_hash(key, &hash, e) != 0)
		return -1;
	for (i = 0; i < sizeof(sigalgs) / sizeof(sigalgs[0]); i++) {
		if (sigalgs[i].pk != (gnutls_pk_algorithm_t)pk ||
		    sigalgs[i].hash != hash)
			continue;
		sa->sign = sigalgs[i].sign;
		sa->hash = hash;
		sa->oid = sigalgs[i].oid;
		sa->null_params = pk == GNUTLS_PK_RSA;
		n = sigalgs[i].der_len;
		/* SEQUENCE { OID [, NULL] } */
		sa->algid[0] = ASN_SEQUENCE;
		sa->algid[1] = 2 + n + (sa->null_params ? 2 : 0);
		sa->algid[2] = ASN_OID;
		sa->algid[3] = n;
		memcpy(sa->algid + 4, sigalgs[i].der, n);
		sa->algid_len = 4 + n;
		if (sa->null_params) {
			sa->algid[sa->algid_len++] = ASN_NULL;
			sa->algid[sa->algid_len++] = 0;
		}
		return 0;
	}
	return err_set(e, "no signature algorithm for this key");
}

int
asn_key_hash(gnutls_x509_crt_t crt, gnutls_digest_algorithm_t hash,
    uint8_t out[64], size_t *out_len, struct err *e)
{
	gnutls_pubkey_t	 pub = NULL;
	gnutls_datum_t	 spki = { NULL, 0 };
	asn1_node	 n = NULL;
	uint8_t		*bits = NULL;
	int		 len = 0, rc, ret = -1;

	*out_len = 0;
	if (gnutls_hash_get_len(hash) == 0 || gnutls_hash_get_len(hash) > 64) {
		err_set(e, "unsupported hash algorithm");
		goto out;
	}
	if ((rc = gnutls_pubkey_init(&pub)) < 0 ||
	    (rc = gnutls_pubkey_import_x509(pub, crt, 0)) < 0 ||
	    (rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki)) < 0) {
		err_set(e, "reading the certificate's public key: %s",
		    gnutls_strerror(rc));
		goto out;
	}
	if (asn_new("SubjectPublicKeyInfo", &n, e) < 0)
		goto out;
	if ((rc = asn1_der_decoding(&n, spki.data, spki.size, NULL)) !=
	    ASN1_SUCCESS) {
		asn_fail(e, rc, "decoding SubjectPublicKeyInfo");
		goto out;
	}
	rc = asn1_read_value(n, "subjectPublicKey", NULL, &len);
	if (rc != ASN1_MEM_ERROR || len <= 0 || len % 8 != 0) {
		err_set(e, "subjectPublicKey is not a whole number of octets");
		goto out;
	}
	len = len / 8;
	if ((bits = malloc(len)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	len *= 8;
	if ((rc = asn1_read_value(n, "subjectPublicKey", bits, &len)) !=
	    ASN1_SUCCESS) {
		asn_fail(e, rc, "reading subjectPublicKey");
		goto out;
	}
	if ((rc = gnutls_hash_fast(hash, bits, len / 8, out)) < 0) {
		err_set(e, "hashing the public key: %s", gnutls_strerror(rc));
		goto out;
	}
	*out_len = gnutls_hash_get_len(hash);
	ret = 0;
out:
	free(bits);
	asn1_delete_structure(&n);
	gnutls_free(spki.data);
	gnutls_pubkey_deinit(pub);
	return ret;
}
