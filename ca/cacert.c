/*
 * cacert: the CA certificate -- self-signed root, subordinate CA request,
 * and the checks an installed CA certificate must pass.
 */
#define _GNU_SOURCE	/* memmem */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <gnutls/x509-ext.h>

#include "cacert.h"
#include "cert.h"

#define CACERT_SERIAL_LEN	16
#define CACERT_KEYID_MAX	64

/* anyExtendedKeyUsage, RFC 5280 4.2.1.12. */
#define CACERT_OID_ANY_EKU	"2.5.29.37.0"



/*
 * Reads one DER header at *p (within end): checks the tag, returns the
 * content length and moves *p to the content. Definite lengths only
 * (X.690 10.1).
 */
static int
cacert_der_enter(const unsigned char **p, const unsigned char *end,
    unsigned char tag, size_t *len)
{
	const unsigned char	*q = *p;
	size_t			 n, i;

	if (end - q < 2 || q[0] != tag)
		return -1;
	if (q[1] < 0x80) {
		*len = q[1];
		q += 2;
	} else {
		n = q[1] & 0x7f;
		if (n == 0 || n > 3 || (size_t)(end - q) < 2 + n)
			return -1;
		*len = 0;
		for (i = 0; i < n; i++)
			*len = (*len << 8) | q[2 + i];
		q += 2 + n;
	}
	if ((size_t)(end - q) < *len)
		return -1;
	*p = q;
	return 0;
}

/*
 * RFC 5280 4.2.1.2 method (1): SHA-1 of the value of the subjectPublicKey
 * BIT STRING, without tag, length and unused-bits octet. (GnuTLS's own
 * key id hashes the whole SubjectPublicKeyInfo, which is not method 1.)
 */
static int
cacert_key_id(gnutls_pubkey_t pub, unsigned char *id, size_t *len,
    struct err *e)
{
	gnutls_datum_t		 spki = { NULL, 0 };
	const unsigned char	*p, *end;
	size_t			 n;
	int			 ret, rc = -1;

	if ((ret = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER,
	    &spki)) < 0) {
		err_set(e, "computing the key identifier: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	p = spki.data;
	end = spki.data + spki.size;
	/* SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey } */
	if (cacert_der_enter(&p, end, 0x30, &n) == -1 ||
	    cacert_der_enter(&p, end, 0x30, &n) == -1 ||
	    (p += n, cacert_der_enter(&p, end, 0x03, &n) == -1) ||
	    n < 2 || p[0] != 0) {
		err_set(e, "computing the key identifier: malformed public "
		    "key");
		goto out;
	}
	if ((ret = gnutls_hash_fast(GNUTLS_DIG_SHA1, p + 1, n - 1, id)) < 0) {
		err_set(e, "computing the key identifier: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	*len = 20;
	rc = 0;
out:
	gnutls_free(spki.data);
	return rc;
}

static int
cacert_set_cn(gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, const char *cn,
    struct err *e)
{
	int	ret;

	if (cn == NULL || *cn == '\0')
		return err_set(e, "the CA needs a name (CN)");
	/* X.520 ub-common-name: 64 characters. */
	if (strlen(cn) > 64)
		return err_set(e, "the CA name is longer than 64 characters "
		    "(X.520 ub-common-name)");
	if (crt != NULL)
		ret = gnutls_x509_crt_set_dn_by_oid(crt,
		    GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn));
	else
		ret = gnutls_x509_crq_set_dn_by_oid(crq,
		    GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn));
	if (ret < 0)
		return err_set(e, "setting the CA name: %s",
		    gnutls_strerror(ret));
	return 0;
}

int
cacert_self_signed(gnutls_privkey_t key, const char *cn, unsigned days,
    gnutls_datum_t *der, struct err *e)
{
	gnutls_x509_crt_t		crt = NULL;
	gnutls_pubkey_t			pub = NULL;
	gnutls_digest_algorithm_t	dig;
	unsigned char			serial[CACERT_SERIAL_LEN];
	unsigned char			ski[CACERT_KEYID_MAX];
	size_t				skilen;
	time_t				now;
	int				ret, rc = -1;

	der->data = NULL;
	der->size = 0;
	if (days == 0)
		return err_set(e, "the CA certificate needs a validity of at "
		    "least one day");
	if (cert_sig_hash(key, &dig, e) == -1)
		return -1;
	if ((ret = gnutls_x509_crt_init(&crt)) < 0 ||
	    (ret = gnutls_pubkey_init(&pub)) < 0) {
		err_set(e, "%s", gnutls_strerror(ret));
		goto out;
	}
	if ((ret = gnutls_pubkey_import_privkey(pub, key, 0, 0)) < 0) {
		err_set(e, "reading the CA public key: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	/* RFC 5280 4.1.2.1: v3, as extensions follow. */
	if ((ret = gnutls_x509_crt_set_version(crt, 3)) < 0)
		goto gnutls_fail;

	/*
	 * RFC 5280 4.1.2.2: positive, at most 20 octets; S/MIME BR 7.1:
	 * at least 64 bits from a CSPRNG. GnuTLS takes the octets as a
	 * signed integer, so the top bit is cleared; a zero first octet
	 * would not be minimal DER.
	 */
	if ((ret = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
		goto gnutls_fail;
	serial[0] &= 0x7f;
	if (serial[0] == 0)
		serial[0] = 0x01;
	if ((ret = gnutls_x509_crt_set_serial(crt, serial,
	    sizeof(serial))) < 0)
		goto gnutls_fail;

	if (cacert_set_cn(crt, NULL, cn, e) == -1)
		goto out;

	/* RFC 5280 4.1.2.5. */
	now = time(NULL);
	if ((ret = gnutls_x509_crt_set_activation_time(crt, now)) < 0 ||
	    (ret = gnutls_x509_crt_set_expiration_time(crt,
	    now + (time_t)days * 86400)) < 0)
		goto gnutls_fail;

	if ((ret = gnutls_x509_crt_set_pubkey(crt, pub)) < 0)
		goto gnutls_fail;

	/* RFC 5280 4.2.1.9: critical, cA=TRUE; no pathLenConstraint. */
	if ((ret = gnutls_x509_crt_set_basic_constraints(crt, 1, -1)) < 0)
		goto gnutls_fail;
	/*
	 * RFC 5280 4.2.1.3: critical; keyCertSign and cRLSign for a CA,
	 * digitalSignature so the CA may sign OCSP responses itself
	 * (RFC 6960 4.2.2.2).
	 */
	if ((ret = gnutls_x509_crt_set_key_usage(crt,
	    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
	    GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0)
		goto gnutls_fail;

	/* RFC 5280 4.2.1.2 SKI; 4.2.1.1 AKI keyIdentifier = own SKI. */
	if (cacert_key_id(pub, ski, &skilen, e) == -1)
		goto out;
	if ((ret = gnutls_x509_crt_set_subject_key_id(crt, ski, skilen)) < 0 ||
	    (ret = gnutls_x509_crt_set_authority_key_id(crt, ski,
	    skilen)) < 0)
		goto gnutls_fail;

	/* No EKU on a root: S/MIME BR 7.1.2.1. */

	/* Self-signed: issuer = subject (RFC 5280 6.1). */
	if ((ret = gnutls_x509_crt_privkey_sign(crt, crt, key, dig, 0)) < 0) {
		err_set(e, "signing the CA certificate: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	if ((ret = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER,
	    der)) < 0)
		goto gnutls_fail;
	rc = 0;
	goto out;
gnutls_fail:
	err_set(e, "building the CA certificate: %s", gnutls_strerror(ret));
out:
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

/*
 * RFC 5280 4.2.1.12: EKU emailProtection, not critical. Built by hand:
 * in GnuTLS 3.7.9 gnutls_x509_crq_set_key_purpose_oid() marks it
 * critical when a critical extension was requested before it.
 */
static int
cacert_crq_set_eku(gnutls_x509_crq_t crq)
{
	gnutls_x509_key_purposes_t	kp = NULL;
	gnutls_datum_t			der = { NULL, 0 };
	int				ret;

	if ((ret = gnutls_x509_key_purpose_init(&kp)) < 0)
		goto out;
	if ((ret = gnutls_x509_key_purpose_set(kp,
	    GNUTLS_KP_EMAIL_PROTECTION)) < 0 ||
	    (ret = gnutls_x509_ext_export_key_purposes(kp, &der)) < 0)
		goto out;
	ret = gnutls_x509_crq_set_extension_by_oid(crq, "2.5.29.37", der.data,
	    der.size, 0);
out:
	gnutls_free(der.data);
	if (kp != NULL)
		gnutls_x509_key_purpose_deinit(kp);
	return ret;
}

int
cacert_csr(gnutls_privkey_t key, const char *cn, gnutls_datum_t *pem,
    struct err *e)
{
	gnutls_x509_crq_t		crq = NULL;
	gnutls_pubkey_t			pub = NULL;
	gnutls_digest_algorithm_t	dig;
	int				ret, rc = -1;

	pem->data = NULL;
	pem->size = 0;
	if (cert_sig_hash(key, &dig, e) == -1)
		return -1;
	if ((ret = gnutls_x509_crq_init(&crq)) < 0 ||
	    (ret = gnutls_pubkey_init(&pub)) < 0) {
		err_set(e, "%s", gnutls_strerror(ret));
		goto out;
	}
	if ((ret = gnutls_pubkey_import_privkey(pub, key, 0, 0)) < 0) {
		err_set(e, "reading the CA public key: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	/* RFC 2986 4.1: version 0 (GnuTLS counts from 1). */
	if ((ret = gnutls_x509_crq_set_version(crq, 1)) < 0)
		goto gnutls_fail;
	if (cacert_set_cn(NULL, crq, cn, e) == -1)
		goto out;
	if ((ret = gnutls_x509_crq_set_pubkey(crq, pub)) < 0)
		goto gnutls_fail;
	/*
	 * RFC 2985 5.4.2 extensionRequest: RFC 5280 4.2.1.9 cA=TRUE;
	 * 4.2.1.3 keyCertSign+cRLSign (+digitalSignature for OCSP);
	 * S/MIME BR 7.1.2.2(g) EKU emailProtection on a subordinate CA.
	 */
	if ((ret = gnutls_x509_crq_set_basic_constraints(crq, 1, -1)) < 0 ||
	    (ret = gnutls_x509_crq_set_key_usage(crq,
	    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
	    GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (ret = cacert_crq_set_eku(crq)) < 0)
		goto gnutls_fail;
	if ((ret = gnutls_x509_crq_privkey_sign(crq, key, dig, 0)) < 0) {
		err_set(e, "signing the request: %s", gnutls_strerror(ret));
		goto out;
	}
	if ((ret = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM,
	    pem)) < 0)
		goto gnutls_fail;
	rc = 0;
	goto out;
gnutls_fail:
	err_set(e, "building the CA request: %s", gnutls_strerror(ret));
out:
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crq_deinit(crq);
	return rc;
}

/* Does the certificate hold the same SubjectPublicKeyInfo as the key? */
static int
cacert_same_key(gnutls_x509_crt_t crt, gnutls_privkey_t key, struct err *e)
{
	gnutls_pubkey_t	cpub = NULL, kpub = NULL;
	gnutls_datum_t	cder = { NULL, 0 }, kder = { NULL, 0 };
	int		ret, rc = -1;

	if ((ret = gnutls_pubkey_init(&cpub)) < 0 ||
	    (ret = gnutls_pubkey_init(&kpub)) < 0) {
		err_set(e, "%s", gnutls_strerror(ret));
		goto out;
	}
	if ((ret = gnutls_pubkey_import_x509(cpub, crt, 0)) < 0 ||
	    (ret = gnutls_pubkey_export2(cpub, GNUTLS_X509_FMT_DER,
	    &cder)) < 0) {
		err_set(e, "reading the certificate's public key: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	if ((ret = gnutls_pubkey_import_privkey(kpub, key, 0, 0)) < 0 ||
	    (ret = gnutls_pubkey_export2(kpub, GNUTLS_X509_FMT_DER,
	    &kder)) < 0) {
		err_set(e, "reading the CA public key: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	if (cder.size != kder.size ||
	    memcmp(cder.data, kder.data, cder.size) != 0) {
		err_set(e, "the certificate does not match the CA key");
		goto out;
	}
	rc = 0;
out:
	gnutls_free(cder.data);
	gnutls_free(kder.data);
	gnutls_pubkey_deinit(cpub);
	gnutls_pubkey_deinit(kpub);
	return rc;
}

/* S/MIME BR 7.1.2.2(g): emailProtection present, anyEKU absent. */
static int
cacert_check_eku(gnutls_x509_crt_t crt, struct err *e)
{
	char		oid[128];
	size_t		len;
	unsigned	i;
	int		ret, email = 0;

	for (i = 0;; i++) {
		len = sizeof(oid);
		ret = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &len,
		    NULL);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (ret < 0)
			return err_set(e, "the certificate's extended key "
			    "usage is unreadable: %s", gnutls_strerror(ret));
		if (strcmp(oid, GNUTLS_KP_EMAIL_PROTECTION) == 0)
			email = 1;
		if (strcmp(oid, CACERT_OID_ANY_EKU) == 0)
			return err_set(e, "the certificate has "
			    "anyExtendedKeyUsage: S/MIME BR 7.1.2.2 forbids "
			    "it on a subordinate CA");
	}
	if (!email)
		return err_set(e, "the certificate has no emailProtection "
		    "EKU: S/MIME BR 7.1.2.2 requires it on a subordinate CA");
	return 0;
}

static int
cacert_import(gnutls_x509_crt_t crt, const gnutls_datum_t *cert,
    struct err *e)
{
	gnutls_x509_crt_fmt_t	fmt = GNUTLS_X509_FMT_DER;
	int			ret;

	if (cert == NULL || cert->data == NULL || cert->size == 0)
		return err_set(e, "no certificate given");
	if (cert->size > 10 && memmem(cert->data, cert->size,
	    "-----BEGIN", 10) != NULL)
		fmt = GNUTLS_X509_FMT_PEM;
	if ((ret = gnutls_x509_crt_import(crt, cert, fmt)) < 0)
		return err_set(e, "not an X.509 certificate (PEM or DER): %s",
		    gnutls_strerror(ret));
	return 0;
}

int
cacert_check_install(const gnutls_datum_t *cert, gnutls_privkey_t key,
    int subordinate, struct err *e)
{
	gnutls_x509_crt_t	crt = NULL;
	unsigned char		id[CACERT_KEYID_MAX];
	size_t			idlen = sizeof(id);
	unsigned int		critical = 0, usage = 0, status = 0;
	unsigned int		ca = 0;
	int			ret, pathlen, rc = -1;
	time_t			now = time(NULL);

	if ((ret = gnutls_x509_crt_init(&crt)) < 0) {
		err_set(e, "%s", gnutls_strerror(ret));
		goto out;
	}
	if (cacert_import(crt, cert, e) == -1)
		goto out;
	if (cacert_same_key(crt, key, e) == -1)
		goto out;

	/* RFC 5280 4.1.2.1: extensions need v3. */
	if (gnutls_x509_crt_get_version(crt) != 3) {
		err_set(e, "the certificate is not X.509 v3");
		goto out;
	}

	/* RFC 5280 4.2.1.9: a CA certificate has critical cA=TRUE. */
	ret = gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca,
	    &pathlen);
	if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE || (ret >= 0 && !ca)) {
		err_set(e, "the certificate is not a CA certificate "
		    "(basicConstraints cA is not TRUE; RFC 5280 4.2.1.9)");
		goto out;
	}
	if (ret < 0) {
		err_set(e, "the certificate's basicConstraints is "
		    "unreadable: %s", gnutls_strerror(ret));
		goto out;
	}
	if (!critical) {
		err_set(e, "the certificate's basicConstraints is not "
		    "critical: RFC 5280 4.2.1.9 requires it on a CA");
		goto out;
	}
	/* RFC 5280 4.2.1.3: keyCertSign to sign certs, cRLSign for CRLs. */
	ret = gnutls_x509_crt_get_key_usage(crt, &usage, &critical);
	if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE ||
	    (ret >= 0 && (!(usage & GNUTLS_KEY_KEY_CERT_SIGN) ||
	    !(usage & GNUTLS_KEY_CRL_SIGN)))) {
		err_set(e, "the certificate's keyUsage lacks keyCertSign "
		    "or cRLSign (RFC 5280 4.2.1.3)");
		goto out;
	}
	if (ret < 0) {
		err_set(e, "the certificate's keyUsage is unreadable: %s",
		    gnutls_strerror(ret));
		goto out;
	}

	/* RFC 5280 4.2.1.2: CA certificates MUST carry an SKI. */
	ret = gnutls_x509_crt_get_subject_key_id(crt, id, &idlen, &critical);
	if (ret < 0) {
		err_set(e, "the certificate has no subject key identifier "
		    "(RFC 5280 4.2.1.2)");
		goto out;
	}

	/* RFC 5280 4.1.2.5. */
	if (gnutls_x509_crt_get_activation_time(crt) > now) {
		err_set(e, "the certificate is not valid yet");
		goto out;
	}
	if (gnutls_x509_crt_get_expiration_time(crt) <= now) {
		err_set(e, "the certificate has expired");
		goto out;
	}

	if (subordinate) {
		if (cacert_check_eku(crt, e) == -1)
			goto out;
	} else {
		/* A root is self-issued and self-signed (RFC 5280 6.1). */
		ret = gnutls_x509_crt_verify(crt, &crt, 1,
		    GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status);
		if (!gnutls_x509_crt_check_issuer(crt, crt) || ret < 0 ||
		    status != 0) {
			err_set(e, "the certificate is not self-signed; "
			    "install it as a subordinate CA certificate");
			goto out;
		}
	}
	rc = 0;
out:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

int
cacert_fingerprint(const gnutls_datum_t *der, gnutls_digest_algorithm_t alg,
    char *out, size_t outlen, struct err *e)
{
	static const char	hex[] = "0123456789ABCDEF";
	unsigned char		md[64];
	size_t			mdlen = sizeof(md), i;
	int			ret;

	if ((ret = gnutls_fingerprint(alg, der, md, &mdlen)) < 0)
		return err_set(e, "fingerprint: %s", gnutls_strerror(ret));
	if (mdlen == 0 || outlen < mdlen * 3)
		return err_set(e, "fingerprint: output buffer too small");
	for (i = 0; i < mdlen; i++) {
		out[i * 3] = hex[md[i] >> 4];
		out[i * 3 + 1] = hex[md[i] & 0x0f];
		out[i * 3 + 2] = i + 1 < mdlen ? ':' : '\0';
	}
	return 0;
}
