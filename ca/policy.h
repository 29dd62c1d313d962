/*
 * policy: the core side of the policy module ABI (policy/policy.h).
 *
 * Loads a module with dlopen(), checks its ABI version, hands it its
 * configuration section, and re-checks every decision against the CA
 * configuration, so that a module can narrow what the CA allows but never
 * widen it (DESIGN.md, Requests).
 */
#ifndef SIGNET_POLICY_H
#define SIGNET_POLICY_H

#include "../policy/policy.h"
#include "err.h"

struct policy;

/* What the CA configuration ([profile] in signet.conf) allows. */
struct policy_limits {
	const char	*domains;	/* comma-separated mail domains */
	unsigned	 default_days;	/* used when a request names no validity */
	unsigned	 max_days;	/* at most 825 (S/MIME BR 6.3.2) */
	const char	*profiles;	/* comma-separated; NULL = signing,encryption,dual */
};

/*
 * Loads the module so_path and initialises it with the keys of section
 * (NULL = "policy") of the INI file conf_path (NULL = no configuration).
 * In [policy] the key "module" is the core's and is not passed on.
 * Refuses a file that does not load, that exports no signet_policy_module,
 * whose ABI version is not POLICY_ABI_VERSION, or whose init refuses its
 * configuration; each with a message naming the file.
 */
struct policy	*policy_load(const char *so_path, const char *conf_path,
		    const char *section, struct err *e);
void		 policy_free(struct policy *);

/* The module's name ("exchange"), for logs. */
const char	*policy_name(const struct policy *);

/*
 * Asks the module about req and re-checks its answer against lim. On
 * return *out holds the final decision: an ISSUE that exceeds lim (days,
 * mailbox domain, profile, subject) has become a DENY whose reason says the
 * CA configuration overrode the module; profile and days are always filled
 * in (days 0 becomes lim->default_days). Returns -1 only when the module
 * could not decide (e names it); the request should then stay as it was.
 */
int		 policy_decide(struct policy *p, const struct policy_limits *lim,
		    const struct policy_request *req,
		    struct policy_decision *out, struct err *e);

/* 1 when the domain of email (after its last '@') is exactly one of the
 * comma-separated domains, ignoring case (RFC 5321 2.4: domains are
 * case-insensitive); else 0. */
int		 policy_domain_allowed(const char *email, const char *domains);

/* "ISSUE", "PEND" or "DENY". */
const char	*policy_verdict_name(enum policy_verdict);

#endif
