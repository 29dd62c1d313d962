/*
 * admin: the operator console at /admin (DESIGN.md, users): local operator
 * accounts (argon2id hashes in operators), optionally a TLS client
 * certificate as a second factor, the pending queue, approve and deny,
 * certificate search, revocation and the audit log.
 *
 * Roles: officer and admin decide and revoke; auditor reads the queue, the
 * certificates and the audit log; recovery-agent has the key recovery
 * pages (none of the rest). The operator's row is read on every request,
 * so a disabled account or a changed role takes effect at once.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <sodium.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/tasks.h>

#include "web.h"
#include "request.h"
#include "revoke.h"
#include "store.h"

#define HTTP_STATUS_TOO_MANY_REQUESTS	429	/* RFC 6585 4 */
#define AUDIT_PER_PAGE			50

static int
role_rights(const char *role)
{
	if (strcmp(role, "admin") == 0 || strcmp(role, "officer") == 0)
		return WEB_CAN_READ | WEB_CAN_DECIDE;
	if (strcmp(role, "auditor") == 0)
		return WEB_CAN_READ;
	if (strcmp(role, "recovery-agent") == 0)
		return WEB_CAN_RECOVER;
	return 0;
}

int
web_operator_ok(struct http_request *req, struct web_session *s,
    struct web_operator *op, int need)
{
	struct err	e;
	char		msg[200];
	int		found;

	if (!web_session_get(req, s) || strcmp(s->kind, "operator") != 0) {
		web_redirect(req, "/admin/login");
		return 0;
	}
	if (wstore_operator(s->subject, op, &found, &e) == -1) {
		kore_log(LOG_ERR, "console: %s", e.msg);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "The console is unavailable right now.");
		return 0;
	}
	if (!found || op->disabled) {
		web_session_end(req, s);
		web_redirect(req, "/admin/login");
		return 0;
	}
	if ((role_rights(op->role) & need) != need) {
		snprintf(msg, sizeof(msg), "Your role (%s) does not allow this.",
		    op->role);
		web_error(req, HTTP_STATUS_FORBIDDEN, "Not allowed", msg);
		return 0;
	}
	return 1;
}

struct tmpl_data *
web_console_data(const struct web_session *s, const struct web_operator *op)
{
	struct tmpl_data	*d;
	struct err		 e;
	int			 r = role_rights(op->role);

	if ((d = tmpl_data_new()) == NULL ||
	    tmpl_data_set(d, "operator", op->name, &e) == -1 ||
	    tmpl_data_set(d, "role", op->role, &e) == -1 ||
	    tmpl_data_set(d, "csrf", s->csrf, &e) == -1 ||
	    tmpl_data_set(d, "can_read", (r & WEB_CAN_READ) ? "yes" : "", &e) == -1 ||
	    tmpl_data_set(d, "can_decide", (r & WEB_CAN_DECIDE) ? "yes" : "",
	    &e) == -1 ||
	    tmpl_data_set(d, "can_recover", (r & WEB_CAN_RECOVER) ? "yes" : "",
	    &e) == -1) {
		tmpl_data_free(d);
		return NULL;
	}
	return d;
}

void
web_console_page(struct http_request *req, struct tmpl_data *d, int ok,
    const char *tmpl, const char *title, const struct web_session *s,
    const struct err *e)
{
	if (d == NULL || !ok) {
		if (e != NULL)
			kore_log(LOG_ERR, "console: %s", e->msg);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "This page cannot be shown right now.");
	} else {
		web_page(req, HTTP_STATUS_OK, tmpl, title, d, s);
	}
	tmpl_data_free(d);
}

/* ---- sign-in ---- */

struct oplogin_state {
	struct kore_task	 task;		/* first: the task entry casts */
	char			 name[64];
	char			 password[1025];
	char			 hash[256];
	int			 ok;
};

static void
oplogin_state_free(struct http_request *req)
{
	struct oplogin_state	*st = http_state_get(req);

	if (st != NULL)
		sodium_memzero(st->password, sizeof(st->password));
}

/* argon2id verification takes a good fraction of a second by design: a
 * task, never the event loop. */
static int
oplogin_task(struct kore_task *t)
{
	struct oplogin_state	*st = (struct oplogin_state *)t;

	st->ok = crypto_pwhash_str_verify(st->hash, st->password,
	    strlen(st->password)) == 0;
	sodium_memzero(st->password, sizeof(st->password));
	return KORE_RESULT_OK;
}

static void
oplogin_page(struct http_request *req, int status, const char *name,
    const char *error)
{
	struct tmpl_data	*d;
	struct err		 e;

	if ((d = tmpl_data_new()) == NULL ||
	    tmpl_data_set(d, "csrf", web_prelogin_token(req), &e) == -1 ||
	    tmpl_data_set(d, "name", name, &e) == -1 ||
	    tmpl_data_set(d, "error", error, &e) == -1) {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_INTERNAL_ERROR, "Error",
		    "The page could not be built.");
		return;
	}
	http_response_header(req, "cache-control", "no-store");
	web_page(req, status, "admin_login", "Operator sign-in", d, NULL);
	tmpl_data_free(d);
}

/*
 * The second factor: nginx verified the client certificate against the
 * operator CA and passes it URL-escaped in X-Signet-Client-Cert, with
 * X-Signet-Client-Verify SUCCESS; both headers are set only by the
 * terminator (scripts/nginx.sh). Its SHA-256 over the DER must be the
 * operator's registered one.
 */
/*
 * nginx's $ssl_client_escaped_cert: the PEM with %XX escapes, line breaks
 * included, which Kore's own urldecoder refuses (it admits no control
 * characters). A '+' stays a '+' (base64), escaped or not.
 */
static int
pem_unescape(char *s)
{
	char	*in = s, *out = s, h[3] = { 0, 0, 0 }, *end;
	long	 v;

	for (; *in != '\0'; in++) {
		if (*in != '%') {
			*out++ = *in;
			continue;
		}
		if (!isxdigit((unsigned char)in[1]) ||
		    !isxdigit((unsigned char)in[2]))
			return -1;
		h[0] = in[1];
		h[1] = in[2];
		v = strtol(h, &end, 16);
		if (*end != '\0' || (v < 0x20 && v != '\n' && v != '\r') ||
		    v >= 0x7f)
			return -1;
		*out++ = (char)v;
		in += 2;
	}
	*out = '\0';
	return 0;
}

static int
client_cert_ok(struct http_request *req, const char *want_hex)
{
	const char	*verify, *cert;
	char		*pem = NULL, hex[65];
	gnutls_datum_t	 in, der = { NULL, 0 };
	u_int8_t	 sum[32];
	int		 ok = 0;

	if (!http_request_header(req, "x-signet-client-verify", &verify) ||
	    strcmp(verify, "SUCCESS") != 0 ||
	    !http_request_header(req, "x-signet-client-cert", &cert))
		return 0;
	pem = kore_strdup(cert);
	if (pem_unescape(pem) != 0)
		goto out;
	in.data = (unsigned char *)pem;
	in.size = strlen(pem);
	if (gnutls_pem_base64_decode2("CERTIFICATE", &in, &der) < 0)
		goto out;
	crypto_hash_sha256(sum, der.data, der.size);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	ok = sodium_memcmp(hex, want_hex, 64) == 0;
out:
	gnutls_free(der.data);
	kore_free(pem);
	return ok;
}

static const char *const oplogin_fields[] = { "csrf", "name", "password",
    NULL };

static int
oplogin_start(struct http_request *req)
{
	struct oplogin_state	*st;
	struct web_operator	 op;
	struct err		 e;
	char			*name, *pw, *cookie, account[80], client[64];
	int			 found, acc_n, cli_n;

	if (web_form(req, oplogin_fields, oplogin_fields) == -1)
		return KORE_RESULT_OK;
	http_populate_cookies(req);
	if (!http_request_cookie(req, WEB_PRELOGIN_COOKIE, &cookie) ||
	    !web_csrf_ok(req, cookie)) {
		web_error(req, HTTP_STATUS_FORBIDDEN, "Form expired",
		    "This form has expired or did not come from this site. "
		    "Reload the sign-in page and try again.");
		return KORE_RESULT_OK;
	}
	if (!http_argument_get_string(req, "name", &name) ||
	    !http_argument_get_string(req, "password", &pw)) {
		oplogin_page(req, HTTP_STATUS_BAD_REQUEST, "",
		    "Enter your operator name and password.");
		return KORE_RESULT_OK;
	}
	snprintf(account, sizeof(account), "operator:%s", name);
	web_client_addr(req, client, sizeof(client));
	if (wstore_failures_count(account, client,
	    web_cfg.failure_window_minutes, &acc_n, &cli_n, &e) == -1 ||
	    wstore_operator(name, &op, &found, &e) == -1) {
		kore_log(LOG_ERR, "operator login: %s", e.msg);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "Sign-in is unavailable right now.");
		return KORE_RESULT_OK;
	}
	if (acc_n >= web_cfg.max_account_failures ||
	    cli_n >= web_cfg.max_client_failures) {
		oplogin_page(req, HTTP_STATUS_TOO_MANY_REQUESTS, name,
		    "Too many failed sign-ins. Try again later.");
		return KORE_RESULT_OK;
	}
	st = http_state_create(req, sizeof(*st), oplogin_state_free);
	snprintf(st->name, sizeof(st->name), "%s", name);
	snprintf(st->password, sizeof(st->password), "%s", pw);
	sodium_memzero(pw, strlen(pw));
	/* An unknown or disabled operator costs the same time as a known
	 * one (the dummy hash), so names cannot be probed by timing. */
	snprintf(st->hash, sizeof(st->hash), "%s", found && !op.disabled &&
	    op.password_hash[0] != '\0' ? op.password_hash :
	    web_cfg.dummy_hash);
	if (!found || op.disabled || op.password_hash[0] == '\0')
		st->name[0] = '\0';
	kore_task_create(&st->task, oplogin_task);
	kore_task_bind_request(&st->task, req);
	kore_task_run(&st->task);
	http_request_sleep(req);
	return KORE_RESULT_RETRY;
}

static int
oplogin_finish(struct http_request *req, struct oplogin_state *st)
{
	struct web_operator	 op;
	struct err		 e;
	char			*name, account[80], client[64];
	int			 found = 0;

	if (!http_argument_get_string(req, "name", &name))
		name = "";
	snprintf(account, sizeof(account), "operator:%s", name);
	web_client_addr(req, client, sizeof(client));
	if (!st->ok || st->name[0] == '\0') {
		if (wstore_failure_add(account, client, &e) == -1)
			kore_log(LOG_ERR, "operator login: %s", e.msg);
		oplogin_page(req, HTTP_STATUS_UNAUTHORIZED, name,
		    "The operator name or password is not correct.");
		return KORE_RESULT_OK;
	}
	if (wstore_operator(st->name, &op, &found, &e) == -1 || !found) {
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "Sign-in is unavailable right now.");
		return KORE_RESULT_OK;
	}
	if (op.client_cert_sha256[0] != '\0' &&
	    !client_cert_ok(req, op.client_cert_sha256)) {
		if (wstore_failure_add(account, client, &e) == -1)
			kore_log(LOG_ERR, "operator login: %s", e.msg);
		oplogin_page(req, HTTP_STATUS_UNAUTHORIZED, name,
		    "This account also needs its client certificate. Sign in "
		    "from a browser that holds it.");
		return KORE_RESULT_OK;
	}
	if (wstore_failures_clear(account, &e) == -1)
		kore_log(LOG_ERR, "operator login: %s", e.msg);
	if (web_session_start(req, "operator", op.name, op.name, op.name,
	    "") == -1) {
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "Sign-in is unavailable right now.");
		return KORE_RESULT_OK;
	}
	web_redirect(req, "/admin");
	return KORE_RESULT_OK;
}

int
web_admin_login(struct http_request *req)
{
	struct oplogin_state	*st;

	if (req->method != HTTP_METHOD_POST) {
		oplogin_page(req, HTTP_STATUS_OK, NULL, NULL);
		return KORE_RESULT_OK;
	}
	if (!http_state_exists(req))
		return oplogin_start(req);
	st = http_state_get(req);
	if (kore_task_state(&st->task) != KORE_TASK_STATE_FINISHED) {
		http_request_sleep(req);
		return KORE_RESULT_RETRY;
	}
	return oplogin_finish(req, st);
}

/* ---- the queue and decisions ---- */

int
web_admin(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct tmpl_data	*d;
	struct err		 e;
	int			 ok = 1;

	if (!web_operator_ok(req, &s, &op, 0))
		return KORE_RESULT_OK;
	d = web_console_data(&s, &op);
	if (d != NULL && (role_rights(op.role) & WEB_CAN_READ))
		ok = wstore_queue(d, &e) == 0 && tmpl_data_set(d, "has_rows",
		    tmpl_data_count(d, "requests") > 0 ? "yes" : "", &e) == 0;
	web_console_page(req, d, ok, "admin_queue", "Pending requests", &s, &e);
	return KORE_RESULT_OK;
}

static int64_t
path_num(const char *path, const char *prefix)
{
	long long	v;

	if (strncmp(path, prefix, strlen(prefix)) != 0)
		return -1;
	v = strtoll(path + strlen(prefix), NULL, 10);
	return v > 0 ? v : -1;
}

int
web_admin_request(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct tmpl_data	*d;
	struct err		 e;
	int64_t			 id;
	int			 found = 0, ok;

	if (!web_operator_ok(req, &s, &op, WEB_CAN_READ))
		return KORE_RESULT_OK;
	if ((id = path_num(req->path, "/admin/requests/")) == -1)
		return web_not_found(req);
	d = web_console_data(&s, &op);
	ok = d != NULL && wstore_request(id, NULL, d, &found, &e) == 0;
	if (ok && !found) {
		tmpl_data_free(d);
		return web_not_found(req);
	}
	web_console_page(req, d, ok, "admin_request", "Request", &s, &e);
	return KORE_RESULT_OK;
}

static const char *const decide_fields[] = { "csrf", "decision", "reason",
    NULL };
static const char *const decide_required[] = { "csrf", "decision", NULL };

int
web_admin_decide(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct store		*st;
	struct err		 e;
	char			*decision, *reason = NULL, url[64];
	int64_t			 id;
	size_t			 changed;
	int			 approve;

	if (!web_operator_ok(req, &s, &op, WEB_CAN_DECIDE))
		return KORE_RESULT_OK;
	if ((id = path_num(req->path, "/admin/requests/")) == -1)
		return web_not_found(req);
	if (web_post_ok(req, &s, decide_fields, decide_required) == -1)
		return KORE_RESULT_OK;
	if (!http_argument_get_string(req, "decision", &decision)) {
		web_error(req, HTTP_STATUS_BAD_REQUEST, "Bad request",
		    "Choose approve or deny.");
		return KORE_RESULT_OK;
	}
	approve = strcmp(decision, "approve") == 0;
	if (!http_argument_get_string(req, "reason", &reason)) {
		if (!approve) {
			web_error(req, HTTP_STATUS_BAD_REQUEST, "Reason needed",
			    "A denial needs a reason; the employee sees it.");
			return KORE_RESULT_OK;
		}
		reason = NULL;
	}
	/* ca/request.c: from pending only, the whole batch, audited. */
	if ((st = web_store(&e)) == NULL ||
	    request_officer_decide(st, op.name, id, approve, reason, &changed,
	    &e) != 0) {
		kore_log(LOG_ERR, "decide: %s", e.msg);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "The decision could not be stored. Try again.");
		return KORE_RESULT_OK;
	}
	if (!changed) {
		web_error(req, HTTP_STATUS_CONFLICT, "Already decided",
		    "This request is no longer pending; nothing was changed.");
		return KORE_RESULT_OK;
	}
	snprintf(url, sizeof(url), "/admin/requests/%lld", (long long)id);
	web_redirect(req, url);
	return KORE_RESULT_OK;
}

/* ---- certificates ---- */

int
web_admin_certs(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct tmpl_data	*d;
	struct err		 e;
	char			*mail = NULL, *serial = NULL, *state = NULL;
	int			 ok;

	if (!web_operator_ok(req, &s, &op, WEB_CAN_READ))
		return KORE_RESULT_OK;
	http_populate_get(req);
	http_argument_get_string(req, "mail", &mail);
	http_argument_get_string(req, "serial", &serial);
	http_argument_get_string(req, "state", &state);
	d = web_console_data(&s, &op);
	ok = d != NULL &&
	    tmpl_data_set(d, "q_mail", mail, &e) == 0 &&
	    tmpl_data_set(d, "q_serial", serial, &e) == 0 &&
	    tmpl_data_set(d, "state_valid", state != NULL &&
	    !strcmp(state, "valid") ? "yes" : "", &e) == 0 &&
	    tmpl_data_set(d, "state_revoked", state != NULL &&
	    !strcmp(state, "revoked") ? "yes" : "", &e) == 0 &&
	    tmpl_data_set(d, "state_expired", state != NULL &&
	    !strcmp(state, "expired") ? "yes" : "", &e) == 0 &&
	    wstore_cert_search(mail, serial, state, d, &e) == 0 &&
	    tmpl_data_set(d, "has_rows", tmpl_data_count(d, "certs") > 0 ?
	    "yes" : "", &e) == 0;
	web_console_page(req, d, ok, "admin_certs", "Certificates", &s, &e);
	return KORE_RESULT_OK;
}

int
web_admin_cert(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct tmpl_data	*d;
	struct err		 e;
	char			 serial[48];
	int			 found = 0, ok;

	if (!web_operator_ok(req, &s, &op, WEB_CAN_READ))
		return KORE_RESULT_OK;
	snprintf(serial, sizeof(serial), "%s",
	    req->path + strlen("/admin/certs/"));
	d = web_console_data(&s, &op);
	ok = d != NULL && wstore_cert(serial, d, &found, &e) == 0;
	if (ok && !found) {
		tmpl_data_free(d);
		return web_not_found(req);
	}
	/* Key recovery: the escrow, the recoveries, and for an officer the
	 * form that opens one (recovery.c). */
	if (ok && web_cfg.kra.enabled)
		ok = tmpl_data_set(d, "kra_on", "yes", &e) == 0 &&
		    tmpl_data_set(d, "officer_fetch", web_cfg.kra.officer_fetch ?
		    "yes" : "", &e) == 0 &&
		    wstore_cert_escrowed(serial, d, &e) == 0 &&
		    web_recoveries(tmpl_data_get(d, "email"), serial, d,
		    &e) == 0;
	web_console_page(req, d, ok, "admin_cert", "Certificate", &s, &e);
	return KORE_RESULT_OK;
}

static const char *const revoke_fields[] = { "csrf", "reason", NULL };

int
web_admin_revoke(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct store		*st;
	struct err		 e;
	struct tmpl_data	*d = NULL;
	char			 serial[48], *slash, url[96], actor[96],
				 msg[600];
	u_int16_t		 reason;
	int			 found = 0;

	if (!web_operator_ok(req, &s, &op, WEB_CAN_DECIDE))
		return KORE_RESULT_OK;
	snprintf(serial, sizeof(serial), "%s",
	    req->path + strlen("/admin/certs/"));
	if ((slash = strchr(serial, '/')) != NULL)
		*slash = '\0';
	if (web_post_ok(req, &s, revoke_fields, revoke_fields) == -1)
		return KORE_RESULT_OK;
	/* RFC 5280 5.3.1; the validator admits 0-5, 9 and 10 (no
	 * certificateHold or removeFromCRL under the S/MIME BR 4.9.1). */
	if (!http_argument_get_uint16(req, "reason", &reason)) {
		web_error(req, HTTP_STATUS_BAD_REQUEST, "Bad request",
		    "Choose a revocation reason.");
		return KORE_RESULT_OK;
	}
	/* Tell "nothing to revoke" apart from a failure before trying. */
	if ((d = tmpl_data_new()) == NULL ||
	    wstore_cert(serial, d, &found, &e) == -1) {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "The revocation could not be stored. Try again.");
		return KORE_RESULT_OK;
	}
	if (!found || strcmp(tmpl_data_get(d, "status"), "revoked") == 0) {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_CONFLICT, "Nothing to revoke",
		    "No such certificate, or it is already revoked.");
		return KORE_RESULT_OK;
	}
	tmpl_data_free(d);
	/* ca/revoke.c: audited, queues the publish job and wakes ca-serve's
	 * revocation service (new CRL, OCSP answers). */
	snprintf(actor, sizeof(actor), "operator:%s", op.name);
	if ((st = web_store(&e)) == NULL ||
	    revoke_cert(st, serial, reason, actor, &e) != 0) {
		kore_log(LOG_ERR, "revoke: %s", e.msg);
		snprintf(msg, sizeof(msg), "The certificate was not revoked: %s",
		    e.msg);
		web_error(req, HTTP_STATUS_CONFLICT, "Not revoked", msg);
		return KORE_RESULT_OK;
	}
	snprintf(url, sizeof(url), "/admin/certs/%s", serial);
	web_redirect(req, url);
	return KORE_RESULT_OK;
}

int
web_admin_audit(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct tmpl_data	*d;
	struct err		 e;
	u_int32_t		 page = 0;
	char			 n[16];
	int			 more = 0, ok;

	if (!web_operator_ok(req, &s, &op, WEB_CAN_READ))
		return KORE_RESULT_OK;
	http_populate_get(req);
	http_argument_get_uint32(req, "page", &page);
	d = web_console_data(&s, &op);
	ok = d != NULL && wstore_audit_page(page, AUDIT_PER_PAGE, d, &more,
	    &e) == 0;
	if (ok && page > 0) {
		snprintf(n, sizeof(n), "%u", page - 1);
		ok = tmpl_data_set(d, "newer", n, &e) == 0;
	}
	if (ok && more) {
		snprintf(n, sizeof(n), "%u", page + 1);
		ok = tmpl_data_set(d, "older", n, &e) == 0;
	}
	web_console_page(req, d, ok, "admin_audit", "Audit log", &s, &e);
	return KORE_RESULT_OK;
}
