/*
 * recovery: key recovery on the site (issue 7 item 4; the scheme and its
 * threat model are in ca/kra.h).
 *
 *   owner      the home page lists recoveries of their certificates
 *              (state, reason, when); once approved, POST
 *              /recoveries/ID/fetch with the one-time password downloads
 *              the recovered PKCS#12, once.
 *   officer    opens a recovery from the console's certificate page
 *              (reason required); downloads one for a departed employee
 *              only where [kra] officer_fetch = yes (enforced in ca/kra.c).
 *   agent      (role recovery-agent) sees the recoveries at
 *              /admin/recoveries and approves with their KRA passphrase;
 *              argon2id and the M-th approval's rebuild run in a Kore task.
 *
 * Who learns the one-time password. The M-th approving agent sees it once,
 * on the page that answers their approval, and passes it to the owner out
 * of band (in person or by telephone); the site never shows it to the
 * owner. This is the safer choice: the recovered PKCS#12 waits in the
 * database beside only a hash of its random password, so to show the
 * password to the owner later the site would have to keep it recoverable
 * next to the file, and whoever can read the database (an administrator,
 * a backup) would hold both halves. As it is, the file reaches only the
 * signed-in owner (their directory password and session) and the password
 * only through a person who is one of the M agents -- two channels, and
 * the agent alone never gets the file through the site.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <sodium.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/tasks.h>

#include "web.h"
#include "kra.h"
#include "store.h"

/* ---- the list ---- */

struct rec_ctx {
	struct tmpl_data	*d;
	const char		*serial;
	struct err		*e;
};

static const char *
state_words(const char *state)
{
	if (strcmp(state, "open") == 0)
		return "waiting for the recovery agents' approval";
	if (strcmp(state, "approved") == 0)
		return "recovered: ready to download once";
	if (strcmp(state, "fetched") == 0)
		return "downloaded";
	return "expired before enough agents approved; nothing was recovered";
}

static int
rec_row(void *arg, const struct kra_recovery *r)
{
	struct rec_ctx		*c = arg;
	struct tmpl_data	*row;
	char			 n[32], at[32], until[32], count[32];

	if (c->serial != NULL && strcmp(r->serial, c->serial) != 0)
		return 0;
	snprintf(n, sizeof(n), "%lld", (long long)r->id);
	strftime(at, sizeof(at), "%Y-%m-%d %H:%M", gmtime(&r->opened_at));
	strftime(until, sizeof(until), "%Y-%m-%d %H:%M",
	    gmtime(&r->window_expires));
	snprintf(count, sizeof(count), "%u of %u", r->approvals, r->threshold);
	if ((row = tmpl_data_add_row(c->d, "recoveries", c->e)) == NULL ||
	    tmpl_data_set(row, "rec_id", n, c->e) == -1 ||
	    tmpl_data_set(row, "rec_serial", r->serial, c->e) == -1 ||
	    tmpl_data_set(row, "rec_email", r->email, c->e) == -1 ||
	    tmpl_data_set(row, "rec_reason", r->reason, c->e) == -1 ||
	    tmpl_data_set(row, "rec_opened_by", r->opened_by, c->e) == -1 ||
	    tmpl_data_set(row, "rec_opened_at", at, c->e) == -1 ||
	    tmpl_data_set(row, "rec_window", until, c->e) == -1 ||
	    tmpl_data_set(row, "rec_state", r->state, c->e) == -1 ||
	    tmpl_data_set(row, "rec_state_words", state_words(r->state),
	    c->e) == -1 ||
	    tmpl_data_set(row, "rec_approvals", count, c->e) == -1 ||
	    tmpl_data_set(row, "rec_is_open", strcmp(r->state, "open") == 0 ?
	    "yes" : "", c->e) == -1 ||
	    tmpl_data_set(row, "rec_is_ready", strcmp(r->state, "approved") ==
	    0 ? "yes" : "", c->e) == -1)
		return -1;
	return 0;
}

int
web_recoveries(const char *email, const char *serial, struct tmpl_data *d,
    struct err *e)
{
	struct rec_ctx	 c = { d, serial, e };
	struct store	*st;

	if ((st = web_store(e)) == NULL ||
	    kra_recovery_list(st, email, rec_row, &c, e) != 0)
		return -1;
	return tmpl_data_set(d, "has_recoveries", tmpl_data_count(d,
	    "recoveries") > 0 ? "yes" : "", e);
}

/* ---- shared pieces ---- */

/* The number in /PREFIX<n>/... (routes admit digits only). */
static int64_t
path_id(struct http_request *req, const char *prefix)
{
	long long	 v;
	char		*end;

	errno = 0;
	v = strtoll(req->path + strlen(prefix), &end, 10);
	if (errno != 0 || end == req->path + strlen(prefix) || v <= 0)
		return -1;
	return v;
}

/* The one-time password as typed: case and spaces or dashes between
 * groups do not matter (the password is lower-case base32, kra.c). */
static void
otp_normalise(const char *in, char *out, size_t len)
{
	size_t	n = 0;

	for (; *in != '\0' && n + 1 < len; in++)
		if (*in != ' ' && *in != '-')
			out[n++] = (char)tolower((unsigned char)*in);
	out[n] = '\0';
}

static void
send_p12(struct http_request *req, const char *serial, gnutls_datum_t *p12)
{
	char	cd[160];

	web_headers(req, 1);
	http_response_header(req, "content-type", "application/x-pkcs12");
	snprintf(cd, sizeof(cd), "attachment; filename=\"recovered-%s.p12\"",
	    serial);
	http_response_header(req, "content-disposition", cd);
	http_response(req, HTTP_STATUS_OK, p12->data, p12->size);
	gnutls_memset(p12->data, 0, p12->size);
	gnutls_free(p12->data);
	p12->data = NULL;
}

static const char *const fetch_fields[] = { "csrf", "otp", NULL };

/*
 * Reads the one-time password of a fetch form and runs the fetch for the
 * owner (owner_email) or an officer (NULL); sends the answer.
 */
static void
fetch_and_send(struct http_request *req, int64_t id, const char *serial,
    const char *actor, const char *owner_email)
{
	gnutls_datum_t	 p12 = { NULL, 0 };
	struct store	*st;
	struct err	 e;
	char		*typed, otp[80], msg[700];

	if (!http_argument_get_string(req, "otp", &typed)) {
		web_error(req, HTTP_STATUS_BAD_REQUEST, "Password needed",
		    "Type the one-time password the recovery agent gave you.");
		return;
	}
	otp_normalise(typed, otp, sizeof(otp));
	sodium_memzero(typed, strlen(typed));
	if ((st = web_store(&e)) == NULL ||
	    kra_recovery_fetch_as(st, &web_cfg.kra, actor, id, owner_email,
	    otp, &p12, &e) != 0) {
		sodium_memzero(otp, sizeof(otp));
		kore_log(LOG_NOTICE, "recovery %lld fetch by %s: %s",
		    (long long)id, actor, e.msg);
		snprintf(msg, sizeof(msg), "The recovered key was not handed "
		    "over: %s. Nothing was deleted.", e.msg);
		web_error(req, HTTP_STATUS_FORBIDDEN, "Not downloaded", msg);
		return;
	}
	sodium_memzero(otp, sizeof(otp));
	send_p12(req, serial, &p12);
}

/* ---- the owner ---- */

struct find_ctx {
	int64_t	 id;
	char	 serial[48];
	char	 state[16];
	int	 found;
};

static int
find_row(void *arg, const struct kra_recovery *r)
{
	struct find_ctx	*f = arg;

	if (r->id != f->id)
		return 0;
	snprintf(f->serial, sizeof(f->serial), "%s", r->serial);
	snprintf(f->state, sizeof(f->state), "%s", r->state);
	f->found = 1;
	return 0;
}

/* One recovery by id among those of email's certificates (all: NULL). */
static int
find_recovery(int64_t id, const char *email, struct find_ctx *f,
    struct err *e)
{
	struct store	*st;

	memset(f, 0, sizeof(*f));
	f->id = id;
	if ((st = web_store(e)) == NULL)
		return -1;
	return kra_recovery_list(st, email, find_row, f, e);
}

/* The state says plainly why there is nothing to download; 1 when so
 * (the answer is sent). */
static int
not_ready(struct http_request *req, const struct find_ctx *f)
{
	char	msg[300];

	if (strcmp(f->state, "approved") == 0)
		return 0;
	snprintf(msg, sizeof(msg), "This recovery is %s.",
	    state_words(f->state));
	web_error(req, HTTP_STATUS_CONFLICT, "Nothing to download", msg);
	return 1;
}

int
web_recovery_fetch(struct http_request *req)
{
	struct web_session	 s;
	struct find_ctx		 f;
	struct err		 e;
	char			 actor[160];
	int64_t			 id;

	if (!web_employee(req, &s))
		return KORE_RESULT_OK;
	if (!web_cfg.kra.enabled || (id = path_id(req, "/recoveries/")) == -1)
		return web_not_found(req);
	if (web_post_ok(req, &s, fetch_fields, fetch_fields) == -1)
		return KORE_RESULT_OK;
	if (find_recovery(id, s.mail, &f, &e) != 0) {
		kore_log(LOG_ERR, "recovery fetch: %s", e.msg);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "Try again shortly.");
		return KORE_RESULT_OK;
	}
	/* Another person's recovery looks exactly like none at all; ca/kra.c
	 * checks the owner again inside the fetch's transaction. */
	if (!f.found)
		return web_not_found(req);
	if (not_ready(req, &f))
		return KORE_RESULT_OK;
	snprintf(actor, sizeof(actor), "employee:%s", s.uid);
	fetch_and_send(req, id, f.serial, actor, s.mail);
	return KORE_RESULT_OK;
}

/* ---- the console ---- */

static const char *const recover_fields[] = { "csrf", "reason", NULL };

int
web_admin_recover(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct store		*st;
	struct err		 e;
	char			 serial[48], *slash, *reason, actor[96],
				 url[96], msg[700];
	int64_t			 id;

	if (!web_operator_ok(req, &s, &op, WEB_CAN_DECIDE))
		return KORE_RESULT_OK;
	if (!web_cfg.kra.enabled)
		return web_not_found(req);
	snprintf(serial, sizeof(serial), "%s",
	    req->path + strlen("/admin/certs/"));
	if ((slash = strchr(serial, '/')) != NULL)
		*slash = '\0';
	if (web_post_ok(req, &s, recover_fields, recover_fields) == -1)
		return KORE_RESULT_OK;
	if (!http_argument_get_string(req, "reason", &reason)) {
		web_error(req, HTTP_STATUS_BAD_REQUEST, "Reason needed",
		    "A recovery needs a reason; the owner and the recovery "
		    "agents read it.");
		return KORE_RESULT_OK;
	}
	snprintf(actor, sizeof(actor), "operator:%s", op.name);
	if ((st = web_store(&e)) == NULL ||
	    kra_recovery_open(st, &web_cfg.kra, actor, serial, reason, &id,
	    &e) != 0) {
		kore_log(LOG_NOTICE, "recovery open %s: %s", serial, e.msg);
		snprintf(msg, sizeof(msg), "No recovery was opened: %s", e.msg);
		web_error(req, HTTP_STATUS_CONFLICT, "Not opened", msg);
		return KORE_RESULT_OK;
	}
	snprintf(url, sizeof(url), "/admin/certs/%s", serial);
	web_redirect(req, url);
	return KORE_RESULT_OK;
}

int
web_admin_recoveries(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct tmpl_data	*d;
	struct err		 e;
	int			 ok;

	if (!web_operator_ok(req, &s, &op, 0))
		return KORE_RESULT_OK;
	d = web_console_data(&s, &op);
	ok = d != NULL &&
	    tmpl_data_set(d, "kra_on", web_cfg.kra.enabled ? "yes" : "",
	    &e) == 0 &&
	    tmpl_data_set(d, "officer_fetch", web_cfg.kra.officer_fetch ?
	    "yes" : "", &e) == 0 &&
	    (!web_cfg.kra.enabled || web_recoveries(NULL, NULL, d, &e) == 0);
	web_console_page(req, d, ok, "admin_recoveries", "Key recoveries", &s,
	    &e);
	return KORE_RESULT_OK;
}

/* An agent's approval: argon2id on the passphrase (and, at the M-th, the
 * rebuild and the PKCS#12) take a good part of a second: a task, on its
 * own database connection. */
struct approve_state {
	struct kore_task	 task;		/* first: the task entry casts */
	int64_t			 id;
	struct web_session	 s;		/* for the answer page */
	struct web_operator	 op;
	char			 agent[64];
	char			 passphrase[1025];
	char			*otp;
	int			 result;	/* kra_recovery_approve's */
	struct err		 err;
};

static void
approve_state_free(struct http_request *req)
{
	struct approve_state	*st = http_state_get(req);

	if (st == NULL)
		return;
	sodium_memzero(st->passphrase, sizeof(st->passphrase));
	kra_otp_free(st->otp);
	st->otp = NULL;
}

static int
approve_task(struct kore_task *t)
{
	struct approve_state	*st = (struct approve_state *)t;
	struct store		*db;
	char			 actor[96];

	st->result = -1;
	if ((db = store_open(web_cfg.db, &st->err)) != NULL) {
		snprintf(actor, sizeof(actor), "operator:%s", st->agent);
		st->result = kra_recovery_approve(db, &web_cfg.kra, actor,
		    st->id, st->agent, st->passphrase, &st->otp, &st->err);
		store_close(db);
	}
	sodium_memzero(st->passphrase, sizeof(st->passphrase));
	return KORE_RESULT_OK;
}

static const char *const approve_fields[] = { "csrf", "passphrase", NULL };

static int
approve_start(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct approve_state	*st;
	char			*pass;
	int64_t			 id;

	if (!web_operator_ok(req, &s, &op, WEB_CAN_RECOVER))
		return KORE_RESULT_OK;
	if (!web_cfg.kra.enabled ||
	    (id = path_id(req, "/admin/recoveries/")) == -1)
		return web_not_found(req);
	if (web_post_ok(req, &s, approve_fields, approve_fields) == -1)
		return KORE_RESULT_OK;
	if (!http_argument_get_string(req, "passphrase", &pass)) {
		web_error(req, HTTP_STATUS_BAD_REQUEST, "Passphrase needed",
		    "Type your recovery agent passphrase.");
		return KORE_RESULT_OK;
	}
	st = http_state_create(req, sizeof(*st), approve_state_free);
	st->id = id;
	st->s = s;
	st->op = op;
	/* the agent is the signed-in operator, never a name from the form */
	snprintf(st->agent, sizeof(st->agent), "%s", op.name);
	snprintf(st->passphrase, sizeof(st->passphrase), "%s", pass);
	sodium_memzero(pass, strlen(pass));
	kore_task_create(&st->task, approve_task);
	kore_task_bind_request(&st->task, req);
	kore_task_run(&st->task);
	http_request_sleep(req);
	return KORE_RESULT_RETRY;
}

static int
approve_finish(struct http_request *req, struct approve_state *st)
{
	struct tmpl_data	*d;
	struct err		 e;
	char			 n[32], msg[700];
	int			 ok;

	if (st->result < 0) {
		kore_log(LOG_NOTICE, "recovery %lld approve by %s: %s",
		    (long long)st->id, st->agent, st->err.msg);
		snprintf(msg, sizeof(msg), "The approval was not recorded: %s.",
		    st->err.msg);
		web_error(req, HTTP_STATUS_FORBIDDEN, "Not approved", msg);
		return KORE_RESULT_OK;
	}
	/* No second look at the session: the M-th approval has made the
	 * PKCS#12, and its password exists only in this answer. */
	snprintf(n, sizeof(n), "%lld", (long long)st->id);
	d = web_console_data(&st->s, &st->op);
	ok = d != NULL && tmpl_data_set(d, "rec_id", n, &e) == 0 &&
	    (st->result == 0 || tmpl_data_set(d, "otp", st->otp, &e) == 0);
	/* Shown once: the page is never cached (web_headers, no-store). */
	web_console_page(req, d, ok, "admin_recovery_done", st->result == 1 ?
	    "Key recovered" : "Approval recorded", &st->s, &e);
	return KORE_RESULT_OK;
}

int
web_admin_approve(struct http_request *req)
{
	struct approve_state	*st;

	if (!http_state_exists(req))
		return approve_start(req);
	st = http_state_get(req);
	if (kore_task_state(&st->task) != KORE_TASK_STATE_FINISHED) {
		http_request_sleep(req);
		return KORE_RESULT_RETRY;
	}
	return approve_finish(req, st);
}

int
web_admin_recovery_fetch(struct http_request *req)
{
	struct web_session	 s;
	struct web_operator	 op;
	struct find_ctx		 f;
	struct err		 e;
	char			 actor[96];
	int64_t			 id;

	if (!web_operator_ok(req, &s, &op, WEB_CAN_DECIDE))
		return KORE_RESULT_OK;
	if (!web_cfg.kra.enabled ||
	    (id = path_id(req, "/admin/recoveries/")) == -1)
		return web_not_found(req);
	if (web_post_ok(req, &s, fetch_fields, fetch_fields) == -1)
		return KORE_RESULT_OK;
	if (find_recovery(id, NULL, &f, &e) != 0) {
		kore_log(LOG_ERR, "recovery fetch: %s", e.msg);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "Try again shortly.");
		return KORE_RESULT_OK;
	}
	if (!f.found)
		return web_not_found(req);
	if (not_ready(req, &f))
		return KORE_RESULT_OK;
	/* ca/kra.c refuses unless [kra] officer_fetch = yes */
	snprintf(actor, sizeof(actor), "operator:%s", op.name);
	fetch_and_send(req, id, f.serial, actor, NULL);
	return KORE_RESULT_OK;
}

/* What a one-time password may look like as typed (otp_normalise). */
int
web_v_otp(struct http_request *req, const void *data)
{
	const unsigned char	*p = data;
	size_t			 n = 0;

	for (; *p != '\0'; p++, n++)
		if (n >= 64 || !(isalnum(*p) || *p == ' ' || *p == '-'))
			return KORE_RESULT_ERROR;
	return KORE_RESULT_OK;
}
