/*
 * request: decides and issues waiting requests; officers' decisions.
 */
#include <inttypes.h>
#include <pthread.h>
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
	/* ca-serve's lanes claim one at a time (request_engine_set_claim_lock);
	 * NULL: the only one */
	pthread_mutex_t		*claim_lock;
	void			(*claimed)(void *);	/* after a claim with work */
	void			*claimed_arg;
	struct policy		*pol;
	struct store		*st;
	struct policy_limits	 lim;
	request_log_fn		 log;
	void			*log_arg;
	char			 by[64];	/* "policy:<module>" */
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

void
request_engine_set_claim_lock(struct request_engine *re, pthread_mutex_t *m)
{
	re->claim_lock = m;
}

void
request_engine_on_claim(struct request_engine *re, void (*fn)(void *),
    void *arg)
{
	re->claimed = fn;
	re->claimed_arg = arg;
}

static void
claim_begin(struct request_engine *re)
{
	if (re->claim_lock != NULL)
		pthread_mutex_lock(re->claim_lock);
}

static void
claim_end(struct request_engine *re)
{
	if (re->claim_lock != NULL)
		pthread_mutex_unlock(re->claim_lock);
}

/*
 * A claimed set is decided and issued in four steps, each over the whole
 * set, so that the database sees a few statements per set rather than
 * several per request: the keys are read and the certificate store asked
 * once (store_req_cert_facts_many); every group is decided; the
 * certificates are signed; rows, audit records, publish jobs and the
 * requests' new states are written (ca_store_tx, store_req_decide_send).
 * ca-serve runs several engines at once (its lanes): their sets share no
 * request, and the facts of a mailbox or key are read under a lock held
 * to the commit, so each set sees the certificates of those before it.
 */

/* One request of a claimed set. */
struct item {
	const struct req_row	*row;
	gnutls_pubkey_t		 pub;	/* NULL until read */
	struct key_info		 ki;
	uint8_t			 spki[32];
	int			 waiting;	/* submitted or approved */
	int			 keyed;		/* key read and acceptable */
	/* what the certificate store held when the set was claimed */
	unsigned		 valid;
	int			 certified;
	const char		*mailbox;	/* lower(email), as the store folds it */
	enum policy_verdict	 verdict;
	char			 reason[400];
	char			 profile[16];
	unsigned		 days;
	struct ca_job		*job;		/* ISSUE: its certificate */
};

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

static int
submitted(const struct item *it)
{
	return strcmp(it->row->state, "submitted") == 0;
}

/*
 * Reads the stored CSR's public key. The RA verified the CSR's
 * self-signature (RFC 2986 proof of possession) with csr_parse when it
 * stored the row; here the key is checked again (S/MIME BR 6.1.5,
 * keys_check) but the signature is not verified a second time, which
 * would cost more than signing. A key that no longer passes is a DENY,
 * not an error: retrying cannot help.
 */
static int
read_key(struct item *it, struct err *e)
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
		return 0;
	}
	if (keys_check(it->pub, &it->ki, &ce) != 0) {
		set_verdict(it, POLICY_DENY, "the key is not acceptable: %s",
		    ce.msg);
		return 0;
	}
	if (keys_spki_sha256(it->pub, it->spki, e) != 0)
		return -1;
	it->keyed = 1;
	return 0;
}

/* Reads every waiting request's key and asks the certificate store about
 * all of them in one query. */
static int
read_keys_and_facts(struct request_engine *re, struct item *it, size_t n,
    struct store_req_facts **facts, size_t *nfacts, struct err *e)
{
	const char	**email = NULL, **profile = NULL;
	uint8_t		(*spki)[32] = NULL;
	size_t		 i, m = 0;
	int		 rc = -1;

	*facts = NULL;
	*nfacts = 0;
	for (i = 0; i < n; i++)
		if (it[i].waiting && read_key(&it[i], e) != 0)
			return -1;
	for (i = 0; i < n; i++)
		m += it[i].keyed;
	if (m == 0)
		return 0;
	if ((email = calloc(m, sizeof(*email))) == NULL ||
	    (profile = calloc(m, sizeof(*profile))) == NULL ||
	    (spki = calloc(m, sizeof(*spki))) == NULL ||
	    (*facts = calloc(m, sizeof(**facts))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	for (i = m = 0; i < n; i++) {
		if (!it[i].keyed)
			continue;
		email[m] = it[i].row->email;
		profile[m] = it[i].row->profile;
		memcpy(spki[m], it[i].spki, 32);
		m++;
	}
	if (store_req_cert_facts_many(re->st, m, email, profile,
	    (const uint8_t (*)[32])spki, *facts, e) != 0)
		goto out;
	*nfacts = m;
	for (i = m = 0; i < n; i++) {
		if (!it[i].keyed)
			continue;
		it[i].valid = (*facts)[m].valid_certs;
		it[i].certified = (*facts)[m].key_certified;
		it[i].mailbox = (*facts)[m].mailbox;
		m++;
	}
	rc = 0;
out:
	if (rc != 0) {
		free(*facts);
		*facts = NULL;
	}
	free(email);
	free(profile);
	free(spki);
	return rc;
}

/*
 * The facts as the database would see them had the groups before this one
 * been written already: a certificate issued earlier in the set counts
 * for its mailbox and profile, and certifies its key.
 */
static void
facts_with_earlier(const struct item *it, size_t before, const struct item *x,
    unsigned *valid, int *certified)
{
	size_t	i;

	*valid = x->valid;
	*certified = x->certified;
	for (i = 0; i < before; i++) {
		if (!it[i].waiting || it[i].verdict != POLICY_ISSUE)
			continue;
		if (!strcmp(it[i].mailbox, x->mailbox) &&
		    !strcmp(it[i].profile, x->row->profile))
			(*valid)++;
		if (memcmp(it[i].spki, x->spki, 32) == 0)
			*certified = 1;
	}
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
decide_submitted(struct request_engine *re, struct item *it, unsigned valid,
    int certified, int kra, struct err *e)
{
	struct policy_request	pr;
	struct policy_decision	d;

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
static void
decide_approved(struct request_engine *re, struct item *it, int certified)
{
	enum cert_profile	prof;
	unsigned		days;
	struct err		pe;

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
}

/*
 * Decides one group (a request, or the members of a batch); it[0 .. first)
 * are the set's groups decided before it. The members share one fate: a
 * DENY of one denies all, else a PEND of one holds all, else all issue.
 */
static int
decide_group(struct request_engine *re, struct item *it, size_t first,
    size_t n, struct err *e)
{
	struct item		*g = it + first;
	const struct item	*worst = NULL;
	size_t			 i, j;
	unsigned		 valid;
	int			 kra = n > 1, certified;

	for (i = 0; i < n; i++) {
		if (!g[i].waiting) {
			/* a pair is decided together (store_req_officer
			 * moves both); a member left pending means a pair
			 * split by hand: deny rather than loop */
			if (!strcmp(g[i].row->state, "pending"))
				worst = &g[i];
			continue;
		}
		if (!g[i].keyed)
			continue;	/* denied when its key was read */
		facts_with_earlier(it, first, &g[i], &valid, &certified);
		if (submitted(&g[i])) {
			if (decide_submitted(re, &g[i], valid, certified, kra,
			    e) != 0)
				return -1;
		} else
			decide_approved(re, &g[i], certified);
		/* RFC 5280 has no rule here, the policy has: one key, one
		 * certificate -- even within a pair */
		for (j = 0; j < i; j++)
			if (g[j].waiting && g[j].keyed &&
			    g[i].verdict != POLICY_DENY &&
			    memcmp(g[j].spki, g[i].spki, 32) == 0)
				set_verdict(&g[i], POLICY_DENY, "request "
				    "%" PRId64 " of the same pair has the same "
				    "public key; every certificate needs a new "
				    "key", g[j].row->id);
	}
	if (worst != NULL) {
		for (i = 0; i < n; i++)
			if (g[i].waiting)
				set_verdict(&g[i], POLICY_DENY, "request "
				    "%" PRId64 " of the same pair is still "
				    "pending; a pair is decided together",
				    worst->row->id);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (g[i].waiting && (worst == NULL ||
		    g[i].verdict > worst->verdict))
			worst = &g[i];	/* DENY > PEND > ISSUE */
	for (i = 0; worst != NULL && i < n; i++) {
		if (!g[i].waiting || &g[i] == worst ||
		    g[i].verdict == worst->verdict)
			continue;
		set_verdict(&g[i], worst->verdict, "%s together with "
		    "request %" PRId64 " of the same pair: %s",
		    worst->verdict == POLICY_DENY ? "denied" : "held",
		    worst->row->id, worst->reason);
	}
	return 0;
}

/* One thread's share of the signing: jobs taken in turn from *next. */
/* Signs every job. */
static int
sign_all(struct request_engine *re, struct ca_job *jobs, size_t n,
    struct err *e)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (ca_sign(re->ca, &jobs[i], e) != 0)
			return err_wrap(e, "request %" PRId64,
			    jobs[i].request_id);
	return 0;
}

/* The certificates of every ISSUE item, signed. */
static int
sign_set(struct request_engine *re, struct item *it, size_t n,
    struct ca_job **jobs, size_t *njobs, struct err *e)
{
	struct ca_job	*j;
	size_t		 i, m = 0;

	*jobs = NULL;
	*njobs = 0;
	for (i = 0; i < n; i++)
		m += it[i].waiting && it[i].verdict == POLICY_ISSUE;
	if (m == 0)
		return 0;
	if ((*jobs = calloc(m, sizeof(**jobs))) == NULL)
		return err_set(e, "out of memory");
	*njobs = m;
	for (i = m = 0; i < n; i++) {
		if (!it[i].waiting || it[i].verdict != POLICY_ISSUE)
			continue;
		j = &(*jobs)[m++];
		it[i].job = j;
		j->subj.email = it[i].row->email;
		j->subj.display_name = it[i].row->display_name;
		if (cert_profile_parse(it[i].profile, &j->subj.profile, e) != 0)
			return err_wrap(e, "request %" PRId64, it[i].row->id);
		j->subj.days = it[i].days;
		j->pub = it[i].pub;
		j->ki = &it[i].ki;
		/* the certificate names who decided: the policy, or the
		 * officer */
		j->actor = submitted(&it[i]) ? re->by :
		    it[i].row->decided_by != NULL ? it[i].row->decided_by :
		    "ca-serve";
		j->request_id = it[i].row->id;
	}
	return sign_all(re, *jobs, *njobs, e);
}

static void
audit_transition(struct store_audit_buf *ab, const char *actor,
    const struct item *it, const char *action, const char *extra)
{
	char	subject[48], detail[640];

	snprintf(subject, sizeof(subject), "request %" PRId64, it->row->id);
	snprintf(detail, sizeof(detail), "%s%sreason=%s", extra,
	    *extra ? " " : "", it->reason);
	store_audit_buf_add(ab, actor, action, subject, detail);
}

/*
 * The requests' new states and the audit chain's head for the records in
 * ab, in one round trip; seals ab for audit_commit_buf.
 */
static int
decide_and_head(struct store *st, const struct store_req_decision *d,
    size_t m, struct store_audit_buf *ab, struct err *e)
{
	struct err	ignored;
	int		i = -1, h = -1;

	if (m == 0 && ab->n == 0)
		return 0;
	if (store_pipe_begin(st, e) != 0)
		return -1;
	if ((m > 0 && (i = store_req_decide_send(st, d, m, e)) < 0) ||
	    (ab->n > 0 && (h = audit_head_send(st, ab->n, e)) < 0)) {
		(void)store_pipe_run(st, &ignored);
		return -1;
	}
	if (store_pipe_run(st, e) != 0 ||
	    (m > 0 && store_req_decide_take(st, i, m, e) != 0) ||
	    (ab->n > 0 && audit_head_take(st, h, ab, e) != 0))
		return -1;
	return 0;
}

/*
 * Writes the set's outcome inside the caller's transaction: the
 * certificates (rows, cert.issue records, publish jobs), escrowed keys,
 * then the requests' states. One audit record per decided request is
 * left in ab, sealed, for the caller to commit with (audit_commit_buf).
 */
static int
write_set(struct request_engine *re, struct item *it, size_t n,
    struct ca_job *jobs, size_t njobs, struct store_audit_buf *ab,
    struct request_counts *c, struct err *e)
{
	struct store_req_decision	*d = NULL, *x;
	char				 extra[128];
	size_t				 i, m = 0;
	int				 rc = -1, sub;

	if ((d = calloc(n, sizeof(*d))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (ca_store_tx(re->ca, re->st, jobs, njobs, ab, e) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (it[i].job == NULL || it[i].row->key_escrow == NULL)
			continue;
		/* kra_escrow_tx appends its own record: the chain keeps
		 * the order of events */
		if (audit_append_buf(re->st, ab, e) != 0 ||
		    kra_escrow_tx(re->st, it[i].row->id,
		    it[i].job->out.serial_hex, &it[i].job->out.der,
		    it[i].row->key_escrow, it[i].row->key_escrow_len, e) != 0) {
			err_wrap(e, "request %" PRId64, it[i].row->id);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (!it[i].waiting)
			continue;
		sub = submitted(&it[i]);
		x = &d[m++];
		x->id = it[i].row->id;
		x->reason = it[i].reason;
		switch (it[i].verdict) {
		case POLICY_ISSUE:
			x->state = "issued";
			x->decided_by = sub ? re->by : NULL;
			x->serial = it[i].job->out.serial_hex;
			x->profile = it[i].profile;
			x->days = it[i].days;
			snprintf(extra, sizeof(extra), "serial=%s", x->serial);
			audit_transition(ab, sub ? re->by : "ca-serve",
			    &it[i], "request.issue", extra);
			c->issued++;
			break;
		case POLICY_PEND:
			x->state = "pending";
			x->decided_by = re->by;
			x->profile = it[i].profile;
			x->days = it[i].days;
			audit_transition(ab, re->by, &it[i], "request.pend",
			    "");
			c->pending++;
			break;
		case POLICY_DENY:
			x->state = "denied";
			x->decided_by = sub ? re->by : "ca-serve";
			audit_transition(ab, sub ? re->by : "ca-serve",
			    &it[i], "request.deny", "");
			c->denied++;
			break;
		default:
			err_set(e, "request %" PRId64 ": no verdict",
			    it[i].row->id);
			goto out;
		}
	}
	/* the states last: the audit lock is taken with them and held to
	 * the commit, which follows at once */
	if (decide_and_head(re->st, d, m, ab, e) != 0)
		goto out;
	rc = 0;
out:
	free(d);
	return rc;
}

/* Decides and issues a claimed set inside the caller's transaction,
 * leaving the audit records of its decisions sealed in ab. */
static int
do_set(struct request_engine *re, const struct store_req_set *set,
    struct store_audit_buf *ab, struct request_counts *c, struct err *e)
{
	struct request_counts	 mine;
	struct store_req_facts	*facts = NULL;
	struct ca_job		*jobs = NULL;
	struct item		*it;
	size_t			 i, j, nfacts = 0, njobs = 0;
	int64_t			 g;
	int			 rc = -1;

	if (set->n == 0)
		return 0;
	if ((it = calloc(set->n, sizeof(*it))) == NULL)
		return err_set(e, "out of memory");
	for (i = 0; i < set->n; i++) {
		it[i].row = &set->rows[i];
		it[i].waiting = !strcmp(set->rows[i].state, "submitted") ||
		    !strcmp(set->rows[i].state, "approved");
	}
	if (read_keys_and_facts(re, it, set->n, &facts, &nfacts, e) != 0)
		goto out;
	/* rows come ordered by group (store_req_claim_begin) */
	for (i = 0; i < set->n; i = j) {
		g = set->rows[i].batch_id ? set->rows[i].batch_id :
		    set->rows[i].id;
		for (j = i + 1; j < set->n && set->rows[j].batch_id != 0 &&
		    set->rows[j].batch_id == g; j++)
			;
		if (decide_group(re, it, i, j - i, e) != 0) {
			err_wrap(e, "request %" PRId64, set->rows[i].id);
			goto out;
		}
	}
	memset(&mine, 0, sizeof(mine));
	if (sign_set(re, it, set->n, &jobs, &njobs, e) != 0 ||
	    write_set(re, it, set->n, jobs, njobs, ab, &mine, e) != 0)
		goto out;
	c->issued += mine.issued;
	c->pending += mine.pending;
	c->denied += mine.denied;
	rc = 0;
out:
	for (i = 0; i < njobs; i++)
		ca_job_free(&jobs[i]);
	free(jobs);
	for (i = 0; i < set->n; i++)
		gnutls_pubkey_deinit(it[i].pub);
	store_req_facts_free(facts, nfacts);
	free(facts);
	free(it);
	return rc;
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
	char		subject[48], detail[640];
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
		snprintf(subject, sizeof(subject), "request %" PRId64,
		    ids[i]);
		snprintf(detail, sizeof(detail), "reason=internal error after "
		    "%d attempts: %s", REQUEST_MAX_ATTEMPTS, why);
		if (store_req_decide(re->st, ids[i], "denied", detail +
		    strlen("reason="), "ca-serve", NULL, NULL, 0, e) != 0 ||
		    audit_append(re->st, "ca-serve", "request.deny", subject,
		    detail, e) != 0)
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
	struct store_audit_buf	 ab;
	struct request_counts	 mine;
	int64_t			*ids = NULL;
	size_t			 i, n = 0;
	int			 rc = -1;

	memset(&mine, 0, sizeof(mine));
	memset(&set, 0, sizeof(set));
	store_audit_buf_init(&ab);
	if (store_begin(re->st, e) != 0)
		return -1;
	claim_begin(re);
	rc = store_req_claim_one(re->st, id, &set, e);
	claim_end(re);
	if (rc != 0) {
		rc = -1;
		goto fail;
	}
	rc = -1;
	if (set.n == 0) {
		store_rollback(re->st);
		rc = 0;
		goto out;
	}
	if (re->claimed != NULL)
		re->claimed(re->claimed_arg);
	if ((ids = calloc(set.n, sizeof(*ids))) == NULL) {
		err_set(e, "out of memory");
		goto fail;
	}
	for (i = 0; i < set.n; i++)
		if (!strcmp(set.rows[i].state, "submitted") ||
		    !strcmp(set.rows[i].state, "approved"))
			ids[n++] = set.rows[i].id;
	if (do_set(re, &set, &ab, &mine, e) == 0 &&
	    audit_commit_buf(re->st, &ab, e) == 0) {
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
	store_audit_buf_free(&ab);
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
	struct store_audit_buf	 ab;
	struct request_counts	 mine;
	int64_t			*ids = NULL;
	size_t			 i, n = 0;
	int			 rc = -1;

	memset(c, 0, sizeof(*c));
	memset(&mine, 0, sizeof(mine));
	memset(&set, 0, sizeof(set));
	store_audit_buf_init(&ab);
	claim_begin(re);
	rc = store_req_claim_begin(re->st, max, &set, e);
	claim_end(re);
	if (rc != 0) {
		store_rollback(re->st);
		return -1;
	}
	rc = -1;
	if (set.n == 0) {
		store_rollback(re->st);
		rc = 0;
		goto out;
	}
	if (re->claimed != NULL)
		re->claimed(re->claimed_arg);
	if (do_set(re, &set, &ab, &mine, e) == 0 &&
	    audit_commit_buf(re->st, &ab, e) == 0) {
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
	store_audit_buf_free(&ab);
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
