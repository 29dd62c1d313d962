/*
 * p12: PKCS#12 files for mail clients (RFC 7292).
 *
 * Layout, as mail clients expect it: one encrypted SafeContents holding
 * the certificate bags (end-entity first, then the CA certificates), and
 * one plain SafeContents holding the pkcs8ShroudedKeyBag. The key and the
 * end-entity certificate share friendlyName and localKeyId (RFC 2985
 * 5.5.1, 5.5.2) so that clients pair them; CA certificates carry neither.
 */
#define _GNU_SOURCE	/* memmem */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs12.h>
#include <gnutls/x509.h>

#include "p12.h"

#define P12_KEYID_MAX	64

int
p12_format_parse(const char *name, enum p12_format *f, struct err *e)
{
	if (name != NULL && strcmp(name, "modern") == 0)
		*f = P12_MODERN;
	else if (name != NULL && strcmp(name, "compatible") == 0)
		*f = P12_COMPATIBLE;
	else
		return err_set(e, "unknown PKCS#12 format \"%s\" (use modern "
		    "or compatible)", name == NULL ? "" : name);
	return 0;
}

static int
p12_import_crt(gnutls_x509_crt_t crt, const gnutls_datum_t *d, size_t i,
    struct err *e)
{
	gnutls_x509_crt_fmt_t	fmt = GNUTLS_X509_FMT_DER;
	int			ret;

	if (d->data == NULL || d->size == 0)
		return err_set(e, "certificate %zu of the chain is empty", i);
	if (d->size > 10 && memmem(d->data, d->size, "-----BEGIN", 10))
		fmt = GNUTLS_X509_FMT_PEM;
	if ((ret = gnutls_x509_crt_import(crt, d, fmt)) < 0)
		return err_set(e, "certificate %zu of the chain: %s", i,
		    gnutls_strerror(ret));
	return 0;
}

/* Sets friendlyName and localKeyId on bag element idx. */
static int
p12_bag_attrs(gnutls_pkcs12_bag_t bag, int idx, const gnutls_datum_t *id,
    const char *friendly, struct err *e)
{
	int	ret;

	if ((ret = gnutls_pkcs12_bag_set_key_id(bag, idx, id)) < 0)
		return err_set(e, "PKCS#12 localKeyId: %s",
		    gnutls_strerror(ret));
	if (friendly != NULL && *friendly != '\0' &&
	    (ret = gnutls_pkcs12_bag_set_friendly_name(bag, idx,
	    friendly)) < 0)
		return err_set(e, "PKCS#12 friendlyName: %s",
		    gnutls_strerror(ret));
	return 0;
}

static int
p12_build_once(gnutls_x509_privkey_t key, const gnutls_datum_t *chain,
    size_t n, const char *password, enum p12_format fmt,
    const char *friendly, gnutls_datum_t *out, struct err *e)
{
	gnutls_pkcs12_t		 p12 = NULL;
	gnutls_pkcs12_bag_t	 kbag = NULL, cbag = NULL;
	gnutls_x509_crt_t	*crts = NULL;
	gnutls_datum_t		 kder = { NULL, 0 }, id;
	gnutls_mac_algorithm_t	 mac;
	unsigned char		 cid[P12_KEYID_MAX], kid[P12_KEYID_MAX];
	size_t			 cidlen = sizeof(cid), kidlen = sizeof(kid);
	size_t			 i;
	unsigned		 pbe;
	int			 ret, idx, rc = -1;

	out->data = NULL;
	out->size = 0;
	if (password == NULL || *password == '\0')
		return err_set(e, "the PKCS#12 file needs a password: an empty "
		    "one would leave the private key unprotected");
	if (key == NULL || chain == NULL || n == 0)
		return err_set(e, "the PKCS#12 file needs a key and its "
		    "certificate");
	switch (fmt) {
	case P12_MODERN:
		/* RFC 8018 PBES2 AES-256-CBC; RFC 7292 App. B MAC SHA-256. */
		pbe = GNUTLS_PKCS_PBES2_AES_256;
		mac = GNUTLS_MAC_SHA256;
		break;
	case P12_COMPATIBLE:
		/* RFC 7292 App. C pbeWithSHAAnd3-KeyTripleDES-CBC, SHA-1 MAC. */
		pbe = GNUTLS_PKCS_PKCS12_3DES;
		mac = GNUTLS_MAC_SHA1;
		break;
	default:
		return err_set(e, "unknown PKCS#12 format");
	}

	if ((crts = calloc(n, sizeof(*crts))) == NULL)
		return err_set(e, "out of memory");
	for (i = 0; i < n; i++) {
		if ((ret = gnutls_x509_crt_init(&crts[i])) < 0) {
			err_set(e, "%s", gnutls_strerror(ret));
			goto out;
		}
		if (p12_import_crt(crts[i], &chain[i], i, e) == -1)
			goto out;
	}

	/* The key and chain[0] belong together: same key identifier. */
	if ((ret = gnutls_x509_crt_get_key_id(crts[0], GNUTLS_KEYID_USE_SHA1,
	    cid, &cidlen)) < 0 ||
	    (ret = gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA1,
	    kid, &kidlen)) < 0) {
		err_set(e, "computing the key identifier: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	if (cidlen != kidlen || memcmp(cid, kid, cidlen) != 0) {
		err_set(e, "the private key does not match the certificate");
		goto out;
	}
	id.data = cid;
	id.size = (unsigned)cidlen;

	/* Certificate bags, encrypted (RFC 7292 4.1 encryptedData). */
	if ((ret = gnutls_pkcs12_bag_init(&cbag)) < 0) {
		err_set(e, "%s", gnutls_strerror(ret));
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((idx = gnutls_pkcs12_bag_set_crt(cbag, crts[i])) < 0) {
			err_set(e, "PKCS#12 certificate bag: %s",
			    gnutls_strerror(idx));
			goto out;
		}
		if (i == 0 && p12_bag_attrs(cbag, idx, &id, friendly, e) == -1)
			goto out;
	}
	if ((ret = gnutls_pkcs12_bag_encrypt(cbag, password, pbe)) < 0) {
		err_set(e, "encrypting the certificates: %s",
		    gnutls_strerror(ret));
		goto out;
	}

	/* RFC 7292 4.2.2 pkcs8ShroudedKeyBag: PKCS#8 EncryptedPrivateKeyInfo. */
	if ((ret = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_DER,
	    password, pbe, &kder)) < 0) {
		err_set(e, "encrypting the private key: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	if ((ret = gnutls_pkcs12_bag_init(&kbag)) < 0) {
		err_set(e, "%s", gnutls_strerror(ret));
		goto out;
	}
	if ((idx = gnutls_pkcs12_bag_set_data(kbag,
	    GNUTLS_BAG_PKCS8_ENCRYPTED_KEY, &kder)) < 0) {
		err_set(e, "PKCS#12 key bag: %s", gnutls_strerror(idx));
		goto out;
	}
	if (p12_bag_attrs(kbag, idx, &id, friendly, e) == -1)
		goto out;

	if ((ret = gnutls_pkcs12_init(&p12)) < 0 ||
	    (ret = gnutls_pkcs12_set_bag(p12, cbag)) < 0 ||
	    (ret = gnutls_pkcs12_set_bag(p12, kbag)) < 0) {
		err_set(e, "assembling the PKCS#12 file: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	/* RFC 7292 5: password integrity mode. */
	if ((ret = gnutls_pkcs12_generate_mac2(p12, mac, password)) < 0) {
		err_set(e, "PKCS#12 MAC: %s", gnutls_strerror(ret));
		goto out;
	}
	if ((ret = gnutls_pkcs12_export2(p12, GNUTLS_X509_FMT_DER, out)) < 0) {
		err_set(e, "exporting the PKCS#12 file: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	rc = 0;
out:
	if (kder.data != NULL) {
		gnutls_memset(kder.data, 0, kder.size);
		gnutls_free(kder.data);
	}
	gnutls_pkcs12_deinit(p12);
	gnutls_pkcs12_bag_deinit(kbag);
	gnutls_pkcs12_bag_deinit(cbag);
	if (crts != NULL) {
		for (i = 0; i < n; i++)
			if (crts[i] != NULL)
				gnutls_x509_crt_deinit(crts[i]);
		free(crts);
	}
	return rc;
}

/*
 * gpgsm 2.2 derives 3DES keys with the RFC 7292 Appendix B KDF, but its
 * update step I_j = (I_j + B + 1) mod 2^512 writes the sum back with
 * gcry_mpi_print(GCRYMPI_FMT_USG), which drops leading zero octets without
 * padding. When a sum's first octet is zero, gpgsm derives the wrong key
 * and cannot open the file: about 1 file in 60. This replays gpgsm's
 * derivation (one update, then the second hash round a 24-octet key
 * needs) and says whether a salt is safe for it.
 */
static int
gpgsm_kdf_safe(const char *pw, const uint8_t *salt, size_t saltlen,
    unsigned iter)
{
	uint8_t			 buf[64 + 128], a[20];
	size_t			 i, j, pwlen = strlen(pw);
	unsigned		 k, carry;
	int			 safe = 1;

	if (saltlen == 0 || iter == 0)
		return 0;
	memset(buf, 1, 64);				/* D: ID 1, key */
	for (i = 0; i < 64; i++)			/* S */
		buf[64 + i] = salt[i % saltlen];
	for (i = j = 0; i < 64; i += 2) {		/* P, as gpgsm builds it */
		buf[128 + i] = 0;
		buf[128 + i + 1] = j < pwlen ? (uint8_t)pw[j] : 0;
		j = j < pwlen ? j + 1 : 0;
	}
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, sizeof(buf), a) < 0)
		return 0;
	for (k = 1; k < iter; k++)
		if (gnutls_hash_fast(GNUTLS_DIG_SHA1, a, sizeof(a), a) < 0)
			return 0;
	/* B = A repeated; each I_j + B + 1 must not start with 0x00 */
	for (j = 64; j < 192; j += 64) {
		carry = 1;
		for (i = 64; i-- > 0; ) {
			carry += buf[j + i] + a[i % 20];
			buf[j + i] = carry & 0xff;
			carry >>= 8;
		}
		if (buf[j] == 0)
			safe = 0;
	}
	gnutls_memset(buf, 0, sizeof(buf));
	gnutls_memset(a, 0, sizeof(a));
	return safe;
}

/* Every 3DES salt in the file is one gpgsm 2.2 derives correctly. */
static int
p12_gpgsm_safe(const gnutls_datum_t *der, const char *pw)
{
	gnutls_pkcs12_t		p12 = NULL;
	gnutls_pkcs12_bag_t	bag = NULL;
	gnutls_datum_t		data;
	char			salt[64];
	unsigned		schema, cipher, iter, saltlen, b, k;
	char			*oid = NULL;
	int			safe = 0, nel;

	if (gnutls_pkcs12_init(&p12) < 0 ||
	    gnutls_pkcs12_import(p12, der, GNUTLS_X509_FMT_DER, 0) < 0)
		goto out;
	for (b = 0; ; b++) {
		if (gnutls_pkcs12_bag_init(&bag) < 0)
			goto out;
		if (gnutls_pkcs12_get_bag(p12, (int)b, bag) < 0)
			break;
		saltlen = sizeof(salt);
		if (gnutls_pkcs12_bag_get_type(bag, 0) ==
		    GNUTLS_BAG_ENCRYPTED) {
			if (gnutls_pkcs12_bag_enc_info(bag, &schema, &cipher,
			    salt, &saltlen, &iter, &oid) < 0 ||
			    !gpgsm_kdf_safe(pw, (uint8_t *)salt, saltlen, iter))
				goto out;
			gnutls_free(oid);
			oid = NULL;
		}
		nel = gnutls_pkcs12_bag_get_count(bag);
		for (k = 0; nel > 0 && k < (unsigned)nel; k++) {
			if (gnutls_pkcs12_bag_get_type(bag, k) !=
			    GNUTLS_BAG_PKCS8_ENCRYPTED_KEY)
				continue;
			saltlen = sizeof(salt);
			if (gnutls_pkcs12_bag_get_data(bag, k, &data) < 0 ||
			    gnutls_pkcs8_info(&data, GNUTLS_X509_FMT_DER,
			    &schema, &cipher, salt, &saltlen, &iter, &oid) < 0 ||
			    !gpgsm_kdf_safe(pw, (uint8_t *)salt, saltlen, iter))
				goto out;
			gnutls_free(oid);
			oid = NULL;
		}
		gnutls_pkcs12_bag_deinit(bag);
		bag = NULL;
	}
	safe = 1;
out:
	gnutls_free(oid);
	gnutls_pkcs12_bag_deinit(bag);
	gnutls_pkcs12_deinit(p12);
	return safe;
}

int
p12_build(gnutls_x509_privkey_t key, const gnutls_datum_t *chain,
    size_t n, const char *password, enum p12_format fmt,
    const char *friendly, gnutls_datum_t *out, struct err *e)
{
	int	tries;

	for (tries = 0; tries < 32; tries++) {
		if (p12_build_once(key, chain, n, password, fmt, friendly, out,
		    e) != 0)
			return -1;
		/* the compatible format exists for gpgsm 2.2: make sure it
		 * can open this one (new random salts on each try) */
		if (fmt != P12_COMPATIBLE || p12_gpgsm_safe(out, password))
			return 0;
		gnutls_memset(out->data, 0, out->size);
		gnutls_free(out->data);
		out->data = NULL;
		out->size = 0;
	}
	return err_set(e, "could not build a PKCS#12 file that gpgsm 2.2 "
	    "reads");
}
