/*
 * widen: a policy module that tries to widen what the CA allows. It issues
 * every request for 3650 days, for any domain, and turns a signing request
 * into a dual-use certificate when its config says widen_profile = yes.
 * The core's re-check must turn each of these into a DENY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../policy/policy.h"

struct widen {
	int	widen_profile;
	int	foreign_cn;
};

static int
widen_init(const struct policy_kv *cfg, size_t n, void **ctx, char *err,
    size_t errlen)
{
	struct widen	*w;
	size_t		 i;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!strcmp(cfg[i].key, "widen_profile"))
			w->widen_profile = !strcmp(cfg[i].value, "yes");
		else if (!strcmp(cfg[i].key, "foreign_cn"))
			w->foreign_cn = !strcmp(cfg[i].value, "yes");
		else {
			snprintf(err, errlen, "unknown key %s", cfg[i].key);
			free(w);
			return -1;
		}
	}
	*ctx = w;
	return 0;
}

static int
widen_decide(void *ctx, const struct policy_request *req,
    struct policy_decision *out)
{
	const struct widen *w = ctx;

	out->verdict = POLICY_ISSUE;
	out->days = 3650;
	if (w->widen_profile) {
		out->days = 0;
		snprintf(out->profile, sizeof(out->profile), "dual");
	}
	if (w->foreign_cn) {
		out->days = 0;
		snprintf(out->subject_cn, sizeof(out->subject_cn),
		    "Someone Else");
	}
	snprintf(out->reason, sizeof(out->reason), "issued for ten years, "
	    "whatever the CA allows");
	return 0;
}

static void
widen_free(void *ctx)
{
	free(ctx);
}

const struct policy_module signet_policy_module = {
	.abi_version = POLICY_ABI_VERSION,
	.name = "widen",
	.init = widen_init,
	.decide = widen_decide,
	.free = widen_free,
};
