/*
 * p12: PKCS#12 files for mail clients (RFC 7292).
 *  modern:     PBES2 AES-256-CBC with PBKDF2-HMAC-SHA256, MAC HMAC-SHA256.
 *  compatible: pbeWithSHAAnd3-KeyTripleDES-CBC, MAC HMAC-SHA1 -- for
 *              gpgsm 2.2 and older Windows, which read nothing newer.
 */
#ifndef SIGNET_P12_H
#define SIGNET_P12_H

#include <stddef.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "err.h"

enum p12_format {
	P12_MODERN = 1,
	P12_COMPATIBLE,
};

int	p12_format_parse(const char *name, enum p12_format *f, struct err *e);

/*
 * key and chain[0] (the end-entity certificate) belong together; chain[1..]
 * are CA certificates. friendly: the name mail clients show (e.g. the mailbox).
 * *out is DER, free with gnutls_free.
 */
int	p12_build(gnutls_x509_privkey_t key, const gnutls_datum_t *chain,
	    size_t n, const char *password, enum p12_format fmt,
	    const char *friendly, gnutls_datum_t *out, struct err *e);

#endif
