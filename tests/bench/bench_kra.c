/*
 * bench_kra: what key recovery costs (issue 7, item 6).
 *
 *   bench_kra HOME N REPS AGENT1 PASSFILE1 AGENT2 PASSFILE2
 *	on an instance whose KRA has threshold 2 (kra init done), times,
 *	REPS times each:
 *	  plain    N encryption certificates through ca_issue_tx, one
 *		   transaction each (the ca-serve issuing path without escrow);
 *	  escrow   the same N with the RA's kra_seal_key and ca-serve's
 *		   kra_escrow_tx in the issuing transaction;
 *	  approve  the 2nd (M-th) kra_recovery_approve of a recovery: share
 *		   unsealing, recombination, escrow unsealing, key check,
 *		   PKCS#12 and the database writes, until commit;
 *	  argon2id one derivation at the configured [kra] pwhash limits,
 *		   which every approval pays once for the agent's passphrase.
 *	and prints one line per measurement:
 *	  <name> <median> <run1> <run2> ...   (certs/s, or ms for the last two)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "ca.h"
#include "cakey.h"
#include "config.h"
#include "keys.h"
#include "kra.h"
#include "store.h"

#define MAX_REPS	15

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

	return x < y ? -1 : x > y;
}

static void
report(const char *name, double *v, int n)
{
	double	s[MAX_REPS];
	int	i;

	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	printf("%s %.2f", name, s[n / 2]);
	for (i = 0; i < n; i++)
		printf(" %.2f", v[i]);
	printf("\n");
}

static int
die(const char *what, const struct err *e)
{
	fprintf(stderr, "bench_kra: %s: %s\n", what, e->msg);
	exit(1);
}

/* Issues n encryption certificates; escrows their key when escrow is set.
 * Returns certs/s; the last serial is left in last. */
static double
issue(struct ca *ca, struct store *st, gnutls_x509_privkey_t key,
    gnutls_pubkey_t pub, const struct key_info *ki, int n, int escrow,
    char *last)
{
	struct ca_subject	 s = { "bench@example.com", NULL,
	    PROFILE_ENCRYPTION, 0 };
	struct ca_issued	 out;
	struct err		 e;
	uint8_t			*sealed;
	size_t			 len;
	double			 t0 = now_s();
	int			 i;

	for (i = 0; i < n; i++) {
		if (store_begin(st, &e) != 0 ||
		    ca_issue_tx(ca, st, &s, pub, ki, "bench", 0, &out, &e) != 0)
			die("issue", &e);
		if (escrow) {
			if (kra_seal_key(st, key, &sealed, &len, &e) != 0 ||
			    kra_escrow_tx(st, 0, out.serial_hex, &out.der,
			    sealed, len, &e) != 0)
				die("escrow", &e);
			kra_sealed_free(sealed, len);
		}
		if (store_commit(st, &e) != 0)
			die("commit", &e);
		snprintf(last, 41, "%s", out.serial_hex);
		ca_issued_free(&out);
	}
	return n / (now_s() - t0);
}

int
main(int argc, char **argv)
{
	struct config		*cfg;
	struct ca		*ca;
	struct store		*st;
	struct kra_config	 kc;
	struct key_info		 ki;
	struct err		 e;
	gnutls_x509_privkey_t	 key;
	gnutls_privkey_t	 pkey;
	gnutls_pubkey_t		 pub;
	gnutls_datum_t		 p12;
	double			 plain[MAX_REPS], esc[MAX_REPS];
	double			 appr[MAX_REPS], a2[MAX_REPS], t0;
	char			 serial[41], *ci, *p1, *p2, *otp;
	uint8_t			 dk[32], salt[16] = { 0 };
	int64_t			 id;
	int			 n, reps, r;

	if (argc != 8) {
		fprintf(stderr, "usage: bench_kra HOME N REPS AGENT1 PASSFILE1 "
		    "AGENT2 PASSFILE2\n");
		return 2;
	}
	n = atoi(argv[2]);
	reps = atoi(argv[3]);
	if (n < 1 || reps < 1 || reps > MAX_REPS)
		return 2;
	if ((cfg = config_load(argv[1], &e)) == NULL ||
	    kra_config_load(cfg->path, &kc, &e) != 0)
		die("config", &e);
	if ((ca = ca_open(cfg, &e)) == NULL)
		die("CA", &e);
	ci = config_conninfo(cfg);
	if ((st = store_open(ci, &e)) == NULL)
		die("database", &e);
	if (cakey_read_secret(argv[5], NULL, &p1, &e) != 0 ||
	    cakey_read_secret(argv[7], NULL, &p2, &e) != 0)
		die("passphrase", &e);
	if (keys_generate(cfg->server_key_type, &key, &e) != 0 ||
	    gnutls_privkey_init(&pkey) < 0 ||
	    gnutls_privkey_import_x509(pkey, key, 0) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_privkey(pub, pkey, 0, 0) < 0 ||
	    keys_check(pub, &ki, &e) != 0)
		die("key", &e);

	for (r = 0; r < reps; r++) {
		plain[r] = issue(ca, st, key, pub, &ki, n, 0, serial);
		esc[r] = issue(ca, st, key, pub, &ki, n, 1, serial);
	}
	for (r = 0; r < reps; r++) {
		if (kra_recovery_open(st, &kc, "bench", serial, "benchmark",
		    &id, &e) != 0 ||
		    kra_recovery_approve(st, &kc, "bench", id, argv[4], p1, &otp,
		    &e) != 0)
			die("recovery", &e);
		t0 = now_s();
		if (kra_recovery_approve(st, &kc, "bench", id, argv[6], p2, &otp,
		    &e) != 1)
			die("M-th approval", &e);
		appr[r] = (now_s() - t0) * 1000;
		if (kra_recovery_fetch(st, "bench", id, otp, &p12, &e) != 0)
			die("fetch", &e);
		gnutls_free(p12.data);
		kra_otp_free(otp);
		t0 = now_s();
		if (crypto_pwhash(dk, sizeof(dk), p2, strlen(p2), salt,
		    kc.opslimit, kc.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
			return 1;
		a2[r] = (now_s() - t0) * 1000;
	}
	report("plain", plain, reps);
	report("escrow", esc, reps);
	report("approve", appr, reps);
	report("argon2id", a2, reps);
	cakey_secret_free(p1);
	cakey_secret_free(p2);
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(pkey);
	gnutls_x509_privkey_deinit(key);
	store_close(st);
	free(ci);
	ca_free(ca);
	config_free(cfg);
	return 0;
}
