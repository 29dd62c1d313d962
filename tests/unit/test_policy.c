/*
 * test_policy: the policy module ABI, the loader, and the exchange and
 * manual modules, driven through policy_load() of the real shared objects
 * (bin/policy/<name>.so, or $POLICY_DIR; test modules from build/rel/testmod
 * or $TESTMOD_DIR). Run from the repository root.
 *
 * The table below is the exchange policy's specification: each row is a
 * configuration, a request, the verdict and the words a person would read.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ini.h>

#include "policy.h"

/* Requests are written as a base plus the fields a case changes. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic ignored "-Woverride-init"
#endif

static char		 tmpdir[] = "/tmp/signet-policy-XXXXXX";
static const char	*policy_dir;
static const char	*testmod_dir;

/* The configurations the table refers to, by name. */
enum conf {
	CONF_DEFAULT,	/* exchange with every default */
	CONF_GROUPS,	/* auto_issue_groups */
	CONF_STRICT,	/* [strict] section of the same file as DEFAULT */
	CONF_DUAL,	/* require_dual = yes (key recovery on) */
	CONF_NOLIMIT,	/* max_valid_per_mailbox = 0 */
	CONF_COUNT
};

static const char *const conf_text =
    "; a signet.conf as an operator writes it\n"
    "[ca]\n"
    "name = Test CA\n"
    "[policy]\n"
    "module = exchange\n"
    "\n"
    "[strict]\n"
    "allowed_domains = example.com, corp.example\n"
    "key_types.signing = ecdsa-p256,ecdsa-p384\n"
    "key_types.encryption = rsa-3072, rsa-4096\n"
    "max_days = 90\n"
    "max_valid_per_mailbox = 1\n"
    "over_limit = deny\n"
    "allow_on_behalf = no\n"
    "subject_cn = mailbox\n";

static const char *const conf_extra[CONF_COUNT] = {
	[CONF_GROUPS] = "[policy]\nmodule = exchange\n"
	    "auto_issue_groups = smime-users, Staff\n",
	[CONF_DUAL] = "[policy]\nmodule = exchange\nrequire_dual = yes\n",
	[CONF_NOLIMIT] = "[policy]\nmodule = exchange\n"
	    "max_valid_per_mailbox = 0\n",
};

static struct policy	*loaded[CONF_COUNT];

static const char *const alice_groups[] = { "staff", "smime-users" };
static const char *const carol_groups[] = { "contractors" };

/* A conforming request: alice, authenticated, through the enrollment
 * site, for her own mailbox, with an acceptable key. Rows override it. */
#define ALICE \
	.requester = "alice", .requester_mail = "alice@example.com", \
	.email = "alice@example.com", .display_name = "Alice Example", \
	.groups = alice_groups, .ngroups = 2, .authenticated = 1, \
	.via_ra = 1, .profile = "signing", .key_type = "ecdsa-p256", \
	.key_bits = 256

/* An officer submitting for bob. */
#define OFFICER_FOR_BOB \
	.requester = "officer1", .requester_mail = "officer1@example.com", \
	.email = "bob@example.com", .display_name = "Bob Example", \
	.groups = alice_groups, .ngroups = 2, .authenticated = 1, \
	.on_behalf = 1, .profile = "signing", .key_type = "ecdsa-p256", \
	.key_bits = 256

static const struct policy_limits lim_default = {
	.domains = "example.com, corp.example,other.org",
	.default_days = 365,
	.max_days = 825,
};

static const struct policy_limits lim_short = {
	.domains = "example.com",
	.default_days = 100,
	.max_days = 200,
};

struct policy_case {
	const char			*name;
	enum conf			 conf;
	const struct policy_limits	*lim;	/* NULL: lim_default */
	struct policy_request		 req;
	enum policy_verdict		 want;
	const char			*reason; /* a substring of it */
	unsigned			 days;	/* 0: not checked */
	const char			*cn;	/* NULL: not checked */
};

static const struct policy_case cases[] = {
	/* through the RA, authenticated, conforming: issued at once */
	{ "conforming_signing_request_via_ra_issues_at_once", CONF_DEFAULT,
	    NULL, { ALICE }, POLICY_ISSUE, "issued automatically: "
	    "authenticated directory user via the enrollment site", 365, "" },
	{ "conforming_encryption_request_issues", CONF_DEFAULT, NULL,
	    { ALICE, .profile = "encryption", .key_type = "rsa-3072",
	    .key_bits = 3072 }, POLICY_ISSUE, "issued automatically", 365,
	    NULL },
	{ "conforming_dual_use_request_issues", CONF_DEFAULT, NULL,
	    { ALICE, .profile = "dual", .key_type = "ecdsa-p384" },
	    POLICY_ISSUE, "issued automatically", 0, NULL },
	{ "mailbox_matches_directory_mail_ignoring_case", CONF_DEFAULT, NULL,
	    { ALICE, .email = "Alice@EXAMPLE.com" }, POLICY_ISSUE,
	    "issued automatically", 0, NULL },
	/* validity */
	{ "requested_validity_within_max_is_kept", CONF_DEFAULT, NULL,
	    { ALICE, .days = 200 }, POLICY_ISSUE, "issued automatically: ",
	    200, NULL },
	{ "validity_above_max_days_is_narrowed_and_said", CONF_DEFAULT, NULL,
	    { ALICE, .days = 400 }, POLICY_ISSUE, "issued automatically for "
	    "365 days instead of the 400 requested", 365, NULL },
	{ "validity_narrowed_to_the_cas_max_when_lower", CONF_DEFAULT,
	    &lim_short, { ALICE, .days = 300 }, POLICY_ISSUE,
	    "for 200 days instead of the 300 requested", 200, NULL },
	{ "no_validity_requested_gets_the_cas_default", CONF_DEFAULT,
	    &lim_short, { ALICE }, POLICY_ISSUE, "issued automatically: ",
	    100, NULL },
	{ "default_validity_above_policy_max_is_narrowed", CONF_STRICT, NULL,
	    { ALICE }, POLICY_ISSUE, "issued automatically for 90 days (the "
	    "longest allowed)", 90, NULL },
	/* the registration authority */
	{ "request_not_through_the_ra_pends", CONF_DEFAULT, NULL,
	    { ALICE, .via_ra = 0 }, POLICY_PEND, "did not come through the "
	    "enrollment site, so a PKI officer reviews it", 0, NULL },
	/* identity */
	{ "disabled_account_is_denied", CONF_DEFAULT, NULL,
	    { ALICE, .account_disabled = 1 }, POLICY_DENY,
	    "the directory account alice is disabled", 0, NULL },
	{ "unauthenticated_identity_is_denied", CONF_DEFAULT, NULL,
	    { ALICE, .authenticated = 0 }, POLICY_DENY, "identity was not "
	    "authenticated against the directory", 0, NULL },
	{ "disabled_account_is_denied_even_off_the_ra", CONF_DEFAULT, NULL,
	    { ALICE, .via_ra = 0, .account_disabled = 1 }, POLICY_DENY,
	    "is disabled", 0, NULL },
	/* mail domains */
	{ "mailbox_outside_policy_domains_is_denied", CONF_DEFAULT, NULL,
	    { ALICE, .requester_mail = "alice@other.org",
	    .email = "alice@other.org" }, POLICY_DENY, "the mailbox "
	    "alice@other.org is outside the allowed mail domains "
	    "(example.com)", 0, NULL },
	{ "subdomain_is_not_an_allowed_domain", CONF_DEFAULT, NULL,
	    { ALICE, .requester_mail = "alice@mail.example.com",
	    .email = "alice@mail.example.com" }, POLICY_DENY,
	    "outside the allowed mail domains", 0, NULL },
	{ "second_configured_domain_is_allowed", CONF_STRICT, NULL,
	    { ALICE, .requester_mail = "alice@corp.example",
	    .email = "alice@corp.example" }, POLICY_ISSUE,
	    "issued automatically", 90, "alice@corp.example" },
	{ "domain_outside_a_configured_list_is_denied", CONF_STRICT, NULL,
	    { ALICE, .requester_mail = "alice@other.org",
	    .email = "alice@other.org" }, POLICY_DENY,
	    "outside the allowed mail domains (example.com, corp.example)",
	    0, NULL },
	/* own mailbox */
	{ "someone_elses_mailbox_is_denied", CONF_DEFAULT, NULL,
	    { ALICE, .email = "bob@example.com" }, POLICY_DENY, "the mailbox "
	    "bob@example.com is not alice's own directory mail "
	    "(alice@example.com)", 0, NULL },
	{ "requester_without_directory_mail_is_denied", CONF_DEFAULT, NULL,
	    { ALICE, .requester_mail = NULL }, POLICY_DENY,
	    "alice has no mail address in the directory", 0, NULL },
	{ "officer_on_behalf_off_the_ra_pends", CONF_DEFAULT, NULL,
	    { OFFICER_FOR_BOB }, POLICY_PEND, "did not come through the "
	    "enrollment site", 0, NULL },
	{ "officer_on_behalf_via_the_ra_issues", CONF_DEFAULT, NULL,
	    { OFFICER_FOR_BOB, .via_ra = 1, .authenticated = 0 },
	    POLICY_ISSUE, "submitted by officer1 on behalf of "
	    "bob@example.com", 365, NULL },
	{ "on_behalf_is_denied_when_not_allowed", CONF_STRICT, NULL,
	    { OFFICER_FOR_BOB, .via_ra = 1 }, POLICY_DENY, "does not accept "
	    "requests made on someone else's behalf", 0, NULL },
	/* key types per profile */
	{ "key_type_not_listed_is_denied", CONF_DEFAULT, NULL,
	    { ALICE, .key_type = "rsa-8192", .key_bits = 8192 }, POLICY_DENY,
	    "rsa-8192 keys are not allowed for signing certificates "
	    "(allowed: rsa-2048,rsa-3072,rsa-4096,ecdsa-p256,ecdsa-p384,"
	    "ecdsa-p521)", 0, NULL },
	{ "rsa_key_refused_for_ecdsa_only_signing", CONF_STRICT, NULL,
	    { ALICE, .key_type = "rsa-3072", .key_bits = 3072 }, POLICY_DENY,
	    "rsa-3072 keys are not allowed for signing certificates (allowed: "
	    "ecdsa-p256,ecdsa-p384)", 0, NULL },
	{ "rsa_key_allowed_for_rsa_only_encryption", CONF_STRICT, NULL,
	    { ALICE, .profile = "encryption", .key_type = "rsa-4096",
	    .key_bits = 4096 }, POLICY_ISSUE, "issued automatically", 90,
	    NULL },
	{ "ec_key_refused_for_rsa_only_encryption", CONF_STRICT, NULL,
	    { ALICE, .profile = "encryption" }, POLICY_DENY,
	    "ecdsa-p256 keys are not allowed for encryption certificates",
	    0, NULL },
	{ "unknown_profile_is_denied", CONF_DEFAULT, NULL,
	    { ALICE, .profile = "codesigning" }, POLICY_DENY,
	    "the profile \"codesigning\" is unknown", 0, NULL },
	/* key reuse */
	{ "already_certified_key_is_denied", CONF_DEFAULT, NULL,
	    { ALICE, .key_already_certified = 1 }, POLICY_DENY,
	    "this public key is already in a certificate", 0, NULL },
	{ "already_certified_key_is_denied_on_behalf_too", CONF_DEFAULT,
	    NULL, { OFFICER_FOR_BOB, .key_already_certified = 1 },
	    POLICY_DENY, "already in a certificate", 0, NULL },
	/* valid certificates per mailbox */
	{ "below_the_per_mailbox_limit_issues", CONF_DEFAULT, NULL,
	    { ALICE, .valid_certs = 1 }, POLICY_ISSUE, "issued automatically",
	    0, NULL },
	{ "at_the_per_mailbox_limit_pends_by_default", CONF_DEFAULT, NULL,
	    { ALICE, .valid_certs = 2 }, POLICY_PEND, "the mailbox "
	    "alice@example.com already has 2 valid signing certificates "
	    "(this policy's limit is 2), so a PKI officer reviews it", 0,
	    NULL },
	{ "over_the_per_mailbox_limit_denies_when_configured", CONF_STRICT,
	    NULL, { ALICE, .valid_certs = 1 }, POLICY_DENY, "already has 1 "
	    "valid signing certificate, the most this policy allows", 0,
	    NULL },
	{ "no_per_mailbox_limit_when_zero", CONF_NOLIMIT, NULL,
	    { ALICE, .valid_certs = 50 }, POLICY_ISSUE,
	    "issued automatically", 0, NULL },
	/* auto-issue groups */
	{ "member_of_an_auto_issue_group_issues", CONF_GROUPS, NULL,
	    { ALICE }, POLICY_ISSUE, "issued automatically", 0, NULL },
	{ "group_names_match_ignoring_case", CONF_GROUPS, NULL,
	    { ALICE, .groups = alice_groups, .ngroups = 1 }, POLICY_ISSUE,
	    "issued automatically", 0, NULL },
	{ "non_member_of_auto_issue_groups_pends", CONF_GROUPS, NULL,
	    { ALICE, .requester = "carol", .requester_mail =
	    "carol@example.com", .email = "carol@example.com",
	    .groups = carol_groups, .ngroups = 1 }, POLICY_PEND, "carol is "
	    "not in a group whose requests are issued automatically "
	    "(smime-users, Staff), so a PKI officer reviews it", 0, NULL },
	{ "user_in_no_group_pends", CONF_GROUPS, NULL,
	    { ALICE, .groups = NULL, .ngroups = 0 }, POLICY_PEND,
	    "alice is not in a group", 0, NULL },
	{ "empty_group_list_auto_issues_everyone", CONF_DEFAULT, NULL,
	    { ALICE, .groups = carol_groups, .ngroups = 1 }, POLICY_ISSUE,
	    "issued automatically", 0, NULL },
	/* key recovery: pairs required */
	{ "half_of_a_pair_issues_when_dual_required", CONF_DUAL, NULL,
	    { ALICE, .kra = 1 }, POLICY_ISSUE, "issued automatically", 0,
	    NULL },
	{ "lone_request_pends_when_dual_required", CONF_DUAL, NULL,
	    { ALICE, .profile = "encryption", .key_type = "rsa-3072" },
	    POLICY_PEND, "certificates are issued in signing and encryption "
	    "pairs; a lone encryption request is reviewed by a PKI officer",
	    0, NULL },
	{ "dual_use_certificate_denied_when_dual_required", CONF_DUAL, NULL,
	    { ALICE, .profile = "dual", .kra = 1 }, POLICY_DENY, "one "
	    "certificate may not serve both signing and encryption", 0, NULL },
	{ "lone_request_issues_when_dual_not_required", CONF_DEFAULT, NULL,
	    { ALICE, .profile = "encryption", .key_type = "rsa-3072",
	    .kra = 0 }, POLICY_ISSUE, "issued automatically", 0, NULL },
	/* subject */
	{ "subject_cn_is_the_mailbox_when_configured", CONF_STRICT, NULL,
	    { ALICE }, POLICY_ISSUE, "issued automatically",
	    90, "alice@example.com" },
};

#define NCASES	(sizeof(cases) / sizeof(cases[0]))

static char *
path_join(const char *dir, const char *name)
{
	char	*p;

	if (asprintf(&p, "%s/%s", dir, name) == -1)
		fail_msg("out of memory");
	return p;
}

static char *
write_conf(const char *name, const char *text)
{
	char	*path = path_join(tmpdir, name);
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		fail_msg("cannot write %s", path);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct policy *
load_exchange(const char *conf, const char *section, struct err *e)
{
	char		*so = path_join(policy_dir, "exchange.so");
	struct policy	*p = policy_load(so, conf, section, e);

	free(so);
	return p;
}

static int
group_setup(void **state)
{
	static const char *const names[CONF_COUNT] = {
		"default.conf", "groups.conf", NULL, "dual.conf",
		"nolimit.conf"
	};
	struct err	 e = { "" };
	char		*main_conf, *path;
	int		 i;

	if ((policy_dir = getenv("POLICY_DIR")) == NULL)
		policy_dir = "bin/policy";
	if ((testmod_dir = getenv("TESTMOD_DIR")) == NULL)
		testmod_dir = "build/rel/testmod";
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	main_conf = write_conf("signet.conf", conf_text);
	for (i = 0; i < CONF_COUNT; i++) {
		if (i == CONF_DEFAULT || i == CONF_STRICT)
			path = strdup(main_conf);
		else
			path = write_conf(names[i], conf_extra[i]);
		loaded[i] = load_exchange(path, i == CONF_STRICT ? "strict" :
		    NULL, &e);
		free(path);
		if (loaded[i] == NULL) {
			fprintf(stderr, "loading exchange (%d): %s\n", i,
			    e.msg);
			free(main_conf);
			return -1;
		}
	}
	free(main_conf);
	return 0;
}

static int
group_teardown(void **state)
{
	char	cmd[128];
	int	i;

	for (i = 0; i < CONF_COUNT; i++)
		policy_free(loaded[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* One row of the table. */
static void
test_exchange_case(void **state)
{
	const struct policy_case	*c = *state;
	const struct policy_limits	*lim = c->lim ? c->lim : &lim_default;
	struct policy_decision		 d;
	struct err			 e = { "" };

	assert_string_equal(policy_name(loaded[c->conf]), "exchange");
	if (policy_decide(loaded[c->conf], lim, &c->req, &d, &e) != 0)
		fail_msg("%s: policy_decide failed: %s", c->name, e.msg);
	if (d.verdict != c->want || strstr(d.reason, c->reason) == NULL)
		fail_msg("%s: wanted %s \"...%s...\", got %s \"%s\"", c->name,
		    policy_verdict_name(c->want), c->reason,
		    policy_verdict_name(d.verdict), d.reason);
	if (c->days != 0)
		assert_int_equal(d.days, c->days);
	if (c->cn != NULL)
		assert_string_equal(d.subject_cn, c->cn);
	/* the core always fills in the shape */
	assert_true(d.days >= 1 && d.days <= lim->max_days);
	assert_string_equal(d.profile, c->req.profile);
}

static void
expect_load_error(const char *so, const char *conf, const char *section,
    const char *want)
{
	struct err	 e = { "" };
	struct policy	*p = policy_load(so, conf, section, &e);

	if (p != NULL) {
		policy_free(p);
		fail_msg("%s with %s loaded; wanted \"%s\"", so,
		    conf ? conf : "no config", want);
	}
	if (strstr(e.msg, want) == NULL)
		fail_msg("wanted \"%s\" in \"%s\"", want, e.msg);
}

static void
test_manual_module_pends_every_request(void **state)
{
	static const struct policy_request reqs[] = {
		{ ALICE },
		{ ALICE, .account_disabled = 1 },
		{ OFFICER_FOR_BOB, .via_ra = 1, .days = 30 },
	};
	struct err		 e = { "" };
	struct policy		*p;
	struct policy_decision	 d;
	char			*so = path_join(policy_dir, "manual.so");
	char			*conf = path_join(tmpdir, "signet.conf");
	size_t			 i;

	/* [policy] module = exchange is the core's key: manual, which
	 * refuses every setting, does not see it */
	p = policy_load(so, conf, NULL, &e);
	if (p == NULL)
		fail_msg("%s", e.msg);
	assert_string_equal(policy_name(p), "manual");
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		assert_int_equal(policy_decide(p, &lim_default, &reqs[i], &d,
		    &e), 0);
		assert_int_equal(d.verdict, POLICY_PEND);
		assert_string_equal(d.reason, "every request is reviewed by "
		    "an officer (manual policy)");
		assert_string_equal(d.profile, "signing");
	}
	assert_int_equal(d.days, 30);
	policy_free(p);
	free(so);
	free(conf);
}

static void
test_manual_module_refuses_settings(void **state)
{
	char	*so = path_join(policy_dir, "manual.so");
	char	*conf = path_join(tmpdir, "groups.conf");

	expect_load_error(so, conf, NULL, "policy module manual refused its "
	    "configuration [policy] in ");
	expect_load_error(so, conf, NULL, "auto_issue_groups: the manual "
	    "policy has no settings");
	free(so);
	free(conf);
}

static void
test_wrong_abi_module_is_refused_at_load(void **state)
{
	char	*so = path_join(testmod_dir, "badabi.so");
	char	 want[512];

	snprintf(want, sizeof(want), "policy module %s has ABI version 99; "
	    "this signet needs %d", so, POLICY_ABI_VERSION);
	expect_load_error(so, NULL, NULL, want);
	free(so);
}

static void
test_missing_module_is_refused_at_load(void **state)
{
	char	*so = path_join(tmpdir, "nothing.so");
	char	 want[512];

	snprintf(want, sizeof(want), "cannot load policy module %s: ", so);
	expect_load_error(so, NULL, NULL, want);
	expect_load_error(so, NULL, NULL, "No such file or directory");
	free(so);
}

static void
test_library_without_the_symbol_is_refused(void **state)
{
	Dl_info	info;
	char	want[512];

	/* libinih is a real shared library that is no policy module */
	if (dladdr((void *)(uintptr_t)ini_parse, &info) == 0 ||
	    info.dli_fname == NULL || strchr(info.dli_fname, '/') == NULL)
		skip();
	snprintf(want, sizeof(want), "%s is not a Signet policy module: it "
	    "exports no signet_policy_module", info.dli_fname);
	expect_load_error(info.dli_fname, NULL, NULL, want);
}

static void
test_exchange_refuses_bad_configuration(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "[policy]\nmax_day = 30\n",
		    "max_day = 30: is not a setting of the exchange policy" },
		{ "[policy]\nmax_days = 900\n",
		    "max_days = 900: must be a number of days from 1 to 825" },
		{ "[policy]\nmax_days = -5\n", "must be a number of days" },
		{ "[policy]\nkey_types.signing = rsa-1024\n",
		    "key_types.signing = rsa-1024: must list key types" },
		{ "[policy]\nkey_types.dual = ecdsa-p224\n",
		    "must list key types" },
		{ "[policy]\nallowed_domains =\n",
		    "must name at least one mail domain" },
		{ "[policy]\nallowed_domains = a@example.com\n",
		    "must be a comma-separated list of domain names" },
		{ "[policy]\nover_limit = maybe\n", "must be deny or pend" },
		{ "[policy]\nrequire_dual = sometimes\n",
		    "require_dual = sometimes: must be yes or no" },
		{ "[policy]\nmax_days = 30\nmax_days = 60\n",
		    "line 3: [policy] max_days is set twice" },
		{ "[policy]\nthis line is no setting\n",
		    "line 2: not a [section] or a key = value line" },
	};
	char	*so = path_join(policy_dir, "exchange.so");
	char	*conf;
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		conf = write_conf("bad.conf", bad[i].text);
		expect_load_error(so, conf, NULL, bad[i].want);
		free(conf);
	}
	conf = path_join(tmpdir, "absent.conf");
	expect_load_error(so, conf, NULL, "cannot read");
	free(conf);
	free(so);
}

static struct policy *
load_widen(const char *text)
{
	struct err	 e = { "" };
	struct policy	*p;
	char		*so = path_join(testmod_dir, "widen.so");
	char		*conf = write_conf("widen.conf", text);

	p = policy_load(so, conf, NULL, &e);
	if (p == NULL)
		fail_msg("%s", e.msg);
	free(so);
	free(conf);
	return p;
}

static void
expect_override(struct policy *p, const struct policy_limits *lim,
    const struct policy_request *req, const char *want)
{
	struct policy_decision	d;
	struct err		e = { "" };

	assert_int_equal(policy_decide(p, lim, req, &d, &e), 0);
	if (d.verdict != POLICY_DENY || strstr(d.reason, want) == NULL)
		fail_msg("wanted DENY \"...%s...\", got %s \"%s\"", want,
		    policy_verdict_name(d.verdict), d.reason);
	assert_non_null(strstr(d.reason, "the CA configuration overrides "
	    "the widen policy module: "));
}

static void
test_core_overrides_a_module_that_widens(void **state)
{
	static const struct policy_request alice = { ALICE };
	static const struct policy_request mallory = { ALICE,
	    .requester_mail = "mallory@evil.example",
	    .email = "mallory@evil.example" };
	static const struct policy_request dual = { ALICE, .profile = "dual" };
	static const struct policy_limits no_dual = {
		.domains = "example.com", .default_days = 365,
		.max_days = 825, .profiles = "signing, encryption",
	};
	struct policy	*p;

	p = load_widen("[policy]\nmodule = widen\n");
	expect_override(p, &lim_default, &alice, "it would issue for 3650 "
	    "days, but the CA allows at most 825 days");
	expect_override(p, &lim_short, &alice, "it would issue for 3650 "
	    "days, but the CA allows at most 200 days");
	expect_override(p, &lim_default, &mallory, "the mailbox "
	    "mallory@evil.example is outside the CA's mail domains");
	policy_free(p);

	p = load_widen("[policy]\nwiden_profile = yes\n");
	expect_override(p, &lim_default, &alice, "it would issue a dual "
	    "certificate for a signing request");
	expect_override(p, &no_dual, &dual, "dual certificates are not "
	    "allowed by the CA configuration");
	policy_free(p);

	p = load_widen("[policy]\nforeign_cn = yes\n");
	expect_override(p, &lim_default, &alice, "the subject name it chose "
	    "is neither the directory display name nor the mailbox");
	policy_free(p);
}

static void
test_core_keeps_a_module_that_narrows(void **state)
{
	static const struct policy_request alice = { ALICE, .days = 30 };
	struct policy_decision	 d;
	struct err		 e = { "" };

	/* exchange narrows dual-use requests nowhere, but a shorter
	 * validity than the CA allows is its right */
	assert_int_equal(policy_decide(loaded[CONF_STRICT], &lim_default,
	    &alice, &d, &e), 0);
	assert_int_equal(d.verdict, POLICY_ISSUE);
	assert_int_equal(d.days, 30);
	assert_string_equal(d.subject_cn, "alice@example.com");
}

static void
test_domain_allowed_is_exact_and_ignores_case(void **state)
{
	const char *list = "example.com, Corp.Example ,other.org";

	assert_true(policy_domain_allowed("a@example.com", list));
	assert_true(policy_domain_allowed("a@EXAMPLE.COM", list));
	assert_true(policy_domain_allowed("a@corp.example", list));
	assert_true(policy_domain_allowed("a@other.org", list));
	assert_false(policy_domain_allowed("a@sub.example.com", list));
	assert_false(policy_domain_allowed("a@example.com.evil", list));
	assert_false(policy_domain_allowed("a@ample.com", list));
	assert_false(policy_domain_allowed("a@example.co", list));
	assert_false(policy_domain_allowed("example.com", list));
	assert_false(policy_domain_allowed("@example.com", list));
	assert_false(policy_domain_allowed("a@", list));
	assert_false(policy_domain_allowed("a@evil.example@x", list));
	assert_true(policy_domain_allowed("\"a@b\"@example.com", list));
	assert_false(policy_domain_allowed("a@example.com", ""));
	assert_false(policy_domain_allowed("a@example.com", NULL));
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_manual_module_pends_every_request),
		cmocka_unit_test(test_manual_module_refuses_settings),
		cmocka_unit_test(test_wrong_abi_module_is_refused_at_load),
		cmocka_unit_test(test_missing_module_is_refused_at_load),
		cmocka_unit_test(test_library_without_the_symbol_is_refused),
		cmocka_unit_test(test_exchange_refuses_bad_configuration),
		cmocka_unit_test(test_core_overrides_a_module_that_widens),
		cmocka_unit_test(test_core_keeps_a_module_that_narrows),
		cmocka_unit_test(test_domain_allowed_is_exact_and_ignores_case),
	};
	struct CMUnitTest	tests[NCASES + sizeof(fixed) / sizeof(fixed[0])];
	size_t			i, n = 0;

	for (i = 0; i < NCASES; i++) {
		tests[n] = (struct CMUnitTest){ cases[i].name,
		    test_exchange_case, NULL, NULL, (void *)&cases[i] };
		n++;
	}
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		tests[n++] = fixed[i];
	return _cmocka_run_group_tests("policy", tests, n, group_setup,
	    group_teardown);
}
