/*
 * serverkey: keys the registration authority makes for an employee ("Make
 * it for me", DESIGN.md key sources 3) when key recovery is off. The key
 * leaves here only as PKCS#8 encrypted under the employee's password
 * (RFC 5958 3, PBES2 with AES-256-CBC and PBKDF2-HMAC-SHA256, RFC 8018
 * 6.2), stored in requests.key_pickup until kra_pickup (ca/kra.h) hands it
 * over as a PKCS#12 and deletes it. With key recovery on, the RA uses
 * kra_encryption_key_new instead, which also seals the key to the KRA.
 * Blocking (RSA generation, PBKDF2): task threads only.
 */
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "web.h"
#include "keys.h"

static int
copy_out(const gnutls_datum_t *d, u_int8_t **out, size_t *len,
    struct err *e)
{
	if ((*out = malloc(d->size)) == NULL)
		return err_set(e, "out of memory");
	memcpy(*out, d->data, d->size);
	*len = d->size;
	return 0;
}

int
web_server_key(const char *type, const char *mail, const char *password,
    u_int8_t **csr, size_t *csr_len, u_int8_t **p8, size_t *p8_len,
    struct err *e)
{
	gnutls_x509_privkey_t	 key = NULL;
	gnutls_x509_crq_t	 crq = NULL;
	gnutls_datum_t		 der = { NULL, 0 }, enc = { NULL, 0 };
	int			 r, rc = -1;

	*csr = *p8 = NULL;
	if (keys_generate(type, &key, e) != 0)
		goto out;
	/* RFC 2986: the request proves possession of the new key; the CA
	 * takes subject and SAN from the directory, not from here. */
	if ((r = gnutls_x509_crq_init(&crq)) < 0 ||
	    (r = gnutls_x509_crq_set_version(crq, 1)) < 0 ||
	    (r = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME,
	    0, mail, strlen(mail))) < 0 ||
	    (r = gnutls_x509_crq_set_key(crq, key)) < 0 ||
	    (r = gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0)) < 0 ||
	    (r = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &der)) < 0) {
		err_set(e, "building the request: %s", gnutls_strerror(r));
		goto out;
	}
	if ((r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_DER,
	    password, GNUTLS_PKCS_PBES2_AES_256, &enc)) < 0) {
		err_set(e, "encrypting the key: %s", gnutls_strerror(r));
		goto out;
	}
	if (copy_out(&der, csr, csr_len, e) != 0 ||
	    copy_out(&enc, p8, p8_len, e) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		free(*csr);
		free(*p8);
		*csr = *p8 = NULL;
	}
	gnutls_free(der.data);
	gnutls_free(enc.data);
	gnutls_x509_crq_deinit(crq);
	gnutls_x509_privkey_deinit(key);	/* GnuTLS wipes key material */
	return rc;
}
