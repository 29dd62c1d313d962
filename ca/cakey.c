/*
 * cakey: generating, storing and loading the CA private key.
 */
#define _GNU_SOURCE	/* renameat2, memmem */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/pkcs11.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "cakey.h"

#define CAKEY_SECRET_MAX	4096

struct cakey_type {
	const char		*name;
	gnutls_pk_algorithm_t	 alg;
	unsigned		 bits;
};

/*
 * CA keys: S/MIME BR 6.1.5 allows RSA >= 2048 and P-256/P-384/P-521;
 * a CA key outlives many subscriber keys, so RSA starts at 3072.
 */
static const struct cakey_type cakey_types[] = {
	{ "ecdsa-p256", GNUTLS_PK_ECDSA, 0 },
	{ "ecdsa-p384", GNUTLS_PK_ECDSA, 0 },
	{ "ecdsa-p521", GNUTLS_PK_ECDSA, 0 },
	{ "rsa-3072", GNUTLS_PK_RSA, 3072 },
	{ "rsa-4096", GNUTLS_PK_RSA, 4096 },
};

static unsigned
cakey_type_bits(const struct cakey_type *t)
{
	if (t->alg == GNUTLS_PK_RSA)
		return t->bits;
	if (strcmp(t->name, "ecdsa-p256") == 0)
		return GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1);
	if (strcmp(t->name, "ecdsa-p384") == 0)
		return GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1);
	return GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP521R1);
}

static const struct cakey_type *
cakey_type_find(const char *name, struct err *e)
{
	size_t	i;

	if (name == NULL)
		name = "ecdsa-p384";
	for (i = 0; i < sizeof(cakey_types) / sizeof(cakey_types[0]); i++)
		if (strcmp(cakey_types[i].name, name) == 0)
			return &cakey_types[i];
	err_set(e, "unknown CA key type \"%s\" (use ecdsa-p384, ecdsa-p256, "
	    "ecdsa-p521, rsa-3072 or rsa-4096)", name);
	return NULL;
}

/* fsync the directory holding path, so a rename survives a crash. */
static int
cakey_sync_dir(const char *path, struct err *e)
{
	char	 dir[PATH_MAX];
	char	*slash;
	int	 fd = -1, rc = -1;

	if (strlen(path) >= sizeof(dir))
		return err_set(e, "%s: path too long", path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		err_set(e, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (fsync(fd) == -1) {
		err_set(e, "%s: fsync: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	return rc;
}

/*
 * Writes data to path with mode 0600 through a temp file in the same
 * directory, fsync and a rename that refuses to replace an existing file.
 */
static int
cakey_write_new(const char *path, const gnutls_datum_t *data, struct err *e)
{
	char	 tmp[PATH_MAX];
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd = -1, rc = -1, linked = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >=
	    (int)sizeof(tmp))
		return err_set(e, "%s: path too long", path);
	if (access(path, F_OK) == 0)
		return err_set(e, "%s already exists; refusing to overwrite "
		    "a CA key", path);
	/* mkstemp creates the file with mode 0600. */
	if ((fd = mkstemp(tmp)) == -1) {
		err_set(e, "%s: cannot create a temporary file: %s", path,
		    strerror(errno));
		return -1;
	}
	linked = 1;
	if (fchmod(fd, S_IRUSR | S_IWUSR) == -1) {
		err_set(e, "%s: chmod: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < data->size) {
		n = write(fd, data->data + off, data->size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set(e, "%s: write: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1) {
		err_set(e, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		err_set(e, "%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		linked = 0;
	else if (errno == EINVAL || errno == ENOSYS) {
		/* No RENAME_NOREPLACE here: link(2) also refuses to replace. */
		if (link(tmp, path) == -1) {
			err_set(e, "%s: %s", path, errno == EEXIST ?
			    "already exists; refusing to overwrite a CA key" :
			    strerror(errno));
			goto out;
		}
	} else {
		err_set(e, "%s: %s", path, errno == EEXIST ?
		    "already exists; refusing to overwrite a CA key" :
		    strerror(errno));
		goto out;
	}
	if (cakey_sync_dir(path, e) == -1)
		goto out;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (linked)
		unlink(tmp);
	return rc;
}

int
cakey_generate_file(const char *type, const char *path,
    const char *passphrase, struct err *e)
{
	const struct cakey_type	*t;
	gnutls_x509_privkey_t	 key = NULL;
	gnutls_datum_t		 pem = { NULL, 0 };
	int			 ret, rc = -1;

	if ((t = cakey_type_find(type, e)) == NULL)
		return -1;
	if (path == NULL || *path == '\0')
		return err_set(e, "no path given for the CA key");
	if (passphrase == NULL || *passphrase == '\0')
		return err_set(e, "the CA key needs a passphrase: an empty one "
		    "would leave it unencrypted");
	if (access(path, F_OK) == 0)
		return err_set(e, "%s already exists; refusing to overwrite "
		    "a CA key", path);

	if ((ret = gnutls_x509_privkey_init(&key)) < 0) {
		err_set(e, "%s", gnutls_strerror(ret));
		goto out;
	}
	ret = gnutls_x509_privkey_generate2(key, t->alg, cakey_type_bits(t),
	    0, NULL, 0);
	if (ret < 0) {
		err_set(e, "generating a %s key: %s", t->name,
		    gnutls_strerror(ret));
		goto out;
	}
	/* RFC 5958 EncryptedPrivateKeyInfo; RFC 8018 PBES2 + AES-256-CBC. */
	ret = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM,
	    passphrase, GNUTLS_PKCS_PBES2_AES_256, &pem);
	if (ret < 0) {
		err_set(e, "encrypting the CA key: %s", gnutls_strerror(ret));
		goto out;
	}
	if (cakey_write_new(path, &pem, e) == -1)
		goto out;
	rc = 0;
out:
	if (pem.data != NULL) {
		gnutls_memset(pem.data, 0, pem.size);
		gnutls_free(pem.data);
	}
	gnutls_x509_privkey_deinit(key);
	return rc;
}

/*
 * PKCS#11 PINs: GnuTLS asks for the PIN through a callback, at login and
 * again whenever it must reopen a session (after fork, or for a key with
 * CKA_ALWAYS_AUTHENTICATE). The PIN therefore lives as long as the key,
 * in locked, guarded memory, and cakey_free() wipes it.
 */
struct cakey_pin {
	gnutls_privkey_t	 key;
	char			*pin;		/* sodium_malloc'd */
	struct cakey_pin	*next;
};

static pthread_mutex_t	 cakey_pins_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cakey_pin	*cakey_pins;
static pthread_once_t	 cakey_p11_once = PTHREAD_ONCE_INIT;
static int		 cakey_p11_ret;

static void
cakey_p11_init(void)
{
	/* Loads the modules p11-kit is configured with (SoftHSM, HSMs). */
	cakey_p11_ret = gnutls_pkcs11_init(GNUTLS_PKCS11_FLAG_AUTO, NULL);
}

static int
cakey_pin_cb(void *userdata, int attempt, const char *token_url,
    const char *token_label, unsigned int flags, char *pin, size_t pin_max)
{
	const struct cakey_pin	*p = userdata;
	size_t			 len;

	/*
	 * One PIN, offered once: retrying a wrong PIN would only burn the
	 * token's retry counter (PKCS#11 v2.40 C_Login, CKR_PIN_INCORRECT).
	 * The security officer PIN is never ours to give.
	 */
	if (p == NULL || p->pin == NULL || attempt > 0 ||
	    (flags & (GNUTLS_PIN_WRONG | GNUTLS_PIN_SO)))
		return -1;
	len = strlen(p->pin);
	if (len + 1 > pin_max)
		return -1;
	memcpy(pin, p->pin, len + 1);
	return 0;
}

static void
cakey_pin_destroy(struct cakey_pin *p)
{
	if (p == NULL)
		return;
	if (p->pin != NULL)
		sodium_free(p->pin);	/* wipes before freeing */
	free(p);
}

static gnutls_privkey_t
cakey_load_pkcs11(const char *url, const char *pin, struct err *e)
{
	gnutls_privkey_t	 key = NULL;
	struct cakey_pin	*p = NULL;
	size_t			 len;
	int			 ret;

	if (sodium_init() < 0) {
		err_set(e, "libsodium failed to initialise");
		goto fail;
	}
	if (pin == NULL || *pin == '\0') {
		err_set(e, "no PIN given for the CA key token");
		goto fail;
	}
	/*
	 * RFC 7512 2.3 lets a URL carry pin-value; Signet refuses it, as a
	 * URL ends up in configs, logs and process listings.
	 */
	if (strstr(url, "pin-value=") != NULL ||
	    strstr(url, "pin-source=") != NULL) {
		err_set(e, "the pkcs11: URL must not carry a PIN; give the "
		    "PIN through a file or the environment");
		goto fail;
	}
	pthread_once(&cakey_p11_once, cakey_p11_init);
	if (cakey_p11_ret < 0) {
		err_set(e, "initialising PKCS#11: %s",
		    gnutls_strerror(cakey_p11_ret));
		goto fail;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		err_set(e, "out of memory");
		goto fail;
	}
	len = strlen(pin);
	if ((p->pin = sodium_malloc(len + 1)) == NULL) {
		err_set(e, "out of memory");
		goto fail;
	}
	memcpy(p->pin, pin, len + 1);

	if ((ret = gnutls_privkey_init(&key)) < 0) {
		err_set(e, "%s", gnutls_strerror(ret));
		goto fail;
	}
	gnutls_privkey_set_pin_function(key, cakey_pin_cb, p);
	ret = gnutls_privkey_import_url(key, url, 0);
	if (ret == GNUTLS_E_PKCS11_PIN_ERROR ||
	    ret == GNUTLS_E_PKCS11_USER_ERROR) {
		err_set(e, "the CA key token refused the PIN (wrong PIN?)");
		goto fail;
	}
	if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
		err_set(e, "no private key matches %s (check the token "
		    "label, object label and the PIN)", url);
		goto fail;
	}
	if (ret < 0) {
		err_set(e, "loading %s: %s", url, gnutls_strerror(ret));
		goto fail;
	}
	p->key = key;
	pthread_mutex_lock(&cakey_pins_lock);
	p->next = cakey_pins;
	cakey_pins = p;
	pthread_mutex_unlock(&cakey_pins_lock);
	return key;
fail:
	gnutls_privkey_deinit(key);
	cakey_pin_destroy(p);
	return NULL;
}

static gnutls_privkey_t
cakey_load_file(const char *path, const char *passphrase, struct err *e)
{
	gnutls_privkey_t	 key = NULL;
	gnutls_datum_t		 pem = { NULL, 0 };
	int			 ret;

	if (passphrase == NULL || *passphrase == '\0') {
		err_set(e, "no passphrase given for the CA key %s", path);
		goto fail;
	}
	errno = 0;
	if ((ret = gnutls_load_file(path, &pem)) < 0) {
		err_set(e, "%s: cannot read the CA key: %s", path,
		    errno != 0 ? strerror(errno) : gnutls_strerror(ret));
		goto fail;
	}
	/* RFC 5958 EncryptedPrivateKeyInfo only: never a plaintext key. */
	if (memmem(pem.data, pem.size, "BEGIN ENCRYPTED PRIVATE KEY",
	    strlen("BEGIN ENCRYPTED PRIVATE KEY")) == NULL) {
		err_set(e, "%s: not an encrypted PKCS#8 key; Signet keeps "
		    "the CA key only encrypted", path);
		goto fail;
	}
	if ((ret = gnutls_privkey_init(&key)) < 0) {
		err_set(e, "%s", gnutls_strerror(ret));
		goto fail;
	}
	ret = gnutls_privkey_import_x509_raw(key, &pem, GNUTLS_X509_FMT_PEM,
	    passphrase, 0);
	if (ret == GNUTLS_E_DECRYPTION_FAILED) {
		err_set(e, "%s: the CA key passphrase is wrong", path);
		goto fail;
	}
	if (ret < 0) {
		err_set(e, "%s: not an encrypted PKCS#8 key: %s", path,
		    gnutls_strerror(ret));
		goto fail;
	}
	gnutls_memset(pem.data, 0, pem.size);
	gnutls_free(pem.data);
	return key;
fail:
	if (pem.data != NULL) {
		gnutls_memset(pem.data, 0, pem.size);
		gnutls_free(pem.data);
	}
	gnutls_privkey_deinit(key);
	return NULL;
}

gnutls_privkey_t
cakey_load(const char *ref, const char *secret, struct err *e)
{
	if (ref == NULL || *ref == '\0') {
		err_set(e, "no CA key given (a file path or a pkcs11: URL)");
		return NULL;
	}
	if (strncmp(ref, "pkcs11:", 7) == 0)
		return cakey_load_pkcs11(ref, secret, e);
	return cakey_load_file(ref, secret, e);
}

void
cakey_free(gnutls_privkey_t key)
{
	struct cakey_pin	**pp, *p = NULL;

	if (key == NULL)
		return;
	pthread_mutex_lock(&cakey_pins_lock);
	for (pp = &cakey_pins; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->key == key) {
			p = *pp;
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&cakey_pins_lock);
	gnutls_privkey_deinit(key);
	cakey_pin_destroy(p);
}

static int
cakey_read_secret_file(const char *file, char **out, struct err *e)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd = -1, rc = -1;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		err_set(e, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		err_set(e, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, "%s: not a regular file", file);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		err_set(e, "%s: the secret file is accessible by group or "
		    "others (mode %04o); run chmod 600 on it", file,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((buf = sodium_malloc(CAKEY_SECRET_MAX + 1)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	while (len < CAKEY_SECRET_MAX) {
		n = read(fd, buf + len, CAKEY_SECRET_MAX - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set(e, "%s: %s", file, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len) != NULL)
			break;
	}
	buf[len] = '\0';
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len == 0) {
		err_set(e, "%s: the secret file's first line is empty", file);
		goto out;
	}
	if ((*out = sodium_malloc(len + 1)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	memcpy(*out, buf, len + 1);
	rc = 0;
out:
	if (buf != NULL)
		sodium_free(buf);
	if (fd != -1)
		close(fd);
	return rc;
}

int
cakey_read_secret(const char *file, const char *env, char **out,
    struct err *e)
{
	const char	*v;
	size_t		 len;

	*out = NULL;
	if (sodium_init() < 0)
		return err_set(e, "libsodium failed to initialise");
	if (file != NULL)
		return cakey_read_secret_file(file, out, e);
	if (env == NULL)
		return err_set(e, "no secret: give a secret file");
	v = getenv(env);
	if (v == NULL || *v == '\0')
		return err_set(e, "no secret: give a secret file or set "
		    "the environment variable %s", env);
	len = strlen(v);
	if (len > CAKEY_SECRET_MAX)
		return err_set(e, "the secret in %s is too long", env);
	if ((*out = sodium_malloc(len + 1)) == NULL)
		return err_set(e, "out of memory");
	memcpy(*out, v, len + 1);
	return 0;
}

void
cakey_secret_free(char *secret)
{
	/* sodium_free wipes the buffer and its guard pages go with it. */
	if (secret != NULL)
		sodium_free(secret);
}
