/*
 * revoke: a revocation is one transaction (DESIGN.md, Revocation): the
 * row, its audit record, the "cert.revoke" publish job, the revocation
 * event the next CRL covers and the OCSP re-sign; the queue trigger and
 * an explicit NOTIFY wake ca-serve when it commits.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "audit.h"
#include "revoke.h"
#include "revsvc.h"
#include "store_rev.h"

static const struct {
	const char	*name;
	int		 code;
} reasons[] = {
	/* RFC 5280 5.3.1; S/MIME BR 4.9.1.1 */
	{ "unspecified",		0 },
	{ "keyCompromise",		1 },
	{ "affiliationChanged",		3 },
	{ "superseded",			4 },
	{ "cessationOfOperation",	5 },
	{ "privilegeWithdrawn",		9 },
};

int
revoke_reason_parse(const char *name, int *reason, struct err *e)
{
	size_t	i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcasecmp(name, reasons[i].name) == 0) {
			*reason = reasons[i].code;
			return 0;
		}
	return err_set(e, "reason \"%s\": choose unspecified, keyCompromise, "
	    "affiliationChanged, superseded, cessationOfOperation or "
	    "privilegeWithdrawn (S/MIME BR 4.9.1: no certificateHold, no "
	    "cACompromise for a mailbox certificate)", name);
}

const char *
revoke_reason_name(int reason)
{
	size_t	i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == reason)
			return reasons[i].name;
	return "unspecified";
}

static int
serial_ok(const char *s)
{
	size_t	n = strlen(s), i;

	/* sql/001_core.sql: lower-case hex, 2 to 40 digits */
	if (n < 2 || n > 40 || n % 2 != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && (s[i] < 'a' || s[i] > 'f'))
			return 0;
	return 1;
}

int
revoke_cert_tx(struct store *st, const char *serial, int reason,
    const char *actor, struct err *e)
{
	char	email[256], detail[128];
	int	rc;

	if (!serial_ok(serial))
		return err_set(e, "%s: not a serial number (lower-case hex, "
		    "as `signet list` shows it)", serial);
	if (reason != 0 && reason != 1 && reason != 3 && reason != 4 &&
	    reason != 5 && reason != 9)
		return err_set(e, "reason %d is not allowed for a mailbox "
		    "certificate (S/MIME BR 4.9.1)", reason);
	if ((rc = store_rev_revoke_tx(st, serial, reason, email, e)) < 0)
		return -1;
	if (rc == 1)
		return err_set(e, "%s: no such certificate", serial);
	if (rc == 2)
		return err_set(e, "%s: already revoked", serial);
	snprintf(detail, sizeof(detail), "serial=%s reason=%s", serial,
	    revoke_reason_name(reason));
	if (audit_append(st, actor, "cert.revoke", email, detail, e) != 0 ||
	    store_publish_enqueue(st, "cert.revoke", serial, email, e) != 0 ||
	    store_rev_notify(st, "revoke", e) != 0)
		return -1;
	return 0;
}

int
revoke_cert(struct store *st, const char *serial, int reason, const char *actor,
    struct err *e)
{
	if (store_begin(st, e) != 0)
		return -1;
	if (revoke_cert_tx(st, serial, reason, actor, e) != 0) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st, e);
}
