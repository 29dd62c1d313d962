/*
 * publish: drains the publish queue to the configured targets.
 *
 * A batch is one database transaction: the claimed jobs stay locked
 * (FOR UPDATE SKIP LOCKED) while the targets are written, so a second
 * publisher takes other jobs, and a publisher that dies leaves its jobs
 * queued for the next one. The targets' operations are idempotent (see
 * publish.h), which makes "applied, but the commit was lost" harmless.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ini.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"
#include "p7.h"
#include "pub_ldap.h"
#include "pub_web.h"
#include "publish.h"
#include "store_pub.h"

enum target_kind { T_LDAP, T_WEB };

struct target {
	enum target_kind	 kind;
	struct pub_ldap		*ldap;
	struct pub_web		*web;
	const char		*name;
	int			 down;		/* unreachable in this batch */
	char			 down_msg[512];
};

struct publish {
	const struct config	*cfg;
	struct store		*st;
	struct target		*t;
	size_t			 nt;
	unsigned		 retry_base, retry_max, max_attempts, batch;
	unsigned		 sweep, linger;
	gnutls_datum_t		 ca_der;
	gnutls_x509_crt_t	 ca;
	int			 web_dirty;
	publish_log_fn		 log;
	void			*log_arg;
};

struct parse {
	struct publish	*p;
	char		 why[600];
};

static struct target *
target_get(struct publish *p, enum target_kind kind, const char *name,
    struct err *e)
{
	struct target	*t;
	size_t		 i;

	for (i = 0; i < p->nt; i++)
		if (p->t[i].kind == kind && !strcmp(p->t[i].name + (kind ==
		    T_LDAP ? 5 : 4), name))
			return &p->t[i];
	if ((t = realloc(p->t, (p->nt + 1) * sizeof(*t))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	p->t = t;
	t = &p->t[p->nt];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	if (kind == T_LDAP) {
		if ((t->ldap = pub_ldap_new(name, e)) == NULL)
			return NULL;
		t->name = pub_ldap_name(t->ldap);
	} else {
		if ((t->web = pub_web_new(name, e)) == NULL)
			return NULL;
		t->name = pub_web_name(t->web);
	}
	p->nt++;
	return t;
}

/* ini_parse handler: returns 0 so that ini_parse reports the line. */
static int
conf_line(void *user, const char *sec, const char *key, const char *val)
{
	struct parse	*ps = user;
	struct publish	*p = ps->p;
	struct target	*t;
	struct err	 e;
	int		 rc = 0;

	if (ps->why[0] != '\0')
		return 0;
	e.msg[0] = '\0';
	if (!strcmp(sec, "publish")) {
		if (!strcmp(key, "retry_base"))
			rc = config_uint(val, 1, 86400, &p->retry_base);
		else if (!strcmp(key, "retry_max"))
			rc = config_uint(val, 1, 7 * 86400, &p->retry_max);
		else if (!strcmp(key, "max_attempts"))
			rc = config_uint(val, 0, 1000000, &p->max_attempts);
		else if (!strcmp(key, "batch"))
			rc = config_uint(val, 1, 10000, &p->batch);
		else if (!strcmp(key, "sweep"))
			rc = config_uint(val, 1, 86400, &p->sweep);
		else if (!strcmp(key, "linger"))
			rc = config_uint(val, 0, 10000, &p->linger);
		else
			rc = err_set(&e, "unknown setting");
		if (rc != 0 && e.msg[0] == '\0')
			err_set(&e, "must be a number in range");
	} else if (!strncmp(sec, "publish.ldap.", 13) && sec[13] != '\0') {
		if ((t = target_get(p, T_LDAP, sec + 13, &e)) == NULL)
			rc = -1;
		else
			rc = pub_ldap_set(t->ldap, key, val, &e);
	} else if (!strncmp(sec, "publish.web.", 12) && sec[12] != '\0') {
		if ((t = target_get(p, T_WEB, sec + 12, &e)) == NULL)
			rc = -1;
		else
			rc = pub_web_set(t->web, key, val, &e);
	} else if (!strncmp(sec, "publish.", 8))
		rc = err_set(&e, "unknown publisher type (publish.ldap.NAME "
		    "or publish.web.NAME)");
	if (rc == 0)
		return 1;
	snprintf(ps->why, sizeof(ps->why), "[%s] %s: %s", sec, key, e.msg);
	return 0;
}

struct publish *
publish_new(const struct config *cfg, struct store *st, struct err *e)
{
	struct publish	*p;
	struct parse	 ps;
	uint8_t		*der = NULL;
	size_t		 len, i;
	int		 line, rc;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	p->cfg = cfg;
	p->st = st;
	p->retry_base = 30;
	p->retry_max = 3600;
	p->batch = 64;
	p->sweep = 60;
	p->linger = 50;
	p->web_dirty = 1;	/* the indexes are rebuilt once at start */
	memset(&ps, 0, sizeof(ps));
	ps.p = p;
	if ((line = ini_parse(cfg->path, conf_line, &ps)) != 0) {
		if (line < 0)
			err_set(e, "%s: cannot read", cfg->path);
		else
			err_set(e, "%s line %d: %s", cfg->path, line,
			    ps.why[0] ? ps.why : "syntax error");
		goto fail;
	}
	for (i = 0; i < p->nt; i++) {
		if (p->t[i].kind == T_LDAP)
			rc = pub_ldap_ready(p->t[i].ldap, cfg, e);
		else
			rc = pub_web_ready(p->t[i].web, cfg, e);
		if (rc != 0)
			goto fail;
	}
	if ((rc = store_pub_ca_cert(st, &der, &len, e)) != 0) {
		if (rc == 1)
			err_set(e, "no CA certificate is installed");
		goto fail;
	}
	p->ca_der.data = gnutls_malloc(len);
	if (p->ca_der.data == NULL) {
		err_set(e, "out of memory");
		goto fail;
	}
	memcpy(p->ca_der.data, der, len);
	p->ca_der.size = (unsigned)len;
	if (gnutls_x509_crt_init(&p->ca) < 0 ||
	    gnutls_x509_crt_import(p->ca, &p->ca_der, GNUTLS_X509_FMT_DER) <
	    0) {
		err_set(e, "the CA certificate in the database does not parse");
		goto fail;
	}
	free(der);
	return p;
fail:
	free(der);
	publish_free(p);
	return NULL;
}

void
publish_free(struct publish *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nt; i++) {
		pub_ldap_free(p->t[i].ldap);
		pub_web_free(p->t[i].web);
	}
	free(p->t);
	gnutls_free(p->ca_der.data);
	if (p->ca != NULL)
		gnutls_x509_crt_deinit(p->ca);
	free(p);
}

size_t
publish_targets(const struct publish *p)
{
	return p->nt;
}

void
publish_set_log(struct publish *p, publish_log_fn fn, void *arg)
{
	p->log = fn;
	p->log_arg = arg;
}

unsigned
publish_sweep_interval(const struct publish *p)
{
	return p->sweep;
}

unsigned
publish_linger_ms(const struct publish *p)
{
	return p->linger;
}

static void
logf_(struct publish *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
logf_(struct publish *p, const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;

	if (p->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p->log(p->log_arg, buf);
}

/* ---- what a job publishes ---- */

struct p7_arg {
	gnutls_datum_t	*certs;
	size_t		 n, cap;
	time_t		 now;
	int		 failed;
};

static int
push(struct p7_arg *a, const void *der, size_t len)
{
	gnutls_datum_t	*c;

	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		if ((c = realloc(a->certs, a->cap * sizeof(*c))) == NULL)
			return a->failed = 1;
		a->certs = c;
	}
	c = &a->certs[a->n];
	if ((c->data = malloc(len)) == NULL)
		return a->failed = 1;
	memcpy(c->data, der, len);
	c->size = (unsigned)len;
	a->n++;
	return 0;
}

static int
collect_valid(void *arg, const struct cert_row *r)
{
	struct p7_arg	*a = arg;

	/* RFC 5280 4.1.2.5 validity; revoked ones are never published */
	if (r->revoked_at != 0 || r->not_before > a->now ||
	    r->not_after <= a->now)
		return 0;
	return push(a, r->der, r->der_len);
}

int
publish_mailbox_p7(struct store *st, const char *email,
    const gnutls_datum_t *ca, gnutls_datum_t *p7, struct err *e)
{
	struct p7_arg	a;
	size_t		i;
	int		rc = -1;

	memset(&a, 0, sizeof(a));
	a.now = time(NULL);
	p7->data = NULL;
	p7->size = 0;
	if (store_cert_list(st, email, collect_valid, &a, e) != 0)
		goto out;
	if (a.failed) {
		err_set(e, "out of memory");
		goto out;
	}
	if (a.n == 0) {
		rc = 0;
		goto out;
	}
	/* RFC 8551 3.2.2 certs-only: the person's certificates, then the
	 * chain (the CA certificate) */
	if (push(&a, ca->data, ca->size) != 0) {
		err_set(e, "out of memory");
		goto out;
	}
	rc = p7_certs_only(a.certs, a.n, p7, e);
out:
	for (i = 0; i < a.n; i++)
		free(a.certs[i].data);
	free(a.certs);
	return rc;
}

struct cert_arg {
	gnutls_datum_t	 der;
	char		 email[256];
	int		 valid;
	int		 found;
	int		 oom;
	time_t		 now;
};

static int
get_cert(void *arg, const struct cert_row *r)
{
	struct cert_arg	*a = arg;

	if ((a->der.data = gnutls_malloc(r->der_len)) == NULL) {
		a->oom = 1;
		return 1;
	}
	memcpy(a->der.data, r->der, r->der_len);
	a->der.size = (unsigned)r->der_len;
	snprintf(a->email, sizeof(a->email), "%s", r->email);
	/* RFC 5280 4.1.2.5: valid between notBefore and notAfter; revoked
	 * certificates leave the directory (DESIGN.md, Publishing) */
	a->valid = r->revoked_at == 0 && r->not_before <= a->now &&
	    r->not_after > a->now;
	a->found = 1;
	return 0;
}

static int
applies(const struct store_pub_job *j, const struct target *t)
{
	return !strcmp(j->target, "*") || !strcmp(j->target, t->name);
}

static void
append(char *buf, size_t sz, const char *name, const char *msg)
{
	size_t	l = strlen(buf);

	snprintf(buf + l, sz - l, "%s%s: %s", l ? "; " : "", name, msg);
}

/* One claimed job as the batch prepares and applies it. */
struct jobctx {
	const struct store_pub_job	*j;
	struct cert_arg			 ca;
	gnutls_datum_t			 p7;
	struct pub_cert			 pc;
	int				 iscert;
	int				 skip;	/* mailbox busy, or no such
						 * certificate (errs says) */
	char				 errs[2048];
};

/* Reads what a job publishes: the certificate and the mailbox's PKCS#7
 * (cert.*), or nothing more (ca, crl: the batch's CA objects). */
static int
job_prepare(struct publish *p, struct jobctx *x, struct err *e)
{
	x->ca.now = time(NULL);
	x->iscert = !strncmp(x->j->kind, "cert.", 5);
	if (!x->iscert)
		return 0;
	if (store_cert_get(p->st, x->j->ref, get_cert, &x->ca, e) < 0)
		return -1;
	if (x->ca.oom)
		return err_set(e, "out of memory");
	if (!x->ca.found) {
		snprintf(x->errs, sizeof(x->errs), "certificate %s is not in "
		    "the database", x->j->ref);
		x->skip = 1;
		return 0;
	}
	if (publish_mailbox_p7(p->st, x->ca.email, &p->ca_der, &x->p7, e) !=
	    0)
		return -1;
	x->pc.serial = x->j->ref;
	x->pc.email = x->ca.email;
	x->pc.der = &x->ca.der;
	x->pc.valid = x->ca.valid;
	x->pc.p7 = &x->p7;
	return 0;
}

/* A target's verdict on job x: success is recorded with the others
 * (ok[]), a failure joins the job's errors. */
static void
verdict(struct target *t, struct jobctx *x, int r, const struct err *te,
    int64_t *ok, size_t *nok)
{
	if (r == 0) {
		ok[(*nok)++] = x->j->id;
		return;
	}
	append(x->errs, sizeof(x->errs), t->name, te->msg);
	/* an unreachable directory fails the rest of the batch at once
	 * instead of once per job */
	if (!t->down && !strncmp(te->msg, "cannot reach", 12)) {
		t->down = 1;
		snprintf(t->down_msg, sizeof(t->down_msg), "%s", te->msg);
	}
}

/*
 * Applies the batch's jobs to one target: the certificate jobs of an
 * LDAP target together (pub_ldap_certs: pipelined, one LDAP transaction),
 * everything else one job at a time. Then records in one statement which
 * jobs this target has applied.
 */
static int
target_run(struct publish *p, struct target *t, struct jobctx *x, size_t n,
    const struct pub_ca *pca, struct err *e)
{
	int64_t		*ids = NULL, *ok = NULL;
	int		*done = NULL, *rcs = NULL;
	size_t		*sel = NULL, i, ns = 0, nok = 0, nc = 0;
	struct pub_cert	*pcs = NULL;
	struct err	*errs = NULL, te;
	int		 r, rc = -1;

	if (n == 0)
		return 0;
	ids = calloc(n, sizeof(*ids));
	ok = calloc(n, sizeof(*ok));
	done = calloc(n, sizeof(*done));
	rcs = calloc(n, sizeof(*rcs));
	sel = calloc(n, sizeof(*sel));
	pcs = calloc(n, sizeof(*pcs));
	errs = calloc(n, sizeof(*errs));
	if (ids == NULL || ok == NULL || done == NULL || rcs == NULL ||
	    sel == NULL || pcs == NULL || errs == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		ids[i] = x[i].j->id;
	if (store_pub_targets_done(p->st, ids, n, t->name, done, e) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if (!x[i].skip && applies(x[i].j, t) && !done[i])
			sel[ns++] = i;
	if (t->kind == T_LDAP && !t->down) {
		for (i = 0; i < ns; i++)
			if (x[sel[i]].iscert)
				pcs[nc++] = x[sel[i]].pc;
		if (nc > 0 && pub_ldap_certs(t->ldap, pcs, nc, p->ca, rcs,
		    errs) != 0) {
			err_set(e, "out of memory");
			goto out;
		}
		for (i = nc = 0; i < ns; i++)
			if (x[sel[i]].iscert) {
				verdict(t, &x[sel[i]], rcs[nc], &errs[nc],
				    ok, &nok);
				nc++;
			}
	}
	for (i = 0; i < ns; i++) {
		if (t->kind == T_LDAP && x[sel[i]].iscert && nc > 0)
			continue;	/* done together above */
		if (t->down) {
			append(x[sel[i]].errs, sizeof(x[sel[i]].errs), t->name,
			    t->down_msg);
			continue;
		}
		te.msg[0] = '\0';
		if (t->kind == T_LDAP)
			r = pub_ldap_ca(t->ldap, pca, &te);
		else
			r = x[sel[i]].iscert ? pub_web_cert(t->web,
			    &x[sel[i]].pc, &te) : pub_web_ca(t->web, pca, &te);
		if (r == 0 && t->kind == T_WEB)
			p->web_dirty = 1;
		verdict(t, &x[sel[i]], r, &te, ok, &nok);
	}
	if (store_pub_mark_targets(p->st, ok, nok, t->name, e) != 0)
		goto out;
	rc = 0;
out:
	free(ids);
	free(ok);
	free(done);
	free(rcs);
	free(sel);
	free(pcs);
	free(errs);
	return rc;
}

int
publish_refresh(struct publish *p, struct err *e)
{
	gnutls_datum_t	 crl = { NULL, 0 };
	struct pub_ca	 pca;
	uint8_t		*raw = NULL;
	size_t		 i, len;
	int64_t		 no;
	int		 rc = -1;

	if (store_pub_crl_newest(p->st, &no, &raw, &len, e) < 0)
		return -1;
	crl.data = raw;
	crl.size = (unsigned)len;
	pca.cert = &p->ca_der;
	pca.crl = &crl;
	for (i = 0; i < p->nt; i++) {
		if (p->t[i].kind != T_WEB)
			continue;
		if (pub_web_ca(p->t[i].web, &pca, e) != 0 ||
		    pub_web_index(p->t[i].web, p->st, e) != 0) {
			err_wrap(e, "%s", p->t[i].name);
			goto out;
		}
	}
	p->web_dirty = 0;
	rc = 0;
out:
	free(raw);
	return rc;
}

static void
jobs_free(struct jobctx *x, size_t n)
{
	size_t	i;

	if (x == NULL)
		return;
	for (i = 0; i < n; i++) {
		gnutls_free(x[i].ca.der.data);
		gnutls_free(x[i].p7.data);
	}
	free(x);
}

int
publish_batch(struct publish *p, struct publish_stats *s, struct err *e)
{
	struct store_pub_job	*jobs = NULL;
	struct jobctx		*x = NULL;
	gnutls_datum_t		 crl = { NULL, 0 };
	struct pub_ca		 pca;
	uint8_t			*crlraw = NULL;
	int64_t			*okids = NULL, crlno;
	size_t			 n = 0, i, nok = 0, crllen = 0;
	int			 got, needca = 0, gave_up;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < p->nt; i++)
		p->t[i].down = 0;
	if (store_begin(p->st, e) != 0)
		return -1;
	if (store_pub_claim(p->st, p->batch, &jobs, &n, e) != 0)
		goto fail;
	s->claimed = (unsigned)n;
	s->full = n >= p->batch;
	x = calloc(n > 0 ? n : 1, sizeof(*x));
	okids = calloc(n > 0 ? n : 1, sizeof(*okids));
	if (x == NULL || okids == NULL) {
		err_set(e, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		x[i].j = &jobs[i];
		if (jobs[i].email[0] != '\0') {
			/* one publisher per mailbox at a time: its PKCS#7 is
			 * rebuilt from one consistent view */
			if (store_pub_lock_mailbox(p->st, jobs[i].email, &got,
			    e) != 0)
				goto fail;
			if (!got) {
				s->busy++;
				x[i].skip = 2;
				continue;
			}
		}
		if (job_prepare(p, &x[i], e) != 0)
			goto fail;
		needca |= !x[i].iscert;
	}
	if (needca) {
		if (store_pub_crl_newest(p->st, &crlno, &crlraw, &crllen, e) <
		    0)
			goto fail;
		crl.data = crlraw;
		crl.size = (unsigned)crllen;
	}
	pca.cert = &p->ca_der;
	pca.crl = &crl;
	/* target by target, so each sees the whole batch at once */
	for (i = 0; i < p->nt; i++)
		if (target_run(p, &p->t[i], x, n, &pca, e) != 0)
			goto fail;
	for (i = 0; i < n; i++) {
		if (x[i].skip == 2)
			continue;
		if (x[i].errs[0] == '\0') {
			okids[nok++] = jobs[i].id;
			continue;
		}
		if (store_pub_job_fail(p->st, jobs[i].id, x[i].errs,
		    p->retry_base, p->retry_max, p->max_attempts, &gave_up,
		    e) != 0)
			goto fail;
		s->failed++;
		s->gave_up += gave_up;
		logf_(p, "job %lld (%s %s%s%s) failed, attempt %d%s: %s",
		    (long long)jobs[i].id, jobs[i].kind, jobs[i].ref,
		    jobs[i].email[0] ? " " : "", jobs[i].email,
		    jobs[i].attempts + 1, gave_up ? ", given up "
		    "([publish] max_attempts; signet publish retry)" : "",
		    x[i].errs);
	}
	if (store_pub_jobs_done(p->st, okids, nok, e) != 0)
		goto fail;
	s->done = (unsigned)nok;
	if (p->web_dirty && publish_refresh(p, e) != 0) {
		/* the index is derived from the database: the next batch or
		 * the next start rebuilds it; the jobs themselves are done */
		logf_(p, "rebuilding the web index: %s", e->msg);
		p->web_dirty = 1;
	}
	jobs_free(x, n);
	free(okids);
	free(crlraw);
	free(jobs);
	return store_commit(p->st, e);
fail:
	jobs_free(x, n);
	free(okids);
	free(crlraw);
	free(jobs);
	store_rollback(p->st);
	return -1;
}

int
publish_sweep(struct publish *p, unsigned *queued, struct err *e)
{
	return store_pub_expire_sweep(p->st, queued, e);
}

int
publish_wait_ms(struct publish *p, long *ms, struct err *e)
{
	double	secs;

	if (store_pub_next_due(p->st, &secs, e) != 0)
		return -1;
	if (secs < 0 || secs > p->sweep)
		secs = p->sweep;
	*ms = (long)(secs * 1000.0 + 0.5);
	return 0;
}
