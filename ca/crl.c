/*
 * crl: streamed X.509 v2 CRL writer (RFC 5280 5.1). See crl.h for the
 * passes over the entries; the DER is written by hand (X.690 10).
 * Two entry sources share the writing: the caller's next/rewind callbacks
 * (crl_write), or entries encoded once into a scratch file (crl_writer).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "asn.h"
#include "crl.h"

/* SEQUENCE { INTEGER (<= 21), Time (<= 17), Extensions (14) }: < 64 */
#define ENTRY_MAX	64
#define SERIAL_MAX	20	/* RFC 5280 4.1.2.2 */
#define COPY_BUF	(256 * 1024)	/* scratch-to-CRL copy, stdio buffers */

/* id-ce-cRLReasons 2.5.29.21, id-ce-cRLNumber 2.5.29.20,
 * id-ce-authorityKeyIdentifier 2.5.29.35 (RFC 5280 5.3.1, 5.2.3, 5.2.1) */
static const uint8_t	oid_reason[] = { 0x06, 0x03, 0x55, 0x1d, 0x15 };
static const uint8_t	oid_number[] = { 0x06, 0x03, 0x55, 0x1d, 0x14 };
static const uint8_t	oid_aki[] = { 0x06, 0x03, 0x55, 0x1d, 0x23 };

struct crl_ctx {
	const struct crl_params	*p;
	crl_next_fn		 next;
	crl_rewind_fn		 rewind;
	void			*arg;
	FILE			*out;
	FILE			*scratch;	/* crl_writer: encoded entries */
	off_t			 base;		/* where the CRL starts in out */
	struct asn_sigalg	 sa;
	uint8_t			*pre;		/* version..nextUpdate */
	size_t			 pre_len;
	uint8_t			 ext[160];	/* [0] crlExtensions */
	size_t			 ext_len;
	uint64_t		 count;		/* from the sizing pass */
	uint64_t		 revoked_len;	/* content of the SEQUENCE OF */
	size_t			 tbs_len;	/* content of TBSCertList */
};

int
crl_reason_check(int reason, struct err *e)
{
	/* RFC 5280 5.3.1: 7 is unused, certificateHold(6) is not offered
	 * by Signet, removeFromCRL(8) appears only in delta CRLs. */
	if (reason == -1 || (reason >= 0 && reason <= 5) || reason == 9 ||
	    reason == 10)
		return 0;
	return err_set(e, "CRL reason %d is not allowed (RFC 5280 5.3.1: "
	    "0-5, 9 or 10)", reason);
}

static void
put2(uint8_t *p, int v)
{
	p[0] = '0' + v / 10;
	p[1] = '0' + v % 10;
}

/*
 * A revocationDate TLV, the same octets as asn_time_put but without
 * gmtime_r and snprintf, which dominate a million entries: the civil date
 * from the day number (the inverse of H. Hinnant's days_from_civil).
 * RFC 5280 5.1.2.6 -> 4.1.2.5: UTCTime for 1950..2049 (4.1.2.5.1), else
 * GeneralizedTime (4.1.2.5.2); 0 outside 1950..9999.
 */
static size_t
time_put(uint8_t *out, time_t t)
{
	int64_t	z, era, doe, yoe, doy, mp, y, m, d, s;
	size_t	n;

	if (t < -631152000 || t > 253402300799LL)	/* 1950-01-01, 9999 */
		return 0;
	z = t / 86400;
	s = t % 86400;
	if (s < 0) {
		s += 86400;
		z--;
	}
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);
	if (y < 2050) {
		out[0] = ASN_UTCTIME;
		out[1] = 13;
		put2(out + 2, (int)(y % 100));
		n = 4;
	} else {
		out[0] = ASN_GENTIME;
		out[1] = 15;
		put2(out + 2, (int)(y / 100));
		put2(out + 4, (int)(y % 100));
		n = 6;
	}
	put2(out + n, (int)m);
	put2(out + n + 2, (int)d);
	put2(out + n + 4, (int)(s / 3600));
	put2(out + n + 6, (int)(s / 60 % 60));
	put2(out + n + 8, (int)(s % 60));
	out[n + 10] = 'Z';
	return n + 11;
}

/* One revokedCertificates entry (RFC 5280 5.1.2.6); returns its size. */
static size_t
entry_encode(const struct crl_entry *ent, uint8_t *buf, struct err *e)
{
	uint8_t	 body[ENTRY_MAX];
	size_t	 n, t, slen;

	if (ent->serial == NULL || ent->serial_len == 0 ||
	    (slen = asn_uint_len(ent->serial, ent->serial_len)) > SERIAL_MAX) {
		err_set(e, "serial number must be 1 to 20 octets "
		    "(RFC 5280 4.1.2.2)");
		return 0;
	}
	if (crl_reason_check(ent->reason, e) < 0)
		return 0;
	n = asn_uint_put(body, ent->serial, ent->serial_len);
	if ((t = time_put(body + n, ent->revoked_at)) == 0) {
		err_set(e, "revocation date out of range");
		return 0;
	}
	n += t;
	/* RFC 5280 5.3.1: reasonCode is absent rather than unspecified(0). */
	if (ent->reason >= 1) {
		body[n++] = ASN_SEQUENCE;	/* crlEntryExtensions */
		body[n++] = 12;
		body[n++] = ASN_SEQUENCE;	/* Extension */
		body[n++] = 10;
		memcpy(body + n, oid_reason, sizeof(oid_reason));
		n += sizeof(oid_reason);
		body[n++] = ASN_OCTETSTRING;
		body[n++] = 3;
		body[n++] = ASN_ENUMERATED;
		body[n++] = 1;
		body[n++] = ent->reason;
	}
	t = asn_put_hdr(buf, ASN_SEQUENCE, n);
	memcpy(buf + t, body, n);
	return t + n;
}

static int
put(struct crl_ctx *c, gnutls_hash_hd_t h, const void *b, size_t n,
    struct err *e)
{
	if (n == 0)
		return 0;
	if (h != NULL && gnutls_hash(h, b, n) < 0)
		return err_set(e, "hashing the CRL failed");
	if (fwrite(b, 1, n, c->out) != n)
		return err_set(e, "writing the CRL: %s", strerror(errno));
	return 0;
}

/* Runs through the entries; sizes them (h == NULL, nothing written) or
 * writes and hashes them. */
static int
entries_pass(struct crl_ctx *c, gnutls_hash_hd_t h, uint64_t *count,
    uint64_t *len, struct err *e)
{
	struct crl_entry	ent;
	uint8_t			buf[ENTRY_MAX];
	size_t			n;
	int			rc;

	*count = *len = 0;
	if (c->rewind(c->arg, e) < 0)
		return err_wrap(e, "rewinding the revoked certificates");
	for (;;) {
		memset(&ent, 0, sizeof(ent));
		ent.reason = -1;
		if ((rc = c->next(c->arg, &ent, e)) < 0)
			return err_wrap(e, "reading revoked certificates");
		if (rc == 0)
			return 0;
		if ((n = entry_encode(&ent, buf, e)) == 0)
			return err_wrap(e, "revoked entry %llu",
			    (unsigned long long)*count + 1);
		if (h != NULL && put(c, h, buf, n, e) < 0)
			return -1;
		(*count)++;
		*len += n;
	}
}

/* Copies and hashes the entries crl_writer encoded into scratch. */
static int
scratch_copy(struct crl_ctx *c, gnutls_hash_hd_t h, uint64_t *count,
    uint64_t *len, struct err *e)
{
	uint8_t	*buf;
	size_t	 n;
	int	 rc = -1;

	*count = c->count;	/* encoded and counted once, when added */
	*len = 0;
	if ((buf = malloc(COPY_BUF)) == NULL)
		return err_set(e, "out of memory");
	if (fflush(c->scratch) != 0 || fseeko(c->scratch, 0, SEEK_SET) != 0) {
		err_set(e, "rewinding the CRL scratch file: %s",
		    strerror(errno));
		goto out;
	}
	while ((n = fread(buf, 1, COPY_BUF, c->scratch)) > 0) {
		if (put(c, h, buf, n, e) < 0)
			goto out;
		*len += n;
	}
	if (ferror(c->scratch)) {
		err_set(e, "reading the CRL scratch file: %s",
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* TBSCertList fields before revokedCertificates (RFC 5280 5.1.2.1-5). */
static int
build_pre(struct crl_ctx *c, struct err *e)
{
	const struct crl_params	*p = c->p;
	gnutls_datum_t		 dn = { NULL, 0 };
	uint8_t			 t1[ASN_TIME_MAX], t2[ASN_TIME_MAX];
	size_t			 l1, l2, n;
	int			 rc, ret = -1;

	if ((rc = gnutls_x509_crt_get_raw_dn(p->ca, &dn)) < 0) {
		err_set(e, "reading the CA subject: %s", gnutls_strerror(rc));
		goto out;
	}
	/* RFC 5280 5.1.2.5: conforming CAs include nextUpdate, later than
	 * thisUpdate. */
	if (p->next_update <= p->this_update) {
		err_set(e, "nextUpdate must be later than thisUpdate");
		goto out;
	}
	if ((l1 = asn_time_put(t1, p->this_update)) == 0 ||
	    (l2 = asn_time_put(t2, p->next_update)) == 0) {
		err_set(e, "thisUpdate or nextUpdate out of range");
		goto out;
	}
	c->pre_len = 3 + c->sa.algid_len + dn.size + l1 + l2;
	if ((c->pre = malloc(c->pre_len)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	n = 0;
	/* RFC 5280 5.1.2.1: v2 (INTEGER 1) since extensions are present */
	c->pre[n++] = ASN_INTEGER;
	c->pre[n++] = 1;
	c->pre[n++] = 1;
	/* RFC 5280 5.1.2.2: same as signatureAlgorithm */
	memcpy(c->pre + n, c->sa.algid, c->sa.algid_len);
	n += c->sa.algid_len;
	/* RFC 5280 5.1.2.3: issuer is the CA's subject, byte for byte */
	memcpy(c->pre + n, dn.data, dn.size);
	n += dn.size;
	memcpy(c->pre + n, t1, l1);	/* RFC 5280 5.1.2.4 */
	n += l1;
	memcpy(c->pre + n, t2, l2);	/* RFC 5280 5.1.2.5 */
	ret = 0;
out:
	gnutls_free(dn.data);
	return ret;
}

/* crlExtensions [0] (RFC 5280 5.2): AKI keyIdentifier = CA SKI (5.2.1,
 * MUST), cRLNumber (5.2.3, MUST). Both non-critical. */
static int
build_ext(struct crl_ctx *c, struct err *e)
{
	uint8_t		 ski[64], num[8], aki[96], crln[32], seq[140];
	size_t		 ski_len = sizeof(ski), n, a, k, i;
	unsigned	 crit = 0;
	int		 rc;

	if ((rc = gnutls_x509_crt_get_subject_key_id(c->p->ca, ski, &ski_len,
	    &crit)) < 0 || ski_len == 0 || ski_len > 64)
		return err_set(e, "the CA certificate has no usable "
		    "subjectKeyIdentifier (RFC 5280 4.2.1.2, needed for the "
		    "CRL's authorityKeyIdentifier, 5.2.1)");
	/* Extension { extnID, extnValue OCTET STRING { SEQUENCE { [0] id } } } */
	a = 0;
	a += asn_put_hdr(aki + a, ASN_SEQUENCE,
	    sizeof(oid_aki) + 2 + 2 + 2 + ski_len);
	memcpy(aki + a, oid_aki, sizeof(oid_aki));
	a += sizeof(oid_aki);
	a += asn_put_hdr(aki + a, ASN_OCTETSTRING, 2 + 2 + ski_len);
	a += asn_put_hdr(aki + a, ASN_SEQUENCE, 2 + ski_len);
	a += asn_put_hdr(aki + a, ASN_CTX_PRIM(0), ski_len);
	memcpy(aki + a, ski, ski_len);
	a += ski_len;

	for (i = 0; i < 8; i++)
		num[i] = c->p->number >> (8 * (7 - i));
	k = asn_uint_len(num, 8);
	n = 0;
	n += asn_put_hdr(crln + n, ASN_SEQUENCE,
	    sizeof(oid_number) + asn_tlv_size(asn_tlv_size(k)));
	memcpy(crln + n, oid_number, sizeof(oid_number));
	n += sizeof(oid_number);
	n += asn_put_hdr(crln + n, ASN_OCTETSTRING, asn_tlv_size(k));
	n += asn_uint_put(crln + n, num, 8);

	k = 0;
	k += asn_put_hdr(seq + k, ASN_SEQUENCE, a + n);
	memcpy(seq + k, aki, a);
	memcpy(seq + k + a, crln, n);
	k += a + n;
	c->ext_len = asn_put_hdr(c->ext, ASN_CTX(0), k);
	memcpy(c->ext + c->ext_len, seq, k);
	c->ext_len += k;
	return 0;
}

/* The largest signature the key can make, as BIT STRING content. */
static size_t
sig_max(gnutls_privkey_t key)
{
	unsigned	bits = 0;
	size_t		q, i;
	int		pk = gnutls_privkey_get_pk_algorithm(key, &bits);

	q = (bits + 7) / 8;
	if (pk == GNUTLS_PK_RSA)
		return 1 + q;
	/* RFC 5758 3.2 / X9.62 Ecdsa-Sig-Value SEQUENCE { r, s } */
	i = 2 * asn_tlv_size(q + 1);
	return 1 + asn_tlv_size(i);
}

/* Writes the outer header (for a CertificateList of outer_len content
 * octets) and the TBSCertList, and returns the TBS digest. */
static int
emit_tbs(struct crl_ctx *c, size_t outer_len, uint8_t *digest,
    struct err *e)
{
	gnutls_hash_hd_t	 h = NULL;
	uint8_t			 hdr[ASN_HDR_MAX];
	uint64_t		 count, len;
	int			 ret = -1;

	if (gnutls_hash_init(&h, c->sa.hash) < 0) {
		err_set(e, "starting the CRL hash failed");
		goto out;
	}
	if (fwrite(hdr, 1, asn_put_hdr(hdr, ASN_SEQUENCE, outer_len),
	    c->out) == 0) {
		err_set(e, "writing the CRL: %s", strerror(errno));
		goto out;
	}
	if (put(c, h, hdr, asn_put_hdr(hdr, ASN_SEQUENCE, c->tbs_len), e) < 0 ||
	    put(c, h, c->pre, c->pre_len, e) < 0)
		goto out;
	/* RFC 5280 5.1.2.6: absent, not empty, when nothing is revoked */
	if (c->count > 0) {
		if (put(c, h, hdr, asn_put_hdr(hdr, ASN_SEQUENCE,
		    c->revoked_len), e) < 0)
			goto out;
		if ((c->scratch != NULL ? scratch_copy(c, h, &count, &len, e) :
		    entries_pass(c, h, &count, &len, e)) < 0)
			goto out;
		if (count != c->count || len != c->revoked_len) {
			err_set(e, "the revoked certificates changed while "
			    "the CRL was written (%llu entries, then %llu)",
			    (unsigned long long)c->count,
			    (unsigned long long)count);
			goto out;
		}
	}
	if (put(c, h, c->ext, c->ext_len, e) < 0)
		goto out;
	ret = 0;
out:
	if (h != NULL)
		gnutls_hash_deinit(h, ret == 0 ? digest : NULL);
	return ret;
}

/* What both writers need before the entries: the output's start, the
 * signature algorithm, the fields around revokedCertificates. */
static int
ctx_init(struct crl_ctx *c, const struct crl_params *p, FILE *out,
    struct err *e)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->out = out;
	if ((c->base = ftello(out)) < 0)
		return err_set(e, "the CRL output must be a seekable file");
	if (asn_sigalg(p->key, &c->sa, e) < 0 || build_pre(c, e) < 0 ||
	    build_ext(c, e) < 0)
		return -1;
	return 0;
}

/* Writes and signs the CRL once c->count and c->revoked_len are known. */
static int
crl_finish(struct crl_ctx *c, struct err *e)
{
	const struct crl_params	*p = c->p;
	FILE			*out = c->out;
	gnutls_datum_t		 sig = { NULL, 0 }, dig;
	uint8_t			 digest[64], digest2[64], hdr[ASN_HDR_MAX];
	size_t			 guess, outer, sigc;
	int			 rc, ret = -1;

	c->tbs_len = c->pre_len + c->ext_len +
	    (c->count > 0 ? asn_tlv_size(c->revoked_len) : 0);

	/* Pass 2: write and hash, guessing the signature's size. */
	guess = asn_tlv_size(c->tbs_len) + c->sa.algid_len +
	    asn_tlv_size(sig_max(p->key));
	if (emit_tbs(c, guess, digest, e) < 0)
		goto out;
	dig.data = digest;
	dig.size = gnutls_hash_get_len(c->sa.hash);
	/* RFC 5280 5.1.1.3: signatureValue over the DER TBSCertList */
	if ((rc = gnutls_privkey_sign_hash2(p->key, c->sa.sign, 0, &dig,
	    &sig)) < 0) {
		err_set(e, "signing the CRL: %s", gnutls_strerror(rc));
		goto out;
	}
	sigc = 1 + sig.size;
	outer = asn_tlv_size(c->tbs_len) + c->sa.algid_len + asn_tlv_size(sigc);
	if (asn_len_size(outer) != asn_len_size(guess)) {
		/* Pass 3: the header changes size; write it all again. */
		if (fflush(out) != 0 || fseeko(out, c->base, SEEK_SET) != 0 ||
		    ftruncate(fileno(out), c->base) != 0) {
			err_set(e, "rewriting the CRL: %s", strerror(errno));
			goto out;
		}
		if (emit_tbs(c, outer, digest2, e) < 0)
			goto out;
		if (memcmp(digest, digest2, dig.size) != 0) {
			err_set(e, "the revoked certificates changed while "
			    "the CRL was written");
			goto out;
		}
	}
	/* RFC 5280 5.1.1.2 signatureAlgorithm, 5.1.1.3 signatureValue */
	if (fwrite(c->sa.algid, 1, c->sa.algid_len, out) != c->sa.algid_len ||
	    fwrite(hdr, 1, asn_put_hdr(hdr, ASN_BITSTRING, sigc), out) == 0 ||
	    fputc(0, out) == EOF ||
	    fwrite(sig.data, 1, sig.size, out) != sig.size) {
		err_set(e, "writing the CRL: %s", strerror(errno));
		goto out;
	}
	if (outer != guess) {
		/* Same number of length octets: patch the length in place. */
		if (fflush(out) != 0 || fseeko(out, c->base, SEEK_SET) != 0 ||
		    fwrite(hdr, 1, asn_put_hdr(hdr, ASN_SEQUENCE, outer),
		    out) == 0 || fseeko(out, 0, SEEK_END) != 0) {
			err_set(e, "patching the CRL length: %s",
			    strerror(errno));
			goto out;
		}
	}
	if (fflush(out) != 0 || ferror(out)) {
		err_set(e, "writing the CRL: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	gnutls_free(sig.data);
	return ret;
}

int
crl_write(const struct crl_params *p, crl_next_fn next, crl_rewind_fn rewind,
    void *arg, FILE *out, struct err *e)
{
	struct crl_ctx	c;
	int		ret = -1;

	if (ctx_init(&c, p, out, e) < 0)
		goto out;
	c.next = next;
	c.rewind = rewind;
	c.arg = arg;
	/* Pass 1: validate and size (RFC 5280 5.1.2.6). */
	if (entries_pass(&c, NULL, &c.count, &c.revoked_len, e) < 0)
		goto out;
	ret = crl_finish(&c, e);
out:
	if (ret < 0)
		err_wrap(e, "writing CRL %llu", (unsigned long long)p->number);
	free(c.pre);
	return ret;
}

/* ---- the single-read writer (crl.h) --------------------------------- */

struct crl_writer {
	struct crl_params	p;
	struct crl_ctx		c;
	int			failed;
};

struct crl_writer *
crl_writer_new(const struct crl_params *p, FILE *scratch, FILE *out,
    struct err *e)
{
	struct crl_writer	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	w->p = *p;
	if (fseeko(scratch, 0, SEEK_SET) != 0 ||
	    ftruncate(fileno(scratch), 0) != 0)
		err_set(e, "the CRL scratch file: %s", strerror(errno));
	else if (ctx_init(&w->c, &w->p, out, e) == 0) {
		w->c.scratch = scratch;
		return w;
	}
	err_wrap(e, "writing CRL %llu", (unsigned long long)p->number);
	crl_writer_free(w);
	return NULL;
}

int
crl_writer_add(struct crl_writer *w, const struct crl_entry *ent,
    struct err *e)
{
	uint8_t	buf[ENTRY_MAX];
	size_t	n;

	if (w->failed)
		return err_set(e, "the CRL writer failed earlier");
	if ((n = entry_encode(ent, buf, e)) == 0) {
		w->failed = 1;
		return err_wrap(e, "revoked entry %llu",
		    (unsigned long long)w->c.count + 1);
	}
	if (fwrite(buf, 1, n, w->c.scratch) != n) {
		w->failed = 1;
		return err_set(e, "writing the CRL scratch file: %s",
		    strerror(errno));
	}
	w->c.count++;
	w->c.revoked_len += n;
	return 0;
}

uint64_t
crl_writer_count(const struct crl_writer *w)
{
	return w->c.count;
}

int
crl_writer_finish(struct crl_writer *w, struct err *e)
{
	if (w->failed)
		return err_set(e, "the CRL writer failed earlier");
	if (crl_finish(&w->c, e) < 0) {
		w->failed = 1;
		return err_wrap(e, "writing CRL %llu",
		    (unsigned long long)w->p.number);
	}
	return 0;
}

void
crl_writer_free(struct crl_writer *w)
{
	if (w == NULL)
		return;
	free(w->c.pre);
	free(w);
}
