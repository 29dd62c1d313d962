/*
 * store_pub: the publish queue's SQL (sql/003_publish.sql,
 * sql/020_publish_targets.sql). Values always travel as parameters.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store_pub.h"

/* pg_advisory_xact_lock(int, int) class for mailboxes: "sgpb" */
#define LOCK_PUB_MAILBOX	"1936158818"

static PGresult *
pq(struct store *st, const char *sql, int n, const char *const *v,
    struct err *e)
{
	PGconn		*pg = store_pg(st);
	PGresult	*r;
	const char	*m;
	size_t		 l;

	r = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	m = PQerrorMessage(pg);
	l = strlen(m);
	while (l > 0 && (m[l - 1] == '\n' || m[l - 1] == ' '))
		l--;
	err_set(e, "database: %.*s", (int)l, m);
	PQclear(r);
	return NULL;
}

static int
exec1(struct store *st, const char *sql, int n, const char *const *v,
    struct err *e)
{
	PGresult	*r;

	if ((r = pq(st, sql, n, v, e)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

static void
copy(char *dst, size_t sz, const char *src)
{
	snprintf(dst, sz, "%s", src);
}

int
store_pub_claim(struct store *st, unsigned max, struct store_pub_job **jobs,
    size_t *n, struct err *e)
{
	char			 lim[16];
	const char		*v[1] = { lim };
	PGresult		*r;
	struct store_pub_job	*j = NULL;
	int			 i, rows;

	*jobs = NULL;
	*n = 0;
	snprintf(lim, sizeof(lim), "%u", max);
	r = pq(st, "SELECT id, kind, ref, coalesce(email, ''), target, "
	    "attempts FROM publish_jobs WHERE state = 'queued' AND "
	    "next_at <= clock_timestamp() ORDER BY id LIMIT $1 "
	    "FOR UPDATE SKIP LOCKED", 1, v, e);
	if (r == NULL)
		return -1;
	rows = PQntuples(r);
	if (rows > 0 && (j = calloc((size_t)rows, sizeof(*j))) == NULL) {
		PQclear(r);
		return err_set(e, "out of memory");
	}
	for (i = 0; i < rows; i++) {
		j[i].id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		copy(j[i].kind, sizeof(j[i].kind), PQgetvalue(r, i, 1));
		copy(j[i].ref, sizeof(j[i].ref), PQgetvalue(r, i, 2));
		copy(j[i].email, sizeof(j[i].email), PQgetvalue(r, i, 3));
		copy(j[i].target, sizeof(j[i].target), PQgetvalue(r, i, 4));
		j[i].attempts = atoi(PQgetvalue(r, i, 5));
	}
	PQclear(r);
	*jobs = j;
	*n = (size_t)rows;
	return 0;
}

int
store_pub_lock_mailbox(struct store *st, const char *email, int *got,
    struct err *e)
{
	const char	*v[1] = { email };
	PGresult	*r;

	r = pq(st, "SELECT pg_try_advisory_xact_lock(" LOCK_PUB_MAILBOX
	    ", hashtext(lower($1)))", 1, v, e);
	if (r == NULL)
		return -1;
	*got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return 0;
}

int
store_pub_target_done(struct store *st, int64_t id, const char *target,
    struct err *e)
{
	char		 ids[24];
	const char	*v[2] = { ids, target };
	PGresult	*r;
	int		 done;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	r = pq(st, "SELECT 1 FROM publish_done WHERE job_id = $1 AND "
	    "target = $2", 2, v, e);
	if (r == NULL)
		return -1;
	done = PQntuples(r) > 0;
	PQclear(r);
	return done;
}

int
store_pub_mark_target(struct store *st, int64_t id, const char *target,
    struct err *e)
{
	char		 ids[24];
	const char	*v[2] = { ids, target };

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	return exec1(st, "INSERT INTO publish_done (job_id, target) "
	    "VALUES ($1, $2) ON CONFLICT DO NOTHING", 2, v, e);
}

int
store_pub_job_done(struct store *st, int64_t id, struct err *e)
{
	char		 ids[24];
	const char	*v[1] = { ids };

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	return exec1(st, "UPDATE publish_jobs SET state = 'done', "
	    "attempts = attempts + 1, done_at = clock_timestamp(), "
	    "last_error = NULL WHERE id = $1", 1, v, e);
}

/* ids as a PostgreSQL array literal, "{1,2,3}" (free with free()). */
static char *
id_array(const int64_t *ids, size_t n, struct err *e)
{
	char	*s;
	size_t	 i, l = 0, sz = n * 21 + 3;

	if ((s = malloc(sz)) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	s[l++] = '{';
	for (i = 0; i < n; i++)
		l += (size_t)snprintf(s + l, sz - l, "%s%" PRId64,
		    i ? "," : "", ids[i]);
	snprintf(s + l, sz - l, "}");
	return s;
}

int
store_pub_targets_done(struct store *st, const int64_t *ids, size_t n,
    const char *target, int *done, struct err *e)
{
	const char	*v[2];
	char		*arr;
	PGresult	*r;
	int64_t		 id;
	size_t		 i, k;
	int		 row;

	for (i = 0; i < n; i++)
		done[i] = 0;
	if (n == 0)
		return 0;
	if ((arr = id_array(ids, n, e)) == NULL)
		return -1;
	v[0] = arr;
	v[1] = target;
	r = pq(st, "SELECT job_id FROM publish_done WHERE job_id = "
	    "ANY($1::bigint[]) AND target = $2", 2, v, e);
	free(arr);
	if (r == NULL)
		return -1;
	for (row = 0; row < PQntuples(r); row++) {
		id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
		for (k = 0; k < n; k++)
			if (ids[k] == id)
				done[k] = 1;
	}
	PQclear(r);
	return 0;
}

int
store_pub_mark_targets(struct store *st, const int64_t *ids, size_t n,
    const char *target, struct err *e)
{
	const char	*v[2];
	char		*arr;
	int		 rc;

	if (n == 0)
		return 0;
	if ((arr = id_array(ids, n, e)) == NULL)
		return -1;
	v[0] = arr;
	v[1] = target;
	rc = exec1(st, "INSERT INTO publish_done (job_id, target) "
	    "SELECT unnest($1::bigint[]), $2 ON CONFLICT DO NOTHING", 2, v, e);
	free(arr);
	return rc;
}

int
store_pub_jobs_done(struct store *st, const int64_t *ids, size_t n,
    struct err *e)
{
	const char	*v[1];
	char		*arr;
	int		 rc;

	if (n == 0)
		return 0;
	if ((arr = id_array(ids, n, e)) == NULL)
		return -1;
	v[0] = arr;
	/* done_at: the clock now, after the targets acknowledged */
	rc = exec1(st, "UPDATE publish_jobs SET state = 'done', "
	    "attempts = attempts + 1, done_at = clock_timestamp(), "
	    "last_error = NULL WHERE id = ANY($1::bigint[])", 1, v, e);
	free(arr);
	return rc;
}

int
store_pub_job_fail(struct store *st, int64_t id, const char *msg,
    unsigned base, unsigned cap, unsigned max_attempts, int *gave_up,
    struct err *e)
{
	char		 ids[24], b[16], c[16], m[16];
	const char	*v[5] = { ids, msg, b, c, m };
	PGresult	*r;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	snprintf(b, sizeof(b), "%u", base);
	snprintf(c, sizeof(c), "%u", cap);
	snprintf(m, sizeof(m), "%u", max_attempts);
	/* exponential backoff with a cap; 2^attempts bounded before it can
	 * overflow a double's exact range */
	r = pq(st, "UPDATE publish_jobs SET attempts = attempts + 1, "
	    "last_error = $2, next_at = clock_timestamp() + "
	    "make_interval(secs => least($4::float8, $3::float8 * "
	    "power(2, least(attempts, 40)))), "
	    "state = CASE WHEN $5::int > 0 AND attempts + 1 >= $5::int "
	    "THEN 'failed' ELSE 'queued' END WHERE id = $1 "
	    "RETURNING state = 'failed'", 5, v, e);
	if (r == NULL)
		return -1;
	*gave_up = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	return 0;
}

int
store_pub_expire_sweep(struct store *st, unsigned *queued, struct err *e)
{
	PGresult	*r;

	/* the primary key of publish_expired makes this exactly once */
	r = pq(st, "WITH due AS (INSERT INTO publish_expired (serial) "
	    "SELECT serial FROM certificates c WHERE not_after < now() AND "
	    "NOT EXISTS (SELECT 1 FROM publish_expired p "
	    "WHERE p.serial = c.serial) ON CONFLICT DO NOTHING "
	    "RETURNING serial) "
	    "INSERT INTO publish_jobs (kind, ref, email) "
	    "SELECT 'cert.expire', d.serial, c.email FROM due d "
	    "JOIN certificates c USING (serial)", 0, NULL, e);
	if (r == NULL)
		return -1;
	*queued = (unsigned)strtoul(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

int
store_pub_next_due(struct store *st, double *secs, struct err *e)
{
	PGresult	*r;

	/* no greatest() here: it skips NULL, and an empty queue would read
	 * as "due now" and spin the daemon */
	r = pq(st, "SELECT extract(epoch FROM min(next_at) - "
	    "clock_timestamp()) FROM publish_jobs WHERE state = 'queued'", 0,
	    NULL, e);
	if (r == NULL)
		return -1;
	*secs = PQgetisnull(r, 0, 0) ? -1 : strtod(PQgetvalue(r, 0, 0), NULL);
	if (*secs < 0 && !PQgetisnull(r, 0, 0))
		*secs = 0;
	PQclear(r);
	return 0;
}

int
store_pub_retry(struct store *st, int64_t id, unsigned *n, struct err *e)
{
	char		 ids[24];
	const char	*v[1] = { ids };
	PGresult	*r;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	r = pq(st, "UPDATE publish_jobs SET state = 'queued', next_at = now() "
	    "WHERE state <> 'done' AND ($1::bigint = 0 OR id = $1::bigint)",
	    1, v, e);
	if (r == NULL)
		return -1;
	*n = (unsigned)strtoul(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	/* only inserts fire the trigger of 003_publish: wake publishers */
	return *n == 0 ? 0 : store_wake(st, "signet_publish", "retry", e);
}

int
store_pub_status(struct store *st, store_pub_count_fn cfn,
    store_pub_failure_fn ffn, void *arg, unsigned limit, struct err *e)
{
	char			 lim[16];
	const char		*v[1] = { lim };
	PGresult		*r;
	struct store_pub_count	 c;
	struct store_pub_failure f;
	int			 i, rc = 0;

	r = pq(st, "SELECT kind, state, count(*), count(*) FILTER "
	    "(WHERE state = 'queued' AND last_error IS NOT NULL) "
	    "FROM publish_jobs GROUP BY kind, state ORDER BY kind, state",
	    0, NULL, e);
	if (r == NULL)
		return -1;
	for (i = 0; rc == 0 && i < PQntuples(r); i++) {
		c.kind = PQgetvalue(r, i, 0);
		c.state = PQgetvalue(r, i, 1);
		c.jobs = strtoll(PQgetvalue(r, i, 2), NULL, 10);
		c.failing = strtoll(PQgetvalue(r, i, 3), NULL, 10);
		rc = cfn(arg, &c);
	}
	PQclear(r);
	snprintf(lim, sizeof(lim), "%u", limit);
	r = pq(st, "SELECT id, kind, ref, coalesce(email, ''), state, "
	    "last_error, attempts, extract(epoch FROM next_at)::bigint "
	    "FROM publish_jobs WHERE state <> 'done' AND "
	    "last_error IS NOT NULL ORDER BY id LIMIT $1", 1, v, e);
	if (r == NULL)
		return -1;
	for (i = 0; rc == 0 && i < PQntuples(r); i++) {
		f.id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		f.kind = PQgetvalue(r, i, 1);
		f.ref = PQgetvalue(r, i, 2);
		f.email = PQgetvalue(r, i, 3);
		f.state = PQgetvalue(r, i, 4);
		f.last_error = PQgetvalue(r, i, 5);
		f.attempts = atoi(PQgetvalue(r, i, 6));
		f.next_at = (time_t)strtoll(PQgetvalue(r, i, 7), NULL, 10);
		rc = ffn(arg, &f);
	}
	PQclear(r);
	return 0;
}

/* A bytea column of row 0 into malloc'd memory. */
static int
bytea0(PGresult *r, int col, uint8_t **der, size_t *len, struct err *e)
{
	unsigned char	*u;
	size_t		 l;

	u = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, col), &l);
	if (u == NULL || (*der = malloc(l > 0 ? l : 1)) == NULL) {
		PQfreemem(u);
		return err_set(e, "out of memory");
	}
	memcpy(*der, u, l);
	*len = l;
	PQfreemem(u);
	return 0;
}

int
store_pub_ca_cert(struct store *st, uint8_t **der, size_t *len,
    struct err *e)
{
	PGresult	*r;
	int		 rc;

	*der = NULL;
	*len = 0;
	if ((r = pq(st, "SELECT cert FROM ca WHERE id = 1", 0, NULL, e)) ==
	    NULL)
		return -1;
	rc = PQntuples(r) == 0 ? 1 : bytea0(r, 0, der, len, e);
	PQclear(r);
	return rc;
}

int
store_pub_crl_newest(struct store *st, int64_t *number, uint8_t **der,
    size_t *len, struct err *e)
{
	PGresult	*r;
	int		 rc;

	*der = NULL;
	*len = 0;
	*number = 0;
	/* the crls table comes with sql/030 (revocation) */
	if ((r = pq(st, "SELECT to_regclass('crls') IS NOT NULL", 0, NULL,
	    e)) == NULL)
		return -1;
	rc = strcmp(PQgetvalue(r, 0, 0), "t") != 0;
	PQclear(r);
	if (rc == 1)
		return 1;
	if ((r = pq(st, "SELECT number, der FROM crls ORDER BY number DESC "
	    "LIMIT 1", 0, NULL, e)) == NULL)
		return -1;
	if (PQntuples(r) == 0)
		rc = 1;
	else {
		*number = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		rc = bytea0(r, 1, der, len, e);
	}
	PQclear(r);
	return rc;
}

int
store_pub_listen(struct store *st, struct err *e)
{
	return exec1(st, "LISTEN signet_publish", 0, NULL, e);
}

int
store_pub_wait(struct store *st, long ms, int *woken, struct err *e)
{
	PGconn		*pg = store_pg(st);
	PGnotify	*n;
	struct pollfd	 pfd;
	int		 r;

	*woken = 0;
	if (PQconsumeInput(pg) == 0)
		return err_set(e, "database: %s", PQerrorMessage(pg));
	while ((n = PQnotifies(pg)) != NULL) {
		*woken = 1;
		PQfreemem(n);
	}
	if (*woken)
		return 0;
	pfd.fd = PQsocket(pg);
	pfd.events = POLLIN;
	if (pfd.fd < 0)
		return err_set(e, "database: the connection is closed");
	r = poll(&pfd, 1, ms > 0x7fffffffL ? 0x7fffffff : (int)ms);
	if (r < 0)
		return errno == EINTR ? 0 : err_set(e, "poll: %s",
		    strerror(errno));
	if (r == 0)
		return 0;
	if (PQconsumeInput(pg) == 0)
		return err_set(e, "database: %s", PQerrorMessage(pg));
	while ((n = PQnotifies(pg)) != NULL) {
		*woken = 1;
		PQfreemem(n);
	}
	return 0;
}

int
store_pub_reconnect(struct store *st, struct err *e)
{
	PGconn	*pg = store_pg(st);

	PQreset(pg);
	if (PQstatus(pg) != CONNECTION_OK)
		return err_set(e, "database: %s", PQerrorMessage(pg));
	return store_pub_listen(st, e);
}
