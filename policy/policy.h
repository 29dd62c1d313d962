/*
 * policy.h: the ABI between Signet's CA core and a policy module.
 *
 * A policy module is a shared object that decides, for one certificate
 * request, whether the CA issues it at once (ISSUE), holds it for a PKI
 * officer (PEND) or refuses it (DENY), and why, in a sentence a person
 * understands. It may also narrow the certificate's shape: a shorter
 * validity, a dual-use request narrowed to one use, the subject CN.
 *
 * A module includes only this header and libc: it never links against
 * libsignet, so this file is the whole contract. Every module exports
 *
 *	const struct policy_module signet_policy_module = {
 *		.abi_version = POLICY_ABI_VERSION,
 *		.name = "mine",
 *		.init = ..., .decide = ..., .free = ...,
 *	};
 *
 * The core loads it with dlopen(), refuses a module whose abi_version is
 * not its own, and re-checks every ISSUE against the CA configuration
 * (mail domains, maximum validity, allowed profiles): a module may narrow
 * what the CA allows, never widen it.
 *
 * Change POLICY_ABI_VERSION whenever a struct below changes layout or
 * meaning; append fields only at the end of struct policy_request and
 * struct policy_decision, and still bump the version.
 */
#ifndef SIGNET_POLICY_ABI_H
#define SIGNET_POLICY_ABI_H

#include <stddef.h>

#define POLICY_ABI_VERSION	1

/* The exported symbol's name, for dlsym(). */
#define POLICY_MODULE_SYMBOL	"signet_policy_module"

enum policy_verdict {
	POLICY_ISSUE = 1,	/* sign now */
	POLICY_PEND,		/* hold for an officer's approval */
	POLICY_DENY,		/* refuse; the reason is shown to the requester */
};

/* One key = value line of the module's configuration section. The strings
 * live until init returns: a module copies what it keeps. */
struct policy_kv {
	const char	*key;
	const char	*value;
};

/* What the module decides on. Filled by the core from the request row, the
 * directory and the certificate store; every string is NUL-terminated and
 * valid only during the decide call. */
struct policy_request {
	const char	*requester;	/* who asks: directory uid, or operator name */
	const char	*requester_mail; /* the requester's directory mail, NULL if none */
	const char	*email;		/* the mailbox to certify (SAN rfc822Name) */
	const char	*display_name;	/* directory display name, NULL if none */
	const char *const *groups;	/* the requester's directory groups */
	size_t		 ngroups;
	int		 authenticated;	/* identity authenticated against the directory */
	int		 account_disabled; /* the directory account is disabled */
	int		 via_ra;	/* arrived through the trusted RA (the
					   enrollment site's RA credential) */
	int		 on_behalf;	/* an officer submits for someone else */
	const char	*profile;	/* "signing" | "encryption" | "dual" */
	const char	*key_type;	/* "rsa-3072", "ecdsa-p256", ...: the key
					   already passed the core's checks
					   (S/MIME BR 6.1.5) */
	unsigned	 key_bits;	/* RSA modulus bits, or curve size */
	unsigned	 days;		/* requested validity, 0 = no preference */
	unsigned	 default_days;	/* the CA's default validity and */
	unsigned	 max_days;	/* maximum ([profile] of signet.conf),
					   filled in by the core */
	unsigned	 valid_certs;	/* unexpired, unrevoked certificates for
					   this mailbox and profile */
	int		 key_already_certified; /* this public key is in a
					   certificate already (anyone's, any profile) */
	int		 kra;		/* key recovery on: this request is one
					   half of a signing + encryption pair */
};

/* The module's answer. The core zeroes it before decide. */
struct policy_decision {
	enum policy_verdict verdict;
	char		reason[256];	/* a plain sentence for the requester
					   and the officer */
	char		profile[16];	/* "" = the requested profile; otherwise
					   the requested one, or "signing" or
					   "encryption" narrowed from "dual" */
	unsigned	days;		/* 0 = the requested days, or the
					   CA's default when none */
	char		subject_cn[128]; /* "" = the core's choice (display
					   name, else mailbox); otherwise the
					   display name or the mailbox */
};

struct policy_module {
	unsigned	 abi_version;	/* POLICY_ABI_VERSION */
	const char	*name;		/* short, for logs and messages */

	/*
	 * Reads the module's configuration section (cfg[0..n-1], in file
	 * order) and sets *ctx to the module's state (NULL is allowed).
	 * Returns 0, or -1 with a sentence in err naming the bad key; an
	 * unknown key should be refused, so that a typo does not silently
	 * loosen the policy.
	 */
	int	(*init)(const struct policy_kv *cfg, size_t n, void **ctx,
		    char *err, size_t errlen);

	/*
	 * Fills *out for one request. Returns 0, or -1 when the module
	 * cannot decide at all (its reason then says why); the core then
	 * leaves the request as it was. Called from one thread at a time.
	 */
	int	(*decide)(void *ctx, const struct policy_request *req,
		    struct policy_decision *out);

	/* Frees what init made; ctx may be NULL. */
	void	(*free)(void *ctx);
};

#endif
