/*
 * policy: loads a policy module (policy/policy.h) and re-checks its
 * decisions against the CA configuration.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "policy.h"

/* S/MIME BR 6.3.2: subscriber certificates are valid at most 825 days. */
#define POLICY_BR_MAX_DAYS	825
#define POLICY_DEFAULT_DAYS	365

struct policy {
	void				*dl;
	const struct policy_module	*mod;
	void				*ctx;
	int				 ctx_live;	/* init succeeded */
	char				*path;
	/* the ABI promises decide one thread at a time; ca-serve's lanes
	 * share one module */
	pthread_mutex_t			 decide_lock;
};

/* The keys of one INI section, collected for the module's init. */
struct policy_cfg {
	const char		*section;
	int			 skip_module;	/* [policy] module = is the core's */
	struct policy_kv	*kv;
	size_t			 n, cap;
	char			 what[200];	/* the first refusal */
};

static void
cfg_clear(struct policy_cfg *c)
{
	size_t	i;

	for (i = 0; i < c->n; i++) {
		free((char *)c->kv[i].key);
		free((char *)c->kv[i].value);
	}
	free(c->kv);
	c->kv = NULL;
	c->n = c->cap = 0;
}

/* ini_parse handler: returns 0 to make ini_parse report the line. */
static int
cfg_line(void *user, const char *section, const char *key, const char *value)
{
	struct policy_cfg	*c = user;
	struct policy_kv	*nkv;
	char			*k = NULL, *v = NULL;
	size_t			 i;

	if (strcmp(section, c->section) != 0)
		return 1;
	if (c->skip_module && strcmp(key, "module") == 0)
		return 1;
	if (c->what[0] != '\0')
		return 0;
	for (i = 0; i < c->n; i++) {
		if (strcmp(c->kv[i].key, key) == 0) {
			/* a second line would silently override the
			 * first: make the operator choose */
			snprintf(c->what, sizeof(c->what),
			    "[%s] %s is set twice", section, key);
			return 0;
		}
	}
	if (c->n == c->cap) {
		nkv = reallocarray(c->kv, c->cap ? c->cap * 2 : 8,
		    sizeof(*nkv));
		if (nkv == NULL)
			goto oom;
		c->kv = nkv;
		c->cap = c->cap ? c->cap * 2 : 8;
	}
	if ((k = strdup(key)) == NULL || (v = strdup(value)) == NULL)
		goto oom;
	c->kv[c->n].key = k;
	c->kv[c->n].value = v;
	c->n++;
	return 1;
oom:
	free(k);
	free(v);
	snprintf(c->what, sizeof(c->what), "out of memory");
	return 0;
}

static int
cfg_read(struct policy_cfg *c, const char *conf_path, struct err *e)
{
	int	line;

	if (conf_path == NULL)
		return 0;
	line = ini_parse(conf_path, cfg_line, c);
	if (line == -1)
		return err_set(e, "cannot read %s: %s", conf_path,
		    strerror(errno));
	if (line == -2)
		return err_set(e, "reading %s: out of memory", conf_path);
	if (line > 0) {
		if (c->what[0] != '\0')
			return err_set(e, "%s line %d: %s", conf_path, line,
			    c->what);
		return err_set(e, "%s line %d: not a [section] or a "
		    "key = value line", conf_path, line);
	}
	return 0;
}

struct policy *
policy_load(const char *so_path, const char *conf_path, const char *section,
    struct err *e)
{
	struct policy		*p = NULL, *ret = NULL;
	struct policy_cfg	 cfg;
	const char		*dlerr;
	char			 why[256];
	size_t			 len;

	memset(&cfg, 0, sizeof(cfg));
	cfg.section = section != NULL ? section : "policy";
	cfg.skip_module = strcmp(cfg.section, "policy") == 0;

	if (so_path == NULL || *so_path == '\0') {
		err_set(e, "no policy module given");
		goto out;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	pthread_mutex_init(&p->decide_lock, NULL);
	/* A name without '/' would make dlopen search the system's library
	 * path: a module is always a file named by the configuration. */
	len = strlen(so_path) + 3;
	if ((p->path = malloc(len)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	snprintf(p->path, len, "%s%s", strchr(so_path, '/') ? "" : "./",
	    so_path);

	/* RTLD_NOW: an unresolved symbol fails here, at start, not at the
	 * first request; RTLD_LOCAL: the module's names stay its own. */
	if ((p->dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		dlerr = dlerror();
		err_set(e, "cannot load policy module %s: %s", so_path,
		    dlerr != NULL ? dlerr : "unknown dlopen error");
		goto out;
	}
	dlerror();
	p->mod = dlsym(p->dl, POLICY_MODULE_SYMBOL);
	if (p->mod == NULL) {
		err_set(e, "%s is not a Signet policy module: it exports no "
		    "%s", so_path, POLICY_MODULE_SYMBOL);
		goto out;
	}
	/* abi_version is the first field in every version of the ABI, so it
	 * can be read before anything else is trusted. */
	if (p->mod->abi_version != POLICY_ABI_VERSION) {
		err_set(e, "policy module %s has ABI version %u; this signet "
		    "needs %u", so_path, p->mod->abi_version,
		    POLICY_ABI_VERSION);
		goto out;
	}
	if (p->mod->name == NULL || p->mod->init == NULL ||
	    p->mod->decide == NULL || p->mod->free == NULL) {
		err_set(e, "policy module %s is incomplete: it needs a name, "
		    "init, decide and free", so_path);
		goto out;
	}

	if (cfg_read(&cfg, conf_path, e) == -1) {
		err_wrap(e, "configuring policy module %s", p->mod->name);
		goto out;
	}
	why[0] = '\0';
	if (p->mod->init(cfg.kv, cfg.n, &p->ctx, why, sizeof(why)) != 0) {
		why[sizeof(why) - 1] = '\0';
		err_set(e, "policy module %s refused its configuration "
		    "[%s]%s%s: %s", p->mod->name, cfg.section,
		    conf_path != NULL ? " in " : "",
		    conf_path != NULL ? conf_path : "",
		    why[0] != '\0' ? why : "no reason given");
		goto out;
	}
	p->ctx_live = 1;
	ret = p;
	p = NULL;
out:
	cfg_clear(&cfg);
	policy_free(p);
	return ret;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	if (p->ctx_live)
		p->mod->free(p->ctx);
	if (p->dl != NULL)
		dlclose(p->dl);
	free(p->path);
	pthread_mutex_destroy(&p->decide_lock);
	free(p);
}

const char *
policy_name(const struct policy *p)
{
	return p->mod->name;
}

const char *
policy_verdict_name(enum policy_verdict v)
{
	switch (v) {
	case POLICY_ISSUE:
		return "ISSUE";
	case POLICY_PEND:
		return "PEND";
	case POLICY_DENY:
		return "DENY";
	}
	return "UNKNOWN";
}

/* 1 when word is one of the comma-separated items of list (spaces around
 * items ignored), compared with cmp over exactly len bytes. */
static int
list_has(const char *list, const char *word, size_t len,
    int (*cmp)(const char *, const char *, size_t))
{
	const char	*s, *next, *end;

	if (list == NULL)
		return 0;
	for (s = list;; s = next + 1) {
		next = s + strcspn(s, ",");
		end = next;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - s) == len && cmp(s, word, len) == 0)
			return 1;
		if (*next == '\0')
			return 0;
	}
}

int
policy_domain_allowed(const char *email, const char *domains)
{
	const char	*at;

	if (email == NULL || domains == NULL)
		return 0;
	/* RFC 5322 3.4.1: the domain follows the last '@'; RFC 5321 2.4:
	 * compared without regard to case. */
	if ((at = strrchr(email, '@')) == NULL || at == email ||
	    at[1] == '\0')
		return 0;
	return list_has(domains, at + 1, strlen(at + 1), strncasecmp);
}

static int
profile_allowed(const struct policy_limits *lim, const char *profile)
{
	const char *profiles = lim->profiles != NULL ? lim->profiles :
	    "signing,encryption,dual";

	return list_has(profiles, profile, strlen(profile), strncmp);
}

/* The decided profile is the requested one, or one use of a dual-use
 * request: anything else would grant a key usage nobody asked for
 * (RFC 5280 4.2.1.3). */
static int
profile_narrows(const char *requested, const char *decided)
{
	if (strcmp(requested, decided) == 0)
		return 1;
	return strcmp(requested, "dual") == 0 &&
	    (strcmp(decided, "signing") == 0 ||
	    strcmp(decided, "encryption") == 0);
}

/* The subject is the directory identity, never something else (DESIGN.md
 * Certificates; S/MIME BR 7.1.4.2.2(a): CN is a personal name or the
 * mailbox). */
static int
subject_ok(const struct policy_request *req, const char *cn)
{
	if (cn[0] == '\0')
		return 1;
	if (req->email != NULL && strcmp(cn, req->email) == 0)
		return 1;
	return req->display_name != NULL && strcmp(cn, req->display_name) == 0;
}

static void
override(struct policy_decision *out, const char *module, const char *why)
{
	out->verdict = POLICY_DENY;
	snprintf(out->reason, sizeof(out->reason),
	    "the CA configuration overrides the %s policy module: %s",
	    module, why);
}

int
policy_decide(struct policy *p, const struct policy_limits *lim,
    const struct policy_request *req, struct policy_decision *out,
    struct err *e)
{
	struct policy_request	 r = *req;
	const char		*name = p->mod->name;
	unsigned		 max_days, def_days;
	char			 why[200];
	int			 rc;

	max_days = lim->max_days;
	if (max_days == 0 || max_days > POLICY_BR_MAX_DAYS)
		max_days = POLICY_BR_MAX_DAYS;	/* S/MIME BR 6.3.2 */
	def_days = lim->default_days != 0 ? lim->default_days :
	    POLICY_DEFAULT_DAYS;
	if (def_days > max_days)
		def_days = max_days;
	r.default_days = def_days;
	r.max_days = max_days;
	if (r.profile == NULL)
		return err_set(e, "the request names no profile");

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->decide_lock);
	rc = p->mod->decide(p->ctx, &r, out);
	pthread_mutex_unlock(&p->decide_lock);
	if (rc != 0) {
		out->reason[sizeof(out->reason) - 1] = '\0';
		return err_set(e, "policy module %s could not decide: %s",
		    name, out->reason[0] != '\0' ? out->reason :
		    "no reason given");
	}
	out->reason[sizeof(out->reason) - 1] = '\0';
	out->profile[sizeof(out->profile) - 1] = '\0';
	out->subject_cn[sizeof(out->subject_cn) - 1] = '\0';
	if (out->profile[0] == '\0')
		snprintf(out->profile, sizeof(out->profile), "%s", r.profile);
	if (out->days == 0)
		out->days = r.days != 0 ? r.days : def_days;
	if (out->reason[0] == '\0')
		snprintf(out->reason, sizeof(out->reason),
		    "the %s policy module gave no reason", name);

	switch (out->verdict) {
	case POLICY_ISSUE:
		break;
	case POLICY_PEND:
		/* An officer approves the shape stored with the request:
		 * keep it inside the limits without changing the verdict. */
		if (!profile_narrows(r.profile, out->profile))
			snprintf(out->profile, sizeof(out->profile), "%s",
			    r.profile);
		if (out->days > max_days)
			out->days = max_days;
		if (!subject_ok(&r, out->subject_cn))
			out->subject_cn[0] = '\0';
		return 0;
	case POLICY_DENY:
		return 0;
	default:
		snprintf(why, sizeof(why), "it returned an unknown verdict "
		    "(%d)", (int)out->verdict);
		override(out, name, why);
		return 0;
	}

	if (!policy_domain_allowed(r.email, lim->domains)) {
		snprintf(why, sizeof(why), "the mailbox %s is outside the "
		    "CA's mail domains (%s)", r.email != NULL ? r.email : "",
		    lim->domains != NULL ? lim->domains : "none");
		override(out, name, why);
	} else if (!profile_narrows(r.profile, out->profile)) {
		snprintf(why, sizeof(why), "it would issue a %s certificate "
		    "for a %s request", out->profile, r.profile);
		override(out, name, why);
	} else if (!profile_allowed(lim, out->profile)) {
		snprintf(why, sizeof(why), "%s certificates are not allowed "
		    "by the CA configuration", out->profile);
		override(out, name, why);
	} else if (out->days > max_days) {
		snprintf(why, sizeof(why), "it would issue for %u days, but "
		    "the CA allows at most %u days", out->days, max_days);
		override(out, name, why);
	} else if (!subject_ok(&r, out->subject_cn)) {
		snprintf(why, sizeof(why), "the subject name it chose is "
		    "neither the directory display name nor the mailbox");
		override(out, name, why);
	}
	return 0;
}
