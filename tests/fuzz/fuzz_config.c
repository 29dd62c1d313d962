/*
 * libFuzzer target: signet.conf as config_load and kra_config_load read
 * it (libinih and Signet's handlers). Whatever the bytes, each refuses
 * with a message or accepts settings inside their documented ranges,
 * without a crash, a leak or undefined behaviour. Seeds:
 * tests/fuzz/seeds/fuzz_config/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kra.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	home[64], path[96];

static void
cleanup(void)
{
	unlink(path);
	rmdir(home);
}

static int
http_or_empty(const char *u)
{
	return u != NULL && (*u == '\0' || strncmp(u, "http://", 7) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kra_config	 kc;
	struct config		*c;
	struct err		 e;
	FILE			*f;

	if (home[0] == '\0') {
		snprintf(home, sizeof(home), "/tmp/fuzz_config.XXXXXX");
		if (mkdtemp(home) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/signet.conf", home);
		atexit(cleanup);
	}
	if ((f = fopen(path, "w")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();

	memset(&e, 0, sizeof(e));
	if ((c = config_load(home, &e)) == NULL) {
		if (e.msg[0] == '\0')
			__builtin_trap();	/* every refusal says why */
	} else {
		if (c->default_days < 1 || c->max_days > 825 ||
		    c->default_days > c->max_days ||
		    !http_or_empty(c->crl_url) || !http_or_empty(c->ocsp_url) ||
		    !http_or_empty(c->issuer_url))
			__builtin_trap();
		config_free(c);
	}

	memset(&e, 0, sizeof(e));
	if (kra_config_load(path, &kc, &e) != 0) {
		if (e.msg[0] == '\0')
			__builtin_trap();
	} else if (kc.grace_days > 36500 || kc.window_hours < 1 ||
	    kc.window_hours > 24 * 90 || (kc.enabled != 0 && kc.enabled != 1))
		__builtin_trap();
	return 0;
}
