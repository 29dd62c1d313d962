/*
 * crl: the CRL at the CRL distribution point path (/crl/ca.crl, RFC 5280
 * 4.2.1.13) and the CA certificate at the caIssuers path (/ca.cer, DER,
 * RFC 5280 4.2.2.1), both from the database.
 *
 * Each worker keeps the newest CRL in memory and asks the database only
 * for the newest number; a new CRL replaces the copy. Responses stream
 * from the copy without copying it again (a CRL of a million entries is
 * ~44 MB); a reference count keeps an old copy alive until the last
 * download of it ends.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/pgsql.h>

#include "web.h"

struct blob {
	int		 refs;
	long long	 number;
	time_t		 this_update, next_update;
	size_t		 len;
	u_int8_t	 data[];
};

static struct blob		*crl_cur;
static u_int8_t			*ca_der;
static size_t			 ca_len;
static gnutls_x509_crt_t	 ca_crt;

static void
blob_put(struct blob *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

static int
blob_sent(struct netbuf *nb)
{
	blob_put(nb->extra);
	return KORE_RESULT_OK;
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

static void
http_date(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int
web_ca_cert(const u_int8_t **der, size_t *len, gnutls_x509_crt_t *crt)
{
	struct kore_pgsql	sql;
	gnutls_datum_t		d;
	int			rc = -1;

	if (ca_crt == NULL) {
		kore_pgsql_init(&sql);
		if (!kore_pgsql_setup(&sql, WEB_DB, KORE_PGSQL_SYNC) ||
		    !kore_pgsql_query_params(&sql, "SELECT cert FROM ca "
		    "WHERE id = 1", KORE_PGSQL_FORMAT_BINARY, 0) ||
		    kore_pgsql_ntuples(&sql) != 1) {
			kore_pgsql_cleanup(&sql);
			return -1;
		}
		ca_len = kore_pgsql_getlength(&sql, 0, 0);
		ca_der = kore_malloc(ca_len);
		memcpy(ca_der, kore_pgsql_getvalue(&sql, 0, 0), ca_len);
		kore_pgsql_cleanup(&sql);
		d.data = ca_der;
		d.size = (unsigned)ca_len;
		if (gnutls_x509_crt_init(&ca_crt) < 0 ||
		    gnutls_x509_crt_import(ca_crt, &d,
		    GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(ca_crt);
			ca_crt = NULL;
			kore_free(ca_der);
			ca_der = NULL;
			return -1;
		}
	}
	if (der != NULL)
		*der = ca_der;
	if (len != NULL)
		*len = ca_len;
	if (crt != NULL)
		*crt = ca_crt;
	rc = 0;
	return rc;
}

/* Brings crl_cur up to the newest CRL; -1 on a database error, 1 none. */
static int
crl_refresh(void)
{
	struct kore_pgsql	 sql;
	struct blob		*b;
	long long		 number;
	char			 num[24];
	size_t			 len;
	int			 rc = -1;

	kore_pgsql_init(&sql);
	if (!kore_pgsql_setup(&sql, WEB_DB, KORE_PGSQL_SYNC) ||
	    !kore_pgsql_query(&sql, "SELECT max(number) FROM crls"))
		goto out;
	if (kore_pgsql_getlength(&sql, 0, 0) == 0 ||
	    *kore_pgsql_getvalue(&sql, 0, 0) == '\0') {
		rc = 1;
		goto out;
	}
	number = strtoll(kore_pgsql_getvalue(&sql, 0, 0), NULL, 10);
	if (crl_cur != NULL && crl_cur->number == number) {
		rc = 0;
		goto out;
	}
	snprintf(num, sizeof(num), "%lld", number);
	kore_pgsql_cleanup(&sql);
	kore_pgsql_init(&sql);
	if (!kore_pgsql_setup(&sql, WEB_DB, KORE_PGSQL_SYNC) ||
	    !kore_pgsql_query_params(&sql, "SELECT der, "
	    "extract(epoch from this_update)::int8, "
	    "extract(epoch from next_update)::int8 FROM crls "
	    "WHERE number = $1::bigint", KORE_PGSQL_FORMAT_BINARY, 1,
	    KORE_PGSQL_PARAM_TEXT(num)))
		goto out;
	if (kore_pgsql_ntuples(&sql) != 1)
		goto out;
	len = kore_pgsql_getlength(&sql, 0, 0);
	if ((b = malloc(sizeof(*b) + len)) == NULL)
		goto out;
	b->refs = 1;
	b->number = number;
	b->len = len;
	b->this_update = (time_t)be64((u_int8_t *)kore_pgsql_getvalue(&sql,
	    0, 1));
	b->next_update = (time_t)be64((u_int8_t *)kore_pgsql_getvalue(&sql,
	    0, 2));
	memcpy(b->data, kore_pgsql_getvalue(&sql, 0, 0), len);
	blob_put(crl_cur);
	crl_cur = b;
	rc = 0;
out:
	if (rc < 0)
		kore_log(LOG_ERR, "crl: %s", sql.error != NULL ? sql.error :
		    "cannot read the CRL");
	kore_pgsql_cleanup(&sql);
	return rc;
}

int
web_crl(struct http_request *req)
{
	struct blob	*b;
	const char	*inm;
	char		 buf[128];
	time_t		 now = time(NULL);
	int		 r;

	if ((r = crl_refresh()) != 0) {
		http_response_header(req, "content-type",
		    "text/plain; charset=utf-8");
		http_response_header(req, "cache-control", "no-store");
		if (r > 0)
			http_response(req, HTTP_STATUS_NOT_FOUND,
			    "no CRL has been issued yet\n", 27);
		else
			http_response(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
			    "the CRL is unavailable right now\n", 33);
		return KORE_RESULT_OK;
	}
	b = crl_cur;
	/* RFC 5280 5.2.3 cRLNumber identifies the CRL: a strong ETag */
	snprintf(buf, sizeof(buf), "\"crl-%lld\"", b->number);
	http_response_header(req, "etag", buf);
	http_response_header(req, "content-type", "application/pkix-crl");
	http_date(b->this_update, buf, sizeof(buf));
	http_response_header(req, "last-modified", buf);
	http_date(b->next_update, buf, sizeof(buf));
	http_response_header(req, "expires", buf);
	/* a revocation replaces the CRL at once; caches may keep it a
	 * little while, never past nextUpdate */
	snprintf(buf, sizeof(buf), "max-age=%ld, public, no-transform, "
	    "must-revalidate", b->next_update - now < 300 ?
	    (long)(b->next_update > now ? b->next_update - now : 0) : 300L);
	http_response_header(req, "cache-control", buf);
	if (http_request_header(req, "if-none-match", &inm)) {
		snprintf(buf, sizeof(buf), "\"crl-%lld\"", b->number);
		if (strcmp(inm, buf) == 0) {
			http_response(req, HTTP_STATUS_NOT_MODIFIED, NULL, 0);
			return KORE_RESULT_OK;
		}
	}
	if (req->method == HTTP_METHOD_HEAD) {
		http_response_stream(req, HTTP_STATUS_OK, b->data, b->len,
		    NULL, NULL);
		return KORE_RESULT_OK;
	}
	b->refs++;
	http_response_stream(req, HTTP_STATUS_OK, b->data, b->len, blob_sent,
	    b);
	return KORE_RESULT_OK;
}

int
web_ca_cer(struct http_request *req)
{
	const u_int8_t	*der;
	size_t		 len;

	if (web_ca_cert(&der, &len, NULL) < 0) {
		http_response_header(req, "content-type",
		    "text/plain; charset=utf-8");
		http_response(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "the CA certificate is unavailable right now\n", 44);
		return KORE_RESULT_OK;
	}
	/* RFC 5280 4.2.2.1: a single DER certificate, application/pkix-cert
	 * (RFC 2585 4.1) */
	http_response_header(req, "content-type", "application/pkix-cert");
	http_response_header(req, "cache-control", "public, max-age=86400");
	http_response(req, HTTP_STATUS_OK, der, len);
	return KORE_RESULT_OK;
}
