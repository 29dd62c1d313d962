/*
 * test_config: an instance's signet.conf -- the defaults `signet setup`
 * writes load back as written; every refusal names the file, the line and
 * the setting; paths and the home resolve as documented (ca/config.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testlib.h"
#include "config.h"

struct dir {
	char	home[64];
	char	conf[96];
};

static int
setup(void **state)
{
	struct dir	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -1;
	snprintf(d->home, sizeof(d->home), "/tmp/test_config.XXXXXX");
	if (mkdtemp(d->home) == NULL) {
		free(d);
		return -1;
	}
	snprintf(d->conf, sizeof(d->conf), "%s/signet.conf", d->home);
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	struct dir	*d = *state;

	unlink(d->conf);
	rmdir(d->home);
	free(d);
	return 0;
}

static void
put(const struct dir *d, const char *text)
{
	write_file(d->conf, text, strlen(text));
}

static void
test_a_minimal_file_gets_the_documented_defaults(void **state)
{
	struct dir	*d = *state;
	struct config	*c;
	struct err	 e;

	put(d, "[ca]\n");
	assert_non_null(c = config_load(d->home, &e));
	assert_string_equal(c->home, d->home);
	assert_string_equal(c->path, d->conf);
	assert_int_equal(c->default_days, 365);
	assert_int_equal(c->max_days, 825);
	assert_int_equal(c->non_repudiation, 0);
	assert_string_equal(c->ca_key, "ca.key");
	assert_string_equal(c->ca_cert, "ca.pem");
	assert_string_equal(c->policy_oid, "2.23.140.1.5.1.3");
	assert_string_equal(c->server_key_type, "rsa-3072");
	assert_string_equal(c->allowed_domains, "example.com");
	assert_string_equal(c->policy_module, "exchange");
	assert_string_equal(c->db_conninfo, "");
	assert_null(c->ca_secret_file);
	assert_null(c->ca_secret_env);
	config_free(c);
}

static void
test_the_file_setup_writes_loads_back_as_written(void **state)
{
	struct dir		*d = *state;
	struct config_init	 ci = { "Example Mail CA", "ca.key", "ca.pass",
	    "http://ca.example.com:8080", "example.com,example.org" };
	struct config		*c;
	struct err		 e;

	assert_int_equal(config_write_default(d->home, &ci, &e), 0);
	assert_non_null(c = config_load(d->home, &e));
	assert_string_equal(c->ca_name, "Example Mail CA");
	assert_string_equal(c->ca_key, "ca.key");
	assert_string_equal(c->ca_secret_file, "ca.pass");
	assert_string_equal(c->crl_url,
	    "http://ca.example.com:8080/crl/ca.crl");
	assert_string_equal(c->ocsp_url, "http://ca.example.com:8080/ocsp");
	assert_string_equal(c->issuer_url,
	    "http://ca.example.com:8080/ca.cer");
	assert_string_equal(c->allowed_domains, "example.com,example.org");
	assert_int_equal(c->default_days, 365);
	assert_int_equal(c->max_days, 825);
	config_free(c);
	/* never over an instance's own file */
	assert_int_equal(config_write_default(d->home, &ci, &e), -1);
	assert_non_null(strstr(e.msg, "already exists"));
}

static void
test_settings_are_read(void **state)
{
	struct dir	*d = *state;
	struct config	*c;
	struct err	 e;

	put(d, "[ca]\nname = Mail CA\nkey = pkcs11:token=ca;object=k\n"
	    "secret_env = CA_PIN\ncrl_url = http://c.example/ca.crl\n"
	    "[database]\nconninfo = host=/run/postgresql dbname=ca\n"
	    "[profile]\ndefault_days = 30\nmax_days = 397\n"
	    "non_repudiation = yes\nserver_key_type = ecdsa-p384\n"
	    "allowed_domains = example.net\n"
	    "[policy]\nmodule = manual\n");
	assert_non_null(c = config_load(d->home, &e));
	assert_string_equal(c->ca_name, "Mail CA");
	assert_string_equal(c->ca_key, "pkcs11:token=ca;object=k");
	assert_string_equal(c->ca_secret_env, "CA_PIN");
	assert_string_equal(c->crl_url, "http://c.example/ca.crl");
	assert_string_equal(c->db_conninfo, "host=/run/postgresql dbname=ca");
	assert_int_equal(c->default_days, 30);
	assert_int_equal(c->max_days, 397);
	assert_int_equal(c->non_repudiation, 1);
	assert_string_equal(c->server_key_type, "ecdsa-p384");
	assert_string_equal(c->allowed_domains, "example.net");
	assert_string_equal(c->policy_module, "manual");
	config_free(c);
}

/*
 * Each bad file is refused with the message the operator sees: the path,
 * the line, the section and key, and why.
 */
static void
test_bad_files_are_refused_naming_the_line(void **state)
{
	static const struct {
		const char	*text;
		const char	*says;
	} bad[] = {
		{ "[profile]\nmax_days = 900\n",
		  "line 2: [profile] max_days: must be a number of days from "
		  "1 to 825 (S/MIME BR 6.3.2)" },
		{ "[profile]\ndefault_days = 0\n",
		  "line 2: [profile] default_days: must be a number of days "
		  "from 1 to 825" },
		{ "[profile]\n\ndefault_days = 12x\n",
		  "line 3: [profile] default_days: must be a number" },
		{ "[profile]\nmax_days = -1\n",
		  "line 2: [profile] max_days: must be a number" },
		{ "[profile]\nmax_days = 99999999999999999999\n",
		  "line 2: [profile] max_days: must be a number" },
		{ "[profile]\nnon_repudiation = maybe\n",
		  "line 2: [profile] non_repudiation: must be yes or no" },
		{ "[profile]\nserver_key_type = dsa-1024\n",
		  "line 2: [profile] server_key_type: must be rsa-3072, "
		  "rsa-4096, ecdsa-p256 or ecdsa-p384" },
		{ "[ca]\ncrl_url = https://c.example/ca.crl\n",
		  "line 2: [ca] crl_url: must be an http:// URL (S/MIME BR "
		  "7.1.2.3)" },
		{ "[ca]\nocsp_url = ldap://c.example/\n",
		  "line 2: [ca] ocsp_url: must be an http:// URL" },
		{ "[ca]\ncolour = blue\n",
		  "line 2: [ca] colour: unknown setting" },
		{ "[database]\nhost = db.example\n",
		  "line 2: [database] host: unknown setting" },
		{ "[ca]\nname = A\n[revocaton]\ncrl_next_days = 3\n",
		  "line 4: [revocaton] crl_next_days: not a section Signet "
		  "reads" },
		{ "[publish.ftp.x]\nroot = pub\n",
		  "line 2: [publish.ftp.x] root: not a section Signet reads" },
		{ "[profile]\nmax_days = 397\nmax_days = 825\n",
		  "line 3: [profile] max_days: set twice in its section" },
		{ "[revocation]\ncrl_next_days = 3\n[ca]\n[revocation]\n"
		  "crl_next_days = 9\n",
		  "line 5: [revocation] crl_next_days: set twice in its "
		  "section" },
		{ "[profile]\ndefault_days = 500\nmax_days = 400\n",
		  "[profile] default_days (500) is above max_days (400)" },
		{ "this is not INI\n",
		  "line 1: not valid INI syntax" },
		{ "[ca\n",
		  "line 1: not valid INI syntax" },
		{ "name = Mail CA\n[ca]\n",
		  "line 1: name: a setting before any [section]" },
	};
	struct dir	*d = *state;
	struct config	*c;
	struct err	 e;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(d, bad[i].text);
		e.msg[0] = '\0';
		c = config_load(d->home, &e);
		if (c != NULL || strstr(e.msg, bad[i].says) == NULL ||
		    strncmp(e.msg, d->conf, strlen(d->conf)) != 0)
			fail_msg("case %zu: %s\n  got: %s", i, bad[i].text,
			    c != NULL ? "(accepted)" : e.msg);
	}
}

static void
test_sections_of_other_parts_are_left_to_them(void **state)
{
	struct dir	*d = *state;
	struct config	*c;
	struct err	 e;

	/* their keys are theirs to check; the same key in two sections is
	 * two settings */
	put(d, "[policy]\nmodule = exchange\nauto_groups = smime-auto\n"
	    "[revocation]\ncrl_next_days = 3\n[publish]\nbatch = 64\n"
	    "[publish.ldap.a]\nuri = ldap://127.0.0.1\n"
	    "[publish.ldap.b]\nuri = ldap://127.0.0.2\n"
	    "[publish.web.site]\nroot = pub\n[kra]\nenabled = yes\n");
	assert_non_null(c = config_load(d->home, &e));
	config_free(c);
}

static void
test_a_missing_file_says_to_run_setup(void **state)
{
	struct dir	*d = *state;
	struct err	 e;

	unlink(d->conf);
	assert_null(config_load(d->home, &e));
	assert_non_null(strstr(e.msg, "No such file or directory"));
	assert_non_null(strstr(e.msg, "run `signet setup` first"));
}

static void
test_paths_resolve_against_the_home(void **state)
{
	struct dir	*d = *state;
	struct config	*c;
	struct err	 e;
	char		*p, want[128];

	put(d, "[ca]\n");
	assert_non_null(c = config_load(d->home, &e));
	assert_non_null(p = config_path(c, "ca.key"));
	snprintf(want, sizeof(want), "%s/ca.key", d->home);
	assert_string_equal(p, want);
	free(p);
	assert_non_null(p = config_path(c, "/etc/signet/ca.key"));
	assert_string_equal(p, "/etc/signet/ca.key");
	free(p);
	assert_non_null(p = config_path(c, "pkcs11:token=ca"));
	assert_string_equal(p, "pkcs11:token=ca");
	free(p);
	assert_null(config_path(c, ""));
	assert_null(config_path(c, NULL));
	config_free(c);

	put(d, "[database]\nconninfo = host=/run/postgresql dbname=ca\n");
	assert_non_null(c = config_load(d->home, &e));
	assert_non_null(p = config_conninfo(c));
	assert_string_equal(p, "host=/run/postgresql dbname=ca");
	free(p);
	config_free(c);
}

static void
test_the_home_is_the_argument_then_SIGNET_HOME_then_var(void **state)
{
	char		*h, cwd[4096], want[4200];
	struct err	 e;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(setenv("SIGNET_HOME", "/srv/signet-env", 1), 0);
	assert_non_null(h = config_home("/srv/signet//", &e));
	assert_string_equal(h, "/srv/signet");
	free(h);
	assert_non_null(h = config_home("rel/home", &e));
	snprintf(want, sizeof(want), "%s/rel/home", cwd);
	assert_string_equal(h, want);
	free(h);
	assert_non_null(h = config_home(NULL, &e));
	assert_string_equal(h, "/srv/signet-env");
	free(h);
	assert_int_equal(unsetenv("SIGNET_HOME"), 0);
	assert_non_null(h = config_home("", &e));
	snprintf(want, sizeof(want), "%s/var", cwd);
	assert_string_equal(h, want);
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_a_minimal_file_gets_the_documented_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_the_file_setup_writes_loads_back_as_written, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_settings_are_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_files_are_refused_naming_the_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_sections_of_other_parts_are_left_to_them, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_missing_file_says_to_run_setup, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_paths_resolve_against_the_home, setup, teardown),
		cmocka_unit_test(
		    test_the_home_is_the_argument_then_SIGNET_HOME_then_var),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
