/*
 * store: Signet's PostgreSQL database, the one source of truth.
 * All SQL outside sql/ lives here; values always travel as parameters.
 */
#ifndef SIGNET_STORE_H
#define SIGNET_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

#include "err.h"

struct store;

/* A PostgreSQL array literal being built (store_arr_*, below). */
struct store_arr {
	char	*buf;
	size_t	 len, cap, n;
	int	 oom;
};

struct store	*store_open(const char *conninfo, struct err *e);
void		 store_close(struct store *);
PGconn		*store_pg(struct store *);

int	store_begin(struct store *, struct err *e);
int	store_commit(struct store *, struct err *e);
void	store_rollback(struct store *);

/*
 * Several statements in one round trip (store.c, "several statements"):
 * store_pipe_begin; store_pipe_send (a prepared statement with
 * parameters) or store_pipe_cmd (plain SQL) for each, which return the
 * statement's index; store_pipe_run sends them and reads every answer,
 * 0 when all succeeded; store_pipe_take(i) hands over statement i's
 * result (the caller clears it). store_pipe_commit queues the
 * transaction's wake-ups and COMMIT behind the statements and runs them,
 * rolling back on failure. At most 8 statements.
 */
int	store_pipe_begin(struct store *, struct err *e);
int	store_pipe_send(struct store *, const char *sql, int n,
	    const char *const *v, const int *len, const int *fmt,
	    struct err *e);
int	store_pipe_cmd(struct store *, const char *sql, struct err *e);
int	store_pipe_run(struct store *, struct err *e);
PGresult *store_pipe_take(struct store *, int i);
int	store_pipe_commit(struct store *, struct err *e);

/* Applies the embedded migrations not yet applied; *applied counts them. */
int	store_migrate(struct store *, int *applied, struct err *e);
/* The highest applied migration, 0 for an empty database. */
int	store_schema_version(struct store *, int *version, struct err *e);
/* How many embedded migrations the database has not applied (a lower
 * number can arrive after a higher one has been applied). */
int	store_schema_missing(struct store *, int *missing, struct err *e);

/* The CA certificate row. */
int	store_ca_put(struct store *, const char *subject, const uint8_t *der,
	    size_t len, struct err *e);

struct cert_row {
	char		 serial[41];
	const char	*email;
	const char	*display_name;	/* may be NULL */
	const char	*profile;
	const char	*key_type;
	uint8_t		 spki_sha256[32];
	time_t		 not_before, not_after;
	const uint8_t	*der;
	size_t		 der_len;
	const char	*issued_by;
	int64_t		 request_id;	/* 0: none */
	/* filled when read back */
	time_t		 issued_at;
	time_t		 revoked_at;	/* 0: not revoked */
	int		 reason;	/* -1: not revoked */
};

/* Inserts; returns 0, or 1 when the serial is already taken. */
int	store_cert_insert(struct store *, const struct cert_row *,
	    struct err *e);

/* Called per row: 0 goes on, > 0 stops early, < 0 stops with a failure,
 * which the caller's err then holds. */
typedef int (*store_cert_fn)(void *arg, const struct cert_row *r);

/* Certificates, newest first: all, or one mailbox's (case-insensitive). */
int	store_cert_list(struct store *, const char *email, store_cert_fn fn,
	    void *arg, struct err *e);
/* One certificate by serial (lower-case hex). 0 found, 1 not found. */
int	store_cert_get(struct store *, const char *serial, store_cert_fn fn,
	    void *arg, struct err *e);
/*
 * The valid (unrevoked, unexpired) certificates of n keys, each for one
 * mailbox (case-insensitive) and profile, in one query: fn(arg, i, row)
 * for each of key i's, i in order and each i's newest first.
 */
typedef int (*store_cert_ix_fn)(void *arg, size_t i,
	    const struct cert_row *r);
int	store_cert_find_keys(struct store *, size_t n,
	    const char *const *emails, const char *const *profiles,
	    const uint8_t (*spkis)[32], store_cert_ix_fn fn, void *arg,
	    struct err *e);
/* Counts rows in certificates (for tests of "nothing changed"). */
int	store_cert_count(struct store *, int64_t *n, struct err *e);

/*
 * Inserts n rows in one statement (caller's transaction), each with its
 * cert.issue publish job. taken[i] is set to 1 for a row not inserted
 * because its serial is taken (and so without a job); every other row is
 * in.
 */
int	store_cert_insert_many(struct store *, const struct cert_row *rows,
	    size_t n, int *taken, struct err *e);

/*
 * One issuance's whole transaction in one round trip (libpq pipeline
 * mode), for a caller that holds no transaction: store_issue_start sends
 * the audit record, the publish job and the publisher's wake-up (one
 * statement) and returns without waiting, so the caller signs while the
 * server works; store_issue_finish sends the certificate row and the
 * pipeline's Sync, which commits the two statements as one implicit
 * transaction, and waits for the answers. finish returns 0 when
 * committed, 1 when the serial was taken, -1 on an error; on 1 and -1
 * nothing is stored. store_issue_abort ends a started issuance, storing
 * nothing. Between start and finish the connection takes no other
 * statement.
 */
int	store_issue_start(struct store *, const char *actor,
	    const char *action, const char *subject, const char *detail,
	    const char *kind, const char *ref, const char *email,
	    struct err *e);
int	store_issue_finish(struct store *, const struct cert_row *,
	    struct err *e);
void	store_issue_abort(struct store *);

/*
 * Queues a publish job inside the caller's transaction (sql/003_publish.sql).
 * kind: "cert.issue", "cert.revoke", "cert.expire", "crl" or "ca";
 * ref: the serial (cert.*) or CRL number; email: the mailbox, or NULL.
 */
int	store_publish_enqueue(struct store *, const char *kind, const char *ref,
	    const char *email, struct err *e);

/*
 * NOTIFY channel with payload (NULL: empty): inside a transaction it goes
 * out with that transaction's commit, outside one it is a transaction of
 * its own.
 */
int	store_wake(struct store *, const char *channel, const char *payload,
	    struct err *e);
/*
 * NOTIFY signet_request with this transaction's commit: store_commit
 * sends it and the COMMIT in one round trip; a NOTIFY that fails fails
 * the commit.
 */
void	store_wake_request(struct store *);

/*
 * For the store's own files: a statement prepared on first use on this
 * connection (keyed by the address of sql, a string constant) and run
 * with parameters; NULL and *e set on failure.
 */
PGresult *store_execp(struct store *, const char *sql, int n,
	    const char *const *v, const int *len, const int *fmt,
	    struct err *e);

/* PostgreSQL array literals (text form) for array parameters. */
void	store_arr_init(struct store_arr *);
void	store_arr_text(struct store_arr *, const char *v);	/* NULL ok */
void	store_arr_bytea(struct store_arr *, const uint8_t *b, size_t n);
void	store_arr_int(struct store_arr *, int64_t v);
/* "{...}"; NULL when memory ran out while building */
const char *store_arr_str(struct store_arr *);
void	store_arr_reset(struct store_arr *);
void	store_arr_free(struct store_arr *);

#define AUDIT_CHAINS	8	/* interleaved audit chains (sql/050) */

struct audit_rec {
	int64_t		 seq;
	int		 chain;		/* 0..AUDIT_CHAINS-1 (sql/050) */
	int64_t		 at_us;
	const char	*actor;
	const char	*action;
	const char	*subject;
	const char	*detail;
	uint8_t		 prev_hash[32];
	uint8_t		 hash[32];
};

/* Appends an audit record inside the caller's transaction; the database
 * serialises writers and computes the hash (sql/009_audit_append.sql). */
int	store_audit_append(struct store *, const char *actor, const char *action,
	    const char *subject, const char *detail, struct err *e);
/* Audit records gathered in order, to be appended together
 * (audit_append_buf). The strings are copied. */
struct store_audit_buf {
	struct audit_rec	*r;
	size_t			 n, cap;
	int			 oom;
	int			 sealed;	/* seq and hashes set */
};
void	store_audit_buf_init(struct store_audit_buf *);
void	store_audit_buf_add(struct store_audit_buf *, const char *actor,
	    const char *action, const char *subject, const char *detail);
void	store_audit_buf_reset(struct store_audit_buf *);	/* empties */
void	store_audit_buf_free(struct store_audit_buf *);
/*
 * Takes a chain for the caller's transaction, locked to its end
 * (sql/050_audit_chains.sql), and gives its head's hash (zeros for an
 * empty chain), n rising seq values for the records to append, and the
 * database's clock in microseconds since the epoch.
 */
int	store_audit_head(struct store *, size_t n, int *chain, int64_t *seqs,
	    uint8_t hash[32], int64_t *now_us, struct err *e);
/* The same sent in an open pipeline (store_pipe_send), and its answer
 * read after store_pipe_run. */
int	store_audit_head_send(struct store *, size_t n, struct err *e);
int	store_audit_head_take(struct store *, int i, size_t n, int *chain,
	    int64_t *seqs, uint8_t hash[32], int64_t *now_us, struct err *e);
/* Inserts whole records (seq, hashes and all) in one statement; _send
 * queues it in an open pipeline. */
int	store_audit_insert_many(struct store *, const struct audit_rec *recs,
	    size_t n, struct err *e);
int	store_audit_insert_send(struct store *, const struct audit_rec *recs,
	    size_t n, struct err *e);
typedef int (*store_audit_fn)(void *arg, const struct audit_rec *r);
/* Every record, chain by chain, each in its order; stops early when fn
 * returns non-zero. */
int	store_audit_each(struct store *, store_audit_fn fn, void *arg,
	    struct err *e);

#endif
