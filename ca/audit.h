/*
 * audit: the append-only, hash-chained audit log.
 *
 * The log is eight interleaved chains (sql/050_audit_chains.sql), so that
 * up to eight transactions append at once. Each record carries the hash
 * of the one before it in its chain (32 zero octets for a chain's first):
 *   hash = SHA-256(prev_hash || seq || at_us || actor || action || subject || detail)
 * with integers as 8 octets big-endian and strings length-prefixed (4 octets),
 * so no two different records hash alike. The database also refuses UPDATE,
 * DELETE and TRUNCATE on the table (sql/001_core.sql).
 */
#ifndef SIGNET_AUDIT_H
#define SIGNET_AUDIT_H

#include <stdint.h>

#include "err.h"
#include "store.h"

/* Appends a record. Call inside the transaction that makes the change it
 * records, so both commit or neither does. */
int	audit_append(struct store *st, const char *actor, const char *action,
	    const char *subject, const char *detail, struct err *e);

/*
 * Appends the records gathered in b (store_audit_buf_add), in order, to
 * one chain inside the caller's transaction, in two statements however
 * many they are: the chain's head is read under its lock, the hashes are
 * computed here, the records are inserted together. Empties b.
 */
int	audit_append_buf(struct store *st, struct store_audit_buf *b,
	    struct err *e);

/*
 * The same in fewer round trips. audit_head_send queues the head read for
 * n records in the caller's open pipeline (store_pipe_begin), so that it
 * travels with other statements; after store_pipe_run, audit_head_take
 * reads it (statement i) and seals b, which must then hold those n
 * records: their seq values and hashes are fixed. audit_commit_buf
 * inserts b's records (reading the head first unless b is sealed) and
 * commits the caller's transaction, the insert, the wake-ups and the
 * COMMIT in one round trip; on failure it rolls back. Empties b.
 */
int	audit_head_send(struct store *st, size_t n, struct err *e);
int	audit_head_take(struct store *st, int i, struct store_audit_buf *b,
	    struct err *e);
int	audit_commit_buf(struct store *st, struct store_audit_buf *b,
	    struct err *e);

/* Computes a record's hash from its fields and prev_hash. */
void	audit_hash(const struct audit_rec *a, uint8_t out[32]);

/*
 * Walks every chain. Returns 0 when all are whole (*count records), or -1
 * with a message naming the first broken link.
 */
int	audit_verify(struct store *st, int64_t *count, struct err *e);

/*
 * audit_verify, and a check that no chain was cut back: every chain head
 * recorded in the file at path (by the last such verify) must still be in
 * its chain, with the same hash. A tail removed from a chain leaves the
 * rest whole, so the walk alone cannot see it; the file, kept where the
 * database's users cannot write, can. When the log is whole the file is
 * rewritten (0600) with today's heads; *recorded is 0 when there was no
 * file yet. A malformed file is an error naming its line, and is left as
 * it is.
 */
int	audit_verify_heads(struct store *st, const char *path, int64_t *count,
	    int *recorded, struct err *e);

#endif
