/*
 * csr: every request of the hostile corpus (tests/data/make-bad-csrs.sh) is
 * refused with the message the corpus expects; good requests parse, name
 * their key, and match what the openssl command reads from them.
 *
 * The corpus is read from $CSR_CORPUS when set; otherwise the script
 * ($CSR_SCRIPT, default tests/data/make-bad-csrs.sh, run from the top of
 * the tree) writes it into a fresh temporary directory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem */
#endif
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csr.h"
#include "keys.h"

static char	corpus[256];
static int	corpus_made;

static int
corpus_setup(void **state)
{
	const char	*dir, *script;
	char		 cmd[600];

	if ((dir = getenv("CSR_CORPUS")) != NULL && *dir != '\0') {
		snprintf(corpus, sizeof(corpus), "%s", dir);
		return 0;
	}
	if ((script = getenv("CSR_SCRIPT")) == NULL)
		script = "tests/data/make-bad-csrs.sh";
	snprintf(corpus, sizeof(corpus), "/tmp/signet-csr-XXXXXX");
	if (mkdtemp(corpus) == NULL)
		return -1;
	corpus_made = 1;
	snprintf(cmd, sizeof(cmd), "bash '%s' '%s'", script, corpus);
	if (system(cmd) != 0) {
		fprintf(stderr, "%s failed\n", cmd);
		return -1;
	}
	return 0;
}

static int
corpus_teardown(void **state)
{
	char	cmd[300];

	if (corpus_made) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", corpus);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE	*f;
	uint8_t	*buf = NULL;
	size_t	 n = 0, cap = 0, r;

	assert_non_null(f = fopen(path, "rb"));
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			assert_non_null(buf = realloc(buf, cap));
		}
		if ((r = fread(buf + n, 1, cap - n, f)) == 0)
			break;
		n += r;
	}
	fclose(f);
	*len = n;
	return buf;
}

static uint8_t *
slurp_corpus(const char *name, size_t *len)
{
	char	path[512];

	snprintf(path, sizeof(path), "%s/%s", corpus, name);
	return slurp(path, len);
}

/* Output of a shell command, whole. */
static uint8_t *
run(const char *cmd, size_t *len)
{
	FILE	*f;
	uint8_t	*buf;
	size_t	 r;

	assert_non_null(buf = malloc(1 << 16));
	assert_non_null(f = popen(cmd, "r"));
	r = fread(buf, 1, 1 << 16, f);
	assert_int_equal(pclose(f), 0);
	*len = r;
	return buf;
}

struct expect {
	char	file[128];
	char	msg[256];
};

static size_t
read_expect(struct expect **out)
{
	struct expect	*x = NULL;
	char		 path[512], line[512], *tab;
	size_t		 n = 0;
	FILE		*f;

	snprintf(path, sizeof(path), "%s/EXPECT", corpus);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		assert_non_null(tab = strchr(line, '\t'));
		*tab = '\0';
		assert_non_null(x = realloc(x, (n + 1) * sizeof(*x)));
		snprintf(x[n].file, sizeof(x[n].file), "%.127s", line);
		snprintf(x[n].msg, sizeof(x[n].msg), "%.255s", tab + 1);
		n++;
	}
	fclose(f);
	*out = x;
	return n;
}

static void
test_every_hostile_csr_is_refused_with_its_expected_message(void **state)
{
	struct expect	*x;
	struct csr	*c;
	struct err	 e;
	uint8_t		*buf;
	size_t		 n, i, len, bad = 0;

	n = read_expect(&x);
	assert_true(n >= 22);
	for (i = 0; i < n; i++) {
		buf = slurp_corpus(x[i].file, &len);
		memset(&e, 0, sizeof(e));
		c = csr_parse(buf, len, &e);
		if (c != NULL) {
			print_error("# %s: accepted, expected \"%s\"\n",
			    x[i].file, x[i].msg);
			csr_free(c);
			bad++;
		} else if (strstr(e.msg, x[i].msg) == NULL) {
			print_error("# %s: \"%s\" lacks \"%s\"\n", x[i].file,
			    e.msg, x[i].msg);
			bad++;
		} else
			print_message("# %-38s %s\n", x[i].file, e.msg);
		free(buf);
	}
	free(x);
	assert_int_equal(bad, 0);
}

static void
test_every_corpus_file_is_a_good_csr_or_has_an_expectation(void **state)
{
	struct expect	*x;
	struct dirent	*d;
	DIR		*dir;
	size_t		 n, i, files = 0;

	n = read_expect(&x);
	assert_non_null(dir = opendir(corpus));
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.' || strcmp(d->d_name, "EXPECT") == 0 ||
		    strncmp(d->d_name, "good-", 5) == 0)
			continue;
		for (i = 0; i < n; i++)
			if (strcmp(x[i].file, d->d_name) == 0)
				break;
		if (i == n)
			fail_msg("%s has no line in EXPECT", d->d_name);
		files++;
	}
	closedir(dir);
	assert_int_equal(files, n);
	free(x);
}

static const struct {
	const char	*file;
	enum key_kind	 kind;
	unsigned	 bits;
	const char	*name;
} good[] = {
	{ "good-rsa-2048.csr", KEY_RSA, 2048, "rsa-2048" },
	{ "good-ecdsa-p256.csr", KEY_EC, 256, "ecdsa-p256" },
	{ "good-ecdsa-p384.csr", KEY_EC, 384, "ecdsa-p384" },
};

static struct csr *
parse_ok(const uint8_t *buf, size_t len, const char *what)
{
	struct csr	*c;
	struct err	 e = { "" };

	if ((c = csr_parse(buf, len, &e)) == NULL)
		fail_msg("%s refused: %s", what, e.msg);
	return c;
}

static void
test_good_csrs_parse_and_name_their_key(void **state)
{
	const struct key_info	*ki;
	struct csr		*c;
	uint8_t			*buf;
	size_t			 len, i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		buf = slurp_corpus(good[i].file, &len);
		c = parse_ok(buf, len, good[i].file);
		ki = csr_key_info(c);
		assert_int_equal(ki->kind, good[i].kind);
		assert_int_equal(ki->bits, good[i].bits);
		assert_string_equal(ki->name, good[i].name);
		assert_non_null(csr_pubkey(c));
		csr_free(c);
		free(buf);
	}
}

/* What the CSR object hands on is what openssl reads from the same file. */
static void
test_good_csr_der_and_key_match_what_openssl_reads(void **state)
{
	struct csr	*c;
	struct err	 e = { "" };
	uint8_t		*buf, *der, *spki;
	unsigned char	 h[32];
	char		 cmd[700], hex[65];
	size_t		 len, dlen, slen, i, j;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		buf = slurp_corpus(good[i].file, &len);
		c = parse_ok(buf, len, good[i].file);
		snprintf(cmd, sizeof(cmd), "openssl req -in '%s/%s' -outform "
		    "DER", corpus, good[i].file);
		der = run(cmd, &dlen);
		assert_int_equal(csr_der(c)->size, dlen);
		assert_memory_equal(csr_der(c)->data, der, dlen);
		snprintf(cmd, sizeof(cmd), "openssl req -in '%s/%s' -pubkey "
		    "-noout | openssl pkey -pubin -outform DER | sha256sum",
		    corpus, good[i].file);
		spki = run(cmd, &slen);
		assert_int_equal(keys_spki_sha256(csr_pubkey(c), h, &e), 0);
		for (j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", h[j]);
		assert_memory_equal(spki, hex, 64);
		free(spki);
		free(der);
		csr_free(c);
		free(buf);
	}
}

static void
test_good_csr_is_accepted_as_der_crlf_legacy_label_and_padded(void **state)
{
	struct csr	*c;
	uint8_t		*pem, *der, *v;
	size_t		 plen, dlen, vlen, i;
	char		 cmd[600];

	pem = slurp_corpus("good-ecdsa-p256.csr", &plen);
	snprintf(cmd, sizeof(cmd), "openssl req -in '%s/good-ecdsa-p256.csr' "
	    "-outform DER", corpus);
	der = run(cmd, &dlen);

	c = parse_ok(der, dlen, "DER");
	assert_string_equal(csr_key_info(c)->name, "ecdsa-p256");
	csr_free(c);

	/* CRLF line ends, as a Windows browser uploads them. */
	assert_non_null(v = malloc(2 * plen));
	for (i = 0, vlen = 0; i < plen; i++) {
		if (pem[i] == '\n')
			v[vlen++] = '\r';
		v[vlen++] = pem[i];
	}
	csr_free(parse_ok(v, vlen, "CRLF PEM"));
	free(v);

	/* RFC 7468 7: the legacy NEW CERTIFICATE REQUEST label. */
	snprintf(cmd, sizeof(cmd), "sed 's/CERTIFICATE REQUEST/NEW CERTIFICATE "
	    "REQUEST/' '%s/good-ecdsa-p256.csr'", corpus);
	v = run(cmd, &vlen);
	assert_non_null(memmem(v, vlen, "BEGIN NEW CERTIFICATE REQUEST", 29));
	csr_free(parse_ok(v, vlen, "NEW CERTIFICATE REQUEST"));
	free(v);

	/* Blank lines and spaces around the block, as pasted from mail. */
	assert_non_null(v = malloc(plen + 16));
	memcpy(v, "\n \t\r\n", 5);
	memcpy(v + 5, pem, plen);
	memcpy(v + 5 + plen, "\n\n  \n", 5);
	csr_free(parse_ok(v, plen + 10, "PEM with whitespace around it"));
	free(v);
	free(der);
	free(pem);
}

static void
test_size_limit_is_exactly_csr_max_size(void **state)
{
	struct csr	*c;
	struct err	 e = { "" };
	uint8_t		*pem, *v;
	size_t		 plen;

	pem = slurp_corpus("good-rsa-2048.csr", &plen);
	assert_non_null(v = malloc(CSR_MAX_SIZE + 1));
	memcpy(v, pem, plen);
	memset(v + plen, '\n', CSR_MAX_SIZE + 1 - plen);
	csr_free(parse_ok(v, CSR_MAX_SIZE, "PEM of exactly CSR_MAX_SIZE"));
	assert_null(c = csr_parse(v, CSR_MAX_SIZE + 1, &e));
	assert_non_null(strstr(e.msg, "the input is too large"));
	free(v);
	free(pem);
}

/* Every cut of a good DER request is refused, none crashes. */
static void
test_every_truncation_of_a_good_der_csr_is_refused(void **state)
{
	struct csr	*c;
	struct err	 e;
	uint8_t		*der;
	size_t		 dlen, n;
	char		 cmd[600];

	snprintf(cmd, sizeof(cmd), "openssl req -in '%s/good-rsa-2048.csr' "
	    "-outform DER", corpus);
	der = run(cmd, &dlen);
	for (n = 1; n < dlen; n++) {
		memset(&e, 0, sizeof(e));
		c = csr_parse(der, n, &e);
		if (c != NULL)
			fail_msg("%zu of %zu bytes accepted", n, dlen);
		assert_non_null(strstr(e.msg, "not a certificate request"));
	}
	free(der);
}

static void
test_refusal_message_speaks_to_the_requester(void **state)
{
	static const char text[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
	    "not base64 at all!\n-----END CERTIFICATE REQUEST-----\n";
	struct err	e = { "" };

	assert_null(csr_parse((const uint8_t *)text, sizeof(text) - 1, &e));
	assert_non_null(strstr(e.msg, "not a certificate request: the base64 "
	    "text between the BEGIN and END lines is damaged"));
	assert_null(csr_parse(NULL, 0, &e));
	assert_string_equal(e.msg, "not a certificate request: the input is "
	    "empty");
	csr_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_hostile_csr_is_refused_with_its_expected_message),
		cmocka_unit_test(test_every_corpus_file_is_a_good_csr_or_has_an_expectation),
		cmocka_unit_test(test_good_csrs_parse_and_name_their_key),
		cmocka_unit_test(test_good_csr_der_and_key_match_what_openssl_reads),
		cmocka_unit_test(test_good_csr_is_accepted_as_der_crlf_legacy_label_and_padded),
		cmocka_unit_test(test_size_limit_is_exactly_csr_max_size),
		cmocka_unit_test(test_every_truncation_of_a_good_der_csr_is_refused),
		cmocka_unit_test(test_refusal_message_speaks_to_the_requester),
	};

	return cmocka_run_group_tests(tests, corpus_setup, corpus_teardown);
}
