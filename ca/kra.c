/*
 * kra: escrow of encryption keys and M-of-N recovery; see kra.h for the
 * scheme and its threat model.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ini.h>
#include <sodium.h>

#include "audit.h"
#include "config.h"
#include "csr.h"
#include "keys.h"
#include "kra.h"
#include "p12.h"
#include "shamir.h"
#include "store.h"
#include "store_kra.h"

#define SK_LEN		crypto_box_SECRETKEYBYTES		/* 32 */
#define PK_LEN		crypto_box_PUBLICKEYBYTES		/* 32 */
#define SHARE_LEN	SHAMIR_SHARE_LEN(SK_LEN)		/* 33 */
#define BOX_NONCE	crypto_secretbox_NONCEBYTES
#define SEALED_SK_LEN	(BOX_NONCE + crypto_secretbox_MACBYTES + SK_LEN)
#define GEN_PREFIX	4
#define MIN_PASSPHRASE	8
#define OTP_CHARS	26	/* base32: 130 bits */

/* ---- configuration ---- */

struct kc_parse {
	struct kra_config	*kc;
	char			 why[160];	/* "key: why" of the bad line */
};

/* ini_parse handler: returns 0 so that ini_parse reports the line. */
static int
kc_handler(void *user, const char *sec, const char *key, const char *val)
{
	struct kc_parse		*p = user;
	struct kra_config	*kc = p->kc;
	const char		*why = NULL;

	if (p->why[0] != '\0' || strcmp(sec, "kra") != 0)
		return p->why[0] == '\0';
	if (!strcmp(key, "enabled")) {
		if (config_bool(val, &kc->enabled) != 0)
			why = "must be yes or no";
	} else if (!strcmp(key, "pwhash")) {
		if (!strcmp(val, "interactive")) {
			kc->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
			kc->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
		} else if (!strcmp(val, "moderate")) {
			kc->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
			kc->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
		} else if (!strcmp(val, "sensitive")) {
			kc->opslimit = crypto_pwhash_OPSLIMIT_SENSITIVE;
			kc->memlimit = crypto_pwhash_MEMLIMIT_SENSITIVE;
		} else
			why = "must be interactive, moderate or sensitive";
	} else if (!strcmp(key, "grace_days")) {
		if (config_uint(val, 0, 36500, &kc->grace_days) != 0)
			why = "must be a number of days from 0 to 36500";
	} else if (!strcmp(key, "window_hours")) {
		if (config_uint(val, 1, 24 * 90, &kc->window_hours) != 0)
			why = "must be a number of hours from 1 to 2160";
	} else if (!strcmp(key, "officer_fetch")) {
		if (config_bool(val, &kc->officer_fetch) != 0)
			why = "must be yes or no";
	} else if (!strcmp(key, "p12_format")) {
		if (p12_format_parse(val, &kc->p12_format, NULL) != 0)
			why = "must be modern or compatible";
	} else
		why = "unknown setting";
	if (why == NULL)
		return 1;
	snprintf(p->why, sizeof(p->why), "%s: %s", key, why);
	return 0;
}

int
kra_config_load(const char *path, struct kra_config *kc, struct err *e)
{
	struct kc_parse	p = { kc, "" };
	int		line;

	memset(kc, 0, sizeof(*kc));
	kc->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
	kc->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
	kc->grace_days = 365;
	kc->window_hours = 72;
	kc->p12_format = P12_MODERN;
	if (sodium_init() < 0)
		return err_set(e, "libsodium failed to initialise");
	if ((line = ini_parse(path, kc_handler, &p)) < 0)
		return err_set(e, "%s: cannot read", path);
	if (p.why[0] != '\0')
		return err_set(e, "%s line %d: [kra] %s", path, line, p.why);
	if (line > 0)
		return err_set(e, "%s line %d: not valid INI syntax", path,
		    line);
	return 0;
}

/* ---- agent keys ---- */

static int
pass_key(const char *passphrase, const uint8_t salt[16],
    unsigned long long ops, size_t mem, uint8_t key[32], struct err *e)
{
	/* RFC 9106 argon2id */
	if (crypto_pwhash(key, 32, passphrase, strlen(passphrase), salt, ops,
	    mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return err_set(e, "argon2id: out of memory");
	return 0;
}

static int
agent_new(struct store *st, const struct kra_config *kc,
    const struct kra_agent_secret *a, struct kra_agent_row *row,
    struct err *e)
{
	uint8_t	sk[SK_LEN], key[32];
	int	rc = -1;

	memset(row, 0, sizeof(*row));
	if (strlen(a->passphrase) < MIN_PASSPHRASE)
		return err_set(e, "agent %s: the passphrase must have at least "
		    "%d characters", a->name, MIN_PASSPHRASE);
	if (snprintf(row->name, sizeof(row->name), "%s", a->name) >=
	    (int)sizeof(row->name))
		return err_set(e, "agent name too long");
	if (store_kra_operator_agent(st, a->name, e) != 0)
		return -1;
	row->opslimit = kc->opslimit;
	row->memlimit = kc->memlimit;
	randombytes_buf(row->salt, sizeof(row->salt));
	crypto_box_keypair(row->pk, sk);
	if ((row->sealed_sk.p = malloc(SEALED_SK_LEN)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	row->sealed_sk.len = SEALED_SK_LEN;
	if (pass_key(a->passphrase, row->salt, row->opslimit, row->memlimit,
	    key, e) != 0)
		goto out;
	randombytes_buf(row->sealed_sk.p, BOX_NONCE);
	crypto_secretbox_easy(row->sealed_sk.p + BOX_NONCE, sk, SK_LEN,
	    row->sealed_sk.p, key);
	rc = store_kra_agent_put(st, row, e);
out:
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(key, sizeof(key));
	return rc;
}

/* Opens an agent's secret key with their passphrase. */
static int
agent_unlock(const struct kra_agent_row *row, const char *passphrase,
    uint8_t sk[SK_LEN], struct err *e)
{
	uint8_t	key[32];
	int	rc = 0;

	if (row->sealed_sk.len != SEALED_SK_LEN)
		return err_set(e, "agent %s: damaged key", row->name);
	if (pass_key(passphrase, row->salt, row->opslimit, row->memlimit, key,
	    e) != 0)
		return -1;
	if (crypto_secretbox_open_easy(sk, row->sealed_sk.p + BOX_NONCE,
	    SEALED_SK_LEN - BOX_NONCE, row->sealed_sk.p, key) != 0)
		rc = err_set(e, "wrong passphrase for agent %s", row->name);
	sodium_memzero(key, sizeof(key));
	return rc;
}

static int
seal_to(const uint8_t *m, size_t len, const uint8_t pk[PK_LEN],
    struct kra_blob *out, struct err *e)
{
	out->len = len + crypto_box_SEALBYTES;
	if ((out->p = malloc(out->len)) == NULL)
		return err_set(e, "out of memory");
	crypto_box_seal(out->p, m, len, pk);
	return 0;
}

/* Opens a sealed box of exactly len octets. */
static int
open_sealed(const struct kra_blob *b, const uint8_t pk[PK_LEN],
    const uint8_t sk[SK_LEN], uint8_t *m, size_t len, const char *what,
    struct err *e)
{
	if (b->len != len + crypto_box_SEALBYTES ||
	    crypto_box_seal_open(m, b->p, b->len, pk, sk) != 0)
		return err_set(e, "%s does not open", what);
	return 0;
}

/* ---- the storage key: rebuild from M agents, deal to all ---- */

static int
rebuild(struct store *st, const struct kra_key_row *k,
    const struct kra_agent_secret *present, unsigned npresent,
    uint8_t sk[SK_LEN], struct err *e)
{
	uint8_t			 shares[SHAMIR_MAX_SHARES * SHARE_LEN];
	uint8_t			 ask[SK_LEN], pk[PK_LEN];
	struct kra_agent_row	 row;
	struct kra_blob		 sealed = { NULL, 0 };
	unsigned		 i, j, got = 0;
	int			 rc = -1, r;

	memset(&row, 0, sizeof(row));
	if (npresent < k->threshold) {
		err_set(e, "%u agents present; %u needed", npresent,
		    k->threshold);
		goto out;
	}
	for (i = 0; i < npresent && got < k->threshold; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(present[j].name, present[i].name) == 0)
				break;
		if (j < i) {
			err_set(e, "agent %s is named twice", present[i].name);
			goto out;
		}
		if ((r = store_kra_agent_get(st, present[i].name, &row, e)) != 0) {
			if (r == 1)
				err_set(e, "%s is not a recovery agent",
				    present[i].name);
			goto out;
		}
		if (agent_unlock(&row, present[i].passphrase, ask, e) != 0)
			goto out;
		if ((r = store_kra_share_get(st, k->generation, row.name,
		    &sealed, e)) != 0) {
			if (r == 1)
				err_set(e, "agent %s holds no share of KRA key "
				    "generation %d", row.name, k->generation);
			goto out;
		}
		if (open_sealed(&sealed, row.pk, ask, shares + got * SHARE_LEN,
		    SHARE_LEN, "the agent's share", e) != 0)
			goto out;
		got++;
		kra_blob_free(&sealed);
		store_kra_agent_row_free(&row);
		sodium_memzero(ask, sizeof(ask));
	}
	if (shamir_combine(shares, got, SK_LEN, sk, e) != 0)
		goto out;
	crypto_scalarmult_base(pk, sk);
	if (sodium_memcmp(pk, k->pk, PK_LEN) != 0) {
		err_set(e, "the shares do not rebuild KRA key generation %d",
		    k->generation);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		sodium_memzero(sk, SK_LEN);
	sodium_memzero(shares, sizeof(shares));
	sodium_memzero(ask, sizeof(ask));
	kra_blob_free(&sealed);
	store_kra_agent_row_free(&row);
	return rc;
}

/* Splits sk among every agent, each share sealed to the agent's key. */
static int
deal(struct store *st, int generation, const uint8_t sk[SK_LEN],
    unsigned m, struct err *e)
{
	uint8_t			 shares[SHAMIR_MAX_SHARES * SHARE_LEN];
	struct kra_agent_row	*rows = NULL;
	struct kra_blob		 sealed = { NULL, 0 };
	size_t			 n = 0, i;
	int			 rc = -1;

	if (store_kra_agent_list(st, &rows, &n, e) != 0)
		goto out;
	if (n > SHAMIR_MAX_SHARES) {
		err_set(e, "too many agents");
		goto out;
	}
	if (shamir_split(sk, SK_LEN, (unsigned)n, m, shares, e) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (seal_to(shares + i * SHARE_LEN, SHARE_LEN, rows[i].pk,
		    &sealed, e) != 0 ||
		    store_kra_share_put(st, generation, rows[i].name, &sealed,
		    e) != 0)
			goto out;
		kra_blob_free(&sealed);
	}
	rc = 0;
out:
	sodium_memzero(shares, sizeof(shares));
	kra_blob_free(&sealed);
	for (i = 0; i < n; i++)
		store_kra_agent_row_free(&rows[i]);
	free(rows);
	return rc;
}

static int
agent_names(struct store *st, char *buf, size_t size, unsigned *n,
    struct err *e)
{
	struct kra_agent_row	*rows = NULL;
	size_t			 cnt = 0, i, off = 0;

	if (store_kra_agent_list(st, &rows, &cnt, e) != 0)
		return -1;
	buf[0] = '\0';
	for (i = 0; i < cnt; i++) {
		off += (size_t)snprintf(buf + off, off < size ? size - off : 0,
		    "%s%s", i ? ", " : "", rows[i].name);
		if (off >= size)
			off = size - 1;
		store_kra_agent_row_free(&rows[i]);
	}
	free(rows);
	*n = (unsigned)cnt;
	return 0;
}

static int
no_open_recoveries(struct store *st, struct err *e)
{
	struct kra_counts	c;

	if (store_kra_counts(st, &c, e) != 0)
		return -1;
	if (c.open_recoveries > 0)
		return err_set(e, "%" PRId64 " recoveries are open; they must "
		    "finish or expire first (their approvals hold shares of the "
		    "current split)", c.open_recoveries);
	return 0;
}

int
kra_init(struct store *st, const struct kra_config *kc, const char *actor,
    const struct kra_agent_secret *agents, unsigned n, unsigned m,
    struct err *e)
{
	struct kra_key_row	 k;
	struct kra_agent_row	 row;
	uint8_t			 sk[SK_LEN];
	char			 names[1024], detail[1200];
	unsigned		 i, j, cnt;
	int			 r;

	memset(&k, 0, sizeof(k));
	sodium_memzero(sk, sizeof(sk));
	if (m < 2 || m > n)
		return err_set(e, "threshold %u of %u agents: need 2 <= "
		    "threshold <= agents", m, n);
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (strcmp(agents[i].name, agents[j].name) == 0)
				return err_set(e, "agent %s is named twice",
				    agents[i].name);
	if (store_begin(st, e) != 0)
		return -1;
	if ((r = store_kra_key_active(st, &k, e)) != 1) {
		if (r == 0)
			err_set(e, "the KRA already has a storage key "
			    "(generation %d); use kra rotate, add-agent or "
			    "remove-agent", k.generation);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		r = agent_new(st, kc, &agents[i], &row, e);
		store_kra_agent_row_free(&row);
		if (r != 0)
			goto fail;
	}
	/* the ceremony: a storage key pair whose secret half exists only
	 * as shares once this function returns */
	k.generation = 1;
	k.threshold = m;
	k.grace_days = kc->grace_days;
	crypto_box_keypair(k.pk, sk);
	if (store_kra_key_add(st, &k, e) != 0 ||
	    deal(st, k.generation, sk, m, e) != 0)
		goto fail;
	sodium_memzero(sk, sizeof(sk));
	if (agent_names(st, names, sizeof(names), &cnt, e) != 0)
		goto fail;
	snprintf(detail, sizeof(detail), "generation 1, threshold %u of %u "
	    "agents: %s", m, cnt, names);
	if (audit_append(st, actor, "kra.init", "kra", detail, e) != 0 ||
	    store_commit(st, e) != 0)
		goto fail;
	return 0;
fail:
	sodium_memzero(sk, sizeof(sk));
	store_rollback(st);
	return -1;
}

struct reseal {
	struct store		*st;
	const struct kra_key_row *old, *new;
	const uint8_t		*old_sk;
	int64_t			 escrows, requests;
	struct err		*e;
};

static int
reseal_escrow(void *arg, struct kra_escrow_row *r)
{
	struct reseal	*rs = arg;
	struct kra_blob	 out = { NULL, 0 };
	uint8_t		*m = NULL;
	size_t		 len;
	int		 rc = -1;

	if (r->generation != rs->old->generation)
		return err_set(rs->e, "escrow %s is sealed to retired generation "
		    "%d", r->serial, r->generation);
	if (r->sealed.len <= crypto_box_SEALBYTES)
		return err_set(rs->e, "escrow %s is damaged", r->serial);
	len = r->sealed.len - crypto_box_SEALBYTES;
	if ((m = malloc(len)) == NULL)
		return err_set(rs->e, "out of memory");
	if (crypto_box_seal_open(m, r->sealed.p, r->sealed.len, rs->old->pk,
	    rs->old_sk) != 0) {
		err_set(rs->e, "escrow %s does not open", r->serial);
		goto out;
	}
	if (seal_to(m, len, rs->new->pk, &out, rs->e) != 0 ||
	    store_kra_escrow_set(rs->st, r->serial, rs->new->generation, &out,
	    rs->e) != 0)
		goto out;
	rs->escrows++;
	rc = 0;
out:
	sodium_memzero(m, len);
	free(m);
	kra_blob_free(&out);
	return rc;
}

static int
reseal_request(void *arg, int64_t id, struct kra_blob *b)
{
	struct reseal	*rs = arg;
	struct kra_blob	 in, out = { NULL, 0 }, body = { NULL, 0 };
	uint8_t		*m = NULL;
	size_t		 len;
	int		 gen, rc = -1;

	if (b->len <= GEN_PREFIX + crypto_box_SEALBYTES)
		return err_set(rs->e, "request %" PRId64 ": damaged sealed key",
		    id);
	gen = (int)((uint32_t)b->p[0] << 24 | (uint32_t)b->p[1] << 16 |
	    (uint32_t)b->p[2] << 8 | b->p[3]);
	if (gen != rs->old->generation)
		return 0;	/* refused at issuance anyway */
	in.p = b->p + GEN_PREFIX;
	in.len = b->len - GEN_PREFIX;
	len = in.len - crypto_box_SEALBYTES;
	if ((m = malloc(len)) == NULL)
		return err_set(rs->e, "out of memory");
	if (crypto_box_seal_open(m, in.p, in.len, rs->old->pk, rs->old_sk)
	    != 0) {
		err_set(rs->e, "request %" PRId64 ": sealed key does not open",
		    id);
		goto out;
	}
	if (seal_to(m, len, rs->new->pk, &body, rs->e) != 0)
		goto out;
	out.len = GEN_PREFIX + body.len;
	if ((out.p = malloc(out.len)) == NULL) {
		err_set(rs->e, "out of memory");
		goto out;
	}
	out.p[0] = (uint8_t)(rs->new->generation >> 24);
	out.p[1] = (uint8_t)(rs->new->generation >> 16);
	out.p[2] = (uint8_t)(rs->new->generation >> 8);
	out.p[3] = (uint8_t)rs->new->generation;
	memcpy(out.p + GEN_PREFIX, body.p, body.len);
	if (store_kra_request_escrow_set(rs->st, id, &out, rs->e) != 0)
		goto out;
	rs->requests++;
	rc = 0;
out:
	sodium_memzero(m, len);
	free(m);
	kra_blob_free(&body);
	kra_blob_free(&out);
	return rc;
}

int
kra_rotate(struct store *st, const struct kra_config *kc, const char *actor,
    const struct kra_agent_secret *present, unsigned npresent, struct err *e)
{
	struct kra_key_row	 old, new;
	struct reseal		 rs;
	uint8_t			 old_sk[SK_LEN], new_sk[SK_LEN];
	char			 detail[256];
	int			 r;

	sodium_memzero(old_sk, sizeof(old_sk));
	sodium_memzero(new_sk, sizeof(new_sk));
	if (store_begin(st, e) != 0)
		return -1;
	if ((r = store_kra_key_active(st, &old, e)) != 0) {
		if (r == 1)
			err_set(e, "the KRA has no storage key; run kra init");
		goto fail;
	}
	if (no_open_recoveries(st, e) != 0 ||
	    rebuild(st, &old, present, npresent, old_sk, e) != 0)
		goto fail;
	memset(&new, 0, sizeof(new));
	new.generation = old.generation + 1;
	new.threshold = old.threshold;
	new.grace_days = kc->grace_days;
	crypto_box_keypair(new.pk, new_sk);
	if (store_kra_key_add(st, &new, e) != 0)
		goto fail;
	memset(&rs, 0, sizeof(rs));
	rs.st = st;
	rs.old = &old;
	rs.new = &new;
	rs.old_sk = old_sk;
	rs.e = e;
	if (store_kra_escrow_each(st, reseal_escrow, &rs, e) != 0 ||
	    store_kra_request_escrow_each(st, reseal_request, &rs, e) != 0)
		goto fail;
	sodium_memzero(old_sk, sizeof(old_sk));
	if (store_kra_shares_clear(st, old.generation, e) != 0 ||
	    deal(st, new.generation, new_sk, new.threshold, e) != 0)
		goto fail;
	sodium_memzero(new_sk, sizeof(new_sk));
	snprintf(detail, sizeof(detail), "generation %d -> %d; re-sealed %"
	    PRId64 " escrowed keys and %" PRId64 " pending requests",
	    old.generation, new.generation, rs.escrows, rs.requests);
	if (audit_append(st, actor, "kra.rotate", "kra", detail, e) != 0 ||
	    store_commit(st, e) != 0)
		goto fail;
	return 0;
fail:
	sodium_memzero(old_sk, sizeof(old_sk));
	sodium_memzero(new_sk, sizeof(new_sk));
	store_rollback(st);
	return -1;
}

static int
reshare(struct store *st, const struct kra_config *kc, const char *actor,
    const struct kra_agent_secret *newcomer, const char *leaver,
    const struct kra_agent_secret *present, unsigned npresent,
    struct err *e)
{
	struct kra_key_row	 k;
	struct kra_agent_row	 row;
	uint8_t			 sk[SK_LEN];
	char			 names[1024], detail[1400];
	unsigned		 cnt;
	int			 r;

	memset(&row, 0, sizeof(row));
	sodium_memzero(sk, sizeof(sk));
	if (store_begin(st, e) != 0)
		return -1;
	if ((r = store_kra_key_active(st, &k, e)) != 0) {
		if (r == 1)
			err_set(e, "the KRA has no storage key; run kra init");
		goto fail;
	}
	if (no_open_recoveries(st, e) != 0 ||
	    rebuild(st, &k, present, npresent, sk, e) != 0)
		goto fail;
	if (newcomer != NULL) {
		if ((r = store_kra_agent_get(st, newcomer->name, &row, e)) != 1) {
			if (r == 0)
				err_set(e, "%s is already a recovery agent",
				    newcomer->name);
			goto fail;
		}
		if (agent_new(st, kc, newcomer, &row, e) != 0)
			goto fail;
	} else {
		if ((r = store_kra_agent_get(st, leaver, &row, e)) != 0) {
			if (r == 1)
				err_set(e, "%s is not a recovery agent", leaver);
			goto fail;
		}
		if (agent_names(st, names, sizeof(names), &cnt, e) != 0)
			goto fail;
		if (cnt - 1 < k.threshold) {
			err_set(e, "removing %s would leave %u agents for a "
			    "threshold of %u", leaver, cnt - 1, k.threshold);
			goto fail;
		}
	}
	if (store_kra_shares_clear(st, k.generation, e) != 0 ||
	    (leaver != NULL && store_kra_agent_delete(st, leaver, e) != 0) ||
	    deal(st, k.generation, sk, k.threshold, e) != 0)
		goto fail;
	sodium_memzero(sk, sizeof(sk));
	if (agent_names(st, names, sizeof(names), &cnt, e) != 0)
		goto fail;
	snprintf(detail, sizeof(detail), "%s %s; generation %d re-shared, "
	    "threshold %u of %u agents: %s", newcomer ? "added" : "removed",
	    newcomer ? newcomer->name : leaver, k.generation, k.threshold, cnt,
	    names);
	if (audit_append(st, actor, newcomer ? "kra.agent.add" :
	    "kra.agent.remove", newcomer ? newcomer->name : leaver, detail,
	    e) != 0 || store_commit(st, e) != 0)
		goto fail;
	store_kra_agent_row_free(&row);
	return 0;
fail:
	sodium_memzero(sk, sizeof(sk));
	store_kra_agent_row_free(&row);
	store_rollback(st);
	return -1;
}

int
kra_add_agent(struct store *st, const struct kra_config *kc,
    const char *actor, const struct kra_agent_secret *newcomer,
    const struct kra_agent_secret *present, unsigned npresent, struct err *e)
{
	return reshare(st, kc, actor, newcomer, NULL, present, npresent, e);
}

int
kra_remove_agent(struct store *st, const struct kra_config *kc,
    const char *actor, const char *name, const struct kra_agent_secret *present,
    unsigned npresent, struct err *e)
{
	return reshare(st, kc, actor, NULL, name, present, npresent, e);
}

int
kra_status(struct store *st, struct kra_status *out, struct err *e)
{
	struct kra_key_row	k;
	struct kra_counts	c;
	int			r;

	memset(out, 0, sizeof(*out));
	if (store_begin(st, e) != 0)
		return -1;
	if ((r = store_kra_key_active(st, &k, e)) < 0 ||
	    store_kra_counts(st, &c, e) != 0 ||
	    agent_names(st, out->agents, sizeof(out->agents), &out->nagents,
	    e) != 0) {
		store_rollback(st);
		return -1;
	}
	store_rollback(st);	/* read only */
	if (r == 0) {
		out->generation = k.generation;
		out->threshold = k.threshold;
	}
	out->escrowed = c.escrowed;
	out->purgeable = c.purgeable;
	out->open_recoveries = c.open_recoveries;
	out->retired_generations = c.retired;
	return 0;
}

/* ---- escrow ---- */

int
kra_seal_key(struct store *st, gnutls_x509_privkey_t key, uint8_t **sealed,
    size_t *len, struct err *e)
{
	struct kra_key_row	k;
	gnutls_datum_t		der = { NULL, 0 };
	int			r, rc = -1;

	*sealed = NULL;
	*len = 0;
	if ((r = store_kra_key_active(st, &k, e)) != 0) {
		if (r == 1)
			err_set(e, "key recovery has no storage key; run "
			    "signet kra init");
		return -1;
	}
	/* RFC 5958 OneAsymmetricKey, unencrypted: the sealed box is the
	 * encryption */
	if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_DER, NULL,
	    GNUTLS_PKCS_PLAIN, &der) < 0) {
		err_set(e, "cannot export the key as PKCS#8");
		goto out;
	}
	*len = GEN_PREFIX + der.size + crypto_box_SEALBYTES;
	if ((*sealed = malloc(*len)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	(*sealed)[0] = (uint8_t)(k.generation >> 24);
	(*sealed)[1] = (uint8_t)(k.generation >> 16);
	(*sealed)[2] = (uint8_t)(k.generation >> 8);
	(*sealed)[3] = (uint8_t)k.generation;
	crypto_box_seal(*sealed + GEN_PREFIX, der.data, der.size, k.pk);
	rc = 0;
out:
	if (der.data != NULL) {
		gnutls_memset(der.data, 0, der.size);
		gnutls_free(der.data);
	}
	if (rc != 0) {
		free(*sealed);
		*sealed = NULL;
		*len = 0;
	}
	return rc;
}

void
kra_sealed_free(uint8_t *sealed, size_t len)
{
	if (sealed == NULL)
		return;
	sodium_memzero(sealed, len);
	free(sealed);
}

/*
 * RFC 5280 4.2.1.3 keyUsage: an escrowable key is an encryption key --
 * keyEncipherment (RSA) or keyAgreement (EC) -- and never a signing key
 * (digitalSignature, nonRepudiation): DESIGN.md, Key recovery.
 */
static int
escrowable(const gnutls_datum_t *cert_der, struct err *e)
{
	gnutls_x509_crt_t	crt = NULL;
	unsigned		ku = 0, crit = 0;
	int			rc = -1;

	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, cert_der, GNUTLS_X509_FMT_DER) < 0) {
		err_set(e, "escrow: the certificate does not parse");
		goto out;
	}
	if (gnutls_x509_crt_get_key_usage(crt, &ku, &crit) < 0) {
		err_set(e, "escrow refused: the certificate has no keyUsage "
		    "(RFC 5280 4.2.1.3)");
		goto out;
	}
	if (ku & (GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_NON_REPUDIATION)) {
		err_set(e, "escrow refused: the certificate's keyUsage has "
		    "digitalSignature or nonRepudiation; signing keys are never "
		    "escrowed");
		goto out;
	}
	if (!(ku & (GNUTLS_KEY_KEY_ENCIPHERMENT | GNUTLS_KEY_KEY_AGREEMENT))) {
		err_set(e, "escrow refused: the certificate's keyUsage has "
		    "neither keyEncipherment nor keyAgreement");
		goto out;
	}
	rc = 0;
out:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

static int
escrow_do(struct store *st, const char *actor, int64_t request_id,
    const char *serial, const gnutls_datum_t *cert_der, const uint8_t *sealed,
    size_t sealed_len, struct err *e)
{
	struct kra_key_row	 k;
	struct kra_blob		 body;
	char			 detail[128];
	int			 gen, r;

	if (escrowable(cert_der, e) != 0)
		return -1;
	if (sealed_len <= GEN_PREFIX + crypto_box_SEALBYTES)
		return err_set(e, "escrow: the sealed key is too short");
	gen = (int)((uint32_t)sealed[0] << 24 | (uint32_t)sealed[1] << 16 |
	    (uint32_t)sealed[2] << 8 | sealed[3]);
	if ((r = store_kra_key_active(st, &k, e)) != 0) {
		if (r == 1)
			err_set(e, "escrow: key recovery has no storage key");
		return -1;
	}
	if (gen != k.generation)
		return err_set(e, "escrow: the key is sealed to KRA key "
		    "generation %d but generation %d is active", gen,
		    k.generation);
	body.p = (uint8_t *)sealed + GEN_PREFIX;
	body.len = sealed_len - GEN_PREFIX;
	if ((r = store_kra_escrow_insert(st, serial, request_id, gen,
	    k.grace_days, &body, e)) != 0) {
		if (r == 1)
			err_set(e, "escrow: certificate %s has an escrowed key "
			    "already", serial);
		return -1;
	}
	snprintf(detail, sizeof(detail), "request %" PRId64 ", generation %d",
	    request_id, gen);
	return audit_append(st, actor, "kra.escrow", serial, detail, e);
}

int
kra_escrow_tx(struct store *st, int64_t request_id, const char *serial,
    const gnutls_datum_t *cert_der, const uint8_t *sealed, size_t sealed_len,
    struct err *e)
{
	return escrow_do(st, "ca-serve", request_id, serial, cert_der, sealed,
	    sealed_len, e);
}

/* Reads a certificate's public key and its SPKI hash. */
static int
cert_spki(const gnutls_datum_t *der, uint8_t out[32], struct err *e)
{
	gnutls_x509_crt_t	crt = NULL;
	gnutls_pubkey_t		pub = NULL;
	int			rc = -1;

	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_x509(pub, crt, 0) < 0)
		err_set(e, "the certificate does not parse");
	else
		rc = keys_spki_sha256(pub, out, e);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

int
kra_key_matches_cert(gnutls_x509_privkey_t key, const gnutls_datum_t *cert,
    struct err *e)
{
	gnutls_privkey_t	pk = NULL;
	gnutls_pubkey_t		pub = NULL;
	uint8_t			a[32], b[32];
	int			rc = -1;

	if (gnutls_privkey_init(&pk) < 0 ||
	    gnutls_privkey_import_x509(pk, key, 0) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_privkey(pub, pk, 0, 0) < 0) {
		err_set(e, "cannot read the key's public half");
		goto out;
	}
	if (keys_spki_sha256(pub, a, e) != 0 || cert_spki(cert, b, e) != 0)
		goto out;
	if (memcmp(a, b, 32) != 0) {
		err_set(e, "the key does not belong to the certificate");
		goto out;
	}
	rc = 0;
out:
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(pk);
	return rc;
}

struct cert_copy {
	uint8_t	*der;
	size_t	 len;
};

static int
cert_copy_fn(void *arg, const struct cert_row *r)
{
	struct cert_copy	*c = arg;

	if ((c->der = malloc(r->der_len)) == NULL)
		return 1;	/* c->der == NULL says why */
	memcpy(c->der, r->der, r->der_len);
	c->len = r->der_len;
	return 0;
}

/* A certificate's DER by serial (malloc'd). */
static int
cert_der(struct store *st, const char *serial, struct cert_copy *c,
    struct err *e)
{
	int	r;

	c->der = NULL;
	c->len = 0;
	if ((r = store_cert_get(st, serial, cert_copy_fn, c, e)) < 0)
		return -1;
	if (r == 1)
		return err_set(e, "no certificate %s", serial);
	if (c->der == NULL)
		return err_set(e, "out of memory");
	return 0;
}

int
kra_escrow_key(struct store *st, const char *actor, const char *serial,
    gnutls_x509_privkey_t key, struct err *e)
{
	struct cert_copy	 c = { NULL, 0 };
	uint8_t			*sealed = NULL;
	size_t			 len = 0;
	gnutls_datum_t		 der;
	int			 rc = -1;

	if (store_begin(st, e) != 0)
		return -1;
	if (cert_der(st, serial, &c, e) != 0)
		goto out;
	der.data = c.der;
	der.size = (unsigned)c.len;
	if (escrowable(&der, e) != 0 ||
	    kra_key_matches_cert(key, &der, e) != 0 ||
	    kra_seal_key(st, key, &sealed, &len, e) != 0 ||
	    escrow_do(st, actor, 0, serial, &der, sealed, len, e) != 0 ||
	    store_commit(st, e) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		store_rollback(st);
	kra_sealed_free(sealed, len);
	free(c.der);
	return rc;
}

/* ---- recovery ---- */

/* Closes open recoveries whose window has passed (caller's transaction). */
static int
expire_due(struct store *st, const char *actor, int64_t *n, struct err *e)
{
	int64_t	*ids = NULL;
	size_t	 cnt = 0, i;
	char	 sub[32];
	int	 rc = -1;

	if (store_kra_recovery_due(st, &ids, &cnt, e) != 0)
		goto out;
	for (i = 0; i < cnt; i++) {
		snprintf(sub, sizeof(sub), "recovery %" PRId64, ids[i]);
		if (store_kra_recovery_close(st, ids[i], "expired", e) != 0 ||
		    audit_append(st, actor, "kra.recovery.expire", sub,
		    "window passed; approvals discarded, nothing recovered",
		    e) != 0)
			goto out;
	}
	if (n != NULL)
		*n = (int64_t)cnt;
	rc = 0;
out:
	free(ids);
	return rc;
}

int
kra_recovery_open(struct store *st, const struct kra_config *kc,
    const char *actor, const char *serial, const char *reason, int64_t *id,
    struct err *e)
{
	struct kra_key_row	 k;
	struct kra_escrow_row	 esc;
	struct kra_agent_row	*rows = NULL;
	struct kra_blob		 sealed = { NULL, 0 };
	uint8_t			 eph_pk[PK_LEN], eph_sk[SK_LEN];
	char			 detail[600];
	const char		*p;
	size_t			 n = 0, i;
	int			 r, rc = -1;

	memset(&esc, 0, sizeof(esc));
	sodium_memzero(eph_sk, sizeof(eph_sk));
	for (p = reason != NULL ? reason : ""; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '\0')
		return err_set(e, "a recovery needs a reason");
	if (strlen(reason) > 500)
		return err_set(e, "the reason is longer than 500 characters");
	if (store_begin(st, e) != 0)
		return -1;
	if (expire_due(st, actor, NULL, e) != 0)
		goto out;
	if ((r = store_kra_key_active(st, &k, e)) != 0) {
		if (r == 1)
			err_set(e, "key recovery has no storage key");
		goto out;
	}
	if ((r = store_kra_escrow_get(st, serial, &esc, e)) != 0) {
		if (r == 1)
			err_set(e, "no escrowed key for certificate %s", serial);
		goto out;
	}
	if (esc.generation != k.generation) {
		err_set(e, "escrow %s is sealed to retired generation %d",
		    serial, esc.generation);
		goto out;
	}
	crypto_box_keypair(eph_pk, eph_sk);
	if ((r = store_kra_recovery_insert(st, serial, reason, actor,
	    kc->window_hours, k.generation, k.threshold, eph_pk, id, e)) != 0) {
		if (r == 1)
			err_set(e, "certificate %s already has a recovery in "
			    "progress", serial);
		goto out;
	}
	/* the recovery key goes to every agent: whoever approves last
	 * opens the shares approved before */
	if (store_kra_agent_list(st, &rows, &n, e) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (seal_to(eph_sk, SK_LEN, rows[i].pk, &sealed, e) != 0 ||
		    store_kra_recovery_key_put(st, *id, rows[i].name, &sealed,
		    e) != 0)
			goto out;
		kra_blob_free(&sealed);
	}
	sodium_memzero(eph_sk, sizeof(eph_sk));
	snprintf(detail, sizeof(detail), "recovery %" PRId64 " of %s's key, "
	    "%u approvals needed: %s", *id, esc.email, k.threshold, reason);
	if (audit_append(st, actor, "kra.recovery.open", serial, detail,
	    e) != 0 || store_commit(st, e) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		store_rollback(st);
	sodium_memzero(eph_sk, sizeof(eph_sk));
	kra_blob_free(&sealed);
	for (i = 0; i < n; i++)
		store_kra_agent_row_free(&rows[i]);
	free(rows);
	store_kra_escrow_row_free(&esc);
	return rc;
}

static char *
otp_new(void)
{
	static const char	 b32[] = "abcdefghijkmnpqrstuvwxyz23456789";
	uint8_t			 r[OTP_CHARS];
	char			*otp;
	size_t			 i;

	if ((otp = malloc(OTP_CHARS + 1)) == NULL)
		return NULL;
	randombytes_buf(r, sizeof(r));
	for (i = 0; i < OTP_CHARS; i++)
		otp[i] = b32[r[i] & 31];
	otp[OTP_CHARS] = '\0';
	sodium_memzero(r, sizeof(r));
	return otp;
}

/* BLAKE2b-256 of the one-time password, hex. */
static void
otp_digest(const char *otp, char out[65])
{
	uint8_t	d[32];

	crypto_generichash(d, sizeof(d), (const uint8_t *)otp, strlen(otp),
	    NULL, 0);
	sodium_bin2hex(out, 65, d, sizeof(d));
}

void
kra_otp_free(char *otp)
{
	if (otp == NULL)
		return;
	sodium_memzero(otp, strlen(otp));
	free(otp);
}

/*
 * The M-th approval: rebuild the storage key from the stored shares and
 * this agent's, unseal the escrowed key, check it, wrap it as PKCS#12.
 */
static int
recover(struct store *st, const struct kra_config *kc, const char *actor,
    const struct kra_rec_row *rec, const struct kra_agent_row *agent,
    const uint8_t agent_sk[SK_LEN], const uint8_t own[SHARE_LEN], char **otp,
    struct err *e)
{
	uint8_t			 shares[SHAMIR_MAX_SHARES * SHARE_LEN];
	uint8_t			 eph_sk[SK_LEN], sk[SK_LEN], pk[PK_LEN];
	struct kra_blob		 sealed_eph = { NULL, 0 }, *stored = NULL;
	struct kra_blob		 ca = { NULL, 0 }, p12b = { NULL, 0 };
	struct kra_escrow_row	 esc;
	struct kra_key_row	 k;
	gnutls_x509_privkey_t	 key = NULL;
	gnutls_datum_t		 pkcs8 = { NULL, 0 }, chain[2], p12 = { NULL, 0 };
	char			 hash[65], sub[32];
	size_t			 nstored = 0, i, got = 0;
	int			 r, rc = -1;

	memset(&esc, 0, sizeof(esc));
	sodium_memzero(eph_sk, sizeof(eph_sk));
	sodium_memzero(sk, sizeof(sk));
	*otp = NULL;
	if ((r = store_kra_recovery_key_get(st, rec->id, agent->name,
	    &sealed_eph, e)) != 0) {
		if (r == 1)
			err_set(e, "agent %s joined after recovery %" PRId64
			    " was opened and cannot complete it", agent->name,
			    rec->id);
		goto out;
	}
	if (!rec->has_eph ||
	    open_sealed(&sealed_eph, agent->pk, agent_sk, eph_sk, SK_LEN,
	    "the recovery key", e) != 0 ||
	    store_kra_approval_shares(st, rec->id, &stored, &nstored, e) != 0)
		goto out;
	memcpy(shares, own, SHARE_LEN);
	got = 1;
	for (i = 0; i < nstored && got < rec->threshold; i++) {
		if (open_sealed(&stored[i], rec->eph_pk, eph_sk,
		    shares + got * SHARE_LEN, SHARE_LEN, "an approved share",
		    e) != 0)
			goto out;
		got++;
	}
	sodium_memzero(eph_sk, sizeof(eph_sk));
	if (got < rec->threshold) {
		err_set(e, "recovery %" PRId64 ": %zu shares for a threshold of "
		    "%u", rec->id, got, rec->threshold);
		goto out;
	}
	if ((r = store_kra_key_get(st, rec->generation, &k, e)) != 0) {
		if (r == 1)
			err_set(e, "no KRA key generation %d", rec->generation);
		goto out;
	}
	if (shamir_combine(shares, (unsigned)got, SK_LEN, sk, e) != 0)
		goto out;
	sodium_memzero(shares, sizeof(shares));
	crypto_scalarmult_base(pk, sk);
	if (sodium_memcmp(pk, k.pk, PK_LEN) != 0) {
		err_set(e, "the approved shares do not rebuild KRA key "
		    "generation %d", k.generation);
		goto out;
	}
	if ((r = store_kra_escrow_get(st, rec->serial, &esc, e)) != 0) {
		if (r == 1)
			err_set(e, "the escrowed key of %s is gone", rec->serial);
		goto out;
	}
	if (esc.generation != k.generation ||
	    esc.sealed.len <= crypto_box_SEALBYTES) {
		err_set(e, "escrow %s is not sealed to generation %d",
		    rec->serial, k.generation);
		goto out;
	}
	pkcs8.size = (unsigned)(esc.sealed.len - crypto_box_SEALBYTES);
	if ((pkcs8.data = gnutls_malloc(pkcs8.size)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (crypto_box_seal_open(pkcs8.data, esc.sealed.p, esc.sealed.len,
	    k.pk, sk) != 0) {
		err_set(e, "escrow %s does not open", rec->serial);
		goto out;
	}
	sodium_memzero(sk, sizeof(sk));
	if (gnutls_x509_privkey_init(&key) < 0 ||
	    gnutls_x509_privkey_import_pkcs8(key, &pkcs8, GNUTLS_X509_FMT_DER,
	    NULL, GNUTLS_PKCS_PLAIN) < 0) {
		err_set(e, "escrow %s: the key does not parse", rec->serial);
		goto out;
	}
	chain[0].data = esc.cert.p;
	chain[0].size = (unsigned)esc.cert.len;
	if (kra_key_matches_cert(key, &chain[0], e) != 0) {
		err_wrap(e, "escrow %s", rec->serial);
		goto out;
	}
	if ((r = store_kra_ca_cert(st, &ca, e)) != 0) {
		if (r == 1)
			err_set(e, "no CA certificate in the database");
		goto out;
	}
	chain[1].data = ca.p;
	chain[1].size = (unsigned)ca.len;
	if ((*otp = otp_new()) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (p12_build(key, chain, 2, *otp, kc->p12_format, esc.email, &p12,
	    e) != 0)
		goto out;
	/* the one-time password is random (130 bits): a plain hash suffices,
	 * no password stretching needed */
	otp_digest(*otp, hash);
	p12b.p = p12.data;
	p12b.len = p12.size;
	snprintf(sub, sizeof(sub), "recovery %" PRId64, rec->id);
	if (store_kra_approval_insert(st, rec->id, agent->name, NULL, e) != 0 ||
	    store_kra_recovered_put(st, rec->id, &p12b, hash, e) != 0 ||
	    store_kra_recovery_close(st, rec->id, "approved", e) != 0 ||
	    audit_append(st, actor, "kra.recovery.approve", sub,
	    agent->name, e) != 0 ||
	    audit_append(st, actor, "kra.recovery.recover", rec->serial,
	    "key rebuilt, checked against the certificate and wrapped as "
	    "PKCS#12 under a one-time password", e) != 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(shares, sizeof(shares));
	sodium_memzero(eph_sk, sizeof(eph_sk));
	sodium_memzero(sk, sizeof(sk));
	if (rc != 0) {
		kra_otp_free(*otp);
		*otp = NULL;
	}
	if (pkcs8.data != NULL) {
		gnutls_memset(pkcs8.data, 0, pkcs8.size);
		gnutls_free(pkcs8.data);
	}
	if (p12.data != NULL) {
		gnutls_memset(p12.data, 0, p12.size);
		gnutls_free(p12.data);
	}
	gnutls_x509_privkey_deinit(key);
	kra_blob_free(&sealed_eph);
	for (i = 0; i < nstored; i++)
		kra_blob_free(&stored[i]);
	free(stored);
	kra_blob_free(&ca);
	store_kra_escrow_row_free(&esc);
	return rc;
}

int
kra_recovery_approve(struct store *st, const struct kra_config *kc,
    const char *actor, int64_t id, const char *agent, const char *passphrase,
    char **otp, struct err *e)
{
	struct kra_rec_row	 rec;
	struct kra_agent_row	 row;
	struct kra_blob		 sealed = { NULL, 0 }, fwd = { NULL, 0 };
	uint8_t			 ask[SK_LEN], share[SHARE_LEN];
	char			 sub[32], detail[128];
	int			 r, yes, rc = -1;

	*otp = NULL;
	memset(&row, 0, sizeof(row));
	sodium_memzero(ask, sizeof(ask));
	sodium_memzero(share, sizeof(share));
	if (store_begin(st, e) != 0)
		return -1;
	if ((r = store_kra_recovery_lock(st, id, &rec, e)) != 0) {
		if (r == 1)
			err_set(e, "no recovery %" PRId64, id);
		goto fail;
	}
	if (strcmp(rec.state, "open") != 0) {
		err_set(e, "recovery %" PRId64 " is %s, not open", id,
		    rec.state);
		goto fail;
	}
	if (rec.window_passed) {
		/* record the expiry, then refuse */
		snprintf(sub, sizeof(sub), "recovery %" PRId64, id);
		if (store_kra_recovery_close(st, id, "expired", e) != 0 ||
		    audit_append(st, actor, "kra.recovery.expire", sub,
		    "window passed; approvals discarded, nothing recovered",
		    e) != 0 || store_commit(st, e) != 0)
			goto fail;
		return err_set(e, "recovery %" PRId64 " has expired; nothing "
		    "was recovered", id);
	}
	if ((r = store_kra_agent_get(st, agent, &row, e)) != 0) {
		if (r == 1)
			err_set(e, "%s is not a recovery agent", agent);
		goto fail;
	}
	if (store_kra_approval_exists(st, id, agent, &yes, e) != 0)
		goto fail;
	if (yes) {
		err_set(e, "agent %s has already approved recovery %" PRId64
		    "; another agent must approve", agent, id);
		goto fail;
	}
	if (agent_unlock(&row, passphrase, ask, e) != 0)
		goto fail;
	if ((r = store_kra_share_get(st, rec.generation, agent, &sealed,
	    e)) != 0) {
		if (r == 1)
			err_set(e, "agent %s holds no share of KRA key "
			    "generation %d", agent, rec.generation);
		goto fail;
	}
	if (open_sealed(&sealed, row.pk, ask, share, SHARE_LEN,
	    "the agent's share", e) != 0)
		goto fail;
	if (rec.approvals + 1 >= rec.threshold) {
		if (recover(st, kc, actor, &rec, &row, ask, share, otp, e) != 0)
			goto fail;
		rc = 1;
	} else {
		if (!rec.has_eph ||
		    seal_to(share, SHARE_LEN, rec.eph_pk, &fwd, e) != 0)
			goto fail;
		if ((r = store_kra_approval_insert(st, id, agent, &fwd,
		    e)) != 0) {
			if (r == 1)
				err_set(e, "agent %s has already approved "
				    "recovery %" PRId64, agent, id);
			goto fail;
		}
		snprintf(sub, sizeof(sub), "recovery %" PRId64, id);
		snprintf(detail, sizeof(detail), "%s: approval %u of %u",
		    agent, rec.approvals + 1, rec.threshold);
		if (audit_append(st, actor, "kra.recovery.approve", sub, detail,
		    e) != 0)
			goto fail;
		rc = 0;
	}
	if (store_commit(st, e) != 0) {
		kra_otp_free(*otp);
		*otp = NULL;
		rc = -1;
	}
	goto out;
fail:
	store_rollback(st);
	kra_otp_free(*otp);
	*otp = NULL;
	rc = -1;
out:
	sodium_memzero(ask, sizeof(ask));
	sodium_memzero(share, sizeof(share));
	kra_blob_free(&sealed);
	kra_blob_free(&fwd);
	store_kra_agent_row_free(&row);
	return rc;
}

/* Who fetches a recovered PKCS#12. */
enum fetcher { FETCH_ADMIN, FETCH_OWNER, FETCH_OFFICER };

struct owner_copy {
	char	email[256];
	int	found;
};

static int
owner_copy_fn(void *arg, const struct cert_row *r)
{
	struct owner_copy	*o = arg;

	snprintf(o->email, sizeof(o->email), "%s", r->email);
	o->found = 1;
	return 0;
}

/* Whether the certificate serial belongs to the mailbox owner. */
static int
is_owner(struct store *st, const char *serial, const char *owner, int *yes,
    struct err *e)
{
	struct owner_copy	o = { "", 0 };

	*yes = 0;
	if (store_cert_get(st, serial, owner_copy_fn, &o, e) < 0)
		return -1;
	*yes = o.found && strcasecmp(o.email, owner) == 0;
	return 0;
}

static int
fetch_do(struct store *st, const struct kra_config *kc, const char *actor,
    int64_t id, enum fetcher who, const char *owner, const char *otp,
    gnutls_datum_t *p12, struct err *e)
{
	struct kra_rec_row	 rec;
	struct kra_blob		 b = { NULL, 0 };
	char			 hash[256], want[65], sub[32];
	int			 r, yes, rc = -1;

	p12->data = NULL;
	p12->size = 0;
	/* DESIGN.md, key recovery: an officer takes a departed employee's
	 * key only where the configuration says so. */
	if (who == FETCH_OFFICER && (kc == NULL || !kc->officer_fetch))
		return err_set(e, "officers may not download recovered keys "
		    "here ([kra] officer_fetch = no); the owner downloads it");
	if (store_begin(st, e) != 0)
		return -1;
	if ((r = store_kra_recovery_lock(st, id, &rec, e)) != 0) {
		if (r == 1)
			err_set(e, "no recovery %" PRId64, id);
		goto out;
	}
	if (who == FETCH_OWNER) {
		if (is_owner(st, rec.serial, owner, &yes, e) != 0)
			goto out;
		if (!yes) {
			/* someone else's recovery looks like none at all */
			err_set(e, "no recovery %" PRId64, id);
			goto out;
		}
	}
	if (strcmp(rec.state, "approved") != 0) {
		err_set(e, "recovery %" PRId64 " is %s%s", id, rec.state,
		    strcmp(rec.state, "fetched") == 0 ?
		    ": its PKCS#12 was downloaded once and deleted" :
		    ", nothing to fetch");
		goto out;
	}
	if ((r = store_kra_recovered_get(st, id, &b, hash, e)) != 0) {
		if (r == 1)
			err_set(e, "recovery %" PRId64 ": no PKCS#12", id);
		goto out;
	}
	otp_digest(otp, want);
	if (strlen(hash) != strlen(want) ||
	    sodium_memcmp(hash, want, strlen(want)) != 0) {
		err_set(e, "wrong one-time password for recovery %" PRId64, id);
		goto out;
	}
	snprintf(sub, sizeof(sub), "recovery %" PRId64, id);
	if (store_kra_recovered_take(st, id, actor, e) != 0 ||
	    audit_append(st, actor, "kra.recovery.fetch", sub, rec.serial,
	    e) != 0)
		goto out;
	if ((p12->data = gnutls_malloc(b.len)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	memcpy(p12->data, b.p, b.len);
	p12->size = (unsigned)b.len;
	if (store_commit(st, e) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		store_rollback(st);
		if (p12->data != NULL) {
			gnutls_memset(p12->data, 0, p12->size);
			gnutls_free(p12->data);
			p12->data = NULL;
			p12->size = 0;
		}
	}
	kra_blob_free(&b);
	return rc;
}

int
kra_recovery_fetch(struct store *st, const char *actor, int64_t id,
    const char *otp, gnutls_datum_t *p12, struct err *e)
{
	return fetch_do(st, NULL, actor, id, FETCH_ADMIN, NULL, otp, p12, e);
}

int
kra_recovery_fetch_as(struct store *st, const struct kra_config *kc,
    const char *actor, int64_t id, const char *owner_email, const char *otp,
    gnutls_datum_t *p12, struct err *e)
{
	return fetch_do(st, kc, actor, id, owner_email != NULL ? FETCH_OWNER :
	    FETCH_OFFICER, owner_email, otp, p12, e);
}

struct list_ctx {
	kra_recovery_fn	 fn;
	void		*arg;
};

static int
list_fn(void *arg, const struct kra_rec_view *v)
{
	struct list_ctx		*c = arg;
	struct kra_recovery	 r;

	r.id = v->id;
	r.serial = v->serial;
	r.email = v->email;
	r.reason = v->reason;
	r.opened_by = v->opened_by;
	r.opened_at = v->opened_at;
	r.state = v->state;
	r.window_expires = v->window_expires;
	r.approvals = v->approvals;
	r.threshold = v->threshold;
	return c->fn(c->arg, &r);
}

int
kra_recovery_list(struct store *st, const char *email, kra_recovery_fn fn,
    void *arg, struct err *e)
{
	struct list_ctx	c = { fn, arg };

	return store_kra_recovery_list(st, email, list_fn, &c, e);
}

int
kra_purge(struct store *st, const char *actor, int64_t *purged,
    int64_t *expired, struct err *e)
{
	char	detail[96];

	*purged = *expired = 0;
	if (store_begin(st, e) != 0)
		return -1;
	if (expire_due(st, actor, expired, e) != 0 ||
	    store_kra_escrow_purge(st, purged, e) != 0)
		goto fail;
	snprintf(detail, sizeof(detail), "%" PRId64 " escrowed keys past "
	    "certificate expiry + grace removed", *purged);
	if (audit_append(st, actor, "kra.purge", "kra", detail, e) != 0 ||
	    store_commit(st, e) != 0)
		goto fail;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

/* ---- enrolment helpers ---- */

void
kra_encryption_key_free(struct kra_enc_key *k)
{
	if (k == NULL)
		return;
	gnutls_free(k->csr.data);
	k->csr.data = NULL;
	kra_sealed_free(k->escrow, k->escrow_len);
	k->escrow = NULL;
	if (k->pickup.data != NULL) {
		gnutls_memset(k->pickup.data, 0, k->pickup.size);
		gnutls_free(k->pickup.data);
		k->pickup.data = NULL;
	}
}

int
kra_encryption_key_new(struct store *st, const char *key_type,
    const char *email, const char *password, struct kra_enc_key *out,
    struct err *e)
{
	gnutls_x509_privkey_t	 key = NULL;
	gnutls_privkey_t	 pkey = NULL;
	gnutls_x509_crq_t	 crq = NULL;
	int			 rc = -1;

	memset(out, 0, sizeof(*out));
	if (password == NULL || *password == '\0')
		return err_set(e, "the pickup password must not be empty");
	if (keys_generate(key_type, &key, e) != 0)
		goto out;
	/* RFC 2986 PKCS#10, self-signed by the new key (proof of possession
	 * for csr_parse; the RA made the key, so it proves nothing more) */
	if (gnutls_x509_crq_init(&crq) < 0 ||
	    gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0,
	    email, (unsigned)strlen(email)) < 0 ||
	    gnutls_x509_crq_set_version(crq, 1) < 0 ||
	    gnutls_x509_crq_set_key(crq, key) < 0 ||
	    gnutls_privkey_init(&pkey) < 0 ||
	    gnutls_privkey_import_x509(pkey, key, 0) < 0 ||
	    gnutls_x509_crq_privkey_sign(crq, pkey, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &out->csr) < 0) {
		err_set(e, "cannot build the encryption key's request");
		goto out;
	}
	if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_DER,
	    password, GNUTLS_PKCS_PBES2_AES_256, &out->pickup) < 0) {
		err_set(e, "cannot encrypt the key for pickup");
		goto out;
	}
	if (kra_seal_key(st, key, &out->escrow, &out->escrow_len, e) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		kra_encryption_key_free(out);
	gnutls_x509_crq_deinit(crq);
	gnutls_privkey_deinit(pkey);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

int
kra_enrol_dual(struct store *st, const char *actor, const char *key_type,
    const struct ra_request *sig, const char *password, int64_t *sig_id,
    int64_t *enc_id, struct err *e)
{
	struct kra_enc_key	 k;
	struct ra_request	 r, enc;
	struct csr		*csr;
	int			 rc = -1;

	*sig_id = *enc_id = 0;
	if (sig->email == NULL) {
		err_set(e, "a request needs a mailbox");
		return 1;
	}
	/* the signing certificate: the employee's own key, never escrowed
	 * (DESIGN.md, key recovery); checked before any key is made, and
	 * a refusal is the request's fault (1), not the service's (-1) */
	r = *sig;
	r.profile = "signing";
	r.key_escrow = r.key_pickup = NULL;
	r.key_escrow_len = r.key_pickup_len = 0;
	r.batch_id = 0;
	if ((csr = ra_check(&r, e)) == NULL)
		return 1;
	if (kra_encryption_key_new(st, key_type, sig->email, password, &k,
	    e) != 0) {
		csr_free(csr);
		return -1;
	}
	if (store_begin(st, e) != 0)
		goto out;
	if (ra_store_tx(st, actor, &r, csr, sig_id, e) != 0)
		goto fail;
	/* the encryption certificate: the RA's key, escrowed, one batch */
	enc = r;
	enc.source = "server";
	enc.profile = "encryption";
	enc.csr = k.csr.data;
	enc.csr_len = k.csr.size;
	enc.key_escrow = k.escrow;
	enc.key_escrow_len = k.escrow_len;
	enc.key_pickup = k.pickup.data;
	enc.key_pickup_len = k.pickup.size;
	enc.batch_id = *sig_id;
	if (ra_submit_tx(st, actor, &enc, enc_id, e) != 0)
		goto fail;
	ra_wake(st);
	if (store_commit(st, e) != 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	store_rollback(st);
	*sig_id = *enc_id = 0;
out:
	csr_free(csr);
	kra_encryption_key_free(&k);
	return rc;
}

int
kra_pickup(struct store *st, const char *actor, int64_t request_id,
    const char *requester, const char *password, enum p12_format fmt,
    gnutls_datum_t *p12, struct err *e)
{
	struct kra_pickup_row	 row;
	struct kra_blob		 ca = { NULL, 0 };
	gnutls_x509_privkey_t	 key = NULL;
	gnutls_datum_t		 enc, chain[2];
	char			 sub[32];
	int			 r, rc = -1;

	memset(&row, 0, sizeof(row));
	p12->data = NULL;
	p12->size = 0;
	if (store_begin(st, e) != 0)
		return -1;
	if ((r = store_kra_pickup_get(st, request_id, &row, e)) != 0) {
		if (r == 1)
			err_set(e, "no request %" PRId64, request_id);
		goto out;
	}
	if (requester != NULL && strcmp(requester, row.requester) != 0) {
		err_set(e, "no request %" PRId64, request_id);
		goto out;
	}
	if (strcmp(row.state, "issued") != 0) {
		err_set(e, "request %" PRId64 " is %s, not issued yet",
		    request_id, row.state);
		goto out;
	}
	if (row.key_pickup.p == NULL) {
		err_set(e, "request %" PRId64 ": the key was picked up already "
		    "(or was made elsewhere); it is kept nowhere now",
		    request_id);
		goto out;
	}
	enc.data = row.key_pickup.p;
	enc.size = (unsigned)row.key_pickup.len;
	if (gnutls_x509_privkey_init(&key) < 0 ||
	    gnutls_x509_privkey_import_pkcs8(key, &enc, GNUTLS_X509_FMT_DER,
	    password, 0) < 0) {
		err_set(e, "wrong password for request %" PRId64, request_id);
		goto out;
	}
	chain[0].data = row.cert.p;
	chain[0].size = (unsigned)row.cert.len;
	if (kra_key_matches_cert(key, &chain[0], e) != 0)
		goto out;
	if ((r = store_kra_ca_cert(st, &ca, e)) != 0) {
		if (r == 1)
			err_set(e, "no CA certificate in the database");
		goto out;
	}
	chain[1].data = ca.p;
	chain[1].size = (unsigned)ca.len;
	snprintf(sub, sizeof(sub), "request %" PRId64, request_id);
	if (p12_build(key, chain, 2, password, fmt, row.email, p12, e) != 0 ||
	    store_kra_pickup_clear(st, request_id, e) != 0 ||
	    audit_append(st, actor, "key.pickup", sub, row.serial, e) != 0 ||
	    store_commit(st, e) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		store_rollback(st);
		if (p12->data != NULL) {
			gnutls_memset(p12->data, 0, p12->size);
			gnutls_free(p12->data);
			p12->data = NULL;
		}
	}
	gnutls_x509_privkey_deinit(key);
	kra_blob_free(&ca);
	store_kra_pickup_row_free(&row);
	return rc;
}
