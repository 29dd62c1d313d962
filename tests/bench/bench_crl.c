/*
 * bench_crl N OUT: writes a CRL of N revoked certificates (16-octet
 * serials, mixed reasons) under a fresh P-384 CA, twice: with crl_write
 * (the entries generated twice, as from a callback that can rewind) and
 * with crl_writer (generated once, encoded into a scratch file, as signet
 * does from the database), and prints the wall time of each and the
 * process's peak RSS. Target: 1,000,000 entries in <= 3 s and <= 64 MiB.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "crl.h"

struct gen {
	uint64_t	n, i;
	uint8_t		serial[16];
};

static int
gen_rewind(void *arg, struct err *e)
{
	((struct gen *)arg)->i = 0;
	return 0;
}

static int
gen_next(void *arg, struct crl_entry *ent, struct err *e)
{
	static const int	 reasons[] = { -1, 1, 4, 5, 0, 3 };
	struct gen		*g = arg;
	int			 k;

	if (g->i >= g->n)
		return 0;
	g->serial[0] = 0x40;	/* random-looking, top bit clear */
	for (k = 0; k < 8; k++)
		g->serial[8 + k] = g->i >> (8 * (7 - k));
	ent->serial = g->serial;
	ent->serial_len = sizeof(g->serial);
	ent->revoked_at = 1700000000 + (time_t)g->i;
	ent->reason = reasons[g->i % 6];
	g->i++;
	return 1;
}

static int
make_ca(gnutls_x509_crt_t *crt, gnutls_privkey_t *key)
{
	gnutls_x509_privkey_t	xkey;
	gnutls_datum_t		der;
	unsigned char		sn[8] = { 1 }, id[20];
	size_t			idlen = sizeof(id);
	time_t			now = time(NULL);
	gnutls_x509_crt_t	c;

	if (gnutls_x509_privkey_init(&xkey) < 0 ||
	    gnutls_x509_privkey_generate(xkey, GNUTLS_PK_ECDSA, 384, 0) < 0 ||
	    gnutls_x509_crt_init(&c) < 0 ||
	    gnutls_x509_crt_set_version(c, 3) < 0 ||
	    gnutls_x509_crt_set_serial(c, sn, sizeof(sn)) < 0 ||
	    gnutls_x509_crt_set_dn(c, "CN=Signet Bench CA", NULL) < 0 ||
	    gnutls_x509_crt_set_key(c, xkey) < 0 ||
	    gnutls_x509_crt_set_activation_time(c, now) < 0 ||
	    gnutls_x509_crt_set_expiration_time(c, now + 86400) < 0 ||
	    gnutls_x509_crt_set_basic_constraints(c, 1, -1) < 0 ||
	    gnutls_x509_crt_get_key_id(c, 0, id, &idlen) < 0 ||
	    gnutls_x509_crt_set_subject_key_id(c, id, idlen) < 0 ||
	    gnutls_x509_crt_sign2(c, c, xkey, GNUTLS_DIG_SHA384, 0) < 0 ||
	    gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_DER, &der) < 0)
		return -1;
	gnutls_x509_crt_deinit(c);
	if (gnutls_x509_crt_init(crt) < 0 ||
	    gnutls_x509_crt_import(*crt, &der, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_privkey_init(key) < 0 ||
	    gnutls_privkey_import_x509(*key, xkey,
	    GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0)
		return -1;
	gnutls_free(der.data);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct gen		 g = { 0 };
	struct err		 e = { "" };
	struct crl_params	 p;
	struct timespec		 t0, t1;
	struct rusage		 ru;
	gnutls_x509_crt_t	 ca;
	gnutls_privkey_t	 key;
	struct crl_writer	*w;
	struct crl_entry	 ent;
	FILE			*out, *scratch;
	long			 size;
	int			 rc;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_crl N OUT.crl\n");
		return 2;
	}
	g.n = strtoull(argv[1], NULL, 10);
	if (make_ca(&ca, &key) < 0) {
		fprintf(stderr, "bench_crl: making the CA failed\n");
		return 1;
	}
	if ((out = fopen(argv[2], "w+b")) == NULL) {
		perror(argv[2]);
		return 1;
	}
	p = (struct crl_params){ ca, key, 1, time(NULL), time(NULL) + 86400 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (crl_write(&p, gen_next, gen_rewind, &g, out, &e) < 0) {
		fprintf(stderr, "bench_crl: %s\n", e.msg);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	size = ftell(out);
	printf("crl_write  entries=%llu bytes=%ld wall=%.3f s\n",
	    (unsigned long long)g.n, size,
	    (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);

	if ((scratch = tmpfile()) == NULL || fseek(out, 0, SEEK_SET) != 0 ||
	    ftruncate(fileno(out), 0) != 0) {
		perror("bench_crl: scratch");
		return 1;
	}
	setvbuf(scratch, NULL, _IOFBF, 256 * 1024);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	g.i = 0;
	if ((w = crl_writer_new(&p, scratch, out, &e)) == NULL)
		goto fail;
	while ((rc = gen_next(&g, &ent, &e)) == 1)
		if (crl_writer_add(w, &ent, &e) < 0)
			goto fail;
	if (crl_writer_finish(w, &e) < 0)
		goto fail;
	crl_writer_free(w);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	size = ftell(out);
	fclose(scratch);
	fclose(out);
	getrusage(RUSAGE_SELF, &ru);
	printf("crl_writer entries=%llu bytes=%ld wall=%.3f s\n",
	    (unsigned long long)g.n, size,
	    (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("peak_rss=%.1f MiB\n", ru.ru_maxrss / 1024.0);
	gnutls_x509_crt_deinit(ca);
	gnutls_privkey_deinit(key);
	return 0;
fail:
	fprintf(stderr, "bench_crl: %s\n", e.msg);
	return 1;
}
