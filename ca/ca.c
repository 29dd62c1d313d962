#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "ca.h"
#include "cakey.h"

int
ca_read_cert_file(const char *path, gnutls_datum_t *der, struct err *e)
{
	gnutls_datum_t		raw = { NULL, 0 };
	gnutls_x509_crt_t	crt = NULL;
	int			rc = -1, r;

	der->data = NULL;
	der->size = 0;
	if ((r = gnutls_load_file(path, &raw)) < 0)
		return err_set(e, "%s: cannot read (%s)", path,
		    gnutls_strerror(r));
	if (gnutls_x509_crt_init(&crt) < 0)
		goto out;
	if ((r = gnutls_x509_crt_import(crt, &raw, GNUTLS_X509_FMT_PEM)) < 0 &&
	    (r = gnutls_x509_crt_import(crt, &raw, GNUTLS_X509_FMT_DER)) < 0) {
		err_set(e, "%s: not a certificate (%s)", path,
		    gnutls_strerror(r));
		goto out;
	}
	if ((r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, der)) < 0) {
		err_set(e, "%s: %s", path, gnutls_strerror(r));
		goto out;
	}
	rc = 0;
out:
	gnutls_x509_crt_deinit(crt);
	gnutls_free(raw.data);
	return rc;
}

struct ca *
ca_open(const struct config *cfg, struct err *e)
{
	struct ca	*ca;
	char		*cert = NULL, *key = NULL, *sfile = NULL, *secret = NULL;
	int		 r;

	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	ca->cfg = cfg;
	cert = config_path(cfg, cfg->ca_cert);
	key = config_path(cfg, cfg->ca_key);
	sfile = config_path(cfg, cfg->ca_secret_file);
	if (cert == NULL || key == NULL) {
		err_set(e, "[ca] cert and key must be set in %s", cfg->path);
		goto fail;
	}
	if (access(cert, F_OK) != 0) {
		err_set(e, "%s: no CA certificate yet (for a subordinate CA, "
		    "install the answer with `signet install-ca CERT`)", cert);
		goto fail;
	}
	if (ca_read_cert_file(cert, &ca->crt_der, e) != 0)
		goto fail;
	if (gnutls_x509_crt_init(&ca->crt) < 0 ||
	    (r = gnutls_x509_crt_import(ca->crt, &ca->crt_der,
	    GNUTLS_X509_FMT_DER)) < 0) {
		err_set(e, "%s: not a certificate", cert);
		goto fail;
	}
	if (cakey_read_secret(sfile, cfg->ca_secret_env, &secret, e) != 0)
		goto fail;
	if ((ca->key = cakey_load(key, secret, e)) == NULL)
		goto fail;
	ca->issuer.crt = ca->crt;
	ca->issuer.key = ca->key;
	ca->issuer.crl_url = cfg->crl_url;
	ca->issuer.ocsp_url = *cfg->ocsp_url ? cfg->ocsp_url : NULL;
	ca->issuer.issuer_url = *cfg->issuer_url ? cfg->issuer_url : NULL;
	ca->issuer.policy_oid = cfg->policy_oid;
	ca->issuer.non_repudiation = cfg->non_repudiation;
	if (cert_issuer_prepare(&ca->issuer, e) != 0)
		goto fail;
	cakey_secret_free(secret);
	free(cert);
	free(key);
	free(sfile);
	return ca;
fail:
	cakey_secret_free(secret);
	free(cert);
	free(key);
	free(sfile);
	ca_free(ca);
	return NULL;
}

/* The key of src for another handle: the decrypted key copied, or for a
 * token key, a second load through its URL (a session of its own). */
static int
dup_key(const struct ca *src, struct ca *ca, struct err *e)
{
	gnutls_x509_privkey_t	 xk = NULL;
	char			*key = NULL, *sfile = NULL, *secret = NULL;
	int			 rc = -1;

	if (gnutls_privkey_export_x509(src->key, &xk) >= 0) {
		if (gnutls_privkey_init(&ca->key) < 0 ||
		    gnutls_privkey_import_x509(ca->key, xk,
		    GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0) {
			gnutls_x509_privkey_deinit(xk);
			return err_set(e, "copying the CA key: out of memory");
		}
		return 0;
	}
	key = config_path(src->cfg, src->cfg->ca_key);
	sfile = config_path(src->cfg, src->cfg->ca_secret_file);
	if (key == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (cakey_read_secret(sfile, src->cfg->ca_secret_env, &secret,
	    e) != 0 || (ca->key = cakey_load(key, secret, e)) == NULL)
		goto out;
	rc = 0;
out:
	cakey_secret_free(secret);
	free(key);
	free(sfile);
	return rc;
}

struct ca *
ca_dup(const struct ca *src, struct err *e)
{
	struct ca	*ca;

	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	ca->cfg = src->cfg;
	if ((ca->crt_der.data = gnutls_malloc(src->crt_der.size)) == NULL) {
		err_set(e, "out of memory");
		goto fail;
	}
	memcpy(ca->crt_der.data, src->crt_der.data, src->crt_der.size);
	ca->crt_der.size = src->crt_der.size;
	if (gnutls_x509_crt_init(&ca->crt) < 0 ||
	    gnutls_x509_crt_import(ca->crt, &ca->crt_der,
	    GNUTLS_X509_FMT_DER) < 0) {
		err_set(e, "copying the CA certificate failed");
		goto fail;
	}
	if (dup_key(src, ca, e) != 0)
		goto fail;
	ca->issuer = src->issuer;
	ca->issuer.crt = ca->crt;
	ca->issuer.key = ca->key;
	/* the source's encoded parts stay the source's */
	ca->issuer.tmpl = NULL;
	ca->issuer.prepared = 0;
	if (cert_issuer_prepare(&ca->issuer, e) != 0)
		goto fail;
	return ca;
fail:
	ca_free(ca);
	return NULL;
}

void
ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	cert_issuer_release(&ca->issuer);
	if (ca->crt != NULL)
		gnutls_x509_crt_deinit(ca->crt);
	if (ca->key != NULL)
		cakey_free(ca->key);
	gnutls_free(ca->crt_der.data);
	free(ca);
}

void
ca_issued_free(struct ca_issued *o)
{
	if (o == NULL)
		return;
	gnutls_free(o->der.data);
	o->der.data = NULL;
	o->der.size = 0;
}

/* The validity and the row's fixed fields, common to every path. */
static int
job_prepare(struct ca *ca, const struct ca_subject *s, gnutls_pubkey_t pub,
    const struct key_info *ki, const char *actor, int64_t request_id,
    time_t now, struct cert_spec *spec, struct cert_row *row, struct err *e)
{
	memset(spec, 0, sizeof(*spec));
	spec->email = s->email;
	spec->profile = s->profile;
	spec->days = s->days ? s->days : ca->cfg->default_days;
	spec->not_before = now;
	if (spec->days > ca->cfg->max_days)
		return err_set(e, "%u days is more than this CA allows (%u)",
		    spec->days, ca->cfg->max_days);
	memset(row, 0, sizeof(*row));
	row->email = s->email;
	row->display_name = s->display_name;
	row->profile = cert_profile_name(s->profile);
	row->key_type = ki->name;
	row->issued_by = actor;
	row->request_id = request_id;
	row->not_before = now;
	row->not_after = now + (time_t)spec->days * 86400 - 1;
	return keys_spki_sha256(pub, row->spki_sha256, e);
}

/* A fresh serial and the certificate signed under it. */
static int
job_sign(struct ca *ca, const struct cert_spec *spec, gnutls_pubkey_t pub,
    struct cert_row *row, struct ca_issued *out, struct err *e)
{
	ca_issued_free(out);
	if (serial_new(&out->serial, e) != 0)
		return -1;
	serial_hex(&out->serial, out->serial_hex);
	if (cert_issue(&ca->issuer, spec, pub, &out->serial, &out->der,
	    e) != 0)
		return -1;
	memcpy(row->serial, out->serial_hex, sizeof(row->serial));
	row->der = out->der.data;
	row->der_len = out->der.size;
	return 0;
}

static void
issue_detail(char *buf, size_t len, const struct ca_issued *out,
    const struct cert_row *row, unsigned days)
{
	snprintf(buf, len, "serial=%s profile=%s key=%s days=%u",
	    out->serial_hex, row->profile, row->key_type, days);
}

int
ca_issue_tx(struct ca *ca, struct store *st, const struct ca_subject *s,
    gnutls_pubkey_t pub, const struct key_info *ki, const char *actor,
    int64_t request_id, struct ca_issued *out, struct err *e)
{
	struct cert_spec	 spec;
	struct cert_row		 row;
	char			 detail[256];
	int			 tries, r;

	memset(out, 0, sizeof(*out));
	if (job_prepare(ca, s, pub, ki, actor, request_id, time(NULL), &spec,
	    &row, e) != 0)
		return -1;
	/* 127 random bits collide never in practice; still, uniqueness per
	 * CA is a rule (RFC 5280 4.1.2.2), so the database decides. */
	for (tries = 0; tries < 4; tries++) {
		if (job_sign(ca, &spec, pub, &row, out, e) != 0)
			goto fail;
		if ((r = store_cert_insert(st, &row, e)) < 0)
			goto fail;
		if (r == 0)
			break;
	}
	if (tries == 4) {
		err_set(e, "could not draw an unused serial number");
		goto fail;
	}
	issue_detail(detail, sizeof(detail), out, &row, spec.days);
	if (audit_append(st, actor, "cert.issue", s->email, detail, e) != 0 ||
	    store_publish_enqueue(st, "cert.issue", out->serial_hex, s->email,
	    e) != 0)
		goto fail;
	return 0;
fail:
	ca_issued_free(out);
	return -1;
}

/*
 * One round trip per certificate (store_issue_start/finish): the audit
 * record and the publish job travel before the signature is made, and
 * the server stores them while this process signs; the row follows,
 * and the pipeline's end commits all three. The serial is drawn first,
 * so the record and the job can name it.
 */
int
ca_issue(struct ca *ca, struct store *st, const struct ca_subject *s,
    gnutls_pubkey_t pub, const struct key_info *ki, const char *actor,
    int64_t request_id, struct ca_issued *out, struct err *e)
{
	struct cert_spec	 spec;
	struct cert_row		 row;
	char			 detail[256];
	int			 tries, r;

	memset(out, 0, sizeof(*out));
	if (job_prepare(ca, s, pub, ki, actor, request_id, time(NULL), &spec,
	    &row, e) != 0)
		return -1;
	/* RFC 5280 4.1.2.2: a taken serial rolls everything back; draw
	 * another */
	for (tries = 0; tries < 4; tries++) {
		ca_issued_free(out);
		if (serial_new(&out->serial, e) != 0)
			return -1;
		serial_hex(&out->serial, out->serial_hex);
		issue_detail(detail, sizeof(detail), out, &row, spec.days);
		if (store_issue_start(st, actor, "cert.issue", s->email,
		    detail, "cert.issue", out->serial_hex, s->email, e) != 0)
			return -1;
		if (cert_issue(&ca->issuer, &spec, pub, &out->serial,
		    &out->der, e) != 0) {
			store_issue_abort(st);
			goto fail;
		}
		memcpy(row.serial, out->serial_hex, sizeof(row.serial));
		row.der = out->der.data;
		row.der_len = out->der.size;
		if ((r = store_issue_finish(st, &row, e)) == 0)
			return 0;
		if (r < 0)
			goto fail;
	}
	err_set(e, "could not draw an unused serial number");
fail:
	ca_issued_free(out);
	return -1;
}

int
ca_sign(struct ca *ca, struct ca_job *j, struct err *e)
{
	struct cert_spec	spec;

	if (job_prepare(ca, &j->subj, j->pub, j->ki, j->actor, j->request_id,
	    time(NULL), &spec, &j->row, e) != 0)
		return -1;
	j->days = spec.days;
	if (job_sign(ca, &spec, j->pub, &j->row, &j->out, e) != 0) {
		ca_issued_free(&j->out);
		return -1;
	}
	return 0;
}

int
ca_store_tx(struct ca *ca, struct store *st, struct ca_job *jobs, size_t n,
    struct store_audit_buf *audit, struct err *e)
{
	struct store_audit_buf	 own;
	struct cert_row		*rows = NULL;
	char			 detail[256];
	size_t			*idx = NULL, i, m, k;
	int			*taken = NULL, tries, rc = -1;

	store_audit_buf_init(&own);
	if (n == 0)
		return 0;
	if ((rows = calloc(n, sizeof(*rows))) == NULL ||
	    (idx = calloc(n, sizeof(*idx))) == NULL ||
	    (taken = calloc(n, sizeof(*taken))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		idx[i] = i;
	/* 127 random bits collide never in practice; still, uniqueness per
	 * CA is a rule (RFC 5280 4.1.2.2), so the database decides, and a
	 * certificate whose serial is taken is signed again under another */
	for (m = n, tries = 0; m > 0; tries++) {
		if (tries == 4) {
			err_set(e, "could not draw an unused serial number");
			goto out;
		}
		for (k = 0; k < m; k++) {
			if (tries > 0 && ca_sign(ca, &jobs[idx[k]], e) != 0)
				goto out;
			rows[k] = jobs[idx[k]].row;
		}
		if (store_cert_insert_many(st, rows, m, taken, e) != 0)
			goto out;
		for (i = k = 0; k < m; k++)
			if (taken[k])
				idx[i++] = idx[k];
		m = i;
	}
	if (audit == NULL)
		audit = &own;
	for (i = 0; i < n; i++) {
		issue_detail(detail, sizeof(detail), &jobs[i].out,
		    &jobs[i].row, jobs[i].days);
		store_audit_buf_add(audit, jobs[i].actor, "cert.issue",
		    jobs[i].subj.email, detail);
	}
	if (audit == &own && audit_append_buf(st, &own, e) != 0)
		goto out;
	rc = 0;
out:
	store_audit_buf_free(&own);
	free(rows);
	free(idx);
	free(taken);
	return rc;
}

struct sets {
	struct ca_lane	*lanes;
	struct ca_job	*jobs;
	size_t		 n, nsets;
	int		(*done)(void *, struct ca_job *, size_t, struct err *);
	void		*arg;
	pthread_mutex_t	 mx;		/* everything below */
	pthread_cond_t	 cv;
	size_t		 next;		/* the next set to sign */
	size_t		 turn;		/* the next set to store */
	int		 signing;	/* a lane is signing */
	int		 failed;
	struct err	 e;		/* the first failure */
};

static void
sets_fail(struct sets *s, const struct err *e)
{
	if (!s->failed) {
		s->failed = 1;
		s->e = *e;
	}
	pthread_cond_broadcast(&s->cv);
}

/* One lane: take a set, sign it when no other lane signs, store and
 * commit it in its turn, report it; until every set is done. */
static void
sets_lane(struct sets *s, struct ca_lane *l)
{
	struct ca_job	*j;
	struct err	 e;
	size_t		 k, i, m;

	pthread_mutex_lock(&s->mx);
	for (;;) {
		while (s->signing && !s->failed)
			pthread_cond_wait(&s->cv, &s->mx);
		if (s->failed || s->next == s->nsets)
			break;
		k = s->next++;
		s->signing = 1;
		pthread_mutex_unlock(&s->mx);
		j = s->jobs + k * CA_SET_MAX;
		m = s->n - k * CA_SET_MAX < CA_SET_MAX ?
		    s->n - k * CA_SET_MAX : CA_SET_MAX;
		for (i = 0; i < m; i++)
			if (ca_sign(l->ca, &j[i], &e) != 0)
				break;
		pthread_mutex_lock(&s->mx);
		s->signing = 0;
		pthread_cond_broadcast(&s->cv);
		if (i < m) {
			sets_fail(s, &e);
			break;
		}
		while (s->turn != k && !s->failed)
			pthread_cond_wait(&s->cv, &s->mx);
		if (s->failed)
			break;
		/* the turn is this lane's until it moves it on */
		pthread_mutex_unlock(&s->mx);
		if (store_begin(l->st, &e) != 0 ||
		    ca_store_tx(l->ca, l->st, j, m, NULL, &e) != 0 ||
		    store_commit(l->st, &e) != 0) {
			store_rollback(l->st);
			pthread_mutex_lock(&s->mx);
			sets_fail(s, &e);
			break;
		}
		i = s->done == NULL || s->done(s->arg, j, m, &e) == 0;
		pthread_mutex_lock(&s->mx);
		s->turn++;
		if (!i) {
			sets_fail(s, &e);
			break;
		}
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mx);
}

static void *
sets_main(void *arg)
{
	struct sets	*s = arg;

	sets_lane(s, &s->lanes[1]);
	return NULL;
}

int
ca_issue_sets(struct ca_lane lanes[2], struct ca_job *jobs, size_t n,
    int (*done)(void *, struct ca_job *, size_t, struct err *), void *arg,
    size_t *committed, struct err *e)
{
	struct sets	s;
	pthread_t	t;
	int		two;

	memset(&s, 0, sizeof(s));
	s.lanes = lanes;
	s.jobs = jobs;
	s.n = n;
	s.nsets = (n + CA_SET_MAX - 1) / CA_SET_MAX;
	s.done = done;
	s.arg = arg;
	pthread_mutex_init(&s.mx, NULL);
	pthread_cond_init(&s.cv, NULL);
	two = lanes[1].ca != NULL && lanes[1].st != NULL && s.nsets > 1 &&
	    pthread_create(&t, NULL, sets_main, &s) == 0;
	sets_lane(&s, &lanes[0]);
	if (two)
		pthread_join(t, NULL);
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mx);
	if (committed != NULL)
		*committed = s.turn * CA_SET_MAX < n ? s.turn * CA_SET_MAX : n;
	if (s.failed) {
		*e = s.e;
		return -1;
	}
	return 0;
}

void
ca_job_free(struct ca_job *j)
{
	if (j != NULL)
		ca_issued_free(&j->out);
}
