/*
 * libFuzzer target for ocsp_request_parse (RFC 6960 4.1.1): whatever the
 * input, the parser returns a request or NULL with a message, and an
 * accepted request is self-consistent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocsp.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocsp_request		*req;
	const struct ocsp_certid	*id;
	struct err			 e;
	const uint8_t			*nonce;
	size_t				 i, n, nlen;

	e.msg[0] = '\0';
	if ((req = ocsp_request_parse(data, size, &e)) == NULL) {
		if (e.msg[0] == '\0')
			abort();	/* every refusal says why */
		return 0;
	}
	n = ocsp_request_count(req);
	if (n < 1 || n > OCSP_MAX_CERTS)
		abort();
	for (i = 0; i < n; i++) {
		id = ocsp_request_certid(req, i);
		if (id == NULL || id->hash_len > sizeof(id->name_hash) ||
		    id->serial_len < 1 || id->serial_len > sizeof(id->serial))
			abort();
	}
	if (ocsp_request_certid(req, n) != NULL)
		abort();
	nonce = ocsp_request_nonce(req, &nlen);
	if ((nonce == NULL) != (nlen == 0) || nlen > OCSP_NONCE_MAX)
		abort();
	ocsp_request_free(req);
	return 0;
}
