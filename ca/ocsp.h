/*
 * ocsp: the OCSP encoding layer (RFC 6960): parse requests, build signed
 * BasicOCSPResponses and the unsigned error responses, check a CertID
 * against an issuer, and issue a delegated responder certificate. No
 * database here: the caller decides each certificate's status.
 */
#ifndef SIGNET_OCSP_H
#define SIGNET_OCSP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "err.h"

#define OCSP_MAX_CERTS		16	/* CertIDs in one request */
#define OCSP_REQUEST_MAX	16384	/* octets of DER accepted */
#define OCSP_NONCE_MAX		32	/* RFC 8954 2.1 */

struct ocsp_certid {
	int		hash;		/* GNUTLS_DIG_SHA1, _SHA256, _SHA384
					 * or _SHA512 */
	uint8_t		name_hash[64], key_hash[64];
	size_t		hash_len;
	uint8_t		serial[20];	/* INTEGER content octets as sent */
	size_t		serial_len;
};

struct ocsp_request;

/* The CertID hashes read and answered: SHA-1, SHA-256, SHA-384, SHA-512
 * (ocsp_hash_alg(0 .. OCSP_HASHES-1)). */
#define OCSP_HASHES	4
int	ocsp_hash_alg(size_t i);
/* The name of a CertID hash ("sha1", "sha256", "sha384", "sha512"), NULL
 * for any other. */
const char *ocsp_hash_name(int alg);
/* Whether responses for CertIDs in this hash are pre-signed, kept in
 * ocsp_responses and re-signed at once on revocation (SHA-1, SHA-256);
 * the others are signed afresh for each request. */
int	ocsp_hash_presigned(int alg);

/* Parses a DER OCSPRequest (RFC 6960 4.1.1): 1..OCSP_MAX_CERTS CertIDs
 * with SHA-1, SHA-256, SHA-384 or SHA-512, an optional nonce (RFC 8954; one outside 1..32
 * octets is ignored, 2.1), no unknown critical extension, no trailing
 * octets. A signature on the request is not checked. */
struct ocsp_request *ocsp_request_parse(const uint8_t *der, size_t len,
	    struct err *e);
void	ocsp_request_free(struct ocsp_request *req);
size_t	ocsp_request_count(const struct ocsp_request *req);
const struct ocsp_certid *ocsp_request_certid(const struct ocsp_request *req,
	    size_t i);
/* The nonce octets, or NULL (and *len 0) when there is none. */
const uint8_t *ocsp_request_nonce(const struct ocsp_request *req,
	    size_t *len);

enum ocsp_status {
	OCSP_GOOD,
	OCSP_REVOKED,
	OCSP_UNKNOWN,
};

struct ocsp_single {
	const struct ocsp_certid *id;
	enum ocsp_status	 status;
	time_t			 revoked_at;	/* OCSP_REVOKED */
	int			 reason;	/* -1 or CRLReason; 0 omitted */
	time_t			 this_update;
	time_t			 next_update;	/* 0 = none */
};

struct ocsp_signer {
	gnutls_privkey_t	key;
	gnutls_x509_crt_t	cert;	/* delegated responder, or the CA */
	int			include_cert;
};

/* A successful OCSPResponse with a BasicOCSPResponse (RFC 6960 4.2.1)
 * for n singles, responderID byKey, the nonce echoed when given. *der is
 * freed with gnutls_free. */
int	ocsp_response_build(const struct ocsp_signer *s,
	    const struct ocsp_single *singles, size_t n, const uint8_t *nonce,
	    size_t nonce_len, time_t produced_at, gnutls_datum_t *der,
	    struct err *e);

/* An unsuccessful OCSPResponse (no responseBytes, RFC 6960 4.2.1):
 * 1 malformedRequest, 2 internalError, 3 tryLater, 5 sigRequired,
 * 6 unauthorized. */
int	ocsp_response_error(int status, gnutls_datum_t *der, struct err *e);

/* 1 when id's issuerNameHash and issuerKeyHash (RFC 6960 4.1.1) are those
 * of ca, 0 otherwise (also on any error). */
int	ocsp_certid_matches_issuer(const struct ocsp_certid *id,
	    gnutls_x509_crt_t ca);

/* Issues a delegated OCSP responder certificate (RFC 6960 4.2.2.2) for
 * responder_pub, valid for hours: EKU id-kp-OCSPSigning, keyUsage
 * digitalSignature, id-pkix-ocsp-nocheck (4.2.2.2.1), AKI = CA SKI.
 * *der is freed with gnutls_free. */
int	ocsp_signer_cert_issue(gnutls_x509_crt_t ca, gnutls_privkey_t ca_key,
	    gnutls_pubkey_t responder_pub, unsigned hours, gnutls_datum_t *der,
	    struct err *e);

#endif
