/*
 * csr: PKCS#10 intake (RFC 2986). Strict: one PEM block or one DER object,
 * nothing before or after it, a valid self-signature, no SHA-1, no control
 * characters in the subject, an acceptable key (keys_check).
 */
#ifndef SIGNET_CSR_H
#define SIGNET_CSR_H

#include <stddef.h>
#include <stdint.h>
#include <gnutls/abstract.h>

#include "err.h"
#include "keys.h"

#define CSR_MAX_SIZE	(64 * 1024)

struct csr;

/* Parses and fully checks a CSR given as PEM or DER. */
struct csr	*csr_parse(const uint8_t *buf, size_t len, struct err *e);
void		 csr_free(struct csr *);

/* The public key: owned by the csr, valid until csr_free. */
gnutls_pubkey_t	 csr_pubkey(const struct csr *);
const struct key_info *csr_key_info(const struct csr *);
/* The CSR's DER encoding. */
const gnutls_datum_t *csr_der(const struct csr *);

#endif
