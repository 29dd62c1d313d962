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

/*
 * Issuing lanes: one per core, up to SERVE_LANES. Lane 0 is the main
 * thread, on the connection that holds the active lock and listens; each
 * other lane is a thread with its own connection and CA handle. Every
 * lane claims, decides, signs and writes sets of its own, so that one
 * lane signs while another's set is in the database or waiting for its
 * commit to reach the disk: one lane alone leaves a core idle for most
 * of each set. The main thread wakes the others on each notification and
 * each sweep. Lanes claim one at a time (request_engine_set_claim_lock)
 * and read a mailbox's facts in turn (store_req_cert_facts_many).
 */
#define SERVE_LANES	4

struct lane {
	struct serve		*s;
	struct ca		*ca;		/* lane 0: the serve's own */
	struct store		*st;
	struct request_engine	*re;
	pthread_t		 th;
	int			 started;
	volatile int		 dead;		/* atomic: its drain failed */
	struct err		 err;		/* why, when dead */
};

struct serve {
	const struct config	*cfg;
	const struct serve_opts	*o;
	struct policy		*pol;
	struct ca		*ca;
	struct store		*st;
	struct request_engine	*re;
	struct revsvc		*rs;		/* --once: run inline */
	struct revthread	 rt;
	struct lane		 lanes[SERVE_LANES];
	int			 nlanes;
	pthread_mutex_t		 mu_claim;	/* one lane claims at a time */
	pthread_mutex_t		 mu;		/* guards what follows */
	pthread_cond_t		 kick;		/* kicks changed or halt set */
	unsigned long		 kicks;
	int			 halt;
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
stopping(struct serve *s)
{
	return (s->o->stop != NULL &&
	    __atomic_load_n(s->o->stop, __ATOMIC_ACQUIRE)) ||
	    __atomic_load_n(&s->halt, __ATOMIC_ACQUIRE);
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

/* Adds a lane's counts; logs the totals at most every SERVE_LOG_S, or
 * now when forced. */
static void
progress(struct serve *s, const struct request_counts *c, int force)
{
	struct request_counts	t;
	time_t			now = time(NULL);

	pthread_mutex_lock(&s->mu);
	s->total.issued += c->issued;
	s->total.pending += c->pending;
	s->total.denied += c->denied;
	s->total.failed += c->failed;
	t = s->total;
	if ((!force && now - s->last_log < SERVE_LOG_S) ||
	    t.issued + t.pending + t.denied + t.failed == 0) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	memset(&s->total, 0, sizeof(s->total));
	s->last_log = now;
	pthread_mutex_unlock(&s->mu);
	slog(s, "issued %zu, pending %zu, denied %zu, failed %zu",
	    t.issued, t.pending, t.denied, t.failed);
}

/* Works through everything waiting, one transaction per batch. */
static int
drain(struct serve *s, struct request_engine *re, struct err *e)
{
	struct request_counts	c;
	unsigned		batch = s->o->batch ? s->o->batch : SERVE_BATCH;

	do {
		if (request_work(re, batch, &c, e) != 0)
			return -1;
		progress(s, &c, 0);
	} while (c.issued + c.pending + c.denied + c.failed > 0 &&
	    !stopping(s));
	return 0;
}

/* Starts a thread with every signal blocked: SIGTERM stays with the main
 * thread. */
static int
spawn(pthread_t *th, void *(*fn)(void *), void *arg)
{
	sigset_t	all, old;
	int		rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static void *
lane_main(void *arg)
{
	struct lane	*l = arg;
	struct serve	*s = l->s;
	unsigned long	 seen = 0;
	int		 halt;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->kicks == seen && !s->halt)
			pthread_cond_wait(&s->kick, &s->mu);
		seen = s->kicks;
		halt = s->halt;
		pthread_mutex_unlock(&s->mu);
		if (halt)
			break;
		if (drain(s, l->re, &l->err) != 0) {
			__atomic_store_n(&l->dead, 1, __ATOMIC_RELEASE);
			break;
		}
		if (s->o->once)
			break;
	}
	return NULL;
}

/* Wakes the other lanes to drain. */
static void
lanes_kick(struct serve *s)
{
	pthread_mutex_lock(&s->mu);
	s->kicks++;
	pthread_cond_broadcast(&s->kick);
	pthread_mutex_unlock(&s->mu);
}

/*
 * A lane that claimed work wakes the idle ones (request_engine_on_claim).
 * Without it only the main thread's wake-ups started the other lanes, and
 * the main thread hears them only between its own drains: under a steady
 * load one lane claimed everything that arrived while it worked, and the
 * others idled. Now the next set is claimed while this one is signed and
 * written. At 1,500 requests/s the p99 from submission to issue fell from
 * about 55-75 ms to about 27-45 ms, for some empty claims.
 */
static void
lane_claimed(void *arg)
{
	lanes_kick(arg);
}

/* The first lane that failed, or NULL. */
static struct lane *
lanes_dead(struct serve *s)
{
	int	i;

	for (i = 1; i < s->nlanes; i++)
		if (__atomic_load_n(&s->lanes[i].dead, __ATOMIC_ACQUIRE))
			return &s->lanes[i];
	return NULL;
}

/* One lane per core, at most SERVE_LANES; SIGNET_SERVE_LANES overrides
 * (1 .. SERVE_LANES), for benchmarks and tests. */
static int
lanes_wanted(int *n, struct err *e)
{
	const char	*v = getenv("SIGNET_SERVE_LANES");
	unsigned	 u;
	long		 l;

	if (v == NULL || *v == '\0') {
		l = sysconf(_SC_NPROCESSORS_ONLN);
		*n = l < 1 ? 1 : l > SERVE_LANES ? SERVE_LANES : (int)l;
		return 0;
	}
	if (config_uint(v, 1, SERVE_LANES, &u) != 0)
		return err_set(e, "SIGNET_SERVE_LANES \"%s\": not a number "
		    "from 1 to %d", v, SERVE_LANES);
	*n = (int)u;
	return 0;
}

/* Lanes 1 .. n-1: a CA handle, a connection and an engine each. */
static int
lanes_start(struct serve *s, const char *conninfo, int n, struct err *e)
{
	struct lane	*l;
	int		 rc;

	s->lanes[0].s = s;
	s->lanes[0].ca = s->ca;
	s->lanes[0].st = s->st;
	s->lanes[0].re = s->re;
	s->nlanes = 1;
	if (n < 2)
		return 0;
	request_engine_set_claim_lock(s->re, &s->mu_claim);
	request_engine_on_claim(s->re, lane_claimed, s);
	for (; s->nlanes < n; s->nlanes++) {
		l = &s->lanes[s->nlanes];
		l->s = s;
		if ((l->ca = ca_dup(s->ca, e)) == NULL)
			return err_wrap(e, "loading the CA for lane %d",
			    s->nlanes);
		if ((l->st = store_open(conninfo, e)) == NULL)
			return -1;
		if ((l->re = request_engine_new(s->cfg, l->ca, s->pol, l->st,
		    engine_log, s, e)) == NULL)
			return -1;
		request_engine_set_claim_lock(l->re, &s->mu_claim);
		request_engine_on_claim(l->re, lane_claimed, s);
		if ((rc = spawn(&l->th, lane_main, l)) != 0)
			return err_set(e, "starting issuing lane %d: %s",
			    s->nlanes, strerror(rc));
		l->started = 1;
	}
	return 0;
}

/* Lets every lane finish the set in hand, then frees the lanes. */
static void
lanes_stop(struct serve *s)
{
	struct lane	*l;
	int		 i;

	pthread_mutex_lock(&s->mu);
	s->halt = 1;
	pthread_cond_broadcast(&s->kick);
	pthread_mutex_unlock(&s->mu);
	for (i = 1; i < SERVE_LANES; i++) {
		l = &s->lanes[i];
		if (l->started)
			pthread_join(l->th, NULL);
		request_engine_free(l->re);
		store_close(l->st);
		ca_free(l->ca);
		memset(l, 0, sizeof(*l));
	}
}

/* --once: waits for the other lanes' one drain. */
static int
lanes_join(struct serve *s, struct err *e)
{
	struct lane	*l;
	int		 i;

	for (i = 1; i < s->nlanes; i++) {
		l = &s->lanes[i];
		if (l->started)
			pthread_join(l->th, NULL);
		l->started = 0;
	}
	if ((l = lanes_dead(s)) != NULL) {
		*e = l->err;
		return -1;
	}
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
	if ((rc = spawn(&r->th, rev_main, r)) != 0)
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
	struct lane	*l;

	for (;;) {
		lanes_kick(s);
		if (drain(s, s->re, e) != 0)
			return -1;
		if (s->o->once) {
			if (lanes_join(s, e) != 0 ||
			    rev_tick(s, s->rs, s->st, e) != 0)
				return -1;
			break;
		}
		if (__atomic_load_n(&s->rt.dead, __ATOMIC_ACQUIRE)) {
			*e = s->rt.err;
			return err_wrap(e, "revocation service");
		}
		if ((l = lanes_dead(s)) != NULL) {
			*e = l->err;
			return err_wrap(e, "issuing lane %d", (int)(l -
			    s->lanes));
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
	int		 rc = -1, r, said = 0, lanes = 1;

	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	pthread_mutex_init(&s.mu_claim, NULL);
	pthread_cond_init(&s.kick, NULL);
	s.rt.wake[0] = s.rt.wake[1] = -1;
	s.cfg = cfg;
	s.o = o;
	s.last_log = time(NULL);
	/* everything that can refuse start-up is checked before waiting as
	 * standby, so a standby is ready to take over at once */
	if (lanes_wanted(&lanes, e) != 0 ||
	    serve_policy_path(cfg, &path, e) != 0)
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
	if (lanes_start(&s, ci, lanes, e) != 0)
		goto out;
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
	lanes_stop(&s);
	rev_stop(&s);
	revsvc_free(s.rs);
	request_engine_free(s.re);
	store_close(s.st);	/* closing the connection frees the lock */
	ca_free(s.ca);
	policy_free(s.pol);
	pthread_cond_destroy(&s.kick);
	pthread_mutex_destroy(&s.mu_claim);
	pthread_mutex_destroy(&s.mu);
	free(ci);
	free(path);
	return rc;
}
