/*
 * bench_serve: the load generator for tests/bench/bench_serve.sh and the
 * crash test in tests/integration/serve.bats.
 *
 *   bench_serve submit HOME COUNT [RATE]
 *	Makes COUNT fresh P-256 keys and CSRs with GnuTLS, then submits
 *	them through the registration authority (ra_submit_tx) as the
 *	enrolment site would: authenticated directory users via the RA,
 *	each for their own mailbox (user<N>-<pid>@<first allowed domain>).
 *	Without RATE, 500 requests per transaction (a backlog); with RATE,
 *	one request per transaction at RATE per second (a steady load).
 *	Prints the seconds the submission took.
 *   bench_serve sign HOME COUNT
 *	Loads the instance's CA and signs COUNT certificates in memory
 *	(cert_issue only, no database); prints certificates per second.
 */
#include <inttypes.h>
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

static int
submit(const struct config *cfg, long count, double rate)
{
	struct store	*st = NULL;
	struct ra_request r;
	gnutls_datum_t	*csr;
	struct err	 e;
	char		 email[128], uid[64], domain[128];
	double		 t0, next;
	long		 i;
	int64_t		 id;
	int		 rc = 1, intx = 0;

	snprintf(domain, sizeof(domain), "%.*s",
	    (int)strcspn(cfg->allowed_domains, ", "), cfg->allowed_domains);
	if ((csr = calloc((size_t)count, sizeof(*csr))) == NULL)
		return 1;
	for (i = 0; i < count; i++)
		if (make_csr(&csr[i]) != 0) {
			fprintf(stderr, "bench_serve: cannot make a CSR\n");
			goto out;
		}
	if ((st = open_store(cfg, &e)) == NULL) {
		fprintf(stderr, "bench_serve: %s\n", e.msg);
		goto out;
	}
	t0 = next = now_s();
	for (i = 0; i < count; i++) {
		snprintf(uid, sizeof(uid), "user%ld-%d", i, (int)getpid());
		snprintf(email, sizeof(email), "%s@%s", uid, domain);
		memset(&r, 0, sizeof(r));
		r.source = "csr";
		r.via_ra = 1;
		r.authenticated = 1;
		r.requester = uid;
		r.requester_mail = email;
		r.email = email;
		r.profile = "signing";
		r.csr = csr[i].data;
		r.csr_len = csr[i].size;
		if (rate > 0) {
			next += 1.0 / rate;
			while (now_s() < next)
				usleep(100);
			if (ra_submit(st, "bench", &r, &id, &e) != 0)
				goto fail;
			continue;
		}
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
		gnutls_free(csr[i].data);
	free(csr);
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
		fprintf(stderr, "usage: bench_serve submit HOME COUNT [RATE] | "
		    "sign HOME COUNT\n");
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
		rc = submit(cfg, count, argc > 4 ? strtod(argv[4], NULL) : 0);
	else
		rc = sign(cfg, count);
	config_free(cfg);
	gnutls_global_deinit();
	return rc;
}
