/*
 * dir: employee authentication against the directory (RFC 4513).
 *
 * Find the person by mail or uid with an anonymous search whose filter
 * escapes the typed value (RFC 4515 3), then bind as that entry's DN with
 * the password (RFC 4513 5.1.3, simple authentication). Blocking libldap
 * calls: this file runs only inside Kore task threads.
 */
#include <stdio.h>
#include <string.h>

#include <ldap.h>
#include <sodium.h>

#include "web.h"

static void
first_value(LDAP *ld, LDAPMessage *entry, const char *attr, char *out,
    size_t len)
{
	struct berval	**vals;

	if ((vals = ldap_get_values_len(ld, entry, attr)) == NULL)
		return;
	if (vals[0] != NULL && out[0] == '\0')
		snprintf(out, len, "%.*s", (int)vals[0]->bv_len,
		    vals[0]->bv_val);
	ldap_value_free_len(vals);
}

static int
has_value(LDAP *ld, LDAPMessage *entry, const char *attr, const char *want)
{
	struct berval	**vals;
	int		  i, found = 0;

	if ((vals = ldap_get_values_len(ld, entry, attr)) == NULL)
		return 0;
	for (i = 0; vals[i] != NULL; i++)
		if (vals[i]->bv_len == strlen(want) &&
		    strncasecmp(vals[i]->bv_val, want, vals[i]->bv_len) == 0)
			found = 1;
	ldap_value_free_len(vals);
	return found;
}

enum web_auth_result
web_dir_authenticate(const char *uri, const char *base, const char *login,
    const char *password, struct web_person *p, struct err *e)
{
	LDAP			*ld = NULL;
	LDAPMessage		*res = NULL, *entry;
	struct berval		 in, esc = { 0, NULL }, cred;
	struct timeval		 tv = { 10, 0 };
	char			 filter[1024], *dn;
	char			*attrs[] = { "uid", "cn", "displayName", "mail",
				    "description", NULL };
	int			 version = LDAP_VERSION3, rc, n;
	enum web_auth_result	 ret = WEB_AUTH_ERROR;

	memset(p, 0, sizeof(*p));
	/* RFC 4513 5.1.2: an empty password would be an unauthenticated
	 * bind that "succeeds"; never ask the directory with one. */
	if (password == NULL || *password == '\0')
		return WEB_AUTH_BAD;

	if ((rc = ldap_initialize(&ld, uri)) != LDAP_SUCCESS) {
		err_set(e, "directory %s: %s", uri, ldap_err2string(rc));
		goto out;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);

	in.bv_val = (char *)login;
	in.bv_len = strlen(login);
	if (ldap_bv2escaped_filter_value(&in, &esc) != 0) {
		err_set(e, "out of memory");
		goto out;
	}
	if ((size_t)snprintf(filter, sizeof(filter),
	    "(&(objectClass=inetOrgPerson)(|(mail=%s)(uid=%s)))",
	    esc.bv_val, esc.bv_val) >= sizeof(filter)) {
		ret = WEB_AUTH_BAD;
		goto out;
	}
	rc = ldap_search_ext_s(ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0,
	    NULL, NULL, &tv, 2, &res);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		err_set(e, "directory search: %s", ldap_err2string(rc));
		goto out;
	}
	/* Exactly one person must match; two would make the login ambiguous. */
	if ((n = ldap_count_entries(ld, res)) != 1) {
		ret = WEB_AUTH_BAD;
		goto out;
	}
	entry = ldap_first_entry(ld, res);
	if ((dn = ldap_get_dn(ld, entry)) == NULL) {
		err_set(e, "directory entry without a DN");
		goto out;
	}
	snprintf(p->dn, sizeof(p->dn), "%s", dn);
	ldap_memfree(dn);
	first_value(ld, entry, "uid", p->uid, sizeof(p->uid));
	first_value(ld, entry, "displayName", p->display_name,
	    sizeof(p->display_name));
	first_value(ld, entry, "cn", p->display_name, sizeof(p->display_name));
	first_value(ld, entry, "mail", p->mail, sizeof(p->mail));
	p->disabled = has_value(ld, entry, "description", "disabled");

	cred.bv_val = (char *)password;
	cred.bv_len = strlen(password);
	rc = ldap_sasl_bind_s(ld, p->dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
	    NULL);
	if (rc == LDAP_INVALID_CREDENTIALS) {
		ret = WEB_AUTH_BAD;
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		err_set(e, "directory bind: %s", ldap_err2string(rc));
		goto out;
	}
	ret = p->disabled ? WEB_AUTH_DISABLED : WEB_AUTH_OK;
out:
	if (res != NULL)
		ldap_msgfree(res);
	if (esc.bv_val != NULL)
		ber_memfree(esc.bv_val);
	if (ld != NULL)
		ldap_unbind_ext_s(ld, NULL, NULL);
	sodium_memzero(filter, sizeof(filter));
	return ret;
}

/*
 * The person at dn, read again at request time so that the policy sees the
 * directory as it is now: name, mail, the disabled marker, and the cn of
 * every groupOfNames listing the DN as a member (RFC 4519 2.17, 3.5).
 * Anonymous reads: the demo directory and most corporate ones let anyone
 * read names, mail and groups.
 */
int
web_dir_lookup(const char *uri, const char *base, const char *dn,
    struct web_person *p, struct err *e)
{
	LDAP			*ld = NULL;
	LDAPMessage		*res = NULL, *entry;
	struct berval		 in, esc = { 0, NULL }, **vals;
	struct timeval		 tv = { 10, 0 };
	char			 filter[1200];
	char			*attrs[] = { "uid", "cn", "displayName", "mail",
				    "description", NULL };
	char			*gattrs[] = { "cn", NULL };
	int			 version = LDAP_VERSION3, rc, ret = -1;

	memset(p, 0, sizeof(*p));
	if ((rc = ldap_initialize(&ld, uri)) != LDAP_SUCCESS) {
		err_set(e, "directory %s: %s", uri, ldap_err2string(rc));
		goto out;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);

	rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
	    attrs, 0, NULL, NULL, &tv, 1, &res);
	if (rc != LDAP_SUCCESS ||
	    (entry = ldap_first_entry(ld, res)) == NULL) {
		err_set(e, "directory: %s: %s", dn, rc == LDAP_SUCCESS ?
		    "no such entry" : ldap_err2string(rc));
		goto out;
	}
	snprintf(p->dn, sizeof(p->dn), "%s", dn);
	first_value(ld, entry, "uid", p->uid, sizeof(p->uid));
	first_value(ld, entry, "displayName", p->display_name,
	    sizeof(p->display_name));
	first_value(ld, entry, "cn", p->display_name, sizeof(p->display_name));
	first_value(ld, entry, "mail", p->mail, sizeof(p->mail));
	p->disabled = has_value(ld, entry, "description", "disabled");
	ldap_msgfree(res);
	res = NULL;

	/* RFC 4515 3: the DN is a value inside the filter; escape it. */
	in.bv_val = (char *)dn;
	in.bv_len = strlen(dn);
	if (ldap_bv2escaped_filter_value(&in, &esc) != 0) {
		err_set(e, "out of memory");
		goto out;
	}
	if ((size_t)snprintf(filter, sizeof(filter),
	    "(&(objectClass=groupOfNames)(member=%s))", esc.bv_val) >=
	    sizeof(filter)) {
		err_set(e, "directory: DN too long");
		goto out;
	}
	rc = ldap_search_ext_s(ld, base, LDAP_SCOPE_SUBTREE, filter, gattrs, 0,
	    NULL, NULL, &tv, 64, &res);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		err_set(e, "directory group search: %s", ldap_err2string(rc));
		goto out;
	}
	for (entry = ldap_first_entry(ld, res); entry != NULL &&
	    p->ngroups < sizeof(p->groups) / sizeof(p->groups[0]);
	    entry = ldap_next_entry(ld, entry)) {
		if ((vals = ldap_get_values_len(ld, entry, "cn")) == NULL)
			continue;
		if (vals[0] != NULL && vals[0]->bv_len < sizeof(p->groups[0]))
			snprintf(p->groups[p->ngroups++], sizeof(p->groups[0]),
			    "%.*s", (int)vals[0]->bv_len, vals[0]->bv_val);
		ldap_value_free_len(vals);
	}
	ret = 0;
out:
	if (res != NULL)
		ldap_msgfree(res);
	if (esc.bv_val != NULL)
		ber_memfree(esc.bv_val);
	if (ld != NULL)
		ldap_unbind_ext_s(ld, NULL, NULL);
	return ret;
}
