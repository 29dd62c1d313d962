/*
 * store_req: SQL for requests and operators (sql/002_requests.sql).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store_req.h"

/* Group names travel joined by the ASCII unit separator, which no
 * directory group name contains. */
#define GROUP_SEP	"\x1f"

struct req_own {
	uint8_t		*csr;
	uint8_t		*escrow;
	char		*gstr;
	const char	**gv;
};

struct req_priv {
	PGresult	*res;
	struct req_own	*own;
};

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
rq(struct store *s, const char *sql, int n, const char *const *v,
    const int *len, const int *fmt, struct err *e)
{
	PGconn		*pg = store_pg(s);
	PGresult	*r;

	r = PQexecParams(pg, sql, n, NULL, v, len, fmt, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		pgfail(pg, e, "database");
		PQclear(r);
		return NULL;
	}
	return r;
}

#define REQ_COLS "id, coalesce(batch_id, 0), state, source, via_ra, " \
	"requester, requester_mail, authenticated, account_disabled, " \
	"on_behalf, array_to_string(groups, E'\\x1f'), email, display_name, " \
	"profile, days, csr, key_escrow, reason, decided_by, serial, " \
	"last_error, attempts, " \
	"coalesce(extract(epoch from decided_at)::bigint, 0), " \
	"extract(epoch from submitted_at)::bigint, " \
	"extract(epoch from updated_at)::bigint"

static const char *
opt(PGresult *r, int i, int c)
{
	return PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
}

static int
flag(PGresult *r, int i, int c)
{
	return strcmp(PQgetvalue(r, i, c), "t") == 0;
}

void
store_req_set_free(struct store_req_set *set)
{
	struct req_priv	*p;
	size_t		 i;

	if (set == NULL)
		return;
	if ((p = set->priv) != NULL) {
		for (i = 0; p->own != NULL && i < set->n; i++) {
			PQfreemem(p->own[i].csr);
			if (p->own[i].escrow != NULL) {
				/* sealed to the KRA, but still key material */
				memset(p->own[i].escrow, 0,
				    set->rows[i].key_escrow_len);
				PQfreemem(p->own[i].escrow);
			}
			free(p->own[i].gstr);
			free(p->own[i].gv);
		}
		free(p->own);
		PQclear(p->res);
		free(p);
	}
	free(set->rows);
	memset(set, 0, sizeof(*set));
}

static int
split_groups(struct req_own *o, struct req_row *row, const char *joined,
    struct err *e)
{
	size_t	 n = 1, i;
	char	*s, *t;

	if (*joined == '\0')
		return 0;
	for (s = (char *)joined; *s != '\0'; s++)
		if (*s == GROUP_SEP[0])
			n++;
	if ((o->gstr = strdup(joined)) == NULL ||
	    (o->gv = calloc(n, sizeof(*o->gv))) == NULL)
		return err_set(e, "out of memory");
	for (i = 0, s = o->gstr; i < n; i++, s = t + 1) {
		o->gv[i] = s;
		if ((t = strchr(s, GROUP_SEP[0])) == NULL)
			break;
		*t = '\0';
	}
	row->groups = o->gv;
	row->ngroups = n;
	return 0;
}

/* Takes ownership of r. */
static int
fill_set(PGresult *r, struct store_req_set *out, struct err *e)
{
	struct req_priv	*p;
	struct req_row	*w;
	struct req_own	*o;
	size_t		 n = (size_t)PQntuples(r), i;

	memset(out, 0, sizeof(*out));
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		PQclear(r);
		return err_set(e, "out of memory");
	}
	p->res = r;
	out->priv = p;
	if (n == 0)
		return 0;
	if ((out->rows = calloc(n, sizeof(*out->rows))) == NULL ||
	    (p->own = calloc(n, sizeof(*p->own))) == NULL) {
		store_req_set_free(out);
		return err_set(e, "out of memory");
	}
	out->n = n;
	for (i = 0; i < n; i++) {
		w = &out->rows[i];
		o = &p->own[i];
		w->id = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
		w->batch_id = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
		w->state = PQgetvalue(r, (int)i, 2);
		w->source = PQgetvalue(r, (int)i, 3);
		w->via_ra = flag(r, (int)i, 4);
		w->requester = PQgetvalue(r, (int)i, 5);
		w->requester_mail = opt(r, (int)i, 6);
		w->authenticated = flag(r, (int)i, 7);
		w->account_disabled = flag(r, (int)i, 8);
		w->on_behalf = flag(r, (int)i, 9);
		if (split_groups(o, w, PQgetvalue(r, (int)i, 10), e) != 0)
			goto fail;
		w->email = PQgetvalue(r, (int)i, 11);
		w->display_name = opt(r, (int)i, 12);
		w->profile = PQgetvalue(r, (int)i, 13);
		w->days = (unsigned)strtoul(PQgetvalue(r, (int)i, 14), NULL,
		    10);
		o->csr = PQunescapeBytea((const unsigned char *)
		    PQgetvalue(r, (int)i, 15), &w->csr_len);
		if (o->csr == NULL)
			goto oom;
		w->csr = o->csr;
		if (!PQgetisnull(r, (int)i, 16)) {
			o->escrow = PQunescapeBytea((const unsigned char *)
			    PQgetvalue(r, (int)i, 16), &w->key_escrow_len);
			if (o->escrow == NULL)
				goto oom;
			w->key_escrow = o->escrow;
		}
		w->reason = opt(r, (int)i, 17);
		w->decided_by = opt(r, (int)i, 18);
		w->serial = opt(r, (int)i, 19);
		w->last_error = opt(r, (int)i, 20);
		w->attempts = atoi(PQgetvalue(r, (int)i, 21));
		w->decided_at = strtoll(PQgetvalue(r, (int)i, 22), NULL, 10);
		w->submitted_at = strtoll(PQgetvalue(r, (int)i, 23), NULL, 10);
		w->updated_at = strtoll(PQgetvalue(r, (int)i, 24), NULL, 10);
	}
	return 0;
oom:
	err_set(e, "out of memory");
fail:
	store_req_set_free(out);
	return -1;
}

static char *
join_groups(const char *const *g, size_t n)
{
	size_t	 len = 1, i;
	char	*s;

	for (i = 0; i < n; i++)
		len += strlen(g[i]) + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, GROUP_SEP);
		strcat(s, g[i]);
	}
	return s;
}

static const char SQL_REQ_INSERT[] =
    "INSERT INTO requests (batch_id, source, via_ra, "
    "requester, requester_mail, authenticated, account_disabled, "
    "on_behalf, groups, email, display_name, profile, days, csr, "
    "key_escrow, key_pickup) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
    "string_to_array($9, E'\\x1f'), $10, $11, $12, $13, $14, $15, "
    "$16) RETURNING id";

int
store_req_insert(struct store *s, const struct req_row *r, int64_t *id,
    struct err *e)
{
	char		 days[16], batch[24];
	char		*groups;
	const char	*v[18];
	int		 l[18] = { 0 }, f[18] = { 0 };
	PGresult	*res;
	size_t		 i;

	for (i = 0; i < r->ngroups; i++)
		if (strchr(r->groups[i], GROUP_SEP[0]) != NULL)
			return err_set(e, "a group name contains a control "
			    "character");
	if ((groups = join_groups(r->groups, r->ngroups)) == NULL)
		return err_set(e, "out of memory");
	snprintf(days, sizeof(days), "%u", r->days);
	snprintf(batch, sizeof(batch), "%" PRId64, r->batch_id);
	v[0] = r->batch_id ? batch : NULL;
	v[1] = r->source;
	v[2] = r->via_ra ? "t" : "f";
	v[3] = r->requester;
	v[4] = r->requester_mail;
	v[5] = r->authenticated ? "t" : "f";
	v[6] = r->account_disabled ? "t" : "f";
	v[7] = r->on_behalf ? "t" : "f";
	v[8] = groups;
	v[9] = r->email;
	v[10] = r->display_name;
	v[11] = r->profile;
	v[12] = days;
	v[13] = (const char *)r->csr;
	l[13] = (int)r->csr_len;
	f[13] = 1;
	v[14] = (const char *)r->key_escrow;
	l[14] = (int)r->key_escrow_len;
	f[14] = 1;
	v[15] = (const char *)r->key_pickup;
	l[15] = (int)r->key_pickup_len;
	f[15] = 1;
	res = store_execp(s, SQL_REQ_INSERT, 16, v, l, f, e);
	free(groups);
	if (res == NULL)
		return -1;
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (r->batch_id != 0) {
		v[0] = batch;
		res = rq(s, "UPDATE requests SET batch_id = id WHERE id = $1 "
		    "AND batch_id IS NULL", 1, v, NULL, NULL, e);
		if (res == NULL)
			return -1;
		PQclear(res);
	}
	return 0;
}

static const char SQL_REQ_INSERT_MANY[] =
    "INSERT INTO requests (source, via_ra, requester, requester_mail, "
    "authenticated, account_disabled, on_behalf, groups, email, "
    "display_name, profile, days, csr, key_escrow, key_pickup) "
    "SELECT so, vr, rq, rm, au, ad, ob, string_to_array(g, E'\\x1f'), em, "
    "dn, pr, d, c, ke, kp FROM unnest($1::text[], $2::bool[], $3::text[], "
    "$4::text[], $5::bool[], $6::bool[], $7::bool[], $8::text[], "
    "$9::text[], $10::text[], $11::text[], $12::int[], $13::bytea[], "
    "$14::bytea[], $15::bytea[]) WITH ORDINALITY AS u(so, vr, rq, rm, au, "
    "ad, ob, g, em, dn, pr, d, c, ke, kp, i) ORDER BY i RETURNING id";

#define INSERT_MANY_COLS	15

int
store_req_insert_send(struct store *s, const struct req_row *rows, size_t n,
    struct err *e)
{
	struct store_arr	 a[INSERT_MANY_COLS];
	const struct req_row	*r;
	const char		*v[INSERT_MANY_COLS];
	char			*groups;
	size_t			 i, k;
	int			 rc = -1;

	if (n == 0)
		return err_set(e, "no requests to insert");
	for (k = 0; k < INSERT_MANY_COLS; k++)
		store_arr_init(&a[k]);
	for (i = 0; i < n; i++) {
		r = &rows[i];
		if (r->batch_id != 0) {
			err_set(e, "a batch member is inserted alone");
			goto out;
		}
		for (k = 0; k < r->ngroups; k++)
			if (strchr(r->groups[k], GROUP_SEP[0]) != NULL) {
				err_set(e, "a group name contains a control "
				    "character");
				goto out;
			}
		if ((groups = join_groups(r->groups, r->ngroups)) == NULL) {
			err_set(e, "out of memory");
			goto out;
		}
		store_arr_text(&a[0], r->source);
		store_arr_text(&a[1], r->via_ra ? "t" : "f");
		store_arr_text(&a[2], r->requester);
		store_arr_text(&a[3], r->requester_mail);
		store_arr_text(&a[4], r->authenticated ? "t" : "f");
		store_arr_text(&a[5], r->account_disabled ? "t" : "f");
		store_arr_text(&a[6], r->on_behalf ? "t" : "f");
		store_arr_text(&a[7], groups);
		free(groups);
		store_arr_text(&a[8], r->email);
		store_arr_text(&a[9], r->display_name);
		store_arr_text(&a[10], r->profile);
		store_arr_int(&a[11], r->days);
		store_arr_bytea(&a[12], r->csr, r->csr_len);
		if (r->key_escrow != NULL)
			store_arr_bytea(&a[13], r->key_escrow,
			    r->key_escrow_len);
		else
			store_arr_text(&a[13], NULL);
		if (r->key_pickup != NULL)
			store_arr_bytea(&a[14], r->key_pickup,
			    r->key_pickup_len);
		else
			store_arr_text(&a[14], NULL);
	}
	for (k = 0; k < INSERT_MANY_COLS; k++)
		if ((v[k] = store_arr_str(&a[k])) == NULL) {
			err_set(e, "out of memory");
			goto out;
		}
	/* libpq copies the values into its buffer as it sends */
	rc = store_pipe_send(s, SQL_REQ_INSERT_MANY, INSERT_MANY_COLS, v, NULL,
	    NULL, e);
out:
	for (k = 0; k < INSERT_MANY_COLS; k++)
		store_arr_free(&a[k]);
	return rc;
}

int
store_req_insert_take(struct store *s, int i, size_t n, int64_t *ids,
    struct err *e)
{
	PGresult	*res;
	size_t		 k;
	int		 rc = 0;

	if ((res = store_pipe_take(s, i)) == NULL)
		return err_set(e, "database: no ids for the requests");
	if ((size_t)PQntuples(res) != n)
		rc = err_set(e, "database: %d ids for %zu requests",
		    PQntuples(res), n);
	for (k = 0; rc == 0 && k < n; k++)
		ids[k] = strtoll(PQgetvalue(res, (int)k, 0), NULL, 10);
	PQclear(res);
	return rc;
}

/*
 * A claim's inner query (w) skips rows another transaction holds (an
 * officer mid-update, another lane); CLAIM_GROUPS then waits for the
 * claimed rows' batch members, so a pair is never split, and returns
 * them all, locked, in group order. A failed request backs off 5 s per
 * attempt. Each group's members are found by an index probe of its own
 * (LATERAL ... OFFSET 0 keeps it a nested loop): as a join, the generic
 * plan of a table last analysed small was a hash join over every request
 * ever made, on every claim.
 */
#define CLAIM_GROUPS \
    "SELECT " REQ_COLS " FROM requests WHERE id = ANY (ARRAY (" \
    "SELECT id FROM w UNION SELECT x.id FROM w, LATERAL (" \
    "SELECT b.id FROM requests b WHERE b.batch_id = w.g OFFSET 0) x)) " \
    "ORDER BY coalesce(batch_id, id), id FOR UPDATE"

/*
 * The LIMIT stays a parameter, so the claim is planned afresh on each call
 * (about 0.55 ms of the database's CPU; no generic plan, not knowing the
 * limit, looks cheaper). Written into the text, the claim was planned
 * once per connection, on its first call, and the drain of a backlog of
 * 20,000 requests fell from 3,300-3,800/s to 2,500-2,900/s (three fresh
 * instances each): the plan made while every row waited stayed in use
 * as they were issued. The steady load saved about 2% of the database's
 * CPU, within the noise.
 */
static const char SQL_CLAIM[] =
    "WITH w AS (SELECT id, coalesce(batch_id, id) AS g "
    "FROM requests WHERE state IN ('submitted', 'approved') AND "
    "(attempts = 0 OR updated_at < now() - "
    "make_interval(secs => 5 * attempts)) "
    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) "
    CLAIM_GROUPS;

int
store_req_claim_begin(struct store *s, unsigned limit,
    struct store_req_set *out, struct err *e)
{
	char		 lim[16];
	const char	*v[1] = { lim };
	struct err	 ignored;
	int		 i;

	memset(out, 0, sizeof(*out));
	snprintf(lim, sizeof(lim), "%u", limit);
	/* the BEGIN travels with the claim */
	if (store_pipe_begin(s, e) != 0)
		return -1;
	if (store_pipe_cmd(s, "BEGIN", e) < 0 ||
	    (i = store_pipe_send(s, SQL_CLAIM, 1, v, NULL, NULL, e)) < 0) {
		(void)store_pipe_run(s, &ignored);
		return -1;
	}
	if (store_pipe_run(s, e) != 0)
		return -1;
	return fill_set(store_pipe_take(s, i), out, e);
}

int
store_req_claim_one(struct store *s, int64_t id, struct store_req_set *out,
    struct err *e)
{
	char		 ids[24];
	const char	*v[1] = { ids };
	PGresult	*r;

	memset(out, 0, sizeof(*out));
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	r = rq(s, "WITH w AS (SELECT id, coalesce(batch_id, id) AS g "
	    "FROM requests WHERE id = $1 AND state IN ('submitted', "
	    "'approved') FOR UPDATE SKIP LOCKED) "
	    CLAIM_GROUPS, 1, v, NULL, NULL, e);
	if (r == NULL)
		return -1;
	return fill_set(r, out, e);
}

int
store_req_get(struct store *s, int64_t id, struct store_req_set *out,
    struct err *e)
{
	char		 ids[24];
	const char	*v[1] = { ids };
	PGresult	*r;

	memset(out, 0, sizeof(*out));
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	r = rq(s, "SELECT " REQ_COLS " FROM requests WHERE id = $1", 1, v,
	    NULL, NULL, e);
	if (r == NULL)
		return -1;
	return fill_set(r, out, e);
}

int
store_req_list(struct store *s, const char *state, unsigned limit,
    struct store_req_set *out, struct err *e)
{
	char		 lim[16];
	const char	*v[2] = { state, lim };
	PGresult	*r;

	memset(out, 0, sizeof(*out));
	snprintf(lim, sizeof(lim), "%u", limit);
	r = rq(s, "SELECT " REQ_COLS " FROM requests WHERE $1::text IS NULL "
	    "OR state = $1 ORDER BY id LIMIT $2", 2, v, NULL, NULL, e);
	if (r == NULL)
		return -1;
	return fill_set(r, out, e);
}

int
store_req_cert_facts(struct store *s, const char *email, const char *profile,
    const uint8_t spki_sha256[32], unsigned *valid_certs, int *key_certified,
    struct err *e)
{
	const char	*v[3] = { email, profile, (const char *)spki_sha256 };
	int		 l[3] = { 0, 0, 32 }, f[3] = { 0, 0, 1 };
	PGresult	*r;

	r = rq(s, "SELECT (SELECT count(*) FROM certificates WHERE "
	    "lower(email) = lower($1) AND profile = $2 AND revoked_at IS NULL "
	    "AND not_after > now()), EXISTS (SELECT 1 FROM certificates "
	    "WHERE spki_sha256 = $3)", 3, v, l, f, e);
	if (r == NULL)
		return -1;
	*valid_certs = (unsigned)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
	*key_certified = flag(r, 0, 1);
	PQclear(r);
	return 0;
}

int
store_req_decide(struct store *s, int64_t id, const char *state,
    const char *reason, const char *decided_by, const char *serial,
    const char *profile, unsigned days, struct err *e)
{
	char		 ids[24], d[16];
	const char	*v[7] = { ids, state, reason, decided_by, serial,
	    profile, days ? d : NULL };
	PGresult	*r;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	snprintf(d, sizeof(d), "%u", days);
	r = rq(s, "UPDATE requests SET state = $2, reason = $3, "
	    "decided_by = coalesce($4, decided_by), "
	    "decided_at = CASE WHEN $4::text IS NULL THEN decided_at "
	    "ELSE now() END, serial = $5, "
	    "profile = coalesce($6, profile), days = coalesce($7::int, days), "
	    /* clock time, not the batch's start: latency is measured by it */
	    "last_error = NULL, updated_at = clock_timestamp() WHERE id = $1", 7, v, NULL,
	    NULL, e);
	if (r == NULL)
		return -1;
	if (strcmp(PQcmdTuples(r), "1") != 0) {
		PQclear(r);
		return err_set(e, "request %" PRId64 " vanished", id);
	}
	PQclear(r);
	return 0;
}

/*
 * One index probe per request for each fact. The key test is a scalar
 * subquery with LIMIT, not EXISTS: for EXISTS the planner may choose a
 * hashed subplan, which reads every certificate once per batch, and it
 * does so for the generic plan of a table it last saw small.
 */
/*
 * Transaction-level advisory locks on every mailbox and key of a set, in
 * one sorted pass so that two sets wait for each other in one order only.
 * Two ca-serve lanes deciding sets that share a mailbox or a key would
 * each count without the other's certificates; with these held to the
 * commit, the second reads its facts after the first has committed.
 * Keys: class 1397048913 for mailboxes as the count folds them,
 * 1397048914 for SHA-256 SPKI digests; the two-key advisory space is
 * apart from the one-key space of the other ca-serve locks.
 */
static const char SQL_FACTS_LOCK[] =
    "SELECT count(pg_advisory_xact_lock(k.c, k.h)) FROM ("
    "SELECT DISTINCT c, h FROM ("
    "SELECT 1397048913 AS c, hashtext(lower(m)) AS h "
    "FROM unnest($1::text[]) m UNION ALL "
    "SELECT 1397048914, hashtext(encode(s, 'hex')) "
    "FROM unnest($2::bytea[]) s) u ORDER BY c, h OFFSET 0) k";

static const char SQL_FACTS_MANY[] =
    "SELECT lower(u.email), (SELECT count(*) FROM certificates c WHERE "
    "lower(c.email) = lower(u.email) AND c.profile = u.profile AND "
    "c.revoked_at IS NULL AND c.not_after > now()), (SELECT true "
    "FROM certificates c WHERE c.spki_sha256 = u.spki LIMIT 1) IS NOT NULL "
    "FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY "
    "AS u(email, profile, spki, i) ORDER BY u.i";

int
store_req_cert_facts_many(struct store *s, size_t n,
    const char *const *email, const char *const *profile,
    const uint8_t (*spki)[32], struct store_req_facts *out, struct err *e)
{
	struct store_arr	 a[3];
	const char		*v[3], *lv[2];
	struct err		 ignored;
	PGresult		*r = NULL;
	size_t			 i;
	int			 k, rc = -1;

	memset(out, 0, n * sizeof(*out));
	if (n == 0)
		return 0;
	for (k = 0; k < 3; k++)
		store_arr_init(&a[k]);
	for (i = 0; i < n; i++) {
		store_arr_text(&a[0], email[i]);
		store_arr_text(&a[1], profile[i]);
		store_arr_bytea(&a[2], spki[i], 32);
	}
	for (k = 0; k < 3; k++)
		if ((v[k] = store_arr_str(&a[k])) == NULL) {
			err_set(e, "out of memory");
			goto out;
		}
	lv[0] = v[0];
	lv[1] = v[2];
	/* the locks and the facts in one round trip: the facts are read
	 * after the locks are granted */
	if (store_pipe_begin(s, e) != 0)
		goto out;
	if (store_pipe_send(s, SQL_FACTS_LOCK, 2, lv, NULL, NULL, e) < 0 ||
	    (k = store_pipe_send(s, SQL_FACTS_MANY, 3, v, NULL, NULL,
	    e)) < 0) {
		(void)store_pipe_run(s, &ignored);
		goto out;
	}
	if (store_pipe_run(s, e) != 0)
		goto out;
	r = store_pipe_take(s, k);
	if ((size_t)PQntuples(r) != n) {
		err_set(e, "database: %d answers for %zu requests",
		    PQntuples(r), n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((out[i].mailbox = strdup(PQgetvalue(r, (int)i, 0))) ==
		    NULL) {
			err_set(e, "out of memory");
			goto out;
		}
		out[i].valid_certs = (unsigned)strtoul(PQgetvalue(r, (int)i,
		    1), NULL, 10);
		out[i].key_certified = flag(r, (int)i, 2);
	}
	rc = 0;
out:
	if (rc != 0)
		store_req_facts_free(out, n);
	PQclear(r);
	for (k = 0; k < 3; k++)
		store_arr_free(&a[k]);
	return rc;
}

void
store_req_facts_free(struct store_req_facts *f, size_t n)
{
	size_t	i;

	for (i = 0; f != NULL && i < n; i++) {
		free(f[i].mailbox);
		f[i].mailbox = NULL;
	}
}

static const char SQL_DECIDE_MANY[] =
    "UPDATE requests r SET state = u.state, reason = u.reason, "
    "decided_by = coalesce(u.by, r.decided_by), "
    "decided_at = CASE WHEN u.by IS NULL THEN r.decided_at ELSE now() END, "
    "serial = u.serial, profile = coalesce(u.profile, r.profile), "
    "days = coalesce(u.days, r.days), last_error = NULL, "
    /* clock time, not the batch's start: latency is measured by it */
    "updated_at = clock_timestamp() "
    "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], "
    "$5::text[], $6::text[], $7::int[]) "
    "AS u(id, state, reason, by, serial, profile, days) WHERE r.id = u.id";

/* The decisions' arrays; 0, or -1 when out of memory. */
static int
decide_values(struct store_arr *a, const char **v,
    const struct store_req_decision *d, size_t n, struct err *e)
{
	size_t	i;
	int	k;

	for (k = 0; k < 7; k++)
		store_arr_init(&a[k]);
	for (i = 0; i < n; i++) {
		store_arr_int(&a[0], d[i].id);
		store_arr_text(&a[1], d[i].state);
		store_arr_text(&a[2], d[i].reason);
		store_arr_text(&a[3], d[i].decided_by);
		store_arr_text(&a[4], d[i].serial);
		store_arr_text(&a[5], d[i].profile);
		if (d[i].days != 0)
			store_arr_int(&a[6], d[i].days);
		else
			store_arr_text(&a[6], NULL);
	}
	for (k = 0; k < 7; k++)
		if ((v[k] = store_arr_str(&a[k])) == NULL)
			return err_set(e, "out of memory");
	return 0;
}

static int
decided(PGresult *r, size_t n, struct err *e)
{
	int	rc = 0;

	if (r == NULL)
		return err_set(e, "database: no answer to the decisions");
	if (strtoul(PQcmdTuples(r), NULL, 10) != n)
		rc = err_set(e, "%s of %zu requests changed: some vanished",
		    PQcmdTuples(r), n);
	PQclear(r);
	return rc;
}

int
store_req_decide_send(struct store *s, const struct store_req_decision *d,
    size_t n, struct err *e)
{
	struct store_arr	 a[7];
	const char		*v[7];
	int			 k, rc = -1;

	if (decide_values(a, v, d, n, e) == 0)
		rc = store_pipe_send(s, SQL_DECIDE_MANY, 7, v, NULL, NULL, e);
	for (k = 0; k < 7; k++)
		store_arr_free(&a[k]);
	return rc;
}

int
store_req_decide_take(struct store *s, int i, size_t n, struct err *e)
{
	return decided(store_pipe_take(s, i), n, e);
}

int
store_req_fail(struct store *s, int64_t id, const char *error, int *attempts,
    struct err *e)
{
	char		 ids[24];
	const char	*v[2] = { ids, error };
	PGresult	*r;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	r = rq(s, "UPDATE requests SET attempts = attempts + 1, "
	    "last_error = $2, updated_at = now() WHERE id = $1 "
	    "RETURNING attempts", 2, v, NULL, NULL, e);
	if (r == NULL)
		return -1;
	*attempts = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	return 0;
}

int
store_req_officer(struct store *s, int64_t id, const char *to_state,
    const char *reason, const char *decided_by, int64_t **ids, size_t *n,
    struct err *e)
{
	char		 idv[24];
	const char	*v[4] = { idv, to_state, reason, decided_by };
	PGresult	*r;
	int		 i;

	*ids = NULL;
	*n = 0;
	snprintf(idv, sizeof(idv), "%" PRId64, id);
	/* WHERE state = 'pending' is re-checked on the locked row: of two
	 * officers deciding at once, the second changes nothing. */
	r = rq(s, "UPDATE requests SET state = $2, reason = $3, "
	    "decided_by = $4, decided_at = now(), updated_at = now() "
	    "WHERE state = 'pending' AND (id = $1 OR (batch_id IS NOT NULL "
	    "AND batch_id = (SELECT batch_id FROM requests WHERE id = $1))) "
	    "AND EXISTS (SELECT 1 FROM requests WHERE id = $1 AND "
	    "state = 'pending') RETURNING id", 4, v, NULL, NULL, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) > 0) {
		if ((*ids = calloc((size_t)PQntuples(r), sizeof(**ids))) ==
		    NULL) {
			PQclear(r);
			return err_set(e, "out of memory");
		}
		for (i = 0; i < PQntuples(r); i++)
			(*ids)[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		*n = (size_t)PQntuples(r);
	}
	PQclear(r);
	return 0;
}

static int
each_op(PGresult *r, store_op_fn fn, void *arg)
{
	struct op_row	o;
	int		i;

	for (i = 0; i < PQntuples(r); i++) {
		memset(&o, 0, sizeof(o));
		o.name = PQgetvalue(r, i, 0);
		o.role = PQgetvalue(r, i, 1);
		o.password_hash = opt(r, i, 2);
		o.disabled = flag(r, i, 3);
		o.created_at = strtoll(PQgetvalue(r, i, 4), NULL, 10);
		if (fn(arg, &o) != 0)
			break;
	}
	return 0;
}

#define OP_COLS "name, role, password_hash, disabled, " \
	"extract(epoch from created_at)::bigint"

int
store_op_insert(struct store *s, const char *name, const char *role,
    const char *password_hash, struct err *e)
{
	const char	*v[3] = { name, role, password_hash };
	PGresult	*r;
	int		 rc;

	r = rq(s, "INSERT INTO operators (name, role, password_hash) "
	    "VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING", 3, v, NULL,
	    NULL, e);
	if (r == NULL)
		return -1;
	rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : 1;
	PQclear(r);
	return rc;
}

int
store_op_get(struct store *s, const char *name, store_op_fn fn, void *arg,
    struct err *e)
{
	const char	*v[1] = { name };
	PGresult	*r;
	int		 rc;

	r = rq(s, "SELECT " OP_COLS " FROM operators WHERE name = $1", 1, v,
	    NULL, NULL, e);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 0 ? 1 : each_op(r, fn, arg);
	PQclear(r);
	return rc;
}

int
store_op_list(struct store *s, store_op_fn fn, void *arg, struct err *e)
{
	PGresult	*r;

	r = rq(s, "SELECT " OP_COLS " FROM operators ORDER BY name", 0, NULL,
	    NULL, NULL, e);
	if (r == NULL)
		return -1;
	each_op(r, fn, arg);
	PQclear(r);
	return 0;
}

int
store_op_disable(struct store *s, const char *name, struct err *e)
{
	const char	*v[1] = { name };
	PGresult	*r;
	int		 rc;

	r = rq(s, "UPDATE operators SET disabled = true WHERE name = $1", 1,
	    v, NULL, NULL, e);
	if (r == NULL)
		return -1;
	rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : 1;
	PQclear(r);
	return rc;
}
