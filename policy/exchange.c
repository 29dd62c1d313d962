/*
 * exchange: Signet's default policy module, modelled on the Exchange Policy
 * module of Windows 2000 Certificate Services.
 *
 * A request that arrives through the trusted registration authority (the
 * enrollment site, identified by its RA credential) for an identity
 * authenticated against the directory is issued at once when it conforms;
 * anything else that is not plainly wrong pends for a PKI officer; what no
 * officer may approve is denied with the reason.
 *
 * Configuration: the [policy] section of signet.conf (the key "module" is
 * the core's). Unknown keys are refused, so a typo cannot loosen the policy.
 *
 *   allowed_domains = example.com
 *	Comma-separated mail domains this policy certifies; the CA's own
 *	[profile] allowed_domains still bounds it.
 *   auto_issue_groups =
 *	Comma-separated directory groups (case-insensitive) whose members'
 *	requests issue automatically. Empty: every authenticated user coming
 *	through the enrollment site. A requester in none of them pends.
 *   key_types.signing = rsa-2048,rsa-3072,rsa-4096,ecdsa-p256,ecdsa-p384,ecdsa-p521
 *   key_types.encryption = (same default)
 *   key_types.dual = (same default)
 *	Key types allowed per profile; any other key is denied. Entries are
 *	rsa-<bits> (bits >= 2048, a multiple of 8; S/MIME BR 6.1.5) or
 *	ecdsa-p256, ecdsa-p384, ecdsa-p521.
 *   max_days = 365
 *	Longest validity this policy issues, 1 to 825 (S/MIME BR 6.3.2).
 *	A longer request is issued for max_days (or the CA's [profile]
 *	max_days when lower), and the reason says so. A request naming no
 *	validity gets the CA's default_days, likewise bounded.
 *   max_valid_per_mailbox = 2
 *	Valid (unexpired, unrevoked) certificates a mailbox may hold per
 *	profile; 0 = no limit.
 *   over_limit = pend
 *	pend: a request over that limit goes to an officer; deny: refused.
 *   require_dual = no
 *	yes when key recovery is on: every employee gets a signing and an
 *	encryption certificate, made as a pair (DESIGN.md, Key recovery).
 *	Then a "dual" (one certificate for both uses) request is denied,
 *	because its key could be neither escrowed (it signs) nor left
 *	unescrowed (it decrypts mail); and a lone signing or encryption
 *	request, not part of a pair, pends for an officer (it is legitimate
 *	to replace one half, but a person should look).
 *   allow_on_behalf = yes
 *	Whether an officer may submit for someone else's mailbox; such a
 *	request skips the own-mailbox rule.
 *   subject_cn = display_name
 *	display_name: CN is the directory display name (the mailbox when
 *	there is none); mailbox: CN is always the mailbox
 *	(S/MIME BR 7.1.4.2.2(a)).
 *
 * Always denied: a mailbox outside allowed_domains; a mailbox that is not
 * the requester's own directory mail (unless an officer submits on
 * someone's behalf); a key type not allowed for the profile; a public key
 * already certified; a disabled account; an identity not authenticated
 * (unless on behalf). Pended: not through the enrollment site; requester
 * not in an auto-issue group; over max_valid_per_mailbox with
 * over_limit = pend; a lone half of a pair with require_dual = yes.
 *
 * This file includes only policy.h and libc: it is a separate ABI, not a
 * part of libsignet.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"

#define EXCHANGE_KEY_TYPES \
	"rsa-2048,rsa-3072,rsa-4096,ecdsa-p256,ecdsa-p384,ecdsa-p521"

enum exchange_profile {
	PROFILE_SIGNING,
	PROFILE_ENCRYPTION,
	PROFILE_DUAL,
	PROFILE_COUNT
};

static const char *const profile_names[PROFILE_COUNT] = {
	"signing", "encryption", "dual"
};

struct exchange {
	char		*allowed_domains;
	char		*auto_issue_groups;
	char		*key_types[PROFILE_COUNT];
	unsigned	 max_days;
	unsigned	 max_valid;
	int		 over_limit_deny;
	int		 require_dual;
	int		 allow_on_behalf;
	int		 cn_mailbox;
};

static void
exchange_free(void *ctx)
{
	struct exchange	*x = ctx;
	int		 i;

	if (x == NULL)
		return;
	free(x->allowed_domains);
	free(x->auto_issue_groups);
	for (i = 0; i < PROFILE_COUNT; i++)
		free(x->key_types[i]);
	free(x);
}

/* Calls fn on each trimmed, non-empty item of a comma-separated list;
 * stops at the first nonzero return and returns it. */
static int
list_each(const char *list, int (*fn)(const char *, size_t, const void *),
    const void *arg)
{
	const char	*s, *next, *end;
	int		 rc;

	for (s = list;; s = next + 1) {
		next = s + strcspn(s, ",");
		end = next;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end > s && (rc = fn(s, (size_t)(end - s), arg)) != 0)
			return rc;
		if (*next == '\0')
			return 0;
	}
}

static int
item_is(const char *item, size_t len, const void *word)
{
	return strlen(word) == len && strncmp(item, word, len) == 0;
}

/* RFC 5321 2.4 (domains) and RFC 4519 2.17 / RFC 4524 (cn and mail match
 * caseIgnore): compared without regard to case. */
static int
item_is_nocase(const char *item, size_t len, const void *word)
{
	return strlen(word) == len && strncasecmp(item, word, len) == 0;
}

static int
list_has(const char *list, const char *word)
{
	return list_each(list, item_is, word) == 1;
}

static int
list_has_nocase(const char *list, const char *word)
{
	return list_each(list, item_is_nocase, word) == 1;
}

/* Returns 1 (stop) for an item that is not a domain name (RFC 1035 2.3.1
 * letters, digits, hyphens and dots). */
static int
item_bad_domain(const char *item, size_t len, const void *arg)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.", item[i]) == NULL)
			return 1;
	return item[0] == '.' || item[len - 1] == '.';
}

/* Returns 1 (stop) for an item that is not a key type Signet certifies
 * (S/MIME BR 6.1.5: RSA of at least 2048 bits, a multiple of 8; P-256,
 * P-384, P-521). */
static int
item_bad_key_type(const char *item, size_t len, const void *arg)
{
	unsigned long	bits = 0;
	size_t		i;

	if (item_is(item, len, "ecdsa-p256") ||
	    item_is(item, len, "ecdsa-p384") ||
	    item_is(item, len, "ecdsa-p521"))
		return 0;
	if (len < 5 || len > 9 || strncmp(item, "rsa-", 4) != 0)
		return 1;
	for (i = 4; i < len; i++) {
		if (item[i] < '0' || item[i] > '9')
			return 1;
		bits = bits * 10 + (unsigned long)(item[i] - '0');
	}
	return item[4] == '0' || bits < 2048 || bits % 8 != 0;
}

static int
list_empty(const char *list)
{
	return list[strspn(list, " \t,")] == '\0';
}

static int
parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long	v;
	char		*end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
parse_bool(const char *s, int *out)
{
	if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") ||
	    !strcasecmp(s, "on") || !strcmp(s, "1"))
		*out = 1;
	else if (!strcasecmp(s, "no") || !strcasecmp(s, "false") ||
	    !strcasecmp(s, "off") || !strcmp(s, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int
set_str(char **dst, const char *val)
{
	char	*s;

	if ((s = strdup(val)) == NULL)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

/* Applies one key; returns NULL, or why the value is refused. */
static const char *
exchange_set(struct exchange *x, const char *key, const char *val)
{
	int	i;

	if (!strcmp(key, "allowed_domains")) {
		if (list_empty(val))
			return "must name at least one mail domain";
		if (list_each(val, item_bad_domain, NULL))
			return "must be a comma-separated list of domain names";
		return set_str(&x->allowed_domains, val) ? "out of memory" :
		    NULL;
	}
	if (!strcmp(key, "auto_issue_groups"))
		return set_str(&x->auto_issue_groups, val) ? "out of memory" :
		    NULL;
	for (i = 0; i < PROFILE_COUNT; i++) {
		if (strncmp(key, "key_types.", 10) != 0 ||
		    strcmp(key + 10, profile_names[i]) != 0)
			continue;
		if (list_empty(val))
			return "must name at least one key type";
		if (list_each(val, item_bad_key_type, NULL))
			return "must list key types from rsa-<bits> (2048 or "
			    "more, a multiple of 8), ecdsa-p256, ecdsa-p384, "
			    "ecdsa-p521";
		return set_str(&x->key_types[i], val) ? "out of memory" :
		    NULL;
	}
	if (!strcmp(key, "max_days"))
		return parse_uint(val, 1, 825, &x->max_days) ?
		    "must be a number of days from 1 to 825 "
		    "(S/MIME BR 6.3.2)" : NULL;
	if (!strcmp(key, "max_valid_per_mailbox"))
		return parse_uint(val, 0, 1000, &x->max_valid) ?
		    "must be a number from 0 (no limit) to 1000" : NULL;
	if (!strcmp(key, "over_limit")) {
		if (!strcmp(val, "deny"))
			x->over_limit_deny = 1;
		else if (!strcmp(val, "pend"))
			x->over_limit_deny = 0;
		else
			return "must be deny or pend";
		return NULL;
	}
	if (!strcmp(key, "require_dual"))
		return parse_bool(val, &x->require_dual) ?
		    "must be yes or no" : NULL;
	if (!strcmp(key, "allow_on_behalf"))
		return parse_bool(val, &x->allow_on_behalf) ?
		    "must be yes or no" : NULL;
	if (!strcmp(key, "subject_cn")) {
		if (!strcmp(val, "display_name"))
			x->cn_mailbox = 0;
		else if (!strcmp(val, "mailbox"))
			x->cn_mailbox = 1;
		else
			return "must be display_name or mailbox";
		return NULL;
	}
	return "is not a setting of the exchange policy (allowed_domains, "
	    "auto_issue_groups, key_types.signing, key_types.encryption, "
	    "key_types.dual, max_days, max_valid_per_mailbox, over_limit, "
	    "require_dual, allow_on_behalf, subject_cn)";
}

static int
exchange_init(const struct policy_kv *cfg, size_t n, void **ctx, char *err,
    size_t errlen)
{
	struct exchange	*x;
	const char	*why;
	size_t		 i;
	int		 p;

	*ctx = NULL;
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	x->max_days = 365;
	x->max_valid = 2;
	x->allow_on_behalf = 1;
	if (set_str(&x->allowed_domains, "example.com") ||
	    set_str(&x->auto_issue_groups, ""))
		goto oom;
	for (p = 0; p < PROFILE_COUNT; p++)
		if (set_str(&x->key_types[p], EXCHANGE_KEY_TYPES))
			goto oom;

	for (i = 0; i < n; i++) {
		if ((why = exchange_set(x, cfg[i].key, cfg[i].value)) != NULL) {
			snprintf(err, errlen, "%s = %s: %s", cfg[i].key,
			    cfg[i].value, why);
			exchange_free(x);
			return -1;
		}
	}
	*ctx = x;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	exchange_free(x);
	return -1;
}

static int
verdict(struct policy_decision *out, enum policy_verdict v,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
verdict(struct policy_decision *out, enum policy_verdict v,
    const char *fmt, ...)
{
	va_list	ap;

	out->verdict = v;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	return 0;
}

static int
domain_allowed(const char *email, const char *domains)
{
	const char	*at;

	/* RFC 5322 3.4.1: the domain follows the last '@'. */
	if ((at = strrchr(email, '@')) == NULL || at == email || at[1] == '\0')
		return 0;
	return list_has_nocase(domains, at + 1);
}

static int
in_auto_issue_group(const struct exchange *x, const struct policy_request *req)
{
	size_t	i;

	if (list_empty(x->auto_issue_groups))
		return 1;
	for (i = 0; i < req->ngroups; i++)
		if (req->groups[i] != NULL &&
		    list_has_nocase(x->auto_issue_groups, req->groups[i]))
			return 1;
	return 0;
}

static const char *
or_unknown(const char *s)
{
	return s != NULL && *s != '\0' ? s : "(unknown)";
}

static int
exchange_decide(void *ctx, const struct policy_request *req,
    struct policy_decision *out)
{
	const struct exchange	*x = ctx;
	const char		*who = or_unknown(req->requester);
	const char		*email = req->email != NULL ? req->email : "";
	const char		*profile = req->profile != NULL ?
				    req->profile : "";
	unsigned		 days = req->days, limit;
	char			 shortened[96] = "";
	int			 p;

	/* Denied: nothing an officer could rightly approve. */
	if (req->account_disabled)
		return verdict(out, POLICY_DENY, "the directory account %s "
		    "is disabled", who);
	if (!req->authenticated && !req->on_behalf)
		return verdict(out, POLICY_DENY, "the requester's identity "
		    "was not authenticated against the directory");
	if (req->on_behalf && !x->allow_on_behalf)
		return verdict(out, POLICY_DENY, "this policy does not "
		    "accept requests made on someone else's behalf");
	if (!domain_allowed(email, x->allowed_domains))
		return verdict(out, POLICY_DENY, "the mailbox %s is outside "
		    "the allowed mail domains (%s)", email,
		    x->allowed_domains);
	if (!req->on_behalf) {
		/* S/MIME BR 3.2.2: the mailbox is validated through the
		 * requester's control of it, here the directory's mail
		 * attribute (RFC 4524 2.16, caseIgnoreIA5Match). */
		if (req->requester_mail == NULL || *req->requester_mail == '\0')
			return verdict(out, POLICY_DENY, "%s has no mail "
			    "address in the directory, so no mailbox can be "
			    "certified for them", who);
		if (strcasecmp(email, req->requester_mail) != 0)
			return verdict(out, POLICY_DENY, "the mailbox %s is "
			    "not %s's own directory mail (%s)", email, who,
			    req->requester_mail);
	}
	for (p = 0; p < PROFILE_COUNT; p++)
		if (strcmp(profile, profile_names[p]) == 0)
			break;
	if (p == PROFILE_COUNT)
		return verdict(out, POLICY_DENY, "the profile \"%s\" is "
		    "unknown: ask for signing, encryption or dual", profile);
	if (x->require_dual && p == PROFILE_DUAL)
		return verdict(out, POLICY_DENY, "with key recovery on, one "
		    "certificate may not serve both signing and encryption: "
		    "ask for a signing and an encryption certificate");
	if (req->key_type == NULL || !list_has(x->key_types[p], req->key_type))
		return verdict(out, POLICY_DENY, "%s keys are not allowed for "
		    "%s certificates (allowed: %s)", or_unknown(req->key_type),
		    profile, x->key_types[p]);
	if (req->key_already_certified)
		return verdict(out, POLICY_DENY, "this public key is already "
		    "in a certificate; every certificate needs a new key");
	if (x->max_valid != 0 && req->valid_certs >= x->max_valid &&
	    x->over_limit_deny)
		return verdict(out, POLICY_DENY, "the mailbox %s already has "
		    "%u valid %s certificate%s, the most this policy allows",
		    email, req->valid_certs, profile,
		    req->valid_certs == 1 ? "" : "s");

	/* The shape: narrowed, never widened. */
	limit = x->max_days;
	if (req->max_days != 0 && req->max_days < limit)
		limit = req->max_days;
	if (days == 0)
		days = req->default_days != 0 ? req->default_days : limit;
	if (days > limit) {
		if (req->days != 0)
			snprintf(shortened, sizeof(shortened), " for %u days "
			    "instead of the %u requested (the longest "
			    "allowed)", limit, req->days);
		else
			snprintf(shortened, sizeof(shortened), " for %u days "
			    "(the longest allowed)", limit);
		days = limit;
	}
	out->days = days;
	/* A mailbox too long for the field is left to the core, which
	 * knows the CN's upper bound (RFC 5280 A.1, ub-common-name). */
	if (x->cn_mailbox && strlen(email) < sizeof(out->subject_cn))
		memcpy(out->subject_cn, email, strlen(email) + 1);

	/* Pended: a PKI officer decides. */
	if (!req->via_ra)
		return verdict(out, POLICY_PEND, "the request did not come "
		    "through the enrollment site, so a PKI officer reviews it");
	if (x->require_dual && !req->kra)
		return verdict(out, POLICY_PEND, "with key recovery on, "
		    "certificates are issued in signing and encryption pairs; "
		    "a lone %s request is reviewed by a PKI officer", profile);
	if (!in_auto_issue_group(x, req))
		return verdict(out, POLICY_PEND, "%s is not in a group whose "
		    "requests are issued automatically (%s), so a PKI officer "
		    "reviews it", who, x->auto_issue_groups);
	if (x->max_valid != 0 && req->valid_certs >= x->max_valid)
		return verdict(out, POLICY_PEND, "the mailbox %s already has "
		    "%u valid %s certificate%s (this policy's limit is %u), "
		    "so a PKI officer reviews it", email, req->valid_certs,
		    profile, req->valid_certs == 1 ? "" : "s", x->max_valid);

	if (req->on_behalf)
		return verdict(out, POLICY_ISSUE, "issued automatically%s: "
		    "submitted by %s on behalf of %s through the enrollment "
		    "site", shortened, who, email);
	return verdict(out, POLICY_ISSUE, "issued automatically%s: "
	    "authenticated directory user via the enrollment site",
	    shortened);
}

const struct policy_module signet_policy_module = {
	.abi_version = POLICY_ABI_VERSION,
	.name = "exchange",
	.init = exchange_init,
	.decide = exchange_decide,
	.free = exchange_free,
};
