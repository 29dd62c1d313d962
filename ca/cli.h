/*
 * cli: what the signet commands share. Only these files print and exit.
 */
#ifndef SIGNET_CLI_H
#define SIGNET_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "store.h"

struct cli {
	char		*home;		/* absolute instance directory */
	struct config	*cfg;		/* loaded on demand */
	struct store	*st;		/* opened on demand */
	char		 actor[96];	/* who the audit log names */
	int		 any_schema;	/* migrate, setup: an old schema is fine */
};

/* Exit codes: 0 ok, 1 failure, 2 usage. */
#define EXIT_USAGE	2

int	cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int	cli_usage(const char *usage);

/* Loads the config / opens the database (starting the private cluster
 * when the instance uses one and it is down). Print and return -1 on error. */
int	cli_config(struct cli *);
int	cli_store(struct cli *);

/* Writes a file atomically (temp + fsync + rename) with the given mode. */
int	cli_write_file(const char *path, const void *buf, size_t len,
	    int mode, struct err *e);
/* The same without the fsync, for many files made durable at once
 * (syncfs) by the caller. */
int	cli_write_file_nosync(const char *path, const void *buf, size_t len,
	    int mode, struct err *e);
/* Reads a whole file of at most max bytes. */
int	cli_read_file(const char *path, size_t max, uint8_t **buf, size_t *len,
	    struct err *e);

int	cmd_setup(struct cli *, int argc, char **argv);
int	cmd_install_ca(struct cli *, int argc, char **argv);
int	cmd_stop(struct cli *, int argc, char **argv);
int	cmd_db(struct cli *, int argc, char **argv);
int	cmd_migrate(struct cli *, int argc, char **argv);
int	cmd_issue(struct cli *, int argc, char **argv);
int	cmd_list(struct cli *, int argc, char **argv);
int	cmd_show(struct cli *, int argc, char **argv);
int	cmd_export(struct cli *, int argc, char **argv);
int	cmd_audit(struct cli *, int argc, char **argv);
int	cmd_publish(struct cli *, int argc, char **argv);
int	cmd_ca_serve(struct cli *, int argc, char **argv);
int	cmd_kra(struct cli *, int argc, char **argv);
int	cmd_enroll(struct cli *, int argc, char **argv);
int	cmd_pickup(struct cli *, int argc, char **argv);
int	cmd_request(struct cli *, int argc, char **argv);
int	cmd_policy(struct cli *, int argc, char **argv);
int	cmd_operator(struct cli *, int argc, char **argv);
/* Logs in as an operator (name or $SIGNET_OPERATOR; password from pwfile,
 * $SIGNET_OPERATOR_PASSWORD_FILE or the terminal); sets c->actor to
 * "operator:NAME" and role. Prints and returns -1 on failure. */
int	cli_operator(struct cli *, const char *name, const char *pwfile,
	    char role[32]);
/* Refuses (prints, -1) any --password... argument but --password-file. */
int	cli_no_password_arg(int argc, char **argv);
int	cmd_revoke(struct cli *, int argc, char **argv);
int	cmd_crl(struct cli *, int argc, char **argv);
int	cmd_ocsp_signer(struct cli *, int argc, char **argv);
int	cmd_ocsp_refresh(struct cli *, int argc, char **argv);

#endif
