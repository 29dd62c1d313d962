/*
 * pub_web: the web directory-tree target of the publisher
 * ([publish.web.NAME]). Any static web server can serve the tree:
 *
 *   ROOT/<serial>.cer          each valid certificate, DER
 *   ROOT/by-mail/<mailbox>.p7c the mailbox's valid certificates + CA,
 *                              PKCS#7 certs-only (RFC 8551 3.2.2)
 *   ROOT/ca.cer                the CA certificate, DER
 *   ROOT/<crl path>            the newest CRL, DER, at the path of [ca]
 *                              crl_url (crl/ca.crl by default)
 *   ROOT/index.html            the valid certificates, rendered from
 *                              templates/published-index.html
 *
 * Settings: root (required; relative to the instance), templates (the
 * template directory; default the templates/ beside the signet binary's
 * directory), crl_path (default: the path of [ca] crl_url).
 * Every file is written atomically: a temp file in the same directory,
 * fsync, rename, fsync of the directory. A revoked or expired
 * certificate's files are removed.
 */
#ifndef SIGNET_PUB_WEB_H
#define SIGNET_PUB_WEB_H

#include "config.h"
#include "err.h"
#include "publish.h"
#include "store.h"

struct pub_web;

struct pub_web	*pub_web_new(const char *name, struct err *e);
void		 pub_web_free(struct pub_web *);
int		 pub_web_set(struct pub_web *, const char *key, const char *val,
		    struct err *e);
/* Checks the settings, creates the root and loads the template. */
int		 pub_web_ready(struct pub_web *, const struct config *cfg,
		    struct err *e);
/* "web.NAME" */
const char	*pub_web_name(const struct pub_web *);

int	pub_web_cert(struct pub_web *, const struct pub_cert *c,
	    struct err *e);
int	pub_web_ca(struct pub_web *, const struct pub_ca *c, struct err *e);
/* Rewrites index.html from the certificates valid now. */
int	pub_web_index(struct pub_web *, struct store *st, struct err *e);

#endif
