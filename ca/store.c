#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "migrations.h"
#include "store.h"

/* pg_advisory_xact_lock keys: "sgnt" + purpose */
#define LOCK_MIGRATE	0x73676e7401LL

struct store {
	PGconn	*pg;
};

static int
pgerr(struct store *s, struct err *e, const char *what)
{
	const char	*m = PQerrorMessage(s->pg);
	size_t		 n = strlen(m);

	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	return err_set(e, "%s: %.*s", what, (int)n, m);
}

static void
notice_quiet(void *arg, const char *msg)
{
	/* NOTICEs ("relation exists, skipping") are not for the user */
}

struct store *
store_open(const char *conninfo, struct err *e)
{
	struct store	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	s->pg = PQconnectdb(conninfo);
	if (PQstatus(s->pg) != CONNECTION_OK) {
		pgerr(s, e, "connecting to the database");
		store_close(s);
		return NULL;
	}
	PQsetNoticeProcessor(s->pg, notice_quiet, NULL);
	return s;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	PQfinish(s->pg);
	free(s);
}

PGconn *
store_pg(struct store *s)
{
	return s->pg;
}

static int
cmd(struct store *s, const char *sql, struct err *e)
{
	PGresult	*r;
	int		 rc = 0;

	r = PQexec(s->pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = pgerr(s, e, sql);
	PQclear(r);
	return rc;
}

int
store_begin(struct store *s, struct err *e)
{
	return cmd(s, "BEGIN", e);
}

int
store_commit(struct store *s, struct err *e)
{
	return cmd(s, "COMMIT", e);
}

void
store_rollback(struct store *s)
{
	PQclear(PQexec(s->pg, "ROLLBACK"));
}

static PGresult *
q(struct store *s, const char *sql, int n, const char *const *v,
    const int *len, const int *fmt, struct err *e)
{
	PGresult	*r;

	r = PQexecParams(s->pg, sql, n, NULL, v, len, fmt, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		pgerr(s, e, "database");
		PQclear(r);
		return NULL;
	}
	return r;
}

int
store_schema_version(struct store *s, int *version, struct err *e)
{
	PGresult	*r;

	*version = 0;
	r = q(s, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0,
	    NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		PQclear(r);
		return 0;
	}
	PQclear(r);
	r = q(s, "SELECT coalesce(max(version), 0) FROM schema_migrations",
	    0, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	*version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

int
store_migrate(struct store *s, int *applied, struct err *e)
{
	char		 lock[64], ver[16];
	const char	*v[2];
	PGresult	*r;
	unsigned	 i;

	*applied = 0;
	if (cmd(s, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version int PRIMARY KEY, name text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())", e) != 0)
		return -1;
	for (i = 0; i < migrations_count; i++) {
		if (store_begin(s, e) != 0)
			return -1;
		/* two migrators at once: the second waits, then skips */
		snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%lld)",
		    LOCK_MIGRATE);
		if (cmd(s, lock, e) != 0)
			goto fail;
		snprintf(ver, sizeof(ver), "%d", migrations[i].version);
		v[0] = ver;
		v[1] = migrations[i].name;
		r = q(s, "SELECT 1 FROM schema_migrations WHERE version = $1",
		    1, v, NULL, NULL, e);
		if (r == NULL)
			goto fail;
		if (PQntuples(r) == 1) {
			PQclear(r);
			store_rollback(s);
			continue;
		}
		PQclear(r);
		if (cmd(s, migrations[i].sql, e) != 0) {
			err_wrap(e, "migration %s", migrations[i].name);
			goto fail;
		}
		r = q(s, "INSERT INTO schema_migrations (version, name) "
		    "VALUES ($1, $2)", 2, v, NULL, NULL, e);
		if (r == NULL)
			goto fail;
		PQclear(r);
		if (store_commit(s, e) != 0)
			return -1;
		(*applied)++;
	}
	return 0;
fail:
	store_rollback(s);
	return -1;
}

int
store_ca_put(struct store *s, const char *subject, const uint8_t *der,
    size_t len, struct err *e)
{
	const char	*v[2] = { subject, (const char *)der };
	int		 l[2] = { 0, (int)len };
	int		 f[2] = { 0, 1 };
	PGresult	*r;

	r = q(s, "INSERT INTO ca (id, subject, cert) VALUES (1, $1, $2) "
	    "ON CONFLICT (id) DO UPDATE SET subject = $1, cert = $2, "
	    "installed_at = now()", 2, v, l, f, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
store_cert_insert(struct store *s, const struct cert_row *c, struct err *e)
{
	char		 nb[24], na[24], req[24];
	const char	*v[12];
	int		 l[12] = { 0 }, f[12] = { 0 };
	PGresult	*r;
	int		 rc;

	snprintf(nb, sizeof(nb), "%lld", (long long)c->not_before);
	snprintf(na, sizeof(na), "%lld", (long long)c->not_after);
	snprintf(req, sizeof(req), "%" PRId64, c->request_id);
	v[0] = c->serial;
	v[1] = c->email;
	v[2] = c->display_name;
	v[3] = c->profile;
	v[4] = c->key_type;
	v[5] = (const char *)c->spki_sha256;
	l[5] = 32;
	f[5] = 1;
	v[6] = nb;
	v[7] = na;
	v[8] = (const char *)c->der;
	l[8] = (int)c->der_len;
	f[8] = 1;
	v[9] = c->issued_by;
	v[10] = c->request_id ? req : NULL;
	r = q(s, "INSERT INTO certificates (serial, email, display_name, "
	    "profile, key_type, spki_sha256, not_before, not_after, der, "
	    "issued_by, request_id) VALUES ($1, $2, $3, $4, $5, $6, "
	    "to_timestamp($7), to_timestamp($8), $9, $10, $11) "
	    "ON CONFLICT (serial) DO NOTHING", 11, v, l, f, e);
	if (r == NULL)
		return -1;
	rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : 1;
	PQclear(r);
	return rc;
}

#define CERT_COLS "serial, email, display_name, profile, key_type, " \
	"spki_sha256, extract(epoch from not_before)::bigint, " \
	"extract(epoch from not_after)::bigint, der, issued_by, " \
	"coalesce(request_id, 0), extract(epoch from issued_at)::bigint, " \
	"coalesce(extract(epoch from revoked_at)::bigint, 0), " \
	"coalesce(revocation_reason, -1)"

static int
each_cert(struct store *s, PGresult *r, store_cert_fn fn, void *arg,
    struct err *e)
{
	struct cert_row	 c;
	unsigned char	*der, *spki;
	size_t		 dl, sl;
	int		 i, rc = 0;

	for (i = 0; i < PQntuples(r) && rc == 0; i++) {
		memset(&c, 0, sizeof(c));
		snprintf(c.serial, sizeof(c.serial), "%s", PQgetvalue(r, i, 0));
		c.email = PQgetvalue(r, i, 1);
		c.display_name = PQgetisnull(r, i, 2) ? NULL :
		    PQgetvalue(r, i, 2);
		c.profile = PQgetvalue(r, i, 3);
		c.key_type = PQgetvalue(r, i, 4);
		spki = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 5),
		    &sl);
		der = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 8),
		    &dl);
		if (spki == NULL || der == NULL) {
			PQfreemem(spki);
			PQfreemem(der);
			return err_set(e, "out of memory");
		}
		if (sl == 32)
			memcpy(c.spki_sha256, spki, 32);
		c.not_before = strtoll(PQgetvalue(r, i, 6), NULL, 10);
		c.not_after = strtoll(PQgetvalue(r, i, 7), NULL, 10);
		c.der = der;
		c.der_len = dl;
		c.issued_by = PQgetvalue(r, i, 9);
		c.request_id = strtoll(PQgetvalue(r, i, 10), NULL, 10);
		c.issued_at = strtoll(PQgetvalue(r, i, 11), NULL, 10);
		c.revoked_at = strtoll(PQgetvalue(r, i, 12), NULL, 10);
		c.reason = atoi(PQgetvalue(r, i, 13));
		rc = fn(arg, &c);
		PQfreemem(spki);
		PQfreemem(der);
	}
	return 0;
}

int
store_cert_list(struct store *s, const char *email, store_cert_fn fn,
    void *arg, struct err *e)
{
	const char	*v[1] = { email };
	PGresult	*r;
	int		 rc;

	if (email != NULL)
		r = q(s, "SELECT " CERT_COLS " FROM certificates WHERE "
		    "lower(email) = lower($1) ORDER BY issued_at DESC, serial",
		    1, v, NULL, NULL, e);
	else
		r = q(s, "SELECT " CERT_COLS " FROM certificates "
		    "ORDER BY issued_at DESC, serial", 0, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	rc = each_cert(s, r, fn, arg, e);
	PQclear(r);
	return rc;
}

int
store_cert_get(struct store *s, const char *serial, store_cert_fn fn,
    void *arg, struct err *e)
{
	const char	*v[1] = { serial };
	PGresult	*r;
	int		 rc;

	r = q(s, "SELECT " CERT_COLS " FROM certificates WHERE serial = $1",
	    1, v, NULL, NULL, e);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 0 ? 1 : each_cert(s, r, fn, arg, e);
	PQclear(r);
	return rc;
}

int
store_cert_count(struct store *s, int64_t *n, struct err *e)
{
	PGresult	*r;

	r = q(s, "SELECT count(*) FROM certificates", 0, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	*n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

int
store_publish_enqueue(struct store *s, const char *kind, const char *ref,
    const char *email, struct err *e)
{
	const char	*v[3] = { kind, ref != NULL ? ref : "", email };
	PGresult	*r;

	r = q(s, "INSERT INTO publish_jobs (kind, ref, email) "
	    "VALUES ($1, $2, $3)", 3, v, NULL, NULL, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
store_audit_append(struct store *s, const char *actor, const char *action,
    const char *subject, const char *detail, struct err *e)
{
	const char	*v[4] = { actor, action, subject != NULL ? subject : "",
	    detail != NULL ? detail : "" };
	PGresult	*r;

	r = q(s, "SELECT audit_append($1, $2, $3, $4)", 4, v, NULL, NULL, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
store_audit_each(struct store *s, store_audit_fn fn, void *arg,
    struct err *e)
{
	struct audit_rec a;
	PGresult	*r;
	unsigned char	*p, *h;
	size_t		 pl, hl;
	int		 i, rc = 0;

	/* a cursor keeps memory flat for long logs */
	if (store_begin(s, e) != 0)
		return -1;
	if (cmd(s, "DECLARE audit_cur NO SCROLL CURSOR FOR SELECT seq, at_us, "
	    "actor, action, subject, detail, prev_hash, hash FROM audit_log "
	    "ORDER BY seq", e) != 0)
		goto out;
	for (;;) {
		r = q(s, "FETCH 1000 FROM audit_cur", 0, NULL, NULL, NULL, e);
		if (r == NULL) {
			rc = -1;
			goto out;
		}
		if (PQntuples(r) == 0) {
			PQclear(r);
			break;
		}
		for (i = 0; i < PQntuples(r) && rc == 0; i++) {
			memset(&a, 0, sizeof(a));
			a.seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);
			a.at_us = strtoll(PQgetvalue(r, i, 1), NULL, 10);
			a.actor = PQgetvalue(r, i, 2);
			a.action = PQgetvalue(r, i, 3);
			a.subject = PQgetvalue(r, i, 4);
			a.detail = PQgetvalue(r, i, 5);
			p = PQunescapeBytea((const unsigned char *)
			    PQgetvalue(r, i, 6), &pl);
			h = PQunescapeBytea((const unsigned char *)
			    PQgetvalue(r, i, 7), &hl);
			if (p != NULL && pl == 32)
				memcpy(a.prev_hash, p, 32);
			if (h != NULL && hl == 32)
				memcpy(a.hash, h, 32);
			PQfreemem(p);
			PQfreemem(h);
			rc = fn(arg, &a);
		}
		PQclear(r);
		if (rc != 0)
			break;
	}
out:
	store_rollback(s);
	return rc < 0 ? -1 : rc;
}
