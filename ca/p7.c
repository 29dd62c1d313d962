/*
 * p7: CMS certs-only SignedData (RFC 5652 5.1; RFC 8551 3.2.2), as
 * published in userSMIMECertificate (RFC 2798 2.6 / DESIGN.md Publishing).
 */
#include <string.h>

#include <libtasn1.h>

#include "asn.h"
#include "p7.h"

#define OID_SIGNED_DATA	"1.2.840.113549.1.7.2"	/* RFC 5652 5.1 */
#define OID_DATA	"1.2.840.113549.1.7.1"	/* RFC 5652 4 */

/* A certificate must be one DER SEQUENCE filling its buffer (RFC 5280 4.1). */
static int
cert_is_one_sequence(const gnutls_datum_t *c)
{
	unsigned char	cls;
	unsigned long	tag;
	int		tlen, llen;
	long		len;

	if (c->data == NULL || c->size < 2 || c->size > 0x7fffffff)
		return 0;
	if (asn1_get_tag_der(c->data, c->size, &cls, &tlen, &tag) !=
	    ASN1_SUCCESS || cls != ASN1_CLASS_STRUCTURED || tag != 16)
		return 0;
	len = asn1_get_length_der(c->data + tlen, c->size - tlen, &llen);
	return len >= 0 && (size_t)tlen + llen + len == c->size;
}

int
p7_certs_only(const gnutls_datum_t *certs, size_t n, gnutls_datum_t *out,
    struct err *e)
{
	asn1_node	 sd = NULL, ci = NULL;
	gnutls_datum_t	 sd_der = { NULL, 0 };
	size_t		 i;
	int		 rc, ret = -1;

	out->data = NULL;
	out->size = 0;
	if (asn_new("SignedData", &sd, e) < 0 ||
	    asn_new("ContentInfo", &ci, e) < 0)
		goto out;
	/* RFC 5652 5.1: version 1 when there are only X.509 certificates,
	 * no attribute certificates, id-data content and no signers. */
	if ((rc = asn1_write_value(sd, "version", "1", 0)) != ASN1_SUCCESS) {
		asn_fail(e, rc, "SignedData version");
		goto out;
	}
	/* RFC 8551 3.2.2: certs-only has no digest algorithms, no content
	 * and no signers; the empty SETs are still present. */
	if ((rc = asn1_write_value(sd, "encapContentInfo.eContentType",
	    OID_DATA, 1)) != ASN1_SUCCESS ||
	    (rc = asn1_write_value(sd, "encapContentInfo.eContent", NULL,
	    0)) != ASN1_SUCCESS ||
	    (rc = asn1_write_value(sd, "crls", NULL, 0)) != ASN1_SUCCESS) {
		asn_fail(e, rc, "SignedData encapContentInfo");
		goto out;
	}
	if (n == 0 &&
	    (rc = asn1_write_value(sd, "certificates", NULL, 0)) !=
	    ASN1_SUCCESS) {
		asn_fail(e, rc, "SignedData certificates");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!cert_is_one_sequence(&certs[i])) {
			err_set(e, "certificate %zu is not a DER SEQUENCE", i + 1);
			goto out;
		}
		if ((rc = asn1_write_value(sd, "certificates", "NEW", 1)) !=
		    ASN1_SUCCESS ||
		    (rc = asn1_write_value(sd, "certificates.?LAST",
		    certs[i].data, certs[i].size)) != ASN1_SUCCESS) {
			asn_fail(e, rc, "adding a certificate");
			goto out;
		}
	}
	if (asn_der(sd, "", &sd_der, e) < 0)
		goto out;
	if ((rc = asn1_write_value(ci, "contentType", OID_SIGNED_DATA, 1)) !=
	    ASN1_SUCCESS ||
	    (rc = asn1_write_value(ci, "content", sd_der.data, sd_der.size)) !=
	    ASN1_SUCCESS) {
		asn_fail(e, rc, "ContentInfo");
		goto out;
	}
	if (asn_der(ci, "", out, e) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		err_wrap(e, "building PKCS#7 certs-only");
	gnutls_free(sd_der.data);
	asn1_delete_structure(&sd);
	asn1_delete_structure(&ci);
	return ret;
}
