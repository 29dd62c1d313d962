/*
 * crl: X.509 v2 CRLs (RFC 5280 5), streamed.
 *
 * A CRL for a million revoked certificates is ~45 MB; libtasn1's tree costs
 * hundreds of bytes per entry, so the CertificateList is written by hand
 * around revokedCertificates, which the caller streams through a callback.
 * Memory stays constant whatever the number of entries.
 *
 * Two writers share the encoding. crl_write reads the entries from the
 * caller's callbacks two times, rarely three (rewound in between): first
 * to validate them and size the outer DER lengths, then to write and hash
 * them; a third time only when the signature's length moves the outer
 * length across an encoding boundary. Every run must yield the same
 * entries in the same order -- from a database, read them inside one
 * REPEATABLE READ transaction; a change between runs is an error.
 * crl_writer (below) takes each entry once, for a stream read once.
 *
 * For both, out must be seekable (a regular file): the outer length is
 * patched once the signature is known. Write to a temporary file and
 * rename it on success; on failure its contents are unspecified.
 */
#ifndef SIGNET_CRL_H
#define SIGNET_CRL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "err.h"

/* RFC 5280 5.3.1 CRLReason; Signet never puts certificates on hold. */
enum crl_reason {
	CRL_REASON_NONE = -1,		/* no reasonCode extension */
	CRL_REASON_UNSPECIFIED = 0,	/* also written without reasonCode */
	CRL_REASON_KEY_COMPROMISE = 1,
	CRL_REASON_CA_COMPROMISE = 2,
	CRL_REASON_AFFILIATION_CHANGED = 3,
	CRL_REASON_SUPERSEDED = 4,
	CRL_REASON_CESSATION_OF_OPERATION = 5,
	CRL_REASON_PRIVILEGE_WITHDRAWN = 9,
	CRL_REASON_AA_COMPROMISE = 10,
};

struct crl_entry {
	const uint8_t	*serial;	/* unsigned big-endian, 1..20 octets */
	size_t		 serial_len;	/* (a leading 0x00 is accepted) */
	time_t		 revoked_at;
	int		 reason;	/* enum crl_reason */
};

/* Fills *ent with the next entry and returns 1, returns 0 at the end, or
 * -1 on error with e set. ent->serial must stay valid until the next call. */
typedef int	(*crl_next_fn)(void *arg, struct crl_entry *ent, struct err *e);
/* Restarts the sequence from the first entry; 0 or -1 with e set. */
typedef int	(*crl_rewind_fn)(void *arg, struct err *e);

struct crl_params {
	gnutls_x509_crt_t	 ca;		/* issuer; must carry an SKI */
	gnutls_privkey_t	 key;		/* its key: RSA or ECDSA */
	uint64_t		 number;	/* cRLNumber, RFC 5280 5.2.3 */
	time_t			 this_update;
	time_t			 next_update;	/* > this_update, 5.1.2.5 */
};

/* Writes the signed CRL DER to out. Returns 0, or -1 with e set. */
int	crl_write(const struct crl_params *p, crl_next_fn next,
	    crl_rewind_fn rewind, void *arg, FILE *out, struct err *e);

/*
 * The single-read writer, for entries that can be read only once (a
 * database COPY stream, in any order): each entry is encoded as it is
 * added, into `scratch`, a seekable temporary file; crl_writer_finish then
 * writes the CRL to out, the headers sized at last and the encoded entries
 * copied and hashed in one sequential read of scratch (twice in the rare
 * case that the signature moves the outer length across an encoding
 * boundary). Memory stays constant; scratch holds ~45 octets an entry.
 */
struct crl_writer;

struct crl_writer	*crl_writer_new(const struct crl_params *p,
			    FILE *scratch, FILE *out, struct err *e);
/* Validates and encodes one entry (RFC 5280 5.1.2.6); 0 or -1 with e set. */
int			 crl_writer_add(struct crl_writer *,
			    const struct crl_entry *, struct err *e);
uint64_t		 crl_writer_count(const struct crl_writer *);
/* Writes and signs the CRL; 0 or -1 with e set. */
int			 crl_writer_finish(struct crl_writer *, struct err *e);
void			 crl_writer_free(struct crl_writer *);

/* Checks a reason code: -1, 0..5, 9, 10 (RFC 5280 5.3.1; certificateHold
 * is not offered and removeFromCRL belongs to delta CRLs). */
int	crl_reason_check(int reason, struct err *e);

#endif
