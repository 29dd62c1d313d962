/*
 * bench_publish: a burst of issuances for the publisher benchmark.
 *
 *   bench_publish HOME N PREFIX
 *	loads the instance's CA (ca_open, as `signet issue` does) and issues
 *	N certificates back to back, each for a fresh ECDSA P-256 key, to
 *	PREFIX0001@example.com ... with ca_issue: certificate, row, audit
 *	record and publish job in one transaction each. Prints
 *	  issued <N> in <seconds> s (<certs/s> certs/s)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "ca.h"
#include "config.h"
#include "keys.h"
#include "store.h"

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One certificate for a fresh key. */
static int
issue_one(struct ca *ca, struct store *st, const char *email, struct err *e)
{
	gnutls_x509_privkey_t	 xkey = NULL;
	gnutls_privkey_t	 pkey = NULL;
	gnutls_pubkey_t		 pub = NULL;
	struct key_info		 ki;
	struct ca_issued	 out;
	struct ca_subject	 s = { email, NULL, PROFILE_SIGNING, 0 };
	int			 rc = -1;

	memset(&out, 0, sizeof(out));
	if (keys_generate("ecdsa-p256", &xkey, e) != 0)
		goto out;
	if (gnutls_privkey_init(&pkey) < 0 ||
	    gnutls_privkey_import_x509(pkey, xkey, 0) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_privkey(pub, pkey, 0, 0) < 0) {
		err_set(e, "cannot read the new key's public half");
		goto out;
	}
	if (keys_check(pub, &ki, e) != 0 ||
	    ca_issue(ca, st, &s, pub, &ki, "bench:publish", 0, &out, e) != 0)
		goto out;
	rc = 0;
out:
	ca_issued_free(&out);
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(pkey);
	gnutls_x509_privkey_deinit(xkey);
	return rc;
}

int
main(int argc, char **argv)
{
	struct config	*cfg = NULL;
	struct store	*st = NULL;
	struct ca	*ca = NULL;
	struct err	 e;
	char		*ci = NULL, email[128];
	double		 t0, t;
	long		 n, i;
	int		 rc = 1;

	if (argc != 4 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: bench_publish HOME N PREFIX\n");
		return 2;
	}
	gnutls_global_init();
	if ((cfg = config_load(argv[1], &e)) == NULL ||
	    (ci = config_conninfo(cfg)) == NULL ||
	    (st = store_open(ci, &e)) == NULL ||
	    (ca = ca_open(cfg, &e)) == NULL) {
		fprintf(stderr, "bench_publish: %s\n", ci == NULL && cfg ?
		    "out of memory" : e.msg);
		goto out;
	}
	t0 = now_s();
	for (i = 1; i <= n; i++) {
		snprintf(email, sizeof(email), "%s%04ld@example.com", argv[3],
		    i);
		if (issue_one(ca, st, email, &e) != 0) {
			fprintf(stderr, "bench_publish: %s: %s\n", email, e.msg);
			goto out;
		}
	}
	t = now_s() - t0;
	printf("issued %ld in %.2f s (%.0f certs/s)\n", n, t, (double)n / t);
	rc = 0;
out:
	ca_free(ca);
	store_close(st);
	free(ci);
	config_free(cfg);
	gnutls_global_deinit();
	return rc;
}
