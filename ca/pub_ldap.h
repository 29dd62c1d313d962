/*
 * pub_ldap: the LDAP target of the publisher ([publish.ldap.NAME]).
 *
 *   uri             ldap://, ldaps:// or ldapi:// (required)
 *   bind            none | simple | sasl-external (default simple when
 *                   bind_dn is set, else none)
 *   bind_dn         for simple binds
 *   password_file   the bind password, a file only its owner may read
 *   base_dn         where people are searched (required)
 *   filter          default (mail=%s); %s is the mailbox, escaped
 *                   (RFC 4515 3)
 *   ca_dn           the CA entry's DN; empty: no CA entry is kept
 *   create_ca_entry yes | no (default no): add ca_dn as
 *                   applicationProcess + pkiCA (RFC 4523 3.4) if missing
 *   timeout         seconds for connect and each operation (default 10)
 *   tls_cacert      CA file for ldaps:// (default: the system's)
 *   cert_attr       default userCertificate;binary (RFC 4523 2.1)
 *   smime_attr      default userSMIMECertificate (RFC 2798 2.6)
 *   ca_cert_attr    default cACertificate;binary (RFC 4523 2.2)
 *   crl_attr        default certificateRevocationList;binary (RFC 4523 2.5)
 *
 * Only Signet's own values are ever added or deleted: exact values of
 * cert_attr, and smime_attr values whose every certificate is the CA
 * certificate or one it issued. Other values survive every operation.
 */
#ifndef SIGNET_PUB_LDAP_H
#define SIGNET_PUB_LDAP_H

#include <gnutls/x509.h>

#include "config.h"
#include "err.h"
#include "publish.h"

struct pub_ldap;

struct pub_ldap	*pub_ldap_new(const char *name, struct err *e);
void		 pub_ldap_free(struct pub_ldap *);
/* One setting of the section; a bad value is an error naming it. */
int		 pub_ldap_set(struct pub_ldap *, const char *key,
		    const char *val, struct err *e);
/* Checks the settings once all are read; paths resolve against home. */
int		 pub_ldap_ready(struct pub_ldap *, const struct config *cfg,
		    struct err *e);
/* "ldap.NAME" */
const char	*pub_ldap_name(const struct pub_ldap *);

/* Makes the directory show one certificate's state (publish.h). */
int	pub_ldap_cert(struct pub_ldap *, const struct pub_cert *c,
	    gnutls_x509_crt_t ca, struct err *e);
/*
 * The same for n certificates at once (c[0..n-1]): the searches are sent
 * together, then the modifications, and where the server offers LDAP
 * transactions (RFC 5805, e.g. OpenLDAP 2.5) they are committed as one,
 * so the directory writes its database once for all of them. A job that
 * the server rejects is sent again alone; two jobs for one mailbox are
 * applied one after the other. rcs[i] is 0 (applied) or -1 (errs[i] says
 * why; "cannot reach ..." when the directory is unreachable). Returns -1
 * only when out of memory.
 */
int	pub_ldap_certs(struct pub_ldap *, const struct pub_cert *c, size_t n,
	    gnutls_x509_crt_t ca, int *rcs, struct err *errs);
/* Puts the CA certificate and the newest CRL on the CA entry. */
int	pub_ldap_ca(struct pub_ldap *, const struct pub_ca *c, struct err *e);
/* Drops the connection (after an error, or before sleeping long). */
void	pub_ldap_close(struct pub_ldap *);

#endif
