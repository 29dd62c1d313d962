/*
 * manual: every request pends for a PKI officer. The smallest complete
 * policy module, and a proof that the ABI (policy.h) needs nothing else.
 * It takes no configuration: any key in its section is refused.
 */
#include <stdio.h>

#include "policy.h"

static int
manual_init(const struct policy_kv *cfg, size_t n, void **ctx, char *err,
    size_t errlen)
{
	*ctx = NULL;
	if (n > 0) {
		snprintf(err, errlen, "%s: the manual policy has no settings",
		    cfg[0].key);
		return -1;
	}
	return 0;
}

static int
manual_decide(void *ctx, const struct policy_request *req,
    struct policy_decision *out)
{
	out->verdict = POLICY_PEND;
	snprintf(out->reason, sizeof(out->reason),
	    "every request is reviewed by an officer (manual policy)");
	return 0;
}

static void
manual_free(void *ctx)
{
}

const struct policy_module signet_policy_module = {
	.abi_version = POLICY_ABI_VERSION,
	.name = "manual",
	.init = manual_init,
	.decide = manual_decide,
	.free = manual_free,
};
