/*
 * Shamir secret sharing over GF(2^8); see shamir.h.
 */
#include <string.h>

#include <sodium.h>

#include "shamir.h"

/*
 * Carry-less multiply with reduction by 0x11b (FIPS 197 4.2.1), eight
 * rounds whatever the operands: masks instead of branches, so time and
 * memory access do not depend on a or b.
 */
uint8_t
shamir_gf_mul(uint8_t a, uint8_t b)
{
	unsigned	r = 0, x = a, y = b, i;

	for (i = 0; i < 8; i++) {
		r ^= x & (0u - (y & 1u));
		y >>= 1;
		/* xtime: multiply by x, reducing when the top bit falls out */
		x = ((x << 1) ^ (0x11bu & (0u - ((x >> 7) & 1u)))) & 0xffu;
	}
	return (uint8_t)r;
}

/* a^254 = a^-1 in GF(2^8)* (Fermat), by a fixed square-and-multiply chain. */
uint8_t
shamir_gf_inv(uint8_t a)
{
	uint8_t	a2, a3, a6, a7, a14, a15, a30, a60, a120, a126, a127, a254;

	a2 = shamir_gf_mul(a, a);
	a3 = shamir_gf_mul(a2, a);
	a6 = shamir_gf_mul(a3, a3);
	a7 = shamir_gf_mul(a6, a);
	a14 = shamir_gf_mul(a7, a7);
	a15 = shamir_gf_mul(a14, a);
	a30 = shamir_gf_mul(a15, a15);
	a60 = shamir_gf_mul(a30, a30);
	a120 = shamir_gf_mul(a60, a60);
	a126 = shamir_gf_mul(a120, a6);
	a127 = shamir_gf_mul(a126, a);
	a254 = shamir_gf_mul(a127, a127);
	return a254;
}

int
shamir_split(const uint8_t *secret, size_t len, unsigned n, unsigned m,
    uint8_t *shares, struct err *e)
{
	uint8_t		 coef[SHAMIR_MAX_SHARES];
	size_t		 i, sl = SHAMIR_SHARE_LEN(len);
	unsigned	 k, j;
	uint8_t		 x, y;

	if (m < 2 || m > n || n > SHAMIR_MAX_SHARES)
		return err_set(e, "threshold %u of %u agents: need 2 <= "
		    "threshold <= agents <= %d", m, n, SHAMIR_MAX_SHARES);
	if (len == 0)
		return err_set(e, "nothing to share");
	if (sodium_init() < 0)
		return err_set(e, "libsodium failed to initialise");
	for (k = 0; k < n; k++)
		shares[k * sl] = (uint8_t)(k + 1);
	for (i = 0; i < len; i++) {
		/* f(x) = secret[i] + c1 x + ... + c(m-1) x^(m-1), c random */
		coef[0] = secret[i];
		randombytes_buf(coef + 1, m - 1);
		for (k = 0; k < n; k++) {
			x = (uint8_t)(k + 1);
			/* Horner */
			y = 0;
			for (j = m; j-- > 0;)
				y = shamir_gf_mul(y, x) ^ coef[j];
			shares[k * sl + 1 + i] = y;
		}
	}
	sodium_memzero(coef, sizeof(coef));
	return 0;
}

int
shamir_combine(const uint8_t *shares, unsigned m, size_t len,
    uint8_t *secret, struct err *e)
{
	uint8_t		 lagr[SHAMIR_MAX_SHARES];
	size_t		 sl = SHAMIR_SHARE_LEN(len), i;
	unsigned	 k, j;
	uint8_t		 num, den, xk, xj, acc;

	if (m < 1 || m > SHAMIR_MAX_SHARES)
		return err_set(e, "%u shares: need 1 to %d", m,
		    SHAMIR_MAX_SHARES);
	/* x coordinates are public: checking them may branch */
	for (k = 0; k < m; k++) {
		xk = shares[k * sl];
		if (xk == 0)
			return err_set(e, "share %u has x = 0", k + 1);
		for (j = 0; j < k; j++)
			if (shares[j * sl] == xk)
				return err_set(e, "two shares have x = %u", xk);
	}
	/* Lagrange basis at 0: l_k = prod_{j != k} x_j / (x_j - x_k); in
	 * characteristic 2, subtraction is xor */
	for (k = 0; k < m; k++) {
		xk = shares[k * sl];
		num = 1;
		den = 1;
		for (j = 0; j < m; j++) {
			if (j == k)
				continue;
			xj = shares[j * sl];
			num = shamir_gf_mul(num, xj);
			den = shamir_gf_mul(den, xj ^ xk);
		}
		lagr[k] = shamir_gf_mul(num, shamir_gf_inv(den));
	}
	for (i = 0; i < len; i++) {
		acc = 0;
		for (k = 0; k < m; k++)
			acc ^= shamir_gf_mul(lagr[k], shares[k * sl + 1 + i]);
		secret[i] = acc;
	}
	acc = 0;
	return 0;
}
