/*
 * store_pub: the SQL of the publisher (part of the store module) -- the
 * publish queue of sql/003_publish.sql and sql/020_publish_targets.sql,
 * and what the publisher reads: the CA certificate and the newest CRL.
 * Certificates by mailbox or serial come from store_cert_list/_get.
 */
#ifndef SIGNET_STORE_PUB_H
#define SIGNET_STORE_PUB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "store.h"

struct store_pub_job {
	int64_t		 id;
	char		 kind[16];	/* cert.issue|cert.revoke|cert.expire|crl|ca */
	char		 ref[64];	/* serial or CRL number */
	char		 email[256];	/* "" when the job has none */
	char		 target[128];	/* "*" or one target's name */
	int		 attempts;
};

/*
 * Inside the caller's transaction: locks up to max due jobs (state queued,
 * next_at passed) in id order with FOR UPDATE SKIP LOCKED, so another
 * publisher never gets the same job. *jobs is freed with free().
 */
int	store_pub_claim(struct store *, unsigned max, struct store_pub_job **jobs,
	    size_t *n, struct err *e);

/* Serialises the publishers on one mailbox until the transaction ends;
 * *got is 0 when another publisher holds it. */
int	store_pub_lock_mailbox(struct store *, const char *email, int *got,
	    struct err *e);

/* 1 when target already applied job id, 0 when not. */
int	store_pub_target_done(struct store *, int64_t id, const char *target,
	    struct err *e);
int	store_pub_mark_target(struct store *, int64_t id, const char *target,
	    struct err *e);

/* The batch forms of the three above, one statement each for n jobs:
 * done[i] is set to 1 when target already applied ids[i], else 0. */
int	store_pub_targets_done(struct store *, const int64_t *ids, size_t n,
	    const char *target, int *done, struct err *e);
int	store_pub_mark_targets(struct store *, const int64_t *ids, size_t n,
	    const char *target, struct err *e);
int	store_pub_jobs_done(struct store *, const int64_t *ids, size_t n,
	    struct err *e);

/* The job succeeded everywhere: state done, done_at = the current time. */
int	store_pub_job_done(struct store *, int64_t id, struct err *e);

/*
 * A failed attempt: attempts + 1, last_error = msg, next_at = now +
 * min(base * 2^attempts, cap) seconds. With max_attempts > 0 the job
 * becomes 'failed' once it has failed that often (*gave_up = 1): it waits
 * for `signet publish retry`.
 */
int	store_pub_job_fail(struct store *, int64_t id, const char *msg,
	    unsigned base, unsigned cap, unsigned max_attempts, int *gave_up,
	    struct err *e);

/* Queues cert.expire, exactly once per certificate past notAfter. */
int	store_pub_expire_sweep(struct store *, unsigned *queued, struct err *e);

/* Seconds until the next queued job is due (0: due now); -1 when none. */
int	store_pub_next_due(struct store *, double *secs, struct err *e);

/* Requeues job id (0: every queued or failed job) to run now and wakes
 * the publishers; *n counts the jobs. A done job is not requeued. */
int	store_pub_retry(struct store *, int64_t id, unsigned *n, struct err *e);

struct store_pub_count {
	const char	*kind;
	const char	*state;
	int64_t		 jobs;
	int64_t		 failing;	/* queued jobs with a last error */
};
typedef int (*store_pub_count_fn)(void *arg, const struct store_pub_count *);

struct store_pub_failure {
	int64_t		 id;
	const char	*kind, *ref, *email, *state, *last_error;
	int		 attempts;
	time_t		 next_at;
};
typedef int (*store_pub_failure_fn)(void *arg,
	    const struct store_pub_failure *);

/* The backlog by kind and state, then the jobs with a last error that are
 * not done (at most limit, oldest first). */
int	store_pub_status(struct store *, store_pub_count_fn cfn,
	    store_pub_failure_fn ffn, void *arg, unsigned limit, struct err *e);

/* LISTEN on signet_publish (the trigger of sql/003_publish.sql). */
int	store_pub_listen(struct store *, struct err *e);
/* Waits up to ms milliseconds for a notification; *woken is 1 when one
 * came (all pending ones are consumed). An interrupting signal returns
 * early with *woken 0. */
int	store_pub_wait(struct store *, long ms, int *woken, struct err *e);
/* Reconnects after the connection broke, and LISTENs again. */
int	store_pub_reconnect(struct store *, struct err *e);

/* The CA certificate (DER, free with free()); 1 when none is installed. */
int	store_pub_ca_cert(struct store *, uint8_t **der, size_t *len,
	    struct err *e);

/* The newest CRL (DER, free with free()) from the crls table of
 * sql/030; 1 when there is none yet (or no crls table). */
int	store_pub_crl_newest(struct store *, int64_t *number, uint8_t **der,
	    size_t *len, struct err *e);

#endif
