/*
 * store_kra: key recovery SQL (sql/040_kra.sql); see store_kra.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "store_kra.h"

#define UNIQUE_VIOLATION	"23505"

void
kra_blob_free(struct kra_blob *b)
{
	if (b == NULL || b->p == NULL)
		return;
	sodium_memzero(b->p, b->len);
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

static int
pgfail(struct store *st, PGresult *r, struct err *e, const char *what)
{
	const char	*m = PQresultErrorMessage(r);
	size_t		 n;

	if (m == NULL || *m == '\0')
		m = PQerrorMessage(store_pg(st));
	n = strlen(m);
	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	return err_set(e, "%s: %.*s", what, (int)n, m);
}

/*
 * Runs sql with parameters (bytea ones binary: len/fmt set). Returns the
 * result, or NULL with e set. *unique is set on a unique violation when
 * unique is not NULL (and NULL is returned without a message).
 */
static PGresult *
run(struct store *st, const char *what, const char *sql, int n,
    const char *const *v, const int *len, const int *fmt, int *unique,
    struct err *e)
{
	PGresult	*r;
	const char	*state;

	r = PQexecParams(store_pg(st), sql, n, NULL, v, len, fmt, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (unique != NULL && state != NULL &&
	    strcmp(state, UNIQUE_VIOLATION) == 0) {
		*unique = 1;
		PQclear(r);
		return NULL;
	}
	pgfail(st, r, e, what);
	PQclear(r);
	return NULL;
}

static int
exec0(struct store *st, const char *what, const char *sql, int n,
    const char *const *v, const int *len, const int *fmt, struct err *e)
{
	PGresult	*r;

	if ((r = run(st, what, sql, n, v, len, fmt, NULL, e)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/* A bytea column (text result) into a malloc'd, wipe-able blob. */
static int
get_blob(PGresult *r, int row, int col, struct kra_blob *b, struct err *e)
{
	unsigned char	*u;
	size_t		 n;

	b->p = NULL;
	b->len = 0;
	if (PQgetisnull(r, row, col))
		return 0;
	u = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
	if (u == NULL)
		return err_set(e, "out of memory");
	if ((b->p = malloc(n > 0 ? n : 1)) == NULL) {
		PQfreemem(u);
		return err_set(e, "out of memory");
	}
	memcpy(b->p, u, n);
	b->len = n;
	sodium_memzero(u, n);
	PQfreemem(u);
	return 0;
}

static int
get_fixed(PGresult *r, int row, int col, uint8_t *out, size_t want,
    struct err *e)
{
	struct kra_blob	b;

	if (get_blob(r, row, col, &b, e) != 0)
		return -1;
	if (b.len != want) {
		kra_blob_free(&b);
		return err_set(e, "database value has %zu octets, expected %zu",
		    b.len, want);
	}
	memcpy(out, b.p, want);
	kra_blob_free(&b);
	return 0;
}

static void
copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

void
store_kra_agent_row_free(struct kra_agent_row *a)
{
	if (a == NULL)
		return;
	kra_blob_free(&a->sealed_sk);
}

int
store_kra_operator_agent(struct store *st, const char *name, struct err *e)
{
	const char	*v[1] = { name };
	PGresult	*r;
	int		 rc = -1;

	if (exec0(st, "adding the recovery agent",
	    "INSERT INTO operators (name, role) VALUES ($1, 'recovery-agent') "
	    "ON CONFLICT (name) DO NOTHING", 1, v, NULL, NULL, e) != 0)
		return -1;
	r = run(st, "reading the operator",
	    "SELECT role, disabled FROM operators WHERE name = $1",
	    1, v, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) != 1)
		err_set(e, "operator %s: not found", name);
	else if (strcmp(PQgetvalue(r, 0, 0), "recovery-agent") != 0)
		err_set(e, "operator %s has role %s, not recovery-agent", name,
		    PQgetvalue(r, 0, 0));
	else if (strcmp(PQgetvalue(r, 0, 1), "t") == 0)
		err_set(e, "operator %s is disabled", name);
	else
		rc = 0;
	PQclear(r);
	return rc;
}

int
store_kra_agent_put(struct store *st, const struct kra_agent_row *a,
    struct err *e)
{
	char		 ops[24], mem[24];
	const char	*v[6] = { a->name, (const char *)a->pk,
	    (const char *)a->sealed_sk.p, (const char *)a->salt, ops, mem };
	int		 len[6] = { 0, 32, (int)a->sealed_sk.len, 16, 0, 0 };
	int		 fmt[6] = { 0, 1, 1, 1, 0, 0 };

	snprintf(ops, sizeof(ops), "%llu", a->opslimit);
	snprintf(mem, sizeof(mem), "%zu", a->memlimit);
	return exec0(st, "storing the agent key",
	    "INSERT INTO kra_agents (name, pk, sealed_sk, salt, opslimit, "
	    "memlimit) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO "
	    "UPDATE SET pk = $2, sealed_sk = $3, salt = $4, opslimit = $5, "
	    "memlimit = $6, created_at = now()", 6, v, len, fmt, e);
}

static int
agent_from(PGresult *r, int i, struct kra_agent_row *a, struct err *e)
{
	memset(a, 0, sizeof(*a));
	copy_str(a->name, sizeof(a->name), PQgetvalue(r, i, 0));
	if (get_fixed(r, i, 1, a->pk, 32, e) != 0 ||
	    get_blob(r, i, 2, &a->sealed_sk, e) != 0 ||
	    get_fixed(r, i, 3, a->salt, 16, e) != 0)
		return -1;
	a->opslimit = strtoull(PQgetvalue(r, i, 4), NULL, 10);
	a->memlimit = (size_t)strtoull(PQgetvalue(r, i, 5), NULL, 10);
	return 0;
}

#define AGENT_COLS "name, pk, sealed_sk, salt, opslimit, memlimit"

int
store_kra_agent_get(struct store *st, const char *name,
    struct kra_agent_row *out, struct err *e)
{
	const char	*v[1] = { name };
	PGresult	*r;
	int		 rc;

	memset(out, 0, sizeof(*out));
	r = run(st, "reading the agent", "SELECT " AGENT_COLS
	    " FROM kra_agents WHERE name = $1", 1, v, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0)
		rc = 1;
	else
		rc = agent_from(r, 0, out, e);
	PQclear(r);
	return rc;
}

int
store_kra_agent_delete(struct store *st, const char *name, struct err *e)
{
	const char	*v[1] = { name };

	return exec0(st, "removing the agent",
	    "DELETE FROM kra_agents WHERE name = $1", 1, v, NULL, NULL, e);
}

int
store_kra_agent_list(struct store *st, struct kra_agent_row **rows,
    size_t *n, struct err *e)
{
	PGresult	*r;
	int		 i, rc = 0;

	*rows = NULL;
	*n = 0;
	r = run(st, "listing agents", "SELECT " AGENT_COLS
	    " FROM kra_agents ORDER BY name", 0, NULL, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) > 0 &&
	    (*rows = calloc((size_t)PQntuples(r), sizeof(**rows))) == NULL)
		rc = err_set(e, "out of memory");
	for (i = 0; rc == 0 && i < PQntuples(r); i++) {
		rc = agent_from(r, i, &(*rows)[i], e);
		*n = (size_t)i + 1;
	}
	PQclear(r);
	return rc;
}

#define KEY_COLS "generation, pk, threshold, grace_days, active"

static int
key_from(PGresult *r, struct kra_key_row *k, struct err *e)
{
	k->generation = atoi(PQgetvalue(r, 0, 0));
	k->threshold = (unsigned)atoi(PQgetvalue(r, 0, 2));
	k->grace_days = (unsigned)atoi(PQgetvalue(r, 0, 3));
	k->active = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
	return get_fixed(r, 0, 1, k->pk, 32, e);
}

int
store_kra_key_active(struct store *st, struct kra_key_row *out,
    struct err *e)
{
	PGresult	*r;
	int		 rc;

	r = run(st, "reading the KRA key", "SELECT " KEY_COLS
	    " FROM kra_keys WHERE active FOR UPDATE", 0, NULL, NULL, NULL,
	    NULL, e);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 0 ? 1 : key_from(r, out, e);
	PQclear(r);
	return rc;
}

int
store_kra_key_get(struct store *st, int generation, struct kra_key_row *out,
    struct err *e)
{
	char		 g[16];
	const char	*v[1] = { g };
	PGresult	*r;
	int		 rc;

	snprintf(g, sizeof(g), "%d", generation);
	r = run(st, "reading the KRA key", "SELECT " KEY_COLS
	    " FROM kra_keys WHERE generation = $1", 1, v, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 0 ? 1 : key_from(r, out, e);
	PQclear(r);
	return rc;
}

int
store_kra_key_add(struct store *st, const struct kra_key_row *k,
    struct err *e)
{
	char		 g[16], t[16], d[16];
	const char	*v[4] = { g, (const char *)k->pk, t, d };
	int		 len[4] = { 0, 32, 0, 0 }, fmt[4] = { 0, 1, 0, 0 };

	snprintf(g, sizeof(g), "%d", k->generation);
	snprintf(t, sizeof(t), "%u", k->threshold);
	snprintf(d, sizeof(d), "%u", k->grace_days);
	if (exec0(st, "retiring the KRA key", "UPDATE kra_keys SET active = "
	    "false, retired_at = now() WHERE active", 0, NULL, NULL, NULL,
	    e) != 0)
		return -1;
	return exec0(st, "storing the KRA key", "INSERT INTO kra_keys "
	    "(generation, pk, threshold, grace_days) VALUES ($1, $2, $3, $4)",
	    4, v, len, fmt, e);
}

int
store_kra_key_set_threshold(struct store *st, int generation,
    unsigned threshold, struct err *e)
{
	char		 g[16], t[16];
	const char	*v[2] = { g, t };

	snprintf(g, sizeof(g), "%d", generation);
	snprintf(t, sizeof(t), "%u", threshold);
	return exec0(st, "setting the threshold", "UPDATE kra_keys SET "
	    "threshold = $2 WHERE generation = $1", 2, v, NULL, NULL, e);
}

int
store_kra_share_put(struct store *st, int generation, const char *agent,
    const struct kra_blob *sealed, struct err *e)
{
	char		 g[16];
	const char	*v[3] = { g, agent, (const char *)sealed->p };
	int		 len[3] = { 0, 0, (int)sealed->len }, fmt[3] = { 0, 0, 1 };

	snprintf(g, sizeof(g), "%d", generation);
	return exec0(st, "storing a share", "INSERT INTO kra_shares "
	    "(generation, agent, sealed_share) VALUES ($1, $2, $3)", 3, v,
	    len, fmt, e);
}

int
store_kra_share_get(struct store *st, int generation, const char *agent,
    struct kra_blob *out, struct err *e)
{
	char		 g[16];
	const char	*v[2] = { g, agent };
	PGresult	*r;
	int		 rc;

	out->p = NULL;
	out->len = 0;
	snprintf(g, sizeof(g), "%d", generation);
	r = run(st, "reading a share", "SELECT sealed_share FROM kra_shares "
	    "WHERE generation = $1 AND agent = $2", 2, v, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 0 ? 1 : get_blob(r, 0, 0, out, e);
	PQclear(r);
	return rc;
}

int
store_kra_shares_clear(struct store *st, int generation, struct err *e)
{
	char		 g[16];
	const char	*v[1] = { g };

	snprintf(g, sizeof(g), "%d", generation);
	return exec0(st, "deleting shares", "DELETE FROM kra_shares WHERE "
	    "generation = $1", 1, v, NULL, NULL, e);
}

void
store_kra_escrow_row_free(struct kra_escrow_row *r)
{
	if (r == NULL)
		return;
	kra_blob_free(&r->sealed);
	kra_blob_free(&r->cert);
}

int
store_kra_escrow_insert(struct store *st, const char *serial,
    int64_t request_id, int generation, unsigned grace_days,
    const struct kra_blob *sealed, struct err *e)
{
	char		 rid[24], g[16], d[16];
	const char	*v[5] = { serial, request_id > 0 ? rid : NULL, g,
	    (const char *)sealed->p, d };
	int		 len[5] = { 0, 0, 0, (int)sealed->len, 0 };
	int		 fmt[5] = { 0, 0, 0, 1, 0 }, unique = 0;
	PGresult	*r;
	int		 rc = 0;

	snprintf(rid, sizeof(rid), "%" PRId64, request_id);
	snprintf(g, sizeof(g), "%d", generation);
	snprintf(d, sizeof(d), "%u", grace_days);
	r = run(st, "storing the escrowed key", "INSERT INTO key_escrow "
	    "(serial, request_id, generation, sealed, expires_at) SELECT "
	    "$1, $2, $3, $4, not_after + make_interval(days => $5::int) "
	    "FROM certificates WHERE serial = $1", 5, v, len, fmt, &unique, e);
	if (r == NULL)
		return unique ? 1 : -1;
	if (strcmp(PQcmdTuples(r), "1") != 0)
		rc = err_set(e, "no certificate %s to escrow a key for", serial);
	PQclear(r);
	return rc;
}

#define ESCROW_COLS "k.serial, coalesce(k.request_id, 0), k.generation, " \
	"k.sealed, c.der, c.email"

static int
escrow_from(PGresult *r, int i, struct kra_escrow_row *o, struct err *e)
{
	memset(o, 0, sizeof(*o));
	copy_str(o->serial, sizeof(o->serial), PQgetvalue(r, i, 0));
	o->request_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
	o->generation = atoi(PQgetvalue(r, i, 2));
	copy_str(o->email, sizeof(o->email), PQgetvalue(r, i, 5));
	if (get_blob(r, i, 3, &o->sealed, e) != 0 ||
	    get_blob(r, i, 4, &o->cert, e) != 0)
		return -1;
	return 0;
}

int
store_kra_escrow_get(struct store *st, const char *serial,
    struct kra_escrow_row *out, struct err *e)
{
	const char	*v[1] = { serial };
	PGresult	*r;
	int		 rc;

	memset(out, 0, sizeof(*out));
	r = run(st, "reading the escrow", "SELECT " ESCROW_COLS " FROM "
	    "key_escrow k JOIN certificates c USING (serial) WHERE "
	    "k.serial = $1", 1, v, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 0 ? 1 : escrow_from(r, 0, out, e);
	PQclear(r);
	return rc;
}

int
store_kra_escrow_each(struct store *st, store_kra_escrow_fn fn, void *arg,
    struct err *e)
{
	struct kra_escrow_row	 row;
	PGresult		*r;
	int			 i, rc = 0;

	r = run(st, "reading escrows", "SELECT " ESCROW_COLS " FROM "
	    "key_escrow k JOIN certificates c USING (serial) ORDER BY "
	    "k.serial FOR UPDATE OF k", 0, NULL, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	for (i = 0; rc == 0 && i < PQntuples(r); i++) {
		if ((rc = escrow_from(r, i, &row, e)) == 0)
			rc = fn(arg, &row);
		store_kra_escrow_row_free(&row);
	}
	PQclear(r);
	return rc;
}

int
store_kra_escrow_set(struct store *st, const char *serial, int generation,
    const struct kra_blob *sealed, struct err *e)
{
	char		 g[16];
	const char	*v[3] = { serial, g, (const char *)sealed->p };
	int		 len[3] = { 0, 0, (int)sealed->len }, fmt[3] = { 0, 0, 1 };

	snprintf(g, sizeof(g), "%d", generation);
	return exec0(st, "re-sealing an escrow", "UPDATE key_escrow SET "
	    "generation = $2, sealed = $3 WHERE serial = $1", 3, v, len, fmt,
	    e);
}

int
store_kra_request_escrow_each(struct store *st, store_kra_req_fn fn,
    void *arg, struct err *e)
{
	struct kra_blob	 b;
	PGresult	*r;
	int		 i, rc = 0;

	r = run(st, "reading requests with sealed keys", "SELECT id, "
	    "key_escrow FROM requests WHERE key_escrow IS NOT NULL AND state "
	    "IN ('submitted', 'pending', 'approved') ORDER BY id FOR UPDATE",
	    0, NULL, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	for (i = 0; rc == 0 && i < PQntuples(r); i++) {
		if ((rc = get_blob(r, i, 1, &b, e)) == 0)
			rc = fn(arg, strtoll(PQgetvalue(r, i, 0), NULL, 10),
			    &b);
		kra_blob_free(&b);
	}
	PQclear(r);
	return rc;
}

int
store_kra_request_escrow_set(struct store *st, int64_t id,
    const struct kra_blob *sealed, struct err *e)
{
	char		 i[24];
	const char	*v[2] = { i, (const char *)sealed->p };
	int		 len[2] = { 0, (int)sealed->len }, fmt[2] = { 0, 1 };

	snprintf(i, sizeof(i), "%" PRId64, id);
	return exec0(st, "re-sealing a request's key", "UPDATE requests SET "
	    "key_escrow = $2, updated_at = now() WHERE id = $1", 2, v, len,
	    fmt, e);
}

int
store_kra_escrow_purge(struct store *st, int64_t *n, struct err *e)
{
	PGresult	*r;

	r = run(st, "purging escrows", "DELETE FROM key_escrow k WHERE "
	    "expires_at < now() AND NOT EXISTS (SELECT 1 FROM recoveries r "
	    "WHERE r.serial = k.serial AND r.state IN ('open', 'approved'))",
	    0, NULL, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	*n = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

int
store_kra_recovery_insert(struct store *st, const char *serial,
    const char *reason, const char *opened_by, unsigned window_hours,
    int generation, unsigned threshold, const uint8_t eph_pk[32],
    int64_t *id, struct err *e)
{
	char		 w[16], g[16], t[16];
	const char	*v[7] = { serial, reason, opened_by, w, g, t,
	    (const char *)eph_pk };
	int		 len[7] = { 0, 0, 0, 0, 0, 0, 32 };
	int		 fmt[7] = { 0, 0, 0, 0, 0, 0, 1 }, unique = 0;
	PGresult	*r;

	snprintf(w, sizeof(w), "%u", window_hours);
	snprintf(g, sizeof(g), "%d", generation);
	snprintf(t, sizeof(t), "%u", threshold);
	r = run(st, "opening the recovery", "INSERT INTO recoveries (serial, "
	    "reason, opened_by, window_expires, generation, threshold, eph_pk) "
	    "VALUES ($1, $2, $3, now() + make_interval(hours => $4::int), $5, "
	    "$6, $7) RETURNING id", 7, v, len, fmt, &unique, e);
	if (r == NULL)
		return unique ? 1 : -1;
	*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

int
store_kra_recovery_lock(struct store *st, int64_t id, struct kra_rec_row *o,
    struct err *e)
{
	char		 i[24];
	const char	*v[1] = { i };
	PGresult	*r;
	int		 rc = 0;

	memset(o, 0, sizeof(*o));
	snprintf(i, sizeof(i), "%" PRId64, id);
	r = run(st, "reading the recovery", "SELECT id, serial, state, "
	    "window_expires < now(), generation, threshold, approvals, eph_pk "
	    "FROM recoveries WHERE id = $1 FOR UPDATE", 1, v, NULL, NULL,
	    NULL, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0)
		rc = 1;
	else {
		o->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		copy_str(o->serial, sizeof(o->serial), PQgetvalue(r, 0, 1));
		copy_str(o->state, sizeof(o->state), PQgetvalue(r, 0, 2));
		o->window_passed = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
		o->generation = atoi(PQgetvalue(r, 0, 4));
		o->threshold = (unsigned)atoi(PQgetvalue(r, 0, 5));
		o->approvals = (unsigned)atoi(PQgetvalue(r, 0, 6));
		o->has_eph = !PQgetisnull(r, 0, 7);
		if (o->has_eph)
			rc = get_fixed(r, 0, 7, o->eph_pk, 32, e);
	}
	PQclear(r);
	return rc;
}

int
store_kra_recovery_key_put(struct store *st, int64_t id, const char *agent,
    const struct kra_blob *sealed, struct err *e)
{
	char		 i[24];
	const char	*v[3] = { i, agent, (const char *)sealed->p };
	int		 len[3] = { 0, 0, (int)sealed->len }, fmt[3] = { 0, 0, 1 };

	snprintf(i, sizeof(i), "%" PRId64, id);
	return exec0(st, "storing the recovery key", "INSERT INTO "
	    "recovery_keys (recovery_id, agent, sealed_eph_sk) VALUES "
	    "($1, $2, $3)", 3, v, len, fmt, e);
}

int
store_kra_recovery_key_get(struct store *st, int64_t id, const char *agent,
    struct kra_blob *out, struct err *e)
{
	char		 i[24];
	const char	*v[2] = { i, agent };
	PGresult	*r;
	int		 rc;

	out->p = NULL;
	out->len = 0;
	snprintf(i, sizeof(i), "%" PRId64, id);
	r = run(st, "reading the recovery key", "SELECT sealed_eph_sk FROM "
	    "recovery_keys WHERE recovery_id = $1 AND agent = $2", 2, v, NULL,
	    NULL, NULL, e);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 0 ? 1 : get_blob(r, 0, 0, out, e);
	PQclear(r);
	return rc;
}

int
store_kra_approval_insert(struct store *st, int64_t id, const char *agent,
    const struct kra_blob *sealed, struct err *e)
{
	char		 i[24];
	const char	*v[3] = { i, agent, sealed != NULL ?
	    (const char *)sealed->p : NULL };
	int		 len[3] = { 0, 0, sealed != NULL ? (int)sealed->len : 0 };
	int		 fmt[3] = { 0, 0, 1 }, unique = 0;
	PGresult	*r;

	snprintf(i, sizeof(i), "%" PRId64, id);
	r = run(st, "recording the approval", "INSERT INTO recovery_approvals "
	    "(recovery_id, agent, sealed_share) VALUES ($1, $2, $3)", 3, v,
	    len, fmt, &unique, e);
	if (r == NULL)
		return unique ? 1 : -1;
	PQclear(r);
	return exec0(st, "counting the approval", "UPDATE recoveries SET "
	    "approvals = approvals + 1 WHERE id = $1", 1, v, NULL, NULL, e);
}

int
store_kra_approval_exists(struct store *st, int64_t id, const char *agent,
    int *yes, struct err *e)
{
	char		 i[24];
	const char	*v[2] = { i, agent };
	PGresult	*r;

	snprintf(i, sizeof(i), "%" PRId64, id);
	r = run(st, "reading approvals", "SELECT 1 FROM recovery_approvals "
	    "WHERE recovery_id = $1 AND agent = $2", 2, v, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	*yes = PQntuples(r) > 0;
	PQclear(r);
	return 0;
}

int
store_kra_approval_shares(struct store *st, int64_t id, struct kra_blob **out,
    size_t *n, struct err *e)
{
	char		 i[24];
	const char	*v[1] = { i };
	PGresult	*r;
	int		 k, rc = 0;

	*out = NULL;
	*n = 0;
	snprintf(i, sizeof(i), "%" PRId64, id);
	r = run(st, "reading approved shares", "SELECT sealed_share FROM "
	    "recovery_approvals WHERE recovery_id = $1 AND sealed_share IS NOT "
	    "NULL ORDER BY at, agent", 1, v, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) > 0 &&
	    (*out = calloc((size_t)PQntuples(r), sizeof(**out))) == NULL)
		rc = err_set(e, "out of memory");
	for (k = 0; rc == 0 && k < PQntuples(r); k++) {
		rc = get_blob(r, k, 0, &(*out)[k], e);
		*n = (size_t)k + 1;
	}
	PQclear(r);
	return rc;
}

int
store_kra_recovery_close(struct store *st, int64_t id, const char *state,
    struct err *e)
{
	char		 i[24];
	const char	*v[2] = { i, state };

	snprintf(i, sizeof(i), "%" PRId64, id);
	if (exec0(st, "closing the recovery", "UPDATE recovery_approvals SET "
	    "sealed_share = NULL WHERE recovery_id = $1", 1, v, NULL, NULL,
	    e) != 0 ||
	    exec0(st, "closing the recovery", "DELETE FROM recovery_keys WHERE "
	    "recovery_id = $1", 1, v, NULL, NULL, e) != 0)
		return -1;
	return exec0(st, "closing the recovery", "UPDATE recoveries SET "
	    "state = $2, eph_pk = NULL, approved_at = CASE WHEN $2 = "
	    "'approved' THEN now() END WHERE id = $1", 2, v, NULL, NULL, e);
}

int
store_kra_recovery_due(struct store *st, int64_t **ids, size_t *n,
    struct err *e)
{
	PGresult	*r;
	int		 k, rc = 0;

	*ids = NULL;
	*n = 0;
	r = run(st, "reading recoveries", "SELECT id FROM recoveries WHERE "
	    "state = 'open' AND window_expires < now() ORDER BY id FOR UPDATE",
	    0, NULL, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) > 0 &&
	    (*ids = calloc((size_t)PQntuples(r), sizeof(**ids))) == NULL)
		rc = err_set(e, "out of memory");
	for (k = 0; rc == 0 && k < PQntuples(r); k++)
		(*ids)[k] = strtoll(PQgetvalue(r, k, 0), NULL, 10);
	if (rc == 0)
		*n = (size_t)PQntuples(r);
	PQclear(r);
	return rc;
}

int
store_kra_recovered_put(struct store *st, int64_t id,
    const struct kra_blob *p12, const char *otp_hash, struct err *e)
{
	char		 i[24];
	const char	*v[3] = { i, (const char *)p12->p, otp_hash };
	int		 len[3] = { 0, (int)p12->len, 0 }, fmt[3] = { 0, 1, 0 };

	snprintf(i, sizeof(i), "%" PRId64, id);
	return exec0(st, "storing the recovered key", "INSERT INTO recovered "
	    "(recovery_id, p12, otp_hash) VALUES ($1, $2, $3)", 3, v, len, fmt,
	    e);
}

int
store_kra_recovered_get(struct store *st, int64_t id, struct kra_blob *p12,
    char otp_hash[256], struct err *e)
{
	char		 i[24];
	const char	*v[1] = { i };
	PGresult	*r;
	int		 rc;

	p12->p = NULL;
	p12->len = 0;
	snprintf(i, sizeof(i), "%" PRId64, id);
	r = run(st, "reading the recovered key", "SELECT p12, otp_hash FROM "
	    "recovered WHERE recovery_id = $1 FOR UPDATE", 1, v, NULL, NULL,
	    NULL, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0)
		rc = 1;
	else {
		copy_str(otp_hash, 256, PQgetvalue(r, 0, 1));
		rc = get_blob(r, 0, 0, p12, e);
	}
	PQclear(r);
	return rc;
}

int
store_kra_recovered_take(struct store *st, int64_t id, const char *actor,
    struct err *e)
{
	char		 i[24];
	const char	*v[2] = { i, actor };

	snprintf(i, sizeof(i), "%" PRId64, id);
	if (exec0(st, "deleting the recovered key", "DELETE FROM recovered "
	    "WHERE recovery_id = $1", 1, v, NULL, NULL, e) != 0)
		return -1;
	return exec0(st, "closing the recovery", "UPDATE recoveries SET "
	    "state = 'fetched', fetched_by = $2, fetched_at = now() WHERE "
	    "id = $1", 2, v, NULL, NULL, e);
}

int
store_kra_recovery_list(struct store *st, const char *email,
    store_kra_rec_fn fn, void *arg, struct err *e)
{
	const char		*v[1] = { email };
	struct kra_rec_view	 w;
	PGresult		*r;
	int			 i, rc = 0;

	r = run(st, "listing recoveries", "SELECT r.id, r.serial, c.email, "
	    "r.reason, r.opened_by, extract(epoch FROM r.opened_at)::bigint, "
	    "CASE WHEN r.state = 'open' AND r.window_expires < now() THEN "
	    "'expired' ELSE r.state END, "
	    "extract(epoch FROM r.window_expires)::bigint, r.approvals, "
	    "r.threshold FROM recoveries r JOIN certificates c USING (serial) "
	    "WHERE $1::text IS NULL OR lower(c.email) = lower($1) "
	    "ORDER BY r.id DESC", 1, v, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	for (i = 0; rc == 0 && i < PQntuples(r); i++) {
		w.id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		w.serial = PQgetvalue(r, i, 1);
		w.email = PQgetvalue(r, i, 2);
		w.reason = PQgetvalue(r, i, 3);
		w.opened_by = PQgetvalue(r, i, 4);
		w.opened_at = (time_t)strtoll(PQgetvalue(r, i, 5), NULL, 10);
		w.state = PQgetvalue(r, i, 6);
		w.window_expires = (time_t)strtoll(PQgetvalue(r, i, 7), NULL,
		    10);
		w.approvals = (unsigned)atoi(PQgetvalue(r, i, 8));
		w.threshold = (unsigned)atoi(PQgetvalue(r, i, 9));
		rc = fn(arg, &w);
	}
	PQclear(r);
	return rc;
}

int
store_kra_counts(struct store *st, struct kra_counts *o, struct err *e)
{
	PGresult	*r;

	r = run(st, "counting escrows", "SELECT "
	    "(SELECT count(*) FROM key_escrow), "
	    "(SELECT count(*) FROM key_escrow WHERE expires_at < now()), "
	    "(SELECT count(*) FROM recoveries WHERE state = 'open' AND "
	    "window_expires >= now()), "
	    "(SELECT count(*) FROM kra_keys WHERE NOT active)",
	    0, NULL, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	o->escrowed = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	o->purgeable = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	o->open_recoveries = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	o->retired = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
	PQclear(r);
	return 0;
}

int
store_kra_ca_cert(struct store *st, struct kra_blob *out, struct err *e)
{
	PGresult	*r;
	int		 rc;

	r = run(st, "reading the CA certificate", "SELECT cert FROM ca", 0,
	    NULL, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 0 ? 1 : get_blob(r, 0, 0, out, e);
	PQclear(r);
	return rc;
}

void
store_kra_pickup_row_free(struct kra_pickup_row *p)
{
	if (p == NULL)
		return;
	kra_blob_free(&p->key_pickup);
	kra_blob_free(&p->cert);
}

int
store_kra_pickup_get(struct store *st, int64_t request_id,
    struct kra_pickup_row *o, struct err *e)
{
	char		 i[24];
	const char	*v[1] = { i };
	PGresult	*r;
	int		 rc = 0;

	memset(o, 0, sizeof(*o));
	snprintf(i, sizeof(i), "%" PRId64, request_id);
	r = run(st, "reading the request", "SELECT q.state, "
	    "coalesce(q.serial, ''), q.requester, q.email, q.key_pickup, c.der "
	    "FROM requests q LEFT JOIN certificates c ON c.serial = q.serial "
	    "WHERE q.id = $1 FOR UPDATE OF q", 1, v, NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0)
		rc = 1;
	else {
		copy_str(o->state, sizeof(o->state), PQgetvalue(r, 0, 0));
		copy_str(o->serial, sizeof(o->serial), PQgetvalue(r, 0, 1));
		copy_str(o->requester, sizeof(o->requester),
		    PQgetvalue(r, 0, 2));
		copy_str(o->email, sizeof(o->email), PQgetvalue(r, 0, 3));
		if (get_blob(r, 0, 4, &o->key_pickup, e) != 0 ||
		    get_blob(r, 0, 5, &o->cert, e) != 0)
			rc = -1;
	}
	PQclear(r);
	return rc;
}

int
store_kra_pickup_clear(struct store *st, int64_t request_id, struct err *e)
{
	char		 i[24];
	const char	*v[1] = { i };

	snprintf(i, sizeof(i), "%" PRId64, request_id);
	return exec0(st, "deleting the picked-up key", "UPDATE requests SET "
	    "key_pickup = NULL, updated_at = now() WHERE id = $1", 1, v, NULL,
	    NULL, e);
}
