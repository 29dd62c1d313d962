/*
 * signet kra ...   the key recovery ceremonies and recoveries
 * signet enroll    a dual (signing + encryption) enrolment, acting as the RA
 * signet pickup    the PKCS#12 of a server-made key, once issued
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "cakey.h"
#include "cli.h"
#include "csr.h"
#include "kra.h"
#include "p12.h"
#include "ra.h"

#define MAX_AGENTS	64

struct agents {
	struct kra_agent_secret	 a[MAX_AGENTS];
	const char		*file[MAX_AGENTS];
	char			*secret[MAX_AGENTS];
	unsigned		 n;
};

/* A passphrase from the terminal, echo off. Never from argv. */
static int
read_tty(const char *prompt, char **out, struct err *e)
{
	struct termios	 old, raw;
	char		 buf[1024];
	size_t		 n;
	int		 fd, rc = -1;
	FILE		*f;

	*out = NULL;
	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1)
		return err_set(e, "no terminal to ask for the %s (use "
		    "--passphrase-file)", prompt);
	if ((f = fdopen(fd, "r+")) == NULL) {
		close(fd);
		return err_set(e, "%s", strerror(errno));
	}
	fprintf(f, "%s: ", prompt);
	fflush(f);
	if (tcgetattr(fd, &old) == 0) {
		raw = old;
		raw.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &raw);
	}
	if (fgets(buf, sizeof(buf), f) != NULL) {
		n = strcspn(buf, "\r\n");
		buf[n] = '\0';
		if ((*out = strdup(buf)) != NULL)
			rc = 0;
	}
	tcsetattr(fd, TCSAFLUSH, &old);
	fputc('\n', f);
	fclose(f);
	sodium_memzero(buf, sizeof(buf));
	if (rc != 0)
		err_set(e, "no %s read", prompt);
	return rc;
}

static int
secret_for(const char *who, const char *file, char **out, struct err *e)
{
	char	prompt[128];

	if (file != NULL)
		return cakey_read_secret(file, NULL, out, e);
	snprintf(prompt, sizeof(prompt), "passphrase of %s", who);
	return read_tty(prompt, out, e);
}

static int
agents_read(struct agents *ag, struct err *e)
{
	unsigned	i;

	for (i = 0; i < ag->n; i++) {
		if (secret_for(ag->a[i].name, ag->file[i], &ag->secret[i],
		    e) != 0)
			return err_wrap(e, "agent %s", ag->a[i].name);
		ag->a[i].passphrase = ag->secret[i];
	}
	return 0;
}

static void
agents_free(struct agents *ag)
{
	unsigned	i;

	for (i = 0; i < ag->n; i++)
		cakey_secret_free(ag->secret[i]);
}

/* --agent NAME [--passphrase-file F], repeated; the file belongs to the
 * agent named just before it. */
static int
agent_opt(struct agents *ag, int ch, const char *arg)
{
	if (ch == 'a') {
		if (ag->n == MAX_AGENTS)
			return cli_fail("at most %d agents", MAX_AGENTS);
		ag->a[ag->n++].name = arg;
		return 0;
	}
	if (ag->n == 0 || ag->file[ag->n - 1] != NULL)
		return cli_fail("--passphrase-file must follow its --agent");
	ag->file[ag->n - 1] = arg;
	return 0;
}

static int
kra_cfg(struct cli *c, struct kra_config *kc, int need_enabled)
{
	struct err	e;

	if (cli_store(c) != 0)
		return -1;
	if (kra_config_load(c->cfg->path, kc, &e) != 0)
		return cli_fail("%s", e.msg), -1;
	if (need_enabled && !kc->enabled)
		return cli_fail("key recovery is off: set [kra] enabled = yes in "
		    "%s", c->cfg->path), -1;
	return 0;
}

static int
parse_id(const char *s, int64_t *id)
{
	char	*end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v <= 0)
		return cli_fail("%s: not a recovery or request number", s);
	*id = v;
	return 0;
}

/* --agents and --threshold: 1 to 255 (shares are points of GF(2^8)) */
static int
parse_count(const char *opt, const char *s, unsigned *n)
{
	if (config_uint(s, 1, 255, n) != 0)
		return cli_fail("--%s \"%s\": not a number from 1 to 255", opt,
		    s);
	return 0;
}

static int
kra_cmd_init(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "agents",		required_argument, NULL, 'n' },
		{ "threshold",		required_argument, NULL, 't' },
		{ "agent",		required_argument, NULL, 'a' },
		{ "passphrase-file",	required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *usage = "kra init --agents N --threshold M "
	    "--agent NAME [--passphrase-file F] ...";
	struct kra_config	kc;
	struct agents		ag;
	struct err		e;
	unsigned		n = 0, m = 0;
	int			ch, rc = 1;

	memset(&ag, 0, sizeof(ag));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'n') {
			if (parse_count("agents", optarg, &n) != 0)
				return 1;
		} else if (ch == 't') {
			if (parse_count("threshold", optarg, &m) != 0)
				return 1;
		} else if (ch == 'a' || ch == 'f') {
			if (agent_opt(&ag, ch, optarg) != 0)
				return 1;
		} else
			return cli_usage(usage);
	}
	if (optind != argc || ag.n == 0 || m == 0)
		return cli_usage(usage);
	if (n != 0 && n != ag.n)
		return cli_fail("--agents %u but %u agents named", n, ag.n);
	if (kra_cfg(c, &kc, 1) != 0)
		return 1;
	if (agents_read(&ag, &e) != 0 ||
	    kra_init(c->st, &kc, c->actor, ag.a, ag.n, m, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	printf("KRA storage key generation 1 made; its secret key is split "
	    "%u of %u among the agents and wiped\n", m, ag.n);
	rc = 0;
out:
	agents_free(&ag);
	return rc;
}

/* rotate, add-agent NAME, remove-agent NAME: a ceremony of M agents. */
static int
kra_cmd_ceremony(struct cli *c, int argc, char **argv, const char *what)
{
	static const struct option opts[] = {
		{ "agent",		required_argument, NULL, 'a' },
		{ "passphrase-file",	required_argument, NULL, 'f' },
		{ "new-passphrase-file", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	struct kra_config	 kc;
	struct kra_agent_secret	 newcomer;
	struct agents		 ag;
	struct err		 e;
	const char		*newfile = NULL, *name = NULL;
	char			*newsecret = NULL, usage[256];
	int			 ch, rc = 1, r;

	snprintf(usage, sizeof(usage), "kra %s%s --agent NAME "
	    "[--passphrase-file F] ...%s", what,
	    strcmp(what, "rotate") ? " NAME" : "",
	    strcmp(what, "add-agent") ? "" : " [--new-passphrase-file F]");
	memset(&ag, 0, sizeof(ag));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a' || ch == 'f') {
			if (agent_opt(&ag, ch, optarg) != 0)
				return 1;
		} else if (ch == 'N')
			newfile = optarg;
		else
			return cli_usage(usage);
	}
	if (strcmp(what, "rotate") != 0) {
		if (optind + 1 != argc)
			return cli_usage(usage);
		name = argv[optind];
	} else if (optind != argc)
		return cli_usage(usage);
	if (ag.n == 0)
		return cli_usage(usage);
	if (kra_cfg(c, &kc, 1) != 0)
		return 1;
	if (agents_read(&ag, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if (!strcmp(what, "rotate"))
		r = kra_rotate(c->st, &kc, c->actor, ag.a, ag.n, &e);
	else if (!strcmp(what, "add-agent")) {
		if (secret_for(name, newfile, &newsecret, &e) != 0) {
			cli_fail("agent %s: %s", name, e.msg);
			goto out;
		}
		newcomer.name = name;
		newcomer.passphrase = newsecret;
		r = kra_add_agent(c->st, &kc, c->actor, &newcomer, ag.a, ag.n,
		    &e);
	} else
		r = kra_remove_agent(c->st, &kc, c->actor, name, ag.a, ag.n,
		    &e);
	if (r != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if (!strcmp(what, "rotate"))
		printf("KRA storage key rotated; every escrowed key re-sealed\n");
	else
		printf("agent %s %s; storage key re-shared\n", name,
		    !strcmp(what, "add-agent") ? "added" : "removed");
	rc = 0;
out:
	cakey_secret_free(newsecret);
	agents_free(&ag);
	return rc;
}

static int
kra_cmd_status(struct cli *c, int argc, char **argv)
{
	struct kra_config	kc;
	struct kra_status	s;
	struct err		e;

	if (argc != 1)
		return cli_usage("kra status");
	if (kra_cfg(c, &kc, 0) != 0)
		return 1;
	if (kra_status(c->st, &s, &e) != 0)
		return cli_fail("%s", e.msg);
	printf("enabled: %s\n", kc.enabled ? "yes" : "no");
	if (s.generation == 0) {
		printf("storage key: none (run signet kra init)\n");
		return 0;
	}
	printf("storage key: generation %d (%" PRId64 " retired)\n",
	    s.generation, s.retired_generations);
	printf("threshold: %u of %u agents\n", s.threshold, s.nagents);
	printf("agents: %s\n", s.agents);
	printf("escrowed keys: %" PRId64 " (%" PRId64 " past expiry + grace)\n",
	    s.escrowed, s.purgeable);
	printf("open recoveries: %" PRId64 "\n", s.open_recoveries);
	return 0;
}

static int
kra_cmd_open(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason",	required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct kra_config	 kc;
	struct err		 e;
	const char		*reason = NULL;
	int64_t			 id;
	int			 ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'r')
			reason = optarg;
		else
			return cli_usage("kra open SERIAL --reason TEXT");
	}
	if (optind + 1 != argc || reason == NULL)
		return cli_usage("kra open SERIAL --reason TEXT");
	if (kra_cfg(c, &kc, 1) != 0)
		return 1;
	if (kra_recovery_open(c->st, &kc, c->actor, argv[optind], reason, &id,
	    &e) != 0)
		return cli_fail("%s", e.msg);
	printf("recovery %" PRId64 " opened for %s; it needs approvals within "
	    "%u hours\n", id, argv[optind], kc.window_hours);
	return 0;
}

static int
kra_cmd_approve(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "agent",		required_argument, NULL, 'a' },
		{ "passphrase-file",	required_argument, NULL, 'f' },
		{ "one-time-password-file", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *usage = "kra approve RECOVERY_ID --agent NAME "
	    "[--passphrase-file F] [--one-time-password-file OUT]";
	struct kra_config	 kc;
	struct err		 e;
	const char		*agent = NULL, *file = NULL, *otpfile = NULL;
	char			*pass = NULL, *otp = NULL, *line = NULL;
	int64_t			 id;
	int			 ch, r, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a')
			agent = optarg;
		else if (ch == 'f')
			file = optarg;
		else if (ch == 'o')
			otpfile = optarg;
		else
			return cli_usage(usage);
	}
	if (optind + 1 != argc || agent == NULL)
		return cli_usage(usage);
	if (parse_id(argv[optind], &id) != 0)
		return 1;
	if (otpfile != NULL && access(otpfile, F_OK) == 0)
		return cli_fail("%s exists; the one-time password is never "
		    "written over a file", otpfile);
	if (kra_cfg(c, &kc, 1) != 0)
		return 1;
	if (secret_for(agent, file, &pass, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	r = kra_recovery_approve(c->st, &kc, c->actor, id, agent, pass, &otp,
	    &e);
	if (r < 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if (r == 0) {
		printf("recovery %" PRId64 ": approval by %s recorded; more "
		    "agents must approve\n", id, agent);
		rc = 0;
		goto out;
	}
	if (otpfile != NULL) {
		if (asprintf(&line, "%s\n", otp) < 0 ||
		    cli_write_file(otpfile, line, strlen(line), 0600, &e) != 0) {
			/* the PKCS#12 is made; without its password it is
			 * useless, so say so plainly */
			cli_fail("%s; the one-time password is: %s", line ?
			    e.msg : "out of memory", otp);
			goto out;
		}
		printf("recovery %" PRId64 ": key recovered; one-time password "
		    "written to %s (shown once)\n", id, otpfile);
	} else
		printf("recovery %" PRId64 ": key recovered; one-time password "
		    "(shown once): %s\n", id, otp);
	rc = 0;
out:
	if (line != NULL) {
		sodium_memzero(line, strlen(line));
		free(line);
	}
	kra_otp_free(otp);
	cakey_secret_free(pass);
	return rc;
}

static int
kra_cmd_fetch(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "p12",		required_argument, NULL, 'p' },
		{ "one-time-password-file", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *usage = "kra fetch RECOVERY_ID --p12 OUT "
	    "--one-time-password-file F";
	struct kra_config	 kc;
	struct err		 e;
	gnutls_datum_t		 p12 = { NULL, 0 };
	const char		*out = NULL, *otpfile = NULL;
	char			*otp = NULL;
	int64_t			 id;
	int			 ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'p')
			out = optarg;
		else if (ch == 'o')
			otpfile = optarg;
		else
			return cli_usage(usage);
	}
	if (optind + 1 != argc || out == NULL || otpfile == NULL)
		return cli_usage(usage);
	if (parse_id(argv[optind], &id) != 0)
		return 1;
	if (access(out, F_OK) == 0)
		return cli_fail("%s exists; not written over", out);
	if (kra_cfg(c, &kc, 1) != 0)
		return 1;
	if (cakey_read_secret(otpfile, NULL, &otp, &e) != 0 ||
	    kra_recovery_fetch(c->st, c->actor, id, otp, &p12, &e) != 0) {
		cli_fail("%s", e.msg);
		goto done;
	}
	if (cli_write_file(out, p12.data, p12.size, 0600, &e) != 0) {
		cli_fail("%s (the recovered PKCS#12 was deleted from the "
		    "database; open a new recovery)", e.msg);
		goto done;
	}
	printf("recovery %" PRId64 ": PKCS#12 written to %s and deleted from "
	    "the database\n", id, out);
	rc = 0;
done:
	if (p12.data != NULL) {
		gnutls_memset(p12.data, 0, p12.size);
		gnutls_free(p12.data);
	}
	cakey_secret_free(otp);
	return rc;
}

static int
list_fn(void *arg, const struct kra_recovery *r)
{
	char	at[32];

	strftime(at, sizeof(at), "%Y-%m-%d %H:%M", gmtime(&r->opened_at));
	printf("%" PRId64 "\t%s\t%s\t%s\t%u/%u\t%s\t%s\t%s\n", r->id, r->state,
	    r->serial, r->email, r->approvals, r->threshold, at, r->opened_by,
	    r->reason);
	return 0;
}

static int
kra_cmd_list(struct cli *c, int argc, char **argv)
{
	struct err	e;

	if (argc != 1 && !(argc == 3 && !strcmp(argv[1], "--email")))
		return cli_usage("kra list [--email E]");
	if (cli_store(c) != 0)
		return 1;
	if (kra_recovery_list(c->st, argc == 3 ? argv[2] : NULL, list_fn,
	    NULL, &e) != 0)
		return cli_fail("%s", e.msg);
	return 0;
}

static int
kra_cmd_purge(struct cli *c, int argc, char **argv)
{
	struct kra_config	kc;
	struct err		e;
	int64_t			purged, expired;

	if (argc != 1)
		return cli_usage("kra purge");
	if (kra_cfg(c, &kc, 0) != 0)
		return 1;
	if (kra_purge(c->st, c->actor, &purged, &expired, &e) != 0)
		return cli_fail("%s", e.msg);
	printf("purged %" PRId64 " escrowed keys past expiry + grace; %"
	    PRId64 " recoveries expired\n", purged, expired);
	return 0;
}

/* Escrows the key of a certificate issued before (e.g. moved from another
 * key recovery server); refuses signing certificates. */
static int
kra_cmd_escrow(struct cli *c, int argc, char **argv)
{
	static const char	*usage = "kra escrow SERIAL --key-file KEY.pem";
	struct kra_config	 kc;
	struct err		 e;
	gnutls_x509_privkey_t	 key = NULL;
	gnutls_datum_t		 d;
	uint8_t			*buf = NULL;
	size_t			 len = 0;
	int			 rc = 1;

	if (argc != 4 || strcmp(argv[2], "--key-file") != 0)
		return cli_usage(usage);
	if (kra_cfg(c, &kc, 1) != 0)
		return 1;
	if (cli_read_file(argv[3], 1 << 16, &buf, &len, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	d.data = buf;
	d.size = (unsigned)len;
	if (gnutls_x509_privkey_init(&key) < 0 ||
	    (gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL,
	    GNUTLS_PKCS_PLAIN) < 0 &&
	    gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_DER, NULL,
	    GNUTLS_PKCS_PLAIN) < 0)) {
		cli_fail("%s: not an unencrypted private key", argv[3]);
		goto out;
	}
	if (kra_escrow_key(c->st, c->actor, argv[1], key, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	printf("escrowed the key of %s\n", argv[1]);
	rc = 0;
out:
	gnutls_x509_privkey_deinit(key);
	if (buf != NULL) {
		sodium_memzero(buf, len);
		free(buf);
	}
	return rc;
}

int
cmd_kra(struct cli *c, int argc, char **argv)
{
	static const char *usage = "kra init|status|rotate|add-agent|"
	    "remove-agent|open|approve|fetch|list|purge|escrow ...";
	const char	*sub;

	if (argc < 2)
		return cli_usage(usage);
	sub = argv[1];
	argc--;
	argv++;
	optind = 1;
	if (!strcmp(sub, "init"))
		return kra_cmd_init(c, argc, argv);
	if (!strcmp(sub, "status"))
		return kra_cmd_status(c, argc, argv);
	if (!strcmp(sub, "rotate") || !strcmp(sub, "add-agent") ||
	    !strcmp(sub, "remove-agent"))
		return kra_cmd_ceremony(c, argc, argv, sub);
	if (!strcmp(sub, "open"))
		return kra_cmd_open(c, argc, argv);
	if (!strcmp(sub, "approve"))
		return kra_cmd_approve(c, argc, argv);
	if (!strcmp(sub, "fetch"))
		return kra_cmd_fetch(c, argc, argv);
	if (!strcmp(sub, "list"))
		return kra_cmd_list(c, argc, argv);
	if (!strcmp(sub, "purge"))
		return kra_cmd_purge(c, argc, argv);
	if (!strcmp(sub, "escrow"))
		return kra_cmd_escrow(c, argc, argv);
	return cli_usage(usage);
}

int
cmd_enroll(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "email",		required_argument, NULL, 'm' },
		{ "signing-csr",	required_argument, NULL, 'c' },
		{ "name",		required_argument, NULL, 'n' },
		{ "p12-password-file",	required_argument, NULL, 'w' },
		{ "requester",		required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *usage = "enroll --email E --signing-csr F "
	    "[--name N] [--requester UID] --p12-password-file F";
	struct kra_config	 kc;
	struct ra_request	 r;
	struct err		 e;
	const char		*email = NULL, *csrfile = NULL, *name = NULL;
	const char		*pwfile = NULL, *requester = NULL;
	char			*pass = NULL;
	uint8_t			*csr = NULL;
	size_t			 csr_len = 0;
	int64_t			 sig_id = 0, enc_id = 0;
	int			 ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'm')
			email = optarg;
		else if (ch == 'c')
			csrfile = optarg;
		else if (ch == 'n')
			name = optarg;
		else if (ch == 'w')
			pwfile = optarg;
		else if (ch == 'r')
			requester = optarg;
		else
			return cli_usage(usage);
	}
	if (optind != argc || email == NULL || csrfile == NULL ||
	    pwfile == NULL)
		return cli_usage(usage);
	if (kra_cfg(c, &kc, 1) != 0)
		return 1;
	if (cakey_read_secret(pwfile, NULL, &pass, &e) != 0 ||
	    cli_read_file(csrfile, CSR_MAX_SIZE, &csr, &csr_len, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	memset(&r, 0, sizeof(r));
	/* the administrator's CLI stands in for the enrolment site, which
	 * has authenticated the employee against the directory */
	r.source = "csr";
	r.via_ra = 1;
	r.authenticated = 1;
	r.requester = requester != NULL ? requester : email;
	r.requester_mail = email;
	r.email = email;
	r.display_name = name;
	r.csr = csr;
	r.csr_len = csr_len;
	/* kra.c: the signing request and the escrowed encryption key's
	 * request, one batch in one transaction */
	if (kra_enrol_dual(c->st, c->actor, c->cfg->server_key_type, &r, pass,
	    &sig_id, &enc_id, &e) != 0) {
		cli_fail("%s; nothing was submitted", e.msg);
		goto out;
	}
	printf("submitted signing request %" PRId64 " and encryption request %"
	    PRId64 " (key escrowed) for %s\n", sig_id, enc_id, email);
	rc = 0;
out:
	free(csr);
	cakey_secret_free(pass);
	return rc;
}

int
cmd_pickup(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "p12",		required_argument, NULL, 'p' },
		{ "p12-password-file",	required_argument, NULL, 'w' },
		{ "p12-format",		required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *usage = "pickup REQUEST_ID --p12 OUT "
	    "--p12-password-file F [--p12-format modern|compatible]";
	struct err		 e;
	enum p12_format		 fmt = P12_MODERN;
	gnutls_datum_t		 p12 = { NULL, 0 };
	const char		*out = NULL, *pwfile = NULL;
	char			*pass = NULL;
	int64_t			 id;
	int			 ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'p')
			out = optarg;
		else if (ch == 'w')
			pwfile = optarg;
		else if (ch == 'f') {
			if (p12_format_parse(optarg, &fmt, &e) != 0)
				return cli_fail("%s", e.msg);
		} else
			return cli_usage(usage);
	}
	if (optind + 1 != argc || out == NULL || pwfile == NULL)
		return cli_usage(usage);
	if (parse_id(argv[optind], &id) != 0)
		return 1;
	if (access(out, F_OK) == 0)
		return cli_fail("%s exists; not written over", out);
	if (cli_store(c) != 0)
		return 1;
	if (cakey_read_secret(pwfile, NULL, &pass, &e) != 0 ||
	    kra_pickup(c->st, c->actor, id, NULL, pass, fmt, &p12, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if (cli_write_file(out, p12.data, p12.size, 0600, &e) != 0) {
		cli_fail("%s (the key was deleted from the database)", e.msg);
		goto out;
	}
	printf("request %" PRId64 ": key and certificate written to %s\n", id,
	    out);
	rc = 0;
out:
	if (p12.data != NULL) {
		gnutls_memset(p12.data, 0, p12.size);
		gnutls_free(p12.data);
	}
	cakey_secret_free(pass);
	return rc;
}
