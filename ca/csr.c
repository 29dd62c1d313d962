/*
 * csr: PKCS#10 intake (RFC 2986), strict.
 *
 * The input is what an employee pasted or uploaded: one PEM block (RFC 7468
 * 5.1, label CERTIFICATE REQUEST, or the legacy NEW CERTIFICATE REQUEST)
 * with only whitespace around it, or one DER object with nothing after it.
 * The request must be version 1, signed by its own key with a hash other
 * than SHA-1 or MD5, carry a subject free of NUL and control characters,
 * and hold a key that keys_check accepts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "csr.h"
#include "err.h"
#include "keys.h"

#define NOT_CSR		"not a certificate request"
#define REFUSED		"certificate request refused"

struct csr {
	gnutls_x509_crq_t	crq;
	gnutls_pubkey_t		pub;
	struct key_info		ki;
	gnutls_datum_t		der;
};

/* One DER TLV (X.690 8.1): where it starts, its body and its full size. */
struct tlv {
	const uint8_t	*start;
	uint8_t		 tag;
	const uint8_t	*body;
	size_t		 len;
	size_t		 total;
};

enum tlv_result {
	TLV_OK = 0,
	TLV_TRUNCATED,		/* header or body runs past the input */
	TLV_INDEFINITE,		/* BER indefinite form, X.690 8.1.3.6 */
	TLV_NOT_MINIMAL,	/* X.690 10.1: DER lengths are minimal */
	TLV_BAD_TAG,		/* high tag numbers never occur in a CSR */
};

/*
 * Reads the TLV at p. On TLV_TRUNCATED, t->total still holds the size the
 * header announces when the header itself was complete (else 0).
 */
static enum tlv_result
tlv_read(const uint8_t *p, size_t n, struct tlv *t)
{
	size_t	hdr, len, i, k;

	memset(t, 0, sizeof(*t));
	if (n < 2)
		return TLV_TRUNCATED;
	t->start = p;
	t->tag = p[0];
	if ((p[0] & 0x1f) == 0x1f)
		return TLV_BAD_TAG;
	if (p[1] < 0x80) {
		hdr = 2;
		len = p[1];
	} else if (p[1] == 0x80) {
		return TLV_INDEFINITE;
	} else {
		k = p[1] & 0x7f;
		if (k > 4)		/* more than CSR_MAX_SIZE can hold */
			return TLV_NOT_MINIMAL;
		if (n < 2 + k)
			return TLV_TRUNCATED;
		if (p[2] == 0)
			return TLV_NOT_MINIMAL;
		for (len = 0, i = 0; i < k; i++)
			len = (len << 8) | p[2 + i];
		if (len < 0x80)
			return TLV_NOT_MINIMAL;
		hdr = 2 + k;
	}
	t->total = hdr + len;
	if (len > n - hdr)
		return TLV_TRUNCATED;
	t->body = p + hdr;
	t->len = len;
	return TLV_OK;
}

/* The fields of CertificationRequestInfo that GnuTLS does not expose raw. */
struct cri_fields {
	struct tlv	version;	/* RFC 2986 4.1 */
	struct tlv	subject;
	struct tlv	spki;
};

static int
cri_fields(const gnutls_datum_t *der, struct cri_fields *f)
{
	struct tlv	 req, info;
	const uint8_t	*p, *end;

	if (tlv_read(der->data, der->size, &req) != TLV_OK ||
	    req.tag != 0x30 ||
	    tlv_read(req.body, req.len, &info) != TLV_OK || info.tag != 0x30)
		return -1;
	p = info.body;
	end = info.body + info.len;
	if (tlv_read(p, end - p, &f->version) != TLV_OK ||
	    f->version.tag != 0x02)
		return -1;
	p += f->version.total;
	if (tlv_read(p, end - p, &f->subject) != TLV_OK ||
	    f->subject.tag != 0x30)
		return -1;
	p += f->subject.total;
	if (tlv_read(p, end - p, &f->spki) != TLV_OK || f->spki.tag != 0x30)
		return -1;
	return 0;
}

/* --- outer layer: PEM or DER ------------------------------------------- */

static int
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	    c == '\v' || c == '\f';
}

static const uint8_t *
skip_space(const uint8_t *p, const uint8_t *end)
{
	while (p < end && is_space(*p))
		p++;
	return p;
}

static const uint8_t *
find(const uint8_t *p, const uint8_t *end, const char *s)
{
	return memmem(p, end - p, s, strlen(s));
}

static int
b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * RFC 7468 3 (strict): base64 of RFC 4648 4 with whitespace between lines,
 * padding only at the end. out must hold (end - p) / 4 * 3 + 3 bytes.
 */
static int
b64_decode(const uint8_t *p, const uint8_t *end, uint8_t *out, size_t *outlen,
    struct err *e)
{
	uint32_t	 acc = 0;
	size_t		 n = 0, o = 0, pad = 0, line = 1;
	int		 v;

	for (; p < end; p++) {
		if (*p == '\n')
			line++;
		if (is_space(*p))
			continue;
		if (*p == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64_value(*p)) < 0) {
			if (pad > 0)
				return err_set(e, NOT_CSR ": the base64 text "
				    "continues after its '=' padding (line %zu "
				    "of the block)", line);
			return err_set(e, NOT_CSR ": the base64 text between "
			    "the BEGIN and END lines is damaged: unexpected "
			    "%s%c%s (byte 0x%02x) on line %zu of the block",
			    *p >= 0x21 && *p < 0x7f ? "'" : "",
			    *p >= 0x21 && *p < 0x7f ? *p : '?',
			    *p >= 0x21 && *p < 0x7f ? "'" : "", *p, line);
		}
		acc = (acc << 6) | (uint32_t)v;
		if (++n % 4 == 0) {
			out[o++] = acc >> 16;
			out[o++] = acc >> 8;
			out[o++] = acc;
			acc = 0;
		}
	}
	/* RFC 4648 4: the last quantum is 2 or 3 characters plus padding. */
	if ((n + pad) % 4 != 0 || pad > 2 || (pad > 0 && n % 4 + pad != 4) ||
	    n % 4 == 1)
		return err_set(e, NOT_CSR ": the base64 text between the BEGIN "
		    "and END lines is damaged: its length is wrong (some "
		    "characters are missing)");
	if (n % 4 == 2) {
		out[o++] = acc >> 4;
	} else if (n % 4 == 3) {
		out[o++] = acc >> 10;
		out[o++] = acc >> 2;
	}
	*outlen = o;
	return 0;
}

static int
label_is(const uint8_t *l, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(l, s, n) == 0;
}

static int
contains(const uint8_t *l, size_t n, const char *s)
{
	return memmem(l, n, s, strlen(s)) != NULL;
}

/*
 * Decodes the one PEM block that must make up the input (RFC 7468 2, 5.1).
 * On success *der is malloc'ed.
 */
static int
pem_decode(const uint8_t *buf, size_t len, uint8_t **der, size_t *derlen,
    struct err *e)
{
	const uint8_t	*end = buf + len, *p, *begin, *label, *lend, *body,
			*endline;
	char		 endmark[96];
	size_t		 llen;
	uint8_t		*out = NULL;
	int		 rc = -1;

	*der = NULL;
	if (memchr(buf, '\0', len) != NULL) {
		err_set(e, NOT_CSR ": the PEM text contains a NUL byte");
		goto out;
	}
	begin = find(buf, end, "-----BEGIN ");
	if (skip_space(buf, end) != begin) {
		err_set(e, NOT_CSR ": there is text before the -----BEGIN "
		    "line; paste only the request, from its -----BEGIN line "
		    "to its -----END line");
		goto out;
	}
	label = begin + strlen("-----BEGIN ");
	for (lend = label; lend < end && *lend >= 0x20 && *lend < 0x7f &&
	    *lend != '-'; lend++)
		;
	llen = lend - label;
	if (llen == 0 || llen > 40 || end - lend < 5 ||
	    memcmp(lend, "-----", 5) != 0) {
		err_set(e, NOT_CSR ": the -----BEGIN line is malformed");
		goto out;
	}
	if (contains(label, llen, "PRIVATE KEY")) {
		err_set(e, NOT_CSR ": this is a private key. Never send your "
		    "private key to anyone; send the certificate request made "
		    "with it");
		goto out;
	}
	if (label_is(label, llen, "CERTIFICATE") ||
	    label_is(label, llen, "X509 CERTIFICATE") ||
	    label_is(label, llen, "TRUSTED CERTIFICATE")) {
		err_set(e, NOT_CSR ": this is a certificate, not a certificate "
		    "request");
		goto out;
	}
	/* RFC 7468 5.1; "NEW" is the legacy label RFC 7468 7 still meets. */
	if (!label_is(label, llen, "CERTIFICATE REQUEST") &&
	    !label_is(label, llen, "NEW CERTIFICATE REQUEST")) {
		err_set(e, NOT_CSR ": the PEM block is a \"%.*s\", not a "
		    "CERTIFICATE REQUEST", (int)llen, (const char *)label);
		goto out;
	}
	/* RFC 7468 3: only whitespace after the label line's dashes. */
	for (p = lend + 5; p < end && *p != '\n'; p++)
		if (!is_space(*p)) {
			err_set(e, NOT_CSR ": there is text after the "
			    "-----BEGIN line's closing dashes");
			goto out;
		}
	body = p;
	snprintf(endmark, sizeof(endmark), "-----END %.*s-----", (int)llen,
	    (const char *)label);
	if ((endline = find(body, end, endmark)) == NULL) {
		err_set(e, NOT_CSR ": there is no %s line; the request seems "
		    "cut short", endmark);
		goto out;
	}
	p = skip_space(endline + strlen(endmark), end);
	if (p != end) {
		if (find(p, end, "-----BEGIN ") != NULL)
			err_set(e, NOT_CSR ": the input holds more than one "
			    "PEM block; paste exactly one certificate request");
		else
			err_set(e, NOT_CSR ": there is text after the -----END "
			    "line; paste only the request, from its -----BEGIN "
			    "line to its -----END line");
		goto out;
	}
	if ((out = malloc((endline - body) / 4 * 3 + 3)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (b64_decode(body, endline, out, derlen, e) == -1)
		goto out;
	if (*derlen == 0) {
		err_set(e, NOT_CSR ": the PEM block is empty");
		goto out;
	}
	*der = out;
	out = NULL;
	rc = 0;
out:
	free(out);
	return rc;
}

/* X.690 10.1: one SEQUENCE in definite form, and nothing after it. */
static int
der_check(const uint8_t *der, size_t len, struct err *e)
{
	struct tlv	t;

	switch (tlv_read(der, len, &t)) {
	case TLV_OK:
		break;
	case TLV_TRUNCATED:
		if (t.total > len)
			return err_set(e, NOT_CSR ": the DER data is truncated "
			    "(%zu of the %zu bytes it announces)", len,
			    t.total);
		return err_set(e, NOT_CSR ": the DER data is truncated");
	case TLV_INDEFINITE:
		return err_set(e, NOT_CSR ": the data uses an indefinite "
		    "length, which DER forbids (X.690 10.1)");
	case TLV_NOT_MINIMAL:
		return err_set(e, NOT_CSR ": the data's length is not in "
		    "minimal form, which DER requires (X.690 10.1)");
	case TLV_BAD_TAG:
		return err_set(e, NOT_CSR ": the data does not start with a "
		    "DER SEQUENCE");
	}
	if (t.tag != 0x30)
		return err_set(e, NOT_CSR ": the data does not start with a "
		    "DER SEQUENCE");
	if (t.total < len)
		return err_set(e, NOT_CSR ": %zu trailing bytes after the DER "
		    "data", len - t.total);
	return 0;
}

/* --- the request's contents ----------------------------------------- */

/* RFC 2986 4.1: version is 0 (v1); nothing else is defined. */
static int
check_version(const struct tlv *v, struct err *e)
{
	if (v->len == 1 && v->body[0] == 0)
		return 0;
	if (v->len == 1 && v->body[0] < 0x80)
		return err_set(e, NOT_CSR ": version %u is unknown: PKCS#10 "
		    "has only version 1 (RFC 2986 4.1)", v->body[0] + 1u);
	return err_set(e, NOT_CSR ": its version is unknown: PKCS#10 has "
	    "only version 1 (RFC 2986 4.1)");
}

/* C0 controls, DEL and C1 controls (ISO/IEC 6429) never belong in a name. */
static int
check_char(uint32_t c, const char *attr, struct err *e)
{
	if (c == 0)
		return err_set(e, REFUSED ": subject contains a NUL byte (in "
		    "%s)", attr);
	if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
		return err_set(e, REFUSED ": subject contains a control "
		    "character (0x%02x in %s)", (unsigned)c, attr);
	return 0;
}

/* RFC 3629 3: well-formed UTF-8, no overlong forms or surrogates. */
static int
check_utf8(const unsigned char *s, size_t n, const char *attr, struct err *e)
{
	size_t		i = 0, k, j;
	uint32_t	c, min;

	while (i < n) {
		c = s[i];
		if (c < 0x80) {
			k = 0;
			min = 0;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1;
			c &= 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2;
			c &= 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3;
			c &= 0x07;
			min = 0x10000;
		} else
			goto bad;
		if (k > n - i - 1)
			goto bad;
		for (j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				goto bad;
			c = (c << 6) | (s[i + j] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			goto bad;
		if (check_char(c, attr, e) == -1)
			return -1;
		i += k + 1;
	}
	return 0;
bad:
	return err_set(e, REFUSED ": subject is not valid UTF-8 (in %s)", attr);
}

/* One attribute value, by its string type (X.520, RFC 5280 4.1.2.4). */
static int
check_value(const gnutls_x509_ava_st *ava, const char *attr, struct err *e)
{
	const unsigned char	*s = ava->value.data;
	size_t			 n = ava->value.size, i, w;
	uint32_t		 c;

	switch (ava->value_tag) {
	case 12:			/* UTF8String */
		return check_utf8(s, n, attr, e);
	case 30:			/* BMPString: UCS-2, big-endian */
	case 28:			/* UniversalString: UCS-4 */
		w = ava->value_tag == 30 ? 2 : 4;
		if (n % w != 0)
			return err_set(e, REFUSED ": subject has a malformed "
			    "%s value", attr);
		for (i = 0; i < n; i += w) {
			c = w == 2 ? (uint32_t)s[i] << 8 | s[i + 1] :
			    (uint32_t)s[i] << 24 | (uint32_t)s[i + 1] << 16 |
			    (uint32_t)s[i + 2] << 8 | s[i + 3];
			if (check_char(c, attr, e) == -1)
				return -1;
		}
		return 0;
	default:			/* PrintableString, IA5String, ... */
		for (i = 0; i < n; i++)
			if (check_char(s[i], attr, e) == -1)
				return -1;
		return 0;
	}
}

/* Every AVA of every RDN (RFC 5280 4.1.2.4), checked on its raw bytes. */
static int
check_subject(gnutls_x509_crq_t crq, const struct tlv *subject,
    struct err *e)
{
	gnutls_x509_dn_t	 dn = NULL;
	gnutls_x509_ava_st	 ava;
	gnutls_datum_t		 raw, str = { NULL, 0 };
	const char		*attr;
	char			 oid[64];
	int			 irdn, iava, r, rc = -1;

	raw.data = (unsigned char *)subject->start;
	raw.size = subject->total;
	if ((r = gnutls_x509_dn_init(&dn)) < 0 ||
	    (r = gnutls_x509_dn_import(dn, &raw)) < 0) {
		err_set(e, NOT_CSR ": its subject cannot be read (%s)",
		    gnutls_strerror(r));
		goto out;
	}
	for (irdn = 0;; irdn++) {
		for (iava = 0;; iava++) {
			r = gnutls_x509_dn_get_rdn_ava(dn, irdn, iava, &ava);
			if (r == GNUTLS_E_ASN1_ELEMENT_NOT_FOUND)
				break;
			if (r < 0) {
				err_set(e, NOT_CSR ": its subject cannot be "
				    "read (%s)", gnutls_strerror(r));
				goto out;
			}
			snprintf(oid, sizeof(oid), "%.*s", (int)ava.oid.size,
			    (const char *)ava.oid.data);
			attr = gnutls_x509_dn_oid_name(oid,
			    GNUTLS_X509_DN_OID_RETURN_OID);
			if (check_value(&ava, attr != NULL ? attr : oid, e)
			    == -1)
				goto out;
		}
		if (iava == 0)
			break;
	}
	/* The subject must also render as text for operators (RFC 4514). */
	if ((r = gnutls_x509_crq_get_dn3(crq, &str, 0)) < 0 &&
	    r != GNUTLS_E_ASN1_ELEMENT_NOT_FOUND) {
		err_set(e, NOT_CSR ": its subject cannot be read (%s)",
		    gnutls_strerror(r));
		goto out;
	}
	rc = 0;
out:
	gnutls_free(str.data);
	if (dn != NULL)
		gnutls_x509_dn_deinit(dn);
	return rc;
}

/* RFC 2986 4.2 with S/MIME BR 7.1.3.2: no SHA-1, no MD5, no MD2. */
static int
check_sigalg(gnutls_x509_crq_t crq, struct err *e)
{
	char	oid[128];
	size_t	size = sizeof(oid);
	int	sign;

	sign = gnutls_x509_crq_get_signature_algorithm(crq);
	if (sign <= 0 || sign == GNUTLS_SIGN_UNKNOWN) {
		if (gnutls_x509_crq_get_signature_oid(crq, oid, &size) < 0)
			snprintf(oid, sizeof(oid), "(unreadable)");
		return err_set(e, REFUSED ": its signature algorithm %s is not "
		    "supported", oid);
	}
	switch (gnutls_sign_get_hash_algorithm(sign)) {
	case GNUTLS_DIG_SHA1:
		return err_set(e, REFUSED ": SHA-1 signatures are not "
		    "accepted; make the request again with SHA-256 (S/MIME BR "
		    "7.1.3.2)");
	case GNUTLS_DIG_MD5:
	case GNUTLS_DIG_MD2:
		return err_set(e, REFUSED ": MD5 signatures are not accepted; "
		    "make the request again with SHA-256 (S/MIME BR 7.1.3.2)");
	default:
		return 0;
	}
}

/* Names for curves GnuTLS cannot load, so the refusal says which one. */
static const struct {
	const char	*name;
	uint8_t		 len;
	uint8_t		 der[10];
} curve_oids[] = {
	{ "secp256k1", 5, { 0x2b, 0x81, 0x04, 0x00, 0x0a } },
	{ "brainpoolP256r1", 9,
	    { 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07 } },
	{ "brainpoolP384r1", 9,
	    { 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b } },
	{ "brainpoolP512r1", 9,
	    { 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0d } },
	{ "secp224r1", 5, { 0x2b, 0x81, 0x04, 0x00, 0x21 } },
};

/* X.690 8.19: an OID's content octets in dotted form. */
static void
oid_dotted(const uint8_t *p, size_t n, char *buf, size_t size)
{
	uint64_t	v = 0;
	size_t		i, o = 0;
	int		first = 1;

	buf[0] = '\0';
	for (i = 0; i < n && o < size; i++) {
		if (v >> 56) {
			snprintf(buf, size, "(unreadable)");
			return;
		}
		v = (v << 7) | (p[i] & 0x7f);
		if (p[i] & 0x80)
			continue;
		if (first) {
			o += snprintf(buf + o, size - o, "%u.%llu",
			    v < 80 ? (unsigned)(v / 40) : 2u,
			    (unsigned long long)(v < 80 ? v % 40 : v - 80));
			first = 0;
		} else
			o += snprintf(buf + o, size - o, ".%llu",
			    (unsigned long long)v);
		v = 0;
	}
}

/* Why GnuTLS could not load the key, in the requester's terms. */
static int
explain_key(gnutls_x509_crq_t crq, const struct tlv *spki, int gnutls_rc,
    struct err *e)
{
	static const uint8_t ec_pub[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
	    0x01 };			/* id-ecPublicKey, RFC 5480 2.1.1 */
	struct tlv	alg, aoid, params;
	char		name[128];
	size_t		i, size = sizeof(name);
	int		ec;

	ec = tlv_read(spki->body, spki->len, &alg) == TLV_OK &&
	    alg.tag == 0x30 &&
	    tlv_read(alg.body, alg.len, &aoid) == TLV_OK && aoid.tag == 0x06 &&
	    aoid.len == sizeof(ec_pub) &&
	    memcmp(aoid.body, ec_pub, sizeof(ec_pub)) == 0 &&
	    tlv_read(aoid.body + aoid.len, alg.len - aoid.total, &params) ==
	    TLV_OK;
	if (ec && params.tag == 0x30)
		/* RFC 5480 2.1.1: specifiedCurve MUST NOT be used. */
		return err_set(e, REFUSED ": its EC key spells out its curve "
		    "parameters instead of naming the curve (RFC 5480 2.1.1); "
		    "use a key on the named curve P-256, P-384 or P-521");
	if (ec && params.tag == 0x06) {
		snprintf(name, sizeof(name), "(unknown)");
		for (i = 0; i < sizeof(curve_oids) / sizeof(curve_oids[0]); i++)
			if (params.len == curve_oids[i].len &&
			    memcmp(params.body, curve_oids[i].der,
			    params.len) == 0)
				snprintf(name, sizeof(name), "%s",
				    curve_oids[i].name);
		if (strcmp(name, "(unknown)") == 0)
			oid_dotted(params.body, params.len, name, sizeof(name));
		/* S/MIME BR 6.1.5: P-256, P-384, P-521 only. */
		return err_set(e, REFUSED ": elliptic curve %s is not "
		    "accepted: use an RSA key of 2048 bits or more, or an "
		    "ECDSA key on P-256, P-384 or P-521 (S/MIME BR 6.1.5)",
		    name);
	}
	if (gnutls_x509_crq_get_pk_oid(crq, name, &size) < 0)
		snprintf(name, sizeof(name), "(unreadable)");
	return err_set(e, REFUSED ": its public key (algorithm %s) cannot be "
	    "used: %s", name, gnutls_strerror(gnutls_rc));
}

/* --- the parser -------------------------------------------------------- */

static int
import(struct csr *c, const uint8_t *der, size_t len, struct err *e)
{
	gnutls_x509_crt_t	crt = NULL;
	gnutls_datum_t		d;
	int			r, rc = -1;

	if (der_check(der, len, e) == -1)
		goto out;
	if ((c->der.data = malloc(len)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	memcpy(c->der.data, der, len);
	c->der.size = len;
	if ((r = gnutls_x509_crq_init(&c->crq)) < 0) {
		err_set(e, "%s", gnutls_strerror(r));
		goto out;
	}
	if (gnutls_x509_crq_import(c->crq, &c->der, GNUTLS_X509_FMT_DER) < 0) {
		d = c->der;
		if (gnutls_x509_crt_init(&crt) >= 0 &&
		    gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) >= 0)
			err_set(e, NOT_CSR ": this is a certificate, not a "
			    "certificate request");
		else
			err_set(e, NOT_CSR ": the data is not a PKCS#10 "
			    "certificate request (RFC 2986)");
		goto out;
	}
	rc = 0;
out:
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return rc;
}

struct csr *
csr_parse(const uint8_t *buf, size_t len, struct err *e)
{
	struct csr		*c = NULL;
	struct cri_fields	 f;
	uint8_t			*pem_der = NULL;
	size_t			 pem_len = 0;
	const uint8_t		*p;
	int			 r, ok = 0;

	if (buf == NULL || len == 0 || skip_space(buf, buf + len) ==
	    buf + len) {
		err_set(e, NOT_CSR ": the input is empty");
		goto out;
	}
	if (len > CSR_MAX_SIZE) {
		err_set(e, NOT_CSR ": the input is too large (%zu bytes; a "
		    "request is at most %d)", len, CSR_MAX_SIZE);
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	/* DER starts with its SEQUENCE tag; '0' (0x30) never starts PEM. */
	if (buf[0] == 0x30) {
		if (import(c, buf, len, e) == -1)
			goto out;
	} else {
		p = buf + len;
		if (find(buf, p, "-----BEGIN ") == NULL) {
			err_set(e, NOT_CSR ": the input is neither a PEM block "
			    "(-----BEGIN CERTIFICATE REQUEST-----) nor DER "
			    "data");
			goto out;
		}
		if (pem_decode(buf, len, &pem_der, &pem_len, e) == -1 ||
		    import(c, pem_der, pem_len, e) == -1)
			goto out;
	}

	if (cri_fields(&c->der, &f) == -1) {
		err_set(e, NOT_CSR ": the data is not a PKCS#10 certificate "
		    "request (RFC 2986)");
		goto out;
	}
	if (check_version(&f.version, e) == -1 ||
	    check_subject(c->crq, &f.subject, e) == -1 ||
	    check_sigalg(c->crq, e) == -1)
		goto out;

	if ((r = gnutls_pubkey_init(&c->pub)) < 0) {
		err_set(e, "%s", gnutls_strerror(r));
		goto out;
	}
	if ((r = gnutls_pubkey_import_x509_crq(c->pub, c->crq, 0)) < 0) {
		explain_key(c->crq, &f.spki, r, e);
		goto out;
	}
	/* Before the signature: a refused key is a clearer answer, and the
	 * size limits bound what verifying costs. */
	if (keys_check(c->pub, &c->ki, e) == -1) {
		err_wrap(e, REFUSED);
		goto out;
	}
	/* RFC 2986 3: the request is signed with its own private key. */
	if ((r = gnutls_x509_crq_verify(c->crq, 0)) < 0) {
		err_set(e, REFUSED ": its self-signature does not match its "
		    "public key, so it is damaged or was not made with this "
		    "key (RFC 2986 3)");
		goto out;
	}
	ok = 1;
out:
	free(pem_der);
	if (!ok) {
		csr_free(c);
		c = NULL;
	}
	return c;
}

void
csr_free(struct csr *c)
{
	if (c == NULL)
		return;
	if (c->crq != NULL)
		gnutls_x509_crq_deinit(c->crq);
	gnutls_pubkey_deinit(c->pub);
	free(c->der.data);
	free(c);
}

gnutls_pubkey_t
csr_pubkey(const struct csr *c)
{
	return c->pub;
}

const struct key_info *
csr_key_info(const struct csr *c)
{
	return &c->ki;
}

const gnutls_datum_t *
csr_der(const struct csr *c)
{
	return &c->der;
}
