/*
 * test_shamir: Shamir sharing over GF(2^8) (Shamir 1979; field of
 * FIPS 197 4.2): any m of n shares give the secret back, m-1 shares are
 * consistent with every secret, and the constant-time field multiply
 * agrees with a log/exp reference built here independently.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "shamir.h"

#define SLEN	32
#define SL	SHAMIR_SHARE_LEN(SLEN)

/* Reference: exp/log tables from the generator 0x03 (FIPS 197 4.2). */
static uint8_t	ref_exp[512], ref_log[256];

static void
ref_tables(void)
{
	unsigned	x = 1, i;

	for (i = 0; i < 255; i++) {
		ref_exp[i] = ref_exp[i + 255] = (uint8_t)x;
		ref_log[x] = (uint8_t)i;
		/* x * 3 = x * 2 + x */
		x ^= (x << 1) ^ ((x & 0x80) ? 0x11b : 0);
		x &= 0xff;
	}
}

static uint8_t
ref_mul(uint8_t a, uint8_t b)
{
	if (a == 0 || b == 0)
		return 0;
	return ref_exp[ref_log[a] + ref_log[b]];
}

static void
test_gf_mul_matches_reference_table_for_all_65536_products(void **state)
{
	unsigned	a, b;

	ref_tables();
	/* FIPS 197 4.2: {57} . {83} = {c1} */
	assert_int_equal(shamir_gf_mul(0x57, 0x83), 0xc1);
	for (a = 0; a < 256; a++)
		for (b = 0; b < 256; b++)
			assert_int_equal(shamir_gf_mul((uint8_t)a, (uint8_t)b),
			    ref_mul((uint8_t)a, (uint8_t)b));
}

static void
test_gf_inverse_times_value_is_one(void **state)
{
	unsigned	a;

	assert_int_equal(shamir_gf_inv(0), 0);
	for (a = 1; a < 256; a++)
		assert_int_equal(shamir_gf_mul((uint8_t)a,
		    shamir_gf_inv((uint8_t)a)), 1);
}

/* Picks m distinct share indexes out of n from a random permutation. */
static void
pick(unsigned n, unsigned m, unsigned *idx)
{
	unsigned	perm[SHAMIR_MAX_SHARES], i, j, t;

	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n - 1; i > 0; i--) {
		j = randombytes_uniform(i + 1);
		t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	memcpy(idx, perm, m * sizeof(*idx));
}

static void
test_any_m_of_n_shares_rebuild_the_secret(void **state)
{
	static const unsigned	cases[][2] = {
		{ 2, 2 }, { 2, 3 }, { 3, 3 }, { 2, 5 }, { 3, 5 }, { 5, 5 },
		{ 4, 7 }, { 7, 10 }, { 10, 16 }, { 2, 255 }, { 128, 255 },
		{ 255, 255 },
	};
	static uint8_t	shares[SHAMIR_MAX_SHARES * SL], sub[SHAMIR_MAX_SHARES * SL];
	uint8_t		secret[SLEN], back[SLEN];
	unsigned	c, t, i, idx[SHAMIR_MAX_SHARES], n, m;
	struct err	e;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		m = cases[c][0];
		n = cases[c][1];
		randombytes_buf(secret, sizeof(secret));
		assert_int_equal(shamir_split(secret, SLEN, n, m, shares, &e), 0);
		for (i = 0; i < n; i++)
			assert_int_equal(shares[i * SL], i + 1);
		for (t = 0; t < 20; t++) {
			pick(n, m, idx);
			for (i = 0; i < m; i++)
				memcpy(sub + i * SL, shares + idx[i] * SL, SL);
			assert_int_equal(shamir_combine(sub, m, SLEN, back,
			    &e), 0);
			assert_memory_equal(back, secret, SLEN);
		}
	}
}

static void
test_m_minus_1_shares_give_a_wrong_secret(void **state)
{
	uint8_t		shares[5 * SL], back[SLEN], secret[SLEN];
	unsigned	m, wrong = 0, t;
	struct err	e;

	for (t = 0; t < 50; t++) {
		for (m = 2; m <= 5; m++) {
			randombytes_buf(secret, sizeof(secret));
			assert_int_equal(shamir_split(secret, SLEN, 5, m,
			    shares, &e), 0);
			assert_int_equal(shamir_combine(shares, m - 1, SLEN,
			    back, &e), 0);
			/* all 32 octets right by chance: 2^-256 */
			if (memcmp(back, secret, SLEN) != 0)
				wrong++;
		}
	}
	assert_int_equal(wrong, 50 * 4);
}

static void
test_m_minus_1_shares_fit_every_possible_secret(void **state)
{
	/* 2-of-3 on one octet: the one share we hold lies on a line through
	 * (0, s) for every s, so it tells nothing about the secret */
	uint8_t		secret = 0xa7, shares[3 * 2], pair[2 * 2], back;
	unsigned	s, fits = 0;
	struct err	e;

	assert_int_equal(shamir_split(&secret, 1, 3, 2, shares, &e), 0);
	for (s = 0; s < 256; s++) {
		/* the line through (0, s) and share 1 (x = 1): slope y1 ^ s;
		 * its point at x = 2 is s ^ 2 * slope */
		uint8_t	slope = shares[1] ^ (uint8_t)s;

		pair[0] = 1;
		pair[1] = shares[1];
		pair[2] = 2;
		pair[3] = (uint8_t)s ^ shamir_gf_mul(2, slope);
		assert_int_equal(shamir_combine(pair, 2, 1, &back, &e), 0);
		if (back == s)
			fits++;
	}
	assert_int_equal(fits, 256);
}

static void
test_combine_refuses_repeated_or_zero_x(void **state)
{
	uint8_t		secret[SLEN] = { 1 }, shares[3 * SL], two[2 * SL];
	uint8_t		back[SLEN];
	struct err	e;

	assert_int_equal(shamir_split(secret, SLEN, 3, 2, shares, &e), 0);
	memcpy(two, shares, SL);
	memcpy(two + SL, shares, SL);
	assert_int_equal(shamir_combine(two, 2, SLEN, back, &e), -1);
	assert_non_null(strstr(e.msg, "two shares have x = 1"));
	two[SL] = 0;
	assert_int_equal(shamir_combine(two, 2, SLEN, back, &e), -1);
	assert_non_null(strstr(e.msg, "x = 0"));
}

static void
test_split_refuses_threshold_above_agents_or_below_two(void **state)
{
	uint8_t		secret[SLEN] = { 0 }, shares[5 * SL];
	struct err	e;

	assert_int_equal(shamir_split(secret, SLEN, 3, 4, shares, &e), -1);
	assert_non_null(strstr(e.msg, "threshold 4 of 3"));
	assert_int_equal(shamir_split(secret, SLEN, 3, 1, shares, &e), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gf_mul_matches_reference_table_for_all_65536_products),
		cmocka_unit_test(test_gf_inverse_times_value_is_one),
		cmocka_unit_test(test_any_m_of_n_shares_rebuild_the_secret),
		cmocka_unit_test(test_m_minus_1_shares_give_a_wrong_secret),
		cmocka_unit_test(test_m_minus_1_shares_fit_every_possible_secret),
		cmocka_unit_test(test_combine_refuses_repeated_or_zero_x),
		cmocka_unit_test(test_split_refuses_threshold_above_agents_or_below_two),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
