/*
 * cert: the subscriber certificate profile (DESIGN.md "Certificates";
 * S/MIME BR 7.1.2.3, strict mailbox-validated) and its construction.
 */
#ifndef SIGNET_CERT_H
#define SIGNET_CERT_H

#include <stdint.h>
#include <time.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "err.h"
#include "keys.h"
#include "serial.h"

struct cert_tmpl;

enum cert_profile {
	PROFILE_SIGNING = 1,
	PROFILE_ENCRYPTION,
	PROFILE_DUAL,
};

#define CERT_MAX_DAYS	825	/* S/MIME BR 6.3.2 */

/* The CA configuration a certificate is built under. */
struct cert_issuer {
	gnutls_x509_crt_t	 crt;		/* CA certificate */
	gnutls_privkey_t	 key;		/* CA signing key */
	const char		*crl_url;	/* http:// CRL distribution point */
	const char		*ocsp_url;	/* http:// OCSP responder, or NULL */
	const char		*issuer_url;	/* http:// caIssuers, or NULL */
	const char		*policy_oid;	/* e.g. 2.23.140.1.5.1.3 */
	int			 non_repudiation; /* add nonRepudiation on signing */
	gnutls_digest_algorithm_t hash;		/* set by cert_issuer_prepare */
	int			 prepared;
	struct cert_tmpl	*tmpl;		/* the parts encoded once */
};

/*
 * Checks once that the key belongs to the certificate, picks the signature
 * hash and encodes what every certificate of this CA shares (issuer name,
 * AKI, CRL DP, AIA, policies), so cert_issue need not redo it for every
 * certificate. (cert_issue on an unprepared issuer does it all each time.)
 * cert_issuer_release frees what prepare made; prepare may be called again
 * (after the CA certificate changes) and releases the old parts itself.
 */
int	cert_issuer_prepare(struct cert_issuer *issuer, struct err *e);
void	cert_issuer_release(struct cert_issuer *issuer);

/* What is certified. Subject and SAN come from here, never from a CSR. */
struct cert_spec {
	const char		*email;		/* the mailbox, already validated */
	enum cert_profile	 profile;
	unsigned		 days;		/* 1..CERT_MAX_DAYS */
	time_t			 not_before;	/* 0 = now */
};

int	cert_profile_parse(const char *name, enum cert_profile *p, struct err *e);
const char *cert_profile_name(enum cert_profile p);

/*
 * Builds and signs the certificate for pub under issuer; writes the DER to
 * *der (free with gnutls_free). serial is chosen by the caller.
 */
int	cert_issue(const struct cert_issuer *issuer, const struct cert_spec *spec,
	    gnutls_pubkey_t pub, const struct serial *serial,
	    gnutls_datum_t *der, struct err *e);

/* Checks a mailbox address for use in a certificate (ASCII local part and
 * domain, RFC 5321 4.1.2 dot-atom subset, at most 254 octets). */
int	cert_email_check(const char *email, struct err *e);

/*
 * The signature hash for a CA key (S/MIME BR 7.1.3.2): ECDSA P-256 with
 * SHA-256, P-384 with SHA-384, P-521 with SHA-512; RSA >= 3072 bits with
 * SHA-384, else SHA-256. Never SHA-1. Read from the public half, since a
 * key in a PKCS#11 token reports no size of its own.
 */
int	cert_sig_hash(gnutls_privkey_t key, gnutls_digest_algorithm_t *dig,
	    struct err *e);

#endif
