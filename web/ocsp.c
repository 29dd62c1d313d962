/*
 * ocsp: the OCSP responder (RFC 6960) at the AIA path, POST /ocsp and
 * GET /ocsp/<base64 request> (RFC 6960 A.1, RFC 5019 5).
 *
 * signet-web never signs. The hot path -- one CertID, no nonce -- is one
 * primary-key lookup in ocsp_responses (pre-signed by ca-serve, refreshed
 * before nextUpdate and at once on revocation) and a copy of the DER.
 * Everything else (a nonce, several CertIDs, a cache miss) goes to ca-serve
 * through ocsp_queue in a Kore task that waits up to two seconds for the
 * answer; those requests are rate-limited overall (SIGNET_OCSP_QUEUE_RATE
 * per second, 50 by default), beyond which the answer is tryLater.
 */
#include <sys/types.h>

#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <libpq-fe.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/pgsql.h>
#include <kore/tasks.h>

#include "ocsp.h"
#include "web.h"

#define OCSP_WAIT_MS		2000	/* for ca-serve to answer a queued request */
#define OCSP_CT_REQUEST		"application/ocsp-request"
#define OCSP_CT_RESPONSE	"application/ocsp-response"

/* RFC 6960 4.2.1 OCSPResponseStatus */
#define OCSP_MALFORMED		1
#define OCSP_INTERNAL		2
#define OCSP_TRY_LATER		3
#define OCSP_UNAUTHORIZED	6

struct ocsp_state {
	struct kore_task	 task;		/* first: the task entry casts */
	u_int8_t		 req[OCSP_REQUEST_MAX];
	size_t			 req_len;
	u_int8_t		*resp;		/* malloc'd; NULL: tryLater */
	size_t			 resp_len;
	int			 status;	/* error status when resp NULL */
};

static void
http_date(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	/* RFC 9110 5.6.7 IMF-fixdate */
	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void
send_der(struct http_request *req, const u_int8_t *der, size_t len,
    time_t this_update, time_t next_update, int cacheable)
{
	u_int8_t	h[20];
	char		buf[128], etag[48];
	time_t		now = time(NULL);
	long		age;
	int		i;

	http_response_header(req, "content-type", OCSP_CT_RESPONSE);
	if (cacheable) {
		/* RFC 5019 6.2: caching headers from the response itself */
		http_date(this_update, buf, sizeof(buf));
		http_response_header(req, "last-modified", buf);
		http_date(next_update, buf, sizeof(buf));
		http_response_header(req, "expires", buf);
		age = next_update > now ? (long)(next_update - now) : 0;
		snprintf(buf, sizeof(buf), "max-age=%ld, public, no-transform, "
		    "must-revalidate", age);
		http_response_header(req, "cache-control", buf);
		gnutls_hash_fast(GNUTLS_DIG_SHA1, der, len, h);
		etag[0] = '"';
		for (i = 0; i < 20; i++)
			snprintf(etag + 1 + 2 * i, 3, "%02x", h[i]);
		snprintf(etag + 41, sizeof(etag) - 41, "\"");
		http_response_header(req, "etag", etag);
	} else
		/* a nonce makes a response good for one request only */
		http_response_header(req, "cache-control", "no-store");
	http_response(req, HTTP_STATUS_OK, der, len);
}

static void
send_error(struct http_request *req, int status)
{
	gnutls_datum_t	der = { NULL, 0 };
	struct err	e;

	if (ocsp_response_error(status, &der, &e) < 0) {
		http_response(req, HTTP_STATUS_INTERNAL_ERROR, NULL, 0);
		return;
	}
	send_der(req, der.data, der.size, 0, 0, 0);
	gnutls_free(der.data);
}

static void
send_plain(struct http_request *req, int status, const char *msg)
{
	http_response_header(req, "content-type", "text/plain; charset=utf-8");
	http_response_header(req, "cache-control", "no-store");
	http_response(req, status, msg, strlen(msg));
}

/* Percent-decoding for the GET path (RFC 3986 2.1); "+" stays "+",
 * since it is a base64 digit here. Returns the new length. */
static size_t
pct_decode(const char *in, char *out, size_t max)
{
	size_t	n = 0;
	int	hi, lo;

	while (*in != '\0' && n < max) {
		if (in[0] == '%' && isxdigit((unsigned char)in[1]) &&
		    isxdigit((unsigned char)in[2])) {
			hi = isdigit((unsigned char)in[1]) ? in[1] - '0' :
			    (tolower((unsigned char)in[1]) - 'a' + 10);
			lo = isdigit((unsigned char)in[2]) ? in[2] - '0' :
			    (tolower((unsigned char)in[2]) - 'a' + 10);
			out[n++] = (char)(hi << 4 | lo);
			in += 3;
		} else
			out[n++] = *in++;
	}
	return *in == '\0' ? n : (size_t)-1;
}

/* base64 (RFC 4648 4) or base64url (5), padding optional. */
static int
b64_decode(const char *in, size_t len, u_int8_t *out, size_t max,
    size_t *outlen)
{
	u_int32_t	acc = 0;
	size_t		i, n = 0;
	int		bits = 0, v;

	while (len > 0 && in[len - 1] == '=')
		len--;
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+' || c == '-')
			v = 62;
		else if (c == '/' || c == '_')
			v = 63;
		else
			return -1;
		acc = acc << 6 | (u_int32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == max)
				return -1;
			out[n++] = (u_int8_t)(acc >> bits);
		}
	}
	*outlen = n;
	return 0;
}

/* The CertID serial as the lower-case hex the certificates table uses. */
static void
serial_hex(const struct ocsp_certid *id, char out[41])
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < id->serial_len && i < 20; i++) {
		out[2 * i] = digits[id->serial[i] >> 4];
		out[2 * i + 1] = digits[id->serial[i] & 15];
	}
	out[2 * i] = '\0';
}

static u_int64_t
be64(const u_int8_t *p)
{
	u_int64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The hot path: 1 answered from the cache, 0 a miss, -1 a database error. */
static int
cache_lookup(struct http_request *req, const struct ocsp_certid *id)
{
	struct kore_pgsql	sql;
	char			hex[41];
	int			rc = -1;

	serial_hex(id, hex);
	kore_pgsql_init(&sql);
	if (!kore_pgsql_setup(&sql, WEB_DB, KORE_PGSQL_SYNC))
		goto out;
	if (!kore_pgsql_query_params(&sql,
	    "SELECT der, extract(epoch from this_update)::int8, "
	    "extract(epoch from next_update)::int8 FROM ocsp_responses "
	    "WHERE serial = $1 AND hash = $2 AND next_update > now()",
	    KORE_PGSQL_FORMAT_BINARY, 2,
	    KORE_PGSQL_PARAM_TEXT(hex),
	    KORE_PGSQL_PARAM_TEXT(id->hash == GNUTLS_DIG_SHA1 ? "sha1" :
	    "sha256")))
		goto out;
	rc = 0;
	if (kore_pgsql_ntuples(&sql) == 1 &&
	    kore_pgsql_getlength(&sql, 0, 1) == 8 &&
	    kore_pgsql_getlength(&sql, 0, 2) == 8) {
		send_der(req, (u_int8_t *)kore_pgsql_getvalue(&sql, 0, 0),
		    kore_pgsql_getlength(&sql, 0, 0),
		    (time_t)be64((u_int8_t *)kore_pgsql_getvalue(&sql, 0, 1)),
		    (time_t)be64((u_int8_t *)kore_pgsql_getvalue(&sql, 0, 2)),
		    1);
		rc = 1;
	}
out:
	if (rc < 0)
		kore_log(LOG_ERR, "ocsp: %s", sql.error != NULL ? sql.error :
		    "database unavailable");
	kore_pgsql_cleanup(&sql);
	return rc;
}

/* ---- the queue to ca-serve, in a task thread ------------------------ */

static __thread PGconn	*task_pg;

static PGconn *
task_conn(void)
{
	PGresult	*r;

	if (task_pg != NULL && PQstatus(task_pg) == CONNECTION_OK)
		return task_pg;
	PQfinish(task_pg);
	task_pg = PQconnectdb(getenv("SIGNET_DB"));
	if (PQstatus(task_pg) != CONNECTION_OK) {
		kore_log(LOG_ERR, "ocsp: %s", PQerrorMessage(task_pg));
		PQfinish(task_pg);
		return task_pg = NULL;
	}
	/* answers are announced on signet_ocsp with the queue id */
	r = PQexec(task_pg, "LISTEN signet_ocsp");
	PQclear(r);
	return task_pg;
}

static int
queue_rate(void)
{
	const char	*v = getenv("SIGNET_OCSP_QUEUE_RATE");
	int		 n = v != NULL ? atoi(v) : 0;

	return n > 0 ? n : 50;
}

static int
ocsp_task(struct kore_task *t)
{
	struct ocsp_state	*st = (struct ocsp_state *)t;
	PGconn			*pg;
	PGresult		*r = NULL;
	PGnotify		*n;
	struct pollfd		 pfd;
	struct timespec		 t0, t1;
	char			 rate[16], id[24];
	const char		*v[2];
	int			 len[2] = { 0, 0 }, fmt[2] = { 1, 0 };
	long			 waited;
	int			 got = 0;

	st->status = OCSP_TRY_LATER;
	if ((pg = task_conn()) == NULL) {
		st->status = OCSP_INTERNAL;
		return KORE_RESULT_OK;
	}
	/* drop notifications left over from earlier waits */
	PQconsumeInput(pg);
	while ((n = PQnotifies(pg)) != NULL)
		PQfreemem(n);
	snprintf(rate, sizeof(rate), "%d", queue_rate());
	v[0] = (const char *)st->req;
	len[0] = (int)st->req_len;
	v[1] = rate;
	/* the rate limit: requests queued in the last second, all workers */
	r = PQexecParams(pg, "INSERT INTO ocsp_queue (request) SELECT $1 "
	    "WHERE (SELECT count(*) FROM ocsp_queue WHERE created_at > "
	    "now() - interval '1 second') < $2::int RETURNING id", 2, NULL, v,
	    len, fmt, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		kore_log(LOG_ERR, "ocsp: queueing: %s", PQerrorMessage(pg));
		st->status = OCSP_INTERNAL;
		goto out;
	}
	if (PQntuples(r) == 0)
		goto out;		/* over the rate: tryLater */
	snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	r = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		PQconsumeInput(pg);
		while ((n = PQnotifies(pg)) != NULL) {
			if (strcmp(n->extra, id) == 0)
				got = 1;
			PQfreemem(n);
		}
		if (got)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		waited = (t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (waited >= OCSP_WAIT_MS)
			break;
		pfd.fd = PQsocket(pg);
		pfd.events = POLLIN;
		/* wake now and then even without a notification */
		poll(&pfd, 1, OCSP_WAIT_MS - waited < 250 ?
		    (int)(OCSP_WAIT_MS - waited) : 250);
		if (!got && waited > 0) {
			v[0] = id;
			r = PQexecParams(pg, "SELECT 1 FROM ocsp_queue WHERE "
			    "id = $1::bigint AND answered_at IS NOT NULL", 1,
			    NULL, v, NULL, NULL, 0);
			got = PQresultStatus(r) == PGRES_TUPLES_OK &&
			    PQntuples(r) == 1;
			PQclear(r);
			r = NULL;
			if (got)
				break;
		}
	}
	if (!got)
		goto out;
	v[0] = id;
	r = PQexecParams(pg, "SELECT response FROM ocsp_queue WHERE id = "
	    "$1::bigint AND response IS NOT NULL", 1, NULL, v, NULL, NULL, 1);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	    (st->resp = malloc(PQgetlength(r, 0, 0))) != NULL) {
		st->resp_len = PQgetlength(r, 0, 0);
		memcpy(st->resp, PQgetvalue(r, 0, 0), st->resp_len);
	}
out:
	PQclear(r);
	return KORE_RESULT_OK;
}

static void
ocsp_state_free(struct http_request *req)
{
	struct ocsp_state	*st = http_state_get(req);

	if (st != NULL)
		free(st->resp);
}

static int
queue_start(struct http_request *req, const u_int8_t *der, size_t len)
{
	struct ocsp_state	*st;

	st = http_state_create(req, sizeof(*st), ocsp_state_free);
	memcpy(st->req, der, len);
	st->req_len = len;
	kore_task_create(&st->task, ocsp_task);
	kore_task_bind_request(&st->task, req);
	kore_task_run(&st->task);
	http_request_sleep(req);
	return KORE_RESULT_RETRY;
}

static int
queue_finish(struct http_request *req, struct ocsp_state *st)
{
	if (st->resp == NULL)
		send_error(req, st->status);
	else
		send_der(req, st->resp, st->resp_len, 0, 0, 0);
	return KORE_RESULT_OK;
}

/* ---- the handler ---------------------------------------------------- */

/* Reads the DER request from the body or the path; -1 when the HTTP
 * answer (not an OCSP one) has been sent. */
static int
read_request(struct http_request *req, u_int8_t *der, size_t *len)
{
	const char	*ct, *p;
	char		 path[2 * OCSP_REQUEST_MAX];
	ssize_t		 n;
	size_t		 got = 0, plen;

	*len = 0;
	if (req->method == HTTP_METHOD_POST) {
		/* RFC 6960 A.1.1 */
		if (!http_request_header(req, "content-type", &ct) ||
		    strncasecmp(ct, OCSP_CT_REQUEST,
		    strlen(OCSP_CT_REQUEST)) != 0) {
			send_plain(req, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
			    "an OCSP request is sent as " OCSP_CT_REQUEST "\n");
			return -1;
		}
		for (;;) {
			if (got == OCSP_REQUEST_MAX) {
				send_plain(req,
				    HTTP_STATUS_REQUEST_ENTITY_TOO_LARGE,
				    "an OCSP request is at most 16 KiB\n");
				return -1;
			}
			n = http_body_read(req, der + got,
			    OCSP_REQUEST_MAX - got);
			if (n < 0) {
				send_plain(req, HTTP_STATUS_BAD_REQUEST,
				    "the request body could not be read\n");
				return -1;
			}
			if (n == 0)
				break;
			got += (size_t)n;
			if (got == OCSP_REQUEST_MAX) {
				/* one more read tells "exactly max" from
				 * "more than max" */
				u_int8_t	extra;

				if (http_body_read(req, &extra, 1) > 0)
					continue;
				break;
			}
		}
		*len = got;
		return 0;
	}
	/* RFC 6960 A.1: GET {url}/{url-encoding of base-64 encoding of the
	 * DER encoding of the OCSPRequest} */
	p = req->path + strlen("/ocsp/");
	if ((plen = pct_decode(p, path, sizeof(path))) == (size_t)-1) {
		send_plain(req, HTTP_STATUS_REQUEST_URI_TOO_LARGE,
		    "an OCSP request is at most 16 KiB\n");
		return -1;
	}
	if (b64_decode(path, plen, der, OCSP_REQUEST_MAX, len) < 0)
		*len = 0;	/* not base64: malformedRequest */
	return 0;
}

int
web_ocsp(struct http_request *req)
{
	static u_int8_t			 der[OCSP_REQUEST_MAX];
	struct ocsp_request		*r = NULL;
	const struct ocsp_certid	*id;
	gnutls_x509_crt_t		 ca;
	const u_int8_t			*nonce;
	struct err			 e;
	size_t				 len, nlen, i;
	int				 rc;

	if (http_state_exists(req)) {
		struct ocsp_state *st = http_state_get(req);

		if (kore_task_state(&st->task) != KORE_TASK_STATE_FINISHED) {
			http_request_sleep(req);
			return KORE_RESULT_RETRY;
		}
		return queue_finish(req, st);
	}
	if (read_request(req, der, &len) < 0)
		return KORE_RESULT_OK;
	/* RFC 6960 2.3: malformedRequest for what does not parse */
	if (len == 0 || (r = ocsp_request_parse(der, len, &e)) == NULL) {
		send_error(req, OCSP_MALFORMED);
		return KORE_RESULT_OK;
	}
	if (web_ca_cert(NULL, NULL, &ca) < 0) {
		send_error(req, OCSP_TRY_LATER);
		goto out;
	}
	for (i = 0; i < ocsp_request_count(r); i++)
		if (!ocsp_certid_matches_issuer(ocsp_request_certid(r, i),
		    ca)) {
			/* RFC 6960 2.3: not an issuer we answer for */
			send_error(req, OCSP_UNAUTHORIZED);
			goto out;
		}
	nonce = ocsp_request_nonce(r, &nlen);
	if (ocsp_request_count(r) == 1 && nonce == NULL) {
		id = ocsp_request_certid(r, 0);
		if ((rc = cache_lookup(req, id)) != 0) {
			if (rc < 0)
				send_error(req, OCSP_TRY_LATER);
			goto out;
		}
	}
	ocsp_request_free(r);
	return queue_start(req, der, len);
out:
	ocsp_request_free(r);
	return KORE_RESULT_OK;
}
