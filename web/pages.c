/*
 * pages: what an employee sees — the home page with their certificates and
 * requests, a request's status (HTML and JSON), pickup of a server-made
 * key, the CA certificate, the public lookup of a colleague's certificate
 * and certificate downloads (PEM, DER, PKCS#7 chain).
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
#include "cacert.h"
#include "kra.h"
#include "p12.h"
#include "p7.h"
#include "store.h"

static void
build_failed(struct http_request *req, struct tmpl_data *d,
    const struct err *e)
{
	kore_log(LOG_ERR, "page: %s", e->msg);
	tmpl_data_free(d);
	web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
	    "This page cannot be shown right now. Try again shortly.");
}

int
web_home(struct http_request *req)
{
	struct web_session	 s;
	struct tmpl_data	*d;
	struct err		 e;

	if (web_session_get(req, &s) && strcmp(s.kind, "operator") == 0) {
		web_redirect(req, "/admin");
		return KORE_RESULT_OK;
	}
	if (!web_employee(req, &s))
		return KORE_RESULT_OK;
	if ((d = tmpl_data_new()) == NULL) {
		web_error(req, HTTP_STATUS_INTERNAL_ERROR, "Error",
		    "Out of memory.");
		return KORE_RESULT_OK;
	}
	if (tmpl_data_set(d, "name", s.display_name, &e) == -1 ||
	    tmpl_data_set(d, "mail", s.mail, &e) == -1 ||
	    tmpl_data_set(d, "csrf", s.csrf, &e) == -1 ||
	    wstore_my_certs(s.mail, s.uid, d, &e) == -1 ||
	    wstore_my_requests(s.uid, d, &e) == -1 ||
	    tmpl_data_set(d, "has_certs", tmpl_data_count(d, "certs") > 0 ?
	    "yes" : "", &e) == -1 ||
	    (web_cfg.kra.enabled &&
	    web_recoveries(s.mail, NULL, d, &e) == -1)) {
		build_failed(req, d, &e);
		return KORE_RESULT_OK;
	}
	web_page(req, HTTP_STATUS_OK, "home", "Your certificates", d, &s);
	tmpl_data_free(d);
	return KORE_RESULT_OK;
}

/* The number after /requests/ in the path (routes allow digits only). */
static int64_t
path_id(struct http_request *req, const char *prefix)
{
	const char	*p = req->path + strlen(prefix);
	long long	 v;
	char		*end;

	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno != 0 || end == p || v <= 0)
		return -1;
	return v;
}

int
web_request(struct http_request *req)
{
	struct web_session	 s;
	struct tmpl_data	*d;
	struct err		 e;
	int64_t			 id;
	int			 found;

	if (!web_employee(req, &s))
		return KORE_RESULT_OK;
	if ((id = path_id(req, "/requests/")) == -1)
		return web_not_found(req);
	if ((d = tmpl_data_new()) == NULL) {
		web_error(req, HTTP_STATUS_INTERNAL_ERROR, "Error",
		    "Out of memory.");
		return KORE_RESULT_OK;
	}
	if (wstore_request(id, s.uid, d, &found, &e) == -1) {
		build_failed(req, d, &e);
		return KORE_RESULT_OK;
	}
	/* Another person's request looks exactly like none at all. */
	if (!found) {
		tmpl_data_free(d);
		return web_not_found(req);
	}
	/* A dual enrolment's other half (the encryption certificate and its
	 * key to collect) is shown with the signing request. */
	if (tmpl_data_set(d, "csrf", s.csrf, &e) == -1 ||
	    wstore_batch(id, s.uid, d, &e) == -1) {
		build_failed(req, d, &e);
		return KORE_RESULT_OK;
	}
	web_page(req, HTTP_STATUS_OK, "request", "Your request", d, &s);
	tmpl_data_free(d);
	return KORE_RESULT_OK;
}

static void
json_error(struct http_request *req, int status, const char *msg)
{
	struct kore_buf	*b = kore_buf_alloc(128);
	u_int8_t	*data;
	size_t		 len;

	kore_buf_append(b, "{\"error\":", 9);
	web_json_str(b, msg);
	kore_buf_append(b, "}", 1);
	data = kore_buf_release(b, &len);
	http_response(req, status, data, len);
	kore_free(data);
}

int
web_request_status(struct http_request *req)
{
	struct web_session	 s;
	struct tmpl_data	*d = NULL;
	struct kore_buf		*b;
	struct err		 e;
	u_int8_t		*data;
	size_t			 len;
	int64_t			 id;
	int			 found;

	web_headers(req, 1);
	http_response_header(req, "content-type",
	    "application/json; charset=utf-8");
	if (!web_session_get(req, &s) || strcmp(s.kind, "employee") != 0) {
		json_error(req, HTTP_STATUS_UNAUTHORIZED,
		    "Sign in again.");
		return KORE_RESULT_OK;
	}
	if ((id = path_id(req, "/requests/")) == -1 ||
	    (d = tmpl_data_new()) == NULL ||
	    wstore_request(id, s.uid, d, &found, &e) == -1) {
		tmpl_data_free(d);
		json_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "Try again shortly.");
		return KORE_RESULT_OK;
	}
	if (!found) {
		tmpl_data_free(d);
		json_error(req, HTTP_STATUS_NOT_FOUND,
		    "No such request.");
		return KORE_RESULT_OK;
	}
	b = kore_buf_alloc(512);
	kore_buf_appendf(b, "{\"id\":%lld,\"state\":", (long long)id);
	web_json_str(b, tmpl_data_get(d, "state"));
	kore_buf_append(b, ",\"reason\":", 10);
	web_json_str(b, tmpl_data_get(d, "reason"));
	kore_buf_append(b, ",\"serial\":", 10);
	web_json_str(b, tmpl_data_get(d, "serial"));
	kore_buf_append(b, ",\"source\":", 10);
	web_json_str(b, tmpl_data_get(d, "source"));
	kore_buf_append(b, ",\"email\":", 9);
	web_json_str(b, tmpl_data_get(d, "email"));
	kore_buf_append(b, "}", 1);
	data = kore_buf_release(b, &len);
	http_response(req, HTTP_STATUS_OK, data, len);
	kore_free(data);
	tmpl_data_free(d);
	return KORE_RESULT_OK;
}

/* ---- pickup of a server-made key ---- */

struct pickup_state {
	struct kore_task	 task;		/* first: the task entry casts */
	int64_t			 id;
	char			 uid[128];
	char			 password[1025];
	enum p12_format		 format;
	gnutls_datum_t		 p12;
	int			 ok;
	struct err		 err;
};

static void
pickup_state_free(struct http_request *req)
{
	struct pickup_state	*st = http_state_get(req);

	if (st == NULL)
		return;
	sodium_memzero(st->password, sizeof(st->password));
	if (st->p12.data != NULL) {
		gnutls_memset(st->p12.data, 0, st->p12.size);
		gnutls_free(st->p12.data);
		st->p12.data = NULL;
	}
}

/* ca/kra.c does the work: decrypts key_pickup with the password, checks
 * it against the certificate, builds the PKCS#12, deletes the key and
 * audits, in one transaction; only for the request's own requester. */
static int
pickup_task(struct kore_task *t)
{
	struct pickup_state	*st = (struct pickup_state *)t;
	struct store		*db;
	char			 actor[160];

	st->ok = 0;
	if ((db = store_open(web_cfg.db, &st->err)) != NULL) {
		snprintf(actor, sizeof(actor), "web:%s", st->uid);
		st->ok = kra_pickup(db, actor, st->id, st->uid, st->password,
		    st->format, &st->p12, &st->err) == 0;
		store_close(db);
	}
	sodium_memzero(st->password, sizeof(st->password));
	return KORE_RESULT_OK;
}

static const char *const pickup_fields[] = { "csrf", "password", "format",
    NULL };
static const char *const pickup_required[] = { "csrf", "password", NULL };

static int
pickup_start(struct http_request *req)
{
	struct web_session	 s;
	struct pickup_state	*st;
	struct tmpl_data	*d = NULL;
	struct err		 e;
	char			*pw, *fmt;
	enum p12_format		 f;
	int64_t			 id;
	int			 found = 0;

	if (!web_employee(req, &s))
		return KORE_RESULT_OK;
	if ((id = path_id(req, "/requests/")) == -1)
		return web_not_found(req);
	if (web_post_ok(req, &s, pickup_fields, pickup_required) == -1)
		return KORE_RESULT_OK;
	if (!http_argument_get_string(req, "password", &pw)) {
		web_error(req, HTTP_STATUS_BAD_REQUEST, "Password needed",
		    "Type the password you chose when you made the request.");
		return KORE_RESULT_OK;
	}
	if (!http_argument_get_string(req, "format", &fmt))
		fmt = "modern";
	if (p12_format_parse(fmt, &f, &e) != 0) {
		web_error(req, HTTP_STATUS_BAD_REQUEST, "Bad request", e.msg);
		return KORE_RESULT_OK;
	}
	/* Say plainly why there is nothing to collect, before any work. */
	if ((d = tmpl_data_new()) == NULL ||
	    wstore_request(id, s.uid, d, &found, &e) == -1) {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "The key cannot be collected right now. Try again shortly.");
		return KORE_RESULT_OK;
	}
	if (!found) {
		tmpl_data_free(d);
		return web_not_found(req);
	}
	if (strcmp(tmpl_data_get(d, "state"), "issued") != 0) {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_CONFLICT, "Not issued yet",
		    "The certificate has not been issued yet; the key can be "
		    "collected once it is.");
		return KORE_RESULT_OK;
	}
	if (*tmpl_data_get(d, "has_pickup") == '\0') {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_GONE, "Nothing to collect",
		    "There is no key on the server for this request: it was "
		    "made elsewhere, or it was already downloaded and deleted.");
		return KORE_RESULT_OK;
	}
	tmpl_data_free(d);
	st = http_state_create(req, sizeof(*st), pickup_state_free);
	st->id = id;
	st->format = f;
	snprintf(st->uid, sizeof(st->uid), "%s", s.uid);
	snprintf(st->password, sizeof(st->password), "%s", pw);
	sodium_memzero(pw, strlen(pw));
	kore_task_create(&st->task, pickup_task);
	kore_task_bind_request(&st->task, req);
	kore_task_run(&st->task);
	http_request_sleep(req);
	return KORE_RESULT_RETRY;
}

static void
attachment(struct http_request *req, const char *type, const char *name,
    const void *data, size_t len)
{
	char	cd[320];

	web_headers(req, 1);
	http_response_header(req, "content-type", type);
	snprintf(cd, sizeof(cd), "attachment; filename=\"%s\"", name);
	http_response_header(req, "content-disposition", cd);
	http_response(req, HTTP_STATUS_OK, data, len);
}

int
web_request_pickup(struct http_request *req)
{
	struct pickup_state	*st;
	char			 name[64], msg[700];

	if (!http_state_exists(req))
		return pickup_start(req);
	st = http_state_get(req);
	if (kore_task_state(&st->task) != KORE_TASK_STATE_FINISHED) {
		http_request_sleep(req);
		return KORE_RESULT_RETRY;
	}
	if (!st->ok) {
		/* A wrong password is by far the common case; the key stays. */
		kore_log(LOG_NOTICE, "pickup %lld: %s", (long long)st->id,
		    st->err.msg);
		snprintf(msg, sizeof(msg), "The key was not handed over: %s. "
		    "Nothing was deleted; try again.", st->err.msg);
		web_error(req, HTTP_STATUS_FORBIDDEN, "Not collected", msg);
		return KORE_RESULT_OK;
	}
	snprintf(name, sizeof(name), "request-%lld.p12", (long long)st->id);
	attachment(req, "application/x-pkcs12", name, st->p12.data,
	    st->p12.size);
	return KORE_RESULT_OK;
}

/* ---- certificates ---- */

/* Sends der as PEM, DER or a PKCS#7 certs-only chain with the CA (RFC 8551
 * 3.2.2, application/pkcs7-mime; smime-type=certs-only). */
static void
send_cert(struct http_request *req, const u_int8_t *der, size_t len,
    const char *base, const char *ext)
{
	gnutls_datum_t	 in = { (unsigned char *)der, len }, out = { NULL, 0 },
			 chain[2];
	u_int8_t	*ca = NULL;
	size_t		 ca_len;
	char		 name[96];
	struct err	 e;
	int		 found;

	snprintf(name, sizeof(name), "%s.%s", base, ext);
	if (strcmp(ext, "der") == 0 || strcmp(ext, "crt") == 0) {
		attachment(req, "application/pkix-cert", name, der, len);
		return;
	}
	if (strcmp(ext, "pem") == 0) {
		if (gnutls_pem_base64_encode2("CERTIFICATE", &in, &out) < 0)
			goto fail;
		attachment(req, "application/x-pem-file", name, out.data,
		    out.size);
		goto out;
	}
	chain[0] = in;
	if (wstore_der(NULL, &ca, &ca_len, &found, &e) == -1 || !found)
		goto fail;
	chain[1].data = ca;
	chain[1].size = ca_len;
	if (p7_certs_only(chain, 2, &out, &e) != 0)
		goto fail;
	attachment(req, "application/pkcs7-mime; smime-type=certs-only", name,
	    out.data, out.size);
	goto out;
fail:
	web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
	    "The certificate cannot be encoded right now.");
out:
	gnutls_free(out.data);
	kore_free(ca);
}

int
web_cert_download(struct http_request *req)
{
	char		 serial[48], *dot;
	u_int8_t	*der = NULL;
	size_t		 len;
	struct err	 e;
	int		 found;

	/* The route admits /certs/<hex>.(pem|der|p7c) only. */
	snprintf(serial, sizeof(serial), "%s", req->path + strlen("/certs/"));
	if ((dot = strchr(serial, '.')) == NULL)
		return web_not_found(req);
	*dot++ = '\0';
	if (wstore_der(serial, &der, &len, &found, &e) == -1) {
		kore_log(LOG_ERR, "download: %s", e.msg);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "Try again shortly.");
		return KORE_RESULT_OK;
	}
	if (!found)
		return web_not_found(req);
	send_cert(req, der, len, serial, dot);
	kore_free(der);
	return KORE_RESULT_OK;
}

int
web_ca_download(struct http_request *req)
{
	u_int8_t	*der = NULL;
	size_t		 len;
	struct err	 e;
	int		 found;

	if (wstore_der(NULL, &der, &len, &found, &e) == -1 || !found) {
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "The CA certificate is not available right now.");
		return KORE_RESULT_OK;
	}
	send_cert(req, der, len, "signet-ca", strrchr(req->path, '.') + 1);
	kore_free(der);
	return KORE_RESULT_OK;
}

int
web_ca(struct http_request *req)
{
	struct web_session	 s;
	struct tmpl_data	*d;
	u_int8_t		*der = NULL;
	size_t			 len;
	gnutls_datum_t		 in;
	char			 sha256[128], sha1[80];
	struct err		 e;
	int			 found, signed_in;

	signed_in = web_session_get(req, &s);
	if ((d = tmpl_data_new()) == NULL)
		goto fail;
	if (wstore_der(NULL, &der, &len, &found, &e) == -1 || !found)
		goto fail;
	in.data = der;
	in.size = len;
	if (cacert_fingerprint(&in, GNUTLS_DIG_SHA256, sha256, sizeof(sha256),
	    &e) != 0 || cacert_fingerprint(&in, GNUTLS_DIG_SHA1, sha1,
	    sizeof(sha1), &e) != 0 ||
	    tmpl_data_set(d, "sha256", sha256, &e) == -1 ||
	    tmpl_data_set(d, "sha1", sha1, &e) == -1 ||
	    wstore_ca_info(d, &e) == -1)
		goto fail;
	web_page(req, HTTP_STATUS_OK, "ca", "The CA certificate", d,
	    signed_in ? &s : NULL);
	goto out;
fail:
	web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
	    "The CA certificate is not available right now.");
out:
	kore_free(der);
	tmpl_data_free(d);
	return KORE_RESULT_OK;
}

/*
 * The public lookup is the hot read path (DESIGN.md, processes): each
 * worker keeps the anonymous page for a mailbox for a few seconds
 * (SIGNET_LOOKUP_CACHE_SECONDS, 5; 0 turns it off), so a burst of mail
 * clients costs one query. A certificate issued or revoked shows within
 * that time; CRLs and OCSP remain the authority on revocation.
 */
#define LOOKUP_SLOTS	512

struct lookup_slot {
	char		 key[256];
	time_t		 at;
	char		*page;
	size_t		 len;
};

static struct lookup_slot	lookup_cache[LOOKUP_SLOTS];

static struct lookup_slot *
lookup_slot(const char *mail, char *key, size_t keylen)
{
	u_int32_t	h = 2166136261u;	/* FNV-1a */
	size_t		i;

	for (i = 0; mail[i] != '\0' && i < keylen - 1; i++) {
		key[i] = tolower((unsigned char)mail[i]);
		h = (h ^ (u_int8_t)key[i]) * 16777619u;
	}
	key[i] = '\0';
	return &lookup_cache[h % LOOKUP_SLOTS];
}

static void
send_html(struct http_request *req, const char *page, size_t len)
{
	web_headers(req, 0);
	http_response_header(req, "content-type", "text/html; charset=utf-8");
	http_response(req, HTTP_STATUS_OK, page, len);
}

int
web_lookup(struct http_request *req)
{
	struct web_session	 s;
	struct tmpl_data	*d;
	struct err		 e;
	struct lookup_slot	*slot = NULL;
	char			*mail = NULL, *page, key[256];
	size_t			 len;
	int			 signed_in;

	http_populate_get(req);
	signed_in = web_session_get(req, &s);
	if ((d = tmpl_data_new()) == NULL) {
		web_error(req, HTTP_STATUS_INTERNAL_ERROR, "Error",
		    "Out of memory.");
		return KORE_RESULT_OK;
	}
	if (http_argument_get_string(req, "mail", &mail)) {
		slot = lookup_slot(mail, key, sizeof(key));
		if (!signed_in && web_cfg.lookup_cache_seconds > 0 &&
		    slot->page != NULL && strcmp(slot->key, key) == 0 &&
		    time(NULL) - slot->at < web_cfg.lookup_cache_seconds) {
			tmpl_data_free(d);
			send_html(req, slot->page, slot->len);
			return KORE_RESULT_OK;
		}
		if (tmpl_data_set(d, "mail", mail, &e) == -1 ||
		    tmpl_data_set(d, "searched", "yes", &e) == -1 ||
		    wstore_lookup(mail, d, &e) == -1 ||
		    tmpl_data_set(d, "has_certs", tmpl_data_count(d,
		    "certs") > 0 ? "yes" : "", &e) == -1) {
			build_failed(req, d, &e);
			return KORE_RESULT_OK;
		}
	} else if (req->query_string != NULL &&
	    strstr(req->query_string, "mail=") != NULL &&
	    strstr(req->query_string, "mail=&") == NULL &&
	    strcmp(strstr(req->query_string, "mail="), "mail=") != 0) {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_BAD_REQUEST, "Bad request",
		    "That is not a mail address.");
		return KORE_RESULT_OK;
	}
	if (slot != NULL && !signed_in && web_cfg.lookup_cache_seconds > 0) {
		if ((page = web_render("lookup", "Find a certificate", d, NULL,
		    &len)) == NULL) {
			tmpl_data_free(d);
			web_error(req, HTTP_STATUS_INTERNAL_ERROR, "Error",
			    "The page could not be built.");
			return KORE_RESULT_OK;
		}
		free(slot->page);
		snprintf(slot->key, sizeof(slot->key), "%s", key);
		slot->page = page;
		slot->len = len;
		slot->at = time(NULL);
		send_html(req, page, len);
		tmpl_data_free(d);
		return KORE_RESULT_OK;
	}
	web_page(req, HTTP_STATUS_OK, "lookup", "Find a certificate", d,
	    signed_in ? &s : NULL);
	tmpl_data_free(d);
	return KORE_RESULT_OK;
}
