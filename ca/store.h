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

struct store	*store_open(const char *conninfo, struct err *e);
void		 store_close(struct store *);
PGconn		*store_pg(struct store *);

int	store_begin(struct store *, struct err *e);
int	store_commit(struct store *, struct err *e);
void	store_rollback(struct store *);

/* Applies the embedded migrations not yet applied; *applied counts them. */
int	store_migrate(struct store *, int *applied, struct err *e);
/* The highest applied migration, 0 for an empty database. */
int	store_schema_version(struct store *, int *version, struct err *e);

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

typedef int (*store_cert_fn)(void *arg, const struct cert_row *r);

/* Certificates, newest first: all, or one mailbox's (case-insensitive). */
int	store_cert_list(struct store *, const char *email, store_cert_fn fn,
	    void *arg, struct err *e);
/* One certificate by serial (lower-case hex). 0 found, 1 not found. */
int	store_cert_get(struct store *, const char *serial, store_cert_fn fn,
	    void *arg, struct err *e);
/* Counts rows in certificates (for tests of "nothing changed"). */
int	store_cert_count(struct store *, int64_t *n, struct err *e);

/*
 * Queues a publish job inside the caller's transaction (sql/003_publish.sql).
 * kind: "cert.issue", "cert.revoke", "cert.expire", "crl" or "ca";
 * ref: the serial (cert.*) or CRL number; email: the mailbox, or NULL.
 */
int	store_publish_enqueue(struct store *, const char *kind, const char *ref,
	    const char *email, struct err *e);

struct audit_rec {
	int64_t		 seq;
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
typedef int (*store_audit_fn)(void *arg, const struct audit_rec *r);
/* Every record in chain order; stops early when fn returns non-zero. */
int	store_audit_each(struct store *, store_audit_fn fn, void *arg,
	    struct err *e);

#endif
