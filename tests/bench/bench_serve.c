/*
 * bench_serve: the load generator for tests/bench/bench_serve.sh and the
 * crash test in tests/integration/serve.bats.
 *
 *   bench_serve submit HOME COUNT [RATE [THREADS [PER_QUEUE]]]
 *	Makes COUNT fresh P-256 keys and CSRs with GnuTLS, then submits
 *	them through the registration authority as the enrolment site
 *	would: authenticated directory users via the RA, each for their own
 *	mailbox (user<N>-<pid>@<first allowed domain>).
 *	Without RATE, 500 requests per transaction (ra_submit_tx: a
 *	backlog). With RATE, a steady load of RATE per second in all from
 *	THREADS threads (default 8), PER_QUEUE (default 4) to a queue, as
 *	a worker of the enrolment site runs its task threads (task_threads
 *	in web/signet-web.conf.in) on one ra_queue: request i is
 *	due at i / RATE s, and its thread submits it then and waits for its
 *	commit (ra_queue_submit: the group commit). The RA's checks
 *	of every CSR (ra_check; its signature above all) are made before the
 *	clock starts, as the CSRs are: the run measures from the submitted
 *	row, and the submitters' own CPU stays off the machine under test.
 *	Prints the seconds the submission took, and on stderr the
 *	submitters' CPU time per request.
 *   bench_serve queue-check HOME
 *	For serve.bats: six threads submit at once through one ra_queue,
 *	the fourth with a directory group whose name holds a control
 *	character, which the database write refuses. Prints one line per
 *	thread, in order: "ok ID" or "error MESSAGE". Then the queue's
 *	database session is terminated (as by a restart) and a seventh
 *	request submitted through the queue: one more line.
 *   bench_serve sign HOME COUNT
 *	Loads the instance's CA and signs COUNT certificates in memory
 *	(cert_issue only, no database); prints certificates per second.
 */
#include <errno.h>
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
#include "csr.h"
#include "ra.h"
#include "store.h"

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps to the monotonic time t (seconds): no polling, so the load
 * generator's own CPU stays off the machine under test. */
static void
sleep_until(double t)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

static double
cpu_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
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
	struct csr		**checked;	/* ra_check's, before the run */
	long			 count;
	double			 rate;		/* requests per second, all threads */
	int			 threads;
	int			 per_queue;	/* threads to a queue */
	struct ra_queue		**queues;
	double			 t0;
	char			 domain[128];
};

struct lane {
	struct load	*l;
	int		 k;		/* this thread takes requests k, k + threads, ... */
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

/* A steady load: request i is due at t0 + i / rate; its thread submits it
 * then through its queue and waits for the commit. */
static void *
lane_main(void *arg)
{
	struct lane		*ln = arg;
	struct load		*l = ln->l;
	struct ra_queue		*q = l->queues[ln->k / l->per_queue];
	struct ra_request	 r;
	struct err		 e;
	char			 email[128], uid[64];
	int64_t			 id;
	long			 i;

	ln->rc = 1;
	for (i = ln->k; i < l->count; i += l->threads) {
		sleep_until(l->t0 + (double)i / l->rate);
		fill_request(&r, l, i, uid, sizeof(uid), email, sizeof(email));
		if (ra_queue_submit(q, "bench", &r, l->checked[i], &id,
		    &e) != 0) {
			fprintf(stderr, "bench_serve: request %ld: %s\n", i,
			    e.msg);
			return NULL;
		}
	}
	ln->rc = 0;
	return NULL;
}

static int
submit(const struct config *cfg, long count, double rate, int threads,
    int per_queue)
{
	struct store	*st = NULL;
	struct ra_request r;
	struct load	 l;
	struct lane	*lanes = NULL;
	struct err	 e;
	char		 email[128], uid[64];
	double		 t0, c0 = 0;
	long		 i;
	int64_t		 id;
	char		*ci = NULL;
	int		 rc = 1, intx = 0, k, nq = 0;

	if (threads < 1)
		threads = 1;
	if (per_queue < 1)
		per_queue = 1;
	memset(&l, 0, sizeof(l));
	l.cfg = cfg;
	l.count = count;
	l.rate = rate;
	l.threads = threads;
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
		/* the RA's checks (the CSR's signature above all) before
		 * the clock starts, as the CSRs are made before it: the run
		 * measures from the submitted row */
		if ((l.checked = calloc((size_t)count, sizeof(*l.checked))) ==
		    NULL)
			goto out;
		for (i = 0; i < count; i++) {
			fill_request(&r, &l, i, uid, sizeof(uid), email,
			    sizeof(email));
			if ((l.checked[i] = ra_check(&r, &e)) == NULL) {
				fprintf(stderr, "bench_serve: request %ld: "
				    "%s\n", i, e.msg);
				goto out;
			}
		}
		nq = (threads + per_queue - 1) / per_queue;
		l.per_queue = per_queue;
		if ((ci = config_conninfo(cfg)) == NULL ||
		    (l.queues = calloc((size_t)nq, sizeof(*l.queues))) == NULL)
			goto out;
		for (k = 0; k < nq; k++)
			if ((l.queues[k] = ra_queue_new(ci, &e)) == NULL) {
				fprintf(stderr, "bench_serve: %s\n", e.msg);
				goto out;
			}
		if ((lanes = calloc((size_t)threads, sizeof(*lanes))) == NULL)
			goto out;
		l.t0 = now_s() + 0.05;
		c0 = cpu_s();
		for (k = 0; k < threads; k++) {
			lanes[k].l = &l;
			lanes[k].k = k;
			if (pthread_create(&lanes[k].th, NULL, lane_main,
			    &lanes[k]) != 0) {
				fprintf(stderr, "bench_serve: no thread\n");
				threads = k;
				break;
			}
		}
		rc = 0;
		for (k = 0; k < threads; k++) {
			pthread_join(lanes[k].th, NULL);
			rc |= lanes[k].rc;
		}
		if (rc != 0 || threads != l.threads) {
			rc = 1;
			goto out;
		}
		printf("%.3f\n", now_s() - l.t0);
		fprintf(stderr, "submitter cpu: %.3f ms per request\n",
		    (cpu_s() - c0) * 1000 / (double)count);
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
	for (i = 0; i < count; i++) {
		gnutls_free(l.csr[i].data);
		if (l.checked != NULL)
			csr_free(l.checked[i]);
	}
	free(l.checked);
	free(l.csr);
	for (k = 0; k < nq; k++)
		ra_queue_free(l.queues[k]);
	free(l.queues);
	free(ci);
	free(lanes);
	store_close(st);
	return rc;
}

/* queue-check: a request checked and submitted, as the site's enrolment
 * task does */
static int
submit_one(struct ra_queue *q, const struct ra_request *r, int64_t *id,
    struct err *e)
{
	struct csr	*csr;
	int		 rc;

	if ((csr = ra_check(r, e)) == NULL)
		return -1;
	rc = ra_queue_submit(q, "bench", r, csr, id, e);
	csr_free(csr);
	return rc;
}

/* queue-check: one thread of six */
struct qc {
	struct load		*l;
	struct ra_queue		*q;
	pthread_barrier_t	*go;
	int			 k;
	int64_t			 id;
	struct err		 e;
	int			 rc;
	pthread_t		 th;
};

static void *
qc_main(void *arg)
{
	struct qc		*c = arg;
	struct ra_request	 r;
	char			 email[128], uid[64];
	const char		*bad[1] = { "smime\x1fusers" };

	fill_request(&r, c->l, c->k, uid, sizeof(uid), email, sizeof(email));
	if (c->k == 3) {
		r.groups = bad;
		r.ngroups = 1;
	}
	pthread_barrier_wait(c->go);
	c->rc = submit_one(c->q, &r, &c->id, &c->e);
	return NULL;
}

static int
queue_check(const struct config *cfg)
{
	struct load		 l;
	struct qc		 c[6];
	struct ra_queue		*q = NULL;
	struct ra_request	 r;
	struct store		*st;
	pthread_barrier_t	 go;
	struct err		 e;
	PGconn			*pg;
	char			*ci, email[128], uid[64];
	int64_t			 id;
	int			 k, n = 0, rc = 1;

	memset(&l, 0, sizeof(l));
	snprintf(l.domain, sizeof(l.domain), "%.*s",
	    (int)strcspn(cfg->allowed_domains, ", "), cfg->allowed_domains);
	if ((l.csr = calloc(7, sizeof(*l.csr))) == NULL)
		return 1;
	for (k = 0; k < 7; k++)
		if (make_csr(&l.csr[k]) != 0)
			goto out;
	if ((ci = config_conninfo(cfg)) == NULL)
		goto out;
	q = ra_queue_new(ci, &e);
	free(ci);
	if (q == NULL)
		goto out;
	pthread_barrier_init(&go, NULL, 6);
	for (k = 0; k < 6; k++) {
		memset(&c[k], 0, sizeof(c[k]));
		c[k].l = &l;
		c[k].q = q;
		c[k].go = &go;
		c[k].k = k;
		if (pthread_create(&c[k].th, NULL, qc_main, &c[k]) != 0)
			abort();	/* the barrier would wait forever */
	}
	for (k = 0; k < 6; k++)
		pthread_join(c[k].th, NULL);
	pthread_barrier_destroy(&go);
	for (k = 0; k < 6; k++) {
		if (c[k].rc == 0)
			printf("ok %" PRId64 "\n", c[k].id);
		else
			printf("error %s\n", c[k].e.msg);
		n += c[k].rc == 0;
	}
	/* the queue's connection cut, as by a restart of the database */
	if ((ci = config_conninfo(cfg)) == NULL ||
	    (st = store_open(ci, &e)) == NULL) {
		free(ci);
		goto out;
	}
	free(ci);
	pg = store_pg(st);
	PQclear(PQexec(pg, "SELECT pg_terminate_backend(pid) FROM "
	    "pg_stat_activity WHERE datname = current_database() AND "
	    "pid <> pg_backend_pid() AND backend_type = 'client backend'"));
	store_close(st);
	fill_request(&r, &l, 6, uid, sizeof(uid), email, sizeof(email));
	if (submit_one(q, &r, &id, &e) == 0) {
		printf("ok %" PRId64 "\n", id);
		n++;
	} else
		printf("error %s\n", e.msg);
	rc = n == 6 ? 0 : 1;
out:
	for (k = 0; k < 7; k++)
		gnutls_free(l.csr[k].data);
	free(l.csr);
	ra_queue_free(q);
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

	if (argc == 3 && !strcmp(argv[1], "queue-check")) {
		if (gnutls_global_init() < 0)
			return 1;
		if ((cfg = config_load(argv[2], &e)) == NULL) {
			fprintf(stderr, "bench_serve: %s\n", e.msg);
			return 1;
		}
		rc = queue_check(cfg);
		config_free(cfg);
		gnutls_global_deinit();
		return rc;
	}
	if (argc < 4 || (strcmp(argv[1], "submit") && strcmp(argv[1], "sign"))) {
		fprintf(stderr, "usage: bench_serve submit HOME COUNT [RATE "
		    "[THREADS [PER_QUEUE]]] | queue-check HOME | sign HOME COUNT\n");
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
		    argc > 5 ? atoi(argv[5]) : 8, argc > 6 ? atoi(argv[6]) : 4);
	else
		rc = sign(cfg, count);
	config_free(cfg);
	gnutls_global_deinit();
	return rc;
}
