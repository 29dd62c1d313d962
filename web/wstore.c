/*
 * wstore: every SQL statement of signet-web (tables in sql/010_web.sql).
 *
 * Kore's pgsql in synchronous mode over the local socket: each statement
 * is a single indexed row operation. Values always travel as parameters
 * ($1..), never inside the SQL text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/pgsql.h>

#include "web.h"

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

int
wstore_session_insert(const u_int8_t *hash, const char *kind,
    const char *subject, const char *name, const char *mail,
    const char *csrf, int hours, struct err *e)
{
	struct kore_pgsql	sql;
	char			hrs[16];
	int			rc = -1;

	snprintf(hrs, sizeof(hrs), "%d", hours);
	if (db_open(&sql, e) == -1)
		goto out;
	/* Expired rows are removed as new sessions are made. */
	if (!kore_pgsql_query(&sql,
	    "DELETE FROM web_sessions WHERE expires < now()")) {
		db_fail(&sql, e, "removing expired sessions");
		goto out;
	}
	kore_pgsql_cleanup(&sql);
	if (db_open(&sql, e) == -1)
		goto out;
	if (!kore_pgsql_query_params(&sql,
	    "INSERT INTO web_sessions (token_hash, kind, subject, "
	    "display_name, mail, csrf, expires) VALUES ($1, $2, $3, $4, $5, "
	    "$6, now() + make_interval(hours => $7::int))", 0, 7,
	    KORE_PGSQL_PARAM_BINARY(hash, 32),
	    KORE_PGSQL_PARAM_TEXT(kind),
	    KORE_PGSQL_PARAM_TEXT(subject),
	    KORE_PGSQL_PARAM_TEXT(name),
	    KORE_PGSQL_PARAM_TEXT(mail),
	    KORE_PGSQL_PARAM_TEXT(csrf),
	    KORE_PGSQL_PARAM_TEXT(hrs))) {
		db_fail(&sql, e, "storing session");
		goto out;
	}
	rc = 0;
out:
	kore_pgsql_cleanup(&sql);
	return rc;
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
	if (db_open(&sql, e) == -1)
		goto out;
	/* Absolute expiry and an idle limit; a hit refreshes last_seen. */
	if (!kore_pgsql_query_params(&sql,
	    "UPDATE web_sessions SET last_seen = now() WHERE token_hash = $1 "
	    "AND expires > now() AND last_seen > now() - "
	    "make_interval(mins => $2::int) "
	    "RETURNING kind, subject, display_name, mail, csrf", 0, 2,
	    KORE_PGSQL_PARAM_BINARY(hash, 32),
	    KORE_PGSQL_PARAM_TEXT(idle))) {
		db_fail(&sql, e, "reading session");
		goto out;
	}
	if (kore_pgsql_ntuples(&sql) == 1) {
		copy_col(&sql, 0, s->kind, sizeof(s->kind));
		copy_col(&sql, 1, s->subject, sizeof(s->subject));
		copy_col(&sql, 2, s->display_name, sizeof(s->display_name));
		copy_col(&sql, 3, s->mail, sizeof(s->mail));
		copy_col(&sql, 4, s->csrf, sizeof(s->csrf));
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
	struct kore_pgsql	sql;
	int			rc = -1;

	if (db_open(&sql, e) == -1)
		goto out;
	if (!kore_pgsql_query_params(&sql,
	    "DELETE FROM web_sessions WHERE token_hash = $1", 0, 1,
	    KORE_PGSQL_PARAM_BINARY(hash, 32))) {
		db_fail(&sql, e, "deleting session");
		goto out;
	}
	rc = 0;
out:
	kore_pgsql_cleanup(&sql);
	return rc;
}

int
wstore_failures_count(const char *account, const char *client,
    int window_minutes, int *account_n, int *client_n, struct err *e)
{
	struct kore_pgsql	sql;
	char			win[16];
	int			rc = -1;

	snprintf(win, sizeof(win), "%d", window_minutes);
	if (db_open(&sql, e) == -1)
		goto out;
	if (!kore_pgsql_query_params(&sql,
	    "SELECT count(*) FILTER (WHERE account = $1), "
	    "count(*) FILTER (WHERE client = $2) FROM web_login_failures "
	    "WHERE (account = $1 OR client = $2) AND "
	    "at > now() - make_interval(mins => $3::int)", 0, 3,
	    KORE_PGSQL_PARAM_TEXT(account),
	    KORE_PGSQL_PARAM_TEXT(client),
	    KORE_PGSQL_PARAM_TEXT(win))) {
		db_fail(&sql, e, "counting login failures");
		goto out;
	}
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
	struct kore_pgsql	sql;
	int			rc = -1;

	if (db_open(&sql, e) == -1)
		goto out;
	if (!kore_pgsql_query_params(&sql,
	    "INSERT INTO web_login_failures (account, client) VALUES ($1, $2)",
	    0, 2, KORE_PGSQL_PARAM_TEXT(account),
	    KORE_PGSQL_PARAM_TEXT(client))) {
		db_fail(&sql, e, "recording login failure");
		goto out;
	}
	rc = 0;
out:
	kore_pgsql_cleanup(&sql);
	return rc;
}

int
wstore_failures_clear(const char *account, struct err *e)
{
	struct kore_pgsql	sql;
	int			rc = -1;

	if (db_open(&sql, e) == -1)
		goto out;
	if (!kore_pgsql_query_params(&sql,
	    "DELETE FROM web_login_failures WHERE account = $1", 0, 1,
	    KORE_PGSQL_PARAM_TEXT(account))) {
		db_fail(&sql, e, "clearing login failures");
		goto out;
	}
	rc = 0;
out:
	kore_pgsql_cleanup(&sql);
	return rc;
}
