/*
 * request: decides and issues waiting requests; officers' decisions.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "audit.h"
#include "csr.h"
#include "kra.h"
#include "request.h"

struct request_engine {
	const struct config	*cfg;
	struct ca		*ca;
	struct policy		*pol;
	struct store		*st;
	struct policy_limits	 lim;
	request_log_fn		 log;
	void			*log_arg;
	char			 by[64];	/* "policy:<module>" */
};

/* One request of a group being decided. */
struct item {
	const struct req_row	*row;
	gnutls_pubkey_t		 pub;	/* NULL until prepared */
	struct key_info		 ki;
	uint8_t			 spki[32];
	int			 waiting;	/* submitted or approved */
	enum policy_verdict	 verdict;
	char			 reason[400];
	char			 profile[16];
	unsigned		 days;
};

static void
logf_(struct request_engine *re, const char *fmt, ...)
{
	char	msg[768];
	va_list	ap;

	if (re->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	re->log(re->log_arg, msg);
}

struct request_engine *
request_engine_new(const struct config *cfg, struct ca *ca, struct policy *pol,
    struct store *st, request_log_fn log, void *log_arg, struct err *e)
{
	struct request_engine	*re;

	if ((re = calloc(1, sizeof(*re))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	re->cfg = cfg;
	re->ca = ca;
	re->pol = pol;
	re->st = st;
	re->log = log;
	re->log_arg = log_arg;
	re->lim.domains = cfg->allowed_domains;
	re->lim.default_days = cfg->default_days;
	re->lim.max_days = cfg->max_days;
	re->lim.profiles = NULL;
	snprintf(re->by, sizeof(re->by), "policy:%s", policy_name(pol));
	return re;
}

void
request_engine_free(struct request_engine *re)
{
	free(re);
}

static void
set_verdict(struct item *it, enum policy_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_verdict(struct item *it, enum policy_verdict v, const char *fmt, ...)
{
	va_list	ap;

	it->verdict = v;
	va_start(ap, fmt);
	vsnprintf(it->reason, sizeof(it->reason), fmt, ap);
	va_end(ap);
}

/*
 * Reads the stored CSR's public key and asks the store what the policy
 * needs. The RA verified the CSR's self-signature (RFC 2986 proof of
 * possession) with csr_parse when it stored the row; here the key is
 * checked again (S/MIME BR 6.1.5, keys_check) but the signature is not
 * verified a second time, which would cost more than signing. A key that
 * no longer passes is a DENY, not an error: retrying cannot help.
 */
static int
prepare(struct request_engine *re, struct item *it, unsigned *valid,
    int *certified, struct err *e)
{
	gnutls_x509_crq_t	crq = NULL;
	gnutls_datum_t		der;
	struct err		ce;
	int			r;

	der.data = (unsigned char *)it->row->csr;
	der.size = (unsigned)it->row->csr_len;
	if (gnutls_x509_crq_init(&crq) < 0 || gnutls_pubkey_init(&it->pub) < 0) {
		gnutls_x509_crq_deinit(crq);
		return err_set(e, "out of memory");
	}
	r = gnutls_x509_crq_import(crq, &der, GNUTLS_X509_FMT_DER);
	if (r >= 0)
		r = gnutls_pubkey_import_x509_crq(it->pub, crq, 0);
	gnutls_x509_crq_deinit(crq);
	if (r < 0) {
		set_verdict(it, POLICY_DENY, "the stored CSR cannot be read: "
		    "%s", gnutls_strerror(r));
		return 1;
	}
	if (keys_check(it->pub, &it->ki, &ce) != 0) {
		set_verdict(it, POLICY_DENY, "the key is not acceptable: %s",
		    ce.msg);
		return 1;
	}
	if (keys_spki_sha256(it->pub, it->spki, e) != 0)
		return -1;
	return store_req_cert_facts(re->st, it->row->email, it->row->profile,
	    it->spki, valid, certified, e);
}

static void
fill_policy_request(struct policy_request *pr, const struct req_row *r,
    const struct key_info *ki, unsigned valid, int certified, int kra)
{
	memset(pr, 0, sizeof(*pr));
	pr->requester = r->requester;
	pr->requester_mail = r->requester_mail;
	pr->email = r->email;
	pr->display_name = r->display_name;
	pr->groups = r->groups;
	pr->ngroups = r->ngroups;
	pr->authenticated = r->authenticated;
	pr->account_disabled = r->account_disabled;
	pr->via_ra = r->via_ra;
	pr->on_behalf = r->on_behalf;
	pr->profile = r->profile;
	pr->key_type = ki->name;
	pr->key_bits = ki->bits;
	pr->days = r->days;
	pr->valid_certs = valid;
	pr->key_already_certified = certified;
	pr->kra = kra;
}

/* A submitted request: the policy module decides, the core re-checks
 * (policy_decide). */
static int
decide_submitted(struct request_engine *re, struct item *it, int kra,
    struct err *e)
{
	struct policy_request	pr;
	struct policy_decision	d;
	unsigned		valid = 0;
	int			certified = 0, r;

	if ((r = prepare(re, it, &valid, &certified, e)) != 0)
		return r < 0 ? -1 : 0;
	fill_policy_request(&pr, it->row, &it->ki, valid, certified, kra);
	if (policy_decide(re->pol, &re->lim, &pr, &d, e) != 0)
		return -1;
	it->verdict = d.verdict;
	snprintf(it->reason, sizeof(it->reason), "%s", d.reason);
	snprintf(it->profile, sizeof(it->profile), "%s", d.profile);
	it->days = d.days;
	return 0;
}

/* An approved request: the officer decided, but the CA configuration and
 * the key rules still bound what is signed. */
static int
decide_approved(struct request_engine *re, struct item *it, struct err *e)
{
	enum cert_profile	prof;
	unsigned		valid = 0, days;
	int			certified = 0, r;
	struct err		pe;

	if ((r = prepare(re, it, &valid, &certified, e)) != 0)
		return r < 0 ? -1 : 0;
	days = it->row->days != 0 ? it->row->days : re->cfg->default_days;
	snprintf(it->profile, sizeof(it->profile), "%s", it->row->profile);
	it->days = days;
	if (!policy_domain_allowed(it->row->email, re->cfg->allowed_domains))
		set_verdict(it, POLICY_DENY, "the mailbox %s is outside the "
		    "CA's mail domains (%s)", it->row->email,
		    re->cfg->allowed_domains);
	else if (cert_profile_parse(it->row->profile, &prof, &pe) != 0)
		set_verdict(it, POLICY_DENY, "%s", pe.msg);
	else if (days > re->cfg->max_days || days > CERT_MAX_DAYS)
		/* S/MIME BR 6.3.2 */
		set_verdict(it, POLICY_DENY, "%u days is more than this CA "
		    "allows (%u)", days, re->cfg->max_days);
	else if (certified)
		set_verdict(it, POLICY_DENY, "this public key was certified "
		    "since the request was approved; every certificate needs "
		    "a new key");
	else
		set_verdict(it, POLICY_ISSUE, "%s", it->row->reason != NULL ?
		    it->row->reason : "approved by a PKI officer");
	return 0;
}

static int
audit_transition(struct request_engine *re, const char *actor,
    const struct item *it, const char *action, const char *extra,
    struct err *e)
{
	char	subject[48], detail[640];

	snprintf(subject, sizeof(subject), "request %" PRId64, it->row->id);
	snprintf(detail, sizeof(detail), "%s%sreason=%s", extra,
	    *extra ? " " : "", it->reason);
	return audit_append(re->st, actor, action, subject, detail, e);
}

static int
issue_item(struct request_engine *re, struct item *it, struct err *e)
{
	struct ca_subject	 subj;
	struct ca_issued	 out;
	const char		*actor;
	char			 extra[128];
	int			 submitted = strcmp(it->row->state,
				    "submitted") == 0;
	int			 rc = -1;

	memset(&out, 0, sizeof(out));
	memset(&subj, 0, sizeof(subj));
	subj.email = it->row->email;
	subj.display_name = it->row->display_name;
	if (cert_profile_parse(it->profile, &subj.profile, e) != 0)
		return -1;
	subj.days = it->days;
	/* the certificate names who decided: the policy, or the officer */
	actor = submitted ? re->by : it->row->decided_by != NULL ?
	    it->row->decided_by : "ca-serve";
	if (ca_issue_tx(re->ca, re->st, &subj, it->pub, &it->ki, actor, it->row->id, &out, e) != 0)
		return -1;
	if (it->row->key_escrow != NULL &&
	    kra_escrow_tx(re->st, it->row->id, out.serial_hex, &out.der,
	    it->row->key_escrow, it->row->key_escrow_len, e) != 0)
		goto out;
	if (store_req_decide(re->st, it->row->id, "issued", it->reason,
	    submitted ? re->by : NULL, out.serial_hex, it->profile, it->days,
	    e) != 0)
		goto out;
	snprintf(extra, sizeof(extra), "serial=%s", out.serial_hex);
	if (audit_transition(re, submitted ? re->by : "ca-serve", it,
	    "request.issue", extra, e) != 0)
		goto out;
	rc = 0;
out:
	ca_issued_free(&out);
	return rc;
}

static int
record_item(struct request_engine *re, struct item *it, struct err *e)
{
	int	submitted = strcmp(it->row->state, "submitted") == 0;

	switch (it->verdict) {
	case POLICY_ISSUE:
		return issue_item(re, it, e);
	case POLICY_PEND:
		if (store_req_decide(re->st, it->row->id, "pending",
		    it->reason, re->by, NULL, it->profile, it->days, e) != 0)
			return -1;
		return audit_transition(re, re->by, it, "request.pend", "", e);
	case POLICY_DENY:
		if (store_req_decide(re->st, it->row->id, "denied",
		    it->reason, submitted ? re->by : "ca-serve", NULL, NULL, 0,
		    e) != 0)
			return -1;
		return audit_transition(re, submitted ? re->by : "ca-serve",
		    it, "request.deny", "", e);
	}
	return err_set(e, "request %" PRId64 ": no verdict", it->row->id);
}

/*
 * Decides one group (a request, or the members of a batch) inside the
 * caller's transaction. The members share one fate: a DENY of one denies
 * all, else a PEND of one holds all, else all issue.
 */
static int
do_group(struct request_engine *re, const struct req_row *rows, size_t n,
    struct request_counts *c, struct err *e)
{
	struct item	*it;
	size_t		 i, j, nwait = 0;
	int		 kra = n > 1, rc = -1;
	const struct item *worst = NULL;

	if ((it = calloc(n, sizeof(*it))) == NULL)
		return err_set(e, "out of memory");
	for (i = 0; i < n; i++) {
		it[i].row = &rows[i];
		it[i].waiting = !strcmp(rows[i].state, "submitted") ||
		    !strcmp(rows[i].state, "approved");
		nwait += it[i].waiting;
	}
	for (i = 0; i < n; i++) {
		if (!it[i].waiting) {
			/* a pair is decided together (store_req_officer
			 * moves both); a member left pending means a pair
			 * split by hand: deny rather than loop */
			if (!strcmp(rows[i].state, "pending"))
				worst = &it[i];
			continue;
		}
		if (!strcmp(rows[i].state, "submitted")) {
			if (decide_submitted(re, &it[i], kra, e) != 0)
				goto out;
		} else if (decide_approved(re, &it[i], e) != 0)
			goto out;
		/* RFC 5280 has no rule here, the policy has: one key, one
		 * certificate -- even within a pair */
		for (j = 0; j < i; j++)
			if (it[j].waiting && it[j].pub != NULL &&
			    it[i].pub != NULL && it[i].verdict != POLICY_DENY &&
			    memcmp(it[j].spki, it[i].spki, 32) == 0)
				set_verdict(&it[i], POLICY_DENY, "request "
				    "%" PRId64 " of the same pair has the same "
				    "public key; every certificate needs a new "
				    "key", rows[j].id);
	}
	if (worst != NULL) {
		for (i = 0; i < n; i++)
			if (it[i].waiting)
				set_verdict(&it[i], POLICY_DENY, "request "
				    "%" PRId64 " of the same pair is still "
				    "pending; a pair is decided together",
				    worst->row->id);
	} else {
		for (i = 0; i < n; i++)
			if (it[i].waiting && (worst == NULL ||
			    it[i].verdict > worst->verdict))
				worst = &it[i];	/* DENY > PEND > ISSUE */
		for (i = 0; worst != NULL && i < n; i++) {
			if (!it[i].waiting || &it[i] == worst ||
			    it[i].verdict == worst->verdict)
				continue;
			set_verdict(&it[i], worst->verdict, "%s together with "
			    "request %" PRId64 " of the same pair: %s",
			    worst->verdict == POLICY_DENY ? "denied" : "held",
			    worst->row->id, worst->reason);
		}
	}
	for (i = 0; i < n; i++) {
		if (!it[i].waiting)
			continue;
		if (record_item(re, &it[i], e) != 0) {
			err_wrap(e, "request %" PRId64, rows[i].id);
			goto out;
		}
		if (it[i].verdict == POLICY_ISSUE)
			c->issued++;
		else if (it[i].verdict == POLICY_PEND)
			c->pending++;
		else
			c->denied++;
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		gnutls_pubkey_deinit(it[i].pub);
	free(it);
	return rc;
}

/* Runs do_group over every group of a claimed set. */
static int
do_set(struct request_engine *re, const struct store_req_set *set,
    struct request_counts *c, struct err *e)
{
	size_t	i = 0, j;
	int64_t	g;

	while (i < set->n) {
		g = set->rows[i].batch_id ? set->rows[i].batch_id :
		    set->rows[i].id;
		for (j = i + 1; j < set->n && set->rows[j].batch_id != 0 &&
		    set->rows[j].batch_id == g; j++)
			;
		if (do_group(re, &set->rows[i], j - i, c, e) != 0)
			return -1;
		i = j;
	}
	return 0;
}

static int
db_dead(struct request_engine *re)
{
	return PQstatus(store_pg(re->st)) != CONNECTION_OK;
}

/* After a failure: attempts + 1 for each member, and a denial once they
 * are used up. Its own transaction. */
static int
note_failure(struct request_engine *re, const int64_t *ids, size_t n,
    const char *why, struct request_counts *c, struct err *e)
{
	struct item	it;
	struct req_row	row;
	size_t		i;
	int		attempts, last = 0;

	if (store_begin(re->st, e) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (store_req_fail(re->st, ids[i], why, &attempts, e) != 0)
			goto fail;
		if (attempts >= REQUEST_MAX_ATTEMPTS)
			last = 1;
	}
	for (i = 0; last && i < n; i++) {
		memset(&it, 0, sizeof(it));
		memset(&row, 0, sizeof(row));
		row.id = ids[i];
		it.row = &row;
		set_verdict(&it, POLICY_DENY, "internal error after %d "
		    "attempts: %s", REQUEST_MAX_ATTEMPTS, why);
		if (store_req_decide(re->st, ids[i], "denied", it.reason,
		    "ca-serve", NULL, NULL, 0, e) != 0 ||
		    audit_transition(re, "ca-serve", &it, "request.deny", "",
		    e) != 0)
			goto fail;
		c->denied++;
	}
	if (store_commit(re->st, e) != 0)
		return -1;
	c->failed += n;
	return 0;
fail:
	store_rollback(re->st);
	return -1;
}

/* One group in a transaction of its own. */
static int
work_one(struct request_engine *re, int64_t id, struct request_counts *c,
    struct err *e)
{
	struct store_req_set	 set;
	struct request_counts	 mine;
	int64_t			*ids = NULL;
	size_t			 i, n = 0;
	int			 rc = -1;

	memset(&mine, 0, sizeof(mine));
	memset(&set, 0, sizeof(set));
	if (store_begin(re->st, e) != 0)
		return -1;
	if (store_req_claim_one(re->st, id, &set, e) != 0)
		goto fail;
	if (set.n == 0) {
		store_rollback(re->st);
		rc = 0;
		goto out;
	}
	if ((ids = calloc(set.n, sizeof(*ids))) == NULL) {
		err_set(e, "out of memory");
		goto fail;
	}
	for (i = 0; i < set.n; i++)
		if (!strcmp(set.rows[i].state, "submitted") ||
		    !strcmp(set.rows[i].state, "approved"))
			ids[n++] = set.rows[i].id;
	if (do_set(re, &set, &mine, e) == 0 && store_commit(re->st, e) == 0) {
		c->issued += mine.issued;
		c->pending += mine.pending;
		c->denied += mine.denied;
		rc = 0;
		goto out;
	}
	store_rollback(re->st);
	if (db_dead(re))
		goto out;
	logf_(re, "request %" PRId64 " failed: %s", id, e->msg);
	rc = note_failure(re, ids, n, e->msg, c, e);
	goto out;
fail:
	store_rollback(re->st);
out:
	store_req_set_free(&set);
	free(ids);
	return rc;
}

/* The group (batch_id, else id) of the row with this id in set. */
static int64_t
group_of(const struct store_req_set *set, int64_t id)
{
	size_t	i;

	for (i = 0; i < set->n; i++)
		if (set->rows[i].id == id)
			return set->rows[i].batch_id ? set->rows[i].batch_id :
			    id;
	return 0;
}

int
request_work(struct request_engine *re, unsigned max,
    struct request_counts *c, struct err *e)
{
	struct store_req_set	 set;
	struct request_counts	 mine;
	int64_t			*ids = NULL;
	size_t			 i, n = 0;
	int			 rc = -1;

	memset(c, 0, sizeof(*c));
	memset(&mine, 0, sizeof(mine));
	memset(&set, 0, sizeof(set));
	if (store_begin(re->st, e) != 0)
		return -1;
	if (store_req_claim(re->st, max, &set, e) != 0) {
		store_rollback(re->st);
		return -1;
	}
	if (set.n == 0) {
		store_rollback(re->st);
		rc = 0;
		goto out;
	}
	if (do_set(re, &set, &mine, e) == 0 && store_commit(re->st, e) == 0) {
		*c = mine;
		rc = 0;
		goto out;
	}
	/* Something in the batch failed and took the transaction with it:
	 * redo each group alone so the others' answers are not lost. */
	store_rollback(re->st);
	if (db_dead(re))
		goto out;
	if ((ids = calloc(set.n, sizeof(*ids))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	/* one id per group: its first member still waiting */
	for (i = 0; i < set.n; i++) {
		if (strcmp(set.rows[i].state, "submitted") != 0 &&
		    strcmp(set.rows[i].state, "approved") != 0)
			continue;
		if (n > 0 && set.rows[i].batch_id != 0 &&
		    group_of(&set, ids[n - 1]) == set.rows[i].batch_id)
			continue;
		ids[n++] = set.rows[i].id;
	}
	store_req_set_free(&set);
	for (i = 0; i < n; i++)
		if (work_one(re, ids[i], c, e) != 0)
			goto out;
	rc = 0;
out:
	store_req_set_free(&set);
	free(ids);
	return rc;
}

int
request_check(struct request_engine *re, const struct req_row *r,
    struct policy_decision *out, char key_type[32], struct err *e)
{
	struct policy_request	 pr;
	struct csr		*csr;
	uint8_t			 spki[32];
	unsigned		 valid = 0;
	int			 certified = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	key_type[0] = '\0';
	/* the full intake check, as the RA does */
	if ((csr = csr_parse(r->csr, r->csr_len, e)) == NULL)
		return -1;
	snprintf(key_type, 32, "%s", csr_key_info(csr)->name);
	if (keys_spki_sha256(csr_pubkey(csr), spki, e) != 0 ||
	    store_req_cert_facts(re->st, r->email, r->profile, spki, &valid,
	    &certified, e) != 0)
		goto out;
	fill_policy_request(&pr, r, csr_key_info(csr), valid, certified, 0);
	rc = policy_decide(re->pol, &re->lim, &pr, out, e);
out:
	csr_free(csr);
	return rc;
}

int
request_officer_decide(struct store *st, const char *operator_name,
    int64_t id, int approve, const char *reason, size_t *n, struct err *e)
{
	char		 by[96], why[400], subject[48], detail[512];
	int64_t		*ids = NULL;
	size_t		 i;

	*n = 0;
	if (!approve && (reason == NULL || *reason == '\0'))
		return err_set(e, "a denial needs a reason");
	snprintf(by, sizeof(by), "operator:%s", operator_name);
	if (reason != NULL && *reason != '\0')
		snprintf(why, sizeof(why), "%s", reason);
	else
		snprintf(why, sizeof(why), "approved by %s", operator_name);
	if (store_begin(st, e) != 0)
		return -1;
	if (store_req_officer(st, id, approve ? "approved" : "denied", why, by,
	    &ids, n, e) != 0)
		goto fail;
	for (i = 0; i < *n; i++) {
		snprintf(subject, sizeof(subject), "request %" PRId64, ids[i]);
		snprintf(detail, sizeof(detail), "reason=%s", why);
		if (audit_append(st, by, approve ? "request.approve" :
		    "request.deny", subject, detail, e) != 0)
			goto fail;
	}
	free(ids);
	if (store_commit(st, e) != 0) {
		*n = 0;
		return -1;
	}
	return 0;
fail:
	free(ids);
	*n = 0;
	store_rollback(st);
	return -1;
}
