/*
 * signet revoke, crl, ocsp-signer, ocsp-refresh.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "ca.h"
#include "cli.h"
#include "revoke.h"
#include "revsvc.h"
#include "store_rev.h"

static void
fmt_time(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

int
cmd_revoke(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason",	required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*usage = "revoke SERIAL --reason unspecified|"
	    "keyCompromise|affiliationChanged|superseded|"
	    "cessationOfOperation|privilegeWithdrawn";
	const char	*reason_s = NULL, *serial;
	struct err	 e;
	int		 opt, reason;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (opt) {
		case 'r': reason_s = optarg; break;
		default: return cli_usage(usage);
		}
	if (optind != argc - 1 || reason_s == NULL)
		return cli_usage(usage);
	serial = argv[optind];
	if (revoke_reason_parse(reason_s, &reason, &e) != 0)
		return cli_fail("%s", e.msg);
	if (cli_store(c) != 0)
		return 1;
	if (revoke_cert(c->st, serial, reason, c->actor, &e) != 0)
		return cli_fail("%s", e.msg);
	printf("revoked %s (%s); ca-serve signs the new CRL and OCSP "
	    "responses now\n", serial, revoke_reason_name(reason));
	return 0;
}

/* The CA and the revocation service, for the commands below. */
static struct revsvc *
open_revsvc(struct cli *c, struct ca **ca)
{
	struct revsvc	*rs;
	struct err	 e;

	*ca = NULL;
	if (cli_store(c) != 0)
		return NULL;
	if ((*ca = ca_open(c->cfg, &e)) == NULL) {
		cli_fail("%s", e.msg);
		return NULL;
	}
	if ((rs = revsvc_new(*ca, c->st, &e)) == NULL) {
		cli_fail("%s", e.msg);
		ca_free(*ca);
		*ca = NULL;
	}
	return rs;
}

static int
crl_save(struct cli *c, const char *path, struct err *e)
{
	char	 tmp[4096];
	FILE	*f;
	int	 rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return err_set(e, "%s: path too long", path);
	if ((f = fopen(tmp, "wb")) == NULL)
		return err_set(e, "%s: %s", tmp, strerror(errno));
	rc = store_crl_der(c->st, 0, f, e);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = err_set(e, "%s: %s", tmp, strerror(errno));
	fclose(f);
	if (rc == 0 && (chmod(tmp, 0644) != 0 || rename(tmp, path) != 0))
		rc = err_set(e, "%s: %s", path, strerror(errno));
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int
cmd_crl(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out",	required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	const char		*usage = "crl [--out FILE]", *out = NULL;
	struct store_crl_info	 info;
	struct revsvc		*rs;
	struct ca		*ca;
	struct err		 e;
	char			 tu[32], nu[32];
	int64_t			 number, entries;
	int			 opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (opt) {
		case 'o': out = optarg; break;
		default: return cli_usage(usage);
		}
	if (optind != argc)
		return cli_usage(usage);
	if ((rs = open_revsvc(c, &ca)) == NULL)
		return 1;
	if (revsvc_crl_now(rs, &number, &entries, &e) != 0 ||
	    store_crl_latest(c->st, &info, &e) < 0 ||
	    (out != NULL && crl_save(c, out, &e) != 0)) {
		cli_fail("%s", e.msg);
		goto out;
	}
	fmt_time(info.this_update, tu, sizeof(tu));
	fmt_time(info.next_update, nu, sizeof(nu));
	printf("CRL %" PRId64 ": %" PRId64 " entries, this update %s, next "
	    "update %s\n", number, entries, tu, nu);
	rc = 0;
out:
	revsvc_free(rs);
	ca_free(ca);
	return rc;
}

int
cmd_ocsp_signer(struct cli *c, int argc, char **argv)
{
	struct revsvc	*rs;
	struct ca	*ca;
	struct err	 e;
	time_t		 na;
	char		 buf[32];
	int		 rc = 1;

	if (argc != 1)
		return cli_usage("ocsp-signer");
	if ((rs = open_revsvc(c, &ca)) == NULL)
		return 1;
	if (revsvc_signer_rotate(rs, &na, &e) != 0)
		cli_fail("%s", e.msg);
	else {
		fmt_time(na, buf, sizeof(buf));
		printf("new OCSP responder certificate, valid until %s\n", buf);
		rc = 0;
	}
	revsvc_free(rs);
	ca_free(ca);
	return rc;
}

static volatile sig_atomic_t	stopping;

static void
on_term(int sig)
{
	stopping = 1;
}

/* --watch: what ca-serve does for revocation, for an instance run without
 * it; ticks when notified and at least every 30 seconds. */
static int
watch(struct cli *c, struct revsvc *rs)
{
	PGconn		*pg = store_pg(c->st);
	PGnotify	*n;
	PGresult	*r;
	struct err	 e;
	struct timeval	 tv;
	fd_set		 fds;
	char		 pidfile[4096];
	FILE		*f;
	int		 sock;

	snprintf(pidfile, sizeof(pidfile), "%s/run", c->home);
	mkdir(pidfile, 0700);
	snprintf(pidfile, sizeof(pidfile), "%s/run/ocsp-refresh.pid", c->home);
	if ((f = fopen(pidfile, "w")) == NULL)
		return cli_fail("%s: %s", pidfile, strerror(errno));
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	r = PQexec(pg, "LISTEN " REVSVC_CHANNEL);
	PQclear(r);
	while (!stopping) {
		if (revsvc_tick(rs, &e) != 0)
			fprintf(stderr, "signet: ocsp-refresh: %s\n", e.msg);
		sock = PQsocket(pg);
		FD_ZERO(&fds);
		FD_SET(sock, &fds);
		tv.tv_sec = 30;
		tv.tv_usec = 0;
		if (select(sock + 1, &fds, NULL, NULL, &tv) < 0 &&
		    errno != EINTR)
			break;
		PQconsumeInput(pg);
		while ((n = PQnotifies(pg)) != NULL)
			PQfreemem(n);
		if (PQstatus(pg) != CONNECTION_OK) {
			fprintf(stderr, "signet: ocsp-refresh: the database "
			    "connection was lost\n");
			break;
		}
	}
	unlink(pidfile);
	return stopping ? 0 : 1;
}

int
cmd_ocsp_refresh(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "watch",	no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct revsvc	*rs;
	struct ca	*ca;
	struct err	 e;
	int64_t		 n;
	int		 opt, w = 0, rc = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (opt) {
		case 'w': w = 1; break;
		default: return cli_usage("ocsp-refresh [--watch]");
		}
	if (optind != argc)
		return cli_usage("ocsp-refresh [--watch]");
	if ((rs = open_revsvc(c, &ca)) == NULL)
		return 1;
	if (w)
		rc = watch(c, rs);
	else if (revsvc_refresh_all(rs, &n, &e) != 0)
		cli_fail("%s", e.msg);
	else {
		printf("signed %" PRId64 " OCSP responses\n", n);
		rc = 0;
	}
	revsvc_free(rs);
	ca_free(ca);
	return rc;
}
