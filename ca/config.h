/*
 * config: an instance's signet.conf (INI, read with libinih).
 *
 * An instance is a directory: signet.conf, the CA key and certificate, the
 * private PostgreSQL cluster (pg/) and state. Paths in the file are relative
 * to that directory. Sections other than those below belong to other parts
 * ([revocation], [publish], [publish.ldap.NAME], [publish.web.NAME], [kra];
 * [policy] also to the policy module) and are read by them; config_load
 * refuses any other section, and a setting given twice.
 */
#ifndef SIGNET_CONFIG_H
#define SIGNET_CONFIG_H

#include "err.h"

struct config {
	char		*home;		/* absolute instance directory */
	char		*path;		/* home/signet.conf */

	/* [ca] */
	char		*ca_name;	/* CN of the CA */
	char		*ca_key;	/* key file (relative to home) or pkcs11: URL */
	char		*ca_secret_file; /* passphrase or PIN file, relative to home */
	char		*ca_secret_env;	/* or: environment variable holding it */
	char		*ca_cert;	/* CA certificate PEM, relative to home */
	char		*crl_url;	/* CRL distribution point (http://) */
	char		*ocsp_url;	/* OCSP responder (http://) */
	char		*issuer_url;	/* caIssuers (http://) */

	/* [database] */
	char		*db_conninfo;	/* empty: the instance's private cluster */

	/* [profile] */
	char		*policy_oid;
	unsigned	 default_days;
	unsigned	 max_days;
	int		 non_repudiation;
	char		*server_key_type; /* key type for server-side keygen */
	char		*allowed_domains; /* comma-separated mail domains */

	/* [policy] */
	char		*policy_module;	/* shared object path, relative to the binary's ../policy or absolute */
};

/* Loads home/signet.conf. A bad key or value is an error naming its line. */
struct config	*config_load(const char *home, struct err *e);
void		 config_free(struct config *);

/* The built-in default for each setting, as written by `signet setup`. */
struct config_init {
	const char	*ca_name;
	const char	*ca_key;	/* file name or pkcs11: URL */
	const char	*secret_file;
	const char	*base_url;	/* http://host:port used for CRL, OCSP, caIssuers URLs */
	const char	*domains;
};

/* Writes a commented home/signet.conf (mode 0644); refuses to overwrite. */
int	config_write_default(const char *home, const struct config_init *ci,
	    struct err *e);

/* Resolves a path from the config against home: absolute stays, relative is
 * joined. Returns malloc'd memory. */
char	*config_path(const struct config *c, const char *rel);

/* The connection string to use: db_conninfo, or the private cluster's. */
char	*config_conninfo(const struct config *c);

/* The instance directory: --home, else $SIGNET_HOME, else ./var. Absolute. */
char	*config_home(const char *arg, struct err *e);

/* A whole number from lo to hi, digits only; -1 for anything else. */
int	config_uint(const char *v, unsigned lo, unsigned hi, unsigned *out);

/* A yes/no setting: yes, on, true, 1 or no, off, false, 0 (case aside);
 * -1 for anything else. */
int	config_bool(const char *v, int *out);

#endif
