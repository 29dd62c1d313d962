/*
 * main: signet-web's start-up and the pieces every handler shares —
 * security headers, page rendering through the layout, strict form
 * checking, static files and errors.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/pgsql.h>
#include <kore/seccomp.h>

#include "web.h"
#include "config.h"

/*
 * Workers run under seccomp (Kore's default list plus pgsql's and tasks').
 * What libldap, glibc's threads and libpq need in addition (DESIGN.md,
 * pitfalls): uname, getgid/getegid, getdents64 (libldap reads its config),
 * getpeername/shutdown (LDAP connections), newfstatat; rseq is allowed and
 * clone3 is refused with ENOSYS so glibc falls back to clone, which the
 * task filter allows.
 */
#if defined(__SANITIZE_ADDRESS__)
/*
 * The sanitizer build only (web/Makefile san, tests/run.sh): what the
 * ASan and UBSan runtimes call that the module does not -- gettid as a task
 * thread starts, pipe2 while a report is written -- so that a worker is
 * not killed for its sanitizer.
 */
#define SAN_SYSCALLS \
	KORE_SYSCALL_ALLOW(pipe2), \
	KORE_SYSCALL_ALLOW(gettid),
#else
#define SAN_SYSCALLS
#endif

KORE_SECCOMP_FILTER("signet-web",
	KORE_SYSCALL_ALLOW(uname),
	KORE_SYSCALL_ALLOW(getgid),
	KORE_SYSCALL_ALLOW(getegid),
	KORE_SYSCALL_ALLOW(getdents64),
	KORE_SYSCALL_ALLOW(getpeername),
	KORE_SYSCALL_ALLOW(shutdown),
	KORE_SYSCALL_ALLOW(newfstatat),
	KORE_SYSCALL_ALLOW(rseq),
	KORE_SYSCALL_ALLOW(poll),
	KORE_SYSCALL_ALLOW(getsockname),
	KORE_SYSCALL_ALLOW(getsockopt),
	KORE_SYSCALL_ALLOW(sched_getaffinity),
	KORE_SYSCALL_ALLOW(mremap),
	KORE_SYSCALL_DENY(clone3, ENOSYS),
	SAN_SYSCALLS
);

struct web_config	 web_cfg;

static struct tmpl_cache	*templates;

struct static_file {
	const char	*name;		/* URL path below /static/ */
	const char	*type;
	int		 vendor;	/* from SIGNET_VENDOR (generated) */
	char		*data;
	size_t		 len;
};

/*
 * Every file the site serves under /static/, read once at start-up. The
 * vendor bundle is PKI.js and asn1js from npm, bundled by scripts/vendor.sh
 * into build/vendor/ (never committed, never from a CDN).
 */
static struct static_file statics[] = {
	{ "signet.css", "text/css; charset=utf-8", 0, NULL, 0 },
	{ "enrol.js", "text/javascript; charset=utf-8", 0, NULL, 0 },
	{ "pki.js", "text/javascript; charset=utf-8", 1, NULL, 0 },
};

static int
env_int(const char *name, int def, int min, int max)
{
	const char	*v = getenv(name);
	char		*end;
	long		 n;

	if (v == NULL || *v == '\0')
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		fatal("%s: \"%s\" is not a number from %d to %d", name, v,
		    min, max);
	return (int)n;
}

static const char *
env_req(const char *name)
{
	const char	*v = getenv(name);

	if (v == NULL || *v == '\0')
		fatal("%s is not set (see signet-web.conf.in)", name);
	return v;
}

static void
load_static(const char *dir, const char *vendor)
{
	char	 path[PATH_MAX];
	FILE	*fp;
	long	 size;
	size_t	 i;

	for (i = 0; i < sizeof(statics) / sizeof(statics[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", statics[i].vendor ?
		    vendor : dir, statics[i].name);
		if ((fp = fopen(path, "r")) == NULL)
			fatal("%s: %s", path, strerror(errno));
		if (fseek(fp, 0, SEEK_END) == -1 || (size = ftell(fp)) < 0 ||
		    fseek(fp, 0, SEEK_SET) == -1)
			fatal("%s: %s", path, strerror(errno));
		statics[i].data = kore_malloc(size + 1);
		if (fread(statics[i].data, 1, size, fp) != (size_t)size)
			fatal("%s: short read", path);
		statics[i].len = size;
		fclose(fp);
	}
}

/*
 * What the RA takes from the instance's signet.conf (SIGNET_HOME): the key
 * type of server-made keys ([profile] server_key_type, DESIGN.md: RSA-3072
 * by default) and the key recovery settings ([kra]). And a dummy argon2id hash that makes a sign-in with an
 * unknown operator name cost as much as one with a known name.
 */
static void
server_settings(void)
{
	struct config	*cfg = NULL;
	struct err	 e;
	const char	*home = getenv("SIGNET_HOME");
	char		 pw[16];

	snprintf(web_cfg.server_key_type, sizeof(web_cfg.server_key_type),
	    "rsa-3072");
	if (home != NULL && *home != '\0') {
		if ((cfg = config_load(home, &e)) == NULL)
			fatal("SIGNET_HOME: %s", e.msg);
		if (cfg->server_key_type != NULL)
			snprintf(web_cfg.server_key_type,
			    sizeof(web_cfg.server_key_type), "%s",
			    cfg->server_key_type);
		/* [kra]: dual enrolment and recovery pages when enabled */
		if (kra_config_load(cfg->path, &web_cfg.kra, &e) != 0)
			fatal("SIGNET_HOME: %s", e.msg);
		config_free(cfg);
	}
	randombytes_buf(pw, sizeof(pw));
	if (crypto_pwhash_str(web_cfg.dummy_hash, pw, sizeof(pw),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		fatal("argon2id: out of memory");
}

/*
 * Kore calls this in the parent before forking workers: everything read
 * from disk or the environment is read here, before chroot and seccomp.
 */
void
kore_parent_configure(int argc, char **argv)
{
	struct err	 e;

	if (sodium_init() == -1)
		fatal("libsodium failed to initialise");

	web_cfg.ldap_uri = env_req("SIGNET_LDAP_URI");
	web_cfg.ldap_base = getenv("SIGNET_LDAP_BASE") != NULL ?
	    getenv("SIGNET_LDAP_BASE") : "dc=example,dc=com";
	web_cfg.session_hours = env_int("SIGNET_SESSION_HOURS", 8, 1, 168);
	web_cfg.idle_minutes = env_int("SIGNET_SESSION_IDLE_MINUTES", 30, 1,
	    10080);
	web_cfg.max_account_failures = env_int("SIGNET_LOGIN_MAX_FAILURES",
	    5, 1, 1000);
	web_cfg.max_client_failures = env_int(
	    "SIGNET_LOGIN_MAX_CLIENT_FAILURES", 20, 1, 100000);
	web_cfg.failure_window_minutes = env_int(
	    "SIGNET_LOGIN_WINDOW_MINUTES", 15, 1, 1440);
	web_cfg.lookup_cache_seconds = env_int(
	    "SIGNET_LOOKUP_CACHE_SECONDS", 5, 0, 3600);
	/* web/ocsp.c: on-demand signatures per second, all workers; signed
	 * responses each worker keeps */
	web_cfg.ocsp_queue_rate = env_int("SIGNET_OCSP_QUEUE_RATE", 50, 1,
	    100000);
	web_cfg.ocsp_cache_entries = env_int("SIGNET_OCSP_CACHE_ENTRIES",
	    20000, 0, 10000000);

	if ((templates = tmpl_cache_load(env_req("SIGNET_TEMPLATES"), &e)) ==
	    NULL)
		fatal("%s", e.msg);
	load_static(env_req("SIGNET_STATIC"), env_req("SIGNET_VENDOR"));
	server_settings();
	web_cfg.db = env_req("SIGNET_DB");

	if (!kore_pgsql_register(WEB_DB, env_req("SIGNET_DB")))
		fatal("cannot register database %s", WEB_DB);
}

/*
 * Headers on every page (DESIGN.md, security rules). CSP 3 forbids inline
 * script and style and framing; HSTS (RFC 6797) is added by nginx on
 * the https it terminates (scripts/nginx.sh), never on plain http.
 */
void
web_headers(struct http_request *req, int authenticated)
{
	http_response_header(req, "content-security-policy",
	    "default-src 'self'; script-src 'self'; object-src 'none'; "
	    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
	http_response_header(req, "x-content-type-options", "nosniff");
	http_response_header(req, "referrer-policy", "no-referrer");
	http_response_header(req, "x-frame-options", "DENY");
	if (authenticated)
		http_response_header(req, "cache-control", "no-store");
}

/* Renders tname inside the layout into a new string (free()). */
char *
web_render(const char *tname, const char *title, struct tmpl_data *d,
    const struct web_session *s, size_t *len)
{
	struct tmpl_data	*frame = NULL;
	struct err		 e;
	char			*body = NULL, *page = NULL;

	if ((body = tmpl_render(templates, tname, d, NULL, &e)) == NULL)
		goto out;
	if ((frame = tmpl_data_new()) == NULL ||
	    tmpl_data_set(frame, "title", title, &e) == -1 ||
	    tmpl_data_set(frame, "body", body, &e) == -1)
		goto out;
	if (s != NULL && (tmpl_data_set(frame, "user_name",
	    s->display_name[0] ? s->display_name : s->mail, &e) == -1 ||
	    tmpl_data_set(frame, "csrf", s->csrf, &e) == -1 ||
	    tmpl_data_set(frame, strcmp(s->kind, "operator") == 0 ?
	    "is_operator" : "is_employee", "yes", &e) == -1))
		goto out;
	page = tmpl_render(templates, "layout", frame, len, &e);
out:
	if (page == NULL)
		kore_log(LOG_ERR, "rendering %s: %s", tname, e.msg);
	free(body);
	tmpl_data_free(frame);
	return page;
}

void
web_page(struct http_request *req, int status, const char *tname,
    const char *title, struct tmpl_data *d, const struct web_session *s)
{
	char	*page;
	size_t	 len;

	web_headers(req, s != NULL);
	if ((page = web_render(tname, title, d, s, &len)) == NULL) {
		http_response_header(req, "content-type",
		    "text/plain; charset=utf-8");
		http_response(req, HTTP_STATUS_INTERNAL_ERROR,
		    "internal error\n", 15);
		return;
	}
	http_response_header(req, "content-type", "text/html; charset=utf-8");
	http_response(req, status, page, len);
	free(page);
}

void
web_error(struct http_request *req, int status, const char *heading,
    const char *message)
{
	struct tmpl_data	*d;
	struct err		 e;

	if ((d = tmpl_data_new()) == NULL ||
	    tmpl_data_set(d, "heading", heading, &e) == -1 ||
	    tmpl_data_set(d, "message", message, &e) == -1) {
		tmpl_data_free(d);
		web_headers(req, 1);
		http_response(req, HTTP_STATUS_INTERNAL_ERROR, NULL, 0);
		return;
	}
	/* Error pages are never cached: they may follow a signed-in POST. */
	http_response_header(req, "cache-control", "no-store");
	web_page(req, status, "error", heading, d, NULL);
	tmpl_data_free(d);
}

void
web_redirect(struct http_request *req, const char *to)
{
	web_headers(req, 1);
	http_response_header(req, "location", to);
	/* RFC 9110 15.4.4: 303 turns the POST into a GET of the target. */
	http_response(req, HTTP_STATUS_SEE_OTHER, NULL, 0);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
in_list(const char *name, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return 1;
	return 0;
}

/*
 * Checks a urlencoded POST body field by field before Kore parses it, so
 * that nothing is dropped silently (DESIGN.md pitfalls): an unknown field,
 * a repeated field, a required field missing, or a value that fails its
 * validator in the configuration is answered with 400 naming the field.
 * A field sent empty passes here (Kore omits empty values; the handler
 * finds it absent and explains what is missing). Returns 0 when the
 * handler may go on, -1 when the response has been sent.
 */
/*
 * Kore's urldecoder refuses control characters, so a multi-line value (a
 * PEM request) never survives its parser. Decodes such a field here:
 * %XX and '+', allowing CR, LF and tab, refusing other controls and NUL.
 */
static int
decode_multiline(char *s)
{
	char	*in = s, *out = s;
	int	 hi, lo;

	for (; *in != '\0'; in++) {
		if (*in == '+') {
			*out++ = ' ';
			continue;
		}
		if (*in != '%') {
			*out++ = *in;
			continue;
		}
		if ((hi = hexval(in[1])) < 0 || (lo = hexval(in[2])) < 0)
			return -1;
		*out = (char)(hi << 4 | lo);
		if ((*out < 0x20 && *out != '\r' && *out != '\n' &&
		    *out != '\t') || *out == 0x7f)
			return -1;
		out++;
		in += 2;
	}
	*out = '\0';
	return 0;
}

int
web_form(struct http_request *req, const char *const *allowed,
    const char *const *required)
{
	return web_form_ex(req, allowed, required, NULL, NULL);
}

/* web_form, and the multi-line field raw_name (if sent non-empty) decoded
 * into *raw_value (kore_free) and checked with web_v_csr. */
int
web_form_ex(struct http_request *req, const char *const *allowed,
    const char *const *required, const char *raw_name, char **raw_value)
{
	struct kore_buf	*body;
	char		 chunk[4096], msg[300], *s, *field, *eq, *save, *val;
	ssize_t		 n;
	const char	*const *r;
	char		 seen[16][64];
	int		 empty[16];
	size_t		 nseen = 0, i;
	int		 rc = -1;

	body = kore_buf_alloc(1024);
	for (;;) {
		if ((n = http_body_read(req, chunk, sizeof(chunk))) == -1) {
			web_error(req, HTTP_STATUS_BAD_REQUEST, "Bad request",
			    "The form could not be read.");
			goto out;
		}
		if (n == 0)
			break;
		kore_buf_append(body, chunk, n);
	}
	http_body_rewind(req);
	s = kore_buf_stringify(body, NULL);

	for (field = strtok_r(s, "&", &save); field != NULL;
	    field = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(field, '=')) != NULL)
			*eq++ = '\0';
		val = eq != NULL ? eq : "";
		if (!http_argument_urldecode(field) || !in_list(field, allowed)) {
			snprintf(msg, sizeof(msg), "The form sent a field this "
			    "page does not accept (\"%.64s\").", field);
			web_error(req, HTTP_STATUS_BAD_REQUEST, "Bad request",
			    msg);
			goto out;
		}
		for (i = 0; i < nseen; i++) {
			if (strcmp(seen[i], field) == 0) {
				snprintf(msg, sizeof(msg), "The field \"%.64s\" "
				    "was sent twice.", field);
				web_error(req, HTTP_STATUS_BAD_REQUEST,
				    "Bad request", msg);
				goto out;
			}
		}
		if (nseen == sizeof(seen) / sizeof(seen[0])) {
			web_error(req, HTTP_STATUS_BAD_REQUEST, "Bad request",
			    "The form sent too many fields.");
			goto out;
		}
		empty[nseen] = *val == '\0';
		if (raw_name != NULL && strcmp(field, raw_name) == 0 &&
		    *val != '\0') {
			*raw_value = kore_strdup(val);
			if (decode_multiline(*raw_value) == -1 ||
			    web_v_csr(req, *raw_value) != KORE_RESULT_OK) {
				snprintf(msg, sizeof(msg), "The field \"%.64s\" "
				    "has a value this page does not accept.",
				    field);
				web_error(req, HTTP_STATUS_BAD_REQUEST,
				    "Bad request", msg);
				goto out;
			}
			empty[nseen] = 1;	/* checked here, not by Kore */
		}
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", field);
	}

	http_populate_post(req);

	for (r = required; r != NULL && *r != NULL; r++) {
		for (i = 0; i < nseen; i++)
			if (strcmp(seen[i], *r) == 0)
				break;
		if (i == nseen) {
			snprintf(msg, sizeof(msg), "The required field \"%.64s\" "
			    "is missing.", *r);
			web_error(req, HTTP_STATUS_BAD_REQUEST, "Bad request",
			    msg);
			goto out;
		}
	}
	/* Sent and non-empty, yet absent after parsing: its validator said no. */
	for (i = 0; i < nseen; i++) {
		if (empty[i])
			continue;
		if (!http_argument_get_string(req, seen[i], &val)) {
			snprintf(msg, sizeof(msg), "The field \"%.64s\" has a "
			    "value this page does not accept.", seen[i]);
			web_error(req, HTTP_STATUS_BAD_REQUEST, "Bad request",
			    msg);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0 && raw_value != NULL && *raw_value != NULL) {
		kore_free(*raw_value);
		*raw_value = NULL;
	}
	kore_buf_free(body);
	return rc;
}

/*
 * The client's address for throttling: the TCP peer, or, when the peer is
 * the loopback terminator, the X-Real-IP it sets (the terminator overwrites
 * any client-sent copy).
 */
void
web_client_addr(struct http_request *req, char *out, size_t len)
{
	const char	*fwd;
	struct connection *c = req->owner;

	snprintf(out, len, "unknown");
	if (c->family == AF_INET) {
		inet_ntop(AF_INET, &c->addr.ipv4.sin_addr, out, len);
		if (c->addr.ipv4.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
		    http_request_header(req, "x-real-ip", &fwd) &&
		    strlen(fwd) < len && strspn(fwd, "0123456789abcdef.:") ==
		    strlen(fwd))
			snprintf(out, len, "%s", fwd);
	} else if (c->family == AF_INET6) {
		inet_ntop(AF_INET6, &c->addr.ipv6.sin6_addr, out, len);
	}
}

int
web_static(struct http_request *req)
{
	const char	*name = req->path + strlen("/static/");
	size_t		 i;

	for (i = 0; i < sizeof(statics) / sizeof(statics[0]); i++) {
		if (strcmp(name, statics[i].name) != 0)
			continue;
		web_headers(req, 0);
		http_response_header(req, "content-type", statics[i].type);
		http_response_header(req, "cache-control",
		    "public, max-age=3600");
		http_response(req, HTTP_STATUS_OK, statics[i].data,
		    statics[i].len);
		return KORE_RESULT_OK;
	}
	return web_not_found(req);
}

int
web_not_found(struct http_request *req)
{
	web_error(req, HTTP_STATUS_NOT_FOUND, "Not found",
	    "There is no page at this address.");
	return KORE_RESULT_OK;
}

/* Any text up to 1024 bytes without NUL or control characters other than
 * tab; the password itself is only ever compared by the directory. */
int
web_v_password(struct http_request *req, const void *data)
{
	const unsigned char	*p = data;
	size_t			 n = 0;

	for (; *p != '\0'; p++, n++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f || n >= 1024)
			return KORE_RESULT_ERROR;
	return KORE_RESULT_OK;
}

/* Free text for a reason or a search: up to 1024 bytes, no control
 * characters (a reason is shown to the employee and kept in the audit). */
int
web_v_text(struct http_request *req, const void *data)
{
	const unsigned char	*p = data;
	size_t			 n = 0;

	for (; *p != '\0'; p++, n++)
		if (*p < 0x20 || *p == 0x7f || n >= 1024)
			return KORE_RESULT_ERROR;
	return KORE_RESULT_OK;
}

/* A PEM or base64 request: printable ASCII and line breaks, at most
 * CSR_MAX_SIZE (csr.h); csr_parse judges the content. */
int
web_v_csr(struct http_request *req, const void *data)
{
	const unsigned char	*p = data;
	size_t			 n = 0;

	for (; *p != '\0'; p++, n++)
		if (n >= 65536 || *p > 0x7e || (*p < 0x20 && *p != '\r' &&
		    *p != '\n' && *p != '\t'))
			return KORE_RESULT_ERROR;
	return KORE_RESULT_OK;
}
