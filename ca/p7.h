/*
 * p7: PKCS#7 / CMS certs-only SignedData (RFC 5652 5.1, RFC 8551 3.2.2):
 * no signers, encapContentInfo eContentType id-data without content.
 * Built with libtasn1, because GnuTLS labels certs-only as digestedData.
 */
#ifndef SIGNET_P7_H
#define SIGNET_P7_H

#include <stddef.h>
#include <gnutls/gnutls.h>

#include "err.h"

/* certs: n DER certificates. *out is DER, free with gnutls_free. */
int	p7_certs_only(const gnutls_datum_t *certs, size_t n,
	    gnutls_datum_t *out, struct err *e);

#endif
