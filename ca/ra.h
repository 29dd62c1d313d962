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
 * Checks the request (mailbox syntax, profile, CSR via csr_parse) and
 * inserts it as `submitted` with its audit record, inside the caller's
 * transaction; after the commit, the caller calls ra_wake. Requests that must be issued together (a signing and an
 * encryption certificate with key recovery on) are inserted in one
 * transaction with the same batch_id: pass 0 for the first and the first
 * one's id for the others.
 */
int	ra_submit_tx(struct store *st, const char *actor,
	    const struct ra_request *r, int64_t *id, struct err *e);

/* The same, in a transaction of its own, and wakes ca-serve. */
int	ra_submit(struct store *st, const char *actor, const struct ra_request *r,
	    int64_t *id, struct err *e);

/*
 * Wakes ca-serve (NOTIFY signet_request) outside any transaction, after
 * the submitting one committed: a NOTIFY inside it would hold the
 * database's notification lock through its commit's flush and serialise
 * every submission (sql/051_request_wakeup.sql). Best effort: ca-serve
 * sweeps every second anyway.
 */
void	ra_wake(struct store *st);

#endif
