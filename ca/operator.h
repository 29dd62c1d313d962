/*
 * operator: PKI operator accounts (officer, auditor, admin, recovery-agent)
 * with argon2id password hashes (libsodium crypto_pwhash_str), and what
 * each role may do.
 */
#ifndef SIGNET_OPERATOR_H
#define SIGNET_OPERATOR_H

#include "err.h"
#include "store.h"

enum operator_action {
	OPERATOR_READ = 1,	/* list and show requests */
	OPERATOR_SUBMIT,	/* submit a request */
	OPERATOR_DECIDE,	/* approve or deny a pending request */
	OPERATOR_AS_RA,		/* submit as the enrolment site would */
};

/* 1 when the role exists, else 0. */
int	operator_role_valid(const char *role);

/* 1 when role may do action: officer and admin submit and decide; an
 * auditor only reads; only an admin may enter requests as the RA. */
int	operator_may(const char *role, enum operator_action action);

/* Adds an operator with an argon2id hash of password; audited as actor. */
int	operator_add(struct store *st, const char *actor, const char *name,
	    const char *role, const char *password, struct err *e);

/*
 * Checks name and password. On success copies the role into role. The
 * same message for an unknown name and a wrong password; a disabled
 * account is refused.
 */
int	operator_login(struct store *st, const char *name,
	    const char *password, char role[32], struct err *e);

/* Disables an operator (their password no longer works); audited. */
int	operator_disable(struct store *st, const char *actor,
	    const char *name, struct err *e);

#endif
