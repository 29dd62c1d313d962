/*
 * ra: writes a checked request as a `submitted` row for ca-serve.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "audit.h"
#include "cert.h"
#include "csr.h"
#include "ra.h"
#include "store_req.h"

static int
source_ok(const char *s)
{
	return s != NULL && (!strcmp(s, "browser") || !strcmp(s, "csr") ||
	    !strcmp(s, "server") || !strcmp(s, "cli"));
}

struct csr *
ra_check(const struct ra_request *r, struct err *e)
{
	enum cert_profile	prof;

	if (!source_ok(r->source)) {
		err_set(e, "unknown request source \"%s\"",
		    r->source != NULL ? r->source : "");
		return NULL;
	}
	if (r->requester == NULL || *r->requester == '\0') {
		err_set(e, "a request needs a requester");
		return NULL;
	}
	if (r->email == NULL) {
		err_set(e, "a request needs a mailbox");
		return NULL;
	}
	if (cert_email_check(r->email, e) != 0)
		return NULL;
	if (r->profile == NULL) {
		err_set(e, "a request needs a profile");
		return NULL;
	}
	if (cert_profile_parse(r->profile, &prof, e) != 0)
		return NULL;
	if (r->days > CERT_MAX_DAYS) {	/* S/MIME BR 6.3.2 */
		err_set(e, "%u days is more than any S/MIME certificate may "
		    "be valid (%u)", r->days, CERT_MAX_DAYS);
		return NULL;
	}
	if (r->batch_id < 0) {
		err_set(e, "bad batch id");
		return NULL;
	}
	/* RFC 2986: the whole CSR is checked before anything is stored; the
	 * row keeps its canonical DER. */
	return csr_parse(r->csr, r->csr_len, e);
}

/* The row ra_store_tx writes for r; profile is r's, parsed. */
static void
fill_row(struct req_row *row, const struct ra_request *r, enum cert_profile prof,
    const struct csr *csr)
{
	memset(row, 0, sizeof(*row));
	row->batch_id = r->batch_id;
	row->source = r->source;
	row->via_ra = r->via_ra;
	row->requester = r->requester;
	row->requester_mail = r->requester_mail;
	row->authenticated = r->authenticated;
	row->account_disabled = r->account_disabled;
	row->on_behalf = r->on_behalf;
	row->groups = r->groups;
	row->ngroups = r->ngroups;
	row->email = r->email;
	row->display_name = r->display_name;
	row->profile = cert_profile_name(prof);
	row->days = r->days;
	row->csr = csr_der(csr)->data;
	row->csr_len = csr_der(csr)->size;
	row->key_escrow = r->key_escrow;
	row->key_escrow_len = r->key_escrow != NULL ? r->key_escrow_len : 0;
	row->key_pickup = r->key_pickup;
	row->key_pickup_len = r->key_pickup != NULL ? r->key_pickup_len : 0;
}

/* The request.submit record's subject and detail. */
static void
submit_record(const struct ra_request *r, const struct req_row *row,
    const struct csr *csr, int64_t id, char subject[48], char detail[400])
{
	snprintf(subject, 48, "request %" PRId64, id);
	snprintf(detail, 400, "email=%s profile=%s key=%s "
	    "source=%s requester=%s via_ra=%d on_behalf=%d days=%u "
	    "batch=%" PRId64 "%s", r->email, row->profile,
	    csr_key_info(csr)->name, r->source, r->requester, r->via_ra,
	    r->on_behalf, r->days, r->batch_id,
	    r->key_escrow != NULL ? " escrow=yes" : "");
}

int
ra_store_tx(struct store *st, const char *actor, const struct ra_request *r,
    const struct csr *csr, int64_t *id, struct err *e)
{
	struct req_row		 row;
	enum cert_profile	 prof;
	char			 subject[48], detail[400];

	*id = 0;
	if (cert_profile_parse(r->profile, &prof, e) != 0)
		return -1;
	fill_row(&row, r, prof, csr);
	if (store_req_insert(st, &row, id, e) != 0)
		return -1;
	submit_record(r, &row, csr, *id, subject, detail);
	return audit_append(st, actor, "request.submit", subject, detail, e);
}

int
ra_store_many(struct store *st, struct ra_item *it, size_t n, struct err *e)
{
	struct store_audit_buf	 ab;
	struct req_row		*rows;
	enum cert_profile	 prof;
	struct err		 ignored;
	int64_t			*ids = NULL;
	char			 subject[48], detail[400];
	size_t			 i;
	int			 rc = -2, ins, head;

	if ((rows = calloc(n, sizeof(*rows))) == NULL ||
	    (ids = calloc(n, sizeof(*ids))) == NULL) {
		free(rows);
		return err_set(e, "out of memory");
	}
	store_audit_buf_init(&ab);
	for (i = 0; i < n; i++) {
		it[i].id = 0;
		if (cert_profile_parse(it[i].r->profile, &prof, e) != 0)
			goto out;
		fill_row(&rows[i], it[i].r, prof, it[i].csr);
	}
	/* BEGIN, the rows and the audit chain's head: one round trip */
	if (store_pipe_begin(st, e) != 0)
		goto out;
	if (store_pipe_cmd(st, "BEGIN", e) < 0 ||
	    (ins = store_req_insert_send(st, rows, n, e)) < 0 ||
	    (head = audit_head_send(st, n, e)) < 0) {
		(void)store_pipe_run(st, &ignored);
		goto fail;
	}
	if (store_pipe_run(st, e) != 0 ||
	    store_req_insert_take(st, ins, n, ids, e) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		submit_record(it[i].r, &rows[i], it[i].csr, ids[i], subject,
		    detail);
		store_audit_buf_add(&ab, it[i].actor, "request.submit",
		    subject, detail);
	}
	if (audit_head_take(st, head, &ab, e) != 0)
		goto fail;
	/* the records, ca-serve's wake-up and the COMMIT: one more */
	ra_wake(st);
	if (audit_commit_buf(st, &ab, e) != 0) {
		rc = -1;
		goto out;
	}
	for (i = 0; i < n; i++)
		it[i].id = ids[i];
	rc = 0;
	goto out;
fail:
	store_rollback(st);
out:
	store_audit_buf_free(&ab);
	free(rows);
	free(ids);
	return rc;
}

int
ra_submit_tx(struct store *st, const char *actor, const struct ra_request *r,
    int64_t *id, struct err *e)
{
	struct csr	*csr;
	int		 rc;

	*id = 0;
	if ((csr = ra_check(r, e)) == NULL)
		return -1;
	rc = ra_store_tx(st, actor, r, csr, id, e);
	csr_free(csr);
	return rc;
}

int
ra_submit(struct store *st, const char *actor, const struct ra_request *r,
    int64_t *id, struct err *e)
{
	if (store_begin(st, e) != 0)
		return -1;
	if (ra_submit_tx(st, actor, r, id, e) != 0) {
		store_rollback(st);
		*id = 0;
		return -1;
	}
	ra_wake(st);
	if (store_commit(st, e) != 0) {
		*id = 0;
		return -1;
	}
	return 0;
}

void
ra_wake(struct store *st)
{
	store_wake_request(st);
}

/* ---- ra_queue: group commit ---- */

/* One submission waiting in a queue; on its submitter's stack. */
struct ra_wait {
	struct ra_item	 item;
	struct err	 err;
	int		 rc;
	int		 done;
	struct ra_wait	*next;
};

struct ra_queue {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	char		*conninfo;
	struct store	*st;		/* the leader's; NULL: not yet, or lost */
	struct ra_wait	*head;
	struct ra_wait	**tail;
	int		 leading;	/* a submitter is committing a group */
};

struct ra_queue *
ra_queue_new(const char *conninfo, struct err *e)
{
	struct ra_queue	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->conninfo = strdup(conninfo)) == NULL) {
		free(q);
		err_set(e, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->tail = &q->head;
	return q;
}

void
ra_queue_free(struct ra_queue *q)
{
	if (q == NULL)
		return;
	store_close(q->st);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q->conninfo);
	free(q);
}

/* Each of the group alone, in a transaction of its own: after the group's
 * transaction failed, so that one bad request fails only itself. */
static void
store_each(struct store *st, struct ra_wait *w)
{
	for (; w != NULL; w = w->next) {
		w->rc = -1;
		if (store_begin(st, &w->err) != 0)
			continue;
		if (ra_store_tx(st, w->item.actor, w->item.r, w->item.csr,
		    &w->item.id, &w->err) != 0) {
			store_rollback(st);
			w->item.id = 0;
			continue;
		}
		ra_wake(st);
		if (store_commit(st, &w->err) != 0) {
			w->item.id = 0;
			continue;
		}
		w->rc = 0;
	}
}

/* Every member of the group failed with e. */
static void
fail_all(struct ra_wait *w, const struct err *e)
{
	for (; w != NULL; w = w->next) {
		w->rc = -1;
		w->item.id = 0;
		w->err = *e;
	}
}

/* The group in one transaction: 1 when it committed, 0 when it failed,
 * -1 when it failed before its COMMIT was sent. */
static int
store_group(struct store *st, struct ra_wait *group, struct err *e)
{
	struct ra_item	*items;
	struct ra_wait	*w;
	size_t		 n = 0, i;
	int		 rc;

	for (w = group; w != NULL; w = w->next)
		n++;
	if ((items = calloc(n, sizeof(*items))) == NULL) {
		err_set(e, "out of memory");
		return 0;
	}
	for (w = group, i = 0; w != NULL; w = w->next)
		items[i++] = w->item;
	rc = ra_store_many(st, items, n, e);
	for (w = group, i = 0; rc == 0 && w != NULL; w = w->next) {
		w->item.id = items[i++].id;
		w->rc = 0;
	}
	free(items);
	return rc == 0 ? 1 : rc == -2 ? -1 : 0;
}

static int
lost(struct ra_queue *q)
{
	if (PQstatus(store_pg(q->st)) == CONNECTION_OK)
		return 0;
	store_close(q->st);
	q->st = NULL;
	return 1;
}

/*
 * The leader's work: the group in one transaction; if that fails on a
 * live connection, each member alone, so that a bad one fails only
 * itself. A connection found lost before the COMMIT was sent (the
 * database restarted since the last group) is opened again and the group
 * tried once more. Lost later, the group fails and the next leader
 * connects again; had the COMMIT itself been cut off, the requests may be
 * stored all the same, as with any client.
 */
static void
commit_group(struct ra_queue *q, struct ra_wait *group)
{
	struct err	e;
	int		r, tries = 0;

	do {
		if (q->st == NULL &&
		    (q->st = store_open(q->conninfo, &e)) == NULL) {
			fail_all(group, &e);
			return;
		}
		r = store_group(q->st, group, &e);
	} while (r < 0 && lost(q) && ++tries < 2);
	if (r == 1)
		return;
	if (q->st == NULL || lost(q)) {
		fail_all(group, &e);
		return;
	}
	store_each(q->st, group);
	lost(q);
}

int
ra_queue_submit(struct ra_queue *q, const char *actor,
    const struct ra_request *r, const struct csr *csr, int64_t *id,
    struct err *e)
{
	struct ra_wait	 me, *group;

	*id = 0;
	if (r->batch_id != 0)
		return err_set(e, "a batch is submitted in a transaction of "
		    "its own");
	memset(&me, 0, sizeof(me));
	me.item.actor = actor;
	me.item.r = r;
	me.item.csr = csr;
	me.rc = -1;
	pthread_mutex_lock(&q->mu);
	*q->tail = &me;
	q->tail = &me.next;
	while (!me.done) {
		if (q->leading) {
			pthread_cond_wait(&q->cv, &q->mu);
			continue;
		}
		/* lead: take every submission waiting, this one too */
		q->leading = 1;
		group = q->head;
		q->head = NULL;
		q->tail = &q->head;
		pthread_mutex_unlock(&q->mu);
		commit_group(q, group);
		pthread_mutex_lock(&q->mu);
		for (; group != NULL; group = group->next)
			group->done = 1;
		q->leading = 0;
		pthread_cond_broadcast(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	if (me.rc != 0) {
		*e = me.err;
		return -1;
	}
	*id = me.item.id;
	return 0;
}
