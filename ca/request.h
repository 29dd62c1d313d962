/*
 * request: the request workflow (DESIGN.md, Requests) -- what ca-serve
 * does with a submitted or approved request, and an officer's decision.
 *
 *   submitted -> issued | pending | denied	(the policy module decides)
 *   pending   -> approved | denied		(an officer decides)
 *   approved  -> issued | denied		(ca-serve re-checks and issues)
 *
 * Every transition is an audit record written in the transaction that
 * makes it. Members of a batch (a signing + encryption pair) are decided
 * together: both issue in one transaction, or neither does.
 */
#ifndef SIGNET_REQUEST_H
#define SIGNET_REQUEST_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ca.h"
#include "config.h"
#include "err.h"
#include "policy.h"
#include "store.h"
#include "store_req.h"

/* A request that fails this many times (database or signing errors, not
 * policy refusals) is denied with the reason "internal error: ...". */
#define REQUEST_MAX_ATTEMPTS	3

struct request_engine;

/* Reports what the engine did that an operator should see in the log
 * (failures); never a secret. */
typedef void (*request_log_fn)(void *arg, const char *msg);

/* ca may be NULL for an engine that only runs request_check. */
struct request_engine *request_engine_new(const struct config *cfg,
		    struct ca *ca, struct policy *pol, struct store *st,
		    request_log_fn log, void *log_arg, struct err *e);
void		 request_engine_free(struct request_engine *);

/*
 * Several engines on one store of requests (ca-serve's lanes, each with
 * its own connection) share m: a claim locks whole batch groups, and two
 * claims running at once could each lock part of one group and wait for
 * the other. The engine does not own m.
 */
void		 request_engine_set_claim_lock(struct request_engine *,
		    pthread_mutex_t *m);

/*
 * fn(arg) is called each time a claim took work, before the work is done:
 * ca-serve wakes its idle lanes with it, so that what arrives while this
 * lane signs and writes is claimed by another.
 */
void		 request_engine_on_claim(struct request_engine *,
		    void (*fn)(void *), void *arg);

struct request_counts {
	size_t	issued, pending, denied, failed;
};

/*
 * Claims up to max waiting requests (with their batches) and decides them
 * in one transaction, so the commit's fsync is shared. When anything in
 * that transaction fails, it is rolled back and redone one batch per
 * transaction; a batch that still fails gets attempts + 1 and last_error
 * (and is retried after a back-off), and after REQUEST_MAX_ATTEMPTS it is
 * denied. *c counts what was decided; c->issued + ... == 0 means nothing
 * was waiting. Returns -1 only when the database connection is unusable.
 */
int	request_work(struct request_engine *, unsigned max,
	    struct request_counts *c, struct err *e);

/*
 * A dry run: what the policy would decide for r (a row not stored; r->csr
 * is PEM or DER), reading the certificate store but writing nothing.
 * *key_type receives the CSR's key type.
 */
int	request_check(struct request_engine *, const struct req_row *r,
	    struct policy_decision *out, char key_type[32], struct err *e);

/*
 * An officer approves (reason may be NULL) or denies (reason required) a
 * pending request and the rest of its batch, atomically, with an audit
 * record per request. *n is the number of requests changed: 0 when the
 * request was not pending (nothing changed).
 */
int	request_officer_decide(struct store *st, const char *operator_name,
	    int64_t id, int approve, const char *reason, size_t *n,
	    struct err *e);

#endif
