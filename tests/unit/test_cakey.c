/*
 * cakey: CA keys generated to encrypted PKCS#8 files and read back by
 * openssl, keys in a SoftHSM2 token, and passphrase sources.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "testlib.h"

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

#include "cacert.h"
#include "cakey.h"

static char	tmpdir[64];

static void
write_file_mode(const char *path, const void *data, size_t len, mode_t mode)
{
	FILE	*f;

	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_cakey.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * Signs data with key, writes the public key, data and signature, and
 * has openssl verify the signature.
 */
static void
assert_openssl_verifies(gnutls_privkey_t key, const char *tag)
{
	static const char	 msg[] = "to be signed by the Signet CA";
	gnutls_datum_t		 data = { (unsigned char *)msg, sizeof(msg) - 1 };
	gnutls_datum_t		 sig = { NULL, 0 }, pem = { NULL, 0 };
	gnutls_pubkey_t		 pub;
	char			 p_pub[256], p_data[256], p_sig[256];
	char			*out;

	assert_int_equal(gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0,
	    &data, &sig), 0);
	assert_int_equal(gnutls_pubkey_init(&pub), 0);
	assert_int_equal(gnutls_pubkey_import_privkey(pub, key, 0, 0), 0);
	assert_int_equal(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_PEM, &pem),
	    0);
	snprintf(p_pub, sizeof(p_pub), "%s/%s.pub", tmpdir, tag);
	snprintf(p_data, sizeof(p_data), "%s/%s.data", tmpdir, tag);
	snprintf(p_sig, sizeof(p_sig), "%s/%s.sig", tmpdir, tag);
	write_file_mode(p_pub, pem.data, pem.size, 0600);
	write_file_mode(p_data, data.data, data.size, 0600);
	write_file_mode(p_sig, sig.data, sig.size, 0600);
	assert_int_equal(run(&out, "openssl dgst -sha256 -verify %s "
	    "-signature %s %s", p_pub, p_sig, p_data), 0);
	assert_non_null(strstr(out, "Verified OK"));
	free(out);
	gnutls_free(sig.data);
	gnutls_free(pem.data);
	gnutls_pubkey_deinit(pub);
}

static void
test_cakey_each_type_is_encrypted_0600_and_signs(void **state)
{
	static const struct {
		const char	*type;
		const char	*openssl_says;
		gnutls_pk_algorithm_t alg;
		unsigned	 bits;
	} types[] = {
		{ "ecdsa-p256", "NIST CURVE: P-256", GNUTLS_PK_ECDSA, 256 },
		{ "ecdsa-p384", "NIST CURVE: P-384", GNUTLS_PK_ECDSA, 384 },
		{ "rsa-3072", "Private-Key: (3072 bit", GNUTLS_PK_RSA, 3072 },
		{ "rsa-4096", "Private-Key: (4096 bit", GNUTLS_PK_RSA, 4096 },
	};
	char			 path[256], pass[256], *out;
	struct stat		 st;
	struct err		 e = { "" };
	gnutls_privkey_t	 key;
	unsigned		 bits;
	size_t			 i;

	snprintf(pass, sizeof(pass), "%s/pass", tmpdir);
	write_file_mode(pass, "correct horse\n", 14, 0600);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.pem", tmpdir,
		    types[i].type);
		assert_int_equal(cakey_generate_file(types[i].type, path,
		    "correct horse", &e), 0);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);

		/* openssl sees PBES2 + AES-256-CBC, and decrypts it. */
		assert_int_equal(run(&out, "openssl asn1parse -in %s", path),
		    0);
		assert_non_null(strstr(out, "PBES2"));
		assert_non_null(strstr(out, "aes-256-cbc"));
		free(out);
		assert_int_equal(run(&out, "openssl pkey -in %s -passin "
		    "file:%s -noout -text", path, pass), 0);
		assert_non_null(strstr(out, types[i].openssl_says));
		free(out);

		key = cakey_load(path, "correct horse", &e);
		assert_non_null(key);
		assert_int_equal(gnutls_privkey_get_pk_algorithm(key, &bits),
		    types[i].alg);
		assert_int_equal(bits, types[i].bits);
		assert_openssl_verifies(key, types[i].type);
		cakey_free(key);
	}
	/* The default is P-384. */
	snprintf(path, sizeof(path), "%s/default.pem", tmpdir);
	assert_int_equal(cakey_generate_file(NULL, path, "pw", &e), 0);
	assert_non_null(key = cakey_load(path, "pw", &e));
	assert_int_equal(gnutls_privkey_get_pk_algorithm(key, &bits),
	    GNUTLS_PK_ECDSA);
	assert_int_equal(bits, 384);
	cakey_free(key);
}

static void
test_cakey_wrong_passphrase_is_refused(void **state)
{
	char		path[256];
	struct err	e = { "" };

	snprintf(path, sizeof(path), "%s/wrong.pem", tmpdir);
	assert_int_equal(cakey_generate_file("ecdsa-p256", path, "right", &e),
	    0);
	assert_null(cakey_load(path, "wrong", &e));
	assert_non_null(strstr(e.msg, "the CA key passphrase is wrong"));
	assert_null(cakey_load(path, "", &e));
	assert_non_null(strstr(e.msg, "no passphrase"));
}

static void
test_cakey_refuses_to_overwrite_a_key(void **state)
{
	char		path[256], *before, *after;
	struct err	e = { "" };

	snprintf(path, sizeof(path), "%s/once.pem", tmpdir);
	assert_int_equal(cakey_generate_file("ecdsa-p256", path, "pw", &e), 0);
	assert_int_equal(run(&before, "sha256sum < %s", path), 0);
	assert_int_equal(cakey_generate_file("ecdsa-p256", path, "pw", &e),
	    -1);
	assert_non_null(strstr(e.msg, "refusing to overwrite"));
	assert_int_equal(run(&after, "sha256sum < %s", path), 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* No temp file is left behind. */
	assert_int_equal(run(&before, "ls %s | grep -c tmp", tmpdir), 1);
	assert_string_equal(before, "0\n");
	free(before);
}

static void
test_cakey_refuses_bad_arguments(void **state)
{
	char		path[256];
	struct err	e = { "" };

	snprintf(path, sizeof(path), "%s/bad.pem", tmpdir);
	assert_int_equal(cakey_generate_file("dsa-1024", path, "pw", &e), -1);
	assert_non_null(strstr(e.msg, "unknown CA key type"));
	assert_int_equal(cakey_generate_file("ecdsa-p256", path, "", &e), -1);
	assert_non_null(strstr(e.msg, "needs a passphrase"));
	assert_int_equal(access(path, F_OK), -1);

	/* A plaintext key is not accepted as a CA key. */
	assert_int_equal(run(NULL, "openssl genpkey -algorithm EC -pkeyopt "
	    "ec_paramgen_curve:P-256 -out %s", path), 0);
	assert_null(cakey_load(path, "pw", &e));
	assert_non_null(strstr(e.msg, "not an encrypted PKCS#8 key"));
}

static void
test_cakey_secret_from_file_and_env(void **state)
{
	char		path[256], *s;
	struct err	e = { "" };

	snprintf(path, sizeof(path), "%s/secret", tmpdir);
	write_file_mode(path, "s3cret phrase\nsecond line\n", 26, 0600);
	assert_int_equal(cakey_read_secret(path, "SIGNET_TEST_PW", &s, &e), 0);
	assert_string_equal(s, "s3cret phrase");
	cakey_secret_free(s);

	/* A CRLF file from another system. */
	write_file_mode(path, "crlf\r\n", 6, 0400);
	assert_int_equal(cakey_read_secret(path, NULL, &s, &e), 0);
	assert_string_equal(s, "crlf");
	cakey_secret_free(s);

	/* Without a file, the environment. */
	setenv("SIGNET_TEST_PW", "from the env", 1);
	assert_int_equal(cakey_read_secret(NULL, "SIGNET_TEST_PW", &s, &e), 0);
	assert_string_equal(s, "from the env");
	cakey_secret_free(s);
	unsetenv("SIGNET_TEST_PW");
	assert_int_equal(cakey_read_secret(NULL, "SIGNET_TEST_PW", &s, &e),
	    -1);
	assert_null(s);
	assert_non_null(strstr(e.msg, "SIGNET_TEST_PW"));
	cakey_secret_free(NULL);
}

static void
test_cakey_secret_file_readable_by_others_is_refused(void **state)
{
	char		path[256], *s;
	struct err	e = { "" };

	snprintf(path, sizeof(path), "%s/open-secret", tmpdir);
	write_file_mode(path, "visible\n", 8, 0644);
	assert_int_equal(cakey_read_secret(path, NULL, &s, &e), -1);
	assert_null(s);
	assert_non_null(strstr(e.msg, "mode 0644"));
	assert_non_null(strstr(e.msg, "chmod 600"));

	write_file_mode(path, "\n", 1, 0600);
	assert_int_equal(cakey_read_secret(path, NULL, &s, &e), -1);
	assert_non_null(strstr(e.msg, "empty"));
}

static void
test_cakey_pkcs11_softhsm_key_signs_and_wrong_pin_is_refused(void **state)
{
	char			 conf[256], tokens[256], pub[256], text[512];
	char			 p_data[256], p_sig[256], *out;
	static const char	 msg[] = "signed inside the token";
	gnutls_datum_t		 data = { (unsigned char *)msg, sizeof(msg) - 1 };
	gnutls_datum_t		 sig = { NULL, 0 };
	struct err		 e = { "" };
	gnutls_privkey_t	 key;
	unsigned		 bits;

	snprintf(tokens, sizeof(tokens), "%s/tokens", tmpdir);
	assert_int_equal(mkdir(tokens, 0700), 0);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", tmpdir);
	snprintf(text, sizeof(text), "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", tokens);
	write_file_mode(conf, text, strlen(text), 0600);
	/* Before the first gnutls_pkcs11_init, which loads SoftHSM. */
	setenv("SOFTHSM2_CONF", conf, 1);

	assert_int_equal(run(&out, "softhsm2-util --init-token --free "
	    "--label signet-test --pin 1234 --so-pin 5678"), 0);
	free(out);
	snprintf(pub, sizeof(pub), "%s/token-pub.pem", tmpdir);
	assert_int_equal(run(&out, "p11tool --login --set-pin=1234 "
	    "--generate-privkey=ECDSA --curve=secp256r1 --label=ca "
	    "--outfile=%s 'pkcs11:token=signet-test'", pub), 0);
	free(out);

	/* Wrong PIN first: it must not leave a logged-in session behind. */
	assert_null(cakey_load("pkcs11:token=signet-test;object=ca;"
	    "type=private", "4321", &e));
	assert_non_null(strstr(e.msg, "refused the PIN"));
	assert_null(cakey_load("pkcs11:token=signet-test;object=ca;"
	    "type=private;pin-value=1234", "1234", &e));
	assert_non_null(strstr(e.msg, "must not carry a PIN"));

	key = cakey_load("pkcs11:token=signet-test;object=ca;type=private",
	    "1234", &e);
	if (key == NULL)
		fail_msg("cakey_load: %s", e.msg);
	assert_int_equal(gnutls_privkey_get_pk_algorithm(key, &bits),
	    GNUTLS_PK_ECDSA);
	assert_int_equal(gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0,
	    &data, &sig), 0);
	snprintf(p_data, sizeof(p_data), "%s/token.data", tmpdir);
	snprintf(p_sig, sizeof(p_sig), "%s/token.sig", tmpdir);
	write_file_mode(p_data, data.data, data.size, 0600);
	write_file_mode(p_sig, sig.data, sig.size, 0600);
	/* Verified against the public key p11tool printed, by openssl. */
	assert_int_equal(run(&out, "openssl dgst -sha256 -verify %s "
	    "-signature %s %s", pub, p_sig, p_data), 0);
	assert_non_null(strstr(out, "Verified OK"));
	free(out);
	gnutls_free(sig.data);
	cakey_free(key);
	cakey_free(NULL);
}

/*
 * Root CA certificates made with keys that never leave the token: the
 * hash is chosen from the token key's size (GnuTLS reports 0 bits for
 * token keys), and openssl accepts the self-signature.
 */
static void
test_cakey_pkcs11_keys_make_roots_openssl_verifies(void **state)
{
	static const struct {
		const char	*p11tool_args;
		const char	*label;
		const char	*openssl_says;
		const char	*sigalg;
	} cases[] = {
		{ "--generate-privkey=ECDSA --curve=secp384r1", "root384",
		    "NIST CURVE: P-384", "ecdsa-with-SHA384" },
		{ "--generate-privkey=RSA --bits=3072", "rsa3072",
		    "Public-Key: (3072 bit)", "sha384WithRSAEncryption" },
	};
	gnutls_privkey_t	 key;
	gnutls_datum_t		 der, pem;
	struct err		 e = { "" };
	char			 path[256], url[128], want[128], *out;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* The token from the previous test (SOFTHSM2_CONF set). */
		assert_int_equal(run(&out, "p11tool --login --set-pin=1234 "
		    "%s --label=%s 'pkcs11:token=signet-test'",
		    cases[i].p11tool_args, cases[i].label), 0);
		free(out);
		snprintf(url, sizeof(url), "pkcs11:token=signet-test;"
		    "object=%s;type=private", cases[i].label);
		if ((key = cakey_load(url, "1234", &e)) == NULL)
			fail_msg("cakey_load: %s", e.msg);
		if (cacert_self_signed(key, "Token Root", 3650, &der, &e) != 0)
			fail_msg("cacert_self_signed: %s", e.msg);
		assert_int_equal(cacert_check_install(&der, key, 0, &e), 0);
		assert_int_equal(gnutls_pem_base64_encode2("CERTIFICATE", &der,
		    &pem), 0);
		snprintf(path, sizeof(path), "%s/%s.pem", tmpdir,
		    cases[i].label);
		write_file_mode(path, pem.data, pem.size, 0644);
		assert_int_equal(run(&out, "openssl x509 -noout -text -in %s",
		    path), 0);
		snprintf(want, sizeof(want), "Signature Algorithm: %s",
		    cases[i].sigalg);
		assert_non_null(strstr(out, want));
		assert_non_null(strstr(out, cases[i].openssl_says));
		free(out);
		assert_int_equal(run(&out, "openssl verify -x509_strict "
		    "-CAfile %s %s", path, path), 0);
		assert_non_null(strstr(out, ": OK"));
		free(out);
		gnutls_free(pem.data);
		gnutls_free(der.data);
		cakey_free(key);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cakey_each_type_is_encrypted_0600_and_signs),
		cmocka_unit_test(test_cakey_wrong_passphrase_is_refused),
		cmocka_unit_test(test_cakey_refuses_to_overwrite_a_key),
		cmocka_unit_test(test_cakey_refuses_bad_arguments),
		cmocka_unit_test(test_cakey_secret_from_file_and_env),
		cmocka_unit_test(
		    test_cakey_secret_file_readable_by_others_is_refused),
		cmocka_unit_test(
		    test_cakey_pkcs11_softhsm_key_signs_and_wrong_pin_is_refused),
		cmocka_unit_test(
		    test_cakey_pkcs11_keys_make_roots_openssl_verifies),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
