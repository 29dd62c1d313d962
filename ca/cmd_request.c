/*
 * signet request submit|list|show|approve|deny, and signet policy check.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "csr.h"
#include "operator.h"
#include "ra.h"
#include "request.h"
#include "serve.h"

static const char request_usage[] =
"request COMMAND [--operator NAME] [--password-file F] ...\n"
"\n"
"  submit --csr F --email E --profile signing|encryption|dual [--name N]\n"
"         [--days N] [--on-behalf]\n"
"         [--via-ra --requester UID [--requester-mail M] [--groups a,b]]\n"
"  list [--state submitted|pending|approved|issued|denied]\n"
"  show ID\n"
"  approve ID [--reason TEXT]\n"
"  deny ID --reason TEXT\n"
"\n"
"Each acts as a named operator: --operator NAME (or $SIGNET_OPERATOR), with\n"
"the password from --password-file F (or $SIGNET_OPERATOR_PASSWORD_FILE; a\n"
"file only its owner may read) or typed at the terminal. officer and admin\n"
"may submit, approve and deny; auditor may list and show. --via-ra enters a\n"
"request as the enrolment site would, for an authenticated directory user\n"
"(admin only). Approve and deny act on a pending request and the rest of\n"
"its pair.";

struct req_args {
	const char	*op, *pwfile, *csr, *email, *profile, *name, *state;
	const char	*reason, *requester, *requester_mail, *groups;
	unsigned	 days;
	int		 on_behalf, via_ra, disabled;
};

static int
parse_days(const char *s, unsigned *days)
{
	char		*end;
	unsigned long	 n = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || n > 825)
		return -1;
	*days = (unsigned)n;
	return 0;
}

/* Parses the options every request and policy subcommand shares. */
static int
parse_args(int argc, char **argv, struct req_args *a)
{
	static const struct option opts[] = {
		{ "operator",		required_argument, NULL, 'O' },
		{ "password-file",	required_argument, NULL, 'W' },
		{ "csr",		required_argument, NULL, 'c' },
		{ "email",		required_argument, NULL, 'm' },
		{ "profile",		required_argument, NULL, 'p' },
		{ "name",		required_argument, NULL, 'n' },
		{ "days",		required_argument, NULL, 'd' },
		{ "on-behalf",		no_argument,	   NULL, 'b' },
		{ "via-ra",		no_argument,	   NULL, 'v' },
		{ "requester",		required_argument, NULL, 'u' },
		{ "requester-mail",	required_argument, NULL, 'M' },
		{ "groups",		required_argument, NULL, 'g' },
		{ "disabled",		no_argument,	   NULL, 'D' },
		{ "state",		required_argument, NULL, 's' },
		{ "reason",		required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'O': a->op = optarg; break;
		case 'W': a->pwfile = optarg; break;
		case 'c': a->csr = optarg; break;
		case 'm': a->email = optarg; break;
		case 'p': a->profile = optarg; break;
		case 'n': a->name = optarg; break;
		case 'd':
			if (parse_days(optarg, &a->days) != 0)
				return cli_fail("--days: 0 to 825"), -1;
			break;
		case 'b': a->on_behalf = 1; break;
		case 'v': a->via_ra = 1; break;
		case 'u': a->requester = optarg; break;
		case 'M': a->requester_mail = optarg; break;
		case 'g': a->groups = optarg; break;
		case 'D': a->disabled = 1; break;
		case 's': a->state = optarg; break;
		case 'r': a->reason = optarg; break;
		default: return -1;
		}
	}
	return 0;
}

/* Splits "a,b" into a NULL-terminated vector (in place). */
static const char **
split_groups(char *s, size_t *n)
{
	const char	**v;
	char		 *t, *save = NULL;
	size_t		  cap = 1;

	*n = 0;
	for (t = s; t != NULL && *t; t++)
		cap += *t == ',';
	if ((v = calloc(cap + 1, sizeof(*v))) == NULL)
		return NULL;
	for (t = s ? strtok_r(s, ", ", &save) : NULL; t != NULL;
	    t = strtok_r(NULL, ", ", &save))
		v[(*n)++] = t;
	return v;
}

/* Fills the identity part of a request from the arguments. */
static void
identity(const struct cli *c, const struct req_args *a, const char *who,
    struct ra_request *r)
{
	r->via_ra = a->via_ra;
	r->on_behalf = a->on_behalf;
	r->account_disabled = a->disabled;
	if (a->requester != NULL) {
		/* the enrolment site authenticated this directory user */
		r->requester = a->requester;
		r->requester_mail = a->requester_mail != NULL ?
		    a->requester_mail : a->email;
		r->authenticated = 1;
	} else {
		r->requester = who;
		r->requester_mail = a->requester_mail;
		r->authenticated = 0;
	}
}

static int
req_submit(struct cli *c, struct req_args *a)
{
	struct ra_request	 r;
	struct err		 e;
	char			 role[32], *gcopy = NULL;
	const char		**gv = NULL;
	uint8_t			*buf = NULL;
	size_t			 len, ng = 0;
	int64_t			 id;
	int			 rc = 1;

	if (a->csr == NULL || a->email == NULL || a->profile == NULL)
		return cli_usage("request submit --csr F --email E --profile P "
		    "[--name N] [--days N] [--on-behalf]");
	if ((a->via_ra || a->groups) && a->requester == NULL)
		return cli_fail("--via-ra and --groups describe a directory "
		    "user: give --requester UID");
	if (cli_operator(c, a->op, a->pwfile, role) != 0)
		return 1;
	if (!operator_may(role, OPERATOR_SUBMIT))
		return cli_fail("operator %s (%s) may not submit requests",
		    c->actor + 9, role);
	if ((a->via_ra || a->requester) && !operator_may(role, OPERATOR_AS_RA))
		return cli_fail("only an admin may enter a request as the "
		    "enrolment site (--via-ra, --requester)");
	if (cli_read_file(a->csr, CSR_MAX_SIZE, &buf, &len, &e) != 0)
		return cli_fail("%s", e.msg);
	if (a->groups != NULL && ((gcopy = strdup(a->groups)) == NULL ||
	    (gv = split_groups(gcopy, &ng)) == NULL)) {
		cli_fail("out of memory");
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.source = a->via_ra ? "csr" : "cli";
	identity(c, a, c->actor + 9, &r);
	r.groups = gv;
	r.ngroups = ng;
	r.email = a->email;
	r.display_name = a->name;
	r.profile = a->profile;
	r.days = a->days;
	r.csr = buf;
	r.csr_len = len;
	if (ra_submit(c->st, c->actor, &r, &id, &e) != 0) {
		cli_fail("%s: %s", a->csr, e.msg);
		goto out;
	}
	printf("%" PRId64 "\n", id);
	rc = 0;
out:
	free(gv);
	free(gcopy);
	free(buf);
	return rc;
}

static void
fmt_time(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	strftime(buf, len, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
}

static int
req_list(struct cli *c, struct req_args *a)
{
	struct store_req_set	 set;
	struct err		 e;
	char			 role[32], when[32];
	size_t			 i;

	if (a->state != NULL && strcmp(a->state, "submitted") &&
	    strcmp(a->state, "pending") && strcmp(a->state, "approved") &&
	    strcmp(a->state, "issued") && strcmp(a->state, "denied"))
		return cli_fail("--state: submitted, pending, approved, "
		    "issued or denied");
	if (cli_operator(c, a->op, a->pwfile, role) != 0)
		return 1;
	if (!operator_may(role, OPERATOR_READ))
		return cli_fail("operator %s (%s) may not read requests",
		    c->actor + 9, role);
	if (store_req_list(c->st, a->state, 100000, &set, &e) != 0)
		return cli_fail("%s", e.msg);
	for (i = 0; i < set.n; i++) {
		fmt_time(set.rows[i].submitted_at, when, sizeof(when));
		printf("%-8" PRId64 " %-9s %-10s %-32s %s\n", set.rows[i].id,
		    set.rows[i].state, set.rows[i].profile, set.rows[i].email,
		    when);
	}
	store_req_set_free(&set);
	return 0;
}

static int
parse_id(const char *s, int64_t *id)
{
	char	*end;

	*id = strtoll(s, &end, 10);
	return *s == '\0' || *end != '\0' || *id <= 0 ? -1 : 0;
}

static int
req_show(struct cli *c, struct req_args *a, const char *ids)
{
	struct store_req_set	 set;
	const struct req_row	*r;
	struct err		 e;
	char			 role[32], when[32];
	int64_t			 id;
	size_t			 i;

	if (parse_id(ids, &id) != 0)
		return cli_fail("%s: not a request id", ids);
	if (cli_operator(c, a->op, a->pwfile, role) != 0)
		return 1;
	if (!operator_may(role, OPERATOR_READ))
		return cli_fail("operator %s (%s) may not read requests",
		    c->actor + 9, role);
	if (store_req_get(c->st, id, &set, &e) != 0)
		return cli_fail("%s", e.msg);
	if (set.n == 0) {
		store_req_set_free(&set);
		return cli_fail("no request %" PRId64, id);
	}
	r = &set.rows[0];
	printf("request: %" PRId64 "\n", r->id);
	printf("state: %s\n", r->state);
	printf("email: %s\n", r->email);
	if (r->display_name != NULL)
		printf("name: %s\n", r->display_name);
	printf("profile: %s\n", r->profile);
	if (r->days)
		printf("days: %u\n", r->days);
	printf("requester: %s%s\n", r->requester,
	    r->on_behalf ? " (on behalf)" : "");
	printf("source: %s%s\n", r->source, r->via_ra ? " via RA" : "");
	if (r->ngroups) {
		printf("groups:");
		for (i = 0; i < r->ngroups; i++)
			printf("%s%s", i ? "," : " ", r->groups[i]);
		printf("\n");
	}
	if (r->batch_id)
		printf("batch: %" PRId64 "\n", r->batch_id);
	fmt_time(r->submitted_at, when, sizeof(when));
	printf("submitted: %s\n", when);
	if (r->decided_by != NULL) {
		fmt_time(r->decided_at, when, sizeof(when));
		printf("decided by: %s at %s\n", r->decided_by, when);
	}
	if (r->reason != NULL)
		printf("reason: %s\n", r->reason);
	if (r->serial != NULL)
		printf("serial: %s\n", r->serial);
	if (r->last_error != NULL)
		printf("last error: %s (attempts: %d)\n", r->last_error,
		    r->attempts);
	store_req_set_free(&set);
	return 0;
}

static int
req_decide(struct cli *c, struct req_args *a, const char *ids, int approve)
{
	struct err	 e;
	char		 role[32];
	int64_t		 id;
	size_t		 n;

	if (parse_id(ids, &id) != 0)
		return cli_fail("%s: not a request id", ids);
	if (!approve && (a->reason == NULL || *a->reason == '\0'))
		return cli_usage("request deny ID --reason TEXT");
	if (cli_operator(c, a->op, a->pwfile, role) != 0)
		return 1;
	if (!operator_may(role, OPERATOR_DECIDE))
		return cli_fail("operator %s (%s) may not %s requests",
		    c->actor + 9, role, approve ? "approve" : "deny");
	if (request_officer_decide(c->st, c->actor + 9, id, approve,
	    a->reason, &n, &e) != 0)
		return cli_fail("%s", e.msg);
	if (n == 0)
		return cli_fail("request %" PRId64 " is not pending; nothing "
		    "changed", id);
	printf("%s request %" PRId64 "%s\n", approve ? "approved" : "denied",
	    id, n > 1 ? " and the rest of its pair" : "");
	return 0;
}

int
cmd_request(struct cli *c, int argc, char **argv)
{
	struct req_args	a;
	const char	*sub;
	int		ac = argc - 1;
	char		**av = argv + 1;

	if (argc < 2)
		return cli_usage(request_usage);
	sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		printf("usage: signet [--home DIR] %s\n", request_usage);
		return 0;
	}
	if (cli_no_password_arg(argc, argv) != 0)
		return EXIT_USAGE;
	if (parse_args(ac, av, &a) != 0)
		return cli_usage(request_usage);
	if (!strcmp(sub, "submit") && optind == ac)
		return req_submit(c, &a);
	if (!strcmp(sub, "list") && optind == ac)
		return req_list(c, &a);
	if (!strcmp(sub, "show") && optind + 1 == ac)
		return req_show(c, &a, av[optind]);
	if (!strcmp(sub, "approve") && optind + 1 == ac)
		return req_decide(c, &a, av[optind], 1);
	if (!strcmp(sub, "deny") && optind + 1 == ac)
		return req_decide(c, &a, av[optind], 0);
	return cli_usage(request_usage);
}

static const char policy_usage[] =
"policy check --csr F --email E --profile P [--days N] [--name N]\n"
"       [--requester UID [--requester-mail M]] [--groups a,b] [--via-ra]\n"
"       [--on-behalf] [--disabled]\n"
"\n"
"Prints what the configured policy module would decide for this CSR and\n"
"identity, reading the certificate store but storing nothing. --requester\n"
"stands for a directory user authenticated by the enrolment site (their\n"
"directory mail is --requester-mail, else the --email); --via-ra as if it\n"
"came through the enrolment site.";

int
cmd_policy(struct cli *c, int argc, char **argv)
{
	struct req_args		 a;
	struct ra_request	 ra;
	struct req_row		 row;
	struct policy_decision	 d;
	struct policy		*pol = NULL;
	struct request_engine	*re = NULL;
	struct err		 e;
	char			*path = NULL, *gcopy = NULL, kt[32];
	const char		**gv = NULL;
	uint8_t			*buf = NULL;
	size_t			 len, ng = 0;
	int			 rc = 1;

	if (argc < 2 || strcmp(argv[1], "check") != 0)
		return cli_usage(policy_usage);
	if (parse_args(argc - 1, argv + 1, &a) != 0 || optind != argc - 1 ||
	    a.csr == NULL || a.email == NULL || a.profile == NULL)
		return cli_usage(policy_usage);
	if (cli_store(c) != 0)
		return 1;
	if (cli_read_file(a.csr, CSR_MAX_SIZE, &buf, &len, &e) != 0)
		return cli_fail("%s", e.msg);
	if (a.groups != NULL && ((gcopy = strdup(a.groups)) == NULL ||
	    (gv = split_groups(gcopy, &ng)) == NULL)) {
		cli_fail("out of memory");
		goto out;
	}
	if (serve_policy_path(c->cfg, &path, &e) != 0 ||
	    (pol = policy_load(path, c->cfg->path, "policy", &e)) == NULL ||
	    (re = request_engine_new(c->cfg, NULL, pol, c->st, NULL, NULL,
	    &e)) == NULL) {
		cli_fail("%s", e.msg);
		goto out;
	}
	memset(&ra, 0, sizeof(ra));
	identity(c, &a, c->actor, &ra);
	memset(&row, 0, sizeof(row));
	row.source = a.via_ra ? "csr" : "cli";
	row.via_ra = ra.via_ra;
	row.requester = ra.requester;
	row.requester_mail = ra.requester_mail;
	row.authenticated = ra.authenticated;
	row.account_disabled = ra.account_disabled;
	row.on_behalf = ra.on_behalf;
	row.groups = gv;
	row.ngroups = ng;
	row.email = a.email;
	row.display_name = a.name;
	row.profile = a.profile;
	row.days = a.days;
	row.csr = buf;
	row.csr_len = len;
	if (request_check(re, &row, &d, kt, &e) != 0) {
		cli_fail("%s: %s", a.csr, e.msg);
		goto out;
	}
	printf("%s: %s\n", policy_verdict_name(d.verdict), d.reason);
	printf("policy: %s\nkey: %s\nprofile: %s\ndays: %u\n",
	    policy_name(pol), kt, d.profile, d.days);
	if (d.subject_cn[0] != '\0')
		printf("subject CN: %s\n", d.subject_cn);
	rc = 0;
out:
	request_engine_free(re);
	policy_free(pol);
	free(path);
	free(gv);
	free(gcopy);
	free(buf);
	return rc;
}
