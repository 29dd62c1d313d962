/*
 * ra: writes a checked request as a `submitted` row for ca-serve.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

int
ra_submit_tx(struct store *st, const char *actor, const struct ra_request *r,
    int64_t *id, struct err *e)
{
	struct req_row		 row;
	struct csr		*csr = NULL;
	enum cert_profile	 prof;
	char			 subject[48], detail[400];
	int			 rc = -1;

	*id = 0;
	if (!source_ok(r->source))
		return err_set(e, "unknown request source \"%s\"",
		    r->source != NULL ? r->source : "");
	if (r->requester == NULL || *r->requester == '\0')
		return err_set(e, "a request needs a requester");
	if (r->email == NULL || cert_email_check(r->email, e) != 0)
		return r->email == NULL ? err_set(e, "a request needs a "
		    "mailbox") : -1;
	if (r->profile == NULL || cert_profile_parse(r->profile, &prof, e) != 0)
		return r->profile == NULL ? err_set(e, "a request needs a "
		    "profile") : -1;
	if (r->days > CERT_MAX_DAYS)	/* S/MIME BR 6.3.2 */
		return err_set(e, "%u days is more than any S/MIME certificate "
		    "may be valid (%u)", r->days, CERT_MAX_DAYS);
	if (r->batch_id < 0)
		return err_set(e, "bad batch id");
	/* RFC 2986: the whole CSR is checked before anything is stored; the
	 * row keeps its canonical DER. */
	if ((csr = csr_parse(r->csr, r->csr_len, e)) == NULL)
		return -1;

	memset(&row, 0, sizeof(row));
	row.batch_id = r->batch_id;
	row.source = r->source;
	row.via_ra = r->via_ra;
	row.requester = r->requester;
	row.requester_mail = r->requester_mail;
	row.authenticated = r->authenticated;
	row.account_disabled = r->account_disabled;
	row.on_behalf = r->on_behalf;
	row.groups = r->groups;
	row.ngroups = r->ngroups;
	row.email = r->email;
	row.display_name = r->display_name;
	row.profile = cert_profile_name(prof);
	row.days = r->days;
	row.csr = csr_der(csr)->data;
	row.csr_len = csr_der(csr)->size;
	row.key_escrow = r->key_escrow;
	row.key_escrow_len = r->key_escrow != NULL ? r->key_escrow_len : 0;
	row.key_pickup = r->key_pickup;
	row.key_pickup_len = r->key_pickup != NULL ? r->key_pickup_len : 0;
	if (store_req_insert(st, &row, id, e) != 0)
		goto out;
	snprintf(subject, sizeof(subject), "request %" PRId64, *id);
	snprintf(detail, sizeof(detail), "email=%s profile=%s key=%s "
	    "source=%s requester=%s via_ra=%d on_behalf=%d days=%u "
	    "batch=%" PRId64 "%s", r->email, row.profile,
	    csr_key_info(csr)->name, r->source, r->requester, r->via_ra,
	    r->on_behalf, r->days, r->batch_id,
	    r->key_escrow != NULL ? " escrow=yes" : "");
	if (audit_append(st, actor, "request.submit", subject, detail, e) != 0)
		goto out;
	rc = 0;
out:
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
	if (store_commit(st, e) != 0) {
		*id = 0;
		return -1;
	}
	ra_wake(st);
	return 0;
}

void
ra_wake(struct store *st)
{
	PGresult	*r;
	struct err	 e;

	if ((r = store_execp(st, "SELECT pg_notify('signet_request', '')", 0,
	    NULL, NULL, NULL, &e)) != NULL)
		PQclear(r);
}
