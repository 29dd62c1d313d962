/*
 * publish: the exit module. Drains the publish queue (sql/003_publish.sql)
 * to the targets configured in signet.conf -- LDAP directories
 * ([publish.ldap.NAME], pub_ldap.h) and web directory trees
 * ([publish.web.NAME], pub_web.h) -- with retries and backoff.
 *
 * Jobs reconcile rather than replay: a cert.* job makes the targets show
 * the certificate's current state in the database (valid: present;
 * revoked or expired: absent) and rebuilds the mailbox's PKCS#7 from the
 * certificates valid now. Applying a job twice, or two jobs for one
 * mailbox in either order, leaves the same result.
 *
 * Settings of [publish]: retry_base (seconds, default 30), retry_max
 * (default 3600), max_attempts (0 = retry forever, the default), batch
 * (jobs per transaction, default 64), sweep (seconds between expiry
 * sweeps and due-retry checks, default 60), linger (milliseconds the
 * daemon waits after a wake-up so that a burst of issuances is published
 * in one batch rather than one transaction each; default 50, 0 = none).
 */
#ifndef SIGNET_PUBLISH_H
#define SIGNET_PUBLISH_H

#include <stddef.h>
#include <gnutls/gnutls.h>

#include "config.h"
#include "err.h"
#include "store.h"

/* What a target needs to publish one certificate job. */
struct pub_cert {
	const char		*serial;
	const char		*email;
	const gnutls_datum_t	*der;	/* the certificate; size 0 if unknown */
	int			 valid;	/* not revoked, within its validity */
	/* PKCS#7 certs-only (RFC 8551 3.2.2) of the mailbox's valid Signet
	 * certificates and the CA certificate; size 0 when none is valid */
	const gnutls_datum_t	*p7;
};

/* The CA's objects for "ca" and "crl" jobs. */
struct pub_ca {
	const gnutls_datum_t	*cert;	/* DER */
	const gnutls_datum_t	*crl;	/* newest CRL DER; size 0: none yet */
};

struct publish;

struct publish_stats {
	unsigned	claimed;	/* jobs taken in this batch */
	unsigned	done;		/* finished on every target */
	unsigned	failed;		/* failed somewhere; retried later */
	unsigned	gave_up;	/* of those, failed [publish]
					 * max_attempts times: not retried */
	unsigned	busy;		/* mailbox held by another publisher */
	int		full;		/* claimed [publish] batch jobs: more
					 * are likely due */
};

typedef void (*publish_log_fn)(void *arg, const char *msg);

/* Reads the [publish*] sections of cfg->path and the CA certificate. */
struct publish	*publish_new(const struct config *cfg, struct store *st,
		    struct err *e);
void		 publish_free(struct publish *);

/* How many targets are configured. */
size_t		 publish_targets(const struct publish *);
/* Where each failure is reported (one line each); NULL: nowhere. */
void		 publish_set_log(struct publish *, publish_log_fn, void *arg);
/* Seconds between sweeps ([publish] sweep). */
unsigned	 publish_sweep_interval(const struct publish *);
/* Milliseconds to gather jobs after a wake-up ([publish] linger). */
unsigned	 publish_linger_ms(const struct publish *);

/*
 * One transaction: claims up to [publish] batch due jobs, applies each to
 * the targets that have not applied it yet, records done or the failure
 * (backoff, last error), rewrites the web indexes when something changed,
 * and commits. st->claimed == 0 means nothing was due.
 */
int	publish_batch(struct publish *, struct publish_stats *st,
	    struct err *e);

/* Queues cert.expire for certificates past notAfter (once each). */
int	publish_sweep(struct publish *, unsigned *queued, struct err *e);

/* Rebuilds every web target's indexes from the database. */
int	publish_refresh(struct publish *, struct err *e);

/* Milliseconds until the next queued job is due, at most the sweep
 * interval; 0 when one is due now. */
int	publish_wait_ms(struct publish *, long *ms, struct err *e);

/* Builds the mailbox's PKCS#7 (valid certificates + CA) into *p7 (free
 * with gnutls_free; size 0 when none is valid). Shared by the targets. */
int	publish_mailbox_p7(struct store *st, const char *email,
	    const gnutls_datum_t *ca, gnutls_datum_t *p7, struct err *e);

#endif
