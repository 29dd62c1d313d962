/*
 * wstore: every SQL statement of signet-web (tables in sql/010_web.sql).
 *
 * Kore's pgsql in synchronous mode over the local socket: each statement
 * is a single indexed row operation. Values always travel as parameters
 * ($1..), never inside the SQL text.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/pgsql.h>

#include <sodium.h>


#include "web.h"
#include "store.h"

static int
db_open(struct kore_pgsql *sql, struct err *e)
{
	kore_pgsql_init(sql);
	if (!kore_pgsql_setup(sql, WEB_DB, KORE_PGSQL_SYNC))
		return err_set(e, "database: %s", sql->error != NULL ?
		    sql->error : "cannot connect");
	return 0;
}

static int
db_fail(struct kore_pgsql *sql, struct err *e, const char *what)
{
	return err_set(e, "%s: %s", what, sql->error != NULL ? sql->error :
	    "query failed");
}

/*
 * Connects and runs query with n parameters, given as Kore's
 * KORE_PGSQL_PARAM_* (value, length, format); -1 with *e naming what
 * failed. The caller reads the result and cleans sql up either way.
 */
static int
db_vquery(struct kore_pgsql *sql, struct err *e, const char *what,
    const char *query, int n, va_list ap)
{
	if (db_open(sql, e) == -1)
		return -1;
	if (!kore_pgsql_v_query_params(sql, query, 0, n, ap))
		return db_fail(sql, e, what);
	return 0;
}

static int
db_query(struct kore_pgsql *sql, struct err *e, const char *what,
    const char *query, int n, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, n);
	rc = db_vquery(sql, e, what, query, n, ap);
	va_end(ap);
	return rc;
}

/* db_query for a statement whose result is not read. */
static int
db_do(struct err *e, const char *what, const char *query, int n, ...)
{
	struct kore_pgsql	sql;
	va_list			ap;
	int			rc;

	va_start(ap, n);
	rc = db_vquery(&sql, e, what, query, n, ap);
	va_end(ap);
	kore_pgsql_cleanup(&sql);
	return rc;
}

int
wstore_session_insert(const u_int8_t *hash, const char *kind,
    const char *subject, const char *uid, const char *name, const char *mail,
    const char *csrf, int hours, struct err *e)
{
	char	hrs[16];

	snprintf(hrs, sizeof(hrs), "%d", hours);
	/* Expired rows are removed as new sessions are made. */
	if (db_do(e, "removing expired sessions",
	    "DELETE FROM web_sessions WHERE expires < now()", 0) == -1)
		return -1;
	return db_do(e, "storing session",
	    "INSERT INTO web_sessions (token_hash, kind, subject, "
	    "display_name, mail, csrf, expires, uid) VALUES ($1, $2, $3, $4, "
	    "$5, $6, now() + make_interval(hours => $7::int), $8)", 8,
	    KORE_PGSQL_PARAM_BINARY(hash, 32),
	    KORE_PGSQL_PARAM_TEXT(kind),
	    KORE_PGSQL_PARAM_TEXT(subject),
	    KORE_PGSQL_PARAM_TEXT(name),
	    KORE_PGSQL_PARAM_TEXT(mail),
	    KORE_PGSQL_PARAM_TEXT(csrf),
	    KORE_PGSQL_PARAM_TEXT(hrs),
	    KORE_PGSQL_PARAM_TEXT(uid));
}

static void
copy_col(struct kore_pgsql *sql, int col, char *dst, size_t len)
{
	snprintf(dst, len, "%s", kore_pgsql_getvalue(sql, 0, col));
}

int
wstore_session_get(const u_int8_t *hash, int idle_minutes,
    struct web_session *s, int *found, struct err *e)
{
	struct kore_pgsql	sql;
	char			idle[16];
	int			rc = -1;

	*found = 0;
	snprintf(idle, sizeof(idle), "%d", idle_minutes);
	/* Absolute expiry and an idle limit; a hit refreshes last_seen. */
	if (db_query(&sql, e, "reading session",
	    "UPDATE web_sessions SET last_seen = now() WHERE token_hash = $1 "
	    "AND expires > now() AND last_seen > now() - "
	    "make_interval(mins => $2::int) "
	    "RETURNING kind, subject, display_name, mail, csrf, uid", 2,
	    KORE_PGSQL_PARAM_BINARY(hash, 32),
	    KORE_PGSQL_PARAM_TEXT(idle)) == -1)
		goto out;
	if (kore_pgsql_ntuples(&sql) == 1) {
		copy_col(&sql, 0, s->kind, sizeof(s->kind));
		copy_col(&sql, 1, s->subject, sizeof(s->subject));
		copy_col(&sql, 2, s->display_name, sizeof(s->display_name));
		copy_col(&sql, 3, s->mail, sizeof(s->mail));
		copy_col(&sql, 4, s->csrf, sizeof(s->csrf));
		copy_col(&sql, 5, s->uid, sizeof(s->uid));
		*found = 1;
	}
	rc = 0;
out:
	kore_pgsql_cleanup(&sql);
	return rc;
}

int
wstore_session_delete(const u_int8_t *hash, struct err *e)
{
	return db_do(e, "deleting session",
	    "DELETE FROM web_sessions WHERE token_hash = $1", 1,
	    KORE_PGSQL_PARAM_BINARY(hash, 32));
}

int
wstore_failures_count(const char *account, const char *client,
    int window_minutes, int *account_n, int *client_n, struct err *e)
{
	struct kore_pgsql	sql;
	char			win[16];
	int			rc = -1;

	snprintf(win, sizeof(win), "%d", window_minutes);
	if (db_query(&sql, e, "counting login failures",
	    "SELECT count(*) FILTER (WHERE account = $1), "
	    "count(*) FILTER (WHERE client = $2) FROM web_login_failures "
	    "WHERE (account = $1 OR client = $2) AND "
	    "at > now() - make_interval(mins => $3::int)", 3,
	    KORE_PGSQL_PARAM_TEXT(account),
	    KORE_PGSQL_PARAM_TEXT(client),
	    KORE_PGSQL_PARAM_TEXT(win)) == -1)
		goto out;
	*account_n = atoi(kore_pgsql_getvalue(&sql, 0, 0));
	*client_n = atoi(kore_pgsql_getvalue(&sql, 0, 1));
	rc = 0;
out:
	kore_pgsql_cleanup(&sql);
	return rc;
}

int
wstore_failure_add(const char *account, const char *client, struct err *e)
{
	return db_do(e, "recording login failure",
	    "INSERT INTO web_login_failures (account, client) VALUES ($1, $2)",
	    2, KORE_PGSQL_PARAM_TEXT(account), KORE_PGSQL_PARAM_TEXT(client));
}

int
wstore_failures_clear(const char *account, struct err *e)
{
	return db_do(e, "clearing login failures",
	    "DELETE FROM web_login_failures WHERE account = $1", 1,
	    KORE_PGSQL_PARAM_TEXT(account));
}

/* ---- page reads ---- */

/*
 * Runs query with text parameters (NULL entries become SQL NULL) and puts
 * the rows into d: as rows of the list called list, or, with list NULL,
 * the first row's columns into d itself. *nrows gets the row count.
 */
static int
rows(const char *query, int n, const char **params, struct tmpl_data *d,
    const char *list, int *nrows, struct err *e)
{
	struct kore_pgsql	 sql;
	struct tmpl_data	*row;
	int			 i, j, nt, nf, rc = -1;
	int			 lens[8] = { 0 }, fmts[8] = { 0 };

	if (db_open(&sql, e) == -1)
		goto out;
	if (!kore_pgsql_query_param_fields(&sql, query, 0, n, params, lens,
	    fmts)) {
		db_fail(&sql, e, "reading");
		goto out;
	}
	nt = kore_pgsql_ntuples(&sql);
	nf = kore_pgsql_nfields(&sql);
	for (i = 0; i < nt && (list != NULL || i < 1); i++) {
		row = d;
		if (list != NULL && (row = tmpl_data_add_row(d, list, e)) ==
		    NULL)
			goto out;
		for (j = 0; j < nf; j++)
			if (tmpl_data_set(row, kore_pgsql_fieldname(&sql, j),
			    kore_pgsql_getvalue(&sql, i, j), e) == -1)
				goto out;
	}
	if (nrows != NULL)
		*nrows = nt;
	rc = 0;
out:
	kore_pgsql_cleanup(&sql);
	return rc;
}

/* The columns every certificate list shows. */
#define CERT_COLS \
	"serial, email, coalesce(display_name, '') AS display_name, " \
	"profile, key_type, to_char(not_before AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD') AS not_before, to_char(not_after AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD') AS not_after, CASE WHEN revoked_at IS NOT NULL THEN " \
	"'revoked' WHEN not_after < now() THEN 'expired' ELSE 'valid' END " \
	"AS status, CASE WHEN revoked_at IS NULL AND not_after >= now() " \
	"THEN 'yes' ELSE '' END AS is_valid, coalesce(revocation_reason::text, " \
	"'') AS revocation_reason, coalesce(request_id::text, '') AS request_id"

#define REQ_COLS \
	"r.id, r.state, r.source, r.email, coalesce(r.display_name, '') AS " \
	"display_name, r.profile, r.requester, coalesce(r.requester_mail, '') " \
	"AS requester_mail, array_to_string(r.groups, ', ') AS groups, " \
	"coalesce(r.reason, '') AS reason, coalesce(r.decided_by, '') AS " \
	"decided_by, coalesce(r.serial, '') AS serial, " \
	"to_char(r.submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') " \
	"AS submitted_at, CASE WHEN r.state = 'issued' THEN 'yes' ELSE '' " \
	"END AS is_issued, CASE WHEN r.state = 'pending' THEN 'yes' ELSE '' " \
	"END AS is_pending, CASE WHEN r.state = 'denied' THEN 'yes' ELSE '' " \
	"END AS is_denied, CASE WHEN r.key_pickup IS NOT NULL THEN 'yes' " \
	"ELSE '' END AS has_pickup, CASE WHEN r.source = 'browser' THEN " \
	"'yes' ELSE '' END AS is_browser, CASE r.source WHEN 'browser' THEN " \
	"'Created in the browser' WHEN 'csr' THEN 'Own CSR' WHEN 'server' " \
	"THEN 'Made by the server' ELSE 'Command line' END AS source_label"

int
wstore_my_requests(const char *uid, struct tmpl_data *d, struct err *e)
{
	const char	*p[] = { uid };

	/* An employee's own requests only: requester is the session's uid. */
	return rows("SELECT " REQ_COLS " FROM requests r WHERE r.requester = $1 "
	    "AND r.via_ra ORDER BY r.id DESC LIMIT 50", 1, p, d, "requests",
	    NULL, e);
}

/*
 * What makes a certificate an employee's own: its mailbox is their
 * directory mail, or it was issued from a request they made themselves
 * through the site (requester is the session's uid; not one an officer
 * made on someone's behalf, whose requester is an operator name).
 */
#define MINE \
	"(lower(c.email) = lower($1) OR c.request_id IN (SELECT r.id FROM " \
	"requests r WHERE r.requester = $2 AND r.via_ra AND NOT r.on_behalf))"

int
wstore_my_certs(const char *mail, const char *uid, struct tmpl_data *d,
    struct err *e)
{
	const char	*p[] = { mail, uid };

	return rows("SELECT " CERT_COLS " FROM certificates c WHERE " MINE
	    " ORDER BY issued_at DESC LIMIT 50", 2, p, d, "certs", NULL, e);
}

int
wstore_my_cert(const char *serial, const char *uid, const char *mail,
    struct tmpl_data *d, int *found, struct err *e)
{
	const char	*p[] = { mail, uid, serial };

	return rows("SELECT " CERT_COLS " FROM certificates c WHERE "
	    "c.serial = $3 AND " MINE, 3, p, d, NULL, found, e);
}

int
wstore_batch(int64_t id, const char *uid, struct tmpl_data *d,
    struct err *e)
{
	char		 ids[24];
	const char	*p[] = { ids, uid };

	/* The batch is named by its first request's id (ra.h). */
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	return rows("SELECT " REQ_COLS ", CASE WHEN r.profile = 'encryption' "
	    "THEN 'yes' ELSE '' END AS is_enc FROM requests r, requests me WHERE "
	    "me.id = $1::bigint AND ($2::text IS NULL OR (me.requester = $2 "
	    "AND me.via_ra)) AND r.id <> me.id AND r.requester = me.requester "
	    "AND coalesce(nullif(r.batch_id, 0), r.id) = "
	    "coalesce(nullif(me.batch_id, 0), me.id) ORDER BY r.id", 2, p, d,
	    "batch", NULL, e);
}

int
wstore_cert_escrowed(const char *serial, struct tmpl_data *d, struct err *e)
{
	const char	*p[] = { serial };

	return rows("SELECT CASE WHEN EXISTS (SELECT 1 FROM key_escrow WHERE "
	    "serial = $1) THEN 'yes' ELSE '' END AS has_escrow", 1, p, d, NULL,
	    NULL, e);
}

int
wstore_request(int64_t id, const char *uid, struct tmpl_data *d, int *found,
    struct err *e)
{
	char		 ids[24];
	const char	*p[] = { ids, uid };

	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	if (uid != NULL)
		return rows("SELECT " REQ_COLS " FROM requests r WHERE r.id = $1 "
		    "AND r.requester = $2 AND r.via_ra", 2, p, d, NULL, found,
		    e);
	return rows("SELECT " REQ_COLS " FROM requests r WHERE r.id = $1", 1,
	    p, d, NULL, found, e);
}

int
wstore_lookup(const char *mail, struct tmpl_data *d, struct err *e)
{
	const char	*p[] = { mail };

	/* Only certificates a correspondent should encrypt to or trust. */
	return rows("SELECT " CERT_COLS " FROM certificates WHERE "
	    "lower(email) = lower($1) AND revoked_at IS NULL AND not_after > "
	    "now() ORDER BY issued_at DESC LIMIT 20", 1, p, d, "certs", NULL,
	    e);
}

int
wstore_cert(const char *serial, struct tmpl_data *d, int *found,
    struct err *e)
{
	const char	*p[] = { serial };

	return rows("SELECT " CERT_COLS ", issued_by, to_char(issued_at AT "
	    "TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS issued_at, "
	    "coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD "
	    "HH24:MI'), '') AS revoked_at FROM certificates WHERE serial = $1",
	    1, p, d, NULL, found, e);
}

int
wstore_der(const char *serial, u_int8_t **der, size_t *len, int *found,
    struct err *e)
{
	struct kore_pgsql	 sql;
	const char		*hex;
	size_t			 hlen;
	int			 rc = -1;

	*der = NULL;
	*len = 0;
	*found = 0;
	if (db_open(&sql, e) == -1)
		goto out;
	if (serial != NULL ? !kore_pgsql_query_params(&sql,
	    "SELECT encode(der, 'hex') FROM certificates WHERE serial = $1",
	    0, 1, KORE_PGSQL_PARAM_TEXT(serial)) :
	    !kore_pgsql_query(&sql, "SELECT encode(cert, 'hex') FROM ca")) {
		db_fail(&sql, e, "reading certificate");
		goto out;
	}
	if (kore_pgsql_ntuples(&sql) == 1) {
		hex = kore_pgsql_getvalue(&sql, 0, 0);
		hlen = strlen(hex);
		*der = kore_malloc(hlen / 2 + 1);
		if (sodium_hex2bin(*der, hlen / 2 + 1, hex, hlen, NULL, len,
		    NULL) != 0) {
			kore_free(*der);
			*der = NULL;
			err_set(e, "certificate: bad hex from the database");
			goto out;
		}
		*found = 1;
	}
	rc = 0;
out:
	kore_pgsql_cleanup(&sql);
	return rc;
}

int
wstore_ca_info(struct tmpl_data *d, struct err *e)
{
	return rows("SELECT subject, to_char(installed_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD') AS installed_at FROM ca", 0, NULL, d, NULL, NULL, e);
}

int
wstore_queue(struct tmpl_data *d, struct err *e)
{
	return rows("SELECT " REQ_COLS " FROM requests r WHERE r.state = "
	    "'pending' ORDER BY r.id LIMIT 200", 0, NULL, d, "requests", NULL,
	    e);
}

int
wstore_cert_search(const char *mail, const char *serial, const char *state,
    struct tmpl_data *d, struct err *e)
{
	const char	*p[] = { mail, serial, state };

	/* Each criterion applies only when given (NULL: any). */
	return rows("SELECT " CERT_COLS " FROM certificates WHERE "
	    "($1::text IS NULL OR lower(email) = lower($1)) AND "
	    "($2::text IS NULL OR serial = $2) AND "
	    "($3::text IS NULL OR $3 = CASE WHEN revoked_at IS NOT NULL THEN "
	    "'revoked' WHEN not_after < now() THEN 'expired' ELSE 'valid' END) "
	    "ORDER BY issued_at DESC LIMIT 200", 3, p, d, "certs", NULL, e);
}

int
wstore_audit_page(int page, int per_page, struct tmpl_data *d, int *more,
    struct err *e)
{
	char		 lim[16], off[24];
	const char	*p[] = { lim, off };
	int		 n;

	/* One row more than shown says whether an older page exists. */
	snprintf(lim, sizeof(lim), "%d", per_page + 1);
	snprintf(off, sizeof(off), "%lld", (long long)page * per_page);
	if (rows("SELECT seq, to_char(to_timestamp(at_us / 1000000.0) AT TIME "
	    "ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS at, actor, action, "
	    "subject, detail FROM audit_log ORDER BY seq DESC LIMIT $1::int "
	    "OFFSET $2::bigint", 2, p, d, "records", &n, e) == -1)
		return -1;
	*more = n > per_page;
	return 0;
}

int
wstore_operator(const char *name, struct web_operator *op, int *found,
    struct err *e)
{
	struct kore_pgsql	sql;
	int			rc = -1;

	memset(op, 0, sizeof(*op));
	*found = 0;
	if (db_query(&sql, e, "reading operator",
	    "SELECT name, role, coalesce(password_hash, ''), "
	    "coalesce(encode(client_cert_sha256, 'hex'), ''), disabled::text "
	    "FROM operators WHERE name = $1", 1,
	    KORE_PGSQL_PARAM_TEXT(name)) == -1)
		goto out;
	if (kore_pgsql_ntuples(&sql) == 1) {
		copy_col(&sql, 0, op->name, sizeof(op->name));
		copy_col(&sql, 1, op->role, sizeof(op->role));
		copy_col(&sql, 2, op->password_hash, sizeof(op->password_hash));
		copy_col(&sql, 3, op->client_cert_sha256,
		    sizeof(op->client_cert_sha256));
		op->disabled = strcmp(kore_pgsql_getvalue(&sql, 0, 4),
		    "true") == 0;
		*found = 1;
	}
	rc = 0;
out:
	kore_pgsql_cleanup(&sql);
	return rc;
}

struct store *
web_store(struct err *e)
{
	static struct store	*st;

	if (st != NULL && PQstatus(store_pg(st)) != CONNECTION_OK) {
		store_close(st);
		st = NULL;
	}
	if (st == NULL)
		st = store_open(web_cfg.db, e);
	return st;
}
