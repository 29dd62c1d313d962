/*
 * asn: shared ASN.1 plumbing for the objects GnuTLS cannot build (p7, crl,
 * ocsp): the libtasn1 definitions of ca/pkix.asn, created once, and small
 * hand-written DER writers (X.690 8.1, 10) for streamed encodings.
 */
#ifndef SIGNET_ASN_H
#define SIGNET_ASN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <libtasn1.h>

#include "err.h"

/* X.690 8.1.2 universal tags and the context tags Signet writes. */
#define ASN_INTEGER	0x02
#define ASN_BITSTRING	0x03
#define ASN_OCTETSTRING	0x04
#define ASN_NULL	0x05
#define ASN_OID		0x06
#define ASN_ENUMERATED	0x0a
#define ASN_UTCTIME	0x17
#define ASN_GENTIME	0x18
#define ASN_SEQUENCE	0x30
#define ASN_SET		0x31
#define ASN_CTX(n)	(0xa0 | (n))	/* [n] constructed */
#define ASN_CTX_PRIM(n)	(0x80 | (n))	/* [n] primitive */

#define ASN_HDR_MAX	10	/* tag + 0x88 + 8 length octets */
#define ASN_TIME_MAX	17	/* GeneralizedTime TLV */
#define ASN_ALGID_MAX	16	/* the signature AlgorithmIdentifiers below */

/* The SignetPKIX definitions (ca/pkix.asn), created on first use. */
asn1_node asn_defs(struct err *e);

/* A new empty structure "SignetPKIX.<type>"; free with asn1_delete_structure. */
int	asn_new(const char *type, asn1_node *out, struct err *e);

/* DER of the element `name` ("" = whole) of n; *out freed with gnutls_free. */
int	asn_der(asn1_node n, const char *name, gnutls_datum_t *out,
	    struct err *e);

/* Sets e from a libtasn1 return code: "<what>: <asn1_strerror>". */
int	asn_fail(struct err *e, int rc, const char *what);

/* Octets in the DER length of a content of len octets (X.690 8.1.3). */
size_t	asn_len_size(size_t len);
/* Octets of a whole TLV with content of len octets. */
size_t	asn_tlv_size(size_t len);
/* Writes tag and length to out (>= ASN_HDR_MAX); returns octets written. */
size_t	asn_put_hdr(uint8_t *out, uint8_t tag, size_t len);

/* Content octets of a positive INTEGER with the unsigned big-endian
 * magnitude mag (leading zeros dropped, 0x00 added before a high bit;
 * X.690 8.3.2). asn_uint_put writes the TLV and returns its size;
 * out needs asn_tlv_size(asn_uint_len(...)) octets. */
size_t	asn_uint_len(const uint8_t *mag, size_t len);
size_t	asn_uint_put(uint8_t *out, const uint8_t *mag, size_t len);

/* RFC 5280 4.1.2.5 / 5.1.2.4: UTCTime through 2049, GeneralizedTime from
 * 2050; seconds, Zulu. Writes the TLV (ASN_TIME_MAX octets at most) and
 * returns its size, or 0 when t is before 1950 or after 9999. */
size_t	asn_time_put(uint8_t *out, time_t t);
/* "YYYYMMDDHHMMSSZ" for a libtasn1 GeneralizedTime (RFC 6960 uses it
 * everywhere; RFC 5280 4.1.2.5.2). Returns -1 outside 0000..9999. */
int	asn_gentime_str(time_t t, char out[16], struct err *e);

/* The signature Signet makes with key: SHA-384 for P-384, P-521 and
 * RSA >= 3072, SHA-256 otherwise (DESIGN.md; never SHA-1). algid holds
 * the DER AlgorithmIdentifier: ecdsa-with-SHA* without parameters
 * (RFC 5758 3.2), sha*WithRSAEncryption with NULL (RFC 4055 5). */
struct asn_sigalg {
	gnutls_sign_algorithm_t		sign;
	gnutls_digest_algorithm_t	hash;
	const char			*oid;
	int				 null_params;
	uint8_t				 algid[ASN_ALGID_MAX];
	size_t				 algid_len;
};
int	asn_sigalg(gnutls_privkey_t key, struct asn_sigalg *sa, struct err *e);

/* hash of crt's subjectPublicKey BIT STRING value, without tag, length
 * and unused-bits octet (RFC 6960 4.1.1 issuerKeyHash, 4.2.1 KeyHash;
 * RFC 5280 4.2.1.2 method 1). out holds 64 octets; *out_len is set. */
int	asn_key_hash(gnutls_x509_crt_t crt, gnutls_digest_algorithm_t hash,
	    uint8_t out[64], size_t *out_len, struct err *e);

#endif
