/*
 * signet ca-serve: the CA daemon (ca/serve.h).
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
#include "serve.h"

static volatile sig_atomic_t serve_stop;

/* Read by ca-serve's lane threads too (serve.c, stopping): an atomic
 * store, which is async-signal-safe for an int. */
static void
on_signal(int sig)
{
	__atomic_store_n(&serve_stop, 1, __ATOMIC_RELEASE);
}

static void
log_stderr(void *arg, const char *msg)
{
	char		when[32];
	time_t		now = time(NULL);
	struct tm	tm;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S",
	    localtime_r(&now, &tm));
	fprintf(stderr, "%s ca-serve[%d]: %s\n", when, (int)getpid(), msg);
}

/* HOME/run/ca-serve.pid, or ca-serve-<pid>.pid for a second instance
 * while the first lives, so `signet stop` finds both. */
static int
write_pid(const char *home, char *path, size_t len)
{
	char	 buf[32];
	FILE	*f;
	long	 other;
	int	 n;

	snprintf(path, len, "%s/run", home);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	snprintf(path, len, "%s/run/ca-serve.pid", home);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (other = strtol(buf, NULL, 10)) > 1 &&
		    other != (long)getpid() && kill((pid_t)other, 0) == 0)
			snprintf(path, len, "%s/run/ca-serve-%d.pid", home,
			    (int)getpid());
		fclose(f);
	}
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	n = fprintf(f, "%d\n", (int)getpid());
	return fclose(f) != 0 || n < 0 ? -1 : 0;
}

int
cmd_ca_serve(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "once",	no_argument,	   NULL, 'o' },
		{ "batch",	required_argument, NULL, 'b' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const char usage[] = "ca-serve [--once] [--batch N]";
	struct serve_opts	 o;
	struct sigaction	 sa;
	struct err		 e;
	char			 pidpath[4200];
	char			*end;
	unsigned long		 n;
	int			 ch, rc;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			o.once = 1;
			break;
		case 'b':
			n = strtoul(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > 10000)
				return cli_fail("--batch: 1 to 10000");
			o.batch = (unsigned)n;
			break;
		case 'h':
			printf("usage: signet [--home DIR] %s\n\n"
			    "Runs the CA: loads the CA key and the [policy] "
			    "module, then decides and issues\nsubmitted and "
			    "approved requests. One instance is active; "
			    "another waits as\nstandby and takes over when "
			    "it dies. SIGTERM finishes the batch in hand and\n"
			    "exits. --once processes what waits and exits. "
			    "Logs go to stderr.\n", usage);
			return 0;
		default:
			return cli_usage(usage);
		}
	}
	if (optind != argc)
		return cli_usage(usage);
	if (cli_config(c) != 0)
		return 1;
	/* the private cluster is started if it is down, as for any command */
	if (cli_store(c) != 0)
		return 1;
	store_close(c->st);
	c->st = NULL;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: poll wakes up */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	o.stop = &serve_stop;
	o.log = log_stderr;

	pidpath[0] = '\0';
	if (!o.once && write_pid(c->home, pidpath, sizeof(pidpath)) != 0) {
		cli_fail("cannot write %s: %s", pidpath, strerror(errno));
		return 1;
	}
	rc = serve_run(c->cfg, &o, &e);
	if (pidpath[0] != '\0')
		unlink(pidpath);
	if (rc != 0)
		return cli_fail("ca-serve: %s", e.msg);
	return 0;
}
