#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "migrations.h"
#include "store.h"

/* pg_advisory_xact_lock keys: "sgnt" + purpose */
#define LOCK_MIGRATE	0x73676e7401LL

/* Statements prepared on this connection, keyed by their SQL text's
 * address (the store's statements are string constants). */
#define STORE_PREPARED_MAX	64
/* statements in one pipeline (store_pipe_*) */
#define STORE_PIPE_MAX		8

struct store {
	PGconn		*pg;
	const char	*prepared[STORE_PREPARED_MAX];
	unsigned	 nprepared;
	int		 issuing;	/* store_issue_start .. _finish */
	/* store_pipe_*: what each answer of the open pipeline is (a
	 * statement's index, or -(slot + 1) for the prepare of the statement
	 * in prepared[slot]) and the statements' results */
	int		 piping;
	int		 pipe_kind[STORE_PIPE_MAX * 2];
	unsigned	 pipe_sent, pipe_n;
	PGresult	*pipe_res[STORE_PIPE_MAX];
	int		 publish_wake;	/* this transaction queued publish jobs */
	int		 request_wake;	/* store_wake_request: wake ca-serve */
};

static void	store_pipe_clear(struct store *);

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
	store_pipe_clear(s);
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

/*
 * NOTIFY, in the caller's transaction or as one of its own. Left
 * synchronous on purpose: committed without waiting for its flush
 * (synchronous_commit off, tried to save a WAL flush per wake-up), some
 * wake-ups reached ca-serve late and the p99 from submission to issue
 * went from about 70 ms to about 165 ms (tests/bench/bench_serve.sh).
 */
static const char SQL_WAKE[] = "SELECT pg_notify($1, $2)";

int
store_wake(struct store *s, const char *channel, const char *payload,
    struct err *e)
{
	const char	*v[2] = { channel, payload != NULL ? payload : "" };
	PGresult	*r;

	if ((r = store_execp(s, SQL_WAKE, 2, v, NULL, NULL, e)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/*
 * Wakes the publisher (NOTIFY signet_publish) for publish jobs queued
 * outside a transaction; in one, store_commit sends it just before the
 * COMMIT. Outside a transaction the wake-up is best effort (the publisher
 * sweeps anyway); in one, a NOTIFY that fails fails the commit, and
 * nothing is lost.
 *
 * In the transaction, the NOTIFY holds the notification lock from the
 * commit through its WAL flush, so notifying commits follow one another
 * and share no flush (bench_issue: 24,013 flushes for 24,000
 * certificates). Sent after the COMMIT instead, in the same round trip,
 * the wake-up is a transaction that writes no WAL before its commit
 * record: it commits without a flush of its own and holds the lock
 * briefly. Tried: the data's commits then shared a few flushes (21,819
 * for 24,000), but issuance was no faster (bench_issue, four threads,
 * five interleaved runs each: median 1,181/s against 1,220/s), nor was
 * the p99 from submission to issue at 1,500 requests/s (bench_serve,
 * four runs each: 43.6-65.6 ms against 37.4-51.4 ms). The flush itself,
 * about 0.45 ms on this machine, is what the commits wait for; kept as
 * it is.
 */
static void
publish_wake(struct store *s)
{
	struct err	e;

	s->publish_wake = 0;
	(void)store_wake(s, "signet_publish", "", &e);
}

/* After a statement that queued publish jobs: wake the publisher now if
 * it committed on its own, else with the transaction's commit. */
static void
publish_queued(struct store *s)
{
	if (PQtransactionStatus(s->pg) == PQTRANS_IDLE)
		publish_wake(s);
	else
		s->publish_wake = 1;
}

/*
 * The COMMIT and the wake-ups it carries go to the server as one query
 * string, in one round trip: under load each round trip waits for both
 * processes to be scheduled, and every transaction that submits requests
 * or issues certificates notifies.
 */
static const char *const COMMIT_SQL[4] = {
	"COMMIT",
	"SELECT pg_notify('signet_publish', ''); COMMIT",
	"SELECT pg_notify('signet_request', ''); COMMIT",
	"SELECT pg_notify('signet_request', ''), "
	    "pg_notify('signet_publish', ''); COMMIT",
};

int
store_commit(struct store *s, struct err *e)
{
	int	w = (s->publish_wake ? 1 : 0) | (s->request_wake ? 2 : 0);

	s->publish_wake = s->request_wake = 0;
	if (cmd(s, COMMIT_SQL[w], e) == 0)
		return 0;
	/* a failed NOTIFY leaves the transaction aborted, not ended */
	if (PQtransactionStatus(s->pg) != PQTRANS_IDLE)
		store_rollback(s);
	return -1;
}

void
store_wake_request(struct store *s)
{
	s->request_wake = 1;
}

void
store_rollback(struct store *s)
{
	s->publish_wake = s->request_wake = 0;
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

/* The name under which sql is prepared on this connection, preparing it
 * on first use; NULL (and *e set) when that fails. */
static const char *
prepared_name(struct store *s, const char *sql, int n, char name[32],
    struct err *e)
{
	PGresult	*r;
	unsigned	 i;

	for (i = 0; i < s->nprepared; i++)
		if (s->prepared[i] == sql)
			break;
	snprintf(name, 32, "signet_%u", i);
	if (i < s->nprepared)
		return name;
	if (i == STORE_PREPARED_MAX) {
		err_set(e, "too many prepared statements");
		return NULL;
	}
	r = PQprepare(s->pg, name, sql, n, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		pgerr(s, e, "database");
		PQclear(r);
		return NULL;
	}
	PQclear(r);
	s->prepared[s->nprepared++] = sql;
	return name;
}

PGresult *
store_execp(struct store *s, const char *sql, int n, const char *const *v,
    const int *len, const int *fmt, struct err *e)
{
	PGresult	*r;
	const char	*name;
	char		 buf[32];

	if ((name = prepared_name(s, sql, n, buf, e)) == NULL)
		return NULL;
	r = PQexecPrepared(s->pg, name, n, v, len, fmt, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		pgerr(s, e, "database");
		PQclear(r);
		return NULL;
	}
	return r;
}

/* ---- several statements, one round trip ------------------------------ */

/*
 * Under load each round trip waits for the client and the server to be
 * scheduled in turn, so statements that do not need each other's answers
 * go together: store_pipe_begin, then store_pipe_send or store_pipe_cmd
 * for each, then store_pipe_run, which sends them with one Sync, reads
 * every answer and leaves pipeline mode. The server runs them in order;
 * after an error it skips the rest. Inside a transaction block the Sync
 * commits nothing; outside one it would commit what went before it, so
 * callers open the block (BEGIN) or join one.
 */
int
store_pipe_begin(struct store *s, struct err *e)
{
	store_pipe_clear(s);
	if (PQenterPipelineMode(s->pg) != 1)
		return pgerr(s, e, "database");
	s->piping = 1;
	return 0;
}

static int
pipe_room(struct store *s, unsigned kinds, struct err *e)
{
	if (!s->piping)
		return err_set(e, "no pipeline is open");
	if (s->pipe_n == STORE_PIPE_MAX ||
	    s->pipe_sent + kinds > STORE_PIPE_MAX * 2)
		return err_set(e, "too many statements in one pipeline");
	return 0;
}

int
store_pipe_send(struct store *s, const char *sql, int n,
    const char *const *v, const int *len, const int *fmt, struct err *e)
{
	char		 name[32];
	unsigned	 i;

	if (pipe_room(s, 2, e) != 0)
		return -1;
	for (i = 0; i < s->nprepared; i++)
		if (s->prepared[i] == sql)
			break;
	snprintf(name, sizeof(name), "signet_%u", i);
	if (i == s->nprepared) {
		if (i == STORE_PREPARED_MAX)
			return err_set(e, "too many prepared statements");
		/* prepared in the pipeline: its answer comes first */
		if (PQsendPrepare(s->pg, name, sql, n, NULL) != 1)
			return pgerr(s, e, "database");
		/* its answer is marked -(slot + 1) */
		s->pipe_kind[s->pipe_sent++] = -(int)s->nprepared - 1;
		s->prepared[s->nprepared++] = sql;
	}
	if (PQsendQueryPrepared(s->pg, name, n, v, len, fmt, 0) != 1)
		return pgerr(s, e, "database");
	s->pipe_kind[s->pipe_sent++] = (int)s->pipe_n;
	return (int)s->pipe_n++;
}

int
store_pipe_cmd(struct store *s, const char *sql, struct err *e)
{
	if (pipe_room(s, 1, e) != 0)
		return -1;
	if (PQsendQueryParams(s->pg, sql, 0, NULL, NULL, NULL, NULL, 0) != 1)
		return pgerr(s, e, "database");
	s->pipe_kind[s->pipe_sent++] = (int)s->pipe_n;
	return (int)s->pipe_n++;
}

int
store_pipe_run(struct store *s, struct err *e)
{
	PGresult	*r;
	unsigned	 k;
	int		 rc = 0, nulls;

	if (!s->piping)
		return err_set(e, "no pipeline is open");
	if (PQpipelineSync(s->pg) != 1) {
		rc = pgerr(s, e, "database");
		goto out;
	}
	for (k = 0; k < s->pipe_sent; k++) {
		/* each answer, then the NULL that ends it */
		if ((r = PQgetResult(s->pg)) == NULL) {
			if (rc == 0)
				rc = pgerr(s, e, "database");
			goto out;
		}
		switch (PQresultStatus(r)) {
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
			break;
		case PGRES_PIPELINE_ABORTED:
			if (rc == 0)
				rc = err_set(e, "database: statement skipped");
			break;
		default:
			if (rc == 0)
				rc = err_set(e, "database: %.*s",
				    (int)strcspn(PQresultErrorMessage(r), "\n"),
				    PQresultErrorMessage(r));
			break;
		}
		/* a prepare that failed, or was skipped after an error,
		 * left no statement by its name: the next use prepares it */
		if (s->pipe_kind[k] < 0 &&
		    PQresultStatus(r) != PGRES_COMMAND_OK)
			s->prepared[-s->pipe_kind[k] - 1] = NULL;
		if (s->pipe_kind[k] >= 0)
			s->pipe_res[s->pipe_kind[k]] = r;
		else
			PQclear(r);
		if ((r = PQgetResult(s->pg)) != NULL) {
			PQclear(r);
			if (rc == 0)
				rc = err_set(e, "database: an answer too many");
			goto out;
		}
	}
	r = PQgetResult(s->pg);
	if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		if (rc == 0)
			rc = pgerr(s, e, "database");
	}
	PQclear(r);
out:
	if (PQexitPipelineMode(s->pg) != 1) {
		/* answers left unread after a failure: drain to the Sync */
		for (nulls = 0; nulls < 16;) {
			if ((r = PQgetResult(s->pg)) == NULL) {
				nulls++;
				continue;
			}
			nulls = 0;
			k = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
			PQclear(r);
			if (k)
				break;
		}
		/* still in it: every later statement fails, and the caller
		 * gives the connection up */
		if (PQexitPipelineMode(s->pg) != 1 && rc == 0)
			rc = pgerr(s, e, "database");
	}
	s->piping = 0;
	return rc;
}

PGresult *
store_pipe_take(struct store *s, int i)
{
	PGresult	*r;

	if (i < 0 || (unsigned)i >= s->pipe_n)
		return NULL;
	r = s->pipe_res[i];
	s->pipe_res[i] = NULL;
	return r;
}

static void
store_pipe_clear(struct store *s)
{
	unsigned	i;

	for (i = 0; i < STORE_PIPE_MAX; i++) {
		PQclear(s->pipe_res[i]);
		s->pipe_res[i] = NULL;
	}
	s->pipe_sent = s->pipe_n = 0;
}

/*
 * Ends the caller's transaction with what the pipeline holds: the wake-ups
 * it carries, then COMMIT, all with one Sync. On failure the transaction
 * is rolled back.
 */
int
store_pipe_commit(struct store *s, struct err *e)
{
	static const char *const wake[2] = {
		"SELECT pg_notify('signet_publish', '')",
		"SELECT pg_notify('signet_request', '')",
	};
	struct err	ignored;
	int		w[2] = { s->publish_wake, s->request_wake };
	int		i;

	s->publish_wake = s->request_wake = 0;
	for (i = 0; i < 2; i++)
		if (w[i] && store_pipe_cmd(s, wake[i], e) < 0)
			goto fail;
	if (store_pipe_cmd(s, "COMMIT", e) < 0)
		goto fail;
	if (store_pipe_run(s, e) != 0) {
		if (PQtransactionStatus(s->pg) != PQTRANS_IDLE)
			store_rollback(s);
		return -1;
	}
	return 0;
fail:
	(void)store_pipe_run(s, &ignored);
	store_rollback(s);
	return -1;
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
store_schema_missing(struct store *s, int *missing, struct err *e)
{
	PGresult	*r;
	unsigned	 i;
	int		 j, found;

	*missing = (int)migrations_count;
	r = q(s, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0,
	    NULL, NULL, NULL, e);
	if (r == NULL)
		return -1;
	found = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!found)
		return 0;
	r = q(s, "SELECT version FROM schema_migrations", 0, NULL, NULL, NULL,
	    e);
	if (r == NULL)
		return -1;
	for (i = 0; i < migrations_count; i++)
		for (j = 0; j < PQntuples(r); j++)
			if (atoi(PQgetvalue(r, j, 0)) == migrations[i].version) {
				(*missing)--;
				break;
			}
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

static const char SQL_CERT_INSERT[] =
    "INSERT INTO certificates (serial, email, display_name, "
    "profile, key_type, spki_sha256, not_before, not_after, der, "
    "issued_by, request_id) VALUES ($1, $2, $3, $4, $5, $6, "
    "to_timestamp($7), to_timestamp($8), $9, $10, $11) "
    "ON CONFLICT (serial) DO NOTHING";
/* the same without ON CONFLICT: a taken serial aborts the transaction */
static const char SQL_CERT_INSERT_STRICT[] =
    "INSERT INTO certificates (serial, email, display_name, "
    "profile, key_type, spki_sha256, not_before, not_after, der, "
    "issued_by, request_id) VALUES ($1, $2, $3, $4, $5, $6, "
    "to_timestamp($7), to_timestamp($8), $9, $10, $11)";
static const char SQL_PUBLISH[] =
    "INSERT INTO publish_jobs (kind, ref, email) VALUES ($1, $2, $3)";
static const char SQL_AUDIT[] = "SELECT audit_append($1, $2, $3, $4)";
/*
 * A single issuance's audit record, its publish job and the publisher's
 * wake-up, in one statement (store_issue_start). On the wake-up's place
 * in the commit, see publish_wake.
 */
static const char SQL_ISSUE_AUDIT[] =
    "WITH j AS (INSERT INTO publish_jobs (kind, ref, email) "
    "VALUES ($5, $6, $7) RETURNING 1) "
    "SELECT audit_append($1, $2, $3, $4), "
    "pg_notify('signet_publish', '') FROM j";

struct cert_params {
	char		 nb[24], na[24], req[24];
	const char	*v[11];
	int		 l[11], f[11];
};

static void
cert_params(struct cert_params *p, const struct cert_row *c)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->nb, sizeof(p->nb), "%lld", (long long)c->not_before);
	snprintf(p->na, sizeof(p->na), "%lld", (long long)c->not_after);
	snprintf(p->req, sizeof(p->req), "%" PRId64, c->request_id);
	p->v[0] = c->serial;
	p->v[1] = c->email;
	p->v[2] = c->display_name;
	p->v[3] = c->profile;
	p->v[4] = c->key_type;
	p->v[5] = (const char *)c->spki_sha256;
	p->l[5] = 32;
	p->f[5] = 1;
	p->v[6] = p->nb;
	p->v[7] = p->na;
	p->v[8] = (const char *)c->der;
	p->l[8] = (int)c->der_len;
	p->f[8] = 1;
	p->v[9] = c->issued_by;
	p->v[10] = c->request_id ? p->req : NULL;
}

int
store_cert_insert(struct store *s, const struct cert_row *c, struct err *e)
{
	struct cert_params	 p;
	PGresult		*r;
	int			 rc;

	cert_params(&p, c);
	r = store_execp(s, SQL_CERT_INSERT, 11, p.v, p.l, p.f, e);
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

/* Each row of r to fn; or, with fnx, to fnx with the row's column 14
 * (a 1-based index) less one. */
static int
each_cert_ix(struct store *s, PGresult *r, store_cert_fn fn,
    store_cert_ix_fn fnx, void *arg, struct err *e)
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
		rc = fnx != NULL ? fnx(arg, (size_t)strtoull(PQgetvalue(r, i, 14),
		    NULL, 10) - 1, &c) : fn(arg, &c);
		PQfreemem(spki);
		PQfreemem(der);
	}
	/* > 0: the callback had what it wanted; < 0: it failed, e set */
	return rc < 0 ? -1 : 0;
}

static int
each_cert(struct store *s, PGresult *r, store_cert_fn fn, void *arg,
    struct err *e)
{
	return each_cert_ix(s, r, fn, NULL, arg, e);
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

	r = store_execp(s, SQL_PUBLISH, 3, v, NULL, NULL, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	publish_queued(s);
	return 0;
}

int
store_audit_append(struct store *s, const char *actor, const char *action,
    const char *subject, const char *detail, struct err *e)
{
	const char	*v[4] = { actor, action, subject != NULL ? subject : "",
	    detail != NULL ? detail : "" };
	PGresult	*r;

	r = store_execp(s, SQL_AUDIT, 4, v, NULL, NULL, e);
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
	    "actor, action, subject, detail, prev_hash, hash, chain "
	    "FROM audit_log ORDER BY chain, seq", e) != 0)
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
			a.chain = atoi(PQgetvalue(r, i, 8));
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

/* ---- array parameters ------------------------------------------------ */

void
store_arr_init(struct store_arr *a)
{
	memset(a, 0, sizeof(*a));
}

void
store_arr_free(struct store_arr *a)
{
	if (a == NULL)
		return;
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

void
store_arr_reset(struct store_arr *a)
{
	a->len = 0;
	a->n = 0;
	a->oom = 0;
}

static int
arr_room(struct store_arr *a, size_t more)
{
	size_t	 cap;
	char	*b;

	if (a->oom)
		return -1;
	/* room for more, a separator, the closing brace and the NUL */
	if (a->len + more + 4 <= a->cap)
		return 0;
	cap = a->cap ? a->cap : 256;
	while (cap < a->len + more + 4)
		cap *= 2;
	if ((b = realloc(a->buf, cap)) == NULL) {
		a->oom = 1;
		return -1;
	}
	a->buf = b;
	a->cap = cap;
	return 0;
}

/* Opens the next element: "{" before the first, "," before the others. */
static void
arr_sep(struct store_arr *a)
{
	a->buf[a->len++] = a->n++ == 0 ? '{' : ',';
}

void
store_arr_text(struct store_arr *a, const char *v)
{
	size_t	n, i;

	if (v == NULL) {
		if (arr_room(a, 4) == 0) {
			arr_sep(a);
			memcpy(a->buf + a->len, "NULL", 4);
			a->len += 4;
		}
		return;
	}
	/* quoted, with " and \ escaped by a backslash: every element is
	 * taken as it is (PostgreSQL arrays, 8.15.6) */
	n = strlen(v);
	if (arr_room(a, 2 * n + 2) != 0)
		return;
	arr_sep(a);
	a->buf[a->len++] = '"';
	for (i = 0; i < n; i++) {
		if (v[i] == '"' || v[i] == '\\')
			a->buf[a->len++] = '\\';
		a->buf[a->len++] = v[i];
	}
	a->buf[a->len++] = '"';
}

void
store_arr_bytea(struct store_arr *a, const uint8_t *b, size_t n)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	/* bytea's hex form \x..., its backslash escaped for the array */
	if (arr_room(a, 2 * n + 5) != 0)
		return;
	arr_sep(a);
	memcpy(a->buf + a->len, "\"\\\\x", 4);
	a->len += 4;
	for (i = 0; i < n; i++) {
		a->buf[a->len++] = hex[b[i] >> 4];
		a->buf[a->len++] = hex[b[i] & 15];
	}
	a->buf[a->len++] = '"';
}

void
store_arr_int(struct store_arr *a, int64_t v)
{
	char	num[24];
	int	n;

	n = snprintf(num, sizeof(num), "%" PRId64, v);
	if (arr_room(a, (size_t)n) != 0)
		return;
	arr_sep(a);
	memcpy(a->buf + a->len, num, (size_t)n);
	a->len += (size_t)n;
}

const char *
store_arr_str(struct store_arr *a)
{
	if (arr_room(a, 0) != 0)
		return NULL;
	if (a->n == 0) {
		memcpy(a->buf, "{}", 3);
		return a->buf;
	}
	a->buf[a->len] = '}';
	a->buf[a->len + 1] = '\0';
	return a->buf;
}

/* The text of each array, NULL when one ran out of memory. */
static int
arr_values(struct store_arr *a, size_t n, const char **v, struct err *e)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if ((v[i] = store_arr_str(&a[i])) == NULL)
			return err_set(e, "out of memory");
	return 0;
}

static void
arrs_free(struct store_arr *a, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		store_arr_free(&a[i]);
}

int
store_cert_find_keys(struct store *s, size_t n, const char *const *emails,
    const char *const *profiles, const uint8_t (*spkis)[32],
    store_cert_ix_fn fn, void *arg, struct err *e)
{
	struct store_arr	 a[3];
	const char		*v[3];
	PGresult		*r;
	size_t			 i;
	int			 k, rc = -1;

	if (n == 0)
		return 0;
	for (k = 0; k < 3; k++)
		store_arr_init(&a[k]);
	for (i = 0; i < n; i++) {
		store_arr_text(&a[0], emails[i]);
		store_arr_text(&a[1], profiles[i]);
		store_arr_bytea(&a[2], spkis[i], 32);
	}
	if (arr_values(a, 3, v, e) != 0)
		goto out;
	r = q(s, "SELECT " CERT_COLS ", u.i FROM unnest($1::text[], "
	    "$2::text[], $3::bytea[]) WITH ORDINALITY AS u(m, p, k, i) "
	    "JOIN certificates ON spki_sha256 = u.k AND lower(email) = "
	    "lower(u.m) AND profile = u.p WHERE revoked_at IS NULL AND "
	    "not_after > now() ORDER BY u.i, issued_at DESC, serial", 3, v,
	    NULL, NULL, e);
	if (r == NULL)
		goto out;
	rc = each_cert_ix(s, r, NULL, fn, arg, e);
	PQclear(r);
out:
	arrs_free(a, 3);
	return rc;
}

/* ---- many rows at once ----------------------------------------------- */

/* the rows, and a cert.issue publish job for each row inserted */
static const char SQL_CERT_INSERT_MANY[] =
    "WITH c AS (INSERT INTO certificates (serial, email, display_name, "
    "profile, key_type, spki_sha256, not_before, not_after, der, "
    "issued_by, request_id) SELECT s, m, d, p, k, h, to_timestamp(nb), "
    "to_timestamp(na), x, b, r FROM unnest($1::text[], $2::text[], "
    "$3::text[], $4::text[], $5::text[], $6::bytea[], $7::bigint[], "
    "$8::bigint[], $9::bytea[], $10::text[], $11::bigint[]) "
    "WITH ORDINALITY AS u(s, m, d, p, k, h, nb, na, x, b, r, i) "
    "ORDER BY i ON CONFLICT (serial) DO NOTHING RETURNING serial, email), "
    "j AS (INSERT INTO publish_jobs (kind, ref, email) "
    "SELECT 'cert.issue', serial, email FROM c) "
    "SELECT serial FROM c";

int
store_cert_insert_many(struct store *s, const struct cert_row *rows,
    size_t n, int *taken, struct err *e)
{
	struct store_arr	 a[11];
	const char		*v[11];
	PGresult		*r = NULL;
	size_t			 i, j;
	int			 k, rc = -1;

	for (k = 0; k < 11; k++)
		store_arr_init(&a[k]);
	for (i = 0; i < n; i++) {
		store_arr_text(&a[0], rows[i].serial);
		store_arr_text(&a[1], rows[i].email);
		store_arr_text(&a[2], rows[i].display_name);
		store_arr_text(&a[3], rows[i].profile);
		store_arr_text(&a[4], rows[i].key_type);
		store_arr_bytea(&a[5], rows[i].spki_sha256, 32);
		store_arr_int(&a[6], rows[i].not_before);
		store_arr_int(&a[7], rows[i].not_after);
		store_arr_bytea(&a[8], rows[i].der, rows[i].der_len);
		store_arr_text(&a[9], rows[i].issued_by);
		if (rows[i].request_id != 0)
			store_arr_int(&a[10], rows[i].request_id);
		else
			store_arr_text(&a[10], NULL);
		taken[i] = 1;
	}
	if (arr_values(a, 11, v, e) != 0)
		goto out;
	if ((r = store_execp(s, SQL_CERT_INSERT_MANY, 11, v, NULL, NULL,
	    e)) == NULL)
		goto out;
	if (PQntuples(r) > 0)
		publish_queued(s);
	/* a serial not returned was taken already (RFC 5280 4.1.2.2: unique
	 * per CA), by an older certificate or by an earlier row here */
	for (k = 0; k < PQntuples(r); k++)
		for (j = 0; j < n; j++)
			if (taken[j] && !strcmp(rows[j].serial,
			    PQgetvalue(r, k, 0))) {
				taken[j] = 0;
				break;
			}
	rc = 0;
out:
	PQclear(r);
	arrs_free(a, 11);
	return rc;
}

/* ---- audit records, many per call ------------------------------------- */

void
store_audit_buf_init(struct store_audit_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
store_audit_buf_reset(struct store_audit_buf *b)
{
	size_t	i;

	for (i = 0; i < b->n; i++) {
		free((char *)b->r[i].actor);
		free((char *)b->r[i].action);
		free((char *)b->r[i].subject);
		free((char *)b->r[i].detail);
	}
	b->n = 0;
	b->oom = 0;
	b->sealed = 0;
}

void
store_audit_buf_free(struct store_audit_buf *b)
{
	if (b == NULL)
		return;
	store_audit_buf_reset(b);
	free(b->r);
	memset(b, 0, sizeof(*b));
}

void
store_audit_buf_add(struct store_audit_buf *b, const char *actor,
    const char *action, const char *subject, const char *detail)
{
	struct audit_rec	*r;
	size_t			 cap;

	if (b->oom)
		return;
	if (b->n == b->cap) {
		cap = b->cap ? 2 * b->cap : 64;
		if ((r = realloc(b->r, cap * sizeof(*r))) == NULL) {
			b->oom = 1;
			return;
		}
		b->r = r;
		b->cap = cap;
	}
	r = &b->r[b->n];
	memset(r, 0, sizeof(*r));
	b->sealed = 0;	/* a record more: the head is read again */
	r->actor = strdup(actor);
	r->action = strdup(action);
	r->subject = strdup(subject != NULL ? subject : "");
	r->detail = strdup(detail != NULL ? detail : "");
	b->n++;
	if (r->actor == NULL || r->action == NULL || r->subject == NULL ||
	    r->detail == NULL)
		b->oom = 1;
}

/*
 * The chain this transaction holds, its head's hash, the clock and n
 * rising seq values, in one statement. It replaces the plpgsql
 * audit_head(n) of sql/052 (dropped by sql/054), which cost five times
 * its queries (a tuple store, its own plans), a fifth of a submission's
 * time in the database. audit_chain() runs first, so the head is read under the
 * chain's lock. The n rows come from unnest(array_fill(..)), not
 * generate_series: its generic plan's estimate (10 rows, not 1,000) lets
 * the plan cache keep one plan rather than plan every call. The head is
 * looked up as a range on chain ordered by (chain, seq), which only
 * audit_log_chain_seq gives: "chain = c ORDER BY seq DESC" was planned
 * as a backward scan of seq filtering on chain, reading every record
 * appended since the chain was last used (sql/054).
 */
static const char SQL_AUDIT_HEAD[] =
    "SELECT c.chain, nextval('audit_log_seq'), coalesce(h.hash, "
    "'\\x0000000000000000000000000000000000000000000000000000000000000000'"
    "::bytea), (extract(epoch FROM clock_timestamp()) * 1000000)::bigint "
    "FROM (SELECT audit_chain() AS chain OFFSET 0) c "
    "LEFT JOIN LATERAL (SELECT a.hash FROM audit_log a "
    "WHERE a.chain >= c.chain AND a.chain <= c.chain "
    "ORDER BY a.chain DESC, a.seq DESC LIMIT 1) h ON true, "
    "unnest(array_fill(0, ARRAY[$1::int])) ORDER BY 2";

/* A head query's answer, read and cleared. */
static int
audit_head_read(PGresult *r, size_t n, int *chain, int64_t *seqs,
    uint8_t hash[32], int64_t *now_us, struct err *e)
{
	unsigned char	*h;
	size_t		 hl, i;
	int		 rc = -1;

	if ((size_t)PQntuples(r) != n || n == 0) {
		err_set(e, "database: no audit chain head");
		goto out;
	}
	*chain = atoi(PQgetvalue(r, 0, 0));
	*now_us = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
	for (i = 0; i < n; i++)
		seqs[i] = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
	h = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 2), &hl);
	if (h == NULL || hl != 32) {
		PQfreemem(h);
		err_set(e, "database: the audit chain head has no hash");
		goto out;
	}
	memcpy(hash, h, 32);
	PQfreemem(h);
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int
store_audit_head(struct store *s, size_t n, int *chain, int64_t *seqs,
    uint8_t hash[32], int64_t *now_us, struct err *e)
{
	PGresult	*r;
	const char	*v[1];
	char		 nbuf[24];

	snprintf(nbuf, sizeof(nbuf), "%zu", n);
	v[0] = nbuf;
	if ((r = store_execp(s, SQL_AUDIT_HEAD, 1, v, NULL, NULL, e)) == NULL)
		return -1;
	return audit_head_read(r, n, chain, seqs, hash, now_us, e);
}

int
store_audit_head_send(struct store *s, size_t n, struct err *e)
{
	const char	*v[1];
	char		 nbuf[24];

	snprintf(nbuf, sizeof(nbuf), "%zu", n);
	v[0] = nbuf;
	return store_pipe_send(s, SQL_AUDIT_HEAD, 1, v, NULL, NULL, e);
}

int
store_audit_head_take(struct store *s, int i, size_t n, int *chain,
    int64_t *seqs, uint8_t hash[32], int64_t *now_us, struct err *e)
{
	PGresult	*r;

	if ((r = store_pipe_take(s, i)) == NULL)
		return err_set(e, "database: no audit chain head");
	return audit_head_read(r, n, chain, seqs, hash, now_us, e);
}

static const char SQL_AUDIT_INSERT_MANY[] =
    "INSERT INTO audit_log (seq, chain, at_us, actor, action, subject, "
    "detail, prev_hash, hash) SELECT * FROM unnest($1::bigint[], "
    "$2::smallint[], $3::bigint[], $4::text[], $5::text[], $6::text[], "
    "$7::text[], $8::bytea[], $9::bytea[])";

/* The insert's arrays; 0, or -1 when out of memory. */
static int
audit_insert_values(struct store_arr *a, const char **v,
    const struct audit_rec *recs, size_t n, struct err *e)
{
	size_t	i;

	for (i = 0; i < 9; i++)
		store_arr_init(&a[i]);
	for (i = 0; i < n; i++) {
		store_arr_int(&a[0], recs[i].seq);
		store_arr_int(&a[1], recs[i].chain);
		store_arr_int(&a[2], recs[i].at_us);
		store_arr_text(&a[3], recs[i].actor);
		store_arr_text(&a[4], recs[i].action);
		store_arr_text(&a[5], recs[i].subject);
		store_arr_text(&a[6], recs[i].detail);
		store_arr_bytea(&a[7], recs[i].prev_hash, 32);
		store_arr_bytea(&a[8], recs[i].hash, 32);
	}
	return arr_values(a, 9, v, e);
}

int
store_audit_insert_many(struct store *s, const struct audit_rec *recs,
    size_t n, struct err *e)
{
	struct store_arr	 a[9];
	const char		*v[9];
	PGresult		*r;
	int			 rc = -1;

	if (n == 0)
		return 0;
	if (audit_insert_values(a, v, recs, n, e) != 0)
		goto out;
	if ((r = store_execp(s, SQL_AUDIT_INSERT_MANY, 9, v, NULL, NULL,
	    e)) == NULL)
		goto out;
	if (strtoul(PQcmdTuples(r), NULL, 10) != n) {
		PQclear(r);
		err_set(e, "database: audit records not all stored");
		goto out;
	}
	PQclear(r);
	rc = 0;
out:
	arrs_free(a, 9);
	return rc;
}

int
store_audit_insert_send(struct store *s, const struct audit_rec *recs,
    size_t n, struct err *e)
{
	struct store_arr	 a[9];
	const char		*v[9];
	int			 rc = -1;

	/* libpq copies the values into its buffer as it sends */
	if (audit_insert_values(a, v, recs, n, e) == 0)
		rc = store_pipe_send(s, SQL_AUDIT_INSERT_MANY, 9, v, NULL,
		    NULL, e);
	arrs_free(a, 9);
	return rc;
}

/* ---- one issuance, one round trip ------------------------------------ */

/*
 * The two statements of an issuance go in one pipeline with one Sync at
 * its end, so the server runs them as one implicit transaction and
 * commits it at the Sync: an error in either stores nothing. Without a
 * BEGIN and a COMMIT of their own, the server runs two statements per
 * certificate instead of five.
 */

/* Leaves pipeline mode after a failure: ends the pipeline, drops every
 * result and rolls the transaction back. */
static void
pipeline_abandon(struct store *s)
{
	PGresult	*r;
	int		 nulls = 0;

	if (PQpipelineStatus(s->pg) != PQ_PIPELINE_OFF) {
		if (PQpipelineSync(s->pg) == 1) {
			/* results up to the sync; a run of NULLs means the
			 * connection is gone */
			while (nulls < 16) {
				if ((r = PQgetResult(s->pg)) == NULL) {
					nulls++;
					continue;
				}
				nulls = 0;
				if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
					PQclear(r);
					break;
				}
				PQclear(r);
			}
		}
		PQexitPipelineMode(s->pg);
	}
	if (PQstatus(s->pg) == CONNECTION_OK)
		PQclear(PQexec(s->pg, "ROLLBACK"));
	s->issuing = 0;
}

static int
send_prepared(struct store *s, const char *sql, int n, const char *const *v,
    const int *len, const int *fmt, struct err *e)
{
	const char	*name;
	char		 buf[32];

	/* prepared before the pipeline starts: see store_issue_start */
	if ((name = prepared_name(s, sql, n, buf, e)) == NULL)
		return -1;
	if (PQsendQueryPrepared(s->pg, name, n, v, len, fmt, 0) != 1)
		return pgerr(s, e, "database");
	return 0;
}

int
store_issue_start(struct store *s, const char *actor, const char *action,
    const char *subject, const char *detail, const char *kind,
    const char *ref, const char *email, struct err *e)
{
	char		 buf[32];
	const char	*v[7] = { actor, action, subject != NULL ? subject : "",
	    detail != NULL ? detail : "", kind, ref != NULL ? ref : "",
	    email };

	if (s->issuing)
		return err_set(e, "an issuance is under way on this "
		    "connection");
	if (PQtransactionStatus(s->pg) != PQTRANS_IDLE)
		return err_set(e, "an issuance needs a connection outside "
		    "a transaction");
	/* statements are prepared outside the pipeline, once */
	if (prepared_name(s, SQL_ISSUE_AUDIT, 7, buf, e) == NULL ||
	    prepared_name(s, SQL_CERT_INSERT_STRICT, 11, buf, e) == NULL)
		return -1;
	if (PQenterPipelineMode(s->pg) != 1)
		return pgerr(s, e, "database");
	s->issuing = 1;
	if (send_prepared(s, SQL_ISSUE_AUDIT, 7, v, NULL, NULL, e) != 0)
		goto fail;
	/* the server works through it while the caller signs */
	if (PQflush(s->pg) != 0) {
		pgerr(s, e, "database");
		goto fail;
	}
	return 0;
fail:
	pipeline_abandon(s);
	return -1;
}

void
store_issue_abort(struct store *s)
{
	if (s->issuing)
		pipeline_abandon(s);
}

int
store_issue_finish(struct store *s, const struct cert_row *c, struct err *e)
{
	/* audit record, publish job and wake-up; row; then the Sync */
	static const char *const what[2] = { "the audit record",
	    "the certificate row" };
	struct cert_params	 p;
	PGresult		*r;
	const char		*state, *cons;
	int			 i, rc = 0, failed = -1, taken = 0;

	if (!s->issuing)
		return err_set(e, "no issuance under way");
	cert_params(&p, c);
	if (send_prepared(s, SQL_CERT_INSERT_STRICT, 11, p.v, p.l, p.f,
	    e) != 0) {
		pipeline_abandon(s);
		return -1;
	}
	/* the Sync ends the implicit transaction: commits it */
	if (PQpipelineSync(s->pg) != 1) {
		pgerr(s, e, "database");
		pipeline_abandon(s);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		while ((r = PQgetResult(s->pg)) != NULL) {
			switch (PQresultStatus(r)) {
			case PGRES_COMMAND_OK:
			case PGRES_TUPLES_OK:
				if (i == 0 && PQntuples(r) != 1 &&
				    failed < 0) {
					failed = i;
					err_set(e, "database: %s was not "
					    "stored", what[i]);
				}
				break;
			case PGRES_PIPELINE_ABORTED:
				break;
			default:
				if (failed >= 0)
					break;
				failed = i;
				state = PQresultErrorField(r,
				    PG_DIAG_SQLSTATE);
				cons = PQresultErrorField(r,
				    PG_DIAG_CONSTRAINT_NAME);
				/* 23505 unique_violation */
				taken = i == 1 && state != NULL &&
				    !strcmp(state, "23505") && cons != NULL &&
				    !strcmp(cons, "certificates_pkey");
				err_set(e, "database: %s: %.*s", what[i],
				    (int)strcspn(PQresultErrorMessage(r),
				    "\n"), PQresultErrorMessage(r));
				break;
			}
			PQclear(r);
		}
	}
	r = PQgetResult(s->pg);
	if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		if (failed < 0)
			pgerr(s, e, "database");
		failed = 2;
		taken = 0;
	}
	PQclear(r);
	if (failed < 0) {
		/* committed; nothing is left in the pipeline to keep it */
		PQexitPipelineMode(s->pg);
		s->issuing = 0;
		return 0;
	}
	rc = taken ? 1 : -1;
	pipeline_abandon(s);
	return rc;
}
