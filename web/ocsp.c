/*
 * ocsp: the OCSP responder (RFC 6960) at the AIA path, POST /ocsp and
 * GET /ocsp/<base64 request> (RFC 6960 A.1, RFC 5019 5).
 *
 * signet-web never signs. The hot path -- one CertID, no nonce -- is the
 * worker's in-memory cache of pre-signed responses (ca-serve signs them
 * into ocsp_responses, refreshed before nextUpdate and at once on
 * revocation). A cache miss is one primary-key lookup in ocsp_responses,
 * asynchronous (Kore's KORE_PGSQL_ASYNC), so a slow query never stalls the
 * worker's other connections; the row found joins the cache.
 *
 * The cache stays true to the database through ocsp_epoch (sql/032), a
 * counter every revocation moves in its own transaction: each lookup
 * reads it in the same snapshot as the response, and a background query
 * reads it every CACHE_POLL_MS. A cached response is served only while
 * the epoch it was read under is the newest one seen, and that was
 * confirmed by a query sent less than CACHE_FRESH_MS ago -- so a
 * revocation reaches every worker within about a second. Responses also
 * leave at their nextUpdate, and the least recently used ones when the
 * cache is full (SIGNET_OCSP_CACHE_ENTRIES per worker, 20000 by default;
 * 0 turns the cache off).
 *
 * Everything else (a nonce, several CertIDs, a SHA-384 or SHA-512 CertID,
 * no pre-signed response) goes to ca-serve through ocsp_queue in a Kore
 * task that waits up to two seconds for the answer; those requests are
 * rate-limited overall (SIGNET_OCSP_QUEUE_RATE per second, 50 by
 * default), beyond which the answer is tryLater.
 */
#include <sys/types.h>
#include <sys/queue.h>

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

#include "asn.h"
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

#define CACHE_POLL_MS		200	/* read ocsp_epoch this often */
#define CACHE_FRESH_MS		1000	/* serve from memory this long after */
#define CACHE_POLL_LOST_MS	10000	/* a poll never answered */
#define CACHE_KEY_MAX		(1 + 20)	/* CertID hash, serial */
#define CACHE_REQ_MAX		192	/* request DER remembered per entry */

/* A pre-signed response with its RFC 5019 6.2 headers made once. */
TAILQ_HEAD(cache_lru, cache_ent);
struct cache_ent {
	TAILQ_ENTRY(cache_ent)	 lru;
	struct cache_ent	*chain;
	u_int8_t		 key[CACHE_KEY_MAX];
	size_t			 key_len;
	u_int64_t		 hash;
	/* the DER of a request that asked for exactly this response (one
	 * CertID, no nonce): the same octets again need no parsing */
	struct cache_ent	*req_chain;
	u_int64_t		 req_hash;
	size_t			 req_len;	/* 0: none */
	u_int8_t		 req[CACHE_REQ_MAX];
	int64_t			 epoch;
	time_t			 next_update;
	char			 last_modified[40], expires[40], etag[44];
	size_t			 len;
	u_int8_t		 der[];
};

static struct {
	int				 ready;
	size_t				 max, n, nbucket;
	struct cache_ent		**bucket;
	struct cache_ent		**req_bucket;
	struct cache_lru		 lru;
	int64_t				 epoch;		/* the newest seen */
	u_int64_t			 checked_ms;	/* sent time of a query
							   that read it */
	struct kore_pgsql		 poll;
	int				 polling;
	u_int64_t			 poll_sent_ms;
	/* CertID issuer hashes (RFC 6960 4.1.1), ocsp_hash_alg's order */
	int				 issuer_ready;
	u_int8_t			 name_hash[OCSP_HASHES][64];
	u_int8_t			 key_hash[OCSP_HASHES][64];
} cache;

enum ocsp_phase {
	PHASE_LOOKUP,		/* asynchronous read of ocsp_responses */
	PHASE_QUEUE,		/* the task asking ca-serve */
};

struct ocsp_state {
	struct kore_task	 task;		/* first: the task entry casts */
	enum ocsp_phase		 phase;
	struct kore_pgsql	 sql;
	u_int64_t		 sent_ms;
	char			 serial[41];
	const char		*hash_name;
	struct cache_ent	*hit;		/* the lookup's row */
	u_int8_t		 key[CACHE_KEY_MAX];
	size_t			 key_len;
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

/* The RFC 5019 6.2 headers of a pre-signed response, made once. */
static void
ent_headers(struct cache_ent *ce, time_t this_update)
{
	static const char	digits[] = "0123456789abcdef";
	u_int8_t		h[20];
	int			i;

	http_date(this_update, ce->last_modified, sizeof(ce->last_modified));
	http_date(ce->next_update, ce->expires, sizeof(ce->expires));
	gnutls_hash_fast(GNUTLS_DIG_SHA1, ce->der, ce->len, h);
	ce->etag[0] = '"';
	for (i = 0; i < 20; i++) {
		ce->etag[1 + 2 * i] = digits[h[i] >> 4];
		ce->etag[2 + 2 * i] = digits[h[i] & 15];
	}
	ce->etag[41] = '"';
	ce->etag[42] = '\0';
}

/* A pre-signed response, with caching headers from the response itself
 * (RFC 5019 6.2). */
static void
send_cached(struct http_request *req, const struct cache_ent *ce)
{
	char	buf[96];
	time_t	now = time(NULL);
	long	age;

	http_response_header(req, "content-type", OCSP_CT_RESPONSE);
	http_response_header(req, "last-modified", ce->last_modified);
	http_response_header(req, "expires", ce->expires);
	age = ce->next_update > now ? (long)(ce->next_update - now) : 0;
	snprintf(buf, sizeof(buf), "max-age=%ld, public, no-transform, "
	    "must-revalidate", age);
	http_response_header(req, "cache-control", buf);
	http_response_header(req, "etag", ce->etag);
	http_response(req, HTTP_STATUS_OK, ce->der, ce->len);
}

/* A response good for one request only (a nonce) or an error status. */
static void
send_der(struct http_request *req, const u_int8_t *der, size_t len)
{
	http_response_header(req, "content-type", OCSP_CT_RESPONSE);
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
	send_der(req, der.data, der.size);
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

/* ---- the worker's cache ------------------------------------------- */

static int
cache_init(void)
{
	if (cache.ready)
		return cache.max > 0;
	cache.ready = 1;
	TAILQ_INIT(&cache.lru);
	/* checked at start (web/main.c) */
	cache.max = (size_t)web_cfg.ocsp_cache_entries;
	if (cache.max == 0)
		return 0;
	for (cache.nbucket = 64; cache.nbucket < cache.max;
	    cache.nbucket <<= 1)
		;
	if ((cache.bucket = calloc(cache.nbucket, sizeof(*cache.bucket))) ==
	    NULL || (cache.req_bucket = calloc(cache.nbucket,
	    sizeof(*cache.req_bucket))) == NULL) {
		kore_log(LOG_ERR, "ocsp: no memory for the response cache");
		cache.max = 0;
	}
	return cache.max > 0;
}

/* The key: the CertID's hash algorithm and serial (the issuer hashes are
 * checked before any lookup). */
static size_t
cache_key(const struct ocsp_certid *id, u_int8_t key[CACHE_KEY_MAX])
{
	key[0] = (u_int8_t)id->hash;	/* a gnutls_digest_algorithm_t */
	memcpy(key + 1, id->serial, id->serial_len);
	return 1 + id->serial_len;
}

static u_int64_t
key_hash(const u_int8_t *k, size_t n)
{
	u_int64_t	h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	while (n-- > 0)
		h = (h ^ *k++) * 0x100000001b3ULL;
	return h;
}

static void
req_unlink(struct cache_ent *ce)
{
	struct cache_ent	**pp;

	if (ce->req_len == 0)
		return;
	for (pp = &cache.req_bucket[ce->req_hash & (cache.nbucket - 1)];
	    *pp != NULL; pp = &(*pp)->req_chain)
		if (*pp == ce) {
			*pp = ce->req_chain;
			break;
		}
	ce->req_len = 0;
}

static void
cache_unlink(struct cache_ent *ce)
{
	struct cache_ent	**pp;

	req_unlink(ce);
	for (pp = &cache.bucket[ce->hash & (cache.nbucket - 1)]; *pp != NULL;
	    pp = &(*pp)->chain)
		if (*pp == ce) {
			*pp = ce->chain;
			break;
		}
	TAILQ_REMOVE(&cache.lru, ce, lru);
	cache.n--;
	free(ce);
}

/* A query sent at sent_ms read epoch v. */
static void
epoch_seen(int64_t v, u_int64_t sent_ms)
{
	if (v > cache.epoch) {
		cache.epoch = v;
		cache.checked_ms = sent_ms;
	} else if (v == cache.epoch && sent_ms > cache.checked_ms)
		cache.checked_ms = sent_ms;
}

static int
cache_fresh(void)
{
	return cache.checked_ms != 0 &&
	    kore_time_ms() - cache.checked_ms < CACHE_FRESH_MS;
}

/* ce when it is still good to serve; otherwise drops it. */
static struct cache_ent *
cache_use(struct cache_ent *ce)
{
	if (ce == NULL)
		return NULL;
	/* RFC 5019 4: never past nextUpdate; and never from before a
	 * revocation the worker has heard of */
	if (ce->epoch != cache.epoch || time(NULL) >= ce->next_update) {
		cache_unlink(ce);
		return NULL;
	}
	TAILQ_REMOVE(&cache.lru, ce, lru);
	TAILQ_INSERT_HEAD(&cache.lru, ce, lru);
	return ce;
}

/* The response for a CertID key, or NULL. */
static struct cache_ent *
cache_get(const u_int8_t *key, size_t len)
{
	struct cache_ent	*ce;
	u_int64_t		 h;

	if (!cache_init() || !cache_fresh())
		return NULL;
	h = key_hash(key, len);
	for (ce = cache.bucket[h & (cache.nbucket - 1)]; ce != NULL;
	    ce = ce->chain)
		if (ce->hash == h && ce->key_len == len &&
		    memcmp(ce->key, key, len) == 0)
			break;
	return cache_use(ce);
}

/* The response for request octets seen before (cache_alias), or NULL. */
static struct cache_ent *
cache_get_req(const u_int8_t *der, size_t len)
{
	struct cache_ent	*ce;
	u_int64_t		 h;

	if (len > CACHE_REQ_MAX || !cache_init() || !cache_fresh())
		return NULL;
	h = key_hash(der, len);
	for (ce = cache.req_bucket[h & (cache.nbucket - 1)]; ce != NULL;
	    ce = ce->req_chain)
		if (ce->req_hash == h && ce->req_len == len &&
		    memcmp(ce->req, der, len) == 0)
			break;
	return cache_use(ce);
}

/* Remembers that request octets der (parsed: one CertID, no nonce, our
 * issuer) ask for ce. */
static void
cache_alias(struct cache_ent *ce, const u_int8_t *der, size_t len)
{
	size_t	b;

	if (len > CACHE_REQ_MAX || (ce->req_len == len &&
	    memcmp(ce->req, der, len) == 0))
		return;
	req_unlink(ce);
	memcpy(ce->req, der, len);
	ce->req_len = len;
	ce->req_hash = key_hash(der, len);
	b = ce->req_hash & (cache.nbucket - 1);
	ce->req_chain = cache.req_bucket[b];
	cache.req_bucket[b] = ce;
}

/* Takes ce into the cache when it is as new as the newest epoch seen,
 * with the request that asked for it; frees it otherwise. */
static void
cache_put(struct cache_ent *ce, const u_int8_t *der, size_t len)
{
	struct cache_ent	*old;

	if (!cache_init() || ce->epoch != cache.epoch) {
		free(ce);
		return;
	}
	ce->hash = key_hash(ce->key, ce->key_len);
	for (old = cache.bucket[ce->hash & (cache.nbucket - 1)]; old != NULL;
	    old = old->chain)
		if (old->hash == ce->hash && old->key_len == ce->key_len &&
		    memcmp(old->key, ce->key, ce->key_len) == 0) {
			cache_unlink(old);
			break;
		}
	while (cache.n >= cache.max && !TAILQ_EMPTY(&cache.lru))
		cache_unlink(TAILQ_LAST(&cache.lru, cache_lru));
	ce->chain = cache.bucket[ce->hash & (cache.nbucket - 1)];
	cache.bucket[ce->hash & (cache.nbucket - 1)] = ce;
	TAILQ_INSERT_HEAD(&cache.lru, ce, lru);
	cache.n++;
	cache_alias(ce, der, len);
}

/* ---- the background epoch poll ------------------------------------- */

static void	poll_cb(struct kore_pgsql *, void *);

static void
poll_send(void)
{
	cache.poll_sent_ms = kore_time_ms();
	if (!kore_pgsql_setup(&cache.poll, WEB_DB, KORE_PGSQL_ASYNC)) {
		if (cache.poll.state == KORE_PGSQL_STATE_INIT)
			return;		/* queued for a connection */
		kore_log(LOG_ERR, "ocsp: epoch: %s", cache.poll.error != NULL ?
		    cache.poll.error : "no database");
		kore_pgsql_cleanup(&cache.poll);
		cache.polling = 0;
		return;
	}
	if (!kore_pgsql_query(&cache.poll, "SELECT n FROM ocsp_epoch")) {
		kore_log(LOG_ERR, "ocsp: epoch: %s", cache.poll.error != NULL ?
		    cache.poll.error : "query failed");
		kore_pgsql_cleanup(&cache.poll);
		cache.polling = 0;
	}
}

/* Kore calls this at every step of the poll (kore/pgsql.c). */
static void
poll_cb(struct kore_pgsql *sql, void *arg)
{
	switch (sql->state) {
	case KORE_PGSQL_STATE_INIT:		/* a connection came free */
		poll_send();
		break;
	case KORE_PGSQL_STATE_RESULT:
		if (kore_pgsql_ntuples(sql) == 1)
			epoch_seen(strtoll(kore_pgsql_getvalue(sql, 0, 0),
			    NULL, 10), cache.poll_sent_ms);
		kore_pgsql_continue(sql);
		break;
	case KORE_PGSQL_STATE_DONE:
		kore_pgsql_continue(sql);	/* releases the connection */
		break;
	case KORE_PGSQL_STATE_COMPLETE:
		cache.polling = 0;		/* nothing left to free */
		break;
	case KORE_PGSQL_STATE_ERROR:
		kore_log(LOG_ERR, "ocsp: epoch: %s", sql->error != NULL ?
		    sql->error : "query failed");
		kore_pgsql_cleanup(sql);	/* calls back with COMPLETE */
		cache.polling = 0;
		break;
	default:				/* WAIT, NOTIFY */
		break;
	}
}

/* Starts a poll when one is due; called from requests, so an idle worker
 * costs the database nothing (its cache is stale by then anyway). */
static void
poll_maybe(void)
{
	u_int64_t	now = kore_time_ms();

	if (!cache_init())
		return;
	if (cache.polling) {
		if (now - cache.poll_sent_ms < CACHE_POLL_LOST_MS)
			return;
		kore_pgsql_cleanup(&cache.poll);	/* its connection died */
	}
	if (now - cache.poll_sent_ms < CACHE_POLL_MS)
		return;
	kore_pgsql_init(&cache.poll);
	kore_pgsql_bind_callback(&cache.poll, poll_cb, NULL);
	cache.polling = 1;
	poll_send();
}

/* RFC 6960 4.1.1: the CertID names our CA (hashes made once a worker,
 * in each algorithm ca/ocsp.c reads). */
static int
issuer_matches(const struct ocsp_certid *id, gnutls_x509_crt_t ca)
{
	gnutls_datum_t	dn = { NULL, 0 };
	size_t		klen;
	u_int8_t	kh[64];
	int		i, h;

	if (!cache.issuer_ready) {
		if (gnutls_x509_crt_get_raw_dn(ca, &dn) < 0)
			return 0;
		for (i = 0; i < OCSP_HASHES; i++) {
			h = ocsp_hash_alg((size_t)i);
			if (gnutls_hash_fast(h, dn.data, dn.size,
			    cache.name_hash[i]) < 0 ||
			    asn_key_hash(ca, h, kh, &klen, NULL) < 0 ||
			    klen != gnutls_hash_get_len(h)) {
				gnutls_free(dn.data);
				return 0;
			}
			memcpy(cache.key_hash[i], kh, klen);
		}
		gnutls_free(dn.data);
		cache.issuer_ready = 1;
	}
	for (i = 0; i < OCSP_HASHES && ocsp_hash_alg((size_t)i) != id->hash;
	    i++)
		;
	return i < OCSP_HASHES && id->hash_len == gnutls_hash_get_len(id->hash) &&
	    memcmp(id->name_hash, cache.name_hash[i], id->hash_len) == 0 &&
	    memcmp(id->key_hash, cache.key_hash[i], id->hash_len) == 0;
}

/* ---- a miss: the asynchronous lookup ------------------------------- */

static int	queue_start(struct http_request *, struct ocsp_state *);

/* Sends the lookup; 0 sent (or queued for a connection), -1 failed. */
static int
lookup_send(struct ocsp_state *st)
{
	st->sent_ms = kore_time_ms();
	if (!kore_pgsql_setup(&st->sql, WEB_DB, KORE_PGSQL_ASYNC))
		return st->sql.state == KORE_PGSQL_STATE_INIT ? 0 : -1;
	/* the epoch in the same snapshot as the response (see above) */
	if (!kore_pgsql_query_params(&st->sql,
	    "SELECT e.n, r.der, extract(epoch from r.this_update)::int8, "
	    "extract(epoch from r.next_update)::int8 FROM ocsp_epoch e "
	    "LEFT JOIN ocsp_responses r ON r.serial = $1 AND r.hash = $2 "
	    "AND r.next_update > now()", KORE_PGSQL_FORMAT_BINARY, 2,
	    KORE_PGSQL_PARAM_TEXT(st->serial),
	    KORE_PGSQL_PARAM_TEXT(st->hash_name)))
		return -1;
	return 0;
}

/* The lookup's row: the epoch, and the response when there is one. */
static void
lookup_result(struct ocsp_state *st)
{
	struct kore_pgsql	*sql = &st->sql;
	struct cache_ent	*ce;
	size_t			 len;

	if (kore_pgsql_ntuples(sql) != 1 ||
	    kore_pgsql_getlength(sql, 0, 0) != 8)
		return;
	epoch_seen((int64_t)be64((u_int8_t *)kore_pgsql_getvalue(sql, 0, 0)),
	    st->sent_ms);
	if (kore_pgsql_getlength(sql, 0, 2) != 8 ||
	    kore_pgsql_getlength(sql, 0, 3) != 8 ||
	    (len = kore_pgsql_getlength(sql, 0, 1)) == 0 ||
	    (ce = calloc(1, sizeof(*ce) + len)) == NULL)
		return;			/* none pre-signed: ask ca-serve */
	memcpy(ce->key, st->key, st->key_len);
	ce->key_len = st->key_len;
	ce->epoch = (int64_t)be64((u_int8_t *)kore_pgsql_getvalue(sql, 0, 0));
	ce->next_update = (time_t)be64((u_int8_t *)kore_pgsql_getvalue(sql,
	    0, 3));
	ce->len = len;
	memcpy(ce->der, kore_pgsql_getvalue(sql, 0, 1), len);
	ent_headers(ce, (time_t)be64((u_int8_t *)kore_pgsql_getvalue(sql,
	    0, 2)));
	free(st->hit);
	st->hit = ce;
}

/* Drives the lookup through Kore's states (kore/pgsql.c). */
static int
lookup_step(struct http_request *req, struct ocsp_state *st)
{
	for (;;) {
		switch (st->sql.state) {
		case KORE_PGSQL_STATE_INIT:	/* a connection came free */
			if (lookup_send(st) < 0)
				goto fail;
			if (st->sql.state == KORE_PGSQL_STATE_INIT)
				return KORE_RESULT_RETRY;
			break;
		case KORE_PGSQL_STATE_WAIT:
			return KORE_RESULT_RETRY;	/* Kore wakes us */
		case KORE_PGSQL_STATE_RESULT:
			lookup_result(st);
			kore_pgsql_continue(&st->sql);
			break;
		case KORE_PGSQL_STATE_DONE:
			kore_pgsql_continue(&st->sql);	/* -> COMPLETE */
			break;
		case KORE_PGSQL_STATE_COMPLETE:
			kore_pgsql_cleanup(&st->sql);
			if (st->hit == NULL)
				return queue_start(req, st);
			send_cached(req, st->hit);
			cache_put(st->hit, st->req, st->req_len); /* or frees */
			st->hit = NULL;
			return KORE_RESULT_OK;
		case KORE_PGSQL_STATE_ERROR:
			goto fail;
		default:
			kore_pgsql_continue(&st->sql);
			break;
		}
	}
fail:
	kore_log(LOG_ERR, "ocsp: %s", st->sql.error != NULL ? st->sql.error :
	    "database unavailable");
	kore_pgsql_cleanup(&st->sql);
	send_error(req, OCSP_TRY_LATER);
	return KORE_RESULT_OK;
}

static void	ocsp_state_free(struct http_request *);

/* The hot path: answered from memory, or a lookup started. */
static int
lookup_start(struct http_request *req, const struct ocsp_certid *id,
    const u_int8_t *der, size_t len)
{
	struct ocsp_state	*st;
	struct cache_ent	*ce;
	u_int8_t		 key[CACHE_KEY_MAX];
	size_t			 klen = cache_key(id, key);

	if ((ce = cache_get(key, klen)) != NULL) {
		cache_alias(ce, der, len);
		send_cached(req, ce);
		return KORE_RESULT_OK;
	}
	st = http_state_create(req, sizeof(*st), ocsp_state_free);
	st->phase = PHASE_LOOKUP;
	memcpy(st->key, key, klen);
	st->key_len = klen;
	serial_hex(id, st->serial);
	st->hash_name = ocsp_hash_name(id->hash);
	memcpy(st->req, der, len);
	st->req_len = len;
	kore_pgsql_init(&st->sql);
	kore_pgsql_bind_request(&st->sql, req);
	if (lookup_send(st) < 0) {
		kore_log(LOG_ERR, "ocsp: %s", st->sql.error != NULL ?
		    st->sql.error : "database unavailable");
		kore_pgsql_cleanup(&st->sql);
		send_error(req, OCSP_TRY_LATER);
		return KORE_RESULT_OK;
	}
	/* INIT: waiting for a connection; Kore wakes the request and
	 * lookup_step sends it then */
	if (st->sql.state == KORE_PGSQL_STATE_INIT)
		return KORE_RESULT_RETRY;
	return lookup_step(req, st);
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
	snprintf(rate, sizeof(rate), "%d", web_cfg.ocsp_queue_rate);
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

	/* Kore cleans up a lookup still bound to the request itself */
	if (st != NULL) {
		free(st->resp);
		free(st->hit);
	}
}

/* Hands the request to ca-serve (in a task, see ocsp_task). */
static int
queue_start(struct http_request *req, struct ocsp_state *st)
{
	st->phase = PHASE_QUEUE;
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
		send_der(req, st->resp, st->resp_len);
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

#if defined(__SANITIZE_ADDRESS__)
/*
 * The sanitizer build's self-test (tests/san/web_san.bats): with
 * SIGNET_WEB_SAN_PROBE set, each OCSP request writes to a heap block it
 * has freed (through a pointer to free the compiler cannot follow), which
 * AddressSanitizer must report in the log from inside the worker's seccomp
 * sandbox. Not in the release build.
 */
static void
san_probe(void)
{
	void		(*volatile release)(void *) = free;
	volatile char	*p;

	if (getenv("SIGNET_WEB_SAN_PROBE") == NULL ||
	    (p = malloc(16)) == NULL)
		return;
	release((void *)p);
	p[0] = 1;
}
#else
#define san_probe()
#endif

int
web_ocsp(struct http_request *req)
{
	static u_int8_t			 der[OCSP_REQUEST_MAX];
	struct ocsp_request		*r = NULL;
	struct ocsp_state		*st;
	struct cache_ent		*ce;
	gnutls_x509_crt_t		 ca;
	const u_int8_t			*nonce;
	struct err			 e;
	size_t				 len, nlen, i;
	int				 rc;

	san_probe();
	if (http_state_exists(req)) {
		struct ocsp_state *st = http_state_get(req);

		if (st->phase == PHASE_LOOKUP)
			return lookup_step(req, st);
		if (kore_task_state(&st->task) != KORE_TASK_STATE_FINISHED) {
			http_request_sleep(req);
			return KORE_RESULT_RETRY;
		}
		return queue_finish(req, st);
	}
	if (read_request(req, der, &len) < 0)
		return KORE_RESULT_OK;
	poll_maybe();
	/* octets seen before: answered without parsing them again */
	if ((ce = cache_get_req(der, len)) != NULL) {
		send_cached(req, ce);
		return KORE_RESULT_OK;
	}
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
		if (!issuer_matches(ocsp_request_certid(r, i), ca)) {
			/* RFC 6960 2.3: not an issuer we answer for */
			send_error(req, OCSP_UNAUTHORIZED);
			goto out;
		}
	nonce = ocsp_request_nonce(r, &nlen);
	/* pre-signed: one CertID, in a hash kept so, without a nonce */
	if (ocsp_request_count(r) == 1 && nonce == NULL &&
	    ocsp_hash_presigned(ocsp_request_certid(r, 0)->hash)) {
		rc = lookup_start(req, ocsp_request_certid(r, 0), der, len);
		ocsp_request_free(r);
		return rc;
	}
	ocsp_request_free(r);
	st = http_state_create(req, sizeof(*st), ocsp_state_free);
	memcpy(st->req, der, len);
	st->req_len = len;
	return queue_start(req, st);
out:
	ocsp_request_free(r);
	return KORE_RESULT_OK;
}
