/*
 * store_rev: the SQL of revocation, CRLs and OCSP (sql/030_revocation.sql);
 * part of the store module. Functions named *_tx run inside the caller's
 * transaction.
 */
#ifndef SIGNET_STORE_REV_H
#define SIGNET_STORE_REV_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "err.h"
#include "store.h"

/*
 * Marks a certificate revoked (RFC 5280 5.3.1 reason), logs a revocation
 * event, drops its cached OCSP responses and queues an immediate re-sign
 * (whose trigger NOTIFYs ca-serve). Returns 0, 1 when there is no such
 * certificate, 2 when it is already revoked; *email gets its mailbox.
 */
int	store_rev_revoke_tx(struct store *, const char *serial, int reason,
	    char email[256], struct err *e);

struct store_crl_info {
	int64_t	 number;
	time_t	 this_update, next_update;
	int64_t	 entries;
	int64_t	 last_event;
};

/* The newest CRL's facts; 0 found, 1 none yet. */
int	store_crl_latest(struct store *, struct store_crl_info *,
	    struct err *e);
/* The id of the newest revocation event (0: none). */
int	store_rev_last_event(struct store *, int64_t *id, struct err *e);

/* Starts the REPEATABLE READ transaction of a CRL (crl.h): one snapshot
 * for every pass. Draws the next CRL number and the last event covered. */
int	store_crl_begin(struct store *, int64_t *number, int64_t *last_event,
	    struct err *e);

/* Revoked certificates not yet expired at `at`, in serial order, streamed
 * with COPY (memory does not grow with the list). fn returns 0 to go on. */
typedef int (*store_crl_fn)(void *arg, const char *serial_hex,
	    time_t revoked_at, int reason, struct err *e);
int	store_crl_entries(struct store *, time_t at, store_crl_fn fn,
	    void *arg, struct err *e);

/* Stores a CRL whose DER is the whole of `der` (read from its start),
 * streamed with COPY; queues the "crl" publish job (ref = number). */
int	store_crl_put_tx(struct store *, const struct store_crl_info *,
	    FILE *der, struct err *e);

/* The DER of CRL `number` (0: the newest) written to out; 1 when none. */
int	store_crl_der(struct store *, int64_t number, FILE *out,
	    struct err *e);

struct store_signer {
	int64_t		 id;
	uint8_t		*cert;		/* malloc'd DER */
	size_t		 cert_len;
	char		 key_file[512];
	time_t		 not_before, not_after;
};

/* The newest delegated responder; 0 found, 1 none. Free cert with free(). */
int	store_ocsp_signer_current(struct store *, struct store_signer *,
	    struct err *e);
int	store_ocsp_signer_add(struct store *, const uint8_t *cert, size_t len,
	    const char *key_file, time_t not_before, time_t not_after,
	    struct err *e);

struct store_cert_status {
	char	 serial[41];
	int	 revoked;
	time_t	 revoked_at;
	int	 reason;
	time_t	 not_after;
};

/* A certificate's status, its row locked FOR SHARE until the end of the
 * transaction, so a revocation cannot slip between reading the status and
 * storing the response signed from it. 0 found, 1 unknown. */
int	store_ocsp_status_tx(struct store *, const char *serial,
	    struct store_cert_status *, struct err *e);

/* Inserts or replaces a pre-signed response. */
int	store_ocsp_response_put_tx(struct store *, const char *serial,
	    const char *hash, int revoked, const uint8_t *der, size_t len,
	    time_t this_update, time_t next_update, time_t produced_at,
	    struct err *e);

/* Pre-signed responses stored together, by one statement. */
struct store_ocsp_batch;

struct store_ocsp_batch *store_ocsp_batch_new(struct err *e);
int	store_ocsp_batch_add(struct store_ocsp_batch *, const char *serial,
	    const char *hash, int revoked, const uint8_t *der, size_t len,
	    time_t this_update, time_t next_update, time_t produced_at,
	    struct err *e);
int	store_ocsp_batch_count(const struct store_ocsp_batch *);
void	store_ocsp_batch_clear(struct store_ocsp_batch *);
/* Inserts or replaces every response added, and empties the batch. */
int	store_ocsp_batch_flush_tx(struct store *, struct store_ocsp_batch *,
	    struct err *e);
void	store_ocsp_batch_free(struct store_ocsp_batch *);

/*
 * Pre-signing walks the certificates in serial order, a window at a time:
 * after `after` (""), at most `scan` serials, returning those not expired
 * whose SHA-1 response is missing or ends before refresh_before, at most
 * `limit`. *window_end is the last serial scanned ("" when the walk is at
 * its end). It first locks ocsp_epoch (sql/032) FOR SHARE, so no
 * revocation can commit between reading a status and storing the
 * response signed from it: the transaction must store its responses
 * before it commits.
 */
typedef int (*store_status_fn)(void *arg, const struct store_cert_status *,
	    struct err *e);
int	store_ocsp_presign_tx(struct store *, const char *after, int scan,
	    int limit, time_t refresh_before, store_status_fn fn, void *arg,
	    char window_end[41], struct err *e);

/* Open queue entries, oldest first (request NULL for a re-sign of serial). */
typedef int (*store_queue_fn)(void *arg, int64_t id, const uint8_t *request,
	    size_t len, const char *serial, struct err *e);
int	store_ocsp_queue_each(struct store *, int limit, store_queue_fn fn,
	    void *arg, struct err *e);
/* Records the answer (NULL for a re-sign) and NOTIFYs signet_ocsp. */
int	store_ocsp_queue_answer(struct store *, int64_t id, const uint8_t *der,
	    size_t len, struct err *e);
/* Removes entries answered or given up on more than a minute ago. */
int	store_ocsp_queue_prune(struct store *, struct err *e);

/* NOTIFY REVSVC_CHANNEL (after commit when inside a transaction). */
int	store_rev_notify(struct store *, const char *payload, struct err *e);

#endif
