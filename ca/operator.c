/*
 * operator: accounts, password hashes and roles.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "operator.h"
#include "store_req.h"

#define OPERATOR_MIN_PASSWORD	12

int
operator_role_valid(const char *role)
{
	return role != NULL && (!strcmp(role, "officer") ||
	    !strcmp(role, "auditor") || !strcmp(role, "admin") ||
	    !strcmp(role, "recovery-agent"));
}

int
operator_may(const char *role, enum operator_action action)
{
	int	officer = !strcmp(role, "officer"), admin = !strcmp(role, "admin");

	switch (action) {
	case OPERATOR_READ:
		return officer || admin || !strcmp(role, "auditor");
	case OPERATOR_SUBMIT:
	case OPERATOR_DECIDE:
		return officer || admin;
	case OPERATOR_AS_RA:
		return admin;
	}
	return 0;
}

int
operator_add(struct store *st, const char *actor, const char *name,
    const char *role, const char *password, struct err *e)
{
	char	hash[crypto_pwhash_STRBYTES], detail[64];
	int	r;

	if (!operator_role_valid(role))
		return err_set(e, "unknown role \"%s\" (officer, auditor, "
		    "admin or recovery-agent)", role != NULL ? role : "");
	if (strlen(password) < OPERATOR_MIN_PASSWORD)
		return err_set(e, "the password is too short (at least %d "
		    "characters)", OPERATOR_MIN_PASSWORD);
	if (sodium_init() < 0)
		return err_set(e, "libsodium failed to initialise");
	/* argon2id with libsodium's interactive limits */
	if (crypto_pwhash_str(hash, password, strlen(password),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return err_set(e, "out of memory hashing the password");
	if (store_begin(st, e) != 0)
		return -1;
	if ((r = store_op_insert(st, name, role, hash, e)) != 0) {
		if (r == 1)
			err_set(e, "an operator named %s exists already", name);
		goto fail;
	}
	snprintf(detail, sizeof(detail), "role=%s", role);
	if (audit_append(st, actor, "operator.add", name, detail, e) != 0)
		goto fail;
	return store_commit(st, e);
fail:
	store_rollback(st);
	return -1;
}

struct login {
	const char	*password;
	char		*role;
	int		 ok, disabled;
};

static int
check(void *arg, const struct op_row *o)
{
	struct login	*l = arg;

	if (o->password_hash == NULL)
		return 1;
	if (crypto_pwhash_str_verify(o->password_hash, l->password,
	    strlen(l->password)) != 0)
		return 1;
	l->ok = 1;
	l->disabled = o->disabled;
	snprintf(l->role, 32, "%s", o->role);
	return 1;
}

int
operator_login(struct store *st, const char *name, const char *password,
    char role[32], struct err *e)
{
	struct login	l = { password, role, 0, 0 };
	int		r;

	role[0] = '\0';
	if (sodium_init() < 0)
		return err_set(e, "libsodium failed to initialise");
	if ((r = store_op_get(st, name, check, &l, e)) < 0)
		return -1;
	if (r == 1 || !l.ok) {
		role[0] = '\0';
		return err_set(e, "operator %s: unknown name or wrong password",
		    name);
	}
	if (l.disabled) {
		role[0] = '\0';
		return err_set(e, "operator %s is disabled", name);
	}
	return 0;
}

int
operator_disable(struct store *st, const char *actor, const char *name,
    struct err *e)
{
	int	r;

	if (store_begin(st, e) != 0)
		return -1;
	if ((r = store_op_disable(st, name, e)) != 0) {
		if (r == 1)
			err_set(e, "no operator named %s", name);
		goto fail;
	}
	if (audit_append(st, actor, "operator.disable", name, "", e) != 0)
		goto fail;
	return store_commit(st, e);
fail:
	store_rollback(st);
	return -1;
}
