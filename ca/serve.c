/*
 * serve: the ca-serve loop.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "ca.h"
#include "policy.h"
#include "request.h"
#include "revsvc.h"
#include "serve.h"
#include "store.h"

/* pg_advisory_lock key for the active ca-serve: "sgnt" + 0x10 */
#define SERVE_LOCK	"SELECT pg_try_advisory_lock(495924868112)"
#define SERVE_BATCH	64
#define SERVE_SWEEP_MS	1000	/* sweep and revsvc_tick at least this often */
#define SERVE_LOG_S	10	/* progress line at most this often */

struct serve {
	const struct config	*cfg;
	const struct serve_opts	*o;
	struct policy		*pol;
	struct ca		*ca;
	struct store		*st;
	struct request_engine	*re;
	struct revsvc		*rs;
	struct request_counts	 total;
	time_t			 last_log;
};

static void
slog(struct serve *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
slog(struct serve *s, const char *fmt, ...)
{
	char	msg[768];
	va_list	ap;

	if (s->o->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->o->log(s->o->log_arg, msg);
}

static void
engine_log(void *arg, const char *msg)
{
	slog(arg, "%s", msg);
}

static int
stopping(const struct serve *s)
{
	return s->o->stop != NULL && *s->o->stop;
}

int
serve_policy_path(const struct config *cfg, char **path, struct err *e)
{
	const char	*m = cfg->policy_module;
	char		 exe[PATH_MAX], *slash;
	ssize_t		 n;
	size_t		 len;

	*path = NULL;
	if (m == NULL || *m == '\0')
		return err_set(e, "%s: [policy] module is empty", cfg->path);
	if (strchr(m, '/') != NULL) {
		if ((*path = config_path(cfg, m)) == NULL)
			return err_set(e, "out of memory");
		return 0;
	}
	if (strspn(m, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != strlen(m))
		return err_set(e, "%s: [policy] module = %s: a module is a "
		    "name (letters, digits, - and _) or a path", cfg->path, m);
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
		return err_set(e, "/proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	len = strlen(exe) + strlen(m) + sizeof("/policy/.so");
	if ((*path = malloc(len)) == NULL)
		return err_set(e, "out of memory");
	snprintf(*path, len, "%s/policy/%s.so", exe, m);
	return 0;
}

static int
exec_ok(struct store *st, const char *sql, struct err *e)
{
	PGconn		*pg = store_pg(st);
	PGresult	*r = PQexec(pg, sql);
	int		 rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = err_set(e, "%s: %s", sql, PQerrorMessage(pg));
	PQclear(r);
	return rc;
}

/* 1: we are the active instance; 0: another is; -1: error. */
static int
try_lock(struct serve *s, struct err *e)
{
	PGconn		*pg = store_pg(s->st);
	PGresult	*r = PQexec(pg, SERVE_LOCK);
	int		 rc;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = err_set(e, "taking the ca-serve lock: %s",
		    PQerrorMessage(pg));
	} else
		rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return rc;
}

static void
sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);	/* a signal ends it early: that is wanted */
}

static void
progress(struct serve *s, const struct request_counts *c, int force)
{
	time_t	now = time(NULL);

	s->total.issued += c->issued;
	s->total.pending += c->pending;
	s->total.denied += c->denied;
	s->total.failed += c->failed;
	if (!force && now - s->last_log < SERVE_LOG_S)
		return;
	if (s->total.issued + s->total.pending + s->total.denied +
	    s->total.failed == 0)
		return;
	slog(s, "issued %zu, pending %zu, denied %zu, failed %zu",
	    s->total.issued, s->total.pending, s->total.denied,
	    s->total.failed);
	memset(&s->total, 0, sizeof(s->total));
	s->last_log = now;
}

/* Works through everything waiting, one transaction per batch. */
static int
drain(struct serve *s, struct err *e)
{
	struct request_counts	c;
	unsigned		batch = s->o->batch ? s->o->batch : SERVE_BATCH;

	do {
		if (request_work(s->re, batch, &c, e) != 0)
			return -1;
		progress(s, &c, 0);
	} while (c.issued + c.pending + c.denied + c.failed > 0 &&
	    !stopping(s));
	return 0;
}

/* Waits for a notification or the sweep interval. */
static int
wait_work(struct serve *s, struct err *e)
{
	PGconn		*pg = store_pg(s->st);
	PGnotify	*n;
	struct pollfd	 pfd;

	pfd.fd = PQsocket(pg);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, SERVE_SWEEP_MS) < 0 && errno != EINTR)
		return err_set(e, "poll: %s", strerror(errno));
	if (PQconsumeInput(pg) == 0)
		return err_set(e, "database connection lost: %s",
		    PQerrorMessage(pg));
	/* the channel does not matter: every wake-up drains requests and
	 * ticks the revocation service */
	while ((n = PQnotifies(pg)) != NULL)
		PQfreemem(n);
	return 0;
}

static int
serve_loop(struct serve *s, struct err *e)
{
	for (;;) {
		if (drain(s, e) != 0)
			return -1;
		if (revsvc_tick(s->rs, e) != 0) {
			if (PQstatus(store_pg(s->st)) != CONNECTION_OK)
				return -1;
			/* the revocation service retries on its next tick;
			 * issuance goes on */
			slog(s, "revocation service: %s", e->msg);
		}
		if (s->o->once || stopping(s))
			break;
		if (wait_work(s, e) != 0)
			return -1;
		if (stopping(s))
			break;
	}
	progress(s, &(struct request_counts){ 0, 0, 0, 0 }, 1);
	return 0;
}

int
serve_run(const struct config *cfg, const struct serve_opts *o, struct err *e)
{
	struct serve	 s;
	char		*path = NULL, *ci = NULL;
	int		 rc = -1, r, said = 0;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.o = o;
	s.last_log = time(NULL);
	/* everything that can refuse start-up is checked before waiting as
	 * standby, so a standby is ready to take over at once */
	if (serve_policy_path(cfg, &path, e) != 0)
		goto out;
	if ((s.pol = policy_load(path, cfg->path, "policy", e)) == NULL)
		goto out;
	if ((s.ca = ca_open(cfg, e)) == NULL) {
		err_wrap(e, "loading the CA");
		goto out;
	}
	if ((ci = config_conninfo(cfg)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if ((s.st = store_open(ci, e)) == NULL)
		goto out;
	while ((r = try_lock(&s, e)) == 0) {
		if (o->once) {
			slog(&s, "another ca-serve is active; it does the "
			    "work");
			rc = 0;
			goto out;
		}
		if (!said++)
			slog(&s, "standby: another ca-serve is active");
		if (stopping(&s)) {
			rc = 0;
			goto out;
		}
		sleep_ms(1000);
		if (stopping(&s)) {
			rc = 0;
			goto out;
		}
	}
	if (r < 0)
		goto out;
	if ((s.re = request_engine_new(cfg, s.ca, s.pol, s.st, engine_log, &s,
	    e)) == NULL)
		goto out;
	if ((s.rs = revsvc_new(s.ca, s.st, e)) == NULL) {
		err_wrap(e, "starting the revocation service");
		goto out;
	}
	if (exec_ok(s.st, "LISTEN signet_request", e) != 0 ||
	    exec_ok(s.st, "LISTEN " REVSVC_CHANNEL, e) != 0)
		goto out;
	slog(&s, "active: policy %s (%s), CA %s", policy_name(s.pol), path,
	    cfg->ca_name);
	rc = serve_loop(&s, e);
out:
	revsvc_free(s.rs);
	request_engine_free(s.re);
	store_close(s.st);	/* closing the connection frees the lock */
	ca_free(s.ca);
	policy_free(s.pol);
	free(ci);
	free(path);
	return rc;
}
