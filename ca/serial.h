/*
 * serial: certificate serial numbers. RFC 5280 4.1.2.2 and
 * S/MIME BR 7.1: positive, at most 20 octets, at least 64 bits from a CSPRNG.
 */
#ifndef SIGNET_SERIAL_H
#define SIGNET_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SERIAL_LEN	16	/* 127 random bits; top bit cleared */
#define SERIAL_HEX_MAX	41

struct serial {
	uint8_t	b[20];
	size_t	len;
};

int	serial_new(struct serial *s, struct err *e);
/* Lower-case hex without leading zero octets stripped: exactly 2*len chars. */
void	serial_hex(const struct serial *s, char out[SERIAL_HEX_MAX]);
int	serial_from_hex(const char *hex, struct serial *s, struct err *e);

#endif
