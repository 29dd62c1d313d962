#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>

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

/* Gives b's records their chain, seq values, time and hashes, from the
 * chain's head. */
static void
seal(struct store_audit_buf *b, int chain, const int64_t *seqs,
    const uint8_t head[32], int64_t now)
{
	struct audit_rec	*r;
	uint8_t			 prev[32];
	size_t			 i;

	memcpy(prev, head, 32);
	for (i = 0; i < b->n; i++) {
		r = &b->r[i];
		r->seq = seqs[i];
		r->chain = chain;
		r->at_us = now;
		memcpy(r->prev_hash, prev, 32);
		audit_hash(r, r->hash);
		memcpy(prev, r->hash, 32);
	}
	b->sealed = 1;
}

/* The head for b's records: read now (i < 0) or taken from the pipeline
 * that just ran (statement i). Seals b. */
static int
head_and_seal(struct store *st, int i, struct store_audit_buf *b,
    struct err *e)
{
	uint8_t	 prev[32];
	int64_t	*seqs, now;
	int	 chain, rc;

	if (b->oom)
		return err_set(e, "out of memory");
	if ((seqs = calloc(b->n, sizeof(*seqs))) == NULL)
		return err_set(e, "out of memory");
	/* the chain's lock is held from here to the end of the transaction,
	 * as audit_append holds it: one writer extends a chain at a time */
	rc = i < 0 ?
	    store_audit_head(st, b->n, &chain, seqs, prev, &now, e) :
	    store_audit_head_take(st, i, b->n, &chain, seqs, prev, &now, e);
	if (rc == 0)
		seal(b, chain, seqs, prev, now);
	free(seqs);
	return rc;
}

int
audit_append_buf(struct store *st, struct store_audit_buf *b, struct err *e)
{
	if (b->oom)
		return err_set(e, "out of memory");
	if (b->n == 0)
		return 0;
	if (head_and_seal(st, -1, b, e) != 0 ||
	    store_audit_insert_many(st, b->r, b->n, e) != 0)
		return -1;
	store_audit_buf_reset(b);
	return 0;
}

int
audit_head_send(struct store *st, size_t n, struct err *e)
{
	return store_audit_head_send(st, n, e);
}

int
audit_head_take(struct store *st, int i, struct store_audit_buf *b,
    struct err *e)
{
	if (b->n == 0) {
		PQclear(store_pipe_take(st, i));
		return err_set(e, "no audit records for the head read");
	}
	return head_and_seal(st, i, b, e);
}

int
audit_commit_buf(struct store *st, struct store_audit_buf *b, struct err *e)
{
	struct err	ignored;

	if (b->oom) {
		store_rollback(st);
		return err_set(e, "out of memory");
	}
	if (b->n == 0)
		return store_commit(st, e);
	if ((!b->sealed && head_and_seal(st, -1, b, e) != 0) ||
	    store_pipe_begin(st, e) != 0) {
		store_rollback(st);
		return -1;
	}
	if (store_audit_insert_send(st, b->r, b->n, e) < 0) {
		(void)store_pipe_run(st, &ignored);
		store_rollback(st);
		return -1;
	}
	if (store_pipe_commit(st, e) != 0)
		return -1;
	store_audit_buf_reset(b);
	return 0;
}

/* Each chain's last record: seq (0: none) and hash. */
struct heads {
	int64_t		 seq[AUDIT_CHAINS];
	uint8_t		 hash[AUDIT_CHAINS][32];
};

struct walk {
	struct heads	 now;		/* the heads met so far */
	const struct heads *was;	/* recorded heads to find, or NULL */
	int		 found[AUDIT_CHAINS];
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
	if (a->chain < 0 || a->chain >= AUDIT_CHAINS)
		return err_set(w->e, "audit record %lld names chain %d",
		    (long long)a->seq, a->chain), 1;
	w->now.seq[a->chain] = a->seq;
	memcpy(w->now.hash[a->chain], a->hash, 32);
	if (w->was != NULL && w->was->seq[a->chain] == a->seq) {
		if (memcmp(w->was->hash[a->chain], a->hash, 32) != 0)
			return err_set(w->e, "audit chain %d: record %lld is "
			    "not the record of that number recorded as the "
			    "chain's head (the chain was rewritten)", a->chain,
			    (long long)a->seq), 1;
		w->found[a->chain] = 1;
	}
	return 0;
}

static int
walk_all(struct store *st, struct walk *w, const struct heads *was,
    int64_t *count, struct err *e)
{
	int	rc;

	memset(w, 0, sizeof(*w));
	w->chain = -1;
	w->was = was;
	w->e = e;
	rc = store_audit_each(st, check, w, e);
	*count = w->n;
	return rc == 0 ? 0 : -1;
}

int
audit_verify(struct store *st, int64_t *count, struct err *e)
{
	struct walk	w;

	return walk_all(st, &w, NULL, count, e);
}

/* ---- recorded heads ---------------------------------------------------
 * The file: a first line "signet audit heads 1", then one line per chain
 * that has records: "CHAIN SEQ HASH" (decimal, decimal, 64 hex digits).
 */
#define HEADS_MAGIC	"signet audit heads 1"

static int
unhex32(const char *s, uint8_t out[32])
{
	size_t		 n;
	const char	*end;

	return strlen(s) == 64 && sodium_hex2bin(out, 32, s, 64, NULL, &n,
	    &end) == 0 && n == 32 && *end == '\0' ? 0 : -1;
}

/* 1 when read, 0 when there is no file, -1 on an error. */
static int
heads_read(const char *path, struct heads *h, struct err *e)
{
	FILE		*f;
	char		 line[256], hex[80], extra[2];
	long long	 seq;
	int		 chain, n = 0, rc = -1;

	memset(h, 0, sizeof(*h));
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, "%s: %s", path, strerror(errno));
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			err_set(e, "%s line %d: too long", path, n);
			goto out;
		}
		line[strcspn(line, "\n")] = '\0';
		if (n == 1) {
			if (strcmp(line, HEADS_MAGIC) != 0) {
				err_set(e, "%s line 1: not a file of audit "
				    "heads (\"%s\" expected)", path,
				    HEADS_MAGIC);
				goto out;
			}
			continue;
		}
		if (sscanf(line, "%d %lld %79s %1s", &chain, &seq, hex,
		    extra) != 3 || chain < 0 || chain >= AUDIT_CHAINS ||
		    seq < 1 || h->seq[chain] != 0 ||
		    unhex32(hex, h->hash[chain]) != 0) {
			err_set(e, "%s line %d: expected \"CHAIN SEQ HASH\" "
			    "(chain 0..7 once, a record number, 64 hex "
			    "digits)", path, n);
			goto out;
		}
		h->seq[chain] = seq;
	}
	if (ferror(f) || n == 0) {
		err_set(e, "%s: %s", path, n == 0 ? "empty" :
		    "read error");
		goto out;
	}
	rc = 1;
out:
	fclose(f);
	return rc;
}

/* Written beside the file and renamed over it: a crash leaves the old
 * file or the new one. */
static int
heads_write(const char *path, const struct heads *h, struct err *e)
{
	char	 tmp[4096], hex[65];
	FILE	*f;
	int	 fd, c, bad;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp))
		return err_set(e, "%s: path too long", path);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return err_set(e, "%s: %s", tmp, strerror(errno));
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(tmp);
		return err_set(e, "%s: %s", tmp, strerror(errno));
	}
	fprintf(f, "%s\n", HEADS_MAGIC);
	for (c = 0; c < AUDIT_CHAINS; c++) {
		if (h->seq[c] == 0)
			continue;
		fprintf(f, "%d %" PRId64 " %s\n", c, h->seq[c],
		    sodium_bin2hex(hex, sizeof(hex), h->hash[c], 32));
	}
	bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
	if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
audit_verify_heads(struct store *st, const char *path, int64_t *count,
    int *recorded, struct err *e)
{
	struct heads	 was;
	struct walk	 w;
	int		 r, c;

	*count = 0;
	if ((r = heads_read(path, &was, e)) < 0)
		return -1;
	*recorded = r;
	if (walk_all(st, &w, r ? &was : NULL, count, e) != 0)
		return -1;
	for (c = 0; r && c < AUDIT_CHAINS; c++)
		if (was.seq[c] != 0 && !w.found[c])
			return err_set(e, "audit chain %d was cut back: "
			    "record %lld, its last record when %s was "
			    "written, is gone%s", c, (long long)was.seq[c],
			    path, w.now.seq[c] == 0 ? " with every record "
			    "of the chain" : "");
	return heads_write(path, &w.now, e);
}
