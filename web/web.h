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
 *   pages.c    the employee's pages: home, request status, CA, lookup,
 *              certificate downloads
 *   enrol.c    enrolment three ways (browser CSR, pasted CSR, server key);
 *              with key recovery on, the signing + encryption pair
 *   serverkey.c server-made keys without key recovery: generation, CSR,
 *              encrypted PKCS#8 (pickup itself is kra_pickup, ca/kra.h)
 *   selfrevoke.c an employee revokes their own certificate
 *   recovery.c key recovery on the site: the owner's recoveries and
 *              download, the console's open, approve and officer download
 *   admin.c    the operator console
 *   json.c     the small JSON writer of the status endpoint
 *   tmpl.c     the template renderer (no Kore dependency)
 */
#ifndef SIGNET_WEB_H
#define SIGNET_WEB_H

#include <kore/kore.h>
#include <kore/http.h>

#include "err.h"
#include "kra.h"
#include "tmpl.h"

#define WEB_DB			"signet"	/* kore_pgsql database name */
#define WEB_TOKEN_LEN		32		/* 256-bit session token */
#define WEB_TOKEN_HEX		(WEB_TOKEN_LEN * 2)
#define WEB_SESSION_COOKIE	"signet_session"
#define WEB_PRELOGIN_COOKIE	"signet_prelogin"

/* Settings read from the environment at start-up (see signet-web.conf.in). */
struct web_config {
	const char	*db;			/* SIGNET_DB (libpq conninfo) */
	const char	*ldap_uri;		/* SIGNET_LDAP_URI */
	const char	*ldap_base;		/* SIGNET_LDAP_BASE */
	int		 session_hours;		/* SIGNET_SESSION_HOURS, 8 */
	int		 idle_minutes;		/* SIGNET_SESSION_IDLE_MINUTES, 30 */
	int		 max_account_failures;	/* SIGNET_LOGIN_MAX_FAILURES, 5 */
	int		 max_client_failures;	/* SIGNET_LOGIN_MAX_CLIENT_FAILURES, 20 */
	int		 failure_window_minutes;/* SIGNET_LOGIN_WINDOW_MINUTES, 15 */
	int		 lookup_cache_seconds;	/* SIGNET_LOOKUP_CACHE_SECONDS, 5 */
	int		 ocsp_queue_rate;	/* SIGNET_OCSP_QUEUE_RATE, 50 */
	int		 ocsp_cache_entries;	/* SIGNET_OCSP_CACHE_ENTRIES,
						   20000; 0: no cache */
	char		 server_key_type[32];	/* [profile] server_key_type of
						   SIGNET_HOME's signet.conf */
	char		 dummy_hash[128];	/* argon2id of nothing: equal time
						   for unknown operators */
	struct kra_config kra;			/* [kra] of SIGNET_HOME's
						   signet.conf; off without it */
};

extern struct web_config	 web_cfg;

/* A signed-in person (or operator), as stored in web_sessions. */
struct web_session {
	char	kind[16];		/* employee | operator */
	char	subject[512];		/* directory DN or operator name */
	char	display_name[256];
	char	mail[256];
	char	uid[128];		/* directory uid; operator: its name */
	char	csrf[WEB_TOKEN_HEX + 1];
	u_int8_t token_hash[32];
};

/* main.c */
void	web_headers(struct http_request *, int authenticated);
void	web_page(struct http_request *, int status, const char *tmpl,
	    const char *title, struct tmpl_data *, const struct web_session *);
char	*web_render(const char *tmpl, const char *title, struct tmpl_data *,
	    const struct web_session *, size_t *len);
void	web_error(struct http_request *, int status, const char *heading,
	    const char *message);
void	web_redirect(struct http_request *, const char *to);
int	web_form(struct http_request *, const char *const *allowed,
	    const char *const *required);
int	web_form_ex(struct http_request *, const char *const *allowed,
	    const char *const *required, const char *raw_name,
	    char **raw_value);
void	web_client_addr(struct http_request *, char *, size_t);

/* session.c */
int	web_session_get(struct http_request *, struct web_session *);
int	web_session_start(struct http_request *, const char *kind,
	    const char *subject, const char *uid, const char *name,
	    const char *mail);
/* The signed-in employee, or a redirect to /login (returns 0). */
int	web_employee(struct http_request *, struct web_session *);
/* For POST handlers: form checked, session present, CSRF right;
 * otherwise the response is sent and -1 returned. */
int	web_post_ok(struct http_request *, const struct web_session *,
	    const char *const *allowed, const char *const *required);
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
	char	groups[16][128];	/* cn of each groupOfNames naming the DN */
	size_t	ngroups;
};
enum web_auth_result { WEB_AUTH_OK, WEB_AUTH_BAD, WEB_AUTH_DISABLED,
    WEB_AUTH_ERROR };
enum web_auth_result web_dir_authenticate(const char *uri, const char *base,
	    const char *login, const char *password, struct web_person *,
	    struct err *);
/* The person at dn and their groups (RFC 4519 groupOfNames member). */
int	web_dir_lookup(const char *uri, const char *base, const char *dn,
	    struct web_person *, struct err *);

/* wstore.c: every SQL statement; 0 on success, -1 with e set. */
int	wstore_session_insert(const u_int8_t *hash, const char *kind,
	    const char *subject, const char *uid, const char *name,
	    const char *mail, const char *csrf, int hours, struct err *);
int	wstore_session_get(const u_int8_t *hash, int idle_minutes,
	    struct web_session *, int *found, struct err *);
int	wstore_session_delete(const u_int8_t *hash, struct err *);
int	wstore_failures_count(const char *account, const char *client,
	    int window_minutes, int *account_n, int *client_n, struct err *);
int	wstore_failure_add(const char *account, const char *client,
	    struct err *);
int	wstore_failures_clear(const char *account, struct err *);

/*
 * Reads for pages, on the worker's pooled connection: each is one indexed
 * query whose rows land in a template list (columns by their SQL names) or,
 * for a single row, in d itself.
 */
struct tmpl_data;
int	wstore_my_requests(const char *uid, struct tmpl_data *, struct err *);
/* By mailbox, and those from the uid's own requests through the site. */
int	wstore_my_certs(const char *mail, const char *uid, struct tmpl_data *,
	    struct err *);
/* uid NULL: any requester's (the console). */
int	wstore_request(int64_t id, const char *uid, struct tmpl_data *,
	    int *found, struct err *);
int	wstore_lookup(const char *mail, struct tmpl_data *, struct err *);
int	wstore_cert(const char *serial, struct tmpl_data *, int *found,
	    struct err *);
/* DER of a certificate or of the CA certificate (serial NULL); *der is
 * malloc'd. */
int	wstore_der(const char *serial, u_int8_t **der, size_t *len,
	    int *found, struct err *);
int	wstore_queue(struct tmpl_data *, struct err *);
/* subject and installed_at of the CA row, into d. */
int	wstore_ca_info(struct tmpl_data *, struct err *);
int	wstore_cert_search(const char *mail, const char *serial,
	    const char *state, struct tmpl_data *, struct err *);
int	wstore_audit_page(int page, int per_page, struct tmpl_data *,
	    int *more, struct err *);
struct web_operator {
	char	name[64];
	char	role[32];
	char	password_hash[256];
	char	client_cert_sha256[65];	/* hex, or "" when not required */
	int	disabled;
};
int	wstore_operator(const char *name, struct web_operator *, int *found,
	    struct err *);

/* Whether certificate serial's key is escrowed: has_escrow ("yes" or
 * "") into d. */
int	wstore_cert_escrowed(const char *serial, struct tmpl_data *,
	    struct err *);
/* An employee's own certificate: its mailbox is theirs, or it was issued
 * from a request they made through the site (not on their behalf). */
int	wstore_my_cert(const char *serial, const char *uid, const char *mail,
	    struct tmpl_data *, int *found, struct err *);
/* The other requests of request id's batch (the encryption half of a
 * dual enrolment), as list "batch"; uid as in wstore_request. */
int	wstore_batch(int64_t id, const char *uid, struct tmpl_data *,
	    struct err *);
/* The worker's libpq connection for audited writes through the CA core
 * (ca/revoke.h, ca/kra.h, ca/request.h): short transactions on the local
 * socket; reopened when it has dropped. */
struct store;
struct store *web_store(struct err *);

/* json.c: appends a JSON string literal (RFC 8259 7) to buf. */
void	web_json_str(struct kore_buf *, const char *);

/* serverkey.c: blocking; task threads only. */
/* A new key of type (keys_generate), a PKCS#10 signed with it for mail
 * (DER), and the key as PKCS#8 encrypted under password with PBES2
 * AES-256-CBC (RFC 8018 6.2). */
int	web_server_key(const char *type, const char *mail,
	    const char *password, u_int8_t **csr, size_t *csr_len,
	    u_int8_t **p8, size_t *p8_len, struct err *);
/* Handlers named in signet-web.conf. */
int	web_home(struct http_request *);
int	web_enrol(struct http_request *);
int	web_enrol_csr(struct http_request *);
int	web_enrol_browser(struct http_request *);
int	web_enrol_server(struct http_request *);
int	web_request(struct http_request *);
int	web_request_status(struct http_request *);
int	web_request_pickup(struct http_request *);
int	web_cert_download(struct http_request *);
int	web_ca(struct http_request *);
int	web_ca_download(struct http_request *);
int	web_lookup(struct http_request *);
int	web_admin(struct http_request *);
int	web_admin_login(struct http_request *);
int	web_admin_request(struct http_request *);
int	web_admin_decide(struct http_request *);
int	web_admin_certs(struct http_request *);
int	web_admin_cert(struct http_request *);
int	web_admin_revoke(struct http_request *);
int	web_admin_audit(struct http_request *);
int	web_self_revoke(struct http_request *);
int	web_recovery_fetch(struct http_request *);
int	web_admin_recover(struct http_request *);
int	web_admin_recoveries(struct http_request *);
int	web_admin_approve(struct http_request *);
int	web_admin_recovery_fetch(struct http_request *);
int	web_v_otp(struct http_request *, const void *);

/* admin.c, for the console's pages in other files. */
struct web_operator;
enum { WEB_CAN_READ = 1, WEB_CAN_DECIDE = 2, WEB_CAN_RECOVER = 4 };
/* The signed-in operator with the rights asked for; otherwise the answer
 * (login redirect, or 403 naming the role) is sent and 0 returned. */
int	web_operator_ok(struct http_request *, struct web_session *,
	    struct web_operator *, int need);
/* Template data every console page has (operator, role, csrf, rights). */
struct tmpl_data *web_console_data(const struct web_session *,
	    const struct web_operator *);
/* Renders tmpl with d (freed), or a 503 when d is NULL or !ok. */
void	web_console_page(struct http_request *, struct tmpl_data *, int ok,
	    const char *tmpl, const char *title, const struct web_session *,
	    const struct err *);

/* recovery.c: recoveries (kra_recovery_list) as list "recoveries" in d,
 * newest first, and has_recoveries: of one owner's certificates (email)
 * or all (NULL); only of certificate serial when not NULL. */
int	web_recoveries(const char *email, const char *serial,
	    struct tmpl_data *, struct err *);
int	web_v_text(struct http_request *, const void *);
int	web_v_csr(struct http_request *, const void *);
int	web_login(struct http_request *);
int	web_logout(struct http_request *);
int	web_static(struct http_request *);
int	web_not_found(struct http_request *);
int	web_v_password(struct http_request *, const void *);

/* ocsp.c, crl.c: revocation (OCSP responder, CRL, CA certificate) */
struct gnutls_x509_crt_int;
int	web_ocsp(struct http_request *);
int	web_crl(struct http_request *);
int	web_ca_cer(struct http_request *);
/* The CA certificate from the database, loaded once per worker; -1 when
 * there is none yet. Any out-pointer may be NULL. */
int	web_ca_cert(const u_int8_t **der, size_t *len,
	    struct gnutls_x509_crt_int **crt);

#endif
