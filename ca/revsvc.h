/*
 * revsvc: the revocation service run inside ca-serve.  It keeps the CRL
 * and the pre-signed OCSP responses current and answers the OCSP
 * requests queued by signet-web (nonce requests and cache misses).
 */
#ifndef SIGNET_REVSVC_H
#define SIGNET_REVSVC_H

#include <stdint.h>
#include <time.h>

#include "err.h"

struct ca;
struct store;
struct revsvc;

struct revsvc	*revsvc_new(struct ca *ca, struct store *st, struct err *e);
/* does whatever is due: a new CRL after a revocation or before nextUpdate,
 * OCSP responses (re)signed before they expire, nonce requests answered */
int		 revsvc_tick(struct revsvc *, struct err *e);
void		 revsvc_free(struct revsvc *);

#define REVSVC_CHANNEL "signet_revoke"	/* ca-serve LISTENs on it and calls revsvc_tick when woken */

/*
 * ca-serve must also call revsvc_tick when nothing woke it, at least once
 * a minute: CRLs and responses fall due with time alone. A tick that
 * leaves work for later (a long pre-signing walk) NOTIFYs REVSVC_CHANNEL
 * itself, so the caller comes back at once.
 *
 * For the CLI (signet crl, ocsp-signer, ocsp-refresh):
 */
/* Makes and stores a CRL now; *number and *entries describe it. */
int	revsvc_crl_now(struct revsvc *, int64_t *number, int64_t *entries,
	    struct err *e);
/* Issues a new delegated responder certificate now (RFC 6960 4.2.2.2);
 * *not_after is its end. Fails when [revocation] ocsp_signer = ca. */
int	revsvc_signer_rotate(struct revsvc *, time_t *not_after,
	    struct err *e);
/* Pre-signs every response that is missing or due, and answers the queue;
 * *count is the number of responses signed. */
int	revsvc_refresh_all(struct revsvc *, int64_t *count, struct err *e);

#endif
