/*
 * bench_issue: issuance throughput, measured against the machine's own
 * limit in the same run.
 *
 *   bench_issue csrs DIR N
 *	writes N PKCS#10 requests (RFC 2986), DIR/000000.csr ..., each for a
 *	fresh ECDSA P-256 key, PEM, signed with SHA-256 -- what a mail
 *	client's enrolment would send.
 *
 *   bench_issue run HOME DIR N REPS
 *	loads the instance's CA (ca_open, the same as `signet issue`), reads
 *	the N requests into memory (not timed), then times, REPS times each:
 *	  limit    the raw GnuTLS floor per certificate: one CSR self-signature
 *		   verify (gnutls_x509_crq_verify) + one signature with the CA
 *		   key (gnutls_privkey_sign_data) over a certificate-sized TBS;
 *	  memory   csr_parse + serial_new + cert_issue: a whole certificate,
 *		   no database;
 *	  durable  csr_parse + ca_issue: certificate, row, audit record and
 *		   publish job, one transaction (one commit) per certificate,
 *		   exactly as `signet issue` does;
 *	  durableT the same from 2 threads, each with its own CA handle
 *		   (ca_dup) and database connection, as ca-serve's signing
 *		   threads work: each certificate still has its own commit,
 *		   and one thread signs while another's commit is flushed;
 *	  durableT4 the same from 4 threads: a thread's certificate waits
 *		   for its statements and its commit for longer than it
 *		   takes to sign one, so two threads leave the core idle.
 *	  batched  `signet issue --batch` once its list is read: csr_parse
 *		   for every request (par_each: one thread here, pinned to
 *		   one core), then ca_issue_sets -- sets of 64, each
 *		   signed, then rows, audit records and publish jobs stored
 *		   with one commit for the set, on two lanes (one signs while
 *		   the other's set commits). Every certificate is durable at
 *		   its set's commit, before any is handed out.
 *	and prints one line per measurement:
 *	  <name> <median certs/s> <run1> <run2> ...
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "ca.h"
#include "cert.h"
#include "config.h"
#include "csr.h"
#include "par.h"
#include "serial.h"
#include "store.h"

#define MAX_REPS	9

struct input {
	size_t			 n;
	gnutls_datum_t		*pem;	/* the requests as a client sent them */
	gnutls_x509_crq_t	*crq;	/* pre-imported, for the limit only */
	char			(*email)[64];
};

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
report(const char *name, double *rate, int reps)
{
	double	sorted[MAX_REPS];
	int	i;

	memcpy(sorted, rate, sizeof(double) * (size_t)reps);
	qsort(sorted, (size_t)reps, sizeof(double), cmp_double);
	printf("%s %.1f", name, reps % 2 ? sorted[reps / 2] :
	    (sorted[reps / 2 - 1] + sorted[reps / 2]) / 2);
	for (i = 0; i < reps; i++)
		printf(" %.1f", rate[i]);
	printf("\n");
	fflush(stdout);
}

static int
make_csrs(const char *dir, size_t n)
{
	gnutls_x509_privkey_t	 key = NULL;
	gnutls_x509_crq_t	 crq = NULL;
	gnutls_datum_t		 pem = { NULL, 0 };
	char			 path[4096], dn[64];
	FILE			*f;
	size_t			 i;
	int			 rc = -1;

	for (i = 0; i < n; i++) {
		snprintf(dn, sizeof(dn), "CN=Bench User %zu", i);
		if (gnutls_x509_privkey_init(&key) < 0 ||
		    gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
		    gnutls_x509_crq_init(&crq) < 0 ||
		    gnutls_x509_crq_set_version(crq, 1) < 0 ||
		    gnutls_x509_crq_set_dn(crq, dn, NULL) < 0 ||
		    gnutls_x509_crq_set_key(crq, key) < 0 ||
		    gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0) < 0 ||
		    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &pem) < 0) {
			fprintf(stderr, "bench_issue: cannot make CSR %zu\n", i);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%06zu.csr", dir, i);
		if ((f = fopen(path, "w")) == NULL ||
		    fwrite(pem.data, 1, pem.size, f) != pem.size ||
		    fclose(f) != 0) {
			perror(path);
			goto out;
		}
		gnutls_free(pem.data);
		pem.data = NULL;
		gnutls_x509_crq_deinit(crq);
		crq = NULL;
		gnutls_x509_privkey_deinit(key);
		key = NULL;
	}
	rc = 0;
out:
	gnutls_free(pem.data);
	if (crq != NULL)
		gnutls_x509_crq_deinit(crq);
	if (key != NULL)
		gnutls_x509_privkey_deinit(key);
	return rc;
}

static void
input_free(struct input *in)
{
	size_t	i;

	for (i = 0; i < in->n; i++) {
		gnutls_free(in->pem[i].data);
		if (in->crq[i] != NULL)
			gnutls_x509_crq_deinit(in->crq[i]);
	}
	free(in->pem);
	free(in->crq);
	free(in->email);
}

static int
input_load(struct input *in, const char *dir, size_t n)
{
	char	path[4096];
	size_t	i;

	in->n = n;
	in->pem = calloc(n, sizeof(*in->pem));
	in->crq = calloc(n, sizeof(*in->crq));
	in->email = calloc(n, sizeof(*in->email));
	if (in->pem == NULL || in->crq == NULL || in->email == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%06zu.csr", dir, i);
		if (gnutls_load_file(path, &in->pem[i]) < 0 ||
		    gnutls_x509_crq_init(&in->crq[i]) < 0 ||
		    gnutls_x509_crq_import(in->crq[i], &in->pem[i],
		    GNUTLS_X509_FMT_PEM) < 0) {
			fprintf(stderr, "bench_issue: %s: cannot read\n", path);
			return -1;
		}
		snprintf(in->email[i], sizeof(in->email[i]),
		    "bench%zu@example.com", i);
	}
	return 0;
}

/* The floor: what any CA must do per certificate with this key. */
static int
run_limit(struct ca *ca, const struct input *in, double *rate)
{
	gnutls_digest_algorithm_t	 hash = ca->issuer.hash;
	gnutls_datum_t			 tbs, sig;
	uint8_t				 buf[600];
	double				 t0;
	size_t				 i;

	/* a subscriber TBSCertificate with these extensions is ~550 octets */
	memset(buf, 0x5a, sizeof(buf));
	tbs.data = buf;
	tbs.size = sizeof(buf);
	t0 = now_s();
	for (i = 0; i < in->n; i++) {
		buf[i % sizeof(buf)] ^= 1;
		if (gnutls_x509_crq_verify(in->crq[i], 0) < 0 ||
		    gnutls_privkey_sign_data(ca->key, hash, 0, &tbs, &sig) < 0) {
			fprintf(stderr, "bench_issue: verify+sign failed\n");
			return -1;
		}
		gnutls_free(sig.data);
	}
	*rate = (double)in->n / (now_s() - t0);
	return 0;
}

static int
run_memory(struct ca *ca, const struct input *in, double *rate)
{
	struct cert_spec	 spec;
	struct serial		 serial;
	struct csr		*csr;
	struct err		 e;
	gnutls_datum_t		 der;
	double			 t0;
	size_t			 i;

	memset(&spec, 0, sizeof(spec));
	spec.profile = PROFILE_SIGNING;
	spec.days = ca->cfg->default_days;
	t0 = now_s();
	for (i = 0; i < in->n; i++) {
		spec.email = in->email[i];
		if ((csr = csr_parse(in->pem[i].data, in->pem[i].size,
		    &e)) == NULL ||
		    serial_new(&serial, &e) != 0 ||
		    cert_issue(&ca->issuer, &spec, csr_pubkey(csr), &serial,
		    &der, &e) != 0) {
			fprintf(stderr, "bench_issue: %s\n", e.msg);
			csr_free(csr);
			return -1;
		}
		gnutls_free(der.data);
		csr_free(csr);
	}
	*rate = (double)in->n / (now_s() - t0);
	return 0;
}

/* Issues in[first], in[first + step], ... durably; returns the count or
 * -1. */
static long
issue_durable(struct ca *ca, struct store *st, const struct input *in,
    size_t first, size_t step)
{
	struct ca_subject	 subj;
	struct ca_issued	 out;
	struct csr		*csr;
	struct err		 e;
	size_t			 i;
	long			 n = 0;

	memset(&subj, 0, sizeof(subj));
	subj.profile = PROFILE_SIGNING;
	for (i = first; i < in->n; i += step) {
		subj.email = in->email[i];
		if ((csr = csr_parse(in->pem[i].data, in->pem[i].size,
		    &e)) == NULL ||
		    ca_issue(ca, st, &subj, csr_pubkey(csr), csr_key_info(csr),
		    "bench", 0, &out, &e) != 0) {
			fprintf(stderr, "bench_issue: %s\n", e.msg);
			csr_free(csr);
			return -1;
		}
		ca_issued_free(&out);
		csr_free(csr);
		n++;
	}
	return n;
}

static int
run_durable(struct ca *ca, struct store *st, const struct input *in,
    double *rate)
{
	double	t0 = now_s();

	if (issue_durable(ca, st, in, 0, 1) < 0)
		return -1;
	*rate = (double)in->n / (now_s() - t0);
	return 0;
}

/* One request of run_batched's, parsed on any of par_each's threads. */
struct parse_all {
	const struct input	*in;
	struct csr		**csrs;
};

static void
parse_one(void *arg, size_t i)
{
	struct parse_all	*p = arg;
	struct err		 e;

	p->csrs[i] = csr_parse(p->in->pem[i].data, p->in->pem[i].size, &e);
}

/*
 * What `signet issue --batch` does once its list is read: every request
 * parsed and checked on every core (csr_parse under par_each, as the
 * CLI's check of the whole list), then ca_issue_sets on two lanes --
 * sets of CA_SET_MAX, one transaction each, one lane signing while the
 * other's set commits. Timed whole.
 */
static int
run_batched(struct ca_lane lanes[2], const struct input *in, double *rate)
{
	struct ca_job	*jobs;
	struct csr	**csrs;
	struct err	 e;
	size_t		 i;
	double		 t0 = now_s();
	int		 rc = -1;

	jobs = calloc(in->n, sizeof(*jobs));
	csrs = calloc(in->n, sizeof(*csrs));
	if (jobs == NULL || csrs == NULL) {
		fprintf(stderr, "bench_issue: out of memory\n");
		goto out;
	}
	par_each(in->n, parse_one, &(struct parse_all){ in, csrs });
	for (i = 0; i < in->n; i++) {
		if (csrs[i] == NULL) {
			err_set(&e, "request %zu did not parse", i);
			goto fail;
		}
		jobs[i].subj.email = in->email[i];
		jobs[i].subj.profile = PROFILE_SIGNING;
		jobs[i].pub = csr_pubkey(csrs[i]);
		jobs[i].ki = csr_key_info(csrs[i]);
		jobs[i].actor = "bench";
	}
	if (ca_issue_sets(lanes, jobs, in->n, NULL, NULL, NULL, &e) != 0)
		goto fail;
	*rate = (double)in->n / (now_s() - t0);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "bench_issue: %s\n", e.msg);
out:
	for (i = 0; jobs != NULL && csrs != NULL && i < in->n; i++) {
		ca_job_free(&jobs[i]);
		csr_free(csrs[i]);
	}
	free(jobs);
	free(csrs);
	return rc;
}

#define MAX_THREADS	8

/* One issuing thread of run_durable_mt: its own CA handle and connection. */
struct issuer_thread {
	struct ca		*ca;
	struct store		*st;
	const struct input	*in;
	size_t			 first, step;
	long			 n;
};

static void *
issuer_main(void *arg)
{
	struct issuer_thread	*t = arg;

	t->n = issue_durable(t->ca, t->st, t->in, t->first, t->step);
	return NULL;
}

static int
run_durable_mt(struct issuer_thread *th, int nth, const struct input *in,
    double *rate)
{
	pthread_t	 tid[MAX_THREADS];
	double		 t0 = now_s();
	long		 n = 0;
	int		 i, started = 0, rc = 0;

	for (i = 0; i < nth; i++) {
		th[i].in = in;
		th[i].first = (size_t)i;
		th[i].step = (size_t)nth;
		if (pthread_create(&tid[i], NULL, issuer_main, &th[i]) != 0) {
			fprintf(stderr, "bench_issue: cannot start a thread\n");
			rc = -1;
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		if (th[i].n < 0)
			rc = -1;
		n += th[i].n;
	}
	if (rc == 0)
		*rate = (double)n / (now_s() - t0);
	return rc;
}

static int
run_all(const char *home, const char *dir, size_t n, int reps)
{
	struct config	*cfg = NULL;
	struct issuer_thread th[MAX_THREADS];
	struct ca_lane	 lanes[2];
	struct ca	*ca = NULL;
	struct store	*st = NULL;
	int		 nth = 4, t;
	struct input	 in;
	struct err	 e;
	double		 limit[MAX_REPS], mem[MAX_REPS], dur[MAX_REPS],
			 dur2[MAX_REPS], dur4[MAX_REPS], bat[MAX_REPS];
	char		*ci = NULL, *abs = NULL;
	int		 i, rc = -1;

	memset(&in, 0, sizeof(in));
	if ((abs = config_home(home, &e)) == NULL ||
	    (cfg = config_load(abs, &e)) == NULL ||
	    (ca = ca_open(cfg, &e)) == NULL ||
	    (ci = config_conninfo(cfg)) == NULL ||
	    (st = store_open(ci, &e)) == NULL) {
		fprintf(stderr, "bench_issue: %s\n", e.msg);
		goto out;
	}
	memset(th, 0, sizeof(th));
	for (t = 0; t < nth; t++)
		if ((th[t].ca = ca_dup(ca, &e)) == NULL ||
		    (th[t].st = store_open(ci, &e)) == NULL) {
			fprintf(stderr, "bench_issue: %s\n", e.msg);
			goto out;
		}
	if (input_load(&in, dir, n) != 0)
		goto out;
	lanes[0].ca = th[0].ca;
	lanes[0].st = th[0].st;
	lanes[1].ca = th[1].ca;
	lanes[1].st = th[1].st;
	/* interleaved, so drift (thermal, neighbours) hits all alike */
	for (i = 0; i < reps; i++) {
		if (run_limit(ca, &in, &limit[i]) != 0 ||
		    run_memory(ca, &in, &mem[i]) != 0 ||
		    run_durable(ca, st, &in, &dur[i]) != 0 ||
		    run_durable_mt(th, 2, &in, &dur2[i]) != 0 ||
		    run_durable_mt(th, 4, &in, &dur4[i]) != 0 ||
		    run_batched(lanes, &in, &bat[i]) != 0)
			goto out;
	}
	report("limit", limit, reps);
	report("memory", mem, reps);
	report("durable", dur, reps);
	report("durableT", dur2, reps);
	report("durableT4", dur4, reps);
	report("batched", bat, reps);
	rc = 0;
out:
	input_free(&in);
	for (t = 0; t < MAX_THREADS; t++) {
		store_close(th[t].st);
		ca_free(th[t].ca);
	}
	store_close(st);
	free(ci);
	ca_free(ca);
	config_free(cfg);
	free(abs);
	return rc;
}

int
main(int argc, char **argv)
{
	long	n, reps;

	if (argc == 4 && strcmp(argv[1], "csrs") == 0) {
		if ((n = strtol(argv[3], NULL, 10)) < 1)
			return 2;
		return make_csrs(argv[2], (size_t)n) == 0 ? 0 : 1;
	}
	if (argc == 6 && strcmp(argv[1], "run") == 0) {
		n = strtol(argv[4], NULL, 10);
		reps = strtol(argv[5], NULL, 10);
		if (n < 1 || reps < 1 || reps > MAX_REPS)
			return 2;
		return run_all(argv[2], argv[3], (size_t)n, (int)reps) == 0 ?
		    0 : 1;
	}
	fprintf(stderr, "usage: bench_issue csrs DIR N\n"
	    "       bench_issue run HOME DIR N REPS\n");
	return 2;
}
