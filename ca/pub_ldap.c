/*
 * pub_ldap: publishes certificates to an LDAP directory with libldap.
 *
 * A person's entry gets the certificate in userCertificate;binary
 * (RFC 4523 2.1) and a PKCS#7 certs-only of the valid ones in
 * userSMIMECertificate (RFC 2798 2.6), which Outlook and Thunderbird read.
 * Every change is one modify operation, atomic per RFC 4511 4.6, computed
 * from the entry as read just before: exactly Signet's values are added
 * or deleted, so foreign certificates survive and a repeated job changes
 * nothing.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs7.h>
#include <gnutls/x509.h>

#include "cakey.h"
#include "config.h"
#include "pub_ldap.h"

enum bind_kind { BIND_UNSET, BIND_NONE, BIND_SIMPLE, BIND_EXTERNAL };

struct pub_ldap {
	char		*name;		/* ldap.NAME */
	char		*uri, *bind_dn, *password_file, *base_dn, *filter;
	char		*ca_dn, *tls_cacert, *tls_cert, *tls_key;
	char		*cert_attr, *smime_attr, *ca_cert_attr, *crl_attr;
	enum bind_kind	 bind;
	int		 create_ca;
	unsigned	 timeout;
	int		 notxn;		/* the server refused RFC 5805 */
	LDAP		*ld;
};

/* Values of one attribute as read from an entry. */
struct vals {
	struct berval	**v;
};

static int
setstr(char **dst, const char *val, struct err *e)
{
	char	*s;

	if ((s = strdup(val)) == NULL)
		return err_set(e, "out of memory");
	free(*dst);
	*dst = s;
	return 0;
}

struct pub_ldap *
pub_ldap_new(const char *name, struct err *e)
{
	struct pub_ldap	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    asprintf(&l->name, "ldap.%s", name) < 0) {
		free(l);
		err_set(e, "out of memory");
		return NULL;
	}
	l->timeout = 10;
	if (setstr(&l->filter, "(mail=%s)", e) != 0 ||
	    setstr(&l->cert_attr, "userCertificate;binary", e) != 0 ||
	    setstr(&l->smime_attr, "userSMIMECertificate", e) != 0 ||
	    setstr(&l->ca_cert_attr, "cACertificate;binary", e) != 0 ||
	    setstr(&l->crl_attr, "certificateRevocationList;binary", e) != 0) {
		pub_ldap_free(l);
		return NULL;
	}
	return l;
}

void
pub_ldap_close(struct pub_ldap *l)
{
	if (l != NULL && l->ld != NULL) {
		ldap_unbind_ext_s(l->ld, NULL, NULL);
		l->ld = NULL;
	}
}

void
pub_ldap_free(struct pub_ldap *l)
{
	if (l == NULL)
		return;
	pub_ldap_close(l);
	free(l->name);
	free(l->uri);
	free(l->bind_dn);
	free(l->password_file);
	free(l->base_dn);
	free(l->filter);
	free(l->ca_dn);
	free(l->tls_cacert);
	free(l->tls_cert);
	free(l->tls_key);
	free(l->cert_attr);
	free(l->smime_attr);
	free(l->ca_cert_attr);
	free(l->crl_attr);
	free(l);
}

const char *
pub_ldap_name(const struct pub_ldap *l)
{
	return l->name;
}

/* The filter template takes exactly one %s and no other conversion. */
static int
filter_ok(const char *f)
{
	const char	*p;
	int		 n = 0;

	for (p = f; (p = strchr(p, '%')) != NULL; p += 2) {
		if (p[1] != 's')
			return 0;
		n++;
	}
	return n == 1 && f[0] == '(';
}

int
pub_ldap_set(struct pub_ldap *l, const char *key, const char *val,
    struct err *e)
{
	if (!strcmp(key, "uri")) {
		if (strncmp(val, "ldap://", 7) && strncmp(val, "ldaps://", 8) &&
		    strncmp(val, "ldapi://", 8))
			return err_set(e, "uri must be ldap://, ldaps:// or "
			    "ldapi://");
		return setstr(&l->uri, val, e);
	}
	if (!strcmp(key, "bind")) {
		if (!strcmp(val, "none"))
			l->bind = BIND_NONE;
		else if (!strcmp(val, "simple"))
			l->bind = BIND_SIMPLE;
		else if (!strcmp(val, "sasl-external"))
			l->bind = BIND_EXTERNAL;
		else
			return err_set(e, "bind must be none, simple or "
			    "sasl-external");
		return 0;
	}
	if (!strcmp(key, "create_ca_entry")) {
		if (config_bool(val, &l->create_ca) != 0)
			return err_set(e, "create_ca_entry must be yes or no");
		return 0;
	}
	if (!strcmp(key, "timeout")) {
		if (config_uint(val, 1, 600, &l->timeout) != 0)
			return err_set(e, "timeout must be 1 to 600 seconds");
		return 0;
	}
	if (!strcmp(key, "filter")) {
		if (!filter_ok(val))
			return err_set(e, "filter must be an LDAP filter with "
			    "exactly one %%s, e.g. (mail=%%s)");
		return setstr(&l->filter, val, e);
	}
	if (!strcmp(key, "bind_dn"))
		return setstr(&l->bind_dn, val, e);
	if (!strcmp(key, "password_file"))
		return setstr(&l->password_file, val, e);
	if (!strcmp(key, "base_dn"))
		return setstr(&l->base_dn, val, e);
	if (!strcmp(key, "ca_dn"))
		return setstr(&l->ca_dn, val, e);
	if (!strcmp(key, "tls_cacert"))
		return setstr(&l->tls_cacert, val, e);
	if (!strcmp(key, "tls_cert"))
		return setstr(&l->tls_cert, val, e);
	if (!strcmp(key, "tls_key"))
		return setstr(&l->tls_key, val, e);
	if (!strcmp(key, "cert_attr"))
		return setstr(&l->cert_attr, val, e);
	if (!strcmp(key, "smime_attr"))
		return setstr(&l->smime_attr, val, e);
	if (!strcmp(key, "ca_cert_attr"))
		return setstr(&l->ca_cert_attr, val, e);
	if (!strcmp(key, "crl_attr"))
		return setstr(&l->crl_attr, val, e);
	return err_set(e, "unknown setting");
}

/* A setting that names a file, made absolute (relative to the home). */
static int
abs_path(const struct config *cfg, char **path, struct err *e)
{
	char	*p;

	if (*path == NULL)
		return 0;
	if ((p = config_path(cfg, *path)) == NULL)
		return err_set(e, "out of memory");
	free(*path);
	*path = p;
	return 0;
}

/* A file a setting names: a regular one; a private key (private set),
 * also one only its owner can read, as every secret file
 * (cakey_read_secret). */
static int
file_ok(const char *file, int private, struct err *e)
{
	struct stat	st;

	if (file == NULL)
		return 0;
	if (stat(file, &st) == -1)
		return err_set(e, "%s: %s", file, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, "%s: not a regular file", file);
	if (private && (st.st_mode & (S_IRWXG | S_IRWXO)))
		return err_set(e, "%s: the key file is accessible by group or "
		    "others (mode %04o); run chmod 600 on it", file,
		    (unsigned)(st.st_mode & 07777));
	return 0;
}

int
pub_ldap_ready(struct pub_ldap *l, const struct config *cfg, struct err *e)
{
	if (l->uri == NULL)
		return err_set(e, "[publish.%s] needs uri", l->name);
	if (l->base_dn == NULL || *l->base_dn == '\0')
		return err_set(e, "[publish.%s] needs base_dn", l->name);
	if (l->bind == BIND_UNSET)
		l->bind = l->bind_dn != NULL ? BIND_SIMPLE : BIND_NONE;
	if (l->bind == BIND_SIMPLE &&
	    (l->bind_dn == NULL || l->password_file == NULL))
		return err_set(e, "[publish.%s] bind = simple needs bind_dn "
		    "and password_file", l->name);
	if (l->bind == BIND_EXTERNAL && strncmp(l->uri, "ldapi://", 8) &&
	    strncmp(l->uri, "ldaps://", 8))
		return err_set(e, "[publish.%s] bind = sasl-external needs "
		    "ldapi:// or ldaps://", l->name);
	if ((l->tls_cert == NULL) != (l->tls_key == NULL))
		return err_set(e, "[publish.%s] tls_cert and tls_key go "
		    "together", l->name);
	/* over TLS, the client certificate is the identity */
	if (l->bind == BIND_EXTERNAL && !strncmp(l->uri, "ldaps://", 8) &&
	    l->tls_cert == NULL)
		return err_set(e, "[publish.%s] bind = sasl-external over "
		    "ldaps:// needs tls_cert and tls_key (the client "
		    "certificate that is the identity)", l->name);
	if (abs_path(cfg, &l->password_file, e) != 0 ||
	    abs_path(cfg, &l->tls_cacert, e) != 0 ||
	    abs_path(cfg, &l->tls_cert, e) != 0 ||
	    abs_path(cfg, &l->tls_key, e) != 0)
		return -1;
	if (file_ok(l->tls_cacert, 0, e) != 0)
		return err_wrap(e, "[publish.%s] tls_cacert", l->name);
	if (file_ok(l->tls_cert, 0, e) != 0)
		return err_wrap(e, "[publish.%s] tls_cert", l->name);
	if (file_ok(l->tls_key, 1, e) != 0)
		return err_wrap(e, "[publish.%s] tls_key", l->name);
	return 0;
}

/* The server's own words on the last error, when it gave any. */
static int
lerr(struct pub_ldap *l, struct err *e, int rc, const char *what)
{
	char	*diag = NULL;

	if (l->ld != NULL)
		ldap_get_option(l->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	err_set(e, "%s: %s%s%s", what, ldap_err2string(rc),
	    diag != NULL && *diag ? " -- " : "", diag != NULL ? diag : "");
	ldap_memfree(diag);
	/* whatever went wrong, the next operation starts afresh */
	pub_ldap_close(l);
	return -1;
}

static int
ldap_connect_bind(struct pub_ldap *l, struct err *e)
{
	struct timeval	 tv = { (time_t)l->timeout, 0 };
	struct berval	 cred;
	char		 empty[1] = "";
	char		*pw = NULL, what[1200];
	int		 v3 = LDAP_VERSION3, zero = 0, rc;

	if (l->ld != NULL)
		return 0;
	snprintf(what, sizeof(what), "cannot reach %s", l->uri);
	if ((rc = ldap_initialize(&l->ld, l->uri)) != LDAP_SUCCESS) {
		l->ld = NULL;
		return err_set(e, "%s: %s", what, ldap_err2string(rc));
	}
	l->notxn = 0;
	ldap_set_option(l->ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(l->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(l->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(l->ld, LDAP_OPT_TIMEOUT, &tv);
	if (l->tls_cacert != NULL || l->tls_cert != NULL) {
		if (l->tls_cacert != NULL)
			ldap_set_option(l->ld, LDAP_OPT_X_TLS_CACERTFILE,
			    l->tls_cacert);
		if (l->tls_cert != NULL) {
			ldap_set_option(l->ld, LDAP_OPT_X_TLS_CERTFILE,
			    l->tls_cert);
			ldap_set_option(l->ld, LDAP_OPT_X_TLS_KEYFILE,
			    l->tls_key);
		}
		/* the files are read here: a certificate or key that does
		 * not load is said so, not left to fail the handshake */
		if (ldap_set_option(l->ld, LDAP_OPT_X_TLS_NEWCTX, &zero) !=
		    LDAP_OPT_SUCCESS) {
			pub_ldap_close(l);
			return err_set(e, "TLS settings for %s do not load: "
			    "tls_cacert, tls_cert and tls_key must be PEM, "
			    "and the key the certificate's", l->uri);
		}
	}
	switch (l->bind) {
	case BIND_SIMPLE:
		/* RFC 4513 5.1.3; the password never sits in argv or env */
		if (cakey_read_secret(l->password_file, NULL, &pw, e) != 0) {
			pub_ldap_close(l);
			return err_wrap(e, "bind password");
		}
		cred.bv_val = pw;
		cred.bv_len = strlen(pw);
		rc = ldap_sasl_bind_s(l->ld, l->bind_dn, LDAP_SASL_SIMPLE,
		    &cred, NULL, NULL, NULL);
		cakey_secret_free(pw);
		if (rc != LDAP_SUCCESS) {
			snprintf(what, sizeof(what), "binding to %s as %s",
			    l->uri, l->bind_dn);
			if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR)
				snprintf(what, sizeof(what), "cannot reach %s",
				    l->uri);
			return lerr(l, e, rc, what);
		}
		break;
	case BIND_EXTERNAL:
		/* RFC 4422 appendix A: the identity comes from the transport,
		 * and the initial response, the authorization identity to
		 * assume, is empty: the one the transport proves. Without an
		 * initial response the server asks for it (saslBindInProgress),
		 * and the bind would have to go another round. */
		cred.bv_val = empty;
		cred.bv_len = 0;
		rc = ldap_sasl_bind_s(l->ld, NULL, "EXTERNAL", &cred, NULL,
		    NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			snprintf(what, sizeof(what), "SASL EXTERNAL bind to %s",
			    l->uri);
			return lerr(l, e, rc, what);
		}
		break;
	default:
		if ((rc = ldap_connect(l->ld)) != LDAP_SUCCESS)
			return lerr(l, e, rc, what);
		break;
	}
	return 0;
}

/* The attribute's base name ("userCertificate" of "userCertificate;binary")
 * matches: servers return the option as asked, or without it. */
static int
attr_is(const char *got, const char *want)
{
	size_t	gn = strcspn(got, ";"), wn = strcspn(want, ";");

	return gn == wn && strncasecmp(got, want, gn) == 0;
}

/* Every value of attribute want on entry (NULL when none). */
static struct berval **
entry_vals(LDAP *ld, LDAPMessage *ent, const char *want)
{
	BerElement	 *ber = NULL;
	struct berval	**v = NULL;
	char		 *a;

	for (a = ldap_first_attribute(ld, ent, &ber); a != NULL;
	    a = ldap_next_attribute(ld, ent, ber)) {
		if (v == NULL && attr_is(a, want))
			v = ldap_get_values_len(ld, ent, a);
		ldap_memfree(a);
	}
	ber_free(ber, 0);
	return v;
}

static int
bv_eq(const struct berval *b, const gnutls_datum_t *d)
{
	return b->bv_len == d->size && d->size > 0 &&
	    memcmp(b->bv_val, d->data, d->size) == 0;
}

/*
 * Is this userSMIMECertificate value Signet's? Yes when it is a PKCS#7
 * (RFC 5652 5.1) holding at least one certificate, each of them the CA
 * certificate or one whose signature the CA key verifies (RFC 5280 6.1.3
 * (a)(1), time left out: expired ones are Signet's too).
 */
static int
smime_is_ours(const struct berval *b, gnutls_x509_crt_t ca)
{
	gnutls_pkcs7_t		 p7 = NULL;
	gnutls_x509_crt_t	 crt = NULL;
	gnutls_datum_t		 in = { (unsigned char *)b->bv_val,
				    (unsigned)b->bv_len }, raw = { NULL, 0 };
	unsigned		 st, i, n;
	int			 ours = 0;

	if (gnutls_pkcs7_init(&p7) < 0 ||
	    gnutls_pkcs7_import(p7, &in, GNUTLS_X509_FMT_DER) < 0)
		goto out;
	if ((n = (unsigned)gnutls_pkcs7_get_crt_count(p7)) == 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (gnutls_pkcs7_get_crt_raw2(p7, i, &raw) < 0 ||
		    gnutls_x509_crt_init(&crt) < 0 ||
		    gnutls_x509_crt_import(crt, &raw, GNUTLS_X509_FMT_DER) < 0)
			goto out;
		if (!gnutls_x509_crt_equals(crt, ca) &&
		    (gnutls_x509_crt_verify(crt, &ca, 1,
		    GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
		    GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS, &st) < 0 ||
		    st != 0))
			goto out;
		gnutls_x509_crt_deinit(crt);
		crt = NULL;
		gnutls_free(raw.data);
		raw.data = NULL;
	}
	ours = 1;
out:
	gnutls_free(raw.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_pkcs7_deinit(p7);
	return ours;
}

/* A growing list of modifications, each with its own value array. */
struct mods {
	LDAPMod		*m[8];
	LDAPMod		 mod[8];
	struct berval	*vals[8][64];
	struct berval	 bv[8][64];
	int		 n;
	struct berval	**keep;		/* values the REPLACE points into */
};

/* Adds value d (or a borrowed berval b) to a modification of op on attr. */
static int
mods_add(struct mods *ms, int op, const char *attr, const void *data,
    size_t len)
{
	LDAPMod	*m = NULL;
	int	 i, k;

	for (i = 0; i < ms->n; i++)
		if (ms->mod[i].mod_op == (op | LDAP_MOD_BVALUES) &&
		    !strcmp(ms->mod[i].mod_type, attr))
			m = &ms->mod[i];
	if (m == NULL) {
		if (ms->n == 7)
			return -1;
		i = ms->n++;
		m = &ms->mod[i];
		m->mod_op = op | LDAP_MOD_BVALUES;
		m->mod_type = (char *)attr;
		m->mod_bvalues = ms->vals[i];
		ms->vals[i][0] = NULL;
		ms->m[i] = m;
		ms->m[i + 1] = NULL;
	}
	i = (int)(m - ms->mod);
	if (data == NULL)	/* REPLACE/DELETE of the whole attribute */
		return 0;
	for (k = 0; ms->vals[i][k] != NULL; k++)
		;
	if (k == 63)
		return -1;
	ms->bv[i][k].bv_val = (char *)data;
	ms->bv[i][k].bv_len = len;
	ms->vals[i][k] = &ms->bv[i][k];
	ms->vals[i][k + 1] = NULL;
	return 0;
}

/* The search filter for one mailbox (free with free()). */
static char *
person_filter(struct pub_ldap *l, const char *email, struct err *e)
{
	struct berval	 in, out = { 0, NULL };
	char		*filter;
	const char	*p;
	size_t		 fl;

	in.bv_val = (char *)email;
	in.bv_len = strlen(email);
	/* RFC 4515 3: the mailbox can never change the filter's structure */
	if (ldap_bv2escaped_filter_value(&in, &out) != 0) {
		err_set(e, "out of memory");
		return NULL;
	}
	p = strstr(l->filter, "%s");
	fl = strlen(l->filter) - 2 + out.bv_len + 1;
	if ((filter = malloc(fl)) == NULL) {
		ber_memfree(out.bv_val);
		err_set(e, "out of memory");
		return NULL;
	}
	snprintf(filter, fl, "%.*s%s%s", (int)(p - l->filter), l->filter,
	    out.bv_val, p + 2);
	ber_memfree(out.bv_val);
	return filter;
}

/* The one entry of a search result, or why there is not exactly one. */
static int
one_entry(struct pub_ldap *l, LDAPMessage *res, const char *email,
    const char *filter, LDAPMessage **ent, struct err *e)
{
	int	n = ldap_count_entries(l->ld, res);

	if (n == 1) {
		*ent = ldap_first_entry(l->ld, res);
		return 0;
	}
	if (n == 0)
		return err_set(e, "no directory entry for %s under %s", email,
		    l->base_dn);
	return err_set(e, "more than one directory entry matches %s under %s",
	    filter, l->base_dn);
}

/* Finds the one entry the filter names for this mailbox. */
static int
find_person(struct pub_ldap *l, const char *email, char **attrs,
    LDAPMessage **res, LDAPMessage **ent, struct err *e)
{
	struct timeval	 tv = { (time_t)l->timeout, 0 };
	char		*filter, what[600];
	int		 rc;

	*res = NULL;
	if ((filter = person_filter(l, email, e)) == NULL)
		return -1;
	rc = ldap_search_ext_s(l->ld, l->base_dn, LDAP_SCOPE_SUBTREE, filter,
	    attrs, 0, NULL, NULL, &tv, 2, res);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		snprintf(what, sizeof(what), "searching %s for %s", l->base_dn,
		    filter);
		free(filter);
		ldap_msgfree(*res);
		*res = NULL;
		return lerr(l, e, rc, what);
	}
	rc = one_entry(l, *res, email, filter, ent, e);
	free(filter);
	if (rc != 0) {
		ldap_msgfree(*res);
		*res = NULL;
	}
	return rc;
}

/*
 * Signet's changes to one person's entry as just read: the modifications
 * (ms->n == 0: the entry already shows the certificate's state).
 */
static int
cert_mods(struct pub_ldap *l, const struct pub_cert *c, gnutls_x509_crt_t ca,
    LDAPMessage *ent, struct mods *ms, struct err *e)
{
	struct berval	**cv = NULL, **sv = NULL;
	int		  i, present = 0, keep = 0, ours = 0, rc = -1;

	memset(ms, 0, sizeof(*ms));
	cv = entry_vals(l->ld, ent, l->cert_attr);
	sv = entry_vals(l->ld, ent, l->smime_attr);
	for (i = 0; cv != NULL && cv[i] != NULL; i++)
		if (bv_eq(cv[i], c->der))
			present = 1;
	/* RFC 4523 2.1: the exact certificate, never another value */
	if (c->der->size > 0 && c->valid && !present)
		mods_add(ms, LDAP_MOD_ADD, l->cert_attr, c->der->data,
		    c->der->size);
	else if (c->der->size > 0 && !c->valid && present)
		mods_add(ms, LDAP_MOD_DELETE, l->cert_attr, c->der->data,
		    c->der->size);
	/*
	 * RFC 2798 2.6: userSMIMECertificate has no equality matching rule
	 * (OpenLDAP's inetorgperson.schema), so a single value cannot be
	 * deleted: when Signet's value must change, the attribute is
	 * replaced by the foreign values as just read plus the new one --
	 * in the same modify request as the certificate, so one operation
	 * per person (RFC 4511 4.6 applies it atomically).
	 */
	for (i = 0; sv != NULL && sv[i] != NULL; i++) {
		if (c->p7->size > 0 && bv_eq(sv[i], c->p7))
			keep = 1;
		else if (smime_is_ours(sv[i], ca))
			ours++;
	}
	if (ours > 0 || (c->p7->size > 0 && !keep)) {
		mods_add(ms, LDAP_MOD_REPLACE, l->smime_attr, NULL, 0);
		for (i = 0; sv != NULL && sv[i] != NULL; i++) {
			if (bv_eq(sv[i], c->p7) || smime_is_ours(sv[i], ca))
				continue;
			if (mods_add(ms, LDAP_MOD_REPLACE, l->smime_attr,
			    sv[i]->bv_val, sv[i]->bv_len) != 0) {
				err_set(e, "too many %s values", l->smime_attr);
				goto out;
			}
		}
		if (c->p7->size > 0)
			mods_add(ms, LDAP_MOD_REPLACE, l->smime_attr,
			    c->p7->data, c->p7->size);
	}
	rc = 0;
out:
	/* the REPLACE values above point into sv: keep it until the modify
	 * is sent, which copies them (ber_printf) */
	ldap_value_free_len(cv);
	ms->keep = sv;
	return rc;
}

static void
mods_clear(struct mods *ms)
{
	ldap_value_free_len(ms->keep);
	ms->keep = NULL;
	ms->n = 0;
}

/* One attempt: read the entry, compute Signet's changes, apply them.
 * Returns 1 when the entry changed under us and a re-read is due. */
static int
cert_once(struct pub_ldap *l, const struct pub_cert *c, gnutls_x509_crt_t ca,
    struct err *e)
{
	char		 *attrs[3] = { l->cert_attr, l->smime_attr, NULL };
	LDAPMessage	 *res = NULL, *ent = NULL;
	struct mods	 *ms = NULL;
	char		 *dn = NULL, what[600];
	int		  rc = -1, lrc;

	if ((ms = calloc(1, sizeof(*ms))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (find_person(l, c->email, attrs, &res, &ent, e) != 0)
		goto out;
	dn = ldap_get_dn(l->ld, ent);
	if (cert_mods(l, c, ca, ent, ms, e) != 0) {
		err_wrap(e, "%s", dn);
		goto out;
	}
	rc = 0;
	if (ms->n == 0)
		goto out;
	lrc = ldap_modify_ext_s(l->ld, dn, ms->m, NULL, NULL);
	if (lrc == LDAP_TYPE_OR_VALUE_EXISTS || lrc == LDAP_NO_SUCH_ATTRIBUTE) {
		/* someone else changed the entry between read and write */
		snprintf(what, sizeof(what), "modifying %s", dn);
		lerr(l, e, lrc, what);
		rc = 1;
	} else if (lrc != LDAP_SUCCESS) {
		snprintf(what, sizeof(what), "modifying %s", dn);
		rc = lerr(l, e, lrc, what);
	}
out:
	if (ms != NULL)
		mods_clear(ms);
	free(ms);
	ldap_memfree(dn);
	ldap_msgfree(res);
	return rc;
}

int
pub_ldap_cert(struct pub_ldap *l, const struct pub_cert *c,
    gnutls_x509_crt_t ca, struct err *e)
{
	int	tries, rc = -1;

	for (tries = 0; tries < 3; tries++) {
		if (ldap_connect_bind(l, e) != 0)
			return -1;
		if ((rc = cert_once(l, c, ca, e)) != 1)
			return rc;
	}
	return -1;
}

/* ---- many certificates at once: pipelined, in one LDAP transaction ---- */

enum { B_PENDING, B_ROUND, B_DONE, B_FAILED, B_CONFLICT };

struct bjob {
	const struct pub_cert	*c;
	int			 state;
	int			 msgid;
	char			*filter;
	char			*dn;
	struct mods		*ms;	/* a slot of the round's pool */
};

/* Frees what a job read in its round (the state is the caller's). */
static void
bjob_clear(struct bjob *b)
{
	if (b->ms != NULL)
		mods_clear(b->ms);
	b->ms = NULL;
	free(b->filter);
	b->filter = NULL;
	ldap_memfree(b->dn);
	b->dn = NULL;
}

/* Operations sent ahead of their answers in one round; also the size of
 * one LDAP transaction. */
#define ROUND_MAX	256

/* The connection is gone or stuck: every job of the round and every one
 * still pending fails with the same "cannot reach" message, which tells
 * the caller that the directory is down for the rest of the batch. */
static void
conn_lost(struct pub_ldap *l, struct bjob *b, size_t n, struct err *errs,
    const struct pub_cert *c0, int rc, const char *what)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (b[i].state != B_PENDING && b[i].state != B_ROUND)
			continue;
		b[i].state = B_FAILED;
		if (rc == LDAP_TIMEOUT)
			err_set(&errs[b[i].c - c0], "cannot reach %s: no answer "
			    "to %s within %u s", l->uri, what, l->timeout);
		else
			err_set(&errs[b[i].c - c0], "cannot reach %s: %s (%s)",
			    l->uri, ldap_err2string(rc), what);
	}
	pub_ldap_close(l);
}

/* The result of message msgid: the LDAP result code in *code, the
 * server's diagnostic in *diag (free with ldap_memfree). -1 when the
 * connection failed (*code says how) rather than the operation. */
static int
await(struct pub_ldap *l, int msgid, int *code, char **diag)
{
	struct timeval	 tv = { (time_t)l->timeout, 0 };
	LDAPMessage	*res = NULL;
	int		 r;

	*diag = NULL;
	r = ldap_result(l->ld, msgid, LDAP_MSG_ALL, &tv, &res);
	if (r <= 0) {
		*code = r == 0 ? LDAP_TIMEOUT : LDAP_SERVER_DOWN;
		if (r < 0)
			ldap_get_option(l->ld, LDAP_OPT_RESULT_CODE, code);
		ldap_msgfree(res);
		return -1;
	}
	r = ldap_parse_result(l->ld, res, code, NULL, diag, NULL, NULL, 1);
	if (r != LDAP_SUCCESS) {
		*code = r;
		return -1;
	}
	return 0;
}

static void
op_err(struct err *e, const char *what, int code, const char *diag)
{
	err_set(e, "%s: %s%s%s", what, ldap_err2string(code),
	    diag != NULL && *diag ? " -- " : "", diag != NULL ? diag : "");
}

/* Sends every search of the round, then reads the answers in turn and
 * computes each person's modifications. -1: the connection failed. */
static int
round_search(struct pub_ldap *l, struct bjob *b, size_t n,
    gnutls_x509_crt_t ca, struct err *errs, const struct pub_cert *c0)
{
	char		 *attrs[3] = { l->cert_attr, l->smime_attr, NULL };
	struct timeval	  tv = { (time_t)l->timeout, 0 };
	struct err	 *e;
	LDAPMessage	 *res, *ent;
	char		  what[600], *diag;
	size_t		  i, k;
	int		  rc, code;

	for (i = 0; i < n; i++) {
		if (b[i].state != B_ROUND)
			continue;
		e = &errs[b[i].c - c0];
		if ((b[i].filter = person_filter(l, b[i].c->email, e)) == NULL) {
			b[i].state = B_FAILED;
			continue;
		}
		rc = ldap_search_ext(l->ld, l->base_dn, LDAP_SCOPE_SUBTREE,
		    b[i].filter, attrs, 0, NULL, NULL, &tv, 2, &b[i].msgid);
		if (rc != LDAP_SUCCESS) {
			snprintf(what, sizeof(what), "searching %s for %s",
			    l->base_dn, b[i].filter);
			conn_lost(l, b, n, errs, c0, rc, what);
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		if (b[i].state != B_ROUND)
			continue;
		e = &errs[b[i].c - c0];
		snprintf(what, sizeof(what), "searching %s for %s", l->base_dn,
		    b[i].filter);
		res = NULL;
		rc = ldap_result(l->ld, b[i].msgid, LDAP_MSG_ALL, &tv, &res);
		if (rc <= 0) {
			code = rc == 0 ? LDAP_TIMEOUT : LDAP_SERVER_DOWN;
			ldap_msgfree(res);
			conn_lost(l, b, n, errs, c0, code, what);
			return -1;
		}
		diag = NULL;
		rc = ldap_parse_result(l->ld, res, &code, NULL, &diag, NULL,
		    NULL, 0);
		if (rc != LDAP_SUCCESS)
			code = rc;
		if (code != LDAP_SUCCESS && code != LDAP_SIZELIMIT_EXCEEDED) {
			op_err(e, what, code, diag);
			b[i].state = B_FAILED;
		} else if (one_entry(l, res, b[i].c->email, b[i].filter, &ent,
		    e) != 0)
			b[i].state = B_FAILED;
		else if ((b[i].dn = ldap_get_dn(l->ld, ent)) == NULL) {
			err_set(e, "out of memory");
			b[i].state = B_FAILED;
		} else if (cert_mods(l, b[i].c, ca, ent, b[i].ms, e) != 0) {
			err_wrap(e, "%s", b[i].dn);
			b[i].state = B_FAILED;
		}
		ldap_memfree(diag);
		ldap_msgfree(res);
		if (b[i].state != B_ROUND)
			continue;
		/* two mailboxes on one entry: the second one waits for the
		 * next round, computed from the entry as the first left it */
		for (k = 0; k < i; k++)
			if (b[k].state == B_ROUND && b[k].dn != NULL &&
			    !strcasecmp(b[k].dn, b[i].dn))
				break;
		if (k < i) {
			bjob_clear(&b[i]);
			b[i].state = B_PENDING;
		} else if (b[i].ms->n == 0)
			b[i].state = B_DONE;	/* already as it should be */
	}
	return 0;
}

/* Sends the round's modifications (inside transaction txnid when not
 * NULL) and reads every answer. Returns -1 when the connection failed,
 * 1 when some operation failed: inside a transaction the server then
 * rolls all of them back, outside one each job records its own result. */
static int
round_modify(struct pub_ldap *l, struct bjob *b, size_t n,
    struct berval *txnid, struct err *errs, const struct pub_cert *c0)
{
	LDAPControl	 spec, *ctrls[2] = { &spec, NULL };
	char		 what[600], *diag;
	size_t		 i;
	int		 rc, code, bad = 0;

	/* RFC 5805 2.2: the transaction specification control, critical */
	spec.ldctl_oid = LDAP_CONTROL_TXN_SPEC;
	spec.ldctl_iscritical = 1;
	if (txnid != NULL)
		spec.ldctl_value = *txnid;
	for (i = 0; i < n; i++) {
		if (b[i].state != B_ROUND)
			continue;
		rc = ldap_modify_ext(l->ld, b[i].dn, b[i].ms->m,
		    txnid != NULL ? ctrls : NULL, NULL, &b[i].msgid);
		if (rc != LDAP_SUCCESS) {
			snprintf(what, sizeof(what), "modifying %s", b[i].dn);
			conn_lost(l, b, n, errs, c0, rc, what);
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		if (b[i].state != B_ROUND)
			continue;
		snprintf(what, sizeof(what), "modifying %s", b[i].dn);
		if (await(l, b[i].msgid, &code, &diag) != 0) {
			conn_lost(l, b, n, errs, c0, code, what);
			return -1;
		}
		if (code == LDAP_SUCCESS ||
		    (txnid != NULL && code == LDAP_TXN_SPECIFY_OKAY)) {
			if (txnid == NULL)
				b[i].state = B_DONE;
		} else if (txnid != NULL)
			bad = 1;
		else if (code == LDAP_TYPE_OR_VALUE_EXISTS ||
		    code == LDAP_NO_SUCH_ATTRIBUTE)
			/* someone else changed the entry between read and
			 * write: this one is read again on its own */
			b[i].state = B_CONFLICT;
		else {
			op_err(&errs[b[i].c - c0], what, code, diag);
			b[i].state = B_FAILED;
		}
		ldap_memfree(diag);
	}
	return bad;
}

/*
 * The round's modifications as one LDAP transaction (RFC 5805): the
 * server applies them together, so the directory's database commits
 * (and syncs to disk) once for the round instead of once per person.
 * Returns 0 committed, 1 not committed (nothing changed: the caller
 * sends them one by one), -1 the connection failed.
 */
static int
round_txn(struct pub_ldap *l, struct bjob *b, size_t n, struct err *errs,
    const struct pub_cert *c0)
{
	struct berval	*txnid = NULL;
	char		*diag = NULL;
	size_t		 i;
	int		 rc, code, msgid, r = 1;

	rc = ldap_txn_start_s(l->ld, NULL, NULL, &txnid);
	if (rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ||
	    rc == LDAP_CONNECT_ERROR) {
		conn_lost(l, b, n, errs, c0, rc, "starting a transaction");
		return -1;
	}
	if (rc != LDAP_SUCCESS || txnid == NULL) {
		/* e.g. Active Directory: no RFC 5805 on this connection */
		l->notxn = 1;
		ber_bvfree(txnid);
		return 1;
	}
	if ((rc = round_modify(l, b, n, txnid, errs, c0)) < 0) {
		ber_bvfree(txnid);
		return -1;
	}
	/* RFC 5805 2.3: commit when every update was accepted */
	if (ldap_txn_end(l->ld, rc == 0, txnid, NULL, NULL, &msgid) !=
	    LDAP_SUCCESS || await(l, msgid, &code, &diag) != 0) {
		conn_lost(l, b, n, errs, c0, LDAP_SERVER_DOWN,
		    "ending a transaction");
		r = -1;
		goto out;
	}
	if (rc == 0 && code == LDAP_SUCCESS) {
		for (i = 0; i < n; i++)
			if (b[i].state == B_ROUND)
				b[i].state = B_DONE;
		r = 0;
	}
out:
	ldap_memfree(diag);
	ber_bvfree(txnid);
	return r;
}

int
pub_ldap_certs(struct pub_ldap *l, const struct pub_cert *c, size_t n,
    gnutls_x509_crt_t ca, int *rcs, struct err *errs)
{
	struct bjob	*b;
	struct mods	*pool;
	struct err	 ce;
	size_t		 i, k, m, inround;

	b = calloc(n > 0 ? n : 1, sizeof(*b));
	pool = calloc(n < ROUND_MAX ? (n > 0 ? n : 1) : ROUND_MAX,
	    sizeof(*pool));
	if (b == NULL || pool == NULL) {
		for (i = 0; i < n; i++) {
			err_set(&errs[i], "out of memory");
			rcs[i] = -1;
		}
		free(b);
		free(pool);
		return -1;
	}
	for (i = 0; i < n; i++) {
		b[i].c = &c[i];
		b[i].state = B_PENDING;
		errs[i].msg[0] = '\0';
	}
	for (;;) {
		/* a round: pending jobs for distinct mailboxes (two jobs for
		 * one person are never computed from the same read) */
		inround = 0;
		for (i = 0; i < n && inround < ROUND_MAX; i++) {
			if (b[i].state != B_PENDING)
				continue;
			for (k = 0; k < i; k++)
				if (b[k].state == B_ROUND &&
				    !strcasecmp(b[k].c->email, b[i].c->email))
					break;
			if (k < i)
				continue;
			b[i].state = B_ROUND;
			b[i].ms = &pool[inround++];
		}
		if (inround == 0)
			break;
		if (ldap_connect_bind(l, &ce) != 0) {
			for (i = 0; i < n; i++)
				if (b[i].state == B_PENDING ||
				    b[i].state == B_ROUND) {
					errs[i] = ce;
					b[i].state = B_FAILED;
				}
			break;
		}
		if (round_search(l, b, n, ca, errs, c) != 0)
			break;
		for (i = m = 0; i < n; i++)
			m += b[i].state == B_ROUND;
		if (m >= 2 && !l->notxn &&
		    round_txn(l, b, n, errs, c) < 0)
			break;
		if (m > 0 && round_modify(l, b, n, NULL, errs, c) < 0)
			break;
		for (i = 0; i < n; i++) {
			if (b[i].state == B_CONFLICT)
				/* read again and apply on its own (it
				 * reconnects when needed) */
				b[i].state = pub_ldap_cert(l, b[i].c, ca,
				    &errs[i]) == 0 ? B_DONE : B_FAILED;
			bjob_clear(&b[i]);
		}
	}
	for (i = 0; i < n; i++) {
		bjob_clear(&b[i]);
		rcs[i] = b[i].state == B_DONE ? 0 : -1;
	}
	free(pool);
	free(b);
	return 0;
}

/* The value of the CA DN's first RDN, which must be cn (applicationProcess
 * MUST cn, RFC 4519 3.2). */
static char *
ca_cn(const char *dnstr, struct err *e)
{
	LDAPDN	 dn = NULL;
	LDAPAVA	*ava;
	char	*cn = NULL;

	if (ldap_str2dn(dnstr, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    dn == NULL || dn[0] == NULL || (ava = dn[0][0]) == NULL) {
		err_set(e, "ca_dn %s is not a DN", dnstr);
		goto out;
	}
	if (strncasecmp(ava->la_attr.bv_val, "cn", ava->la_attr.bv_len) ||
	    ava->la_attr.bv_len != 2) {
		err_set(e, "ca_dn %s must start with cn= to be created as "
		    "applicationProcess", dnstr);
		goto out;
	}
	if ((cn = strndup(ava->la_value.bv_val, ava->la_value.bv_len)) == NULL)
		err_set(e, "out of memory");
out:
	ldap_dnfree(dn);
	return cn;
}

static int
ca_add(struct pub_ldap *l, const struct pub_ca *c, struct err *e)
{
	struct berval	 oc1 = { 18, "applicationProcess" }, oc2 = { 5, "pkiCA" };
	struct berval	 cnv, cert, crl, *ocv[3] = { &oc1, &oc2, NULL };
	struct berval	*cnvv[2] = { &cnv, NULL }, *certv[2] = { &cert, NULL };
	struct berval	*crlv[2] = { &crl, NULL };
	LDAPMod		 m[4], *mp[5];
	char		*cn, what[600];
	int		 n = 0, rc;

	if ((cn = ca_cn(l->ca_dn, e)) == NULL)
		return -1;
	cnv.bv_val = cn;
	cnv.bv_len = strlen(cn);
	cert.bv_val = (char *)c->cert->data;
	cert.bv_len = c->cert->size;
	m[n].mod_op = LDAP_MOD_ADD | LDAP_MOD_BVALUES;
	m[n].mod_type = "objectClass";
	m[n++].mod_bvalues = ocv;
	m[n].mod_op = LDAP_MOD_ADD | LDAP_MOD_BVALUES;
	m[n].mod_type = "cn";
	m[n++].mod_bvalues = cnvv;
	m[n].mod_op = LDAP_MOD_ADD | LDAP_MOD_BVALUES;
	m[n].mod_type = l->ca_cert_attr;
	m[n++].mod_bvalues = certv;
	if (c->crl->size > 0) {
		crl.bv_val = (char *)c->crl->data;
		crl.bv_len = c->crl->size;
		m[n].mod_op = LDAP_MOD_ADD | LDAP_MOD_BVALUES;
		m[n].mod_type = l->crl_attr;
		m[n++].mod_bvalues = crlv;
	}
	for (rc = 0; rc < n; rc++)
		mp[rc] = &m[rc];
	mp[n] = NULL;
	rc = ldap_add_ext_s(l->ld, l->ca_dn, mp, NULL, NULL);
	free(cn);
	if (rc == LDAP_SUCCESS)
		return 0;
	if (rc == LDAP_ALREADY_EXISTS)
		return 1;
	snprintf(what, sizeof(what), "adding the CA entry %s", l->ca_dn);
	return lerr(l, e, rc, what);
}

static int
ca_once(struct pub_ldap *l, const struct pub_ca *c, struct err *e)
{
	char		 *attrs[4] = { "objectClass", l->ca_cert_attr,
			     l->crl_attr, NULL };
	struct timeval	  tv = { (time_t)l->timeout, 0 };
	LDAPMessage	 *res = NULL, *ent = NULL;
	struct berval	**oc = NULL, **cv = NULL, **rv = NULL;
	struct mods	  ms;
	char		  what[600];
	int		  i, has_pki = 0, has_cert = 0, crl_same = 0, rc = -1, lrc;

	memset(&ms, 0, sizeof(ms));
	lrc = ldap_search_ext_s(l->ld, l->ca_dn, LDAP_SCOPE_BASE,
	    "(objectClass=*)", attrs, 0, NULL, NULL, &tv, 1, &res);
	if (lrc == LDAP_NO_SUCH_OBJECT) {
		if (!l->create_ca) {
			err_set(e, "no CA entry %s in the directory "
			    "(create_ca_entry = no)", l->ca_dn);
			goto out;
		}
		rc = ca_add(l, c, e);
		goto out;
	}
	if (lrc != LDAP_SUCCESS) {
		snprintf(what, sizeof(what), "reading the CA entry %s",
		    l->ca_dn);
		rc = lerr(l, e, lrc, what);
		goto out;
	}
	if ((ent = ldap_first_entry(l->ld, res)) == NULL) {
		err_set(e, "the CA entry %s is not readable", l->ca_dn);
		goto out;
	}
	oc = entry_vals(l->ld, ent, "objectClass");
	cv = entry_vals(l->ld, ent, l->ca_cert_attr);
	rv = entry_vals(l->ld, ent, l->crl_attr);
	for (i = 0; oc != NULL && oc[i] != NULL; i++)
		if (oc[i]->bv_len == 5 && !strncasecmp(oc[i]->bv_val, "pkiCA",
		    5))
			has_pki = 1;
	for (i = 0; cv != NULL && cv[i] != NULL; i++)
		if (bv_eq(cv[i], c->cert))
			has_cert = 1;
	if (rv != NULL && rv[0] != NULL && rv[1] == NULL &&
	    bv_eq(rv[0], c->crl))
		crl_same = 1;
	/* RFC 4523 3.4: pkiCA carries cACertificate and the CRL */
	if (!has_pki)
		mods_add(&ms, LDAP_MOD_ADD, "objectClass", "pkiCA", 5);
	if (!has_cert)
		mods_add(&ms, LDAP_MOD_ADD, l->ca_cert_attr, c->cert->data,
		    c->cert->size);
	/* the CA's own entry: the newest CRL replaces any older one */
	if (c->crl->size > 0 && !crl_same)
		mods_add(&ms, LDAP_MOD_REPLACE, l->crl_attr, c->crl->data,
		    c->crl->size);
	rc = 0;
	if (ms.n == 0)
		goto out;
	lrc = ldap_modify_ext_s(l->ld, l->ca_dn, ms.m, NULL, NULL);
	if (lrc == LDAP_TYPE_OR_VALUE_EXISTS || lrc == LDAP_NO_SUCH_ATTRIBUTE) {
		snprintf(what, sizeof(what), "modifying %s", l->ca_dn);
		lerr(l, e, lrc, what);
		rc = 1;
	} else if (lrc != LDAP_SUCCESS) {
		snprintf(what, sizeof(what), "modifying %s", l->ca_dn);
		rc = lerr(l, e, lrc, what);
	}
out:
	ldap_value_free_len(oc);
	ldap_value_free_len(cv);
	ldap_value_free_len(rv);
	ldap_msgfree(res);
	return rc;
}

int
pub_ldap_ca(struct pub_ldap *l, const struct pub_ca *c, struct err *e)
{
	int	tries, rc = -1;

	if (l->ca_dn == NULL || *l->ca_dn == '\0')
		return 0;	/* no CA entry configured */
	for (tries = 0; tries < 3; tries++) {
		if (ldap_connect_bind(l, e) != 0)
			return -1;
		if ((rc = ca_once(l, c, e)) != 1)
			return rc;
	}
	return -1;
}
