/*
 * serial: certificate serial numbers.
 *
 * RFC 5280 4.1.2.2: a positive INTEGER of at most 20 octets, unique per CA.
 * S/MIME BR 7.1: at least 64 bits of output from a CSPRNG.
 *
 * A struct serial holds the content octets of the DER INTEGER exactly as
 * they appear in the certificate, so that one number has one spelling.
 */
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "serial.h"

int
serial_new(struct serial *s, struct err *e)
{
	int	rc = -1;

	memset(s, 0, sizeof(*s));
	if (gnutls_rnd(GNUTLS_RND_RANDOM, s->b, SERIAL_LEN) < 0) {
		err_set(e, "serial: the random number generator failed");
		goto out;
	}
	/*
	 * RFC 5280 4.1.2.2: the serial is positive. gnutls_x509_crt_set_serial
	 * writes the octets as a signed INTEGER, so clear the top bit.
	 */
	s->b[0] &= 0x7f;
	/*
	 * X.690 8.3.2: a DER INTEGER has no leading zero octet (unless the
	 * next one has its top bit set). Keep the first octet non-zero so the
	 * INTEGER is always SERIAL_LEN octets and its hex form is stable.
	 * Setting 0x40 happens once in 128 draws and still leaves the other
	 * 15 random octets: 120 bits, well above the 64 bits of S/MIME BR 7.1.
	 */
	if (s->b[0] == 0)
		s->b[0] = 0x40;
	s->len = SERIAL_LEN;
	rc = 0;
out:
	return rc;
}

void
serial_hex(const struct serial *s, char out[SERIAL_HEX_MAX])
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i, n;

	n = s->len;
	if (n > sizeof(s->b))
		n = sizeof(s->b);
	for (i = 0; i < n; i++) {
		out[2 * i] = digits[s->b[i] >> 4];
		out[2 * i + 1] = digits[s->b[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parses the hex of a serial's DER INTEGER content octets. Upper-case
 * digits are accepted (operators paste serials from other tools); the
 * result is the same number serial_hex prints in lower case.
 */
int
serial_from_hex(const char *hex, struct serial *s, struct err *e)
{
	struct serial	 tmp;
	size_t		 len, i;
	int		 hi, lo, nonzero = 0, rc = -1;

	memset(&tmp, 0, sizeof(tmp));
	len = strlen(hex);
	if (len == 0) {
		err_set(e, "serial: empty");
		goto out;
	}
	if (len % 2 != 0) {
		err_set(e, "serial: odd number of hex digits (%zu)", len);
		goto out;
	}
	/* RFC 5280 4.1.2.2: at most 20 octets. */
	if (len > 2 * sizeof(tmp.b)) {
		err_set(e, "serial: longer than 20 octets (%zu hex digits)",
		    len);
		goto out;
	}
	for (i = 0; i < len; i += 2) {
		hi = hex_value(hex[i]);
		lo = hex_value(hex[i + 1]);
		if (hi < 0 || lo < 0) {
			err_set(e, "serial: not a hex digit at position %zu",
			    hi < 0 ? i + 1 : i + 2);
			goto out;
		}
		tmp.b[i / 2] = (uint8_t)(hi << 4 | lo);
		if (tmp.b[i / 2] != 0)
			nonzero = 1;
	}
	tmp.len = len / 2;
	/* RFC 5280 4.1.2.2: positive, so not zero and no sign bit. */
	if (!nonzero) {
		err_set(e, "serial: zero is not a valid serial number");
		goto out;
	}
	if (tmp.b[0] & 0x80) {
		err_set(e, "serial: negative (first octet %02x has the top bit "
		    "set; a positive serial needs a leading 00)", tmp.b[0]);
		goto out;
	}
	/* X.690 8.3.2: DER allows a leading 00 only before a top bit set. */
	if (tmp.len > 1 && tmp.b[0] == 0 && !(tmp.b[1] & 0x80)) {
		err_set(e, "serial: redundant leading zero octet");
		goto out;
	}
	*s = tmp;
	rc = 0;
out:
	return rc;
}
