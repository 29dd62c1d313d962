#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "ca.h"
#include "cakey.h"

int
ca_read_cert_file(const char *path, gnutls_datum_t *der, struct err *e)
{
	gnutls_datum_t		raw = { NULL, 0 };
	gnutls_x509_crt_t	crt = NULL;
	int			rc = -1, r;

	der->data = NULL;
	der->size = 0;
	if ((r = gnutls_load_file(path, &raw)) < 0)
		return err_set(e, "%s: cannot read (%s)", path,
		    gnutls_strerror(r));
	if (gnutls_x509_crt_init(&crt) < 0)
		goto out;
	if ((r = gnutls_x509_crt_import(crt, &raw, GNUTLS_X509_FMT_PEM)) < 0 &&
	    (r = gnutls_x509_crt_import(crt, &raw, GNUTLS_X509_FMT_DER)) < 0) {
		err_set(e, "%s: not a certificate (%s)", path,
		    gnutls_strerror(r));
		goto out;
	}
	if ((r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, der)) < 0) {
		err_set(e, "%s: %s", path, gnutls_strerror(r));
		goto out;
	}
	rc = 0;
out:
	gnutls_x509_crt_deinit(crt);
	gnutls_free(raw.data);
	return rc;
}

struct ca *
ca_open(const struct config *cfg, struct err *e)
{
	struct ca	*ca;
	char		*cert = NULL, *key = NULL, *sfile = NULL, *secret = NULL;
	int		 r;

	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	ca->cfg = cfg;
	cert = config_path(cfg, cfg->ca_cert);
	key = config_path(cfg, cfg->ca_key);
	sfile = config_path(cfg, cfg->ca_secret_file);
	if (cert == NULL || key == NULL) {
		err_set(e, "[ca] cert and key must be set in %s", cfg->path);
		goto fail;
	}
	if (access(cert, F_OK) != 0) {
		err_set(e, "%s: no CA certificate yet (for a subordinate CA, "
		    "install the answer with `signet install-ca CERT`)", cert);
		goto fail;
	}
	if (ca_read_cert_file(cert, &ca->crt_der, e) != 0)
		goto fail;
	if (gnutls_x509_crt_init(&ca->crt) < 0 ||
	    (r = gnutls_x509_crt_import(ca->crt, &ca->crt_der,
	    GNUTLS_X509_FMT_DER)) < 0) {
		err_set(e, "%s: not a certificate", cert);
		goto fail;
	}
	if (cakey_read_secret(sfile, cfg->ca_secret_env, &secret, e) != 0)
		goto fail;
	if ((ca->key = cakey_load(key, secret, e)) == NULL)
		goto fail;
	ca->issuer.crt = ca->crt;
	ca->issuer.key = ca->key;
	ca->issuer.crl_url = cfg->crl_url;
	ca->issuer.ocsp_url = *cfg->ocsp_url ? cfg->ocsp_url : NULL;
	ca->issuer.issuer_url = *cfg->issuer_url ? cfg->issuer_url : NULL;
	ca->issuer.policy_oid = cfg->policy_oid;
	ca->issuer.non_repudiation = cfg->non_repudiation;
	if (cert_issuer_prepare(&ca->issuer, e) != 0)
		goto fail;
	cakey_secret_free(secret);
	free(cert);
	free(key);
	free(sfile);
	return ca;
fail:
	cakey_secret_free(secret);
	free(cert);
	free(key);
	free(sfile);
	ca_free(ca);
	return NULL;
}

void
ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	if (ca->crt != NULL)
		gnutls_x509_crt_deinit(ca->crt);
	if (ca->key != NULL)
		cakey_free(ca->key);
	gnutls_free(ca->crt_der.data);
	free(ca);
}

void
ca_issued_free(struct ca_issued *o)
{
	if (o == NULL)
		return;
	gnutls_free(o->der.data);
	o->der.data = NULL;
	o->der.size = 0;
}

int
ca_issue_tx(struct ca *ca, struct store *st, const struct ca_subject *s,
    gnutls_pubkey_t pub, const struct key_info *ki, const char *actor,
    int64_t request_id, struct ca_issued *out, struct err *e)
{
	struct cert_spec	 spec;
	struct cert_row		 row;
	char			 detail[256];
	int			 tries, r;
	time_t			 now = time(NULL);

	memset(out, 0, sizeof(*out));
	memset(&spec, 0, sizeof(spec));
	spec.email = s->email;
	spec.profile = s->profile;
	spec.days = s->days ? s->days : ca->cfg->default_days;
	spec.not_before = now;
	if (spec.days > ca->cfg->max_days)
		return err_set(e, "%u days is more than this CA allows (%u)",
		    spec.days, ca->cfg->max_days);

	memset(&row, 0, sizeof(row));
	row.email = s->email;
	row.display_name = s->display_name;
	row.profile = cert_profile_name(s->profile);
	row.key_type = ki->name;
	row.issued_by = actor;
	row.request_id = request_id;
	row.not_before = now;
	row.not_after = now + (time_t)spec.days * 86400 - 1;
	if (keys_spki_sha256(pub, row.spki_sha256, e) != 0)
		return -1;

	/* 127 random bits collide never in practice; still, uniqueness per
	 * CA is a rule (RFC 5280 4.1.2.2), so the database decides. */
	for (tries = 0; tries < 4; tries++) {
		if (serial_new(&out->serial, e) != 0)
			return -1;
		serial_hex(&out->serial, out->serial_hex);
		if (cert_issue(&ca->issuer, &spec, pub, &out->serial, &out->der,
		    e) != 0)
			return -1;
		memcpy(row.serial, out->serial_hex, sizeof(row.serial));
		row.der = out->der.data;
		row.der_len = out->der.size;
		if ((r = store_cert_insert(st, &row, e)) < 0)
			goto fail;
		if (r == 0)
			break;
		ca_issued_free(out);
	}
	if (tries == 4) {
		err_set(e, "could not draw an unused serial number");
		goto fail;
	}
	snprintf(detail, sizeof(detail), "serial=%s profile=%s key=%s days=%u",
	    out->serial_hex, row.profile, ki->name, spec.days);
	if (audit_append(st, actor, "cert.issue", s->email, detail, e) != 0 ||
	    store_publish_enqueue(st, "cert.issue", out->serial_hex, s->email,
	    e) != 0)
		goto fail;
	return 0;
fail:
	ca_issued_free(out);
	return -1;
}

int
ca_issue(struct ca *ca, struct store *st, const struct ca_subject *s,
    gnutls_pubkey_t pub, const struct key_info *ki, const char *actor,
    int64_t request_id, struct ca_issued *out, struct err *e)
{
	if (store_begin(st, e) != 0)
		return -1;
	if (ca_issue_tx(ca, st, s, pub, ki, actor, request_id, out, e) != 0) {
		store_rollback(st);
		return -1;
	}
	if (store_commit(st, e) != 0) {
		ca_issued_free(out);
		return -1;
	}
	return 0;
}
