/*
 * signet publish: the publisher daemon and its status and retry commands.
 *
 *   signet publish [--once]   drain the queue (once, or as a daemon woken
 *                             by NOTIFY signet_publish, with a periodic
 *                             sweep for expiry and due retries)
 *   signet publish status     the backlog and the failures
 *   signet publish retry [ID] make failed or waiting jobs due now
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "publish.h"
#include "store_pub.h"

static volatile sig_atomic_t	stop_flag;

static void
on_signal(int sig)
{
	stop_flag = 1;
}

static void
log_line(void *arg, const char *msg)
{
	time_t		now = time(NULL);
	struct tm	tm;
	char		when[32];

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s signet publish: %s\n", when, msg);
	fflush(stderr);
}

/* HOME/run/publish.pid; refuses when a live publisher already wrote it. */
static int
write_pid(struct cli *c, char *path, size_t sz)
{
	struct err	 e;
	char		 buf[32];
	FILE		*f;
	long		 pid;

	snprintf(path, sz, "%s/run", c->home);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return cli_fail("%s: %s", path, strerror(errno)), -1;
	snprintf(path, sz, "%s/run/publish.pid", c->home);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%ld", &pid) == 1 && pid > 0 &&
		    pid != (long)getpid() && kill((pid_t)pid, 0) == 0) {
			fclose(f);
			return cli_fail("a publisher already runs (pid %ld, "
			    "%s)", pid, path), -1;
		}
		fclose(f);
	}
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (cli_write_file(path, buf, strlen(buf), 0644, &e) != 0)
		return cli_fail("%s", e.msg), -1;
	return 0;
}

/*
 * Runs batches until nothing due is left (or only busy mailboxes); with
 * linger set (the daemon), only while batches come back full: a partial
 * batch means the queue is drained, and whatever arrived meanwhile waits
 * for the next wake-up and its linger.
 */
static int
drain(struct publish *p, struct publish_stats *tot, int *busy, int lingering,
    struct err *e)
{
	struct publish_stats	s;

	memset(tot, 0, sizeof(*tot));
	*busy = 0;
	do {
		if (publish_batch(p, &s, e) != 0)
			return -1;
		tot->done += s.done;
		tot->failed += s.failed;
		tot->gave_up += s.gave_up;
		*busy = s.busy > 0;
	} while (!stop_flag && s.done + s.failed > 0 &&
	    (!lingering || s.full));
	return 0;
}

static int
run_once(struct cli *c, struct publish *p)
{
	struct publish_stats	s;
	struct err		e;
	unsigned		expired;
	int			busy;

	if (publish_refresh(p, &e) != 0)
		log_line(NULL, e.msg);
	if (publish_sweep(p, &expired, &e) != 0 ||
	    drain(p, &s, &busy, 0, &e) != 0)
		return cli_fail("%s", e.msg);
	printf("published %u jobs; %u failed and will be retried", s.done,
	    s.failed - s.gave_up);
	if (s.gave_up > 0)
		printf("; %u given up after [publish] max_attempts "
		    "(signet publish retry)", s.gave_up);
	printf("\n");
	return s.failed > 0;
}

/*
 * After a wake-up: lets the rest of a burst arrive, so that its jobs go
 * out in one batch (one database transaction, one directory transaction)
 * instead of one each, which would take the CPU and disk syncs that the
 * issuing side needs. Swallows the notifications that came meanwhile.
 */
static int
linger(struct publish *p, struct cli *c, struct err *e)
{
	struct timespec	ts;
	unsigned	ms = publish_linger_ms(p);
	int		woken;

	if (ms == 0 || stop_flag)
		return 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);	/* a signal ends it early: fine */
	return store_pub_wait(c->st, 0, &woken, e);
}

static int
run_daemon(struct cli *c, struct publish *p)
{
	struct sigaction sa;
	struct err	 e;
	char		 pidpath[4096];
	time_t		 last_sweep = 0;
	struct publish_stats s;
	unsigned	 expired;
	long		 ms;
	int		 busy, woken, rc = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: poll returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (write_pid(c, pidpath, sizeof(pidpath)) != 0)
		return 1;
	if (store_pub_listen(c->st, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	log_line(NULL, "started");
	if (publish_refresh(p, &e) != 0)
		log_line(NULL, e.msg);
	while (!stop_flag) {
		if (time(NULL) - last_sweep >= publish_sweep_interval(p)) {
			if (publish_sweep(p, &expired, &e) != 0)
				goto dberr;
			last_sweep = time(NULL);
		}
		if (drain(p, &s, &busy, publish_linger_ms(p) > 0, &e) != 0)
			goto dberr;
		if (publish_wait_ms(p, &ms, &e) != 0)
			goto dberr;
		/* another publisher holds a mailbox: look again shortly */
		if (busy && ms < 200)
			ms = 200;
		if (stop_flag)
			break;
		if (store_pub_wait(c->st, ms, &woken, &e) != 0)
			goto dberr;
		if (woken && linger(p, c, &e) != 0)
			goto dberr;
		continue;
dberr:
		/* the database went away: keep trying, never give up jobs */
		log_line(NULL, e.msg);
		sleep(2);
		if (!stop_flag && store_pub_reconnect(c->st, &e) != 0)
			log_line(NULL, e.msg);
	}
	log_line(NULL, "stopped");
	rc = 0;
out:
	unlink(pidpath);
	return rc;
}

struct status_arg {
	int	rows;
	int	failures;
	time_t	now;
};

static int
print_count(void *arg, const struct store_pub_count *k)
{
	struct status_arg	*a = arg;

	if (a->rows++ == 0)
		printf("%-12s %-7s %8s %8s\n", "KIND", "STATE", "JOBS",
		    "FAILING");
	printf("%-12s %-7s %8lld %8lld\n", k->kind, k->state,
	    (long long)k->jobs, (long long)k->failing);
	return 0;
}

static int
print_failure(void *arg, const struct store_pub_failure *f)
{
	struct status_arg	*a = arg;
	long			 in = (long)(f->next_at - a->now);

	if (a->failures++ == 0)
		printf("\nfailures:\n");
	printf("job %lld %s %s%s%s: %d attempts, ", (long long)f->id, f->kind,
	    f->ref, *f->email ? " " : "", f->email, f->attempts);
	if (!strcmp(f->state, "failed"))
		printf("given up (signet publish retry %lld)", (long long)f->id);
	else
		printf("next try in %lds", in > 0 ? in : 0);
	printf(": %s\n", f->last_error);
	return 0;
}

static int
status(struct cli *c)
{
	struct status_arg	a = { 0, 0, time(NULL) };
	struct err		e;

	if (store_pub_status(c->st, print_count, print_failure, &a, 100,
	    &e) != 0)
		return cli_fail("%s", e.msg);
	if (a.rows == 0)
		printf("the publish queue is empty\n");
	return 0;
}

static int
retry(struct cli *c, int argc, char **argv)
{
	struct err	 e;
	char		*end;
	long long	 id = 0;
	unsigned	 n;

	if (argc > 3)
		return cli_usage("publish retry [ID]");
	if (argc == 3) {
		id = strtoll(argv[2], &end, 10);
		if (*argv[2] == '\0' || *end != '\0' || id <= 0)
			return cli_fail("%s is not a job number", argv[2]);
	}
	if (store_pub_retry(c->st, (int64_t)id, &n, &e) != 0)
		return cli_fail("%s", e.msg);
	if (id != 0 && n == 0)
		return cli_fail("job %lld is done or does not exist", id);
	printf("requeued %u job%s\n", n, n == 1 ? "" : "s");
	return 0;
}

int
cmd_publish(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct publish	*p;
	struct err	 e;
	int		 o, once = 0, rc;

	if (argc >= 2 && !strcmp(argv[1], "status")) {
		if (argc != 2)
			return cli_usage("publish status");
		return cli_store(c) != 0 ? 1 : status(c);
	}
	if (argc >= 2 && !strcmp(argv[1], "retry"))
		return cli_store(c) != 0 ? 1 : retry(c, argc, argv);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'o')
			return cli_usage("publish [--once] | publish status | "
			    "publish retry [ID]");
		once = 1;
	}
	if (optind != argc)
		return cli_usage("publish [--once] | publish status | "
		    "publish retry [ID]");
	if (cli_store(c) != 0)
		return 1;
	if ((p = publish_new(c->cfg, c->st, &e)) == NULL)
		return cli_fail("%s", e.msg);
	if (publish_targets(p) == 0) {
		publish_free(p);
		return cli_fail("no publisher is configured: add a "
		    "[publish.ldap.NAME] or [publish.web.NAME] section to %s",
		    c->cfg->path);
	}
	publish_set_log(p, log_line, NULL);
	rc = once ? run_once(c, p) : run_daemon(c, p);
	publish_free(p);
	return rc;
}
