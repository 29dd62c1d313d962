/*
 * kra: the key recovery agent -- escrow of encryption keys and M-of-N
 * recovery (DESIGN.md, Key recovery; issue 7).
 *
 * Keys and what seals what (libsodium):
 *   storage key    X25519 crypto_box key pair, one active generation. Each
 *                  escrowed key (PKCS#8, RFC 5958) is crypto_box_seal'ed to
 *                  its public key. The secret key is split into N Shamir
 *                  shares over GF(2^8) (shamir.h), threshold M, and wiped.
 *   agent key      each recovery agent has an X25519 key pair; the secret
 *                  key is crypto_secretbox'ed under argon2id(passphrase,
 *                  random salt). Shares are crypto_box_seal'ed to agent
 *                  public keys, so re-sharing (rotate, add/remove agent)
 *                  needs only the M agents present, not all N.
 *   recovery key   each recovery gets an X25519 key pair. Its secret key is
 *                  sealed to every agent's public key. An approving agent
 *                  opens their share and re-seals it to the recovery's
 *                  public key. The M-th approver opens the recovery secret
 *                  key with their own agent key, opens the M-1 stored
 *                  shares, rebuilds the storage secret key in memory,
 *                  unseals the escrowed key, checks it against the
 *                  certificate, wraps it as PKCS#12 under a fresh one-time
 *                  password, wipes everything and deletes the stored
 *                  shares and recovery secret keys.
 *
 * Threat model. Nothing in the database opens without agent passphrases:
 *  - an administrator with the whole database (and the host's files: the
 *    KRA keeps no secret on the host) sees shares sealed to agent keys,
 *    agent keys sealed under argon2id passphrases, and approvals sealed to
 *    recovery keys that are themselves sealed to agent keys. To recover
 *    anything they must guess passphrases (argon2id, MODERATE by default).
 *  - one agent alone holds one share: fewer than M shares are consistent
 *    with every storage key (information-theoretic).
 *  - an agent colluding with a database administrator can read the shares
 *    that other agents approved into a recovery still open. That is
 *    inherent to approvals made at different times (that agent could be
 *    the M-th approver), so it still takes M agents acting: M-1 approvals
 *    plus one passphrase. Used shares are deleted at the M-th approval and
 *    unfinished ones when the window expires.
 *  - a removed agent's old share, kept from an old backup, still fits the
 *    same storage key: rotate after removing an agent who is not trusted.
 *  - signing keys are never escrowed: kra_escrow_tx itself refuses any
 *    certificate whose keyUsage has digitalSignature or nonRepudiation.
 *  - the recovered PKCS#12 is stored encrypted under a one-time password
 *    (~130 bits, shown once) and deleted when fetched.
 */
#ifndef SIGNET_KRA_H
#define SIGNET_KRA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "err.h"
#include "p12.h"
#include "ra.h"

struct store;

/* The [kra] section of signet.conf. */
struct kra_config {
	int			 enabled;	/* enabled = yes|no (no) */
	unsigned long long	 opslimit;	/* pwhash = moderate|interactive|sensitive */
	size_t			 memlimit;
	unsigned		 grace_days;	/* escrow kept past not_after (365) */
	unsigned		 window_hours;	/* recovery window (72) */
	int			 officer_fetch;	/* officer may fetch (no) */
	enum p12_format		 p12_format;	/* recovered PKCS#12 (modern) */
};

/* Reads [kra] from the config file at path (missing keys: defaults). */
int	kra_config_load(const char *path, struct kra_config *kc, struct err *e);

/* An agent at a ceremony with their passphrase. */
struct kra_agent_secret {
	const char	*name;
	const char	*passphrase;
};

/* The ceremony: N agents (operators with role recovery-agent, created when
 * missing), threshold M. Refuses when a storage key exists. */
int	kra_init(struct store *st, const struct kra_config *kc,
	    const char *actor, const struct kra_agent_secret *agents,
	    unsigned n, unsigned m, struct err *e);

/* A new storage key; every escrow (and every key sealed in a request not
 * yet issued) is re-sealed to it. present: at least M current agents. */
int	kra_rotate(struct store *st, const struct kra_config *kc,
	    const char *actor, const struct kra_agent_secret *present,
	    unsigned npresent, struct err *e);

/* Re-shares the storage key among the agents plus newcomer (same M). */
int	kra_add_agent(struct store *st, const struct kra_config *kc,
	    const char *actor, const struct kra_agent_secret *newcomer,
	    const struct kra_agent_secret *present, unsigned npresent,
	    struct err *e);

/* Re-shares the storage key among the agents but name (N-1 >= M). */
int	kra_remove_agent(struct store *st, const struct kra_config *kc,
	    const char *actor, const char *name,
	    const struct kra_agent_secret *present, unsigned npresent,
	    struct err *e);

struct kra_status {
	int		 generation;	/* 0: no storage key yet */
	unsigned	 threshold;
	unsigned	 nagents;
	char		 agents[1024];	/* comma-separated names */
	int64_t		 escrowed;
	int64_t		 purgeable;	/* past certificate expiry + grace */
	int64_t		 open_recoveries;
	int64_t		 retired_generations;
};
int	kra_status(struct store *st, struct kra_status *out, struct err *e);

/*
 * For the RA: seals key (exported as PKCS#8) to the active storage key.
 * *sealed (free with kra_sealed_free) is what requests.key_escrow holds:
 * 4 octets generation (big-endian) || crypto_box_seal(PKCS#8 DER).
 */
int	kra_seal_key(struct store *st, gnutls_x509_privkey_t key,
	    uint8_t **sealed, size_t *len, struct err *e);
void	kra_sealed_free(uint8_t *sealed, size_t len);

/*
 * For the RA (enrolment site, `signet enroll`): makes the encryption key of
 * a dual enrolment (type as [profile] server_key_type), with
 *  csr:     a PKCS#10 signed by the new key (subject CN = email) for
 *           ra_request.csr -- ca-serve takes subject and SAN from the
 *           request, not from it;
 *  escrow:  the key sealed to the KRA (kra_seal_key) for key_escrow;
 *  pickup:  the key as encrypted PKCS#8 (RFC 5958, PBES2 AES-256, RFC
 *           8018) under the employee's password for key_pickup.
 * The key itself is wiped before returning.
 */
struct kra_enc_key {
	gnutls_datum_t	 csr;		/* DER */
	uint8_t		*escrow;
	size_t		 escrow_len;
	gnutls_datum_t	 pickup;	/* DER */
};
int	kra_encryption_key_new(struct store *st, const char *key_type,
	    const char *email, const char *password, struct kra_enc_key *out,
	    struct err *e);
void	kra_encryption_key_free(struct kra_enc_key *);

/*
 * A dual enrolment (issue 7 item 1), shared by the enrolment site and
 * `signet enroll`: sig is the signing request as the caller made it (the
 * employee's own key, from the browser or a CSR; profile "signing"; never
 * escrowed); the encryption key is made here with kra_encryption_key_new
 * (key_type, pickup under password) and submitted as profile
 * "encryption", source "server", with the same requester, in one
 * transaction and one batch with the signing request (ra_submit_tx).
 * *sig_id and *enc_id: the two requests. Returns 0 when both are stored,
 * 1 when the signing request is refused (ra_check: the requester's
 * error, told in e), -1 when the service failed; on 1 and -1 nothing is
 * stored.
 */
int	kra_enrol_dual(struct store *st, const char *actor,
	    const char *key_type, const struct ra_request *sig,
	    const char *password, int64_t *sig_id, int64_t *enc_id,
	    struct err *e);

/*
 * Pickup of a server-made key once its certificate is issued: decrypts
 * requests.key_pickup with password, checks it against the issued
 * certificate, builds the PKCS#12 (certificate + CA) in fmt, deletes
 * key_pickup and appends the audit record, in one transaction. requester:
 * when not NULL, must be the request's requester (the web passes the
 * logged-in uid; the CLI passes NULL). *p12: free with gnutls_free.
 */
int	kra_pickup(struct store *st, const char *actor, int64_t request_id,
	    const char *requester, const char *password, enum p12_format fmt,
	    gnutls_datum_t *p12, struct err *e);

/* Inside the issuing transaction: records the sealed private key of the
 * certificate just issued. Refuses (returns -1, nothing written) when the
 * certificate's keyUsage has digitalSignature or nonRepudiation -- signing
 * keys are never escrowed (DESIGN.md). Also refuses a certificate without
 * keyEncipherment/keyAgreement, and a blob sealed to a retired key. */
int	kra_escrow_tx(struct store *st, int64_t request_id, const char *serial,
	    const gnutls_datum_t *cert_der, const uint8_t *sealed,
	    size_t sealed_len, struct err *e);

/* The same with its own transaction and audit actor (escrow of a key made
 * elsewhere: `signet kra escrow`). */
int	kra_escrow_key(struct store *st, const char *actor, const char *serial,
	    gnutls_x509_privkey_t key, struct err *e);

/* Whether key is the private half of the certificate's public key (same
 * SubjectPublicKeyInfo, RFC 5280 4.1.2.7). */
int	kra_key_matches_cert(gnutls_x509_privkey_t key,
	    const gnutls_datum_t *cert_der, struct err *e);

/* An officer opens a recovery of the key of certificate serial; reason is
 * required. *id: the recovery. */
int	kra_recovery_open(struct store *st, const struct kra_config *kc,
	    const char *actor, const char *serial, const char *reason,
	    int64_t *id, struct err *e);

/*
 * An agent approves with their passphrase. Returns 0 (approval recorded,
 * more needed), 1 (this was the M-th: *otp is the one-time password of the
 * recovered PKCS#12, to be shown once; free with kra_otp_free), or -1.
 * Refused with nothing recorded: unknown recovery, not open, window
 * expired (the recovery is marked expired), not an agent, the same agent
 * twice, wrong passphrase.
 */
int	kra_recovery_approve(struct store *st, const struct kra_config *kc,
	    const char *actor, int64_t id, const char *agent,
	    const char *passphrase, char **otp, struct err *e);
void	kra_otp_free(char *otp);

/* Hands out the recovered PKCS#12 once (deleted from the database) to the
 * holder of the one-time password. *p12 is freed with gnutls_free. */
int	kra_recovery_fetch(struct store *st, const char *actor, int64_t id,
	    const char *otp, gnutls_datum_t *p12, struct err *e);

/*
 * The same for the enrolment site and the console, which act for a
 * person: owner_email not NULL -- the signed-in employee, who must own
 * the certificate (its mailbox, compared case-insensitively; anyone else
 * is told there is no such recovery); owner_email NULL -- an officer, for
 * a departed employee, refused unless [kra] officer_fetch = yes. A refusal
 * changes nothing: the PKCS#12 stays for its owner.
 */
int	kra_recovery_fetch_as(struct store *st, const struct kra_config *kc,
	    const char *actor, int64_t id, const char *owner_email,
	    const char *otp, gnutls_datum_t *p12, struct err *e);

struct kra_recovery {
	int64_t		 id;
	const char	*serial;
	const char	*email;		/* the certificate's owner */
	const char	*reason;
	const char	*opened_by;
	time_t		 opened_at;
	const char	*state;		/* open|approved|fetched|expired */
	time_t		 window_expires;
	unsigned	 approvals, threshold;
};
typedef int (*kra_recovery_fn)(void *arg, const struct kra_recovery *r);
/* Recoveries, newest first: all (email NULL) or of one owner's
 * certificates (the owner's home page). */
int	kra_recovery_list(struct store *st, const char *email,
	    kra_recovery_fn fn, void *arg, struct err *e);

/* Marks open recoveries past their window expired and deletes their
 * sealed material; removes escrows past certificate expiry + grace (never
 * one with a live recovery). */
int	kra_purge(struct store *st, const char *actor, int64_t *purged,
	    int64_t *expired, struct err *e);

#endif
