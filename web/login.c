/*
 * login: employee sign-in with directory credentials, and sign-out.
 *
 * POST /login refuses an empty password before the directory is asked,
 * throttles by account and by client address (web_login_failures), and
 * runs the blocking LDAP search and bind in a Kore task so the worker's
 * event loop never waits on the directory (DESIGN.md, processes).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/tasks.h>

#include "web.h"

#define HTTP_STATUS_TOO_MANY_REQUESTS	429	/* RFC 6585 4 */

struct login_state {
	struct kore_task	 task;		/* first: the task entry casts */
	char			 login[256];
	char			 password[1025];
	struct web_person	 person;
	enum web_auth_result	 result;
	struct err		 err;
};

static const char *const login_fields[] = { "login", "password", "csrf",
    NULL };

static void
login_state_free(struct http_request *req)
{
	struct login_state	*st = http_state_get(req);

	if (st != NULL)
		sodium_memzero(st->password, sizeof(st->password));
}

static int
login_task(struct kore_task *t)
{
	struct login_state	*st = (struct login_state *)t;

	st->result = web_dir_authenticate(web_cfg.ldap_uri, web_cfg.ldap_base,
	    st->login, st->password, &st->person, &st->err);
	sodium_memzero(st->password, sizeof(st->password));
	return KORE_RESULT_OK;
}

static void
login_page(struct http_request *req, int status, const char *login,
    const char *error, const char *flash)
{
	struct tmpl_data	*d;
	struct err		 e;

	if ((d = tmpl_data_new()) == NULL ||
	    tmpl_data_set(d, "csrf", web_prelogin_token(req), &e) == -1 ||
	    tmpl_data_set(d, "login", login, &e) == -1 ||
	    tmpl_data_set(d, "error", error, &e) == -1 ||
	    tmpl_data_set(d, "flash", flash, &e) == -1) {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_INTERNAL_ERROR, "Error",
		    "The page could not be built.");
		return;
	}
	/* The login form carries a token; never let a cache keep it. */
	http_response_header(req, "cache-control", "no-store");
	web_page(req, status, "login", "Sign in", d, NULL);
	tmpl_data_free(d);
}

static int
login_form(struct http_request *req)
{
	struct web_session	s;

	if (web_session_get(req, &s)) {
		web_redirect(req, "/");
		return KORE_RESULT_OK;
	}
	login_page(req, HTTP_STATUS_OK, NULL, NULL, NULL);
	return KORE_RESULT_OK;
}

static void
locked_out(struct http_request *req, const char *login)
{
	char	msg[256];

	snprintf(msg, sizeof(msg), "Too many failed sign-ins. This account "
	    "is locked for %d minutes; try again later or ask the help desk.",
	    web_cfg.failure_window_minutes);
	login_page(req, HTTP_STATUS_TOO_MANY_REQUESTS, login, msg, NULL);
}

static int
login_start(struct http_request *req)
{
	struct login_state	*st;
	char			 account[256], client[64], *login,
				*password, *cookie;
	int			 acc_n, cli_n;
	size_t			 i;
	struct err		 e;

	if (web_form(req, login_fields, login_fields) == -1)
		return KORE_RESULT_OK;

	/* Login CSRF: the form must echo the pre-login cookie. */
	http_populate_cookies(req);
	if (!http_request_cookie(req, WEB_PRELOGIN_COOKIE, &cookie) ||
	    !web_csrf_ok(req, cookie)) {
		web_error(req, HTTP_STATUS_FORBIDDEN, "Form expired",
		    "This form has expired or did not come from this site. "
		    "Reload the sign-in page and try again.");
		return KORE_RESULT_OK;
	}
	if (!http_argument_get_string(req, "login", &login))
		login = "";
	if (!http_argument_get_string(req, "password", &password))
		password = "";
	if (*login == '\0') {
		login_page(req, HTTP_STATUS_BAD_REQUEST, "",
		    "Enter your mail address or user name.", NULL);
		return KORE_RESULT_OK;
	}
	if (*password == '\0') {
		login_page(req, HTTP_STATUS_BAD_REQUEST, login,
		    "Enter your password.", NULL);
		return KORE_RESULT_OK;
	}

	for (i = 0; login[i] != '\0' && i < sizeof(account) - 1; i++)
		account[i] = tolower((unsigned char)login[i]);
	account[i] = '\0';
	web_client_addr(req, client, sizeof(client));
	if (wstore_failures_count(account, client,
	    web_cfg.failure_window_minutes, &acc_n, &cli_n, &e) == -1) {
		kore_log(LOG_ERR, "login: %s", e.msg);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "Sign-in is unavailable right now. Try again shortly.");
		return KORE_RESULT_OK;
	}
	if (acc_n >= web_cfg.max_account_failures ||
	    cli_n >= web_cfg.max_client_failures) {
		locked_out(req, login);
		return KORE_RESULT_OK;
	}

	st = http_state_create(req, sizeof(*st), login_state_free);
	snprintf(st->login, sizeof(st->login), "%s", login);
	snprintf(st->password, sizeof(st->password), "%s", password);
	sodium_memzero(password, strlen(password));
	kore_task_create(&st->task, login_task);
	kore_task_bind_request(&st->task, req);
	kore_task_run(&st->task);
	http_request_sleep(req);
	return KORE_RESULT_RETRY;
}

static int
login_finish(struct http_request *req, struct login_state *st)
{
	char		 account[256], client[64];
	size_t		 i;
	int		 acc_n, cli_n;
	struct err	 e;

	for (i = 0; st->login[i] != '\0' && i < sizeof(account) - 1; i++)
		account[i] = tolower((unsigned char)st->login[i]);
	account[i] = '\0';
	web_client_addr(req, client, sizeof(client));

	switch (st->result) {
	case WEB_AUTH_OK:
		if (wstore_failures_clear(account, &e) == -1)
			kore_log(LOG_ERR, "login: %s", e.msg);
		if (web_session_start(req, "employee", st->person.dn,
		    st->person.uid,
		    st->person.display_name, st->person.mail) == -1) {
			web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
			    "Unavailable", "Sign-in is unavailable right now. "
			    "Try again shortly.");
			break;
		}
		web_redirect(req, "/");
		break;
	case WEB_AUTH_BAD:
		if (wstore_failure_add(account, client, &e) == -1 ||
		    wstore_failures_count(account, client,
		    web_cfg.failure_window_minutes, &acc_n, &cli_n, &e) == -1) {
			kore_log(LOG_ERR, "login: %s", e.msg);
			acc_n = cli_n = 0;
		}
		if (acc_n >= web_cfg.max_account_failures ||
		    cli_n >= web_cfg.max_client_failures) {
			locked_out(req, st->login);
			break;
		}
		login_page(req, HTTP_STATUS_UNAUTHORIZED, st->login,
		    "The mail address, user name or password is not correct.",
		    NULL);
		break;
	case WEB_AUTH_DISABLED:
		login_page(req, HTTP_STATUS_FORBIDDEN, st->login,
		    "This account is disabled in the directory. Ask the help "
		    "desk if you need access.", NULL);
		break;
	case WEB_AUTH_ERROR:
	default:
		kore_log(LOG_ERR, "login: %s", st->err.msg);
		login_page(req, HTTP_STATUS_SERVICE_UNAVAILABLE, st->login,
		    "The directory cannot be reached right now. Try again "
		    "shortly.", NULL);
		break;
	}
	return KORE_RESULT_OK;
}

static int
login_post(struct http_request *req)
{
	struct login_state	*st;

	if (!http_state_exists(req))
		return login_start(req);
	st = http_state_get(req);
	if (kore_task_state(&st->task) != KORE_TASK_STATE_FINISHED) {
		http_request_sleep(req);
		return KORE_RESULT_RETRY;
	}
	return login_finish(req, st);
}

static const char *const logout_fields[] = { "csrf", NULL };

int
web_logout(struct http_request *req)
{
	struct web_session	s;

	if (!web_session_get(req, &s)) {
		web_redirect(req, "/login");
		return KORE_RESULT_OK;
	}
	if (web_form(req, logout_fields, logout_fields) == -1)
		return KORE_RESULT_OK;
	if (!web_csrf_ok(req, s.csrf)) {
		web_error(req, HTTP_STATUS_FORBIDDEN, "Form expired",
		    "This request did not carry this session's form token. "
		    "Reload the page and try again.");
		return KORE_RESULT_OK;
	}
	web_session_end(req, &s);
	login_page(req, HTTP_STATUS_OK, NULL, NULL, "You have signed out.");
	return KORE_RESULT_OK;
}

/* GET shows the form, POST signs in: one path, as a browser expects. */
int
web_login(struct http_request *req)
{
	if (req->method == HTTP_METHOD_POST)
		return login_post(req);
	return login_form(req);
}
