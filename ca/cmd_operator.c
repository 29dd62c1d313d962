/*
 * signet operator add|list|disable, and the operator login the request
 * commands use. Passwords come from a file only its owner may read, or
 * are typed at the terminal without echo: never from argv (DESIGN.md,
 * Security rules).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cakey.h"
#include "cli.h"
#include "operator.h"
#include "store_req.h"

#define PW_MAX	1024

/* Reads one line from the terminal without echo; malloc'd, wiped by the
 * caller with cakey_secret_free. */
static char *
tty_password(const char *prompt)
{
	struct termios	 old, raw;
	char		*buf = NULL;
	size_t		 n = 0;
	ssize_t		 r;
	char		 ch;
	int		 fd, echo_off = 0;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1)
		return NULL;
	if ((buf = malloc(PW_MAX)) == NULL)
		goto out;
	if (tcgetattr(fd, &old) == 0) {
		raw = old;
		raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		raw.c_lflag |= ICANON;
		echo_off = tcsetattr(fd, TCSAFLUSH, &raw) == 0;
	}
	if (write(fd, prompt, strlen(prompt)) < 0)
		goto fail;
	for (;;) {
		r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || ch == '\n' || ch == '\r')
			break;
		if (n + 1 < PW_MAX)
			buf[n++] = ch;
	}
	buf[n] = '\0';
	if (write(fd, "\n", 1) < 0)
		goto fail;
	goto out;
fail:
	sodium_memzero(buf, PW_MAX);
	free(buf);
	buf = NULL;
out:
	if (echo_off)
		tcsetattr(fd, TCSAFLUSH, &old);
	close(fd);
	return buf;
}

/* The password from file, or typed (twice when confirm is set). */
static int
read_password(const char *file, const char *what, int confirm, char **out)
{
	struct err	 e;
	char		 prompt[160];
	char		*again;

	*out = NULL;
	if (file != NULL) {
		if (cakey_read_secret(file, NULL, out, &e) != 0)
			return cli_fail("%s", e.msg), -1;
		return 0;
	}
	snprintf(prompt, sizeof(prompt), "password for %s: ", what);
	if ((*out = tty_password(prompt)) == NULL)
		return cli_fail("no terminal to read the password of %s from; "
		    "use --password-file", what), -1;
	if (!confirm)
		return 0;
	snprintf(prompt, sizeof(prompt), "password for %s again: ", what);
	if ((again = tty_password(prompt)) == NULL ||
	    strcmp(again, *out) != 0) {
		cakey_secret_free(again);
		cakey_secret_free(*out);
		*out = NULL;
		return cli_fail("the passwords differ"), -1;
	}
	cakey_secret_free(again);
	return 0;
}

int
cli_no_password_arg(int argc, char **argv)
{
	int	i;

	/* getopt_long takes any unambiguous prefix: "--password X" would
	 * otherwise be read as --password-file X and echoed in an error */
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--pass", 6) != 0)
			continue;
		if (strcmp(argv[i], "--password-file") == 0 ||
		    strncmp(argv[i], "--password-file=", 16) == 0)
			continue;
		fprintf(stderr, "signet: passwords are never command-line "
		    "arguments: use --password-file F (a file only you may "
		    "read) or type it at the terminal\n");
		return -1;
	}
	return 0;
}

int
cli_operator(struct cli *c, const char *name, const char *pwfile,
    char role[32])
{
	struct err	 e;
	char		*pw = NULL;
	int		 rc;

	if (name == NULL)
		name = getenv("SIGNET_OPERATOR");
	if (pwfile == NULL)
		pwfile = getenv("SIGNET_OPERATOR_PASSWORD_FILE");
	if (name == NULL || *name == '\0')
		return cli_fail("this command acts as an operator: give "
		    "--operator NAME (or set SIGNET_OPERATOR)"), -1;
	if (cli_store(c) != 0)
		return -1;
	if (read_password(pwfile, name, 0, &pw) != 0)
		return -1;
	rc = operator_login(c->st, name, pw, role, &e);
	cakey_secret_free(pw);
	if (rc != 0)
		return cli_fail("%s", e.msg), -1;
	snprintf(c->actor, sizeof(c->actor), "operator:%s", name);
	return 0;
}

static int
print_op(void *arg, const struct op_row *o)
{
	char		when[32];
	struct tm	tm;
	time_t		t = o->created_at;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime_r(&t, &tm));
	printf("%-20s %-15s %-9s %s\n", o->name, o->role,
	    o->disabled ? "disabled" : "active", when);
	return 0;
}

static int
op_add(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role",		required_argument, NULL, 'r' },
		{ "password-file",	required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	static const char usage[] = "operator add NAME --role "
	    "officer|auditor|admin|recovery-agent [--password-file F]";
	const char	*role = NULL, *pwfile = NULL, *name;
	struct err	 e;
	char		*pw = NULL;
	int		 ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'r')
			role = optarg;
		else if (ch == 'p')
			pwfile = optarg;
		else
			return cli_usage(usage);
	}
	if (optind + 1 != argc || role == NULL)
		return cli_usage(usage);
	name = argv[optind];
	if (!operator_role_valid(role))
		return cli_fail("unknown role \"%s\" (officer, auditor, admin "
		    "or recovery-agent)", role);
	if (cli_store(c) != 0)
		return 1;
	if (read_password(pwfile, name, 1, &pw) != 0)
		return 1;
	rc = operator_add(c->st, c->actor, name, role, pw, &e);
	cakey_secret_free(pw);
	if (rc != 0)
		return cli_fail("%s", e.msg);
	printf("added operator %s (%s)\n", name, role);
	return 0;
}

int
cmd_operator(struct cli *c, int argc, char **argv)
{
	static const char usage[] = "operator add NAME --role R "
	    "[--password-file F] | list | disable NAME";
	struct err	e;

	if (argc < 2)
		return cli_usage(usage);
	if (cli_no_password_arg(argc, argv) != 0)
		return EXIT_USAGE;
	if (!strcmp(argv[1], "add"))
		return op_add(c, argc - 1, argv + 1);
	if (!strcmp(argv[1], "list") && argc == 2) {
		if (cli_store(c) != 0)
			return 1;
		if (store_op_list(c->st, print_op, NULL, &e) != 0)
			return cli_fail("%s", e.msg);
		return 0;
	}
	if (!strcmp(argv[1], "disable") && argc == 3) {
		if (cli_store(c) != 0)
			return 1;
		if (operator_disable(c->st, c->actor, argv[2], &e) != 0)
			return cli_fail("%s", e.msg);
		printf("disabled operator %s\n", argv[2]);
		return 0;
	}
	return cli_usage(usage);
}
