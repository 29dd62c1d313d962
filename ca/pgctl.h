/*
 * pgctl: the instance's private PostgreSQL cluster (home/pg).
 *
 * Unix socket only (listen_addresses = ''), socket directory mode 0700,
 * trust authentication inside that directory. PostgreSQL refuses to run as
 * root, so when Signet runs as root the cluster runs as the `postgres`
 * user through runuser(1).
 */
#ifndef SIGNET_PGCTL_H
#define SIGNET_PGCTL_H

#include "err.h"

/* Creates (if needed) and starts the cluster and its `signet` database. */
int	pgctl_start(const char *home, struct err *e);
/*
 * 0 if no cluster exists yet where a new instance at home would keep its
 * own; else an error naming it. When postgres cannot traverse to home the
 * cluster lives outside it (/var/tmp/signet-pg-<hash>), and a home removed
 * without `signet stop` leaves it behind, server running: a new instance
 * at the same path would have adopted another CA's database.
 */
int	pgctl_unused(const char *home, struct err *e);
/* Stops the cluster if it runs. */
int	pgctl_stop(const char *home, struct err *e);
/* 1 if the cluster runs, 0 if not. */
int	pgctl_running(const char *home);
/* "host=<socket dir> dbname=signet user=signet", malloc'd. */
char	*pgctl_conninfo(const char *home);

#endif
