#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "pgctl.h"

struct parse {
	struct config	*c;
	char		 what[256];	/* "[sec] key: why" of the first bad line */
	int		 failed;
	char		**seen;		/* "sec\nkey" of every setting so far */
	size_t		 nseen;
};

/*
 * The sections of signet.conf. Each is read by its part ([revocation] by
 * the revocation service, [publish*] by the publisher, [kra] by key
 * recovery, [policy] also by the policy module); a misspelt one would be
 * ignored whole, so any other is refused here, where every command and
 * daemon reads the file.
 */
static int
known_section(const char *sec)
{
	static const char *const names[] = { "ca", "database", "profile",
	    "policy", "revocation", "publish", "kra" };
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(sec, names[i]))
			return 1;
	return (!strncmp(sec, "publish.ldap.", 13) && sec[13] != '\0') ||
	    (!strncmp(sec, "publish.web.", 12) && sec[12] != '\0');
}

/* A setting given twice: the second would silently win. 1 if seen
 * before, 0 if not (now remembered), -1 out of memory. */
static int
seen_before(struct parse *p, const char *sec, const char *key)
{
	char	*k, **n;
	size_t	 i;

	if (asprintf(&k, "%s\n%s", sec, key) < 0)
		return -1;
	for (i = 0; i < p->nseen; i++)
		if (!strcmp(p->seen[i], k)) {
			free(k);
			return 1;
		}
	if ((n = realloc(p->seen, (p->nseen + 1) * sizeof(*n))) == NULL) {
		free(k);
		return -1;
	}
	p->seen = n;
	p->seen[p->nseen++] = k;
	return 0;
}

static int
set_str(char **dst, const char *v)
{
	char	*s;

	if ((s = strdup(v)) == NULL)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

int
config_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char		*end;
	unsigned long	 n;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		return -1;
	*out = (unsigned)n;
	return 0;
}

int
config_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "on") ||
	    !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "off") ||
	    !strcasecmp(v, "false") || !strcmp(v, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* RFC 5280 4.2.1.13, S/MIME BR 7.1.2.3(b): distribution points are http:// */
static int
http_url(const char *v)
{
	return *v == '\0' || strncmp(v, "http://", 7) == 0;
}

static int
handler(void *user, const char *sec, const char *key, const char *val)
{
	struct parse	*p = user;
	struct config	*c = p->c;
	const char	*why = NULL;
	int		 r;

	if (p->failed)
		return 0;
	if (*sec == '\0')
		why = "a setting before any [section]";
	else if (!known_section(sec))
		why = "not a section Signet reads (ca, database, profile, "
		    "policy, revocation, publish, publish.ldap.NAME, "
		    "publish.web.NAME, kra)";
	else if ((r = seen_before(p, sec, key)) != 0)
		why = r > 0 ? "set twice in its section" : "out of memory";
	else if (!strcmp(sec, "ca")) {
		if (!strcmp(key, "name"))
			set_str(&c->ca_name, val);
		else if (!strcmp(key, "key"))
			set_str(&c->ca_key, val);
		else if (!strcmp(key, "secret_file"))
			set_str(&c->ca_secret_file, val);
		else if (!strcmp(key, "secret_env"))
			set_str(&c->ca_secret_env, val);
		else if (!strcmp(key, "cert"))
			set_str(&c->ca_cert, val);
		else if (!strcmp(key, "crl_url") || !strcmp(key, "ocsp_url") ||
		    !strcmp(key, "issuer_url")) {
			if (!http_url(val))
				why = "must be an http:// URL (S/MIME BR 7.1.2.3)";
			else if (key[0] == 'c')
				set_str(&c->crl_url, val);
			else if (key[0] == 'o')
				set_str(&c->ocsp_url, val);
			else
				set_str(&c->issuer_url, val);
		} else
			why = "unknown setting";
	} else if (!strcmp(sec, "database")) {
		if (!strcmp(key, "conninfo"))
			set_str(&c->db_conninfo, val);
		else
			why = "unknown setting";
	} else if (!strcmp(sec, "profile")) {
		if (!strcmp(key, "policy_oid"))
			set_str(&c->policy_oid, val);
		else if (!strcmp(key, "default_days")) {
			if (config_uint(val, 1, 825, &c->default_days))
				why = "must be a number of days from 1 to 825";
		} else if (!strcmp(key, "max_days")) {
			if (config_uint(val, 1, 825, &c->max_days))
				why = "must be a number of days from 1 to 825 (S/MIME BR 6.3.2)";
		} else if (!strcmp(key, "non_repudiation")) {
			if (config_bool(val, &c->non_repudiation))
				why = "must be yes or no";
		} else if (!strcmp(key, "server_key_type")) {
			if (strcmp(val, "rsa-3072") && strcmp(val, "rsa-4096") &&
			    strcmp(val, "ecdsa-p256") && strcmp(val, "ecdsa-p384"))
				why = "must be rsa-3072, rsa-4096, ecdsa-p256 or ecdsa-p384";
			else
				set_str(&c->server_key_type, val);
		} else if (!strcmp(key, "allowed_domains"))
			set_str(&c->allowed_domains, val);
		else
			why = "unknown setting";
	} else if (!strcmp(sec, "policy")) {
		if (!strcmp(key, "module"))
			set_str(&c->policy_module, val);
		/* the module's own keys are read by the module */
	}
	/* other sections belong to other modules */

	if (why != NULL) {
		/* ini_parse returns the line of the first refusal */
		if (*sec == '\0')
			snprintf(p->what, sizeof(p->what), "%s: %s", key, why);
		else
			snprintf(p->what, sizeof(p->what), "[%s] %s: %s", sec,
			    key, why);
		p->failed = 1;
		return 0;
	}
	return 1;
}

struct config *
config_load(const char *home, struct err *e)
{
	struct config	*c;
	struct parse	 p;
	int		 rc;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	c->home = strdup(home);
	if (asprintf(&c->path, "%s/signet.conf", home) < 0)
		c->path = NULL;
	if (c->home == NULL || c->path == NULL)
		goto oom;
	c->default_days = 365;
	c->max_days = 825;
	if (set_str(&c->ca_key, "ca.key") || set_str(&c->ca_cert, "ca.pem") ||
	    set_str(&c->policy_oid, "2.23.140.1.5.1.3") ||
	    set_str(&c->server_key_type, "rsa-3072") ||
	    set_str(&c->allowed_domains, "example.com") ||
	    set_str(&c->ca_name, "Signet CA") ||
	    set_str(&c->crl_url, "") || set_str(&c->ocsp_url, "") ||
	    set_str(&c->issuer_url, "") || set_str(&c->db_conninfo, "") ||
	    set_str(&c->policy_module, "exchange"))
		goto oom;

	memset(&p, 0, sizeof(p));
	p.c = c;
	rc = ini_parse(c->path, handler, &p);
	while (p.nseen > 0)
		free(p.seen[--p.nseen]);
	free(p.seen);
	if (rc == -1) {
		err_set(e, "%s: %s (is this a Signet instance? run `signet "
		    "setup` first)", c->path, strerror(errno));
		goto fail;
	}
	if (p.failed) {
		err_set(e, "%s line %d: %s", c->path, rc, p.what);
		goto fail;
	}
	if (rc != 0) {
		err_set(e, "%s line %d: not valid INI syntax", c->path, rc);
		goto fail;
	}
	if (c->default_days > c->max_days) {
		err_set(e, "%s: [profile] default_days (%u) is above max_days "
		    "(%u)", c->path, c->default_days, c->max_days);
		goto fail;
	}
	return c;
oom:
	err_set(e, "out of memory");
fail:
	config_free(c);
	return NULL;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->home);
	free(c->path);
	free(c->ca_name);
	free(c->ca_key);
	free(c->ca_secret_file);
	free(c->ca_secret_env);
	free(c->ca_cert);
	free(c->crl_url);
	free(c->ocsp_url);
	free(c->issuer_url);
	free(c->db_conninfo);
	free(c->policy_oid);
	free(c->server_key_type);
	free(c->allowed_domains);
	free(c->policy_module);
	free(c);
}

char *
config_path(const struct config *c, const char *rel)
{
	char	*p;

	if (rel == NULL || *rel == '\0')
		return NULL;
	if (rel[0] == '/' || strncmp(rel, "pkcs11:", 7) == 0)
		return strdup(rel);
	if (asprintf(&p, "%s/%s", c->home, rel) < 0)
		return NULL;
	return p;
}

char *
config_conninfo(const struct config *c)
{
	if (c->db_conninfo != NULL && *c->db_conninfo != '\0')
		return strdup(c->db_conninfo);
	return pgctl_conninfo(c->home);
}

char *
config_home(const char *arg, struct err *e)
{
	const char	*h = arg;
	char		 buf[PATH_MAX];
	char		*abs;

	if (h == NULL || *h == '\0')
		h = getenv("SIGNET_HOME");
	if (h == NULL || *h == '\0')
		h = "var";
	if (h[0] == '/')
		abs = strdup(h);
	else {
		if (getcwd(buf, sizeof(buf)) == NULL) {
			err_set(e, "getcwd: %s", strerror(errno));
			return NULL;
		}
		if (asprintf(&abs, "%s/%s", buf, h) < 0)
			abs = NULL;
	}
	if (abs == NULL)
		err_set(e, "out of memory");
	/* strip trailing slashes */
	else
		for (size_t n = strlen(abs); n > 1 && abs[n - 1] == '/'; n--)
			abs[n - 1] = '\0';
	return abs;
}

int
config_write_default(const char *home, const struct config_init *ci,
    struct err *e)
{
	char	*path = NULL;
	FILE	*f = NULL;
	int	 fd = -1, rc = -1;

	if (asprintf(&path, "%s/signet.conf", home) < 0)
		return err_set(e, "out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd == -1) {
		err_set(e, "%s: %s", path, errno == EEXIST ?
		    "already exists: this instance is set up" : strerror(errno));
		goto out;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	fprintf(f,
"; Signet instance configuration. Paths are relative to this directory.\n"
"; Every setting is shown with its default; see README.md for the full list.\n"
"\n"
"[ca]\n"
"; The CA's common name.\n"
"name = %s\n"
"; The CA key: an encrypted PKCS#8 file, or a pkcs11: URL (HSM, SoftHSM).\n"
"key = %s\n"
"; The key's passphrase (or the token PIN): a file readable only by the\n"
"; CA's user, or an environment variable named here. Never on a command line.\n"
"secret_file = %s\n"
";secret_env = SIGNET_CA_SECRET\n"
"cert = ca.pem\n"
"; Where relying parties fetch the CRL, ask OCSP and find the CA certificate.\n"
"; S/MIME BR 7.1.2.3: plain http://.\n"
"crl_url = %s/crl/ca.crl\n"
"ocsp_url = %s/ocsp\n"
"issuer_url = %s/ca.cer\n"
"\n"
"[database]\n"
"; Empty: the instance's private PostgreSQL cluster under pg/.\n"
"; Otherwise a libpq connection string, e.g. host=/run/postgresql dbname=signet\n"
"conninfo =\n"
"\n"
"[profile]\n"
"; S/MIME BR mailbox-validated strict.\n"
"policy_oid = 2.23.140.1.5.1.3\n"
"default_days = 365\n"
"; At most 825 (S/MIME BR 6.3.2).\n"
"max_days = 825\n"
"; Add nonRepudiation to signing certificates.\n"
"non_repudiation = no\n"
"; Key made by the server when an employee asks for one.\n"
"server_key_type = rsa-3072\n"
"; Mail domains this CA certifies (comma-separated).\n"
"allowed_domains = %s\n"
"\n"
"[policy]\n"
"; exchange (default), manual, or a path to a policy module.\n"
"module = exchange\n",
	    ci->ca_name, ci->ca_key, ci->secret_file, ci->base_url,
	    ci->base_url, ci->base_url, ci->domains);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	if (fd != -1)
		close(fd);
	free(path);
	return rc;
}
