/*
 * session: 256-bit random session tokens, stored only as their SHA-256
 * (DESIGN.md, security rules), carried in an HttpOnly, Secure,
 * SameSite=Strict cookie; a per-session CSRF token compared in constant
 * time on every POST.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "web.h"

void
web_random_hex(char *out, size_t bytes)
{
	unsigned char	buf[64];

	randombytes_buf(buf, bytes);
	sodium_bin2hex(out, bytes * 2 + 1, buf, bytes);
	sodium_memzero(buf, sizeof(buf));
}

static int
token_hash(const char *hex, u_int8_t *hash)
{
	unsigned char	raw[WEB_TOKEN_LEN];
	size_t		n;

	if (strlen(hex) != WEB_TOKEN_HEX ||
	    strspn(hex, "0123456789abcdef") != WEB_TOKEN_HEX ||
	    sodium_hex2bin(raw, sizeof(raw), hex, WEB_TOKEN_HEX, NULL, &n,
	    NULL) != 0 || n != sizeof(raw))
		return -1;
	crypto_hash_sha256(hash, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

/*
 * RFC 6265 4.1 and RFC 6265bis 4.1.2.7: the cookie never leaves TLS, is
 * invisible to script, and is not sent on cross-site requests. Kore 4.1's
 * cookie writer has no SameSite attribute, so the header is written here.
 * maxage 0 deletes the cookie (RFC 6265 5.2.2).
 */
static void
set_cookie(struct http_request *req, const char *name, const char *value,
    long maxage)
{
	char	hdr[256];

	snprintf(hdr, sizeof(hdr), "%s=%s; Path=/; Max-Age=%ld; HttpOnly; "
	    "Secure; SameSite=Strict", name, value, maxage);
	http_response_header(req, "set-cookie", hdr);
	sodium_memzero(hdr, sizeof(hdr));
}

int
web_session_get(struct http_request *req, struct web_session *s)
{
	char		*cookie;
	struct err	 e;
	int		 found = 0;

	memset(s, 0, sizeof(*s));
	http_populate_cookies(req);
	if (!http_request_cookie(req, WEB_SESSION_COOKIE, &cookie))
		return 0;
	if (token_hash(cookie, s->token_hash) == -1)
		return 0;
	if (wstore_session_get(s->token_hash, web_cfg.idle_minutes, s, &found,
	    &e) == -1) {
		kore_log(LOG_ERR, "session lookup: %s", e.msg);
		return 0;
	}
	return found;
}

int
web_session_start(struct http_request *req, const char *kind,
    const char *subject, const char *uid, const char *name, const char *mail)
{
	char		token[WEB_TOKEN_HEX + 1], csrf[WEB_TOKEN_HEX + 1];
	u_int8_t	hash[32];
	struct err	e;
	int		rc = -1;

	web_random_hex(token, WEB_TOKEN_LEN);
	web_random_hex(csrf, WEB_TOKEN_LEN);
	if (token_hash(token, hash) == -1)
		goto out;
	if (wstore_session_insert(hash, kind, subject, uid, name, mail, csrf,
	    web_cfg.session_hours, &e) == -1) {
		kore_log(LOG_ERR, "session insert: %s", e.msg);
		goto out;
	}
	set_cookie(req, WEB_SESSION_COOKIE, token,
	    (long)web_cfg.session_hours * 3600);
	/* The pre-login CSRF cookie has served its purpose. */
	set_cookie(req, WEB_PRELOGIN_COOKIE, "", 0);
	rc = 0;
out:
	sodium_memzero(token, sizeof(token));
	return rc;
}

void
web_session_end(struct http_request *req, const struct web_session *s)
{
	struct err	e;

	if (wstore_session_delete(s->token_hash, &e) == -1)
		kore_log(LOG_ERR, "session delete: %s", e.msg);
	set_cookie(req, WEB_SESSION_COOKIE, "", 0);
}

/* The POST's csrf field against the expected token, in constant time. */
int
web_csrf_ok(struct http_request *req, const char *expected)
{
	char	*got;

	if (expected == NULL || strlen(expected) != WEB_TOKEN_HEX)
		return 0;
	if (!http_argument_get_string(req, "csrf", &got) ||
	    strlen(got) != WEB_TOKEN_HEX)
		return 0;
	return sodium_memcmp(got, expected, WEB_TOKEN_HEX) == 0;
}

/*
 * Before login there is no session; the login form is protected by a
 * double-submit token: a random cookie that the form must echo. Returns
 * the request's token, setting a fresh cookie when it has none.
 */
const char *
web_prelogin_token(struct http_request *req)
{
	static char	 fresh[WEB_TOKEN_HEX + 1];
	char		*cookie;

	http_populate_cookies(req);
	if (http_request_cookie(req, WEB_PRELOGIN_COOKIE, &cookie) &&
	    strlen(cookie) == WEB_TOKEN_HEX &&
	    strspn(cookie, "0123456789abcdef") == WEB_TOKEN_HEX)
		return cookie;
	web_random_hex(fresh, WEB_TOKEN_LEN);
	set_cookie(req, WEB_PRELOGIN_COOKIE, fresh, 3600);
	return fresh;
}

int
web_employee(struct http_request *req, struct web_session *s)
{
	if (web_session_get(req, s) && strcmp(s->kind, "employee") == 0)
		return 1;
	web_redirect(req, "/login");
	return 0;
}

int
web_post_ok(struct http_request *req, const struct web_session *s,
    const char *const *allowed, const char *const *required)
{
	if (web_form(req, allowed, required) == -1)
		return -1;
	if (!web_csrf_ok(req, s->csrf)) {
		web_error(req, HTTP_STATUS_FORBIDDEN, "Form expired",
		    "This request did not carry this session's form token. "
		    "Reload the page and try again.");
		return -1;
	}
	return 0;
}
