/*
 * serve: the ca-serve loop.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
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

/*
 * The revocation service runs on a thread of its own, with its own
 * connection and CA handle, at a lower priority: a long pre-signing walk
 * (revsvc_tick spends up to a quarter second per call) never holds up a
 * request, and it uses what the issuing threads leave of the CPU. It
 * shares no lock with issuance (it writes only revocation tables).
 */
struct revthread {
	struct serve		*s;
	struct ca		*ca;
	struct store		*st;
	struct revsvc		*rs;
	pthread_t		 th;
	int			 started;
	int			 wake[2];	/* a byte here ends its wait */
	volatile int		 stop;		/* atomic */
	volatile int		 dead;		/* atomic: connection lost */
	struct err		 err;		/* why, when dead */
};

struct serve {
	const struct config	*cfg;
	const struct serve_opts	*o;
	struct policy		*pol;
	struct ca		*ca;
	struct ca		*helper;	/* the second signing thread's */
	struct store		*st;
	struct request_engine	*re;
	struct revsvc		*rs;		/* --once: run inline */
	struct revthread	 rt;
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
	/* signet_request only: the revocation thread listens on its own
	 * connection */
	while ((n = PQnotifies(pg)) != NULL)
		PQfreemem(n);
	return 0;
}

/* One revocation tick; -1 only when its connection is lost. */
static int
rev_tick(struct serve *s, struct revsvc *rs, struct store *st, struct err *e)
{
	if (revsvc_tick(rs, e) == 0)
		return 0;
	if (PQstatus(store_pg(st)) != CONNECTION_OK)
		return -1;
	/* the revocation service retries on its next tick; issuance goes
	 * on */
	slog(s, "revocation service: %s", e->msg);
	return 0;
}

static void *
rev_main(void *arg)
{
	struct revthread	*r = arg;
	PGconn			*pg = store_pg(r->st);
	PGnotify		*n;
	struct pollfd		 pfd[2];
	char			 b[16];

	/* issuance first: this thread takes what the others leave */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		if (rev_tick(r->s, r->rs, r->st, &r->err) != 0)
			break;
		pfd[0].fd = PQsocket(pg);
		pfd[0].events = POLLIN;
		pfd[1].fd = r->wake[0];
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, SERVE_SWEEP_MS) < 0 && errno != EINTR) {
			err_set(&r->err, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents && read(r->wake[0], b, sizeof(b)) < 0)
			continue;	/* the loop's test says why it woke */
		if (PQconsumeInput(pg) == 0) {
			err_set(&r->err, "database connection lost: %s",
			    PQerrorMessage(pg));
			break;
		}
		while ((n = PQnotifies(pg)) != NULL)
			PQfreemem(n);
	}
	if (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
		__atomic_store_n(&r->dead, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Starts the revocation thread: its connection, CA handle and service. */
static int
rev_start(struct serve *s, const char *conninfo, struct err *e)
{
	struct revthread	*r = &s->rt;
	sigset_t		 all, old;
	int			 rc;

	r->s = s;
	if ((r->ca = ca_dup(s->ca, e)) == NULL ||
	    (r->st = store_open(conninfo, e)) == NULL)
		return -1;
	if ((r->rs = revsvc_new(r->ca, r->st, e)) == NULL)
		return err_wrap(e, "starting the revocation service");
	if (exec_ok(r->st, "LISTEN " REVSVC_CHANNEL, e) != 0)
		return -1;
	if (pipe(r->wake) != 0) {
		r->wake[0] = r->wake[1] = -1;
		return err_set(e, "pipe: %s", strerror(errno));
	}
	/* signals (SIGTERM) stay with the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&r->th, NULL, rev_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return err_set(e, "starting the revocation thread: %s",
		    strerror(rc));
	r->started = 1;
	return 0;
}

static void
rev_stop(struct serve *s)
{
	struct revthread	*r = &s->rt;

	if (r->started) {
		__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
		if (write(r->wake[1], "x", 1) < 0)
			slog(s, "waking the revocation thread: %s",
			    strerror(errno));
		pthread_join(r->th, NULL);
		r->started = 0;
	}
	if (r->wake[0] >= 0)
		close(r->wake[0]);
	if (r->wake[1] >= 0)
		close(r->wake[1]);
	r->wake[0] = r->wake[1] = -1;
	revsvc_free(r->rs);
	store_close(r->st);
	ca_free(r->ca);
	r->rs = NULL;
	r->st = NULL;
	r->ca = NULL;
}

static int
serve_loop(struct serve *s, struct err *e)
{
	for (;;) {
		if (drain(s, e) != 0)
			return -1;
		if (s->o->once) {
			if (rev_tick(s, s->rs, s->st, e) != 0)
				return -1;
			break;
		}
		if (__atomic_load_n(&s->rt.dead, __ATOMIC_ACQUIRE)) {
			*e = s->rt.err;
			return err_wrap(e, "revocation service");
		}
		if (stopping(s))
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
	s.rt.wake[0] = s.rt.wake[1] = -1;
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
	/* a second core signs half of each batch */
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
		if ((s.helper = ca_dup(s.ca, e)) == NULL) {
			err_wrap(e, "loading the CA for a second thread");
			goto out;
		}
		request_engine_set_helper(s.re, s.helper);
	}
	if (o->once) {
		if ((s.rs = revsvc_new(s.ca, s.st, e)) == NULL) {
			err_wrap(e, "starting the revocation service");
			goto out;
		}
	} else if (rev_start(&s, ci, e) != 0)
		goto out;
	if (exec_ok(s.st, "LISTEN signet_request", e) != 0)
		goto out;
	slog(&s, "active: policy %s (%s), CA %s", policy_name(s.pol), path,
	    cfg->ca_name);
	rc = serve_loop(&s, e);
out:
	rev_stop(&s);
	revsvc_free(s.rs);
	request_engine_free(s.re);
	store_close(s.st);	/* closing the connection frees the lock */
	ca_free(s.helper);
	ca_free(s.ca);
	policy_free(s.pol);
	free(ci);
	free(path);
	return rc;
}
