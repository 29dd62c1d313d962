#include <stdlib.h>
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
	int64_t			*seqs, now;
	size_t			 i;
	int			 chain, rc = -1;

	if (b->oom)
		return err_set(e, "out of memory");
	if (b->n == 0)
		return 0;
	if ((seqs = calloc(b->n, sizeof(*seqs))) == NULL)
		return err_set(e, "out of memory");
	/* the chain's lock is held from here to the end of the transaction,
	 * as audit_append holds it: one writer extends a chain at a time */
	if (store_audit_head(st, b->n, &chain, seqs, prev, &now, e) != 0)
		goto out;
	for (i = 0; i < b->n; i++) {
		r = &b->r[i];
		r->seq = seqs[i];
		r->chain = chain;
		r->at_us = now;
		memcpy(r->prev_hash, prev, 32);
		audit_hash(r, r->hash);
		memcpy(prev, r->hash, 32);
	}
	if (store_audit_insert_many(st, b->r, b->n, e) != 0)
		goto out;
	store_audit_buf_reset(b);
	rc = 0;
out:
	free(seqs);
	return rc;
}

struct walk {
	int64_t		 n;
	int		 chain;		/* the chain being walked, -1 before */
	int64_t		 last;		/* its last record's seq, 0 at its start */
	uint8_t		 prev[32];
	struct err	*e;
};

/* Records come chain by chain, each in seq order (store_audit_each). */
static int
check(void *arg, const struct audit_rec *a)
{
	struct walk	*w = arg;
	uint8_t		 h[32];

	if (a->chain != w->chain) {
		w->chain = a->chain;
		w->last = 0;
		memset(w->prev, 0, 32);
	}
	if (memcmp(a->prev_hash, w->prev, 32) != 0) {
		if (w->last == 0)
			return err_set(w->e, "audit chain %d broken at "
			    "record %lld: it is the chain's first record "
			    "left, but follows another (records before it "
			    "are missing)", a->chain, (long long)a->seq), 1;
		return err_set(w->e, "audit chain %d broken at record %lld: "
		    "it does not follow from record %lld (a record between "
		    "them is missing or altered)", a->chain,
		    (long long)a->seq, (long long)w->last), 1;
	}
	audit_hash(a, h);
	if (memcmp(h, a->hash, 32) != 0)
		return err_set(w->e, "audit chain %d broken at record %lld: "
		    "its contents do not match its hash (altered)", a->chain,
		    (long long)a->seq), 1;
	memcpy(w->prev, a->hash, 32);
	w->last = a->seq;
	w->n++;
	return 0;
}

int
audit_verify(struct store *st, int64_t *count, struct err *e)
{
	struct walk	w;
	int		rc;

	memset(&w, 0, sizeof(w));
	w.chain = -1;
	w.e = e;
	rc = store_audit_each(st, check, &w, e);
	*count = w.n;
	return rc == 0 ? 0 : -1;
}
