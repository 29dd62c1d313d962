/*
 * signet setup, install-ca, stop, db, migrate, audit: the instance's life.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "audit.h"
#include "ca.h"
#include "cacert.h"
#include "cakey.h"
#include "cli.h"
#include "keys.h"
#include "pgctl.h"

#define CA_DAYS_DEFAULT	3650

static int
write_pem(const char *path, const char *label, const gnutls_datum_t *der,
    int mode, struct err *e)
{
	gnutls_datum_t	pem = { NULL, 0 };
	int		rc;

	if (gnutls_pem_base64_encode2(label, der, &pem) < 0)
		return err_set(e, "PEM encoding failed");
	rc = cli_write_file(path, pem.data, pem.size, mode, e);
	gnutls_free(pem.data);
	return rc;
}

static int
print_fingerprints(const gnutls_datum_t *der)
{
	char		fp[200];
	struct err	e;

	if (cacert_fingerprint(der, GNUTLS_DIG_SHA256, fp, sizeof(fp), &e) != 0)
		return cli_fail("%s", e.msg);
	printf("CA certificate SHA-256 fingerprint:\n  %s\n", fp);
	return 0;
}

/* Stores the CA certificate and its audit record together. */
static int
record_ca(struct cli *c, const gnutls_datum_t *der, const char *action)
{
	gnutls_x509_crt_t	 crt = NULL;
	gnutls_datum_t		 dn = { NULL, 0 };
	struct err		 e;
	int			 rc = 1;

	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0) {
		cli_fail("cannot read back the CA certificate");
		goto out;
	}
	if (store_begin(c->st, &e) != 0 ||
	    store_ca_put(c->st, (char *)dn.data, der->data, der->size, &e) != 0 ||
	    audit_append(c->st, c->actor, action, (char *)dn.data, "", &e) != 0 ||
	    store_publish_enqueue(c->st, "ca", "", NULL, &e) != 0 ||
	    store_commit(c->st, &e) != 0) {
		store_rollback(c->st);
		cli_fail("%s", e.msg);
		goto out;
	}
	rc = 0;
out:
	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

static int
load_key(struct cli *c, gnutls_privkey_t *key)
{
	struct err	 e;
	char		*ref = config_path(c->cfg, c->cfg->ca_key);
	char		*sf = config_path(c->cfg, c->cfg->ca_secret_file);
	char		*secret = NULL;
	int		 rc = -1;

	if (cakey_read_secret(sf, c->cfg->ca_secret_env, &secret, &e) != 0 ||
	    (*key = cakey_load(ref, secret, &e)) == NULL)
		cli_fail("%s", e.msg);
	else
		rc = 0;
	cakey_secret_free(secret);
	free(ref);
	free(sf);
	return rc;
}

int
cmd_setup(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key",	 required_argument, NULL, 'k' },
		{ "cn",		 required_argument, NULL, 'n' },
		{ "subordinate", no_argument,	    NULL, 's' },
		{ "pkcs11",	 required_argument, NULL, 'p' },
		{ "pin-file",	 required_argument, NULL, 'P' },
		{ "base-url",	 required_argument, NULL, 'u' },
		{ "domains",	 required_argument, NULL, 'd' },
		{ "days",	 required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 }
	};
	const char *usage = "setup [--key ecdsa-p384|ecdsa-p256|rsa-3072|"
	    "rsa-4096] [--cn NAME] [--subordinate] [--pkcs11 URL --pin-file F] "
	    "[--base-url http://HOST:PORT] [--domains LIST] [--days N]";
	const char		*type = "ecdsa-p384", *cn = "Signet CA";
	const char		*p11 = NULL, *pinfile = NULL;
	const char		*base = "http://localhost:8080";
	const char		*domains = "example.com";
	struct config_init	 ci;
	gnutls_privkey_t	 key = NULL;
	gnutls_datum_t		 der = { NULL, 0 };
	struct err		 e;
	char			 path[4096], pass[64], fp_pin[4096];
	unsigned char		 rnd[32];
	int			 sub = 0, o, applied, rc = 1;
	unsigned		 days = CA_DAYS_DEFAULT;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (o) {
		case 'k': type = optarg; break;
		case 'n': cn = optarg; break;
		case 's': sub = 1; break;
		case 'p': p11 = optarg; break;
		case 'P': pinfile = optarg; break;
		case 'u': base = optarg; break;
		case 'd': domains = optarg; break;
		case 'D':
			days = (unsigned)strtoul(optarg, NULL, 10);
			if (days < 1 || days > 9125)
				return cli_fail("--days: 1 to 9125");
			break;
		default: return cli_usage(usage);
		}
	if (optind != argc)
		return cli_usage(usage);
	if (strcmp(type, "ecdsa-p384") && strcmp(type, "ecdsa-p256") &&
	    strcmp(type, "rsa-3072") && strcmp(type, "rsa-4096"))
		return cli_fail("--key %s: choose ecdsa-p384, ecdsa-p256, "
		    "rsa-3072 or rsa-4096", type);
	if (strncmp(base, "http://", 7) != 0)
		return cli_fail("--base-url must be http:// (S/MIME BR 7.1.2.3: "
		    "CRL and OCSP URLs are plain HTTP)");
	if (*cn == '\0' || strlen(cn) > 64)
		return cli_fail("--cn: 1 to 64 characters");
	if (p11 != NULL && strncmp(p11, "pkcs11:", 7) != 0)
		return cli_fail("--pkcs11 takes a pkcs11: URL");
	if (p11 != NULL && pinfile == NULL)
		return cli_fail("--pkcs11 needs --pin-file FILE (the PIN is "
		    "never taken from the command line)");

	if (mkdir(c->home, 0711) != 0 && errno != EEXIST)
		return cli_fail("%s: %s", c->home, strerror(errno));
	chmod(c->home, 0711);
	snprintf(path, sizeof(path), "%s/signet.conf", c->home);
	if (access(path, F_OK) == 0)
		return cli_fail("%s is already set up (%s exists)", c->home,
		    path);
	if (pgctl_unused(c->home, &e) != 0)
		return cli_fail("%s", e.msg);

	memset(&ci, 0, sizeof(ci));
	ci.ca_name = cn;
	ci.base_url = base;
	ci.domains = domains;
	if (p11 != NULL) {
		if (realpath(pinfile, fp_pin) == NULL)
			return cli_fail("%s: %s", pinfile, strerror(errno));
		ci.ca_key = p11;
		ci.secret_file = fp_pin;
	} else {
		/* demo: a random passphrase in a 0600 file beside the key */
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2base64(pass, sizeof(pass), rnd, sizeof(rnd),
		    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		sodium_memzero(rnd, sizeof(rnd));
		snprintf(path, sizeof(path), "%s/ca.pass", c->home);
		if (cli_write_file(path, pass, strlen(pass), 0600, &e) != 0) {
			sodium_memzero(pass, sizeof(pass));
			return cli_fail("%s", e.msg);
		}
		snprintf(path, sizeof(path), "%s/ca.key", c->home);
		rc = cakey_generate_file(type, path, pass, &e);
		sodium_memzero(pass, sizeof(pass));
		if (rc != 0)
			return cli_fail("%s", e.msg);
		rc = 1;
		ci.ca_key = "ca.key";
		ci.secret_file = "ca.pass";
	}
	if (config_write_default(c->home, &ci, &e) != 0)
		return cli_fail("%s", e.msg);
	c->any_schema = 1;
	if (cli_store(c) != 0)
		return 1;
	if (store_migrate(c->st, &applied, &e) != 0)
		return cli_fail("%s", e.msg);
	if (load_key(c, &key) != 0)
		return 1;

	if (sub) {
		if (cacert_csr(key, cn, &der, &e) != 0) {
			cli_fail("%s", e.msg);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/ca.csr", c->home);
		if (cli_write_file(path, der.data, der.size, 0644, &e) != 0) {
			cli_fail("%s", e.msg);
			goto out;
		}
		printf("Subordinate CA key made. Have the root sign\n  %s\n"
		    "(it must add EKU emailProtection), then run\n"
		    "  signet --home %s install-ca CERT\n", path, c->home);
		rc = 0;
		goto out;
	}
	if (cacert_self_signed(key, cn, days, &der, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/ca.pem", c->home);
	if (write_pem(path, "CERTIFICATE", &der, 0644, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if (record_ca(c, &der, "ca.create") != 0)
		goto out;
	printf("Signet instance ready in %s\nCA certificate: %s\n", c->home,
	    path);
	rc = print_fingerprints(&der);
out:
	gnutls_free(der.data);
	if (key != NULL)
		cakey_free(key);
	return rc;
}

int
cmd_install_ca(struct cli *c, int argc, char **argv)
{
	gnutls_privkey_t	 key = NULL;
	gnutls_datum_t		 der = { NULL, 0 };
	struct err		 e;
	char			*dst = NULL;
	int			 rc = 1;

	if (argc != 2)
		return cli_usage("install-ca CERT");
	if (cli_config(c) != 0)
		return 1;
	if ((dst = config_path(c->cfg, c->cfg->ca_cert)) == NULL)
		return cli_fail("out of memory");
	if (access(dst, F_OK) == 0) {
		cli_fail("%s exists: this instance has its CA certificate", dst);
		goto out;
	}
	if (ca_read_cert_file(argv[1], &der, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if (load_key(c, &key) != 0)
		goto out;
	if (cacert_check_install(&der, key, 1, &e) != 0) {
		cli_fail("%s: %s", argv[1], e.msg);
		goto out;
	}
	if (cli_store(c) != 0)
		goto out;
	if (write_pem(dst, "CERTIFICATE", &der, 0644, &e) != 0) {
		cli_fail("%s", e.msg);
		goto out;
	}
	if (record_ca(c, &der, "ca.install") != 0) {
		unlink(dst);
		goto out;
	}
	printf("CA certificate installed: %s\n", dst);
	rc = print_fingerprints(&der);
out:
	if (key != NULL)
		cakey_free(key);
	gnutls_free(der.data);
	free(dst);
	return rc;
}

/* Sends SIGTERM to every daemon the instance recorded in run/ *.pid. */
static void
stop_daemons(const char *home)
{
	char		 dir[4096], path[4400], buf[32];
	struct dirent	*d;
	DIR		*dp;
	FILE		*f;
	long		 pid;

	snprintf(dir, sizeof(dir), "%s/run", home);
	if ((dp = opendir(dir)) == NULL)
		return;
	while ((d = readdir(dp)) != NULL) {
		size_t n = strlen(d->d_name);
		if (n < 5 || strcmp(d->d_name + n - 4, ".pid") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (pid = strtol(buf, NULL, 10)) > 1 && kill((pid_t)pid, 0) == 0) {
			kill((pid_t)pid, SIGTERM);
			printf("stopped %.*s (pid %ld)\n", (int)(n - 4),
			    d->d_name, pid);
		}
		fclose(f);
		unlink(path);
	}
	closedir(dp);
}

int
cmd_stop(struct cli *c, int argc, char **argv)
{
	struct err	e;

	if (argc != 1)
		return cli_usage("stop");
	stop_daemons(c->home);
	if (pgctl_stop(c->home, &e) != 0)
		return cli_fail("%s", e.msg);
	printf("stopped %s\n", c->home);
	return 0;
}

int
cmd_db(struct cli *c, int argc, char **argv)
{
	struct err	 e;
	char		*ci;

	if (argc != 2)
		return cli_usage("db start|stop|status|conninfo");
	if (!strcmp(argv[1], "start")) {
		if (pgctl_start(c->home, &e) != 0)
			return cli_fail("%s", e.msg);
		return 0;
	}
	if (!strcmp(argv[1], "stop")) {
		if (pgctl_stop(c->home, &e) != 0)
			return cli_fail("%s", e.msg);
		return 0;
	}
	if (!strcmp(argv[1], "status")) {
		int up = pgctl_running(c->home);
		printf("%s\n", up ? "running" : "stopped");
		return up ? 0 : 1;
	}
	if (!strcmp(argv[1], "conninfo")) {
		if (cli_config(c) != 0)
			return 1;
		if ((ci = config_conninfo(c->cfg)) == NULL)
			return cli_fail("out of memory");
		printf("%s\n", ci);
		free(ci);
		return 0;
	}
	return cli_usage("db start|stop|status|conninfo");
}

int
cmd_migrate(struct cli *c, int argc, char **argv)
{
	struct err	e;
	int		applied, version;

	if (argc != 1)
		return cli_usage("migrate");
	c->any_schema = 1;
	if (cli_store(c) != 0)
		return 1;
	if (store_migrate(c->st, &applied, &e) != 0 ||
	    store_schema_version(c->st, &version, &e) != 0)
		return cli_fail("%s", e.msg);
	printf("applied %d migration%s; schema at version %d\n", applied,
	    applied == 1 ? "" : "s", version);
	return 0;
}

int
cmd_audit(struct cli *c, int argc, char **argv)
{
	struct err	 e;
	int64_t		 n;
	const char	*heads = NULL;
	int		 recorded;

	if (argc == 4 && strcmp(argv[2], "--heads") == 0)
		heads = argv[3];
	else if (argc != 2)
		return cli_usage("audit verify [--heads FILE]");
	if (strcmp(argv[1], "verify") != 0)
		return cli_usage("audit verify [--heads FILE]");
	if (cli_store(c) != 0)
		return 1;
	if (heads == NULL) {
		if (audit_verify(c->st, &n, &e) != 0)
			return cli_fail("%s", e.msg);
		printf("audit chain whole: %lld records\n", (long long)n);
		return 0;
	}
	if (audit_verify_heads(c->st, heads, &n, &recorded, &e) != 0)
		return cli_fail("%s", e.msg);
	printf("audit chain whole: %lld records; %s; heads recorded in %s\n",
	    (long long)n, recorded ? "no chain cut back since the last "
	    "verify" : "no heads were recorded before", heads);
	return 0;
}
