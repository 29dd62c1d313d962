/*
 * keys: which subscriber public keys Signet certifies (S/MIME BR 6.1.5,
 * 6.1.6, 7.1.3.1), and server-side key generation.
 */
#include <stdio.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "err.h"
#include "keys.h"

/*
 * Not a standard's rule: a bound on the work one request can cause. Verifying
 * a signature costs a modular exponentiation with the modulus and exponent
 * the requester chose.
 */
#define KEYS_RSA_MAX_BITS	8192

#define KEYS_ACCEPTED \
	"use an RSA key of 2048 bits or more, or an ECDSA key on P-256, " \
	"P-384 or P-521 (S/MIME BR 6.1.5)"

static const struct key_type {
	const char		*name;
	gnutls_pk_algorithm_t	 alg;
	unsigned		 bits;
	gnutls_ecc_curve_t	 curve;
} key_types[] = {
	{ "rsa-2048", GNUTLS_PK_RSA, 2048, GNUTLS_ECC_CURVE_INVALID },
	{ "rsa-3072", GNUTLS_PK_RSA, 3072, GNUTLS_ECC_CURVE_INVALID },
	{ "rsa-4096", GNUTLS_PK_RSA, 4096, GNUTLS_ECC_CURVE_INVALID },
	{ "ecdsa-p256", GNUTLS_PK_ECDSA, 256, GNUTLS_ECC_CURVE_SECP256R1 },
	{ "ecdsa-p384", GNUTLS_PK_ECDSA, 384, GNUTLS_ECC_CURVE_SECP384R1 },
	{ "ecdsa-p521", GNUTLS_PK_ECDSA, 521, GNUTLS_ECC_CURVE_SECP521R1 },
};

static const struct key_type *
key_type_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(key_types[i].name, name) == 0)
			return &key_types[i];
	return NULL;
}

/* Big-endian unsigned integer: skip leading zero octets. */
static void
uint_trim(const gnutls_datum_t *d, const unsigned char **p, size_t *n)
{
	*p = d->data;
	*n = d->size;
	while (*n > 0 && **p == 0) {
		(*p)++;
		(*n)--;
	}
}

static unsigned
uint_bits(const gnutls_datum_t *d)
{
	const unsigned char	*p;
	size_t			 n;
	unsigned		 bits, top;

	uint_trim(d, &p, &n);
	if (n == 0)
		return 0;
	for (bits = 0, top = p[0]; top != 0; top >>= 1)
		bits++;
	return (unsigned)(n - 1) * 8 + bits;
}

/* The exponent in decimal when it fits in 64 bits, for messages. */
static void
uint_format(const gnutls_datum_t *d, char *buf, size_t size)
{
	const unsigned char	*p;
	size_t			 n, i;
	unsigned long long	 v = 0;

	uint_trim(d, &p, &n);
	if (n > sizeof(v)) {
		snprintf(buf, size, "of %u bits", uint_bits(d));
		return;
	}
	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	snprintf(buf, size, "%llu", v);
}

static int
check_rsa(gnutls_pubkey_t pub, struct key_info *info, struct err *e)
{
	gnutls_datum_t	 m = { NULL, 0 }, ex = { NULL, 0 };
	const unsigned char *p;
	size_t		 n;
	unsigned	 bits, ebits;
	char		 es[32];
	int		 r, rc = -1;

	if ((r = gnutls_pubkey_export_rsa_raw2(pub, &m, &ex, 0)) < 0) {
		err_set(e, "cannot read the RSA key: %s", gnutls_strerror(r));
		goto out;
	}
	bits = uint_bits(&m);
	ebits = uint_bits(&ex);
	uint_format(&ex, es, sizeof(es));
	uint_trim(&ex, &p, &n);

	/* S/MIME BR 6.1.5: at least 2048 bits. */
	if (bits < 2048) {
		err_set(e, "RSA key of %u bits is too small: at least 2048 "
		    "bits are required (S/MIME BR 6.1.5)", bits);
		goto out;
	}
	/* S/MIME BR 6.1.5: the modulus size is evenly divisible by 8. */
	if (bits % 8 != 0) {
		err_set(e, "RSA key of %u bits is not accepted: its size is "
		    "not a multiple of 8 bits (S/MIME BR 6.1.5)", bits);
		goto out;
	}
	if (bits > KEYS_RSA_MAX_BITS) {
		err_set(e, "RSA key of %u bits is larger than Signet accepts "
		    "(at most %u bits)", bits, KEYS_RSA_MAX_BITS);
		goto out;
	}
	/* S/MIME BR 6.1.6: an odd number equal to 3 or more. */
	if (ebits < 2 || (ebits == 2 && p[n - 1] < 3)) {
		err_set(e, "RSA public exponent %s is too small: it must be "
		    "an odd number of at least 3 (S/MIME BR 6.1.6)", es);
		goto out;
	}
	if ((p[n - 1] & 1) == 0) {
		err_set(e, "RSA public exponent %s is even: it must be an odd "
		    "number of at least 3 (S/MIME BR 6.1.6)", es);
		goto out;
	}
	/* S/MIME BR 6.1.6: SHOULD be at most 2^256-1 (NIST SP 800-89 5.3.3). */
	if (ebits > 256) {
		err_set(e, "RSA public exponent %s is too large: at most "
		    "2^256-1 is accepted (S/MIME BR 6.1.6)", es);
		goto out;
	}
	info->kind = KEY_RSA;
	info->bits = bits;
	snprintf(info->name, sizeof(info->name), "rsa-%u", bits);
	rc = 0;
out:
	gnutls_free(m.data);
	gnutls_free(ex.data);
	return rc;
}

static int
check_ec(gnutls_pubkey_t pub, struct key_info *info, struct err *e)
{
	gnutls_ecc_curve_t	 curve;
	gnutls_datum_t		 x = { NULL, 0 }, y = { NULL, 0 };
	const char		*name;
	unsigned		 bits;
	int			 r, rc = -1;

	if ((r = gnutls_pubkey_export_ecc_raw2(pub, &curve, &x, &y, 0)) < 0) {
		err_set(e, "cannot read the EC key: %s", gnutls_strerror(r));
		goto out;
	}
	/* S/MIME BR 6.1.5: NIST P-256, P-384 or P-521 only. */
	switch (curve) {
	case GNUTLS_ECC_CURVE_SECP256R1:
		name = "ecdsa-p256";
		bits = 256;
		break;
	case GNUTLS_ECC_CURVE_SECP384R1:
		name = "ecdsa-p384";
		bits = 384;
		break;
	case GNUTLS_ECC_CURVE_SECP521R1:
		name = "ecdsa-p521";
		bits = 521;
		break;
	default:
		name = gnutls_ecc_curve_get_name(curve);
		err_set(e, "elliptic curve %s is not accepted: %s",
		    name != NULL ? name : "(unknown)", KEYS_ACCEPTED);
		goto out;
	}
	info->kind = KEY_EC;
	info->bits = bits;
	snprintf(info->name, sizeof(info->name), "%s", name);
	rc = 0;
out:
	gnutls_free(x.data);
	gnutls_free(y.data);
	return rc;
}

int
keys_check(gnutls_pubkey_t pub, struct key_info *info, struct err *e)
{
	struct key_info	 ki;
	const char	*what;
	int		 alg;

	memset(&ki, 0, sizeof(ki));
	alg = gnutls_pubkey_get_pk_algorithm(pub, NULL);
	switch (alg) {
	case GNUTLS_PK_RSA:
		if (check_rsa(pub, &ki, e) == -1)
			return -1;
		break;
	case GNUTLS_PK_ECDSA:
		if (check_ec(pub, &ki, e) == -1)
			return -1;
		break;
	case GNUTLS_PK_RSA_PSS:
		/* S/MIME BR 7.1.3.1.1: RSA keys are rsaEncryption only. */
		return err_set(e, "RSA-PSS keys are not accepted: an RSA key "
		    "must be a plain rsaEncryption key (S/MIME BR 7.1.3.1.1)");
	default:
		switch (alg) {
		case GNUTLS_PK_DSA:
			what = "DSA";
			break;
		case GNUTLS_PK_EDDSA_ED25519:
			what = "Ed25519";
			break;
		case GNUTLS_PK_EDDSA_ED448:
			what = "Ed448";
			break;
		case GNUTLS_PK_ECDH_X25519:
			what = "X25519";
			break;
		case GNUTLS_PK_ECDH_X448:
			what = "X448";
			break;
		case GNUTLS_PK_GOST_01:
		case GNUTLS_PK_GOST_12_256:
		case GNUTLS_PK_GOST_12_512:
			what = "GOST";
			break;
		default:
			what = gnutls_pk_get_name(alg);
			if (what == NULL)
				what = "unknown";
			break;
		}
		/* S/MIME BR 6.1.5: RSA and ECDSA on the NIST curves only. */
		return err_set(e, "%s keys are not accepted: %s", what,
		    KEYS_ACCEPTED);
	}
	if (info != NULL)
		*info = ki;
	return 0;
}

int
keys_parse_type(const char *name, gnutls_pk_algorithm_t *alg, unsigned *bits,
    struct err *e)
{
	const struct key_type	*t;

	if (name == NULL || (t = key_type_find(name)) == NULL)
		return err_set(e, "unknown key type \"%s\": use one of "
		    "rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384, "
		    "ecdsa-p521",
		    name != NULL ? name : "");
	if (alg != NULL)
		*alg = t->alg;
	if (bits != NULL)
		*bits = t->bits;
	return 0;
}

int
keys_generate(const char *type, gnutls_x509_privkey_t *out, struct err *e)
{
	const struct key_type	*t;
	gnutls_x509_privkey_t	 key = NULL;
	gnutls_privkey_t	 priv = NULL;
	gnutls_pubkey_t		 pub = NULL;
	struct key_info		 ki;
	unsigned		 bits;
	int			 r, rc = -1;

	*out = NULL;
	if (keys_parse_type(type, NULL, NULL, e) == -1)
		goto out;
	t = key_type_find(type);
	if ((r = gnutls_x509_privkey_init(&key)) < 0) {
		err_set(e, "generating a key: %s", gnutls_strerror(r));
		goto out;
	}
	/*
	 * GnuTLS gives RSA keys the public exponent 65537, inside the range
	 * of S/MIME BR 6.1.6; EC keys name their curve exactly.
	 */
	bits = t->alg == GNUTLS_PK_ECDSA ? GNUTLS_CURVE_TO_BITS(t->curve) :
	    t->bits;
	if ((r = gnutls_x509_privkey_generate(key, t->alg, bits, 0)) < 0) {
		err_set(e, "generating a %s key: %s", type, gnutls_strerror(r));
		goto out;
	}
	/* FIPS 186-4 B.3.3, SP 800-56A 5.6.2: the new key is consistent. */
	if ((r = gnutls_x509_privkey_verify_params(key)) < 0) {
		err_set(e, "generated %s key failed its self-test: %s", type,
		    gnutls_strerror(r));
		goto out;
	}
	if ((r = gnutls_privkey_init(&priv)) < 0 ||
	    (r = gnutls_privkey_import_x509(priv, key, 0)) < 0 ||
	    (r = gnutls_pubkey_init(&pub)) < 0 ||
	    (r = gnutls_pubkey_import_privkey(pub, priv, 0, 0)) < 0) {
		err_set(e, "generated %s key: %s", type, gnutls_strerror(r));
		goto out;
	}
	if (keys_check(pub, &ki, e) == -1) {
		err_wrap(e, "generated %s key", type);
		goto out;
	}
	*out = key;
	key = NULL;
	rc = 0;
out:
	gnutls_pubkey_deinit(pub);
	/* priv only borrows key (no GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE). */
	gnutls_privkey_deinit(priv);
	/* gnutls_x509_privkey_deinit wipes the key's numbers before freeing. */
	if (key != NULL)
		gnutls_x509_privkey_deinit(key);
	return rc;
}

int
keys_spki_sha256(gnutls_pubkey_t pub, unsigned char out[32], struct err *e)
{
	gnutls_datum_t	spki = { NULL, 0 };
	int		r, rc = -1;

	/* RFC 5280 4.1.2.7: the DER SubjectPublicKeyInfo. */
	if ((r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki)) < 0) {
		err_set(e, "exporting the public key: %s", gnutls_strerror(r));
		goto out;
	}
	if ((r = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size,
	    out)) < 0) {
		err_set(e, "hashing the public key: %s", gnutls_strerror(r));
		goto out;
	}
	rc = 0;
out:
	gnutls_free(spki.data);
	return rc;
}
