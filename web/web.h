/*
 * web: the signet-web Kore module (the registration authority's front).
 *
 * One header for the module's internal interface. Files:
 *   main.c     start-up, seccomp, security headers, page rendering, forms,
 *              static files, errors
 *   session.c  session tokens, cookies, CSRF checks
 *   login.c    employee login and logout (LDAP in a Kore task)
 *   dir.c      the directory: find a person, check a password (blocking;
 *              called only from task threads)
 *   wstore.c   every SQL statement of signet-web
 *   pages.c    signed-in pages
 *   tmpl.c     the template renderer (no Kore dependency)
 */
#ifndef SIGNET_WEB_H
#define SIGNET_WEB_H

#include <kore/kore.h>
#include <kore/http.h>

#include "err.h"
#include "tmpl.h"

#define WEB_DB			"signet"	/* kore_pgsql database name */
#define WEB_TOKEN_LEN		32		/* 256-bit session token */
#define WEB_TOKEN_HEX		(WEB_TOKEN_LEN * 2)
#define WEB_SESSION_COOKIE	"signet_session"
#define WEB_PRELOGIN_COOKIE	"signet_prelogin"

/* Settings read from the environment at start-up (see signet-web.conf.in). */
struct web_config {
	const char	*ldap_uri;		/* SIGNET_LDAP_URI */
	const char	*ldap_base;		/* SIGNET_LDAP_BASE */
	int		 session_hours;		/* SIGNET_SESSION_HOURS, 8 */
	int		 idle_minutes;		/* SIGNET_SESSION_IDLE_MINUTES, 30 */
	int		 max_account_failures;	/* SIGNET_LOGIN_MAX_FAILURES, 5 */
	int		 max_client_failures;	/* SIGNET_LOGIN_MAX_CLIENT_FAILURES, 20 */
	int		 failure_window_minutes;/* SIGNET_LOGIN_WINDOW_MINUTES, 15 */
};

extern struct web_config	 web_cfg;

/* A signed-in person (or operator), as stored in web_sessions. */
struct web_session {
	char	kind[16];		/* employee | operator */
	char	subject[512];		/* directory DN or operator name */
	char	display_name[256];
	char	mail[256];
	char	csrf[WEB_TOKEN_HEX + 1];
	u_int8_t token_hash[32];
};

/* main.c */
void	web_headers(struct http_request *, int authenticated);
void	web_page(struct http_request *, int status, const char *tmpl,
	    const char *title, struct tmpl_data *, const struct web_session *);
void	web_error(struct http_request *, int status, const char *heading,
	    const char *message);
void	web_redirect(struct http_request *, const char *to);
int	web_form(struct http_request *, const char *const *allowed,
	    const char *const *required);
void	web_client_addr(struct http_request *, char *, size_t);

/* session.c */
int	web_session_get(struct http_request *, struct web_session *);
int	web_session_start(struct http_request *, const char *kind,
	    const char *subject, const char *name, const char *mail);
void	web_session_end(struct http_request *, const struct web_session *);
int	web_csrf_ok(struct http_request *, const char *expected);
void	web_random_hex(char *out, size_t bytes);
const char *web_prelogin_token(struct http_request *);

/* dir.c: blocking; task threads only. */
struct web_person {
	char	dn[512];
	char	uid[128];
	char	display_name[256];
	char	mail[256];
	int	disabled;
};
enum web_auth_result { WEB_AUTH_OK, WEB_AUTH_BAD, WEB_AUTH_DISABLED,
    WEB_AUTH_ERROR };
enum web_auth_result web_dir_authenticate(const char *uri, const char *base,
	    const char *login, const char *password, struct web_person *,
	    struct err *);

/* wstore.c: every SQL statement; 0 on success, -1 with e set. */
int	wstore_session_insert(const u_int8_t *hash, const char *kind,
	    const char *subject, const char *name, const char *mail,
	    const char *csrf, int hours, struct err *);
int	wstore_session_get(const u_int8_t *hash, int idle_minutes,
	    struct web_session *, int *found, struct err *);
int	wstore_session_delete(const u_int8_t *hash, struct err *);
int	wstore_failures_count(const char *account, const char *client,
	    int window_minutes, int *account_n, int *client_n, struct err *);
int	wstore_failure_add(const char *account, const char *client,
	    struct err *);
int	wstore_failures_clear(const char *account, struct err *);

/* Handlers named in signet-web.conf. */
int	web_home(struct http_request *);
int	web_login(struct http_request *);
int	web_logout(struct http_request *);
int	web_static(struct http_request *);
int	web_not_found(struct http_request *);
int	web_v_password(struct http_request *, const void *);

#endif
