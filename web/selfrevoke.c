/*
 * selfrevoke: an employee revokes one of their own certificates (issue 6
 * item 1). GET /certs/SERIAL/revoke asks why, in plain words; the POST
 * without confirm=yes shows what will happen and asks again; the POST
 * with confirm=yes revokes through ca/revoke.c (certificates row, audit
 * record with actor "employee:<uid>", publish job and the prompt to
 * ca-serve for a new CRL and OCSP answers, in one transaction).
 *
 * Only the employee's own certificates (wstore_my_cert: their mailbox, or
 * their own request through the site); anyone else's answers 404, exactly
 * like a serial that does not exist.
 */
#include <stdio.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "web.h"
#include "revoke.h"
#include "store.h"

/*
 * The reasons an employee may give, each an RFC 5280 5.3.1 CRLReason that
 * the S/MIME BR 4.9.1 admits for a subscriber (no certificateHold). The
 * form sends the word; the code is chosen here.
 */
static const struct self_reason {
	const char	*word;
	int		 code;
	const char	*label;
} self_reasons[] = {
	{ "lost", 1, "My key was lost or stolen" },		/* keyCompromise */
	{ "leaving", 3, "I am leaving, or my address changed" },/* affiliationChanged */
	{ "superseded", 4, "It was replaced by a new certificate" },/* superseded */
	{ "unneeded", 5, "I no longer need it" },		/* cessationOfOperation */
};

static const struct self_reason *
reason_find(const char *word)
{
	size_t	i;

	for (i = 0; i < sizeof(self_reasons) / sizeof(self_reasons[0]); i++)
		if (strcmp(self_reasons[i].word, word) == 0)
			return &self_reasons[i];
	return NULL;
}

static int
reason_rows(struct tmpl_data *d, struct err *e)
{
	struct tmpl_data	*row;
	size_t			 i;

	for (i = 0; i < sizeof(self_reasons) / sizeof(self_reasons[0]); i++)
		if ((row = tmpl_data_add_row(d, "reasons", e)) == NULL ||
		    tmpl_data_set(row, "word", self_reasons[i].word, e) == -1 ||
		    tmpl_data_set(row, "label", self_reasons[i].label, e) == -1)
			return -1;
	return 0;
}

static const char *const self_fields[] = { "csrf", "reason", "confirm",
    NULL };
static const char *const self_required[] = { "csrf", NULL };

int
web_self_revoke(struct http_request *req)
{
	struct web_session	 s;
	struct tmpl_data	*d = NULL;
	const struct self_reason *why = NULL;
	struct store		*st;
	struct err		 e;
	char			 serial[48], *slash, *word = NULL, *confirm = NULL,
				 actor[160], msg[600];
	int			 found = 0, post = req->method == HTTP_METHOD_POST;

	if (!web_employee(req, &s))
		return KORE_RESULT_OK;
	/* The route admits /certs/<hex>/revoke only. */
	snprintf(serial, sizeof(serial), "%s", req->path + strlen("/certs/"));
	if ((slash = strchr(serial, '/')) != NULL)
		*slash = '\0';
	if (post && web_post_ok(req, &s, self_fields, self_required) == -1)
		return KORE_RESULT_OK;
	if ((d = tmpl_data_new()) == NULL ||
	    wstore_my_cert(serial, s.uid, s.mail, d, &found, &e) == -1) {
		kore_log(LOG_ERR, "self-revoke: %s", d == NULL ? "out of memory" :
		    e.msg);
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "Unavailable",
		    "This page cannot be shown right now. Try again shortly.");
		return KORE_RESULT_OK;
	}
	/* Someone else's certificate looks exactly like none at all. */
	if (!found) {
		tmpl_data_free(d);
		return web_not_found(req);
	}
	if (*tmpl_data_get(d, "is_valid") == '\0') {
		snprintf(msg, sizeof(msg), "Certificate %s is %s; there is "
		    "nothing to revoke.", serial, tmpl_data_get(d, "status"));
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_CONFLICT, "Nothing to revoke", msg);
		return KORE_RESULT_OK;
	}
	if (post) {
		http_argument_get_string(req, "confirm", &confirm);
		if (!http_argument_get_string(req, "reason", &word) ||
		    (why = reason_find(word)) == NULL) {
			tmpl_data_free(d);
			web_error(req, HTTP_STATUS_BAD_REQUEST, "Reason needed",
			    "Choose why the certificate should be revoked.");
			return KORE_RESULT_OK;
		}
	}
	if (why != NULL && confirm != NULL) {
		tmpl_data_free(d);
		snprintf(actor, sizeof(actor), "employee:%s", s.uid);
		if ((st = web_store(&e)) == NULL ||
		    revoke_cert(st, serial, why->code, actor, &e) != 0) {
			kore_log(LOG_NOTICE, "self-revoke %s: %s", serial, e.msg);
			snprintf(msg, sizeof(msg), "The certificate was not "
			    "revoked: %s", e.msg);
			web_error(req, HTTP_STATUS_CONFLICT, "Not revoked", msg);
			return KORE_RESULT_OK;
		}
		web_redirect(req, "/");
		return KORE_RESULT_OK;
	}
	/* First the choice, then, with a reason chosen, the confirmation. */
	if (tmpl_data_set(d, "csrf", s.csrf, &e) == -1 ||
	    reason_rows(d, &e) == -1 ||
	    (why != NULL && (tmpl_data_set(d, "confirming", "yes", &e) == -1 ||
	    tmpl_data_set(d, "reason_word", why->word, &e) == -1 ||
	    tmpl_data_set(d, "reason_label", why->label, &e) == -1 ||
	    tmpl_data_set(d, "is_lost", why->code == 1 ? "yes" : "",
	    &e) == -1))) {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_INTERNAL_ERROR, "Error",
		    "The page could not be built.");
		return KORE_RESULT_OK;
	}
	web_page(req, HTTP_STATUS_OK, "self_revoke", "Revoke a certificate", d,
	    &s);
	tmpl_data_free(d);
	return KORE_RESULT_OK;
}
