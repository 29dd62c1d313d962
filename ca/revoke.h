/*
 * revoke: revoking a certificate -- the certificates row, the audit
 * record, the publish job and the prompt to ca-serve, in one transaction.
 */
#ifndef SIGNET_REVOKE_H
#define SIGNET_REVOKE_H

#include "err.h"
#include "store.h"

/*
 * RFC 5280 5.3.1 CRLReason codes a subscriber certificate may be revoked
 * with under the S/MIME BR 4.9.1: unspecified(0), keyCompromise(1),
 * affiliationChanged(3), superseded(4), cessationOfOperation(5),
 * privilegeWithdrawn(9). Never certificateHold(6) (BR: no suspension),
 * cACompromise(2) or aACompromise(10) for a leaf.
 */
int		 revoke_reason_parse(const char *name, int *reason,
		    struct err *e);
const char	*revoke_reason_name(int reason);

/*
 * Revokes serial (lower-case hex) inside the caller's transaction; the
 * NOTIFY to ca-serve (REVSVC_CHANNEL) is delivered at commit. Returns 0,
 * or -1 with e set (no such certificate, already revoked, bad reason).
 */
int	revoke_cert_tx(struct store *st, const char *serial, int reason,
	    const char *actor, struct err *e);

/* The same in a transaction of its own. */
int	revoke_cert(struct store *st, const char *serial, int reason,
	    const char *actor, struct err *e);

#endif
