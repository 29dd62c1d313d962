/*
 * libFuzzer target: csr_parse on arbitrary bytes must refuse or accept
 * without a crash, a leak or undefined behaviour (DESIGN: parsers are
 * fuzzed). Seeds: the corpus of tests/data/make-bad-csrs.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "csr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csr	*c;
	struct err	 e;

	memset(&e, 0, sizeof(e));
	c = csr_parse(data, size, &e);
	if (c == NULL && e.msg[0] == '\0')
		__builtin_trap();	/* every refusal carries a message */
	if (c != NULL && (csr_der(c)->size == 0 || csr_pubkey(c) == NULL ||
	    csr_key_info(c)->name[0] == '\0'))
		__builtin_trap();
	csr_free(c);
	return 0;
}
