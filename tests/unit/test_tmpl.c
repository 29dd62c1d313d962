/*
 * test_tmpl: the template renderer escapes every value for HTML, renders
 * sections and inverted sections, renders missing names as empty, and
 * refuses templates whose tags do not balance.
 *
 * web/tmpl.c is compiled into this test directly (it has no Kore
 * dependency) so the generic tests/unit rule of the top-level Makefile,
 * which links only build/rel/libsignet.a, builds it unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../web/tmpl.c"

static char *
render_src(const char *src, const struct tmpl_data *d)
{
	struct tmpl_cache	*c;
	struct err		 e;
	char			*out;

	c = tmpl_cache_new();
	assert_non_null(c);
	assert_int_equal(tmpl_cache_add(c, "t", src, strlen(src), &e), 0);
	out = tmpl_render(c, "t", d, NULL, &e);
	assert_non_null(out);
	tmpl_cache_free(c);
	return out;
}

static void
test_tmpl_escapes_script_tag_and_quotes(void **state)
{
	struct tmpl_data	*d = tmpl_data_new();
	struct err		 e;
	char			*out;

	assert_int_equal(tmpl_data_set(d, "v",
	    "<script>alert(\"x\")</script>'", &e), 0);
	out = render_src("<p title=\"{{v}}\">{{v}}</p>", d);
	assert_string_equal(out,
	    "<p title=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;\">"
	    "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;</p>");
	free(out);
	tmpl_data_free(d);
}

static void
test_tmpl_escapes_existing_entity_again(void **state)
{
	struct tmpl_data	*d = tmpl_data_new();
	struct err		 e;
	char			*out;

	/* "&amp;" typed by a user is text, not markup: shown literally. */
	assert_int_equal(tmpl_data_set(d, "v", "Tom &amp; Jerry", &e), 0);
	out = render_src("{{v}}", d);
	assert_string_equal(out, "Tom &amp;amp; Jerry");
	free(out);
	tmpl_data_free(d);
}

static void
test_tmpl_triple_braces_insert_raw(void **state)
{
	struct tmpl_data	*d = tmpl_data_new();
	struct err		 e;
	char			*out;

	assert_int_equal(tmpl_data_set(d, "body", "<main>x</main>", &e), 0);
	out = render_src("<body>{{{body}}}</body>", d);
	assert_string_equal(out, "<body><main>x</main></body>");
	free(out);
	tmpl_data_free(d);
}

static void
test_tmpl_missing_name_renders_empty(void **state)
{
	struct tmpl_data	*d = tmpl_data_new();
	char			*out;

	out = render_src("[{{nothere}}][{{{nothere}}}]", d);
	assert_string_equal(out, "[][]");
	free(out);
	tmpl_data_free(d);
}

static void
test_tmpl_section_repeats_rows_with_outer_scope(void **state)
{
	struct tmpl_data	*d = tmpl_data_new(), *row;
	struct err		 e;
	char			*out;

	assert_int_equal(tmpl_data_set(d, "who", "bob", &e), 0);
	row = tmpl_data_add_row(d, "certs", &e);
	assert_non_null(row);
	assert_int_equal(tmpl_data_set(row, "serial", "01<", &e), 0);
	row = tmpl_data_add_row(d, "certs", &e);
	assert_int_equal(tmpl_data_set(row, "serial", "02", &e), 0);
	out = render_src("<ul>{{#certs}}<li>{{serial}}/{{who}}</li>{{/certs}}"
	    "</ul>{{^certs}}none{{/certs}}", d);
	assert_string_equal(out,
	    "<ul><li>01&lt;/bob</li><li>02/bob</li></ul>");
	free(out);
	tmpl_data_free(d);
}

static void
test_tmpl_inverted_section_shows_for_empty_or_missing(void **state)
{
	struct tmpl_data	*d = tmpl_data_new();
	struct err		 e;
	char			*out;

	assert_int_equal(tmpl_data_set(d, "error", "", &e), 0);
	out = render_src("{{^certs}}no certs{{/certs}}|"
	    "{{#error}}E:{{error}}{{/error}}{{^error}}ok{{/error}}", d);
	assert_string_equal(out, "no certs|ok");
	free(out);
	assert_int_equal(tmpl_data_set(d, "error", "bad & wrong", &e), 0);
	out = render_src("{{#error}}E:{{error}}{{/error}}{{^error}}ok{{/error}}",
	    d);
	assert_string_equal(out, "E:bad &amp; wrong");
	free(out);
	tmpl_data_free(d);
}

static void
test_tmpl_unbalanced_tags_are_refused_at_load(void **state)
{
	struct tmpl_cache	*c = tmpl_cache_new();
	struct err		 e;
	const char		*bad[] = {
		"{{#a}}never closed",
		"{{/a}}",
		"{{#a}}x{{/b}}",
		"{{unclosed",
		"{{bad name}}",
	};
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.msg[0] = '\0';
		assert_int_equal(tmpl_cache_add(c, "bad", bad[i],
		    strlen(bad[i]), &e), -1);
		assert_non_null(strstr(e.msg, "template bad"));
	}
	assert_null(tmpl_render(c, "bad", NULL, NULL, &e));
	assert_non_null(strstr(e.msg, "no template called bad"));
	tmpl_cache_free(c);
}

static void
test_tmpl_cache_loads_project_templates(void **state)
{
	struct tmpl_cache	*c;
	struct tmpl_data	*d = tmpl_data_new();
	struct err		 e;
	char			*out;

	/* The real templates directory parses; the layout escapes title. */
	c = tmpl_cache_load("templates", &e);
	if (c == NULL)
		fail_msg("%s", e.msg);
	assert_int_equal(tmpl_data_set(d, "title", "<x>", &e), 0);
	assert_int_equal(tmpl_data_set(d, "body", "<p>raw body</p>", &e), 0);
	out = tmpl_render(c, "layout", d, NULL, &e);
	assert_non_null(out);
	assert_non_null(strstr(out, "&lt;x&gt;"));
	assert_null(strstr(out, "<x>"));
	assert_non_null(strstr(out, "<p>raw body</p>"));
	free(out);
	tmpl_data_free(d);
	tmpl_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tmpl_escapes_script_tag_and_quotes),
		cmocka_unit_test(test_tmpl_escapes_existing_entity_again),
		cmocka_unit_test(test_tmpl_triple_braces_insert_raw),
		cmocka_unit_test(test_tmpl_missing_name_renders_empty),
		cmocka_unit_test(test_tmpl_section_repeats_rows_with_outer_scope),
		cmocka_unit_test(test_tmpl_inverted_section_shows_for_empty_or_missing),
		cmocka_unit_test(test_tmpl_unbalanced_tags_are_refused_at_load),
		cmocka_unit_test(test_tmpl_cache_loads_project_templates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
