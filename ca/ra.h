/*
 * ra: the registration authority's side of a request -- checking what an
 * employee or officer asks for and writing it as a `submitted` row for
 * ca-serve. Used by `signet request submit`, the enrolment site and the
 * key-recovery enrolment; never touches the CA key.
 */
#ifndef SIGNET_RA_H
#define SIGNET_RA_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

struct ra_request {
	const char		*source;	/* browser | csr | server | cli */
	int			 via_ra;	/* through the trusted enrolment site */
	int			 authenticated;	/* identity checked against the directory */
	int			 account_disabled;
	int			 on_behalf;	/* an officer asks for someone else */
	const char		*requester;	/* directory uid or operator name */
	const char		*requester_mail;
	const char *const	*groups;
	size_t			 ngroups;
	const char		*email;
	const char		*display_name;	/* may be NULL */
	const char		*profile;	/* signing | encryption | dual */
	unsigned		 days;		/* 0: the configured default */
	const uint8_t		*csr;		/* PEM or DER; checked with csr_parse */
	size_t			 csr_len;
	const uint8_t		*key_escrow;	/* sealed to the KRA, or NULL */
	size_t			 key_escrow_len;
	const uint8_t		*key_pickup;	/* encrypted PKCS#8, or NULL */
	size_t			 key_pickup_len;
	int64_t			 batch_id;	/* 0: none; see ra_submit_tx */
};

/*
 * ra_submit_tx checks the request (ra_check) and inserts it as
 * `submitted` with its audit record (ra_store_tx), inside the caller's
 * transaction; before the commit, the caller calls ra_wake. Requests that
 * must be issued together (a signing and an encryption certificate with
 * key recovery on) are inserted in one transaction with the same
 * batch_id: pass 0 for the first and the first one's id for the others.
 *
 * ra_check alone: the mailbox's syntax, the profile, the validity asked
 * for and the whole CSR (csr_parse: its self-signature verified, its key
 * checked); the parsed CSR, or NULL with the reason. No database.
 * ra_store_tx alone: writes a request that ra_check passed, with that
 * CSR; no check is repeated.
 */
struct csr;
struct csr	*ra_check(const struct ra_request *r, struct err *e);
int	ra_store_tx(struct store *st, const char *actor,
	    const struct ra_request *r, const struct csr *csr, int64_t *id,
	    struct err *e);
int	ra_submit_tx(struct store *st, const char *actor,
	    const struct ra_request *r, int64_t *id, struct err *e);

/*
 * A request and its checked CSR for ra_store_many and ra_queue; id is
 * set when it is stored.
 */
struct ra_item {
	const char		*actor;
	const struct ra_request	*r;
	const struct csr	*csr;	/* ra_check's */
	int64_t			 id;
};

/*
 * Stores n requests that ra_check passed, none of them in a batch, with
 * their audit records, in a transaction of its own and two round trips
 * however many they are: BEGIN, the rows and the audit chain's head; then
 * the records, ca-serve's wake-up and the COMMIT. 0 when committed; -2
 * when it failed before the COMMIT was sent (nothing is stored); -1 when
 * it failed after (a COMMIT cut off may have been applied all the same).
 */
int	ra_store_many(struct store *st, struct ra_item *it, size_t n,
	    struct err *e);

/*
 * ra_queue: group commit for the submitting threads of one process (the
 * enrolment site's task threads). A submitter checks its request on its
 * own thread (ra_check), then joins the queue; if no other submitter is
 * committing, it leads: it takes every submission waiting, its own too,
 * stores them in one transaction (ra_store_many) and wakes ca-serve.
 * Submitters that arrive meanwhile wait and go together in the next
 * commit. Each returns when its own request is committed, with its id,
 * or with the reason it failed: when the group's transaction fails, each
 * member is tried again alone. One connection per queue, opened at first
 * use and again after it is lost.
 */
struct ra_queue;
struct ra_queue	*ra_queue_new(const char *conninfo, struct err *e);
void		 ra_queue_free(struct ra_queue *);
/* r must have passed ra_check (csr: its answer) and be in no batch. */
int	ra_queue_submit(struct ra_queue *, const char *actor,
	    const struct ra_request *r, const struct csr *csr, int64_t *id,
	    struct err *e);

/* The same, in a transaction of its own, and wakes ca-serve. */
int	ra_submit(struct store *st, const char *actor, const struct ra_request *r,
	    int64_t *id, struct err *e);

/*
 * Wakes ca-serve (NOTIFY signet_request) when the submitting transaction
 * commits: call it inside that transaction, after the requests. A NOTIFY
 * holds the database's notification lock from its commit through the WAL
 * flush, so notifying commits follow one another; but a NOTIFY after the
 * commit, as this was (sql/051), is a transaction of its own -- a
 * transaction id, a commit record and a flush of its own -- that holds
 * the same lock through that flush: the same order, one more transaction
 * and flush per submission. The NOTIFY travels with the COMMIT
 * (store_commit, store_wake_request); a failed NOTIFY fails the commit.
 */
void	ra_wake(struct store *st);

#endif
