/*
 * store_kra: the store's SQL for key recovery (sql/040_kra.sql). Part of
 * the store module; values always travel as parameters. Buffers returned
 * are malloc'd; free rows with the matching *_free (sealed material is
 * wiped first).
 */
#ifndef SIGNET_STORE_KRA_H
#define SIGNET_STORE_KRA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "store.h"

/* A byte string read from or written to the database. */
struct kra_blob {
	uint8_t		*p;
	size_t		 len;
};
void	kra_blob_free(struct kra_blob *);

struct kra_agent_row {
	char			 name[65];
	uint8_t			 pk[32];
	struct kra_blob		 sealed_sk;	/* nonce || secretbox(sk) */
	uint8_t			 salt[16];
	unsigned long long	 opslimit;
	size_t			 memlimit;
};
void	store_kra_agent_row_free(struct kra_agent_row *);

/* Makes sure name is an enabled operator with role recovery-agent,
 * creating it when missing. */
int	store_kra_operator_agent(struct store *, const char *name,
	    struct err *e);
/* Inserts or replaces an agent's key. */
int	store_kra_agent_put(struct store *, const struct kra_agent_row *,
	    struct err *e);
/* 0 found, 1 no such agent. */
int	store_kra_agent_get(struct store *, const char *name,
	    struct kra_agent_row *out, struct err *e);
int	store_kra_agent_delete(struct store *, const char *name,
	    struct err *e);
/* Every agent, by name (*rows: free each and the array). */
int	store_kra_agent_list(struct store *, struct kra_agent_row **rows,
	    size_t *n, struct err *e);

struct kra_key_row {
	int		 generation;
	uint8_t		 pk[32];
	unsigned	 threshold;
	unsigned	 grace_days;
	int		 active;
};
/* The active storage key: 0 found, 1 none. Locks it (FOR UPDATE) so
 * ceremonies and escrows serialise. */
int	store_kra_key_active(struct store *, struct kra_key_row *out,
	    struct err *e);
/* One generation: 0 found, 1 none. */
int	store_kra_key_get(struct store *, int generation,
	    struct kra_key_row *out, struct err *e);
/* Retires the active key (if any) and inserts this one as active. */
int	store_kra_key_add(struct store *, const struct kra_key_row *,
	    struct err *e);
int	store_kra_key_set_threshold(struct store *, int generation,
	    unsigned threshold, struct err *e);

int	store_kra_share_put(struct store *, int generation, const char *agent,
	    const struct kra_blob *sealed, struct err *e);
/* 0 found, 1 none. */
int	store_kra_share_get(struct store *, int generation, const char *agent,
	    struct kra_blob *out, struct err *e);
/* Deletes every share of a generation. */
int	store_kra_shares_clear(struct store *, int generation, struct err *e);

struct kra_escrow_row {
	char		 serial[41];
	int64_t		 request_id;
	int		 generation;
	struct kra_blob	 sealed;
	struct kra_blob	 cert;		/* DER */
	char		 email[256];
};
void	store_kra_escrow_row_free(struct kra_escrow_row *);

/* Inserts; expires_at = the certificate's not_after + grace_days.
 * Returns 1 when the serial is already escrowed. */
int	store_kra_escrow_insert(struct store *, const char *serial,
	    int64_t request_id, int generation, unsigned grace_days,
	    const struct kra_blob *sealed, struct err *e);
/* 0 found, 1 none. */
int	store_kra_escrow_get(struct store *, const char *serial,
	    struct kra_escrow_row *out, struct err *e);
typedef int (*store_kra_escrow_fn)(void *arg, struct kra_escrow_row *r);
/* Every escrow, locked; fn may re-seal the row with store_kra_escrow_set. */
int	store_kra_escrow_each(struct store *, store_kra_escrow_fn fn,
	    void *arg, struct err *e);
int	store_kra_escrow_set(struct store *, const char *serial, int generation,
	    const struct kra_blob *sealed, struct err *e);
/* Requests not yet issued or denied that carry a sealed key. */
typedef int (*store_kra_req_fn)(void *arg, int64_t id, struct kra_blob *b);
int	store_kra_request_escrow_each(struct store *, store_kra_req_fn fn,
	    void *arg, struct err *e);
int	store_kra_request_escrow_set(struct store *, int64_t id,
	    const struct kra_blob *sealed, struct err *e);
/* Deletes escrows past expiry (none with a live recovery). */
int	store_kra_escrow_purge(struct store *, int64_t *n, struct err *e);

struct kra_rec_row {
	int64_t		 id;
	char		 serial[41];
	char		 state[16];
	int		 window_passed;
	int		 generation;
	unsigned	 threshold, approvals;
	uint8_t		 eph_pk[32];
	int		 has_eph;
};
/* 0: inserted; 1: the certificate already has a live recovery. */
int	store_kra_recovery_insert(struct store *, const char *serial,
	    const char *reason, const char *opened_by, unsigned window_hours,
	    int generation, unsigned threshold, const uint8_t eph_pk[32],
	    int64_t *id, struct err *e);
/* Locks and reads one recovery: 0 found, 1 none. */
int	store_kra_recovery_lock(struct store *, int64_t id,
	    struct kra_rec_row *out, struct err *e);
int	store_kra_recovery_key_put(struct store *, int64_t id,
	    const char *agent, const struct kra_blob *sealed, struct err *e);
/* 0 found, 1 none. */
int	store_kra_recovery_key_get(struct store *, int64_t id,
	    const char *agent, struct kra_blob *out, struct err *e);
/* 0 inserted, 1 this agent already approved. approvals + 1. */
int	store_kra_approval_insert(struct store *, int64_t id,
	    const char *agent, const struct kra_blob *sealed_share,
	    struct err *e);
int	store_kra_approval_exists(struct store *, int64_t id,
	    const char *agent, int *yes, struct err *e);
/* The shares sealed to the recovery key (*out: free each and the array). */
int	store_kra_approval_shares(struct store *, int64_t id,
	    struct kra_blob **out, size_t *n, struct err *e);
/* Ends a recovery's open phase (state approved or expired): deletes its
 * sealed shares and recovery secret keys. */
int	store_kra_recovery_close(struct store *, int64_t id, const char *state,
	    struct err *e);
/* Open recoveries whose window has passed. */
int	store_kra_recovery_due(struct store *, int64_t **ids, size_t *n,
	    struct err *e);
int	store_kra_recovered_put(struct store *, int64_t id,
	    const struct kra_blob *p12, const char *otp_hash, struct err *e);
/* Reads the recovered PKCS#12 and the one-time password hash: 0, 1 none. */
int	store_kra_recovered_get(struct store *, int64_t id,
	    struct kra_blob *p12, char otp_hash[256], struct err *e);
/* Deletes it and marks the recovery fetched by actor. */
int	store_kra_recovered_take(struct store *, int64_t id, const char *actor,
	    struct err *e);

struct kra_rec_view {
	int64_t		 id;
	const char	*serial, *email, *reason, *opened_by, *state;
	time_t		 opened_at, window_expires;
	unsigned	 approvals, threshold;
};
typedef int (*store_kra_rec_fn)(void *arg, const struct kra_rec_view *r);
int	store_kra_recovery_list(struct store *, const char *email,
	    store_kra_rec_fn fn, void *arg, struct err *e);

struct kra_counts {
	int64_t		 escrowed, purgeable, open_recoveries, retired;
};
int	store_kra_counts(struct store *, struct kra_counts *out, struct err *e);

/* The CA certificate (DER) for PKCS#12 chains: 0, 1 none. */
int	store_kra_ca_cert(struct store *, struct kra_blob *out, struct err *e);

/* The issued request's pickup: key_pickup, serial, requester, cert DER.
 * 0 found, 1 no such request. key_pickup.p is NULL when gone. */
struct kra_pickup_row {
	char		 state[16];
	char		 serial[41];
	char		 requester[256];
	char		 email[256];
	struct kra_blob	 key_pickup;
	struct kra_blob	 cert;
};
void	store_kra_pickup_row_free(struct kra_pickup_row *);
int	store_kra_pickup_get(struct store *, int64_t request_id,
	    struct kra_pickup_row *out, struct err *e);
int	store_kra_pickup_clear(struct store *, int64_t request_id,
	    struct err *e);

#endif
