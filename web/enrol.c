/*
 * enrol: an employee asks for a certificate, three ways (DESIGN.md, key
 * sources): a PKCS#10 made in the browser with WebCrypto and PKI.js
 * (POST /enrol/browser, answered in JSON for the page's script), a pasted
 * or uploaded CSR (POST /enrol/csr), or a key made here (POST
 * /enrol/server). Each writes a `submitted` request with ra_submit for
 * ca-serve to decide; the directory is read again at that moment (name,
 * mail, groups, the disabled marker) so the policy sees it as it is.
 * Directory, key generation and the database write run in a Kore task.
 *
 * With key recovery on ([kra] enabled = yes) every enrolment makes a pair
 * from one request (DESIGN.md, key recovery): a signing certificate for
 * the employee's own key (browser or CSR), never escrowed, and an
 * encryption certificate for a key the RA makes, sealed to the KRA and
 * kept for pickup under a password the employee chooses here
 * (kra_enrol_dual). "Make it for me" is then refused: a signing key must
 * never pass through the server.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/tasks.h>

#include "web.h"
#include "csr.h"
#include "kra.h"
#include "ra.h"
#include "store.h"

#define PASSWORD_MIN	10	/* protects a private key: NIST SP 800-63B 5.1.1 asks 8 */

enum enrol_way { WAY_BROWSER, WAY_CSR, WAY_SERVER };
enum enrol_outcome { OUT_OK, OUT_BAD, OUT_FAIL };

struct enrol_state {
	struct kore_task	 task;		/* first: the task entry casts */
	enum enrol_way		 way;
	char			 dn[512];
	char			 password[1025];
	u_int8_t		*csr;
	size_t			 csr_len;
	int			 dual;		/* key recovery: the pair */
	int64_t			 id;
	int64_t			 enc_id;	/* dual: the encryption request */
	enum enrol_outcome	 outcome;
	struct err		 err;
};

static void
enrol_state_free(struct http_request *req)
{
	struct enrol_state	*st = http_state_get(req);

	if (st == NULL)
		return;
	sodium_memzero(st->password, sizeof(st->password));
	free(st->csr);
	st->csr = NULL;
}

static const char *
way_source(enum enrol_way w)
{
	return w == WAY_BROWSER ? "browser" : w == WAY_CSR ? "csr" : "server";
}

/* Text of a pasted CSR: PEM as is; bare base64 (an uploaded DER the page
 * encoded) decoded to DER for csr_parse. */
static int
csr_bytes(const char *text, u_int8_t **out, size_t *len)
{
	size_t	 n = strlen(text);

	if (strstr(text, "-----BEGIN") != NULL) {
		if ((*out = malloc(n)) == NULL)
			return -1;
		memcpy(*out, text, n);
		*len = n;
		return 0;
	}
	if ((*out = malloc(n)) == NULL)
		return -1;
	if (sodium_base642bin(*out, n, text, n, " \t\r\n", len, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* The worker's submission queue (group commit, ca/ra.h), made at the
 * first enrolment; its task threads share it. */
static struct ra_queue	*enrol_queue;
static pthread_once_t	 enrol_queue_once = PTHREAD_ONCE_INIT;

static void
enrol_queue_make(void)
{
	struct err	e;

	enrol_queue = ra_queue_new(web_cfg.db, &e);
}

static int
enrol_task(struct kore_task *t)
{
	struct enrol_state	*st = (struct enrol_state *)t;
	struct web_person	 p;
	struct ra_request	 r;
	struct store		*db = NULL;
	struct csr		*c = NULL;
	const char		*groups[16];
	u_int8_t		*p8 = NULL;
	size_t			 p8_len = 0, i;
	char			 actor[160];

	st->outcome = OUT_FAIL;
	if (web_dir_lookup(web_cfg.ldap_uri, web_cfg.ldap_base, st->dn, &p,
	    &st->err) != 0)
		goto out;
	if (st->way == WAY_SERVER) {
		if (web_server_key(web_cfg.server_key_type, p.mail,
		    st->password, &st->csr, &st->csr_len, &p8, &p8_len,
		    &st->err) != 0)
			goto out;
	}
	for (i = 0; i < p.ngroups; i++)
		groups[i] = p.groups[i];
	memset(&r, 0, sizeof(r));
	r.source = way_source(st->way);
	r.via_ra = 1;
	r.authenticated = 1;
	r.account_disabled = p.disabled;
	r.requester = p.uid;
	r.requester_mail = p.mail;
	r.groups = groups;
	r.ngroups = p.ngroups;
	r.email = p.mail;
	r.display_name = p.display_name[0] != '\0' ? p.display_name : NULL;
	r.profile = "dual";
	r.csr = st->csr;
	r.csr_len = st->csr_len;
	r.key_pickup = p8;
	r.key_pickup_len = p8_len;
	snprintf(actor, sizeof(actor), "web:%s", p.uid);
	if (st->dual) {
		if ((db = store_open(web_cfg.db, &st->err)) == NULL)
			goto out;
		/* ca/kra.c: the encryption key made, sealed to the KRA and
		 * encrypted for pickup; both requests in one batch */
		switch (kra_enrol_dual(db, actor, web_cfg.server_key_type, &r,
		    st->password, &st->id, &st->enc_id, &st->err)) {
		case 0:
			break;
		case 1:
			st->outcome = OUT_BAD;	/* the employee's error */
			goto out;
		default:
			goto out;	/* OUT_FAIL: the service's */
		}
		st->outcome = OUT_OK;
		goto out;
	}
	/* Checked once here (the CSR's signature, its key, the mailbox), so
	 * that what is wrong with the request is the employee's error, told
	 * plainly, and a failure to store it is the service's. (The dual
	 * way's kra_enrol_dual checks it the same way.) */
	if ((c = ra_check(&r, &st->err)) == NULL) {
		st->outcome = OUT_BAD;
		goto out;
	}
	/* the worker's task threads commit their submissions together */
	pthread_once(&enrol_queue_once, enrol_queue_make);
	if (enrol_queue == NULL) {
		err_set(&st->err, "out of memory");
		goto out;
	}
	if (ra_queue_submit(enrol_queue, actor, &r, c, &st->id,
	    &st->err) != 0)
		goto out;	/* OUT_FAIL: the database's, not the employee's */
	st->outcome = OUT_OK;
out:
	sodium_memzero(st->password, sizeof(st->password));
	if (p8 != NULL) {
		sodium_memzero(p8, p8_len);
		free(p8);
	}
	csr_free(c);
	store_close(db);
	return KORE_RESULT_OK;
}

static void
enrol_json(struct http_request *req, int status, int64_t id, int64_t enc_id,
    const char *error)
{
	struct kore_buf	*b = kore_buf_alloc(256);
	char		 url[64];
	size_t		 len;
	u_int8_t	*data;

	if (error == NULL) {
		snprintf(url, sizeof(url), "/requests/%lld", (long long)id);
		kore_buf_appendf(b, "{\"id\":%lld,\"url\":", (long long)id);
		web_json_str(b, url);
		if (enc_id > 0)
			kore_buf_appendf(b, ",\"encryption_id\":%lld",
			    (long long)enc_id);
		kore_buf_append(b, "}", 1);
	} else {
		kore_buf_append(b, "{\"error\":", 9);
		web_json_str(b, error);
		kore_buf_append(b, "}", 1);
	}
	data = kore_buf_release(b, &len);
	web_headers(req, 1);
	http_response_header(req, "content-type",
	    "application/json; charset=utf-8");
	http_response(req, status, data, len);
	kore_free(data);
}

static int
enrol_finish(struct http_request *req, struct enrol_state *st)
{
	char	url[64], msg[700];

	switch (st->outcome) {
	case OUT_OK:
		if (st->way == WAY_BROWSER) {
			enrol_json(req, HTTP_STATUS_OK, st->id, st->enc_id, NULL);
			break;
		}
		snprintf(url, sizeof(url), "/requests/%lld", (long long)st->id);
		web_redirect(req, url);
		break;
	case OUT_BAD:
		snprintf(msg, sizeof(msg), "The request was not accepted: %s",
		    st->err.msg);
		if (st->way == WAY_BROWSER)
			enrol_json(req, HTTP_STATUS_BAD_REQUEST, 0, 0, msg);
		else
			web_error(req, HTTP_STATUS_BAD_REQUEST,
			    "Request not accepted", msg);
		break;
	default:
		kore_log(LOG_ERR, "enrol: %s", st->err.msg);
		if (st->way == WAY_BROWSER)
			enrol_json(req, HTTP_STATUS_SERVICE_UNAVAILABLE, 0, 0,
			    "The request could not be stored right now. Try "
			    "again shortly.");
		else
			web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
			    "Unavailable", "The request could not be stored "
			    "right now. Try again shortly.");
		break;
	}
	return KORE_RESULT_OK;
}

static const char *const csr_fields[] = { "csrf", "csr", NULL };
static const char *const dual_fields[] = { "csrf", "csr", "password",
    "password2", NULL };
static const char *const server_fields[] = { "csrf", "password", "password2",
    NULL };

/* The pickup password of a server-made key, typed twice. */
static const char *
password_problem(struct http_request *req, char **pw, char **pw2)
{
	if (!http_argument_get_string(req, "password", pw) ||
	    !http_argument_get_string(req, "password2", pw2))
		return "Choose a password and type it twice.";
	if (strlen(*pw) < PASSWORD_MIN)
		return "The password must have at least 10 characters.";
	if (strcmp(*pw, *pw2) != 0)
		return "The two passwords are not the same.";
	return NULL;
}

static int
enrol_start(struct http_request *req, enum enrol_way way)
{
	struct web_session	 s;
	struct enrol_state	*st;
	char			*csr = NULL, *pw = NULL, *pw2 = NULL, why[160];
	const char		*problem = NULL;
	int			 rc = KORE_RESULT_OK, dual = web_cfg.kra.enabled;

	if (!web_session_get(req, &s) || strcmp(s.kind, "employee") != 0) {
		if (way == WAY_BROWSER)
			enrol_json(req, HTTP_STATUS_UNAUTHORIZED, 0, 0,
			    "Your session has ended. Sign in again.");
		else
			web_redirect(req, "/login");
		return KORE_RESULT_OK;
	}
	if (way == WAY_SERVER && dual) {
		web_error(req, HTTP_STATUS_CONFLICT, "Not offered here",
		    "With key recovery on, your signing key is made by you, in "
		    "your browser or with your own request (CSR); the server "
		    "makes only your encryption key. Choose one of the other "
		    "ways on the enrolment page.");
		return KORE_RESULT_OK;
	}
	if (way == WAY_SERVER) {
		if (web_post_ok(req, &s, server_fields, server_fields) == -1)
			return KORE_RESULT_OK;
	} else {
		/* The PEM's line breaks need the form reader's own decoder. */
		if (web_form_ex(req, dual ? dual_fields : csr_fields,
		    csr_fields, "csr", &csr) == -1)
			return KORE_RESULT_OK;
		if (!web_csrf_ok(req, s.csrf)) {
			kore_free(csr);
			web_error(req, HTTP_STATUS_FORBIDDEN, "Form expired",
			    "This request did not carry this session's form "
			    "token. Reload the page and try again.");
			return KORE_RESULT_OK;
		}
	}

	if (way != WAY_SERVER && csr == NULL)
		problem = "Paste a certificate request (PEM) or choose a file.";
	else if (way == WAY_SERVER || dual)
		problem = password_problem(req, &pw, &pw2);
	if (problem != NULL && dual && way != WAY_SERVER && csr != NULL) {
		/* say which password: the signing key has none here */
		snprintf(why, sizeof(why), "The password of your encryption "
		    "key: %s", problem);
		problem = why;
	}
	if (problem != NULL)
		goto refuse;

	st = http_state_create(req, sizeof(*st), enrol_state_free);
	st->way = way;
	st->dual = dual;
	snprintf(st->dn, sizeof(st->dn), "%s", s.subject);
	if (pw != NULL) {
		snprintf(st->password, sizeof(st->password), "%s", pw);
		sodium_memzero(pw, strlen(pw));
		sodium_memzero(pw2, strlen(pw2));
	}
	if (way != WAY_SERVER && csr_bytes(csr, &st->csr, &st->csr_len) == -1) {
		problem = "The request is neither PEM nor base64-encoded DER.";
		goto refuse;
	}
	kore_task_create(&st->task, enrol_task);
	kore_task_bind_request(&st->task, req);
	kore_task_run(&st->task);
	http_request_sleep(req);
	rc = KORE_RESULT_RETRY;
	goto out;
refuse:
	if (way == WAY_BROWSER)
		enrol_json(req, HTTP_STATUS_BAD_REQUEST, 0, 0, problem);
	else
		web_error(req, HTTP_STATUS_BAD_REQUEST, "Request not accepted",
		    problem);
out:
	kore_free(csr);
	return rc;
}

static int
enrol_post(struct http_request *req, enum enrol_way way)
{
	struct enrol_state	*st;

	if (!http_state_exists(req))
		return enrol_start(req, way);
	st = http_state_get(req);
	if (kore_task_state(&st->task) != KORE_TASK_STATE_FINISHED) {
		http_request_sleep(req);
		return KORE_RESULT_RETRY;
	}
	return enrol_finish(req, st);
}

int
web_enrol_browser(struct http_request *req)
{
	return enrol_post(req, WAY_BROWSER);
}

int
web_enrol_csr(struct http_request *req)
{
	return enrol_post(req, WAY_CSR);
}

int
web_enrol_server(struct http_request *req)
{
	return enrol_post(req, WAY_SERVER);
}

int
web_enrol(struct http_request *req)
{
	struct web_session	 s;
	struct tmpl_data	*d;
	struct err		 e;

	if (!web_employee(req, &s))
		return KORE_RESULT_OK;
	if ((d = tmpl_data_new()) == NULL ||
	    tmpl_data_set(d, "name", s.display_name, &e) == -1 ||
	    tmpl_data_set(d, "mail", s.mail, &e) == -1 ||
	    tmpl_data_set(d, "csrf", s.csrf, &e) == -1 ||
	    tmpl_data_set(d, "server_key_type", web_cfg.server_key_type,
	    &e) == -1 ||
	    tmpl_data_set(d, "kra_on", web_cfg.kra.enabled ? "yes" : "",
	    &e) == -1) {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_INTERNAL_ERROR, "Error",
		    "The page could not be built.");
		return KORE_RESULT_OK;
	}
	web_page(req, HTTP_STATUS_OK, "enrol", "Get a certificate", d, &s);
	tmpl_data_free(d);
	return KORE_RESULT_OK;
}
