/*
 * shamir: Shamir's secret sharing over GF(2^8) (A. Shamir, "How to share a
 * secret", CACM 22(11), 1979), byte by byte, with the AES field polynomial
 * x^8 + x^4 + x^3 + x + 1 (FIPS 197 4.2).
 *
 * A share is 1 + len octets: its x coordinate (1..255, never 0: f(0) is the
 * secret) followed by f_i(x) for every secret octet i. Any m shares give the
 * secret back; m-1 shares say nothing about it (every secret is equally
 * likely given them).
 *
 * Arithmetic on secret values is constant time: no table lookups indexed
 * by secret octets and no branches on them (log/exp tables leak the
 * operands through the cache).
 */
#ifndef SIGNET_SHAMIR_H
#define SIGNET_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SHAMIR_MAX_SHARES	255

/* The size of one share for a secret of len octets. */
#define SHAMIR_SHARE_LEN(len)	((len) + 1)

/*
 * Splits secret (len octets) into n shares, any m of which recover it
 * (2 <= m <= n <= 255). shares receives n * SHAMIR_SHARE_LEN(len) octets;
 * share k has x = k + 1. Coefficients come from the system CSPRNG
 * (libsodium randombytes) and are wiped before returning.
 */
int	shamir_split(const uint8_t *secret, size_t len, unsigned n, unsigned m,
	    uint8_t *shares, struct err *e);

/*
 * Recombines m shares (m * SHAMIR_SHARE_LEN(len) octets, any order) by
 * Lagrange interpolation at x = 0. Refuses x = 0 and repeated x. Given
 * fewer shares than the threshold it returns a value unrelated to the
 * secret -- the caller must check the result (e.g. against a public key).
 */
int	shamir_combine(const uint8_t *shares, unsigned m, size_t len,
	    uint8_t *secret, struct err *e);

/* GF(2^8) product, constant time (exposed for the tests). */
uint8_t	shamir_gf_mul(uint8_t a, uint8_t b);

/* GF(2^8) inverse (a^254), constant time; 0 maps to 0. */
uint8_t	shamir_gf_inv(uint8_t a);

#endif
