/*
 * ca: a loaded CA (certificate + key + profile settings) and issuance:
 * the certificate, its row and its audit record in one transaction.
 */
#ifndef SIGNET_CA_H
#define SIGNET_CA_H

#include <stdint.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "cert.h"
#include "config.h"
#include "err.h"
#include "keys.h"
#include "serial.h"
#include "store.h"

struct ca {
	const struct config	*cfg;
	gnutls_x509_crt_t	 crt;
	gnutls_datum_t		 crt_der;
	gnutls_privkey_t	 key;
	struct cert_issuer	 issuer;
};

/* Loads the CA certificate and key named by the config. */
struct ca	*ca_open(const struct config *cfg, struct err *e);
void		 ca_free(struct ca *);

/* Reads a PEM or DER certificate file into DER. */
int	ca_read_cert_file(const char *path, gnutls_datum_t *der, struct err *e);

struct ca_issued {
	struct serial	 serial;
	char		 serial_hex[SERIAL_HEX_MAX];
	gnutls_datum_t	 der;		/* free with gnutls_free */
};

struct ca_subject {
	const char		*email;
	const char		*display_name;	/* may be NULL; kept in the row */
	enum cert_profile	 profile;
	unsigned		 days;		/* 0: the configured default */
};

/*
 * Issues inside the caller's transaction: signs, inserts the row (a new
 * serial is drawn if the first collides) and appends the audit record.
 */
int	ca_issue_tx(struct ca *ca, struct store *st, const struct ca_subject *s,
	    gnutls_pubkey_t pub, const struct key_info *ki, const char *actor,
	    int64_t request_id, struct ca_issued *out, struct err *e);

/* The same in a transaction of its own, in one round trip to the
 * database (store_issue_start/finish). */
int	ca_issue(struct ca *ca, struct store *st, const struct ca_subject *s,
	    gnutls_pubkey_t pub, const struct key_info *ki, const char *actor,
	    int64_t request_id, struct ca_issued *out, struct err *e);

void	ca_issued_free(struct ca_issued *);

/*
 * A second handle on the same CA (certificate and key) for another
 * thread: a GnuTLS object is used by one thread at a time. A key from a
 * file is copied in memory (no second passphrase derivation); a token
 * key is opened again.
 */
struct ca	*ca_dup(const struct ca *, struct err *e);

/*
 * Issuance in two steps, for batches (ca-serve): ca_sign draws a serial
 * and signs, without the database, so that several threads can sign at
 * once, each with its own struct ca. ca_store_tx then stores n signed
 * jobs inside the caller's transaction in a few statements: the rows
 * (signing again, with ca, any whose serial is taken), one cert.issue
 * audit record each -- added to audit for the caller to append, or
 * appended here when audit is NULL -- and their publish jobs. A job is
 * zeroed before its first ca_sign and freed with ca_job_free.
 */
struct ca_job {
	struct ca_subject	 subj;
	gnutls_pubkey_t		 pub;
	const struct key_info	*ki;
	const char		*actor;		/* issued_by, audit actor */
	int64_t			 request_id;	/* 0: none */
	/* set by ca_sign */
	struct ca_issued	 out;
	struct cert_row		 row;
	unsigned		 days;
};

int	ca_sign(struct ca *ca, struct ca_job *j, struct err *e);
int	ca_store_tx(struct ca *ca, struct store *st, struct ca_job *jobs,
	    size_t n, struct store_audit_buf *audit, struct err *e);
void	ca_job_free(struct ca_job *);

/*
 * Many jobs issued in sets of CA_SET_MAX: each set signed (ca_sign), then
 * its rows, audit records and publish jobs stored in one transaction of
 * its own (ca_store_tx) and committed once, so every certificate is
 * durable before the caller hands any out. `signet issue --batch` works
 * this way.
 *
 * Two lanes, each a CA handle and a connection of its own: one lane signs
 * a set while the other's is stored and committed, so signing never waits
 * on the database. One lane signs at a time, and sets commit in order:
 * done(arg, first, m) is called after each commit, in order, before the
 * next set is stored. lanes[1].ca NULL: one lane does both in turn.
 * On failure, e says why and *committed (when not NULL) how many jobs,
 * from the first, were committed; nothing after them was stored.
 */
#define CA_SET_MAX	64
struct ca_lane {
	struct ca	*ca;
	struct store	*st;
};
int	ca_issue_sets(struct ca_lane lanes[2], struct ca_job *jobs, size_t n,
	    int (*done)(void *arg, struct ca_job *first, size_t m,
	    struct err *e), void *arg, size_t *committed, struct err *e);

#endif
