/*
 * keys: what public keys Signet certifies, and server-side key generation.
 */
#ifndef SIGNET_KEYS_H
#define SIGNET_KEYS_H

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "err.h"

enum key_kind {
	KEY_RSA = 1,
	KEY_EC,
};

struct key_info {
	enum key_kind	kind;
	unsigned	bits;		/* RSA modulus bits, or curve size */
	char		name[32];	/* "rsa-3072", "ecdsa-p256", ... */
};

/*
 * Checks a subscriber public key against S/MIME BR 6.1.5 and 6.1.6:
 * RSA >= 2048 bits, a multiple of 8, odd public exponent >= 3;
 * EC on P-256, P-384 or P-521. Anything else (DSA, EdDSA, other curves)
 * is refused with a message naming the problem.
 */
int	keys_check(gnutls_pubkey_t pub, struct key_info *info, struct err *e);

/* Parses "rsa-2048|rsa-3072|rsa-4096|ecdsa-p256|ecdsa-p384|ecdsa-p521". */
int	keys_parse_type(const char *name, gnutls_pk_algorithm_t *alg,
	    unsigned *bits, struct err *e);

/* Generates a key of the named type. */
int	keys_generate(const char *type, gnutls_x509_privkey_t *out,
	    struct err *e);

/* SHA-256 of the DER SubjectPublicKeyInfo: identifies a key across certs. */
int	keys_spki_sha256(gnutls_pubkey_t pub, unsigned char out[32],
	    struct err *e);

#endif
