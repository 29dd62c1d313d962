/*
 * serve: the ca-serve daemon loop (DESIGN.md, Processes). The one process
 * that holds the CA key: it takes submitted and approved requests (LISTEN/
 * NOTIFY plus a sweep every second), decides and issues them through the
 * request engine, and runs the revocation service.
 *
 * One instance is active: it holds a session-level advisory lock, which
 * PostgreSQL releases when its connection closes (a crash included); a
 * second instance waits as standby, retrying every second, and takes over.
 */
#ifndef SIGNET_SERVE_H
#define SIGNET_SERVE_H

#include <signal.h>

#include "config.h"
#include "err.h"

/* Reports progress and failures; never a secret. */
typedef void (*serve_log_fn)(void *arg, const char *msg);

struct serve_opts {
	int			 once;	/* process what waits, then return */
	unsigned		 batch;	/* requests per transaction; 0 = 64 */
	volatile sig_atomic_t	*stop;	/* set by a signal handler: finish
					   the batch in hand and return */
	serve_log_fn		 log;
	void			*log_arg;
};

/*
 * The policy module file named by [policy] module: a bare name (letters,
 * digits, '-', '_') is <directory of the running program>/policy/<name>.so
 * (found through /proc/self/exe); a path is taken as it is, relative to
 * the instance directory. *path is malloc'd.
 */
int	serve_policy_path(const struct config *cfg, char **path,
	    struct err *e);

/*
 * Loads the policy module and the CA, connects, becomes the active
 * instance (or waits as standby) and serves until *o->stop is set (or,
 * with o->once, until nothing waits). Returns 0, or -1 when start-up
 * fails (a module that does not load, a wrong ABI version, no CA key) or
 * the database connection is lost.
 */
int	serve_run(const struct config *cfg, const struct serve_opts *o,
	    struct err *e);

#endif
