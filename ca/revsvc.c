/*
 * revsvc: the revocation service inside ca-serve (DESIGN.md, Revocation).
 *
 * Each tick, in order of urgency:
 *  1. the OCSP queue: requests signet-web could not take from the cache
 *     (a nonce, several CertIDs, a miss) and re-signs after a revocation;
 *  2. the delegated responder certificate, rotated with half its life left;
 *  3. the CRL, after a revocation or with less than a day to nextUpdate;
 *  4. pre-signing: a walk over the certificates in serial order, signing
 *     the SHA-1 CertID response of each unexpired one that is missing or
 *     past half its validity, a window at a time within a time budget.
 *
 * Configuration, [revocation] in signet.conf:
 *   crl_next_days  (7)  CRL nextUpdate - thisUpdate, 1..10 (S/MIME BR 4.9.7)
 *   ocsp_hours     (24) response validity, 8..240 (S/MIME BR 4.9.10)
 *   ocsp_signer    (delegated) or "ca": who signs responses
 *   signer_hours   (48) delegated responder validity, 2..720
 *   signer_key_type (ecdsa-p256) the responder's key
 *   presign_interval_minutes (10) how often a pre-signing walk starts
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <ini.h>

#include "asn.h"
#include "ca.h"
#include "cakey.h"
#include "crl.h"
#include "config.h"
#include "ocsp.h"
#include "revsvc.h"
#include "store_rev.h"

#define QUEUE_BATCH	200
#define PRESIGN_SCAN	5000	/* serials examined per window */
#define PRESIGN_LIMIT	1000	/* responses signed per transaction */
#define PRESIGN_BUDGET	0.25	/* seconds of pre-signing per tick */
#define CRL_MARGIN	86400	/* refresh with less than a day left */

struct rev_config {
	unsigned	 crl_next_days;
	unsigned	 ocsp_hours;
	unsigned	 signer_hours;
	unsigned	 presign_minutes;
	int		 signer_is_ca;
	char		 signer_key_type[32];
	char		 why[160];
	int		 failed;
};

struct revsvc {
	struct ca		*ca;
	struct store		*st;
	struct rev_config	 cfg;
	char			*secret;	/* unlocks the responder key */
	/* CertID issuer hashes (RFC 6960 4.1.1) for SHA-1 and SHA-256 */
	uint8_t			 name_hash[2][32], key_hash[2][32];
	/* the current signer */
	struct ocsp_signer	 signer;
	int64_t			 signer_id;
	time_t			 signer_not_after;
	/* the pre-signing walk */
	int			 walking;
	char			 walk_after[41];
	time_t			 walk_last;
	time_t			 last_prune;
	int64_t			 signed_n;	/* responses signed */
	struct store_ocsp_batch	*batch;		/* a window's responses */
};

static int
cfg_handler(void *user, const char *sec, const char *key, const char *val)
{
	struct rev_config	*c = user;
	const char		*why = NULL;

	if (c->failed || strcmp(sec, "revocation") != 0)
		return 1;
	if (!strcmp(key, "crl_next_days")) {
		if (config_uint(val, 1, 10, &c->crl_next_days))
			why = "must be 1 to 10 days (S/MIME BR 4.9.7)";
	} else if (!strcmp(key, "ocsp_hours")) {
		if (config_uint(val, 8, 240, &c->ocsp_hours))
			why = "must be 8 to 240 hours (S/MIME BR 4.9.10)";
	} else if (!strcmp(key, "signer_hours")) {
		if (config_uint(val, 2, 720, &c->signer_hours))
			why = "must be 2 to 720 hours";
	} else if (!strcmp(key, "presign_interval_minutes")) {
		if (config_uint(val, 1, 1440, &c->presign_minutes))
			why = "must be 1 to 1440 minutes";
	} else if (!strcmp(key, "ocsp_signer")) {
		if (!strcmp(val, "ca"))
			c->signer_is_ca = 1;
		else if (!strcmp(val, "delegated"))
			c->signer_is_ca = 0;
		else
			why = "must be delegated or ca";
	} else if (!strcmp(key, "signer_key_type")) {
		if (strcmp(val, "ecdsa-p256") && strcmp(val, "ecdsa-p384") &&
		    strcmp(val, "rsa-3072"))
			why = "must be ecdsa-p256, ecdsa-p384 or rsa-3072";
		else
			snprintf(c->signer_key_type,
			    sizeof(c->signer_key_type), "%s", val);
	} else if (!strcmp(key, "nonce_rate")) {
		/* once read by nobody: refused, so no one relies on it */
		why = "not a setting; signet-web's SIGNET_OCSP_QUEUE_RATE "
		    "limits the signatures made on demand";
	} else
		why = "unknown setting";
	if (why != NULL) {
		snprintf(c->why, sizeof(c->why), "[revocation] %s: %s", key,
		    why);
		c->failed = 1;
		return 0;
	}
	return 1;
}

static int
config_read(const char *path, struct rev_config *c, struct err *e)
{
	int	line;

	memset(c, 0, sizeof(*c));
	c->crl_next_days = 7;
	c->ocsp_hours = 24;
	c->signer_hours = 48;
	c->presign_minutes = 10;
	snprintf(c->signer_key_type, sizeof(c->signer_key_type),
	    "ecdsa-p256");
	if ((line = ini_parse(path, cfg_handler, c)) < 0)
		return err_set(e, "%s: cannot read", path);
	if (c->failed)
		return err_set(e, "%s line %d: %s", path, line, c->why);
	/* a response must not outlive its responder's certificate */
	if (!c->signer_is_ca && c->ocsp_hours > c->signer_hours / 2)
		return err_set(e, "%s: [revocation] ocsp_hours (%u) must be at "
		    "most half of signer_hours (%u)", path, c->ocsp_hours,
		    c->signer_hours);
	return 0;
}

static int
issuer_hashes(struct revsvc *rs, struct err *e)
{
	static const gnutls_digest_algorithm_t algs[2] = { GNUTLS_DIG_SHA1,
	    GNUTLS_DIG_SHA256 };
	gnutls_datum_t	dn = { NULL, 0 };
	size_t		klen;
	int		i, rc = -1;

	if (gnutls_x509_crt_get_raw_dn(rs->ca->crt, &dn) < 0) {
		err_set(e, "the CA certificate has no subject");
		goto out;
	}
	for (i = 0; i < 2; i++) {
		/* RFC 6960 4.1.1 issuerNameHash, issuerKeyHash */
		uint8_t	kh[64];

		if (gnutls_hash_fast(algs[i], dn.data, dn.size,
		    rs->name_hash[i]) < 0 ||
		    asn_key_hash(rs->ca->crt, algs[i], kh, &klen, e) < 0)
			goto out;
		memcpy(rs->key_hash[i], kh, klen);
	}
	rc = 0;
out:
	gnutls_free(dn.data);
	return rc;
}

static void
signer_clear(struct revsvc *rs)
{
	if (!rs->cfg.signer_is_ca) {
		if (rs->signer.key != NULL)
			cakey_free(rs->signer.key);
		if (rs->signer.cert != NULL)
			gnutls_x509_crt_deinit(rs->signer.cert);
	}
	memset(&rs->signer, 0, sizeof(rs->signer));
	rs->signer_id = 0;
	rs->signer_not_after = 0;
}

struct revsvc *
revsvc_new(struct ca *ca, struct store *st, struct err *e)
{
	struct revsvc	*rs;
	char		*sfile = NULL;

	if ((rs = calloc(1, sizeof(*rs))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	rs->ca = ca;
	rs->st = st;
	if (config_read(ca->cfg->path, &rs->cfg, e) < 0 ||
	    issuer_hashes(rs, e) < 0 ||
	    (rs->batch = store_ocsp_batch_new(e)) == NULL)
		goto fail;
	if (rs->cfg.signer_is_ca) {
		rs->signer.key = ca->key;
		rs->signer.cert = ca->crt;
		rs->signer.include_cert = 0;
		rs->signer_not_after = gnutls_x509_crt_get_expiration_time(
		    ca->crt);
	} else {
		/* the responder's key file is encrypted under the CA's own
		 * secret, so it is as safe as the CA key file beside it */
		sfile = config_path(ca->cfg, ca->cfg->ca_secret_file);
		if (cakey_read_secret(sfile, ca->cfg->ca_secret_env,
		    &rs->secret, e) != 0)
			goto fail;
		free(sfile);
	}
	return rs;
fail:
	free(sfile);
	revsvc_free(rs);
	return NULL;
}

void
revsvc_free(struct revsvc *rs)
{
	if (rs == NULL)
		return;
	signer_clear(rs);
	cakey_secret_free(rs->secret);
	store_ocsp_batch_free(rs->batch);
	free(rs);
}

/* ---- the delegated responder ---------------------------------------- */

static int
signer_load(struct revsvc *rs, const struct store_signer *s, struct err *e)
{
	gnutls_datum_t	 d = { s->cert, (unsigned)s->cert_len };
	char		*path;

	signer_clear(rs);
	if ((path = config_path(rs->ca->cfg, s->key_file)) == NULL)
		return err_set(e, "out of memory");
	rs->signer.key = cakey_load(path, rs->secret, e);
	free(path);
	if (rs->signer.key == NULL)
		return err_wrap(e, "the OCSP responder key");
	if (gnutls_x509_crt_init(&rs->signer.cert) < 0 ||
	    gnutls_x509_crt_import(rs->signer.cert, &d,
	    GNUTLS_X509_FMT_DER) < 0) {
		signer_clear(rs);
		return err_set(e, "the OCSP responder certificate is damaged");
	}
	/* RFC 6960 4.2.2.2: the client needs it to check the delegation */
	rs->signer.include_cert = 1;
	rs->signer_id = s->id;
	rs->signer_not_after = s->not_after;
	return 0;
}

int
revsvc_signer_rotate(struct revsvc *rs, time_t *not_after, struct err *e)
{
	gnutls_pubkey_t		 pub = NULL;
	gnutls_privkey_t	 key = NULL;
	gnutls_datum_t		 der = { NULL, 0 };
	struct store_signer	 old, cur;
	char			 rel[96], *path = NULL, *oldpath = NULL;
	uint8_t			 rnd[8];
	time_t			 now = time(NULL);
	int			 have_old, rc = -1;

	memset(&cur, 0, sizeof(cur));
	if (rs->cfg.signer_is_ca) {
		err_set(e, "[revocation] ocsp_signer = ca: the CA signs OCSP "
		    "responses itself; there is no responder to rotate");
		return -1;
	}
	if ((have_old = store_ocsp_signer_current(rs->st, &old, e)) < 0)
		return -1;
	gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
	snprintf(rel, sizeof(rel), "ocsp-signer-%lld-%02x%02x%02x%02x.key",
	    (long long)now, rnd[0], rnd[1], rnd[2], rnd[3]);
	if ((path = config_path(rs->ca->cfg, rel)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (cakey_generate_file(rs->cfg.signer_key_type, path, rs->secret,
	    e) != 0 || (key = cakey_load(path, rs->secret, e)) == NULL)
		goto out;
	if (gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_privkey(pub, key, 0, 0) < 0) {
		err_set(e, "reading the responder's public key");
		goto out;
	}
	if (ocsp_signer_cert_issue(rs->ca->crt, rs->ca->key, pub,
	    rs->cfg.signer_hours, &der, e) != 0)
		goto out;
	/* ocsp_signer_cert_issue: from now - 300 s for clock skew */
	if (store_ocsp_signer_add(rs->st, der.data, der.size, rel, now - 300,
	    now + 3600 * (time_t)rs->cfg.signer_hours, e) != 0)
		goto out;
	if (store_ocsp_signer_current(rs->st, &cur, e) != 0 ||
	    signer_load(rs, &cur, e) != 0)
		goto out;
	/* responses signed with the old key stay valid with the old
	 * certificate; the key itself is no longer needed */
	if (have_old == 0 && (oldpath = config_path(rs->ca->cfg,
	    old.key_file)) != NULL)
		unlink(oldpath);
	if (not_after != NULL)
		*not_after = rs->signer_not_after;
	rc = 0;
out:
	if (rc != 0 && path != NULL)
		unlink(path);
	if (have_old == 0)
		free(old.cert);
	free(cur.cert);
	free(path);
	free(oldpath);
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
	if (key != NULL)
		cakey_free(key);
	return rc;
}

/* Makes sure a signer is loaded with at least half its life left. */
static int
signer_ready(struct revsvc *rs, struct err *e)
{
	struct store_signer	s;
	time_t			now = time(NULL), half;
	int			r;

	if (rs->cfg.signer_is_ca)
		return 0;
	half = 3600 * (time_t)rs->cfg.signer_hours / 2;
	if (rs->signer.key != NULL && rs->signer_not_after - now > half)
		return 0;
	/* another process (signet ocsp-signer) may have rotated it */
	if ((r = store_ocsp_signer_current(rs->st, &s, e)) < 0)
		return -1;
	if (r == 0 && s.not_after - now > half && s.id != rs->signer_id) {
		r = signer_load(rs, &s, e);
		free(s.cert);
		return r;
	}
	if (r == 0)
		free(s.cert);
	return revsvc_signer_rotate(rs, NULL, e);
}

/* ---- signing -------------------------------------------------------- */

static int
hex_octets(const char *hex, uint8_t *out, size_t max, size_t *len)
{
	size_t	n = strlen(hex), i;
	int	hi, lo;

	if (n == 0 || n % 2 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		hi = hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10;
		lo = hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' :
		    hex[2 * i + 1] - 'a' + 10;
		if (hi < 0 || hi > 15 || lo < 0 || lo > 15)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

static void
octets_hex(const uint8_t *b, size_t n, char out[41])
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n && i < 20; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * i] = '\0';
}

/* The validity of a response signed now (RFC 6960 4.2.2.1; RFC 5019 4). */
static void
response_times(struct revsvc *rs, time_t now, time_t *tu, time_t *nu)
{
	*tu = now;
	*nu = now + 3600 * (time_t)rs->cfg.ocsp_hours;
	if (*nu > rs->signer_not_after)
		*nu = rs->signer_not_after;
}

static void
single_from_status(struct ocsp_single *sg, const struct store_cert_status *s,
    time_t tu, time_t nu)
{
	sg->status = s->revoked ? OCSP_REVOKED : OCSP_GOOD;
	sg->revoked_at = s->revoked_at;
	sg->reason = s->revoked ? s->reason : -1;
	sg->this_update = tu;
	sg->next_update = nu;
}

/* Signs and caches the response for one certificate and CertID hash:
 * stored at once, or added to batch (stored with the rest of a window). */
static int
presign_one(struct revsvc *rs, const struct store_cert_status *s, int h,
    struct store_ocsp_batch *batch, struct err *e)
{
	struct ocsp_certid	id;
	struct ocsp_single	sg;
	gnutls_datum_t		der = { NULL, 0 };
	time_t			now = time(NULL), tu, nu;
	int			rc = -1;

	memset(&id, 0, sizeof(id));
	id.hash = h == 0 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256;
	id.hash_len = h == 0 ? 20 : 32;
	memcpy(id.name_hash, rs->name_hash[h], id.hash_len);
	memcpy(id.key_hash, rs->key_hash[h], id.hash_len);
	if (hex_octets(s->serial, id.serial, sizeof(id.serial),
	    &id.serial_len) < 0)
		return err_set(e, "%s: bad serial in the database", s->serial);
	memset(&sg, 0, sizeof(sg));
	sg.id = &id;
	response_times(rs, now, &tu, &nu);
	single_from_status(&sg, s, tu, nu);
	if (ocsp_response_build(&rs->signer, &sg, 1, NULL, 0, now, &der,
	    e) < 0)
		goto out;
	if ((batch != NULL ? store_ocsp_batch_add(batch, s->serial, h == 0 ?
	    "sha1" : "sha256", s->revoked, der.data, der.size, tu, nu, now, e) :
	    store_ocsp_response_put_tx(rs->st, s->serial, h == 0 ? "sha1" :
	    "sha256", s->revoked, der.data, der.size, tu, nu, now, e)) < 0)
		goto out;
	rs->signed_n++;
	rc = 0;
out:
	gnutls_free(der.data);
	return rc;
}

static int
presign_sha1(void *arg, const struct store_cert_status *s, struct err *e)
{
	struct revsvc	*rs = arg;

	return presign_one(rs, s, 0, rs->batch, e);
}

/* ---- the queue ------------------------------------------------------ */

struct queue_ctx {
	struct revsvc	*rs;
	int		 n;
};

static int
answer_error(struct revsvc *rs, int64_t id, int status, struct err *e)
{
	gnutls_datum_t	der = { NULL, 0 };
	int		rc;

	if (ocsp_response_error(status, &der, e) < 0)
		return -1;
	rc = store_ocsp_queue_answer(rs->st, id, der.data, der.size, e);
	gnutls_free(der.data);
	return rc;
}

/* A request from signet-web: statuses read under FOR SHARE, signed with
 * the nonce echoed (RFC 8954), cached when it is a plain single answer. */
static int
answer_request(struct revsvc *rs, int64_t id, const uint8_t *req_der,
    size_t len, struct err *e)
{
	struct ocsp_request		*req = NULL;
	struct ocsp_single		 sg[OCSP_MAX_CERTS];
	struct store_cert_status	 st[OCSP_MAX_CERTS];
	const struct ocsp_certid	*id0;
	const uint8_t			*nonce;
	gnutls_datum_t			 der = { NULL, 0 };
	struct err			 pe;
	char				 hex[41];
	size_t				 n, i, nlen;
	time_t				 now = time(NULL), tu, nu;
	int				 r, rc = -1;

	if ((req = ocsp_request_parse(req_der, len, &pe)) == NULL) {
		rc = answer_error(rs, id, 1, e);	/* malformedRequest */
		goto out;
	}
	n = ocsp_request_count(req);
	response_times(rs, now, &tu, &nu);
	memset(sg, 0, sizeof(sg));
	for (i = 0; i < n; i++) {
		id0 = ocsp_request_certid(req, i);
		if (!ocsp_certid_matches_issuer(id0, rs->ca->crt)) {
			/* RFC 6960 2.3: not a certificate we can speak for */
			rc = answer_error(rs, id, 6, e);
			goto out;
		}
		sg[i].id = id0;
		octets_hex(id0->serial, id0->serial_len, hex);
		if ((r = store_ocsp_status_tx(rs->st, hex, &st[i], e)) < 0)
			goto out;
		if (r == 1) {
			/* RFC 6960 2.2: never issued by us -- unknown */
			sg[i].status = OCSP_UNKNOWN;
			sg[i].reason = -1;
			sg[i].this_update = tu;
			sg[i].next_update = nu;
			st[i].serial[0] = '\0';
		} else
			single_from_status(&sg[i], &st[i], tu, nu);
	}
	nonce = ocsp_request_nonce(req, &nlen);
	if (ocsp_response_build(&rs->signer, sg, n, nonce, nlen, now, &der,
	    e) < 0)
		goto out;
	/* kept as the pre-signed response only in the forms re-signed at
	 * once on revocation */
	if (n == 1 && nonce == NULL && st[0].serial[0] != '\0' &&
	    ocsp_hash_presigned(sg[0].id->hash) &&
	    store_ocsp_response_put_tx(rs->st, st[0].serial,
	    ocsp_hash_name(sg[0].id->hash), st[0].revoked, der.data,
	    der.size, tu, nu, now, e) < 0)
		goto out;
	rc = store_ocsp_queue_answer(rs->st, id, der.data, der.size, e);
out:
	gnutls_free(der.data);
	ocsp_request_free(req);
	return rc;
}

/* A revocation's immediate re-sign of both CertID forms. */
static int
answer_resign(struct revsvc *rs, int64_t id, const char *serial,
    struct err *e)
{
	struct store_cert_status	s;
	int				r;

	if ((r = store_ocsp_status_tx(rs->st, serial, &s, e)) < 0)
		return -1;
	if (r == 0 && (presign_one(rs, &s, 0, NULL, e) < 0 ||
	    presign_one(rs, &s, 1, NULL, e) < 0))
		return -1;
	return store_ocsp_queue_answer(rs->st, id, NULL, 0, e);
}

static int
queue_one(void *arg, int64_t id, const uint8_t *req, size_t len,
    const char *serial, struct err *e)
{
	struct queue_ctx	*q = arg;
	struct revsvc		*rs = q->rs;
	int			 rc;

	/* each entry in its own transaction: its status lock is short */
	if (store_begin(rs->st, e) < 0)
		return -1;
	rc = req != NULL ? answer_request(rs, id, req, len, e) :
	    answer_resign(rs, id, serial, e);
	if (rc < 0) {
		store_rollback(rs->st);
		return -1;
	}
	q->n++;
	return store_commit(rs->st, e);
}

static int
queue_run(struct revsvc *rs, int *more, struct err *e)
{
	struct queue_ctx	q = { rs, 0 };

	if (store_ocsp_queue_each(rs->st, QUEUE_BATCH, queue_one, &q, e) < 0)
		return -1;
	if (q.n == QUEUE_BATCH)
		*more = 1;
	if (time(NULL) - rs->last_prune >= 60) {
		rs->last_prune = time(NULL);
		return store_ocsp_queue_prune(rs->st, e);
	}
	return 0;
}

/* ---- CRLs ----------------------------------------------------------- */

/* One revoked certificate from the database's stream, straight into the
 * CRL writer (crl.h): the entries are read from the database once. */
static int
crl_add(void *arg, const char *serial, time_t revoked_at, int reason,
    struct err *e)
{
	struct crl_entry	ent;
	uint8_t			sn[20];

	if (hex_octets(serial, sn, sizeof(sn), &ent.serial_len) < 0)
		return err_set(e, "%s: bad serial in the database", serial);
	ent.serial = sn;
	ent.revoked_at = revoked_at;
	/* RFC 5280 5.3.1: unspecified(0) is written without reasonCode */
	ent.reason = reason;
	return crl_writer_add(arg, &ent, e);
}

static FILE *
temp_file(struct revsvc *rs, const char *what, struct err *e)
{
	char	*path, *run;
	FILE	*f = NULL;
	int	 fd;

	if ((run = config_path(rs->ca->cfg, "run")) != NULL) {
		mkdir(run, 0700);	/* EEXIST is fine; mkstemp reports */
		free(run);
	}
	if ((path = config_path(rs->ca->cfg, what)) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	if ((fd = mkstemp(path)) < 0)
		err_set(e, "%s: %s", path, strerror(errno));
	else {
		unlink(path);	/* gone when closed, whatever happens */
		if ((f = fdopen(fd, "w+")) == NULL) {
			err_set(e, "%s: %s", path, strerror(errno));
			close(fd);
		}
	}
	free(path);
	return f;
}

int
revsvc_crl_now(struct revsvc *rs, int64_t *number, int64_t *entries,
    struct err *e)
{
	struct store_crl_info	 info;
	struct crl_params	 p;
	struct crl_writer	*w = NULL;
	FILE			*scratch = NULL, *out = NULL;
	int			 rc = -1, intx = 0;

	memset(&info, 0, sizeof(info));
	if ((scratch = temp_file(rs, "run/crl-entries.XXXXXX", e)) == NULL ||
	    (out = temp_file(rs, "run/crl-der.XXXXXX", e)) == NULL)
		goto out;
	/* tens of megabytes go through each: fewer, larger writes */
	setvbuf(scratch, NULL, _IOFBF, 256 * 1024);
	setvbuf(out, NULL, _IOFBF, 256 * 1024);
	if (store_crl_begin(rs->st, &info.number, &info.last_event, e) < 0)
		goto out;
	intx = 1;
	info.this_update = time(NULL);
	/* RFC 5280 5.1.2.5; S/MIME BR 4.9.7: at most 10 days later */
	info.next_update = info.this_update +
	    86400 * (time_t)rs->cfg.crl_next_days;
	memset(&p, 0, sizeof(p));
	p.ca = rs->ca->crt;
	p.key = rs->ca->key;
	p.number = (uint64_t)info.number;
	p.this_update = info.this_update;
	p.next_update = info.next_update;
	if ((w = crl_writer_new(&p, scratch, out, e)) == NULL ||
	    store_crl_entries(rs->st, info.this_update, crl_add, w, e) < 0)
		goto out;
	info.entries = (int64_t)crl_writer_count(w);
	if (crl_writer_finish(w, e) < 0 ||
	    store_crl_put_tx(rs->st, &info, out, e) < 0 ||
	    store_commit(rs->st, e) < 0)
		goto out;
	intx = 0;
	if (number != NULL)
		*number = info.number;
	if (entries != NULL)
		*entries = info.entries;
	rc = 0;
out:
	if (intx)
		store_rollback(rs->st);
	if (rc < 0)
		err_wrap(e, "making the CRL");
	crl_writer_free(w);
	if (scratch != NULL)
		fclose(scratch);
	if (out != NULL)
		fclose(out);
	return rc;
}

static int
crl_due(struct revsvc *rs, int *due, struct err *e)
{
	struct store_crl_info	c;
	int64_t			last;
	int			r;

	*due = 0;
	if ((r = store_crl_latest(rs->st, &c, e)) < 0 ||
	    store_rev_last_event(rs->st, &last, e) < 0)
		return -1;
	/* DESIGN.md: at once after a revocation, and before nextUpdate */
	if (r == 1 || last > c.last_event ||
	    c.next_update - time(NULL) < CRL_MARGIN)
		*due = 1;
	return 0;
}

/* ---- pre-signing ---------------------------------------------------- */

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One window of the walk; *done is set at the end of the table. */
static int
presign_window(struct revsvc *rs, int *done, struct err *e)
{
	char	end[41];
	time_t	refresh;

	/* refresh a response with less than half its validity left */
	refresh = time(NULL) + 3600 * (time_t)rs->cfg.ocsp_hours / 2;
	if (store_begin(rs->st, e) < 0)
		return -1;
	/* the window's responses go in one statement before the commit
	 * (the epoch lock, store_rev.h) */
	if (store_ocsp_presign_tx(rs->st, rs->walk_after, PRESIGN_SCAN,
	    PRESIGN_LIMIT, refresh, presign_sha1, rs, end, e) < 0 ||
	    store_ocsp_batch_flush_tx(rs->st, rs->batch, e) < 0 ||
	    store_commit(rs->st, e) < 0) {
		store_rollback(rs->st);
		store_ocsp_batch_clear(rs->batch);
		return -1;
	}
	snprintf(rs->walk_after, sizeof(rs->walk_after), "%s", end);
	*done = end[0] == '\0';
	return 0;
}

static int
presign_run(struct revsvc *rs, double budget, int *more, struct err *e)
{
	double	t0 = now_s();
	int	done = 0;

	if (!rs->walking) {
		if (time(NULL) - rs->walk_last <
		    60 * (time_t)rs->cfg.presign_minutes && rs->walk_last != 0)
			return 0;
		rs->walking = 1;
		rs->walk_after[0] = '\0';
		rs->walk_last = time(NULL);
	}
	while (!done && (budget <= 0 || now_s() - t0 < budget))
		if (presign_window(rs, &done, e) < 0)
			return -1;
	if (done)
		rs->walking = 0;
	else
		*more = 1;
	return 0;
}

/* ---- the tick ------------------------------------------------------- */

static int
tick(struct revsvc *rs, double budget, int *more, struct err *e)
{
	int	due;

	*more = 0;
	if (signer_ready(rs, e) < 0 || queue_run(rs, more, e) < 0)
		return -1;
	if (crl_due(rs, &due, e) < 0 ||
	    (due && revsvc_crl_now(rs, NULL, NULL, e) < 0))
		return -1;
	/* answer what queued up meanwhile before the long part */
	if (queue_run(rs, more, e) < 0)
		return -1;
	return presign_run(rs, budget, more, e);
}

int
revsvc_tick(struct revsvc *rs, struct err *e)
{
	int	more;

	if (tick(rs, PRESIGN_BUDGET, &more, e) < 0)
		return -1;
	/* come back at once for the rest (see revsvc.h) */
	if (more)
		return store_rev_notify(rs->st, "more", e);
	return 0;
}

int
revsvc_refresh_all(struct revsvc *rs, int64_t *count, struct err *e)
{
	int64_t	before = rs->signed_n;
	int	more;

	rs->walking = 0;
	rs->walk_last = 0;
	if (tick(rs, 0, &more, e) < 0)
		return -1;
	*count = rs->signed_n - before;
	return 0;
}
