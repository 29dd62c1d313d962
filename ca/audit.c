#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "audit.h"

static void
put_u64(gnutls_hash_hd_t h, uint64_t v)
{
	uint8_t	b[8];
	int	i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = v & 0xff;
	gnutls_hash(h, b, 8);
}

static void
put_str(gnutls_hash_hd_t h, const char *s)
{
	size_t	n = s != NULL ? strlen(s) : 0;
	uint8_t	b[4] = { n >> 24, n >> 16, n >> 8, n };

	gnutls_hash(h, b, 4);
	if (n > 0)
		gnutls_hash(h, s, n);
}

void
audit_hash(const struct audit_rec *a, uint8_t out[32])
{
	gnutls_hash_hd_t	h;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) != 0) {
		memset(out, 0, 32);
		return;
	}
	gnutls_hash(h, a->prev_hash, 32);
	put_u64(h, (uint64_t)a->seq);
	put_u64(h, (uint64_t)a->at_us);
	put_str(h, a->actor);
	put_str(h, a->action);
	put_str(h, a->subject);
	put_str(h, a->detail);
	gnutls_hash_deinit(h, out);
}

int
audit_append(struct store *st, const char *actor, const char *action,
    const char *subject, const char *detail, struct err *e)
{
	return store_audit_append(st, actor, action, subject, detail, e);
}

int
audit_append_buf(struct store *st, struct store_audit_buf *b, struct err *e)
{
	struct audit_rec	*r;
	uint8_t			 prev[32];
	int64_t			 seq, now;
	size_t			 i;

	if (b->oom)
		return err_set(e, "out of memory");
	if (b->n == 0)
		return 0;
	/* the chain lock is held from here to the end of the transaction,
	 * as audit_append holds it: one writer extends the chain at a time */
	if (store_audit_head(st, &seq, prev, &now, e) != 0)
		return -1;
	for (i = 0; i < b->n; i++) {
		r = &b->r[i];
		r->seq = seq + 1 + (int64_t)i;
		r->at_us = now;
		memcpy(r->prev_hash, prev, 32);
		audit_hash(r, r->hash);
		memcpy(prev, r->hash, 32);
	}
	if (store_audit_insert_many(st, b->r, b->n, e) != 0)
		return -1;
	store_audit_buf_reset(b);
	return 0;
}

struct walk {
	int64_t		 n;
	int64_t		 want_seq;
	uint8_t		 prev[32];
	struct err	*e;
};

static int
check(void *arg, const struct audit_rec *a)
{
	struct walk	*w = arg;
	uint8_t		 h[32];

	if (a->seq != w->want_seq)
		return err_set(w->e, "audit chain broken: record %lld is "
		    "missing (found %lld next)", (long long)w->want_seq,
		    (long long)a->seq), 1;
	if (memcmp(a->prev_hash, w->prev, 32) != 0)
		return err_set(w->e, "audit chain broken at record %lld: it "
		    "does not follow from record %lld", (long long)a->seq,
		    (long long)a->seq - 1), 1;
	audit_hash(a, h);
	if (memcmp(h, a->hash, 32) != 0)
		return err_set(w->e, "audit chain broken at record %lld: its "
		    "contents do not match its hash (altered)",
		    (long long)a->seq), 1;
	memcpy(w->prev, a->hash, 32);
	w->want_seq++;
	w->n++;
	return 0;
}

int
audit_verify(struct store *st, int64_t *count, struct err *e)
{
	struct walk	w;
	int		rc;

	memset(&w, 0, sizeof(w));
	w.want_seq = 1;
	w.e = e;
	rc = store_audit_each(st, check, &w, e);
	*count = w.n;
	return rc == 0 ? 0 : -1;
}
