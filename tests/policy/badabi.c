/*
 * badabi: a policy module built for an ABI this Signet does not speak.
 * The core must refuse it at load, naming both versions.
 */
#include <stdio.h>

#include "../../policy/policy.h"

static int
badabi_init(const struct policy_kv *cfg, size_t n, void **ctx, char *err,
    size_t errlen)
{
	*ctx = NULL;
	return 0;
}

static int
badabi_decide(void *ctx, const struct policy_request *req,
    struct policy_decision *out)
{
	out->verdict = POLICY_ISSUE;
	snprintf(out->reason, sizeof(out->reason), "issued by a module that "
	    "should never have been loaded");
	return 0;
}

static void
badabi_free(void *ctx)
{
}

const struct policy_module signet_policy_module = {
	.abi_version = 99,
	.name = "badabi",
	.init = badabi_init,
	.decide = badabi_decide,
	.free = badabi_free,
};
