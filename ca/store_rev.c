/*
 * store_rev: the SQL of revocation, CRLs and OCSP (sql/030_revocation.sql).
 * Values always travel as parameters.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "revsvc.h"
#include "store_rev.h"

static int
pgfail(PGconn *pg, struct err *e, const char *what)
{
	const char	*m = PQerrorMessage(pg);
	size_t		 n = strlen(m);

	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	return err_set(e, "%s: %.*s", what, (int)n, m);
}

static PGresult *
q(struct store *st, const char *what, const char *sql, int n,
    const char *const *v, const int *len, const int *fmt, int binary,
    struct err *e)
{
	PGconn		*pg = store_pg(st);
	PGresult	*r;

	r = PQexecParams(pg, sql, n, NULL, v, len, fmt, binary);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		pgfail(pg, e, what);
		PQclear(r);
		return NULL;
	}
	return r;
}

static int
exec0(struct store *st, const char *what, const char *sql, int n,
    const char *const *v, struct err *e)
{
	PGresult	*r;

	if ((r = q(st, what, sql, n, v, NULL, NULL, 0, e)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

static time_t
tval(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 :
	    (time_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int
store_rev_revoke_tx(struct store *st, const char *serial, int reason,
    char email[256], struct err *e)
{
	char		 rs[8];
	const char	*v[2] = { serial, rs };
	PGresult	*r;
	int		 rc;

	snprintf(rs, sizeof(rs), "%d", reason);
	email[0] = '\0';
	r = q(st, "revoking", "SELECT email, revoked_at IS NOT NULL FROM "
	    "certificates WHERE serial = $1 FOR UPDATE", 1, v, NULL, NULL, 0,
	    e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 1;
	}
	snprintf(email, 256, "%s", PQgetvalue(r, 0, 0));
	rc = strcmp(PQgetvalue(r, 0, 1), "t") == 0 ? 2 : 0;
	PQclear(r);
	if (rc != 0)
		return rc;
	/* RFC 5280 5.1.2.6 revocationDate: when the CA processed it */
	if (exec0(st, "revoking", "UPDATE certificates SET revoked_at = now(), "
	    "revocation_reason = $2::smallint WHERE serial = $1", 2, v, e) < 0 ||
	    exec0(st, "logging the revocation", "INSERT INTO "
	    "revocation_events (serial) VALUES ($1)", 1, v, e) < 0 ||
	    /* no cached "good" may outlive the commit */
	    exec0(st, "dropping cached OCSP responses", "DELETE FROM "
	    "ocsp_responses WHERE serial = $1", 1, v, e) < 0 ||
	    exec0(st, "queueing the OCSP re-sign", "INSERT INTO ocsp_queue "
	    "(serial) VALUES ($1)", 1, v, e) < 0)
		return -1;
	return 0;
}

int
store_crl_latest(struct store *st, struct store_crl_info *c, struct err *e)
{
	PGresult	*r;
	int		 rc = 1;

	memset(c, 0, sizeof(*c));
	r = q(st, "reading the newest CRL", "SELECT number, "
	    "extract(epoch from this_update)::bigint, "
	    "extract(epoch from next_update)::bigint, entries, last_event "
	    "FROM crls ORDER BY number DESC LIMIT 1", 0, NULL, NULL, NULL, 0,
	    e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1) {
		c->number = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		c->this_update = tval(r, 0, 1);
		c->next_update = tval(r, 0, 2);
		c->entries = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
		c->last_event = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
		rc = 0;
	}
	PQclear(r);
	return rc;
}

int
store_rev_last_event(struct store *st, int64_t *id, struct err *e)
{
	PGresult	*r;

	r = q(st, "reading revocation events", "SELECT coalesce(max(id), 0) "
	    "FROM revocation_events", 0, NULL, NULL, NULL, 0, e);
	if (r == NULL)
		return -1;
	*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

int
store_crl_begin(struct store *st, int64_t *number, int64_t *last_event,
    struct err *e)
{
	PGresult	*r;

	/* crl.h: every pass must see the same entries */
	if (exec0(st, "starting the CRL transaction", "BEGIN ISOLATION LEVEL "
	    "REPEATABLE READ", 0, NULL, e) < 0)
		return -1;
	r = q(st, "drawing the CRL number", "SELECT nextval('crl_number_seq'), "
	    "(SELECT coalesce(max(id), 0) FROM revocation_events)", 0, NULL,
	    NULL, NULL, 0, e);
	if (r == NULL) {
		store_rollback(st);
		return -1;
	}
	*number = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	*last_event = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	PQclear(r);
	return 0;
}

/*
 * Binary COPY (PostgreSQL "COPY ... (FORMAT binary)"): an 11-octet
 * signature, flags and a header extension, then per row a 16-bit field
 * count and each field as a 32-bit length and its octets, big-endian; a
 * field count of -1 ends the data. timestamptz travels as microseconds
 * since 2000-01-01 00:00 UTC.
 */
static const char	copy_sig[11] = "PGCOPY\n\377\r\n";
#define PG_EPOCH	946684800	/* 2000-01-01 in Unix time */

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static uint8_t *
wr32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
	return p + 4;
}

static uint8_t *
wr64(uint8_t *p, uint64_t v)
{
	return wr32(wr32(p, v >> 32), (uint32_t)v);
}

/* Unix seconds from a binary timestamptz, rounded to the nearest second
 * as extract(epoch ...)::bigint does, so that the CRL and the OCSP
 * responses (STATUS_COLS) give a revocation the same time. */
static time_t
pg_time(const uint8_t *p)
{
	int64_t	us = (int64_t)rd64(p), q;

	q = (us + 500000) / 1000000;
	if ((us + 500000) % 1000000 < 0)
		q--;			/* floor, not truncation */
	return (time_t)(PG_EPOCH + q);
}

struct copy_rd {
	const uint8_t	*p, *end;
	int		 header;	/* the file header is still to come */
};

/* One row of store_crl_entries: serial text, revoked_at, reason. */
static int
crl_row(struct copy_rd *rd, store_crl_fn fn, void *arg, int *done,
    struct err *e)
{
	char		 serial[41];
	const uint8_t	*f[3];
	uint32_t	 len[3];
	size_t		 left = rd->end - rd->p;
	int		 i;

	if (rd->header) {
		if (left < 19 || memcmp(rd->p, copy_sig, 11) != 0 ||
		    left < 19 + (size_t)rd32(rd->p + 15))
			return err_set(e, "reading revoked certificates: not "
			    "a binary COPY header");
		rd->p += 19 + rd32(rd->p + 15);
		rd->header = 0;
		if ((left = rd->end - rd->p) == 0)
			return 0;
	}
	if (left >= 2 && rd->p[0] == 0xff && rd->p[1] == 0xff) {
		*done = 1;		/* the trailer */
		rd->p += 2;
		return 0;
	}
	if (left < 2 || rd->p[0] != 0 || rd->p[1] != 3)
		return err_set(e, "reading revoked certificates: a row of "
		    "%zu octets is not 3 fields", left);
	rd->p += 2;
	for (i = 0; i < 3; i++) {
		if ((size_t)(rd->end - rd->p) < 4 ||
		    (len[i] = rd32(rd->p)) == 0xffffffff ||
		    (size_t)(rd->end - rd->p - 4) < len[i])
			return err_set(e, "reading revoked certificates: a "
			    "field is missing or NULL");
		f[i] = rd->p + 4;
		rd->p += 4 + len[i];
	}
	if (len[0] >= sizeof(serial) || len[1] != 8 || len[2] != 2)
		return err_set(e, "reading revoked certificates: unexpected "
		    "field sizes");
	memcpy(serial, f[0], len[0]);
	serial[len[0]] = '\0';
	return fn(arg, serial, pg_time(f[1]),
	    (int16_t)(f[2][0] << 8 | f[2][1]), e);
}

int
store_crl_entries(struct store *st, time_t at, store_crl_fn fn, void *arg,
    struct err *e)
{
	PGconn		*pg = store_pg(st);
	PGresult	*r;
	struct copy_rd	 rd = { NULL, NULL, 1 };
	char		 sql[512], *buf = NULL;
	int		 n, rc = 0, done = 0;

	/* COPY takes no parameters; `at` is a number formatted here.
	 * RFC 5280 5.1.2.6: an entry stays at least until its certificate
	 * expires; afterwards it may go, and does. The order is the index
	 * certificates_crl's (sql/031), read by an index-only scan, in
	 * binary: no sort and no number formatting on either side. */
	snprintf(sql, sizeof(sql), "COPY (SELECT serial, revoked_at, "
	    "revocation_reason FROM certificates WHERE revoked_at IS NOT NULL "
	    "AND not_after >= to_timestamp(%lld) ORDER BY serial COLLATE "
	    "\"C\") TO STDOUT (FORMAT binary)", (long long)at);
	r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_COPY_OUT) {
		PQclear(r);
		return pgfail(pg, e, "reading revoked certificates");
	}
	PQclear(r);
	/* one CopyData message a row; the header comes with the first */
	while ((n = PQgetCopyData(pg, &buf, 0)) > 0) {
		rd.p = (const uint8_t *)buf;
		rd.end = rd.p + n;
		while (rc == 0 && !done && rd.p < rd.end)
			if (crl_row(&rd, fn, arg, &done, e) != 0)
				rc = -1;	/* drain the rest, then return */
		PQfreemem(buf);
		buf = NULL;
	}
	if (n == -2)
		rc = pgfail(pg, e, "reading revoked certificates");
	while ((r = PQgetResult(pg)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = pgfail(pg, e, "reading revoked certificates");
		PQclear(r);
	}
	if (rc == 0 && !done)
		rc = err_set(e, "reading revoked certificates: the COPY "
		    "ended early");
	return rc;
}

int
store_crl_put_tx(struct store *st, const struct store_crl_info *c, FILE *der,
    struct err *e)
{
	PGconn		*pg = store_pg(st);
	PGresult	*r;
	uint8_t		*buf = NULL, *p;
	char		 ref[24];
	off_t		 size;
	size_t		 n;
	const size_t	 bufsz = 256 * 1024;
	int		 rc = -1;

	/* Binary COPY streams the DER as it is, with no hex on either side,
	 * so a 44 MB CRL never sits in this process's memory whole. */
	if (fseeko(der, 0, SEEK_END) != 0 || (size = ftello(der)) < 0 ||
	    fseeko(der, 0, SEEK_SET) != 0)
		return err_set(e, "reading the CRL file: %s", strerror(errno));
	if (size == 0 || size > 0x3fffffff)
		return err_set(e, "the CRL is empty or over 1 GiB");
	if ((buf = malloc(bufsz)) == NULL)
		return err_set(e, "out of memory");
	r = PQexec(pg, "COPY crls (number, this_update, next_update, entries, "
	    "last_event, der) FROM STDIN (FORMAT binary)");
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		PQclear(r);
		pgfail(pg, e, "storing the CRL");
		free(buf);
		return -1;
	}
	PQclear(r);
	memcpy(buf, copy_sig, 11);
	p = wr32(wr32(buf + 11, 0), 0);		/* flags, no extension */
	*p++ = 0;
	*p++ = 6;				/* six fields */
	p = wr64(wr32(p, 8), (uint64_t)c->number);
	p = wr64(wr32(p, 8), (uint64_t)((int64_t)c->this_update - PG_EPOCH) *
	    1000000);
	p = wr64(wr32(p, 8), (uint64_t)((int64_t)c->next_update - PG_EPOCH) *
	    1000000);
	p = wr64(wr32(p, 8), (uint64_t)c->entries);
	p = wr64(wr32(p, 8), (uint64_t)c->last_event);
	p = wr32(p, (uint32_t)size);
	if (PQputCopyData(pg, (char *)buf, (int)(p - buf)) != 1) {
		pgfail(pg, e, "storing the CRL");
		goto fail;
	}
	while ((n = fread(buf, 1, bufsz, der)) > 0) {
		size -= n;
		if (PQputCopyData(pg, (char *)buf, (int)n) != 1) {
			pgfail(pg, e, "storing the CRL");
			goto fail;
		}
	}
	if (ferror(der) || size != 0) {
		err_set(e, "reading the CRL file");
		goto fail;
	}
	buf[0] = buf[1] = 0xff;			/* the trailer */
	if (PQputCopyData(pg, (char *)buf, 2) != 1 ||
	    PQputCopyEnd(pg, NULL) != 1) {
		pgfail(pg, e, "storing the CRL");
		free(buf);
		return -1;
	}
	free(buf);
	rc = 0;
	while ((r = PQgetResult(pg)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = pgfail(pg, e, "storing the CRL");
		PQclear(r);
	}
	if (rc < 0)
		return -1;
	snprintf(ref, sizeof(ref), "%" PRId64, c->number);
	return store_publish_enqueue(st, "crl", ref, NULL, e);
fail:
	free(buf);
	PQputCopyEnd(pg, "aborted");
	while ((r = PQgetResult(pg)) != NULL)
		PQclear(r);
	return -1;
}

int
store_crl_der(struct store *st, int64_t number, FILE *out, struct err *e)
{
	char		 num[24];
	const char	*v[1] = { num };
	PGresult	*r;
	int		 rc = 1, len;

	snprintf(num, sizeof(num), "%" PRId64, number);
	r = q(st, "reading the CRL", "SELECT der FROM crls WHERE number = $1 "
	    "OR ($1 = 0 AND number = (SELECT max(number) FROM crls))", 1, v,
	    NULL, NULL, 1, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1) {
		len = PQgetlength(r, 0, 0);
		rc = fwrite(PQgetvalue(r, 0, 0), 1, len, out) == (size_t)len ?
		    0 : err_set(e, "writing the CRL");
	}
	PQclear(r);
	return rc;
}

int
store_ocsp_signer_current(struct store *st, struct store_signer *s,
    struct err *e)
{
	PGresult	*r;
	int		 rc = 1, len;

	memset(s, 0, sizeof(*s));
	r = q(st, "reading the OCSP signer", "SELECT id, cert, key_file, "
	    "extract(epoch from not_before)::bigint, "
	    "extract(epoch from not_after)::bigint FROM ocsp_signers "
	    "ORDER BY id DESC LIMIT 1", 0, NULL, NULL, NULL, 0, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1) {
		unsigned char	*d;
		size_t		 dl;

		s->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		d = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 1),
		    &dl);
		if (d == NULL || (s->cert = malloc(dl)) == NULL) {
			PQfreemem(d);
			PQclear(r);
			return err_set(e, "out of memory");
		}
		memcpy(s->cert, d, dl);
		s->cert_len = dl;
		PQfreemem(d);
		snprintf(s->key_file, sizeof(s->key_file), "%s",
		    PQgetvalue(r, 0, 2));
		s->not_before = tval(r, 0, 3);
		s->not_after = tval(r, 0, 4);
		rc = 0;
	}
	(void)len;
	PQclear(r);
	return rc;
}

int
store_ocsp_signer_add(struct store *st, const uint8_t *cert, size_t len,
    const char *key_file, time_t not_before, time_t not_after, struct err *e)
{
	char		 nb[24], na[24];
	const char	*v[4] = { (const char *)cert, key_file, nb, na };
	int		 l[4] = { (int)len, 0, 0, 0 }, f[4] = { 1, 0, 0, 0 };
	PGresult	*r;

	snprintf(nb, sizeof(nb), "%lld", (long long)not_before);
	snprintf(na, sizeof(na), "%lld", (long long)not_after);
	r = q(st, "storing the OCSP signer", "INSERT INTO ocsp_signers (cert, "
	    "key_file, not_before, not_after) VALUES ($1, $2, "
	    "to_timestamp($3::bigint), to_timestamp($4::bigint))", 4, v, l, f,
	    0, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

#define STATUS_COLS "serial, revoked_at IS NOT NULL, " \
	"coalesce(extract(epoch from revoked_at)::bigint, 0), " \
	"coalesce(revocation_reason, -1), " \
	"extract(epoch from not_after)::bigint"

static void
status_row(PGresult *r, int i, struct store_cert_status *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->serial, sizeof(s->serial), "%s", PQgetvalue(r, i, 0));
	s->revoked = strcmp(PQgetvalue(r, i, 1), "t") == 0;
	s->revoked_at = tval(r, i, 2);
	s->reason = atoi(PQgetvalue(r, i, 3));
	s->not_after = tval(r, i, 4);
}

int
store_ocsp_status_tx(struct store *st, const char *serial,
    struct store_cert_status *s, struct err *e)
{
	const char	*v[1] = { serial };
	PGresult	*r;
	int		 rc = 1;

	r = q(st, "reading a certificate's status", "SELECT " STATUS_COLS
	    " FROM certificates WHERE serial = $1 FOR SHARE", 1, v, NULL, NULL,
	    0, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1) {
		status_row(r, 0, s);
		rc = 0;
	}
	PQclear(r);
	return rc;
}

int
store_ocsp_response_put_tx(struct store *st, const char *serial,
    const char *hash, int revoked, const uint8_t *der, size_t len,
    time_t this_update, time_t next_update, time_t produced_at, struct err *e)
{
	char		 tu[24], nu[24], pa[24];
	const char	*v[7] = { serial, hash, revoked ? "revoked" : "good",
	    (const char *)der, tu, nu, pa };
	int		 l[7] = { 0, 0, 0, (int)len, 0, 0, 0 };
	int		 f[7] = { 0, 0, 0, 1, 0, 0, 0 };
	PGresult	*r;

	snprintf(tu, sizeof(tu), "%lld", (long long)this_update);
	snprintf(nu, sizeof(nu), "%lld", (long long)next_update);
	snprintf(pa, sizeof(pa), "%lld", (long long)produced_at);
	r = q(st, "storing an OCSP response", "INSERT INTO ocsp_responses "
	    "(serial, hash, status, der, this_update, next_update, "
	    "produced_at) VALUES ($1, $2, $3, $4, to_timestamp($5::bigint), "
	    "to_timestamp($6::bigint), to_timestamp($7::bigint)) "
	    "ON CONFLICT (serial, hash) DO UPDATE SET status = $3, der = $4, "
	    "this_update = to_timestamp($5::bigint), "
	    "next_update = to_timestamp($6::bigint), "
	    "produced_at = to_timestamp($7::bigint)", 7, v, l, f, 0, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/*
 * Pre-signed responses gathered for one upsert: each column a binary
 * PostgreSQL array (ndim, has-null, element type, then the dimension and
 * each element as a 32-bit length and its octets), expanded by unnest.
 */
struct col {
	uint8_t	*b;
	size_t	 len, cap;
};

struct store_ocsp_batch {
	struct col	c[7];
	int		n;
};

#define OID_TEXT	25
#define OID_BYTEA	17
#define OID_INT8	20

static int
col_put(struct col *c, const void *v, size_t n)
{
	uint8_t	*nb;
	size_t	 cap;

	if (c->len + 4 + n > c->cap) {
		for (cap = c->cap ? c->cap : 4096; cap < c->len + 4 + n;
		    cap *= 2)
			;
		if ((nb = realloc(c->b, cap)) == NULL)
			return -1;
		c->b = nb;
		c->cap = cap;
	}
	if (c->len == 0)
		c->len = 20;		/* the header, written at flush */
	wr32(c->b + c->len, (uint32_t)n);
	memcpy(c->b + c->len + 4, v, n);
	c->len += 4 + n;
	return 0;
}

struct store_ocsp_batch *
store_ocsp_batch_new(struct err *e)
{
	struct store_ocsp_batch	*b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		err_set(e, "out of memory");
	return b;
}

void
store_ocsp_batch_free(struct store_ocsp_batch *b)
{
	int	i;

	if (b == NULL)
		return;
	for (i = 0; i < 7; i++)
		free(b->c[i].b);
	free(b);
}

void
store_ocsp_batch_clear(struct store_ocsp_batch *b)
{
	int	i;

	for (i = 0; i < 7; i++)
		b->c[i].len = 0;
	b->n = 0;
}

int
store_ocsp_batch_count(const struct store_ocsp_batch *b)
{
	return b->n;
}

int
store_ocsp_batch_add(struct store_ocsp_batch *b, const char *serial,
    const char *hash, int revoked, const uint8_t *der, size_t len,
    time_t this_update, time_t next_update, time_t produced_at,
    struct err *e)
{
	const char	*status = revoked ? "revoked" : "good";
	uint8_t		 t[3][8];

	wr64(t[0], (uint64_t)(int64_t)this_update);
	wr64(t[1], (uint64_t)(int64_t)next_update);
	wr64(t[2], (uint64_t)(int64_t)produced_at);
	if (col_put(&b->c[0], serial, strlen(serial)) < 0 ||
	    col_put(&b->c[1], hash, strlen(hash)) < 0 ||
	    col_put(&b->c[2], status, strlen(status)) < 0 ||
	    col_put(&b->c[3], der, len) < 0 ||
	    col_put(&b->c[4], t[0], 8) < 0 || col_put(&b->c[5], t[1], 8) < 0 ||
	    col_put(&b->c[6], t[2], 8) < 0)
		return err_set(e, "out of memory");
	b->n++;
	return 0;
}

int
store_ocsp_batch_flush_tx(struct store *st, struct store_ocsp_batch *b,
    struct err *e)
{
	static const uint32_t	 oid[7] = { OID_TEXT, OID_TEXT, OID_TEXT,
				     OID_BYTEA, OID_INT8, OID_INT8, OID_INT8 };
	const char		*v[7];
	int			 l[7], f[7], i;
	PGresult		*r;

	if (b->n == 0)
		return 0;
	for (i = 0; i < 7; i++) {
		uint8_t	*h = b->c[i].b;

		/* ndim 1, no NULLs, element type; n elements from 1 */
		wr32(wr32(wr32(wr32(wr32(h, 1), 0), oid[i]), (uint32_t)b->n), 1);
		v[i] = (const char *)h;
		l[i] = (int)b->c[i].len;
		f[i] = 1;
	}
	r = q(st, "storing OCSP responses", "INSERT INTO ocsp_responses "
	    "(serial, hash, status, der, this_update, next_update, "
	    "produced_at) SELECT s, h, st, d, to_timestamp(tu), "
	    "to_timestamp(nu), to_timestamp(pa) FROM unnest($1::text[], "
	    "$2::text[], $3::text[], $4::bytea[], $5::int8[], $6::int8[], "
	    "$7::int8[]) AS u(s, h, st, d, tu, nu, pa) "
	    "ON CONFLICT (serial, hash) DO UPDATE SET status = EXCLUDED.status, "
	    "der = EXCLUDED.der, this_update = EXCLUDED.this_update, "
	    "next_update = EXCLUDED.next_update, "
	    "produced_at = EXCLUDED.produced_at", 7, v, l, f, 0, e);
	store_ocsp_batch_clear(b);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
store_ocsp_presign_tx(struct store *st, const char *after, int scan,
    int limit, time_t refresh_before, store_status_fn fn, void *arg,
    char window_end[41], struct err *e)
{
	char				 sc[16], li[16], rb[24];
	const char			*v[4] = { after, sc, li, rb };
	struct store_cert_status	 s;
	PGresult			*r;
	int				 i, rc = 0;

	snprintf(sc, sizeof(sc), "%d", scan);
	snprintf(li, sizeof(li), "%d", limit);
	snprintf(rb, sizeof(rb), "%lld", (long long)refresh_before);
	window_end[0] = '\0';
	/* First, so that it is the only lock taken before it: a revocation
	 * moves ocsp_epoch (sql/032) before it drops the serial's cached
	 * responses, so it waits here for this transaction's commit, and
	 * a revocation committed before it shows in the statuses read
	 * below. One row locked instead of every certificate signed for. */
	if (exec0(st, "locking the OCSP epoch", "SELECT n FROM ocsp_epoch "
	    "FOR SHARE", 0, NULL, e) < 0)
		return -1;
	r = q(st, "finding responses to pre-sign", "SELECT max(serial), "
	    "count(*) FROM (SELECT serial FROM certificates WHERE serial > $1 "
	    "ORDER BY serial LIMIT $2::int) w", 2, v, NULL, NULL, 0, e);
	if (r == NULL)
		return -1;
	if (PQgetisnull(r, 0, 0)) {
		PQclear(r);
		return 0;
	}
	snprintf(window_end, 41, "%s", PQgetvalue(r, 0, 0));
	if (atoi(PQgetvalue(r, 0, 1)) < scan)
		window_end[0] = '\0';	/* the last window */
	v[1] = PQgetvalue(r, 0, 0);
	{
		const char	*v2[4] = { after, v[1], li, rb };
		PGresult	*r2;

		r2 = q(st, "finding responses to pre-sign", "SELECT "
		    "c.serial, c.revoked_at IS NOT NULL, "
		    "coalesce(extract(epoch from c.revoked_at)::bigint, 0), "
		    "coalesce(c.revocation_reason, -1), "
		    "extract(epoch from c.not_after)::bigint "
		    "FROM certificates c LEFT JOIN ocsp_responses o ON "
		    "o.serial = c.serial AND o.hash = 'sha1' "
		    "WHERE c.serial > $1 AND c.serial <= $2 AND "
		    "c.not_after > now() AND (o.serial IS NULL OR "
		    "o.next_update < to_timestamp($4::bigint)) "
		    "ORDER BY c.serial LIMIT $3::int", 4, v2,
		    NULL, NULL, 0, e);
		PQclear(r);
		if (r2 == NULL)
			return -1;
		for (i = 0; i < PQntuples(r2) && rc == 0; i++) {
			status_row(r2, i, &s);
			rc = fn(arg, &s, e);
		}
		/* stopped at the limit: resume after the last one done */
		if (rc == 0 && PQntuples(r2) == limit)
			snprintf(window_end, 41, "%s",
			    PQgetvalue(r2, PQntuples(r2) - 1, 0));
		PQclear(r2);
	}
	return rc == 0 ? 0 : -1;
}

int
store_ocsp_queue_each(struct store *st, int limit, store_queue_fn fn,
    void *arg, struct err *e)
{
	char		 li[16];
	const char	*v[1] = { li };
	PGresult	*r;
	int		 i, rc = 0;

	snprintf(li, sizeof(li), "%d", limit);
	/* binary results: the request DER arrives as is */
	r = q(st, "reading the OCSP queue", "SELECT id, request, "
	    "coalesce(serial, '') FROM ocsp_queue WHERE answered_at IS NULL "
	    "ORDER BY id LIMIT $1::int", 1, v, NULL, NULL, 1, e);
	if (r == NULL)
		return -1;
	for (i = 0; i < PQntuples(r) && rc == 0; i++) {
		const uint8_t	*idp = (const uint8_t *)PQgetvalue(r, i, 0);
		int64_t		 id = 0;
		int		 k;

		for (k = 0; k < 8; k++)
			id = (id << 8) | idp[k];
		rc = fn(arg, id, PQgetisnull(r, i, 1) ? NULL :
		    (const uint8_t *)PQgetvalue(r, i, 1),
		    (size_t)PQgetlength(r, i, 1), PQgetvalue(r, i, 2), e);
	}
	PQclear(r);
	return rc == 0 ? 0 : -1;
}

int
store_ocsp_queue_answer(struct store *st, int64_t id, const uint8_t *der,
    size_t len, struct err *e)
{
	char		 ids[24];
	const char	*v[2] = { ids, (const char *)der };
	int		 l[2] = { 0, (int)len }, f[2] = { 0, 1 };
	PGresult	*r;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	r = q(st, "answering an OCSP request", "WITH a AS (UPDATE ocsp_queue "
	    "SET response = $2, answered_at = now() WHERE id = $1::bigint "
	    "RETURNING id) SELECT pg_notify('signet_ocsp', id::text) FROM a",
	    2, v, l, f, 0, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
store_ocsp_queue_prune(struct store *st, struct err *e)
{
	return exec0(st, "pruning the OCSP queue", "DELETE FROM ocsp_queue "
	    "WHERE created_at < now() - interval '1 minute'", 0, NULL, e);
}

int
store_rev_notify(struct store *st, const char *payload, struct err *e)
{
	if (store_wake(st, REVSVC_CHANNEL, payload, e) != 0)
		return err_wrap(e, "notifying ca-serve");
	return 0;
}
