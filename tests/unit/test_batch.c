/*
 * test_batch: the text of `signet issue --batch` lists (ca/batch.h) --
 * fields and the display name split as documented, comments and blank
 * lines skipped, control characters and short lines refused; display
 * names are UTF-8 without control characters; output files are named
 * after their CSR files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"

static int
split(const char *text, struct batch_fields *f, const char **why,
    char *buf, size_t len)
{
	snprintf(buf, len, "%s", text);
	*why = NULL;
	return batch_line_split(buf, f, why);
}

static void
test_fields_and_the_name_are_split_as_documented(void **state)
{
	struct batch_fields	 f;
	const char		*why;
	char			 b[256];

	(void)state;
	assert_int_equal(split("a.csr alice@example.com signing", &f, &why,
	    b, sizeof(b)), 1);
	assert_string_equal(f.csr, "a.csr");
	assert_string_equal(f.email, "alice@example.com");
	assert_string_equal(f.profile, "signing");
	assert_null(f.name);

	/* tabs and runs of blanks; the name keeps its inner blanks */
	assert_int_equal(split(" \tdir/b.csr\t b@example.com  dual \t Bea  "
	    "van Dijk \t\r", &f, &why, b, sizeof(b)), 1);
	assert_string_equal(f.csr, "dir/b.csr");
	assert_string_equal(f.email, "b@example.com");
	assert_string_equal(f.profile, "dual");
	assert_string_equal(f.name, "Bea  van Dijk");

	/* a name is the rest of the line, # included */
	assert_int_equal(split("c.csr c@example.com encryption Team #3", &f,
	    &why, b, sizeof(b)), 1);
	assert_string_equal(f.name, "Team #3");
}

static void
test_blank_lines_and_comments_are_skipped(void **state)
{
	static const char *skip[] = { "", "   ", "\t\t", "\r", "# a comment",
	    "   #indented", "#a.csr a@example.com signing" };
	struct batch_fields	 f;
	const char		*why;
	char			 b[256];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
		assert_int_equal(split(skip[i], &f, &why, b, sizeof(b)), 0);
		assert_null(why);
	}
}

static void
test_short_lines_and_control_characters_are_refused(void **state)
{
	static const struct {
		const char	*line, *why;
	} bad[] = {
		{ "a.csr", "want CSR-FILE MAILBOX PROFILE [NAME]" },
		{ "a.csr a@example.com", "want CSR-FILE MAILBOX PROFILE [NAME]" },
		{ "a.csr a@example.com\t \r", "want CSR-FILE MAILBOX "
		    "PROFILE [NAME]" },
		{ "a.csr a@example.com signing Bad\001Name",
		    "a control character" },
		{ "a.csr\va@example.com signing", "a control character" },
		{ "a.csr a@example.com signing\r\r", "a control character" },
		{ "\033[2Ja.csr a@example.com signing", "a control character" },
	};
	struct batch_fields	 f;
	const char		*why;
	char			 b[256];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(split(bad[i].line, &f, &why, b, sizeof(b)),
		    -1);
		assert_non_null(why);
		assert_string_equal(why, bad[i].why);
	}
}

static void
test_display_names_are_utf8_without_controls(void **state)
{
	static const char *good[] = { "Alice Smith", "Jürgen Groß",
	    "\xe6\x9d\x8e\xe5\xb0\x8f\xe9\xbe\x99",	/* CJK */
	    "\xf0\x9f\x93\xa7 mail",			/* U+1F4E7 */
	    "O'Neil-Smith, Jr." };
	static const struct {
		const char	*name, *why;
	} bad[] = {
		{ "", "1 to 128 characters" },
		{ "tab\there", "a control character" },
		{ "del\x7f", "a control character" },
		{ "c1 \xc2\x85 next line", "a control character" },
		{ "\xc3\x28", "not UTF-8" },		/* bad continuation */
		{ "\xc0\xaf", "not UTF-8" },		/* overlong '/' */
		{ "\xe0\x80\xaf", "not UTF-8" },	/* overlong */
		{ "\xed\xa0\x80", "not UTF-8" },	/* surrogate */
		{ "\xf4\x90\x80\x80", "not UTF-8" },	/* > U+10FFFF */
		{ "\xff", "not UTF-8" },
		{ "cut \xe2\x82", "not UTF-8" },		/* truncated */
	};
	char	long_name[130];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_null(batch_name_problem(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_non_null(batch_name_problem(bad[i].name));
		assert_string_equal(batch_name_problem(bad[i].name),
		    bad[i].why);
	}
	memset(long_name, 'x', 128);
	long_name[128] = '\0';
	assert_null(batch_name_problem(long_name));
	long_name[128] = 'x';
	long_name[129] = '\0';
	assert_string_equal(batch_name_problem(long_name),
	    "1 to 128 characters");
}

static void
test_output_files_are_named_after_their_csr_files(void **state)
{
	static const struct {
		const char	*csr, *out;
	} cases[] = {
		{ "alice.csr", "out/alice.pem" },
		{ "csrs/bob.req.pem", "out/bob.req.pem" },
		{ "/abs/path/carol", "out/carol.pem" },
		{ "x/.hidden", "out/.hidden.pem" },
		{ "dave.csr.der", "out/dave.csr.pem" },
	};
	char	*o;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_non_null(o = batch_out_path("out", cases[i].csr));
		assert_string_equal(o, cases[i].out);
		free(o);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_fields_and_the_name_are_split_as_documented),
		cmocka_unit_test(test_blank_lines_and_comments_are_skipped),
		cmocka_unit_test(
		    test_short_lines_and_control_characters_are_refused),
		cmocka_unit_test(test_display_names_are_utf8_without_controls),
		cmocka_unit_test(
		    test_output_files_are_named_after_their_csr_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
