/*
 * cakey: the CA private key -- generated into an encrypted PKCS#8 file,
 * or held in a PKCS#11 token (SoftHSM, a real HSM) -- and the secret
 * that unlocks it.
 *
 * Secrets never travel in process arguments or URLs: a passphrase comes
 * from a mode-0600 file or an environment variable, a token PIN reaches
 * GnuTLS through a PIN callback, never inside the pkcs11: URL.
 */
#ifndef SIGNET_CAKEY_H
#define SIGNET_CAKEY_H

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

#include "err.h"

/*
 * Generates a CA key of the named type ("ecdsa-p384" when type is NULL;
 * also "ecdsa-p256", "ecdsa-p521", "rsa-3072", "rsa-4096") and writes it
 * to path as PEM encrypted PKCS#8 (RFC 5958, PBES2 AES-256-CBC with
 * PBKDF2, RFC 8018), mode 0600, atomically (temp file, fsync, rename).
 * An existing file is never overwritten. The passphrase must not be empty.
 */
int	cakey_generate_file(const char *type, const char *path,
	    const char *passphrase, struct err *e);

/*
 * Loads the CA key. ref is either a file path (encrypted PKCS#8 PEM;
 * secret is its passphrase) or a "pkcs11:" URL (RFC 7512; secret is the
 * token's user PIN). Free the result with cakey_free().
 */
gnutls_privkey_t cakey_load(const char *ref, const char *secret,
	    struct err *e);

/* Frees a key from cakey_load() and wipes the PIN kept for it. NULL ok. */
void	cakey_free(gnutls_privkey_t key);

/*
 * Reads a secret: the first line of file (trailing newline removed) when
 * file is not NULL -- refusing a file that group or others may access --
 * or else the environment variable env. *out is freed with
 * cakey_secret_free().
 */
int	cakey_read_secret(const char *file, const char *env, char **out,
	    struct err *e);

/* Wipes and frees a secret from cakey_read_secret(). NULL ok. */
void	cakey_secret_free(char *secret);

#endif
