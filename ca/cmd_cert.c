/*
 * signet issue, list, show, export.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "batch.h"
#include "ca.h"
#include "cacert.h"
#include "cakey.h"
#include "cert.h"
#include "cli.h"
#include "csr.h"
#include "keys.h"
#include "p12.h"
#include "p7.h"
#include "par.h"

struct issue_opts {
	const char		*csr, *email, *name, *out;
	const char		*key_type, *p12, *p12_pass_file;
	enum cert_profile	 profile;
	enum p12_format		 p12_fmt;
	unsigned		 days;
	int			 generate;
};

static int
write_pem(const char *path, const gnutls_datum_t *der, int sync,
    struct err *e)
{
	gnutls_datum_t	pem = { NULL, 0 };
	int		rc;

	if (gnutls_pem_base64_encode2("CERTIFICATE", der, &pem) < 0)
		return err_set(e, "PEM encoding failed");
	rc = sync ? cli_write_file(path, pem.data, pem.size, 0644, e) :
	    cli_write_file_nosync(path, pem.data, pem.size, 0644, e);
	gnutls_free(pem.data);
	return rc;
}

/* The mailbox's domain must be one this CA certifies (config). */
static int
domain_allowed(const char *email, const char *list)
{
	const char	*at = strrchr(email, '@'), *p = list, *q;
	size_t		 n;

	if (at == NULL)
		return 0;
	at++;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		for (q = p; *q != '\0' && *q != ',' && *q != ' '; q++)
			;
		n = (size_t)(q - p);
		if (n > 0 && strlen(at) == n && strncasecmp(at, p, n) == 0)
			return 1;
		p = q;
	}
	return 0;
}

static int
issue_from_csr(struct cli *c, struct ca *ca, const struct issue_opts *o,
    const struct ca_subject *subj)
{
	struct ca_issued	 out;
	struct csr		*csr = NULL;
	struct err		 e;
	uint8_t			*buf = NULL;
	size_t			 len;
	int			 rc = 1;

	/* read at most one byte past the limit so "too large" is exact */
	if (cli_read_file(o->csr, CSR_MAX_SIZE, &buf, &len, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if ((csr = csr_parse(buf, len, &e)) == NULL) {
		cli_fail("%s: %s", o->csr, e.msg);
		goto out;
	}
	if (ca_issue(ca, c->st, subj, csr_pubkey(csr), csr_key_info(csr),
	    c->actor, 0, &out, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if (write_pem(o->out, &out.der, 1, &e) != 0)
		cli_fail("%s (certificate %s was issued)", e.msg, out.serial_hex);
	else {
		rc = 0;
		printf("issued %s for %s (%s, %s)\n", out.serial_hex, o->email,
		    cert_profile_name(o->profile), csr_key_info(csr)->name);
	}
	ca_issued_free(&out);
out:
	csr_free(csr);
	free(buf);
	return rc;
}

static int
issue_generated(struct cli *c, struct ca *ca, const struct issue_opts *o,
    const struct ca_subject *subj)
{
	gnutls_x509_privkey_t	 xkey = NULL;
	gnutls_privkey_t	 pkey = NULL;
	gnutls_pubkey_t		 pub = NULL;
	struct key_info		 ki;
	struct ca_issued	 out;
	gnutls_datum_t		 chain[2], p12 = { NULL, 0 };
	struct err		 e;
	char			*pass = NULL;
	int			 rc = 1;

	memset(&out, 0, sizeof(out));
	/* read the password first: no key is made for nothing */
	if (cakey_read_secret(o->p12_pass_file, NULL, &pass, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if (keys_generate(o->key_type, &xkey, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if (gnutls_privkey_init(&pkey) < 0 ||
	    gnutls_privkey_import_x509(pkey, xkey, 0) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_privkey(pub, pkey, 0, 0) < 0) {
		cli_fail("cannot read the new key's public half");
		goto out;
	}
	if (keys_check(pub, &ki, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	/* the PKCS#12 is written before the commit: a certificate whose key
	 * never reached anyone is never left behind */
	if (store_begin(c->st, &e) != 0 ||
	    ca_issue_tx(ca, c->st, subj, pub, &ki, c->actor, 0, &out, &e) != 0) {
		store_rollback(c->st);
		cli_fail("%s", e.msg);
		goto out;
	}
	chain[0] = out.der;
	chain[1] = ca->crt_der;
	if (p12_build(xkey, chain, 2, pass, o->p12_fmt, o->email, &p12,
	    &e) != 0 ||
	    cli_write_file(o->p12, p12.data, p12.size, 0600, &e) != 0 ||
	    (o->out != NULL && write_pem(o->out, &out.der, 1, &e) != 0)) {
		store_rollback(c->st);
		unlink(o->p12);
		cli_fail("%s; nothing was issued", e.msg);
		goto out;
	}
	if (store_commit(c->st, &e) != 0) {
		unlink(o->p12);
		cli_fail("%s; nothing was issued", e.msg);
		goto out;
	}
	printf("issued %s for %s (%s, %s); key and certificate in %s\n",
	    out.serial_hex, o->email, cert_profile_name(o->profile), ki.name,
	    o->p12);
	rc = 0;
out:
	if (p12.data != NULL) {
		gnutls_memset(p12.data, 0, p12.size);
		gnutls_free(p12.data);
	}
	ca_issued_free(&out);
	cakey_secret_free(pass);
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(pkey);	/* does not own xkey */
	gnutls_x509_privkey_deinit(xkey);
	return rc;
}

/*
 * signet issue --batch LIST --out-dir DIR [--days N] [--resume]
 *
 * LIST's lines are CSR-FILE MAILBOX PROFILE [NAME] (batch.h). A relative
 * CSR-FILE is found from LIST's directory; each certificate goes to
 * DIR/<CSR-FILE's name less its extension>.pem.
 *
 * Every line is checked first -- the CSR read and verified in full, the
 * mailbox, its domain, the profile, the name, the output file neither
 * there already nor named twice -- and any fault is reported with its
 * line; then nothing is issued. Issuing goes CA_SET_MAX certificates at
 * a time (ca_issue_sets): signed, stored with their audit records and
 * publish jobs in one transaction, committed, and only then written out.
 * A failure stops at the set it happened in; the sets before it are
 * issued and written.
 *
 * --resume runs a list again after a failure or a crash. A line whose
 * output file holds a valid certificate of this CA for the line's key,
 * mailbox and profile is skipped; a line whose file is missing but whose
 * certificate was committed (a crash between the commit and the files)
 * has that certificate written again rather than a second one issued;
 * any other file already there is a fault. Two lines with the same key,
 * mailbox and profile are a fault in either mode, so that each line has
 * at most one certificate to find.
 */
#define BATCH_ERRORS_SHOWN	20

enum batch_act {
	BATCH_ISSUE,		/* a new certificate */
	BATCH_DONE,		/* --resume: issued and written before */
	BATCH_REWRITE		/* --resume: issued before, file missing */
};

struct batch_item {
	unsigned		 line;
	char			*csr_path, *email, *name, *out;
	enum cert_profile	 profile;
	struct csr		*csr;
	uint8_t			 spki[32];	/* when csr != NULL */
	enum batch_act		 act;
	char			 serial[41];	/* DONE, REWRITE: which */
	gnutls_datum_t		 old;		/* REWRITE: its DER */
	char			*csr_fault;	/* batch_csr's, malloc'd */
};

struct batch_fault {
	unsigned	 line;
	size_t		 seq;
	char		*msg;
};

struct batch {
	const char		*list;
	struct batch_item	*items;
	size_t			 n;
	struct batch_fault	*faults;	/* shown by line at the end */
	size_t			 nfaults;
	int			 oom;
	struct store		*st;		/* --resume: where to look */
};

static void
batch_error(struct batch *b, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
batch_error(struct batch *b, unsigned line, const char *fmt, ...)
{
	struct batch_fault	*t;
	va_list			 ap;
	int			 r;

	if (b->nfaults % 256 == 0) {
		if ((t = reallocarray(b->faults, b->nfaults + 256,
		    sizeof(*t))) == NULL) {
			b->oom = 1;
			return;
		}
		b->faults = t;
	}
	t = &b->faults[b->nfaults];
	va_start(ap, fmt);
	r = vasprintf(&t->msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		b->oom = 1;
		return;
	}
	t->line = line;
	t->seq = b->nfaults++;
}

static int
fault_cmp(const void *a, const void *b)
{
	const struct batch_fault	*x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Prints the faults in line order, the first BATCH_ERRORS_SHOWN. */
static void
batch_faults_print(struct batch *b)
{
	size_t	i;

	qsort(b->faults, b->nfaults, sizeof(*b->faults), fault_cmp);
	for (i = 0; i < b->nfaults && i < BATCH_ERRORS_SHOWN; i++)
		fprintf(stderr, "signet: %s line %u: %s\n", b->list,
		    b->faults[i].line, b->faults[i].msg);
	if (b->nfaults > BATCH_ERRORS_SHOWN)
		fprintf(stderr, "signet: %s: %zu more faults not shown\n",
		    b->list, b->nfaults - BATCH_ERRORS_SHOWN);
}

static void
batch_free(struct batch *b)
{
	size_t	i;

	for (i = 0; i < b->n; i++) {
		free(b->items[i].csr_path);
		free(b->items[i].email);
		free(b->items[i].name);
		free(b->items[i].out);
		csr_free(b->items[i].csr);
		free(b->items[i].old.data);
		free(b->items[i].csr_fault);
	}
	free(b->items);
	b->items = NULL;
	b->n = 0;
	for (i = 0; i < b->nfaults; i++)
		free(b->faults[i].msg);
	free(b->faults);
	b->faults = NULL;
	b->nfaults = 0;
}

static int
out_cmp(const void *a, const void *b)
{
	const struct batch_item	*x = *(struct batch_item *const *)a;
	const struct batch_item	*y = *(struct batch_item *const *)b;
	int			 r = strcmp(x->out, y->out);

	return r != 0 ? r : (x->line > y->line) - (x->line < y->line);
}

static int
key_cmp(const void *a, const void *b)
{
	const struct batch_item	*x = *(struct batch_item *const *)a;
	const struct batch_item	*y = *(struct batch_item *const *)b;
	int			 r;

	if ((x->csr == NULL) != (y->csr == NULL))
		return x->csr == NULL ? -1 : 1;
	if (x->csr != NULL && (r = memcmp(x->spki, y->spki, 32)) != 0)
		return r;
	if ((r = strcasecmp(x->email, y->email)) != 0)
		return r;
	if (x->profile != y->profile)
		return x->profile < y->profile ? -1 : 1;
	return (x->line > y->line) - (x->line < y->line);
}

/* Reads LIST into b->items, checking each line's text; 0 or -1 (printed). */
static int
batch_read(struct cli *c, struct batch *b, const char *out_dir)
{
	uint8_t		*buf = NULL;
	char		*p, *eol, *dir = NULL, *slash;
	size_t		 len;
	unsigned	 line = 0;
	struct err	 e;
	const char	*why;
	int		 r, rc = -1;

	if (cli_read_file(b->list, BATCH_LIST_MAX, &buf, &len, &e) != 0)
		return cli_fail("%s", e.msg), -1;
	if (memchr(buf, '\0', len) != NULL) {
		cli_fail("%s: a NUL byte: not a text file", b->list);
		goto out;
	}
	if ((dir = strdup(b->list)) == NULL)
		goto oom;
	if ((slash = strrchr(dir, '/')) != NULL)
		slash[1] = '\0';
	else
		dir[0] = '\0';
	for (p = (char *)buf; p < (char *)buf + len; p = eol + 1) {
		struct batch_item	*it;
		struct batch_fields	 f;

		if ((eol = memchr(p, '\n', (size_t)((char *)buf + len - p))) ==
		    NULL)
			eol = (char *)buf + len;
		*eol = '\0';
		line++;
		if ((r = batch_line_split(p, &f, &why)) < 0)
			batch_error(b, line, "%s", why);
		if (r <= 0)
			continue;
		if (b->n == BATCH_LINES_MAX) {
			cli_fail("%s: more than %d certificates; split the "
			    "list", b->list, BATCH_LINES_MAX);
			goto out;
		}
		if (b->n % 1024 == 0) {
			void *t = reallocarray(b->items, b->n + 1024,
			    sizeof(*b->items));
			if (t == NULL)
				goto oom;
			b->items = t;
		}
		it = &b->items[b->n++];
		memset(it, 0, sizeof(*it));
		it->line = line;
		if (cert_profile_parse(f.profile, &it->profile, &e) != 0)
			batch_error(b, line, "%s", e.msg);
		if (cert_email_check(f.email, &e) != 0)
			batch_error(b, line, "%s", e.msg);
		else if (!domain_allowed(f.email, c->cfg->allowed_domains))
			batch_error(b, line, "%s: this CA certifies mailboxes "
			    "in %s only ([profile] allowed_domains)", f.email,
			    c->cfg->allowed_domains);
		if (f.name != NULL && (why = batch_name_problem(f.name)) !=
		    NULL)
			batch_error(b, line, "name: %s", why);
		if (asprintf(&it->csr_path, "%s%s", f.csr[0] == '/' ? "" : dir,
		    f.csr) < 0) {
			it->csr_path = NULL;
			goto oom;
		}
		if ((it->email = strdup(f.email)) == NULL ||
		    (f.name != NULL && (it->name = strdup(f.name)) == NULL) ||
		    (it->out = batch_out_path(out_dir, f.csr)) == NULL)
			goto oom;
	}
	rc = 0;
	goto out;
oom:
	cli_fail("out of memory");
out:
	free(dir);
	free(buf);
	return rc;
}

/*
 * --resume: the lines looked up BATCH_RESUME_CHUNK at a time, each chunk
 * in one query (store_cert_find_keys), with their output files' DER.
 */
#define BATCH_RESUME_CHUNK	1000

struct batch_resume {
	struct batch_item	**its;
	const char		**emails, **profiles;
	uint8_t			(*spkis)[32];
	gnutls_datum_t		 *file;		/* .data NULL: no file */
	unsigned char		 *found;
	int			  oom;
};

static int
batch_find_each(void *arg, size_t k, const struct cert_row *r)
{
	struct batch_resume	*x = arg;
	struct batch_item	*it = x->its[k];

	if (x->found[k])
		return 0;
	if (x->file[k].data != NULL) {
		/* the file must be one of them, byte for byte */
		if (r->der_len != x->file[k].size ||
		    memcmp(r->der, x->file[k].data, r->der_len) != 0)
			return 0;
	} else {
		/* no file: the newest one is written again */
		if ((it->old.data = malloc(r->der_len)) == NULL) {
			x->oom = 1;
			return 0;
		}
		memcpy(it->old.data, r->der, r->der_len);
		it->old.size = (unsigned)r->der_len;
	}
	snprintf(it->serial, sizeof(it->serial), "%s", r->serial);
	x->found[k] = 1;
	return 0;
}

/* The certificate in a line's output file, if the file is there (der
 * left empty if not); -1 with a fault when it holds none. */
static int
batch_out_read(struct batch *b, struct batch_item *it, gnutls_datum_t *der)
{
	gnutls_datum_t	 raw;
	struct stat	 sb;
	struct err	 e;
	uint8_t		*buf;
	size_t		 len;
	int		 r = -1;

	der->data = NULL;
	der->size = 0;
	if (lstat(it->out, &sb) != 0)
		return 0;
	if (S_ISREG(sb.st_mode) && cli_read_file(it->out, 65536, &buf, &len,
	    &e) == 0) {
		raw.data = buf;
		raw.size = (unsigned)len;
		if (gnutls_pem_base64_decode2("CERTIFICATE", &raw, der) == 0 &&
		    der->size > 0)
			r = 0;
		free(buf);
	}
	if (r != 0)
		batch_error(b, it->line, "%s is there already and holds no "
		    "certificate", it->out);
	return r;
}

/* --resume: what an earlier run did for each line (it->act), or a
 * fault; 0, or -1 (printed) when the database cannot be asked. */
static int
batch_resume(struct batch *b)
{
	struct batch_resume	 x;
	struct err		 e;
	size_t			 i = 0, k, m;
	int			 rc = -1;

	memset(&x, 0, sizeof(x));
	if ((x.its = calloc(BATCH_RESUME_CHUNK, sizeof(*x.its))) == NULL ||
	    (x.emails = calloc(BATCH_RESUME_CHUNK, sizeof(*x.emails))) ==
	    NULL || (x.profiles = calloc(BATCH_RESUME_CHUNK,
	    sizeof(*x.profiles))) == NULL || (x.spkis =
	    calloc(BATCH_RESUME_CHUNK, sizeof(*x.spkis))) == NULL ||
	    (x.file = calloc(BATCH_RESUME_CHUNK, sizeof(*x.file))) == NULL ||
	    (x.found = calloc(BATCH_RESUME_CHUNK, 1)) == NULL) {
		cli_fail("out of memory; nothing was issued");
		goto out;
	}
	while (i < b->n) {
		for (m = 0; i < b->n && m < BATCH_RESUME_CHUNK; i++) {
			struct batch_item *it = &b->items[i];

			if (it->csr == NULL ||
			    batch_out_read(b, it, &x.file[m]) != 0)
				continue;
			x.its[m] = it;
			x.emails[m] = it->email;
			x.profiles[m] = cert_profile_name(it->profile);
			memcpy(x.spkis[m], it->spki, 32);
			x.found[m] = 0;
			m++;
		}
		if (store_cert_find_keys(b->st, m, x.emails, x.profiles,
		    (const uint8_t (*)[32])x.spkis, batch_find_each, &x,
		    &e) != 0) {
			cli_fail("%s; nothing was issued", e.msg);
			goto out;
		}
		for (k = 0; k < m; k++) {
			struct batch_item *it = x.its[k];

			if (x.file[k].data != NULL && !x.found[k])
				batch_error(b, it->line, "%s is there already, "
				    "and is not a valid certificate of this CA "
				    "for this line's key, mailbox and profile",
				    it->out);
			else if (x.found[k])
				it->act = x.file[k].data != NULL ? BATCH_DONE :
				    BATCH_REWRITE;
			gnutls_free(x.file[k].data);
			x.file[k].data = NULL;
		}
		if (x.oom) {
			cli_fail("out of memory; nothing was issued");
			goto out;
		}
	}
	rc = 0;
out:
	free(x.its);
	free(x.emails);
	free(x.profiles);
	free(x.spkis);
	free(x.file);
	free(x.found);
	return rc;
}

/* One line's CSR read, verified and its key hashed (par_each, on any
 * thread): it->csr, or it->csr_fault saying why not. */
static void
batch_csr(void *arg, size_t i)
{
	struct batch_item	*it = &((struct batch *)arg)->items[i];
	struct err		 e;
	uint8_t			*buf;
	size_t			 len;
	int			 r = 0;

	if (cli_read_file(it->csr_path, CSR_MAX_SIZE, &buf, &len, &e) != 0)
		r = asprintf(&it->csr_fault, "%s", e.msg);
	else {
		if ((it->csr = csr_parse(buf, len, &e)) == NULL ||
		    keys_spki_sha256(csr_pubkey(it->csr), it->spki, &e) != 0) {
			r = asprintf(&it->csr_fault, "%s: %s", it->csr_path,
			    e.msg);
			csr_free(it->csr);
			it->csr = NULL;
		}
		free(buf);
	}
	if (r < 0)
		it->csr_fault = NULL;	/* batch_check sees neither */
}

/*
 * Each CSR read and verified (on every core), each output new (or, with
 * --resume, an earlier run's) and named once, each key, mailbox and
 * profile once; 0 or -1.
 */
static int
batch_check(struct batch *b)
{
	struct batch_item	**by;
	struct stat		  sb;
	size_t			  i;

	par_each(b->n, batch_csr, b);
	for (i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];

		if (b->st == NULL && lstat(it->out, &sb) == 0)
			batch_error(b, it->line, "%s is there already "
			    "(--resume skips what an earlier run issued)",
			    it->out);
		if (it->csr_fault != NULL)
			batch_error(b, it->line, "%s", it->csr_fault);
		else if (it->csr == NULL)
			b->oom = 1;
	}
	if (b->st != NULL && batch_resume(b) != 0)
		return -1;
	if ((by = calloc(b->n ? b->n : 1, sizeof(*by))) == NULL)
		return cli_fail("out of memory"), -1;
	for (i = 0; i < b->n; i++)
		by[i] = &b->items[i];
	qsort(by, b->n, sizeof(*by), out_cmp);
	for (i = 1; i < b->n; i++)
		if (strcmp(by[i]->out, by[i - 1]->out) == 0)
			batch_error(b, by[i]->line, "%s is written by line "
			    "%u too: the CSR files need different names",
			    by[i]->out, by[i - 1]->line);
	qsort(by, b->n, sizeof(*by), key_cmp);
	for (i = 1; i < b->n; i++)
		if (by[i]->csr != NULL && by[i - 1]->csr != NULL &&
		    memcmp(by[i]->spki, by[i - 1]->spki, 32) == 0 &&
		    strcasecmp(by[i]->email, by[i - 1]->email) == 0 &&
		    by[i]->profile == by[i - 1]->profile)
			batch_error(b, by[i]->line, "the same key, mailbox and "
			    "profile as line %u; one certificate each",
			    by[i - 1]->line);
	free(by);
	return 0;
}

/* ca_issue_sets' report of a committed set: its files, its lines. */
struct batch_out {
	struct batch	*b;
	struct ca_job	*jobs;	/* jobs[i] is b->items[idx[i]]'s */
	size_t		*idx;
};

static int
batch_written(void *arg, struct ca_job *first, size_t m, struct err *e)
{
	struct batch_out	*o = arg;
	size_t			 k, i = (size_t)(first - o->jobs);

	/* committed: the certificates exist whatever happens to the files
	 * (signet export, or --resume, writes them again) */
	for (k = 0; k < m; k++) {
		struct batch_item	*it = &o->b->items[o->idx[i + k]];
		struct ca_job		*j = &first[k];

		if (write_pem(it->out, &j->out.der, 0, e) != 0)
			return err_wrap(e, "certificate %s was issued, but",
			    j->out.serial_hex);
		printf("issued %s for %s (%s, %s) to %s\n", j->out.serial_hex,
		    it->email, cert_profile_name(it->profile), j->ki->name,
		    it->out);
		ca_job_free(j);
	}
	return 0;
}

/* --resume: the certificates committed before a crash, their files again. */
static int
batch_rewrite(struct batch *b, size_t *rewritten)
{
	struct err	e;
	size_t		i;

	*rewritten = 0;
	for (i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];

		if (it->act != BATCH_REWRITE)
			continue;
		if (write_pem(it->out, &it->old, 0, &e) != 0)
			return cli_fail("line %u: %s; nothing was issued",
			    it->line, e.msg), -1;
		printf("written again %s for %s (%s) to %s\n", it->serial,
		    it->email, cert_profile_name(it->profile), it->out);
		(*rewritten)++;
	}
	return 0;
}

static int
issue_batch(struct cli *c, const char *list, const char *out_dir,
    unsigned days, int resume)
{
	struct batch		 b;
	struct batch_out	 bo;
	struct ca_lane		 lanes[2];
	struct ca_job		*jobs = NULL;
	size_t			*idx = NULL;
	struct stat		 sb;
	struct err		 e;
	char			*ci = NULL;
	size_t			 i, n = 0, done = 0, skipped = 0, rewritten = 0;
	int			 rc = 1, fd;

	memset(&b, 0, sizeof(b));
	memset(lanes, 0, sizeof(lanes));
	b.list = list;
	if (stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return cli_fail("--out-dir %s: not a directory", out_dir);
	if (resume) {
		if (cli_store(c) != 0)
			return 1;
		b.st = c->st;
	}
	if (batch_read(c, &b, out_dir) != 0 || batch_check(&b) != 0)
		goto out;
	if (b.oom) {
		cli_fail("out of memory; nothing was issued");
		goto out;
	}
	if (b.nfaults > 0) {
		batch_faults_print(&b);
		cli_fail("%s: %zu fault%s; nothing was issued", list,
		    b.nfaults, b.nfaults == 1 ? "" : "s");
		goto out;
	}
	if (b.n == 0) {
		cli_fail("%s: no certificates listed", list);
		goto out;
	}
	if ((jobs = calloc(b.n, sizeof(*jobs))) == NULL ||
	    (idx = calloc(b.n, sizeof(*idx))) == NULL) {
		cli_fail("out of memory; nothing was issued");
		goto out;
	}
	for (i = 0; i < b.n; i++) {
		if (b.items[i].act != BATCH_ISSUE) {
			skipped++;
			continue;
		}
		idx[n] = i;
		jobs[n].subj.email = b.items[i].email;
		jobs[n].subj.display_name = b.items[i].name;
		jobs[n].subj.profile = b.items[i].profile;
		jobs[n].subj.days = days;
		jobs[n].pub = csr_pubkey(b.items[i].csr);
		jobs[n].ki = csr_key_info(b.items[i].csr);
		jobs[n].actor = c->actor;
		n++;
	}
	if (batch_rewrite(&b, &rewritten) != 0)
		goto out;
	if (n > 0) {
		/* two lanes when there is more than one set: one signs while
		 * the other's set is committed */
		if (cli_store(c) != 0)
			goto out;
		lanes[0].st = c->st;
		if ((lanes[0].ca = ca_open(c->cfg, &e)) == NULL ||
		    (n > CA_SET_MAX &&
		    ((lanes[1].ca = ca_dup(lanes[0].ca, &e)) == NULL ||
		    (ci = config_conninfo(c->cfg)) == NULL ||
		    (lanes[1].st = store_open(ci, &e)) == NULL))) {
			cli_fail("%s; nothing was issued", ci == NULL &&
			    lanes[1].ca != NULL ? "out of memory" : e.msg);
			goto out;
		}
		bo.b = &b;
		bo.jobs = jobs;
		bo.idx = idx;
		if (ca_issue_sets(lanes, jobs, n, batch_written, &bo, &done,
		    &e) != 0) {
			if (done < n)
				cli_fail("%s; nothing from line %u on was "
				    "issued (%zu certificate%s before it %s)",
				    e.msg, b.items[idx[done]].line, done,
				    done == 1 ? "" : "s",
				    done == 1 ? "was" : "were");
			else
				cli_fail("%s", e.msg);
			goto out;
		}
	}
	/* the files on disk in one go, rather than a flush each */
	if ((fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    syncfs(fd) != 0 || fsync(fd) != 0) {
		cli_fail("--out-dir %s: %s (%zu certificate%s issued)",
		    out_dir, strerror(errno), done, done == 1 ? "" : "s");
		if (fd != -1)
			close(fd);
		goto out;
	}
	close(fd);
	fprintf(stderr, "%zu certificate%s issued", done, done == 1 ? "" : "s");
	if (resume)
		fprintf(stderr, "; %zu issued by an earlier run (%zu of them "
		    "written again)", skipped, rewritten);
	fprintf(stderr, "\n");
	rc = 0;
out:
	if (jobs != NULL)
		for (i = 0; i < n; i++)
			ca_job_free(&jobs[i]);
	free(jobs);
	free(idx);
	store_close(lanes[1].st);
	ca_free(lanes[1].ca);
	ca_free(lanes[0].ca);
	free(ci);
	batch_free(&b);
	return rc;
}

int
cmd_issue(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "csr",		required_argument, NULL, 'c' },
		{ "email",		required_argument, NULL, 'm' },
		{ "profile",		required_argument, NULL, 'p' },
		{ "name",		required_argument, NULL, 'n' },
		{ "days",		required_argument, NULL, 'd' },
		{ "out",		required_argument, NULL, 'o' },
		{ "generate",		no_argument,	   NULL, 'g' },
		{ "key-type",		required_argument, NULL, 'k' },
		{ "p12",		required_argument, NULL, 'P' },
		{ "p12-password-file",	required_argument, NULL, 'w' },
		{ "p12-format",		required_argument, NULL, 'f' },
		{ "batch",		required_argument, NULL, 'b' },
		{ "out-dir",		required_argument, NULL, 'D' },
		{ "resume",		no_argument,	   NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	const char *usage = "issue --email ADDR --profile signing|encryption|dual"
	    " [--name NAME] [--days N]\n"
	    "         (--csr FILE --out CERT.pem | --generate [--key-type "
	    "rsa-3072|ecdsa-p256] --p12 FILE --p12-password-file F\n"
	    "          [--p12-format modern|compatible] [--out CERT.pem])\n"
	    "       signet [--home DIR] issue --batch LIST --out-dir DIR "
	    "[--days N] [--resume]";
	struct issue_opts	 o;
	struct ca_subject	 subj;
	struct ca		*ca = NULL;
	struct err		 e;
	const char		*why;
	const char		*profile = NULL, *fmt = "modern";
	const char		*batch = NULL, *out_dir = NULL;
	char			*end;
	int			 opt, rc = 1, resume = 0;

	memset(&o, 0, sizeof(o));
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (opt) {
		case 'c': o.csr = optarg; break;
		case 'm': o.email = optarg; break;
		case 'p': profile = optarg; break;
		case 'n': o.name = optarg; break;
		case 'o': o.out = optarg; break;
		case 'g': o.generate = 1; break;
		case 'k': o.key_type = optarg; break;
		case 'P': o.p12 = optarg; break;
		case 'w': o.p12_pass_file = optarg; break;
		case 'f': fmt = optarg; break;
		case 'b': batch = optarg; break;
		case 'D': out_dir = optarg; break;
		case 'r': resume = 1; break;
		case 'd':
			errno = 0;
			o.days = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || *optarg < '1' || *optarg > '9')
				return cli_fail("--days %s: a number of days "
				    "is needed", optarg);
			break;
		default: return cli_usage(usage);
		}
	if (optind != argc)
		return cli_usage(usage);
	if (resume && batch == NULL)
		return cli_fail("--resume goes with --batch LIST");
	if (batch != NULL || out_dir != NULL) {
		if (batch == NULL || out_dir == NULL)
			return cli_fail("--batch LIST and --out-dir DIR go "
			    "together");
		if (o.csr != NULL || o.email != NULL || profile != NULL ||
		    o.name != NULL || o.out != NULL || o.generate ||
		    o.key_type != NULL || o.p12 != NULL ||
		    o.p12_pass_file != NULL)
			return cli_fail("--batch takes each certificate's CSR, "
			    "mailbox, profile and name from LIST; of the "
			    "other options only --days");
		if (cli_config(c) != 0)
			return 1;
		if (o.days > c->cfg->max_days)
			return cli_fail("--days %u: this CA allows at most %u "
			    "days ([profile] max_days)", o.days,
			    c->cfg->max_days);
		return issue_batch(c, batch, out_dir, o.days, resume);
	}
	if (o.email == NULL || profile == NULL)
		return cli_usage(usage);
	if (o.generate == (o.csr != NULL))
		return cli_fail("give either --csr FILE or --generate");
	if (!o.generate && o.out == NULL)
		return cli_fail("--out CERT.pem is required with --csr");
	if (o.generate && (o.p12 == NULL || o.p12_pass_file == NULL))
		return cli_fail("--generate needs --p12 FILE and "
		    "--p12-password-file F");
	if (cert_profile_parse(profile, &o.profile, &e) != 0 ||
	    cert_email_check(o.email, &e) != 0 ||
	    p12_format_parse(fmt, &o.p12_fmt, &e) != 0)
		return cli_fail("%s", e.msg);
	if (o.name != NULL && (why = batch_name_problem(o.name)) != NULL)
		return cli_fail("--name: %s", why);
	if (cli_config(c) != 0)
		return 1;
	if (o.key_type == NULL)
		o.key_type = c->cfg->server_key_type;
	if (o.generate && strcmp(o.key_type, "rsa-3072") &&
	    strcmp(o.key_type, "rsa-4096") && strcmp(o.key_type, "ecdsa-p256") &&
	    strcmp(o.key_type, "ecdsa-p384"))
		return cli_fail("--key-type %s: choose rsa-3072, rsa-4096, "
		    "ecdsa-p256 or ecdsa-p384", o.key_type);
	if (!domain_allowed(o.email, c->cfg->allowed_domains))
		return cli_fail("%s: this CA certifies mailboxes in %s only "
		    "([profile] allowed_domains)", o.email,
		    c->cfg->allowed_domains);
	if (o.days > c->cfg->max_days)
		return cli_fail("--days %u: this CA allows at most %u days "
		    "([profile] max_days)", o.days, c->cfg->max_days);
	if (cli_store(c) != 0)
		return 1;
	if ((ca = ca_open(c->cfg, &e)) == NULL)
		return cli_fail("%s", e.msg);

	memset(&subj, 0, sizeof(subj));
	subj.email = o.email;
	subj.display_name = o.name;
	subj.profile = o.profile;
	subj.days = o.days;
	rc = o.generate ? issue_generated(c, ca, &o, &subj) :
	    issue_from_csr(c, ca, &o, &subj);
	ca_free(ca);
	return rc;
}

static const char *
reason_name(int r)
{
	/* RFC 5280 5.3.1 */
	static const char *names[] = { "unspecified", "keyCompromise",
	    "cACompromise", "affiliationChanged", "superseded",
	    "cessationOfOperation", "certificateHold", "(7)", "removeFromCRL",
	    "privilegeWithdrawn", "aACompromise" };

	return r >= 0 && r <= 10 ? names[r] : "?";
}

static const char *
status_of(const struct cert_row *r, char *buf, size_t len)
{
	if (r->revoked_at != 0)
		snprintf(buf, len, "revoked (%s)", reason_name(r->reason));
	else if (r->not_after < time(NULL))
		snprintf(buf, len, "expired");
	else
		snprintf(buf, len, "valid");
	return buf;
}

static void
fmt_time(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static int
print_row(void *arg, const struct cert_row *r)
{
	char	st[48], na[32];
	int	*n = arg;

	fmt_time(r->not_after, na, sizeof(na));
	printf("%-32s  %-10s  %-10s  %-10s  %.10s  %s\n", r->serial,
	    r->profile, r->key_type, status_of(r, st, sizeof(st)), na,
	    r->email);
	(*n)++;
	return 0;
}

int
cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "email", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*email = NULL;
	struct err	 e;
	int		 o, n = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (o == 'm')
			email = optarg;
		else
			return cli_usage("list [--email ADDR]");
	if (optind != argc)
		return cli_usage("list [--email ADDR]");
	if (cli_store(c) != 0)
		return 1;
	printf("%-32s  %-10s  %-10s  %-10s  %-10s  %s\n", "SERIAL", "PROFILE",
	    "KEY", "STATUS", "EXPIRES", "MAILBOX");
	if (store_cert_list(c->st, email, print_row, &n, &e) != 0)
		return cli_fail("%s", e.msg);
	fprintf(stderr, "%d certificate%s\n", n, n == 1 ? "" : "s");
	return 0;
}

static int
show_row(void *arg, const struct cert_row *r)
{
	gnutls_datum_t	der = { (unsigned char *)r->der, (unsigned)r->der_len };
	char		buf[200], st[48];
	struct err	e;
	int		*n = arg;

	if ((*n)++ > 0)
		printf("\n");
	printf("serial:       %s\n", r->serial);
	printf("mailbox:      %s\n", r->email);
	if (r->display_name != NULL)
		printf("name:         %s\n", r->display_name);
	printf("profile:      %s\n", r->profile);
	printf("key:          %s\n", r->key_type);
	printf("status:       %s\n", status_of(r, st, sizeof(st)));
	fmt_time(r->not_before, buf, sizeof(buf));
	printf("not before:   %s\n", buf);
	fmt_time(r->not_after, buf, sizeof(buf));
	printf("not after:    %s\n", buf);
	fmt_time(r->issued_at, buf, sizeof(buf));
	printf("issued:       %s by %s\n", buf, r->issued_by);
	if (r->revoked_at != 0) {
		fmt_time(r->revoked_at, buf, sizeof(buf));
		printf("revoked:      %s\n", buf);
	}
	if (cacert_fingerprint(&der, GNUTLS_DIG_SHA256, buf, sizeof(buf),
	    &e) == 0)
		printf("sha256:       %s\n", buf);
	return 0;
}

static int
lower_serial(const char *in, char *out, size_t len)
{
	size_t	i, n = strlen(in);

	if (n < 2 || n > 40 || n + 1 > len)
		return -1;
	for (i = 0; i < n; i++) {
		char ch = in[i];
		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return -1;
		out[i] = ch;
	}
	out[n] = '\0';
	return 0;
}

int
cmd_show(struct cli *c, int argc, char **argv)
{
	const char	*usage = "show SERIAL | show --email ADDR";
	char		 serial[41];
	struct err	 e;
	int		 n = 0, r;

	if (argc == 3 && strcmp(argv[1], "--email") == 0) {
		if (cli_store(c) != 0)
			return 1;
		if (store_cert_list(c->st, argv[2], show_row, &n, &e) != 0)
			return cli_fail("%s", e.msg);
		if (n == 0)
			return cli_fail("no certificates for %s", argv[2]);
		return 0;
	}
	if (argc != 2)
		return cli_usage(usage);
	if (lower_serial(argv[1], serial, sizeof(serial)) != 0)
		return cli_fail("%s: a serial is 2 to 40 hex digits", argv[1]);
	if (cli_store(c) != 0)
		return 1;
	if ((r = store_cert_get(c->st, serial, show_row, &n, &e)) < 0)
		return cli_fail("%s", e.msg);
	if (r == 1)
		return cli_fail("no certificate with serial %s", serial);
	return 0;
}

struct export {
	gnutls_datum_t	der;
};

static int
grab_der(void *arg, const struct cert_row *r)
{
	struct export	*x = arg;

	if ((x->der.data = gnutls_malloc(r->der_len)) == NULL)
		return 1;	/* x->der.data == NULL says why */
	memcpy(x->der.data, r->der, r->der_len);
	x->der.size = (unsigned)r->der_len;
	return 0;
}

int
cmd_export(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "out",    required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*usage = "export SERIAL [--format pem|der|p7c] "
	    "[--out FILE]";
	const char	*fmt = "pem", *outp = NULL;
	struct export	 x = { { NULL, 0 } };
	gnutls_datum_t	 out = { NULL, 0 }, chain[2], cader = { NULL, 0 };
	char		 serial[41], *capath = NULL;
	struct err	 e;
	int		 o, r, rc = 1;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (o) {
		case 'f': fmt = optarg; break;
		case 'o': outp = optarg; break;
		default: return cli_usage(usage);
		}
	if (optind + 1 != argc)
		return cli_usage(usage);
	if (strcmp(fmt, "pem") && strcmp(fmt, "der") && strcmp(fmt, "p7c"))
		return cli_fail("--format %s: choose pem, der or p7c", fmt);
	if (lower_serial(argv[optind], serial, sizeof(serial)) != 0)
		return cli_fail("%s: a serial is 2 to 40 hex digits",
		    argv[optind]);
	if (cli_store(c) != 0)
		return 1;
	if ((r = store_cert_get(c->st, serial, grab_der, &x, &e)) < 0)
		return cli_fail("%s", e.msg);
	if (r == 1)
		return cli_fail("no certificate with serial %s", serial);
	if (x.der.data == NULL)
		return cli_fail("out of memory");

	if (!strcmp(fmt, "der")) {
		out.data = x.der.data;
		out.size = x.der.size;
		x.der.data = NULL;
	} else if (!strcmp(fmt, "pem")) {
		if (gnutls_pem_base64_encode2("CERTIFICATE", &x.der, &out) < 0) {
			cli_fail("PEM encoding failed");
			goto out;
		}
	} else {
		/* the certificate with its chain, as mail clients import it */
		capath = config_path(c->cfg, c->cfg->ca_cert);
		if (ca_read_cert_file(capath, &cader, &e) != 0) {
			cli_fail("%s", e.msg);
			goto out;
		}
		chain[0] = x.der;
		chain[1] = cader;
		if (p7_certs_only(chain, 2, &out, &e) != 0) {
			cli_fail("%s", e.msg);
			goto out;
		}
	}
	if (outp == NULL) {
		if (fwrite(out.data, 1, out.size, stdout) != out.size ||
		    fflush(stdout) != 0) {
			cli_fail("writing to standard output: %s",
			    strerror(errno));
			goto out;
		}
	} else if (cli_write_file(outp, out.data, out.size, 0644, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	rc = 0;
out:
	gnutls_free(out.data);
	gnutls_free(x.der.data);
	gnutls_free(cader.data);
	free(capath);
	return rc;
}
