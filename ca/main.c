/*
 * signet: the administrator's command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "cli.h"
#include "pgctl.h"

static const struct {
	const char	*name;
	int		(*fn)(struct cli *, int, char **);
	const char	*help;
} cmds[] = {
	{ "setup",	cmd_setup,	"create an instance: config, database, CA" },
	{ "install-ca",	cmd_install_ca,	"install a subordinate CA certificate" },
	{ "stop",	cmd_stop,	"stop what the instance started" },
	{ "db",		cmd_db,		"start|stop|status the private database" },
	{ "migrate",	cmd_migrate,	"apply database migrations" },
	{ "issue",	cmd_issue,	"issue a certificate from a CSR or a new key" },
	{ "list",	cmd_list,	"list certificates" },
	{ "show",	cmd_show,	"show one certificate" },
	{ "export",	cmd_export,	"write a certificate as PEM, DER or PKCS#7" },
	{ "audit",	cmd_audit,	"verify the audit chain" },
	{ "publish",	cmd_publish,	"publish certificates to LDAP and the web (status, retry)" },
	{ "ca-serve",	cmd_ca_serve,	"run the CA: decide and issue requests" },
	{ "kra",	cmd_kra,	"key recovery: ceremonies, escrow, recoveries" },
	{ "enroll",	cmd_enroll,	"dual enrolment: signing CSR + escrowed encryption key" },
	{ "pickup",	cmd_pickup,	"PKCS#12 of a server-made key, once issued" },
	{ "request",	cmd_request,	"submit, list, show, approve, deny requests" },
	{ "policy",	cmd_policy,	"check what the policy would decide (dry run)" },
	{ "operator",	cmd_operator,	"add, list, disable PKI operators" },
	{ "revoke",	cmd_revoke,	"revoke a certificate with a reason" },
	{ "crl",	cmd_crl,	"make and store a CRL now" },
	{ "ocsp-signer", cmd_ocsp_signer, "issue a new OCSP responder certificate now" },
	{ "ocsp-refresh", cmd_ocsp_refresh, "pre-sign due OCSP responses (--watch: keep at it)" },
};

int
cli_fail(const char *fmt, ...)
{
	va_list	ap;

	fputs("signet: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int
cli_usage(const char *usage)
{
	fprintf(stderr, "usage: signet [--home DIR] %s\n", usage);
	return EXIT_USAGE;
}

int
cli_config(struct cli *c)
{
	struct err	e;

	if (c->cfg != NULL)
		return 0;
	if ((c->cfg = config_load(c->home, &e)) == NULL)
		return cli_fail("%s", e.msg), -1;
	return 0;
}

int
cli_store(struct cli *c)
{
	struct err	 e;
	char		*ci;

	if (c->st != NULL)
		return 0;
	if (cli_config(c) != 0)
		return -1;
	if (*c->cfg->db_conninfo == '\0' && !pgctl_running(c->home) &&
	    pgctl_start(c->home, &e) != 0)
		return cli_fail("%s", e.msg), -1;
	if ((ci = config_conninfo(c->cfg)) == NULL)
		return cli_fail("out of memory"), -1;
	c->st = store_open(ci, &e);
	free(ci);
	if (c->st == NULL)
		return cli_fail("%s", e.msg), -1;
	if (!c->any_schema) {
		int missing;

		if (store_schema_missing(c->st, &missing, &e) != 0)
			return cli_fail("%s", e.msg), -1;
		if (missing > 0)
			return cli_fail("the database lacks %d schema "
			    "migration%s this signet needs: run `signet migrate`",
			    missing, missing == 1 ? "" : "s"), -1;
	}
	return 0;
}

static int
write_file(const char *path, const void *buf, size_t len, int mode, int sync,
    struct err *e)
{
	char	 tmp[4096];
	int	 fd;
	ssize_t	 w;
	size_t	 off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return err_set(e, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd == -1)
		return err_set(e, "%s: %s", tmp, strerror(errno));
	while (off < len) {
		w = write(fd, (const char *)buf + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err_set(e, "%s: %s", tmp, strerror(errno));
			goto fail;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, mode) != 0 || (sync && fsync(fd) != 0)) {
		err_set(e, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return -1;
}

int
cli_write_file(const char *path, const void *buf, size_t len, int mode,
    struct err *e)
{
	return write_file(path, buf, len, mode, 1, e);
}

int
cli_write_file_nosync(const char *path, const void *buf, size_t len,
    int mode, struct err *e)
{
	return write_file(path, buf, len, mode, 0, e);
}

int
cli_read_file(const char *path, size_t max, uint8_t **buf, size_t *len,
    struct err *e)
{
	struct stat	 st;
	uint8_t		*b = NULL;
	size_t		 off = 0;
	ssize_t		 r;
	int		 fd;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return err_set(e, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, "%s: not a regular file", path);
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return err_set(e, "%s: the input is too large (%lld bytes; "
		    "at most %zu)",
		    path, (long long)st.st_size, max);
	}
	if ((b = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return err_set(e, "out of memory");
	}
	while (off < (size_t)st.st_size) {
		r = read(fd, b + off, (size_t)st.st_size - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	b[off] = '\0';
	*buf = b;
	*len = off;
	return 0;
}

static void
set_actor(struct cli *c)
{
	struct passwd	*pw = getpwuid(getuid());
	const char	*sudo = getenv("SUDO_USER");

	snprintf(c->actor, sizeof(c->actor), "cli:%s",
	    sudo != NULL && *sudo ? sudo : pw != NULL ? pw->pw_name : "unknown");
}

static void
usage_all(FILE *f)
{
	size_t	i;

	fprintf(f, "usage: signet [--home DIR] COMMAND [ARGS]\n\n"
	    "The instance directory is --home, else $SIGNET_HOME, else ./var.\n\n"
	    "commands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].help);
}

int
main(int argc, char **argv)
{
	struct cli	 c;
	struct err	 e;
	const char	*home = NULL;
	char		**av;
	int		 ac = 0, i, rc;
	size_t		 k;

	memset(&c, 0, sizeof(c));
	/* --home may stand anywhere; take it out before the command parses */
	if ((av = calloc((size_t)argc + 1, sizeof(*av))) == NULL)
		return cli_fail("out of memory");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--home") == 0) {
			if (i + 1 >= argc)
				return cli_usage("--home DIR COMMAND");
			home = argv[++i];
		} else if (strncmp(argv[i], "--home=", 7) == 0)
			home = argv[i] + 7;
		else
			av[ac++] = argv[i];
	}
	if (ac == 0 || !strcmp(av[0], "-h") || !strcmp(av[0], "--help") ||
	    !strcmp(av[0], "help")) {
		usage_all(ac == 0 ? stderr : stdout);
		return ac == 0 ? EXIT_USAGE : 0;
	}
	if ((c.home = config_home(home, &e)) == NULL)
		return cli_fail("%s", e.msg);
	set_actor(&c);
	if (gnutls_global_init() < 0)
		return cli_fail("GnuTLS failed to initialise");

	rc = -1;
	for (k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		if (strcmp(av[0], cmds[k].name) == 0) {
			/* getopt_long starts at index 1: av[0] is the command */
			rc = cmds[k].fn(&c, ac, av);
			break;
		}
	if (rc == -1) {
		fprintf(stderr, "signet: unknown command `%s`\n", av[0]);
		usage_all(stderr);
		rc = EXIT_USAGE;
	}
	store_close(c.st);
	config_free(c.cfg);
	free(c.home);
	free(av);
	gnutls_global_deinit();
	return rc;
}
