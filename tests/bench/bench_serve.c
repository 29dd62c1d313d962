/*
 * bench_serve: the load generator for tests/bench/bench_serve.sh and the
 * crash test in tests/integration/serve.bats.
 *
 *   bench_serve submit HOME COUNT [RATE [CONNECTIONS [GROUP]]]
 *	Makes COUNT fresh P-256 keys and CSRs with GnuTLS, then submits
 *	them through the registration authority (ra_submit_tx) as the
 *	enrolment site would: authenticated directory users via the RA,
 *	each for their own mailbox (user<N>-<pid>@<first allowed domain>).
 *	Without RATE, 500 requests per transaction (a backlog); with RATE,
 *	a steady load of RATE per second in all, from CONNECTIONS threads
 *	with a connection each (default 4): request i is due at i / RATE s,
 *	one request per transaction as the enrolment site submits -- or,
 *	with GROUP 1, each transaction takes every request due when it
 *	starts.
 *	Prints the seconds the submission took.
 *   bench_serve sign HOME COUNT
 *	Loads the instance's CA and signs COUNT certificates in memory
 *	(cert_issue only, no database); prints certificates per second.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ca.h"
#include "config.h"
#include "ra.h"
#include "store.h"

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
make_csr(gnutls_datum_t *der)
{
	gnutls_x509_privkey_t	key = NULL;
	gnutls_x509_crq_t	crq = NULL;
	int			rc = -1;

	if (gnutls_x509_privkey_init(&key) < 0 ||
	    gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_x509_crq_init(&crq) < 0 ||
	    gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0,
	    "bench", 5) < 0 ||
	    gnutls_x509_crq_set_key(crq, key) < 0 ||
	    gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, der) < 0)
		goto out;
	rc = 0;
out:
	gnutls_x509_crq_deinit(crq);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

static struct store *
open_store(const struct config *cfg, struct err *e)
{
	struct store	*st;
	char		*ci = config_conninfo(cfg);

	if (ci == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	st = store_open(ci, e);
	free(ci);
	return st;
}

/* What every submitting thread shares. */
struct load {
	const struct config	*cfg;
	gnutls_datum_t		*csr;
	long			 count;
	double			 rate;		/* requests per second, all threads */
	int			 conns;
	int			 group;		/* several due requests per transaction */
	double			 t0;
	char			 domain[128];
};

struct lane {
	struct load	*l;
	int		 k;		/* this thread takes requests k, k + conns, ... */
	int		 rc;
	pthread_t	 th;
};

static void
fill_request(struct ra_request *r, const struct load *l, long i, char *uid,
    size_t uidlen, char *email, size_t emaillen)
{
	snprintf(uid, uidlen, "user%ld-%d", i, (int)getpid());
	snprintf(email, emaillen, "%s@%s", uid, l->domain);
	memset(r, 0, sizeof(*r));
	r->source = "csr";
	r->via_ra = 1;
	r->authenticated = 1;
	r->requester = uid;
	r->requester_mail = email;
	r->email = email;
	r->profile = "signing";
	r->csr = l->csr[i].data;
	r->csr_len = l->csr[i].size;
}

/*
 * A steady load: request i is due at t0 + i / rate, submitted in a
 * transaction of its own and followed by ra_wake, as ra_submit does --
 * or, with group, together with every other request due when the
 * transaction starts. Each connection's transaction appends to an audit
 * chain of its own (sql/050_audit_chains.sql) and notifies only after its
 * commit (sql/051_request_wakeup.sql), so the connections' commits share
 * WAL flushes.
 */
static void *
lane_main(void *arg)
{
	struct lane		*ln = arg;
	struct load		*l = ln->l;
	struct store		*st;
	struct ra_request	 r;
	struct err		 e;
	char			 email[128], uid[64];
	double			 t;
	int64_t			 id;
	long			 i = ln->k;

	ln->rc = 1;
	if ((st = open_store(l->cfg, &e)) == NULL) {
		fprintf(stderr, "bench_serve: %s\n", e.msg);
		return NULL;
	}
	while (i < l->count) {
		while ((t = now_s()) < l->t0 + (double)i / l->rate)
			usleep(100);
		if (store_begin(st, &e) != 0)
			goto fail;
		do {
			fill_request(&r, l, i, uid, sizeof(uid), email,
			    sizeof(email));
			if (ra_submit_tx(st, "bench", &r, &id, &e) != 0) {
				store_rollback(st);
				goto fail;
			}
			i += l->conns;
		} while (l->group && i < l->count &&
		    l->t0 + (double)i / l->rate <= t);
		if (store_commit(st, &e) != 0)
			goto fail;
		ra_wake(st);
	}
	ln->rc = 0;
	goto out;
fail:
	fprintf(stderr, "bench_serve: request %ld: %s\n", i, e.msg);
out:
	store_close(st);
	return NULL;
}

static int
submit(const struct config *cfg, long count, double rate, int conns,
    int group)
{
	struct store	*st = NULL;
	struct ra_request r;
	struct load	 l;
	struct lane	*lanes = NULL;
	struct err	 e;
	char		 email[128], uid[64];
	double		 t0;
	long		 i;
	int64_t		 id;
	int		 rc = 1, intx = 0, k;

	if (conns < 1)
		conns = 1;
	memset(&l, 0, sizeof(l));
	l.cfg = cfg;
	l.count = count;
	l.rate = rate;
	l.conns = conns;
	l.group = group;
	snprintf(l.domain, sizeof(l.domain), "%.*s",
	    (int)strcspn(cfg->allowed_domains, ", "), cfg->allowed_domains);
	if ((l.csr = calloc((size_t)count, sizeof(*l.csr))) == NULL)
		return 1;
	for (i = 0; i < count; i++)
		if (make_csr(&l.csr[i]) != 0) {
			fprintf(stderr, "bench_serve: cannot make a CSR\n");
			goto out;
		}
	if (rate > 0) {
		if ((lanes = calloc((size_t)conns, sizeof(*lanes))) == NULL)
			goto out;
		l.t0 = now_s() + 0.05;
		for (k = 0; k < conns; k++) {
			lanes[k].l = &l;
			lanes[k].k = k;
			if (pthread_create(&lanes[k].th, NULL, lane_main,
			    &lanes[k]) != 0) {
				fprintf(stderr, "bench_serve: no thread\n");
				conns = k;
				break;
			}
		}
		rc = 0;
		for (k = 0; k < conns; k++) {
			pthread_join(lanes[k].th, NULL);
			rc |= lanes[k].rc;
		}
		if (rc == 0 && conns == l.conns)
			printf("%.3f\n", now_s() - l.t0);
		else
			rc = 1;
		goto out;
	}
	/* a backlog: 500 requests per transaction */
	if ((st = open_store(cfg, &e)) == NULL) {
		fprintf(stderr, "bench_serve: %s\n", e.msg);
		goto out;
	}
	t0 = now_s();
	for (i = 0; i < count; i++) {
		fill_request(&r, &l, i, uid, sizeof(uid), email,
		    sizeof(email));
		if (!intx && store_begin(st, &e) != 0)
			goto fail;
		intx = 1;
		if (ra_submit_tx(st, "bench", &r, &id, &e) != 0)
			goto fail;
		if ((i + 1) % 500 == 0 || i + 1 == count) {
			if (store_commit(st, &e) != 0)
				goto fail;
			intx = 0;
		}
	}
	printf("%.3f\n", now_s() - t0);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "bench_serve: request %ld: %s\n", i, e.msg);
	if (intx)
		store_rollback(st);
out:
	for (i = 0; i < count; i++)
		gnutls_free(l.csr[i].data);
	free(l.csr);
	free(lanes);
	store_close(st);
	return rc;
}

static int
sign(const struct config *cfg, long count)
{
	struct ca		*ca;
	struct cert_spec	 spec;
	struct serial		 sn;
	gnutls_datum_t		 der, csr;
	gnutls_x509_crq_t	 crq = NULL;
	gnutls_pubkey_t		 pub = NULL;
	struct err		 e;
	double			 t0, t;
	long			 i;
	int			 rc = 1;

	if ((ca = ca_open(cfg, &e)) == NULL) {
		fprintf(stderr, "bench_serve: %s\n", e.msg);
		return 1;
	}
	if (make_csr(&csr) != 0 || gnutls_x509_crq_init(&crq) < 0 ||
	    gnutls_x509_crq_import(crq, &csr, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_x509_crq(pub, crq, 0) < 0)
		goto out;
	memset(&spec, 0, sizeof(spec));
	spec.email = "bench@example.com";
	spec.profile = PROFILE_SIGNING;
	spec.days = 365;
	t0 = now_s();
	for (i = 0; i < count; i++) {
		if (serial_new(&sn, &e) != 0 ||
		    cert_issue(&ca->issuer, &spec, pub, &sn, &der, &e) != 0) {
			fprintf(stderr, "bench_serve: %s\n", e.msg);
			goto out;
		}
		gnutls_free(der.data);
	}
	t = now_s() - t0;
	printf("%.0f\n", (double)count / t);
	rc = 0;
out:
	gnutls_free(csr.data);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crq_deinit(crq);
	ca_free(ca);
	return rc;
}

int
main(int argc, char **argv)
{
	struct config	*cfg;
	struct err	 e;
	long		 count;
	int		 rc;

	if (argc < 4 || (strcmp(argv[1], "submit") && strcmp(argv[1], "sign"))) {
		fprintf(stderr, "usage: bench_serve submit HOME COUNT [RATE "
		    "[CONNECTIONS [GROUP]]] | sign HOME COUNT\n");
		return 2;
	}
	if ((count = strtol(argv[3], NULL, 10)) <= 0)
		return 2;
	if (gnutls_global_init() < 0)
		return 1;
	if ((cfg = config_load(argv[2], &e)) == NULL) {
		fprintf(stderr, "bench_serve: %s\n", e.msg);
		return 1;
	}
	if (!strcmp(argv[1], "submit"))
		rc = submit(cfg, count, argc > 4 ? strtod(argv[4], NULL) : 0,
		    argc > 5 ? atoi(argv[5]) : 4, argc > 6 ? atoi(argv[6]) : 0);
	else
		rc = sign(cfg, count);
	config_free(cfg);
	gnutls_global_deinit();
	return rc;
}
