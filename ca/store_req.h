/*
 * store_req: the store's SQL for certificate requests and operators
 * (sql/002_requests.sql). Part of the store module; values always travel
 * as parameters.
 */
#ifndef SIGNET_STORE_REQ_H
#define SIGNET_STORE_REQ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "store.h"

/* One row of requests. Strings and buffers read back are owned by the
 * struct store_req_set they came from. */
struct req_row {
	int64_t		 id;
	int64_t		 batch_id;	/* 0: none */
	const char	*state;
	const char	*source;
	int		 via_ra;
	const char	*requester;
	const char	*requester_mail;	/* may be NULL */
	int		 authenticated;
	int		 account_disabled;
	int		 on_behalf;
	const char *const *groups;
	size_t		 ngroups;
	const char	*email;
	const char	*display_name;	/* may be NULL */
	const char	*profile;
	unsigned	 days;
	const uint8_t	*csr;		/* DER */
	size_t		 csr_len;
	const uint8_t	*key_escrow;	/* NULL: none */
	size_t		 key_escrow_len;
	const uint8_t	*key_pickup;	/* insert only; never read back */
	size_t		 key_pickup_len;
	/* read back only */
	const char	*reason;	/* may be NULL */
	const char	*decided_by;	/* may be NULL */
	const char	*serial;	/* may be NULL */
	const char	*last_error;	/* may be NULL */
	int		 attempts;
	time_t		 decided_at;	/* 0: not decided */
	time_t		 submitted_at;
	time_t		 updated_at;
};

/* Rows read in one query. */
struct store_req_set {
	struct req_row	*rows;
	size_t		 n;
	void		*priv;
};
void	store_req_set_free(struct store_req_set *);

/*
 * Inserts r as `submitted` (caller's transaction). With r->batch_id set,
 * the first request of the batch (id = batch_id) joins it too, so that
 * every member carries the same batch_id.
 */
int	store_req_insert(struct store *, const struct req_row *r, int64_t *id,
	    struct err *e);

/*
 * Queues the insert of n requests that belong to no batch (batch_id 0),
 * one statement, in the caller's open pipeline (store_pipe_send); after
 * store_pipe_run, store_req_insert_take reads their ids (statement i):
 * ids[k] is rows[k]'s.
 */
int	store_req_insert_send(struct store *, const struct req_row *rows,
	    size_t n, struct err *e);
int	store_req_insert_take(struct store *, int i, size_t n, int64_t *ids,
	    struct err *e);

/*
 * Claims up to limit requests waiting for ca-serve (submitted or approved,
 * not backing off after a failure), oldest first, with FOR UPDATE SKIP
 * LOCKED, together with every member of their batches (in any state).
 * Rows come ordered by batch (batch_id, else id), then id. It opens the
 * transaction (its BEGIN goes with the claim, in one round trip); on
 * failure the caller rolls back.
 */
int	store_req_claim_begin(struct store *, unsigned limit,
	    struct store_req_set *out, struct err *e);
/* The same for one request (and its batch), if it still waits. */
int	store_req_claim_one(struct store *, int64_t id,
	    struct store_req_set *out, struct err *e);

/* One request by id; out->n is 0 when there is none. */
int	store_req_get(struct store *, int64_t id, struct store_req_set *out,
	    struct err *e);
/* Requests in a state (NULL: all), oldest first, at most limit. */
int	store_req_list(struct store *, const char *state, unsigned limit,
	    struct store_req_set *out, struct err *e);

/*
 * What the policy needs from the certificate store: valid (unexpired,
 * unrevoked) certificates of this mailbox and profile, and whether the
 * public key (SHA-256 of its SPKI) is in any certificate already.
 */
int	store_req_cert_facts(struct store *, const char *email,
	    const char *profile, const uint8_t spki_sha256[32],
	    unsigned *valid_certs, int *key_certified, struct err *e);

/*
 * The same for n requests in one query. out[i].mailbox is email[i] folded
 * by the database as the count folds it (lower()), so that a caller can
 * tell which requests share a mailbox; free with store_req_facts_free.
 * First it locks every mailbox and key of the set to the end of the
 * transaction, so that concurrent sets sharing one are decided in turn,
 * each on facts that include the other's certificates.
 */
struct store_req_facts {
	unsigned	 valid_certs;
	int		 key_certified;
	char		*mailbox;
};
int	store_req_cert_facts_many(struct store *, size_t n,
	    const char *const *email, const char *const *profile,
	    const uint8_t (*spki_sha256)[32], struct store_req_facts *out,
	    struct err *e);
void	store_req_facts_free(struct store_req_facts *, size_t n);

/*
 * Records a decision of ca-serve (caller's transaction): state issued
 * (serial set), pending or denied, with reason and decided_by; profile
 * and days are the decided shape (NULL / 0: unchanged). decided_by NULL
 * keeps the officer's approval as the decider.
 */
int	store_req_decide(struct store *, int64_t id, const char *state,
	    const char *reason, const char *decided_by, const char *serial,
	    const char *profile, unsigned days, struct err *e);

/* store_req_decide for n requests in one statement. */
struct store_req_decision {
	int64_t		 id;
	const char	*state;
	const char	*reason;
	const char	*decided_by;	/* NULL: keep the officer's */
	const char	*serial;	/* NULL unless issued */
	const char	*profile;	/* NULL: unchanged */
	unsigned	 days;		/* 0: unchanged */
};
/* Queued in the caller's open pipeline (store_pipe_send); its answer is
 * checked after store_pipe_run (statement i): every one changed. */
int	store_req_decide_send(struct store *,
	    const struct store_req_decision *d, size_t n, struct err *e);
int	store_req_decide_take(struct store *, int i, size_t n, struct err *e);

/*
 * Notes a failed attempt: attempts + 1 and last_error. Returns the new
 * count of attempts in *attempts.
 */
int	store_req_fail(struct store *, int64_t id, const char *error,
	    int *attempts, struct err *e);

/*
 * An officer's decision on a pending request and the rest of its batch:
 * moves every member from pending to to_state ("approved" or "denied")
 * atomically, only if all of them are pending. *ids (malloc'd) lists the
 * rows changed; *n is 0 when the request was not pending.
 */
int	store_req_officer(struct store *, int64_t id, const char *to_state,
	    const char *reason, const char *decided_by, int64_t **ids,
	    size_t *n, struct err *e);

/* Operators. */
struct op_row {
	const char	*name;
	const char	*role;
	const char	*password_hash;	/* may be NULL */
	int		 disabled;
	time_t		 created_at;
};
typedef int (*store_op_fn)(void *arg, const struct op_row *r);

/* Inserts; returns 0, or 1 when the name is taken. */
int	store_op_insert(struct store *, const char *name, const char *role,
	    const char *password_hash, struct err *e);
/* 0 found (fn called), 1 no such operator. */
int	store_op_get(struct store *, const char *name, store_op_fn fn,
	    void *arg, struct err *e);
int	store_op_list(struct store *, store_op_fn fn, void *arg,
	    struct err *e);
/* 0 disabled now, 1 no such operator. */
int	store_op_disable(struct store *, const char *name, struct err *e);

#endif
