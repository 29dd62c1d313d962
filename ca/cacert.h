/*
 * cacert: the CA's own certificate -- a self-signed root, or a PKCS#10
 * request for a subordinate CA and the check of the certificate that
 * comes back (DESIGN.md "Certificates"; RFC 5280; S/MIME BR 7.1.2.2).
 */
#ifndef SIGNET_CACERT_H
#define SIGNET_CACERT_H

#include <stddef.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

#include "err.h"

/*
 * Makes a self-signed root CA certificate: v3, random positive 128-bit
 * serial, subject = issuer = CN=<cn>, basicConstraints critical cA=TRUE,
 * keyUsage critical keyCertSign+cRLSign+digitalSignature, SKI, AKI = SKI,
 * no EKU; valid from now for `days` days. Signed with SHA-384 for P-384,
 * P-521 and RSA >= 3072, SHA-256 otherwise. *der: free with gnutls_free.
 */
int	cacert_self_signed(gnutls_privkey_t key, const char *cn,
	    unsigned days, gnutls_datum_t *der, struct err *e);

/*
 * Makes a PKCS#10 request (RFC 2986) for a subordinate CA: subject CN,
 * requested extensions basicConstraints cA, keyUsage keyCertSign+cRLSign
 * +digitalSignature, EKU emailProtection. *pem: free with gnutls_free.
 */
int	cacert_csr(gnutls_privkey_t key, const char *cn, gnutls_datum_t *pem,
	    struct err *e);

/*
 * Checks a CA certificate (PEM or DER) before it is installed: it holds
 * key's public key, basicConstraints critical cA=TRUE, keyUsage
 * keyCertSign and cRLSign, an SKI, and is valid now. A root
 * (subordinate = 0) must be self-signed; a subordinate must carry EKU
 * emailProtection and not anyExtendedKeyUsage.
 */
int	cacert_check_install(const gnutls_datum_t *cert, gnutls_privkey_t key,
	    int subordinate, struct err *e);

/* Writes the fingerprint of der as "AB:CD:..." into out. */
int	cacert_fingerprint(const gnutls_datum_t *der,
	    gnutls_digest_algorithm_t alg, char *out, size_t outlen,
	    struct err *e);

#endif
