/*
 * ocsp: OCSP requests and responses (RFC 6960), encoded with libtasn1
 * against ca/pkix.asn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "asn.h"
#include "ocsp.h"

#define OID_NONCE	"1.3.6.1.5.5.7.48.1.2"	/* RFC 8954 2.1 */
#define OID_BASIC	"1.3.6.1.5.5.7.48.1.1"	/* RFC 6960 4.2.1 */
#define OID_NOCHECK	"1.3.6.1.5.5.7.48.1.5"	/* RFC 6960 4.2.2.2.1 */
#define OID_KP_OCSP	"1.3.6.1.5.5.7.3.9"	/* RFC 5280 4.2.1.12 */

/* The CertID hash algorithms answered (RFC 6960 4.1.1 names none; RFC
 * 5019 clients send SHA-1, others SHA-256 and up). */
static const struct certid_hash {
	int		 alg;
	const char	*oid, *name;
	int		 presigned;
} certid_hashes[OCSP_HASHES] = {
	{ GNUTLS_DIG_SHA1,	"1.3.14.3.2.26",		"sha1",   1 },
	{ GNUTLS_DIG_SHA256,	"2.16.840.1.101.3.4.2.1",	"sha256", 1 },
	{ GNUTLS_DIG_SHA384,	"2.16.840.1.101.3.4.2.2",	"sha384", 0 },
	{ GNUTLS_DIG_SHA512,	"2.16.840.1.101.3.4.2.3",	"sha512", 0 },
};
#define NHASHES	OCSP_HASHES

/* The table's entry for a CertID hash, NULL for one not answered. */
static const struct certid_hash *
hash_entry(int alg)
{
	size_t	i;

	for (i = 0; i < NHASHES; i++)
		if (certid_hashes[i].alg == alg)
			return &certid_hashes[i];
	return NULL;
}

int
ocsp_hash_alg(size_t i)
{
	return i < NHASHES ? certid_hashes[i].alg : 0;
}

const char *
ocsp_hash_name(int alg)
{
	const struct certid_hash	*h = hash_entry(alg);

	return h != NULL ? h->name : NULL;
}

int
ocsp_hash_presigned(int alg)
{
	const struct certid_hash	*h = hash_entry(alg);

	return h != NULL && h->presigned;
}

/* A CertID whose hash is one answered, with its full length. */
static int
certid_hash_ok(const struct ocsp_certid *id)
{
	return id != NULL && hash_entry(id->hash) != NULL &&
	    id->hash_len == gnutls_hash_get_len(id->hash);
}

struct ocsp_request {
	size_t			n;
	struct ocsp_certid	ids[OCSP_MAX_CERTS];
	uint8_t			nonce[OCSP_NONCE_MAX];
	size_t			nonce_len;
};

/* Reads an element into buf (at most *len octets); -1 if absent or larger. */
static int
read_value(asn1_node n, const char *name, void *buf, int *len)
{
	return asn1_read_value(n, name, buf, len) == ASN1_SUCCESS ? 0 : -1;
}

static int
certid_read(asn1_node n, const char *base, struct ocsp_certid *id,
    struct err *e)
{
	char	name[128], oid[128];
	uint8_t	param[8];
	size_t	k;
	int	len, rc;

	snprintf(name, sizeof(name), "%s.hashAlgorithm.algorithm", base);
	len = sizeof(oid);
	if (read_value(n, name, oid, &len) < 0)
		return err_set(e, "CertID without a hash algorithm");
	/* RFC 6960 4.1.1: the issuer hashes in the request's algorithm */
	for (k = 0; k < NHASHES && strcmp(oid, certid_hashes[k].oid) != 0;
	    k++)
		;
	if (k == NHASHES)
		return err_set(e, "CertID hash algorithm %s is not supported "
		    "(SHA-1, SHA-256, SHA-384 or SHA-512)", oid);
	id->hash = certid_hashes[k].alg;
	id->hash_len = gnutls_hash_get_len(id->hash);
	/* parameters: absent or NULL (RFC 5754 2) */
	snprintf(name, sizeof(name), "%s.hashAlgorithm.parameters", base);
	len = sizeof(param);
	rc = asn1_read_value(n, name, param, &len);
	if (rc == ASN1_SUCCESS && !(len == 2 && param[0] == 0x05 &&
	    param[1] == 0x00))
		return err_set(e, "CertID hash parameters must be NULL");
	if (rc != ASN1_SUCCESS && rc != ASN1_ELEMENT_NOT_FOUND &&
	    rc != ASN1_VALUE_NOT_FOUND)
		return err_set(e, "CertID hash parameters must be NULL");

	snprintf(name, sizeof(name), "%s.issuerNameHash", base);
	len = sizeof(id->name_hash);
	if (read_value(n, name, id->name_hash, &len) < 0 ||
	    (size_t)len != id->hash_len)
		return err_set(e, "issuerNameHash has the wrong length");
	snprintf(name, sizeof(name), "%s.issuerKeyHash", base);
	len = sizeof(id->key_hash);
	if (read_value(n, name, id->key_hash, &len) < 0 ||
	    (size_t)len != id->hash_len)
		return err_set(e, "issuerKeyHash has the wrong length");
	snprintf(name, sizeof(name), "%s.serialNumber", base);
	len = sizeof(id->serial);
	if (read_value(n, name, id->serial, &len) < 0 || len < 1)
		return err_set(e, "CertID serial number longer than 20 octets "
		    "(RFC 5280 4.1.2.2)");
	id->serial_len = len;
	return 0;
}

/* Walks an Extensions element: refuses unknown critical ones (RFC 5280
 * 4.2), picks the nonce when nonce != NULL. */
static int
extensions_read(asn1_node n, const char *base, struct ocsp_request *nonce,
    struct err *e)
{
	asn1_node	 v = NULL;
	char		 name[160], oid[128], crit[8];
	uint8_t		 val[OCSP_REQUEST_MAX], inner[OCSP_NONCE_MAX + 1];
	int		 count = 0, i, len, vlen, ilen, seen = 0, ret = -1, rc;

	if (asn1_number_of_elements(n, base, &count) != ASN1_SUCCESS)
		return 0;		/* absent */
	for (i = 1; i <= count; i++) {
		snprintf(name, sizeof(name), "%s.?%d.extnID", base, i);
		len = sizeof(oid);
		if (read_value(n, name, oid, &len) < 0) {
			err_set(e, "extension without an identifier");
			goto out;
		}
		snprintf(name, sizeof(name), "%s.?%d.critical", base, i);
		len = sizeof(crit);
		if (read_value(n, name, crit, &len) < 0)
			strcpy(crit, "FALSE");
		if (nonce != NULL && strcmp(oid, OID_NONCE) == 0) {
			if (seen++) {	/* RFC 5280 4.2 */
				err_set(e, "the nonce extension appears twice");
				goto out;
			}
			snprintf(name, sizeof(name), "%s.?%d.extnValue", base, i);
			vlen = sizeof(val);
			if (read_value(n, name, val, &vlen) < 0) {
				err_set(e, "unreadable nonce extension");
				goto out;
			}
			/* RFC 8954 2.1: Nonce ::= OCTET STRING (SIZE(1..32)) */
			asn1_delete_structure(&v);
			ilen = sizeof(inner);
			if (asn_new("OCSPNonce", &v, e) < 0)
				goto out;
			if ((rc = asn1_der_decoding2(&v, val, &vlen,
			    ASN1_DECODE_FLAG_STRICT_DER, NULL)) != ASN1_SUCCESS) {
				asn_fail(e, rc, "decoding the nonce");
				goto out;
			}
			rc = asn1_read_value(v, "", inner, &ilen);
			if (rc == ASN1_SUCCESS && ilen >= 1 &&
			    ilen <= OCSP_NONCE_MAX) {
				memcpy(nonce->nonce, inner, ilen);
				nonce->nonce_len = ilen;
			} else if (strcmp(crit, "TRUE") == 0) {
				err_set(e, "critical nonce not 1..32 octets "
				    "(RFC 8954 2.1)");
				goto out;
			}
			/* otherwise answered without a nonce (RFC 8954 2.1) */
			continue;
		}
		if (strcmp(crit, "TRUE") == 0) {
			err_set(e, "unsupported critical extension %s", oid);
			goto out;
		}
	}
	ret = 0;
out:
	asn1_delete_structure(&v);
	return ret;
}

struct ocsp_request *
ocsp_request_parse(const uint8_t *der, size_t len, struct err *e)
{
	struct ocsp_request	*req = NULL;
	asn1_node		 n = NULL;
	char			 name[96], msg[ASN1_MAX_ERROR_DESCRIPTION_SIZE];
	uint8_t			 ver[8];
	gnutls_datum_t		 again = { NULL, 0 };
	int			 count = 0, dlen, vlen, rc, i, ok = 0;

	if (der == NULL || len == 0) {
		err_set(e, "empty OCSP request");
		goto out;
	}
	if (len > OCSP_REQUEST_MAX) {
		err_set(e, "OCSP request of %zu octets is too large (at most %d)",
		    len, OCSP_REQUEST_MAX);
		goto out;
	}
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (asn_new("OCSPRequest", &n, e) < 0)
		goto out;
	dlen = len;
	msg[0] = '\0';
	if ((rc = asn1_der_decoding2(&n, der, &dlen,
	    ASN1_DECODE_FLAG_STRICT_DER, msg)) != ASN1_SUCCESS) {
		err_set(e, "not a DER OCSPRequest: %s %s", asn1_strerror(rc),
		    msg);
		goto out;
	}
	if ((size_t)dlen != len) {	/* X.690 10: one value, nothing after */
		err_set(e, "%zu octets after the OCSPRequest", len - dlen);
		goto out;
	}
	/* libtasn1 lets non-minimal lengths and encoded DEFAULTs through;
	 * DER (X.690 10.1, 11.5) has one encoding: ours must be the same. */
	if (asn_der(n, "", &again, e) < 0)
		goto out;
	if (again.size != len || memcmp(again.data, der, len) != 0) {
		err_set(e, "the OCSPRequest is BER, not DER (X.690 10)");
		goto out;
	}
	/* RFC 6960 4.1.2: only v1 */
	vlen = sizeof(ver);
	rc = asn1_read_value(n, "tbsRequest.version", ver, &vlen);
	if (rc == ASN1_SUCCESS && !(vlen == 1 && ver[0] == 0)) {
		err_set(e, "OCSP request version is not v1");
		goto out;
	}
	if ((rc = asn1_number_of_elements(n, "tbsRequest.requestList",
	    &count)) != ASN1_SUCCESS || count == 0) {
		err_set(e, "OCSP request without a CertID");
		goto out;
	}
	if (count > OCSP_MAX_CERTS) {
		err_set(e, "OCSP request for %d certificates (at most %d)",
		    count, OCSP_MAX_CERTS);
		goto out;
	}
	for (i = 1; i <= count; i++) {
		snprintf(name, sizeof(name),
		    "tbsRequest.requestList.?%d.reqCert", i);
		if (certid_read(n, name, &req->ids[i - 1], e) < 0) {
			err_wrap(e, "CertID %d", i);
			goto out;
		}
		snprintf(name, sizeof(name),
		    "tbsRequest.requestList.?%d.singleRequestExtensions", i);
		if (extensions_read(n, name, NULL, e) < 0)
			goto out;
	}
	req->n = count;
	if (extensions_read(n, "tbsRequest.requestExtensions", req, e) < 0)
		goto out;
	ok = 1;
out:
	gnutls_free(again.data);
	asn1_delete_structure(&n);
	if (!ok) {
		err_wrap(e, "parsing OCSP request");
		ocsp_request_free(req);
		return NULL;
	}
	return req;
}

void
ocsp_request_free(struct ocsp_request *req)
{
	free(req);
}

size_t
ocsp_request_count(const struct ocsp_request *req)
{
	return req->n;
}

const struct ocsp_certid *
ocsp_request_certid(const struct ocsp_request *req, size_t i)
{
	return i < req->n ? &req->ids[i] : NULL;
}

const uint8_t *
ocsp_request_nonce(const struct ocsp_request *req, size_t *len)
{
	*len = req->nonce_len;
	return req->nonce_len > 0 ? req->nonce : NULL;
}

static int
w(asn1_node n, const char *name, const void *v, int len, struct err *e)
{
	int	rc;

	if ((rc = asn1_write_value(n, name, v, len)) != ASN1_SUCCESS)
		return err_set(e, "writing %s: %s", name, asn1_strerror(rc));
	return 0;
}

static int
single_write(asn1_node n, const struct ocsp_single *s, struct err *e)
{
	const struct ocsp_certid	*id = s->id;
	const char			*p = "responses.?LAST";
	char				 name[96], t[16], num[8];

	if (!certid_hash_ok(id) || id->serial_len < 1 ||
	    id->serial_len > sizeof(id->serial))
		return err_set(e, "invalid CertID");
	if (w(n, "responses", "NEW", 1, e) < 0)
		return -1;
	/* RFC 6960 4.2.1: certID as in the request */
#define F(x) (snprintf(name, sizeof(name), "%s.%s", p, x), name)
	if (w(n, F("certID.hashAlgorithm.algorithm"), hash_entry(id->hash)->oid,
	    1, e) < 0 ||
	    w(n, F("certID.hashAlgorithm.parameters"), "\x05\x00", 2, e) < 0 ||
	    w(n, F("certID.issuerNameHash"), id->name_hash, id->hash_len,
	    e) < 0 ||
	    w(n, F("certID.issuerKeyHash"), id->key_hash, id->hash_len, e) < 0 ||
	    w(n, F("certID.serialNumber"), id->serial, id->serial_len, e) < 0)
		return -1;
	switch (s->status) {
	case OCSP_GOOD:
		if (w(n, F("certStatus"), "good", 1, e) < 0)
			return -1;
		break;
	case OCSP_UNKNOWN:
		if (w(n, F("certStatus"), "unknown", 1, e) < 0)
			return -1;
		break;
	case OCSP_REVOKED:
		if (asn_gentime_str(s->revoked_at, t, e) < 0 ||
		    w(n, F("certStatus"), "revoked", 1, e) < 0 ||
		    w(n, F("certStatus.revoked.revocationTime"), t, 15, e) < 0)
			return -1;
		/* RFC 5280 5.3.1 codes; unspecified(0) left out as in CRLs */
		if (s->reason >= 1) {
			if (s->reason > 10 || s->reason == 6 || s->reason == 7)
				return err_set(e, "revocation reason %d is not "
				    "allowed (RFC 5280 5.3.1)", s->reason);
			snprintf(num, sizeof(num), "%d", s->reason);
			if (w(n, F("certStatus.revoked.revocationReason"), num,
			    0, e) < 0)
				return -1;
		} else if (w(n, F("certStatus.revoked.revocationReason"),
		    NULL, 0, e) < 0)
			return -1;
		break;
	default:
		return err_set(e, "invalid certificate status %d", s->status);
	}
	if (asn_gentime_str(s->this_update, t, e) < 0 ||
	    w(n, F("thisUpdate"), t, 15, e) < 0)
		return -1;
	if (s->next_update != 0) {
		if (s->next_update <= s->this_update)
			return err_set(e, "nextUpdate must be later than "
			    "thisUpdate (RFC 6960 4.2.2.1)");
		if (asn_gentime_str(s->next_update, t, e) < 0 ||
		    w(n, F("nextUpdate"), t, 15, e) < 0)
			return -1;
	} else if (w(n, F("nextUpdate"), NULL, 0, e) < 0)
		return -1;
	if (w(n, F("singleExtensions"), NULL, 0, e) < 0)
		return -1;
#undef F
	return 0;
}

/* RFC 6960 4.2.1 ResponseData, DER. */
static int
response_data(const struct ocsp_signer *s, const struct ocsp_single *singles,
    size_t n, const uint8_t *nonce, size_t nonce_len, time_t produced_at,
    gnutls_datum_t *out, struct err *e)
{
	asn1_node	 rd = NULL, nn = NULL;
	gnutls_datum_t	 nder = { NULL, 0 };
	uint8_t		 kh[64];
	size_t		 khlen, i;
	char		 t[16];
	int		 ret = -1;

	if (asn_new("ResponseData", &rd, e) < 0)
		goto out;
	/* version v1 is the DEFAULT: left unset, so not encoded (X.690 11.5) */
	/* RFC 6960 4.2.1: byKey = SHA-1 of the responder's public key */
	if (asn_key_hash(s->cert, GNUTLS_DIG_SHA1, kh, &khlen, e) < 0 ||
	    w(rd, "responderID", "byKey", 1, e) < 0 ||
	    w(rd, "responderID.byKey", kh, khlen, e) < 0)
		goto out;
	if (asn_gentime_str(produced_at, t, e) < 0 ||
	    w(rd, "producedAt", t, 15, e) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (single_write(rd, &singles[i], e) < 0) {
			err_wrap(e, "response %zu", i + 1);
			goto out;
		}
	if (nonce != NULL && nonce_len > 0) {
		/* RFC 8954 2.1: echo the nonce, as an OCTET STRING inside
		 * extnValue */
		if (nonce_len > OCSP_NONCE_MAX) {
			err_set(e, "nonce longer than %d octets", OCSP_NONCE_MAX);
			goto out;
		}
		if (asn_new("OCSPNonce", &nn, e) < 0 ||
		    w(nn, "", nonce, nonce_len, e) < 0 ||
		    asn_der(nn, "", &nder, e) < 0)
			goto out;
		if (w(rd, "responseExtensions", "NEW", 1, e) < 0 ||
		    w(rd, "responseExtensions.?LAST.extnID", OID_NONCE, 1,
		    e) < 0 ||
		    w(rd, "responseExtensions.?LAST.extnValue", nder.data,
		    nder.size, e) < 0)
			goto out;
	} else if (w(rd, "responseExtensions", NULL, 0, e) < 0)
		goto out;
	if (asn_der(rd, "", out, e) < 0)
		goto out;
	ret = 0;
out:
	gnutls_free(nder.data);
	asn1_delete_structure(&nn);
	asn1_delete_structure(&rd);
	return ret;
}

int
ocsp_response_build(const struct ocsp_signer *s,
    const struct ocsp_single *singles, size_t n, const uint8_t *nonce,
    size_t nonce_len, time_t produced_at, gnutls_datum_t *der, struct err *e)
{
	struct asn_sigalg	 sa;
	asn1_node		 basic = NULL, resp = NULL;
	gnutls_datum_t		 tbs = { NULL, 0 }, sig = { NULL, 0 },
				 bder = { NULL, 0 }, cert = { NULL, 0 };
	int			 rc, ret = -1;

	der->data = NULL;
	der->size = 0;
	if (n == 0) {
		err_set(e, "no certificate status to answer");
		goto out;
	}
	if (asn_sigalg(s->key, &sa, e) < 0 ||
	    response_data(s, singles, n, nonce, nonce_len, produced_at, &tbs,
	    e) < 0)
		goto out;
	/* RFC 6960 4.2.1: signature over the DER of tbsResponseData */
	if ((rc = gnutls_privkey_sign_data2(s->key, sa.sign, 0, &tbs,
	    &sig)) < 0) {
		err_set(e, "signing: %s", gnutls_strerror(rc));
		goto out;
	}
	if (asn_new("BasicOCSPResponse", &basic, e) < 0 ||
	    w(basic, "tbsResponseData", tbs.data, tbs.size, e) < 0 ||
	    w(basic, "signatureAlgorithm.algorithm", sa.oid, 1, e) < 0 ||
	    w(basic, "signatureAlgorithm.parameters", sa.null_params ?
	    "\x05\x00" : NULL, sa.null_params ? 2 : 0, e) < 0 ||
	    w(basic, "signature", sig.data, sig.size * 8, e) < 0)
		goto out;
	if (s->include_cert) {
		/* RFC 6960 4.2.2.2: the delegated certificate goes along */
		if ((rc = gnutls_x509_crt_export2(s->cert, GNUTLS_X509_FMT_DER,
		    &cert)) < 0) {
			err_set(e, "exporting the responder certificate: %s",
			    gnutls_strerror(rc));
			goto out;
		}
		if (w(basic, "certs", "NEW", 1, e) < 0 ||
		    w(basic, "certs.?LAST", cert.data, cert.size, e) < 0)
			goto out;
	} else if (w(basic, "certs", NULL, 0, e) < 0)
		goto out;
	if (asn_der(basic, "", &bder, e) < 0)
		goto out;
	if (asn_new("OCSPResponse", &resp, e) < 0 ||
	    w(resp, "responseStatus", "successful", 0, e) < 0 ||
	    w(resp, "responseBytes.responseType", OID_BASIC, 1, e) < 0 ||
	    w(resp, "responseBytes.response", bder.data, bder.size, e) < 0 ||
	    asn_der(resp, "", der, e) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		err_wrap(e, "building OCSP response");
	gnutls_free(tbs.data);
	gnutls_free(sig.data);
	gnutls_free(bder.data);
	gnutls_free(cert.data);
	asn1_delete_structure(&basic);
	asn1_delete_structure(&resp);
	return ret;
}

int
ocsp_response_error(int status, gnutls_datum_t *der, struct err *e)
{
	der->data = NULL;
	der->size = 0;
	/* RFC 6960 4.2.1 OCSPResponseStatus; 4 is not used, 0 is success */
	if (status < 1 || status > 6 || status == 4)
		return err_set(e, "OCSP error status %d does not exist", status);
	/* SEQUENCE { ENUMERATED status }, no responseBytes */
	if ((der->data = gnutls_malloc(5)) == NULL)
		return err_set(e, "out of memory");
	memcpy(der->data, "\x30\x03\x0a\x01", 4);
	der->data[4] = status;
	der->size = 5;
	return 0;
}

int
ocsp_certid_matches_issuer(const struct ocsp_certid *id, gnutls_x509_crt_t ca)
{
	gnutls_datum_t	dn = { NULL, 0 };
	uint8_t		h[64], kh[64];
	size_t		khlen;
	int		match = 0;

	if (!certid_hash_ok(id))
		goto out;
	/* RFC 6960 4.1.1: hash of the issuer's DER subject name, and of
	 * its subjectPublicKey BIT STRING value */
	if (gnutls_x509_crt_get_raw_dn(ca, &dn) < 0 ||
	    gnutls_hash_fast(id->hash, dn.data, dn.size, h) < 0 ||
	    memcmp(h, id->name_hash, id->hash_len) != 0)
		goto out;
	if (asn_key_hash(ca, id->hash, kh, &khlen, NULL) < 0 ||
	    khlen != id->hash_len || memcmp(kh, id->key_hash, khlen) != 0)
		goto out;
	match = 1;
out:
	gnutls_free(dn.data);
	return match;
}

int
ocsp_signer_cert_issue(gnutls_x509_crt_t ca, gnutls_privkey_t ca_key,
    gnutls_pubkey_t responder_pub, unsigned hours, gnutls_datum_t *der,
    struct err *e)
{
	struct asn_sigalg	sa;
	gnutls_x509_crt_t	crt = NULL;
	uint8_t			serial[16], id[64];
	char			cn[256];
	size_t			cnlen = sizeof(cn) - 32, idlen;
	unsigned		crit;
	time_t			now = time(NULL);
	int			rc, ret = -1;

	der->data = NULL;
	der->size = 0;
	if (hours == 0 || hours > 24 * 825) {
		err_set(e, "responder validity of %u hours is out of range",
		    hours);
		goto out;
	}
	if (asn_sigalg(ca_key, &sa, e) < 0)
		goto out;
	if (gnutls_x509_crt_get_dn_by_oid(ca, GNUTLS_OID_X520_COMMON_NAME, 0,
	    0, cn, &cnlen) < 0)
		strcpy(cn, "Signet CA");
	strcat(cn, " OCSP Responder");
	/* RFC 5280 4.1.2.2: positive, random (S/MIME BR 7.1) */
	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
		goto gnutls_fail;
	serial[0] &= 0x7f;
	serial[0] |= 0x01;
	idlen = sizeof(id);
	if ((rc = gnutls_x509_crt_get_subject_key_id(ca, id, &idlen,
	    &crit)) < 0) {
		err_set(e, "the CA certificate has no subjectKeyIdentifier");
		goto out;
	}
	if ((rc = gnutls_x509_crt_init(&crt)) < 0 ||
	    (rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
	    (rc = gnutls_x509_crt_set_dn_by_oid(crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn))) < 0 ||
	    (rc = gnutls_x509_crt_set_pubkey(crt, responder_pub)) < 0 ||
	    (rc = gnutls_x509_crt_set_activation_time(crt, now - 300)) < 0 ||
	    (rc = gnutls_x509_crt_set_expiration_time(crt,
	    now + 3600 * (time_t)hours)) < 0 ||
	    /* RFC 5280 4.2.1.9 */
	    (rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    /* RFC 6960 4.2.2.2: signs responses */
	    (rc = gnutls_x509_crt_set_key_usage(crt,
	    GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_purpose_oid(crt, OID_KP_OCSP,
	    0)) < 0 ||
	    /* RFC 6960 4.2.2.2.1: id-pkix-ocsp-nocheck, value NULL */
	    (rc = gnutls_x509_crt_set_extension_by_oid(crt, OID_NOCHECK,
	    "\x05\x00", 2, 0)) < 0 ||
	    (rc = gnutls_x509_crt_set_authority_key_id(crt, id, idlen)) < 0)
		goto gnutls_fail;
	idlen = sizeof(id);
	if ((rc = gnutls_pubkey_get_key_id(responder_pub, 0, id, &idlen)) < 0 ||
	    (rc = gnutls_x509_crt_set_subject_key_id(crt, id, idlen)) < 0 ||
	    (rc = gnutls_x509_crt_privkey_sign(crt, ca, ca_key, sa.hash,
	    0)) < 0 ||
	    (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, der)) < 0)
		goto gnutls_fail;
	ret = 0;
	goto out;
gnutls_fail:
	err_set(e, "issuing the OCSP responder certificate: %s",
	    gnutls_strerror(rc));
out:
	gnutls_x509_crt_deinit(crt);
	return ret;
}
