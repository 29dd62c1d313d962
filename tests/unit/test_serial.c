/*
 * test_serial: serial numbers are unique, positive, 16 DER octets
 * (RFC 5280 4.1.2.2; S/MIME BR 7.1), and their hex form round-trips.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "serial.h"

#define NSERIALS	1000

static int
serial_cmp(const void *a, const void *b)
{
	return memcmp(((const struct serial *)a)->b,
	    ((const struct serial *)b)->b, SERIAL_LEN);
}

/*
 * Writes s into a self-signed certificate with gnutls and reads it back
 * from the DER: the INTEGER a certificate parser sees.
 */
static void
serial_through_der(gnutls_x509_privkey_t key, const struct serial *s,
    unsigned char *out, size_t *outlen)
{
	gnutls_x509_crt_t	crt, back;
	gnutls_datum_t		der;

	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(crt, s->b, s->len), 0);
	assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, "serial test", 11), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt,
	    time(NULL)), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt,
	    time(NULL) + 86400), 0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
	assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key,
	    GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER,
	    &der), 0);
	assert_int_equal(gnutls_x509_crt_init(&back), 0);
	assert_int_equal(gnutls_x509_crt_import(back, &der,
	    GNUTLS_X509_FMT_DER), 0);
	assert_int_equal(gnutls_x509_crt_get_serial(back, out, outlen), 0);
	gnutls_free(der.data);
	gnutls_x509_crt_deinit(back);
	gnutls_x509_crt_deinit(crt);
}

static void
test_serial_new_gives_1000_distinct_positive_16_octet_integers(void **state)
{
	struct serial		*s;
	struct err		 e;
	gnutls_x509_privkey_t	 key;
	unsigned char		 der[32];
	size_t			 i, derlen;

	s = calloc(NSERIALS, sizeof(*s));
	assert_non_null(s);
	assert_int_equal(gnutls_x509_privkey_init(&key), 0);
	assert_int_equal(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
	for (i = 0; i < NSERIALS; i++) {
		assert_int_equal(serial_new(&s[i], &e), 0);
		assert_int_equal(s[i].len, SERIAL_LEN);
		/* X.690 8.3: top bit clear = positive; non-zero first octet =
		 * no leading zero to strip, so exactly 16 content octets. */
		assert_int_equal(s[i].b[0] & 0x80, 0);
		assert_int_not_equal(s[i].b[0], 0);
		derlen = sizeof(der);
		serial_through_der(key, &s[i], der, &derlen);
		assert_int_equal(derlen, SERIAL_LEN);
		assert_memory_equal(der, s[i].b, SERIAL_LEN);
	}
	qsort(s, NSERIALS, sizeof(*s), serial_cmp);
	for (i = 1; i < NSERIALS; i++)
		assert_int_not_equal(serial_cmp(&s[i - 1], &s[i]), 0);
	gnutls_x509_privkey_deinit(key);
	free(s);
}

static void
test_serial_bits_vary_beyond_the_first_octet(void **state)
{
	struct serial	s;
	struct err	e;
	uint8_t		or_all[SERIAL_LEN] = { 0 }, and_all[SERIAL_LEN];
	size_t		i, j;

	/* Every random bit position (all but the cleared sign bit) takes
	 * both values across 200 draws: the octets are not constant. */
	memset(and_all, 0xff, sizeof(and_all));
	for (i = 0; i < 200; i++) {
		assert_int_equal(serial_new(&s, &e), 0);
		for (j = 0; j < SERIAL_LEN; j++) {
			or_all[j] |= s.b[j];
			and_all[j] &= s.b[j];
		}
	}
	assert_int_equal(or_all[0], 0x7f);
	for (j = 1; j < SERIAL_LEN; j++)
		assert_int_equal(or_all[j], 0xff);
	for (j = 0; j < SERIAL_LEN; j++)
		assert_int_equal(and_all[j], 0);
}

static void
test_serial_hex_round_trips_in_lower_case(void **state)
{
	struct serial	s, back;
	struct err	e;
	char		hex[SERIAL_HEX_MAX];
	size_t		i;

	for (i = 0; i < 100; i++) {
		assert_int_equal(serial_new(&s, &e), 0);
		serial_hex(&s, hex);
		assert_int_equal(strlen(hex), 2 * SERIAL_LEN);
		assert_int_equal(strspn(hex, "0123456789abcdef"), strlen(hex));
		assert_int_equal(serial_from_hex(hex, &back, &e), 0);
		assert_int_equal(back.len, s.len);
		assert_memory_equal(back.b, s.b, s.len);
	}
	assert_int_equal(serial_from_hex("00FF", &back, &e), 0);
	serial_hex(&back, hex);
	assert_string_equal(hex, "00ff");
	assert_int_equal(serial_from_hex("01", &back, &e), 0);
	assert_int_equal(back.len, 1);
	assert_int_equal(back.b[0], 1);
	assert_int_equal(serial_from_hex(
	    "7fffffffffffffffffffffffffffffffffffffff", &back, &e), 0);
	assert_int_equal(back.len, 20);
}

static void
test_serial_from_hex_refuses_bad_input_with_a_message(void **state)
{
	static const char *bad[] = {
		"",			/* empty */
		"1",			/* odd length */
		"abc",			/* odd length */
		"0g",			/* not hex */
		"zz",
		" 01",
		"01 ",
		"0x01",
		"-01",
		"00",			/* zero */
		"0000",
		"80",			/* negative */
		"ff01",
		"0001",			/* non-minimal DER */
		"007f",
		"7fffffffffffffffffffffffffffffffffffffff01", /* 21 octets */
	};
	struct serial	s;
	struct err	e;
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (serial_from_hex(bad[i], &s, &e) != -1)
			fail_msg("accepted bad serial \"%s\"", bad[i]);
		assert_true(strncmp(e.msg, "serial: ", 8) == 0);
		assert_true(strlen(e.msg) > 10);
	}
}

static void
test_serial_hex_matches_openssl_serial_output(void **state)
{
	gnutls_x509_privkey_t	 key;
	gnutls_x509_crt_t	 crt;
	gnutls_datum_t		 pem;
	struct serial		 s;
	struct err		 e;
	char			 dir[] = "/tmp/test_serial.XXXXXX", path[64];
	char			 cmd[160], line[128], want[SERIAL_HEX_MAX + 8];
	char			 hex[SERIAL_HEX_MAX];
	FILE			*f;
	size_t			 i;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(serial_new(&s, &e), 0);
	assert_int_equal(gnutls_x509_privkey_init(&key), 0);
	assert_int_equal(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(crt, s.b, s.len), 0);
	assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, "serial test", 11), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt,
	    time(NULL)), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt,
	    time(NULL) + 86400), 0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
	assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key,
	    GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM,
	    &pem), 0);
	snprintf(path, sizeof(path), "%s/c.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(pem.data, 1, pem.size, f), pem.size);
	fclose(f);

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -serial -in %s", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_int_equal(pclose(f), 0);
	line[strcspn(line, "\n")] = '\0';
	serial_hex(&s, hex);
	for (i = 0; hex[i] != '\0'; i++)
		hex[i] = (char)(hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i]);
	snprintf(want, sizeof(want), "serial=%s", hex);
	assert_string_equal(line, want);

	unlink(path);
	rmdir(dir);
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_serial_new_gives_1000_distinct_positive_16_octet_integers),
		cmocka_unit_test(test_serial_bits_vary_beyond_the_first_octet),
		cmocka_unit_test(test_serial_hex_round_trips_in_lower_case),
		cmocka_unit_test(
		    test_serial_from_hex_refuses_bad_input_with_a_message),
		cmocka_unit_test(test_serial_hex_matches_openssl_serial_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
