/*
 * tmpl: the HTML template renderer of signet-web.
 *
 * Templates are the files templates/NAME.html, loaded once into a cache.
 * The syntax is a small, logic-less subset of Mustache:
 *
 *   {{name}}              the value of name, HTML-escaped (& < > " ')
 *   {{{name}}}            the value of name, raw; only for HTML the code
 *                         itself produced (the layout's page body)
 *   {{#name}}..{{/name}}  for a list: once per row, the row's values in
 *                         scope; for a text value: once if non-empty
 *   {{^name}}..{{/name}}  once if name is missing, empty text or an empty list
 *   {{! comment }}        nothing
 *
 * A name missing from the data renders as the empty string (so optional
 * values need no special casing); a template whose tags do not balance is
 * an error when it is loaded, never at render time. Names are looked up in
 * the innermost row first, then outwards to the top-level data.
 *
 * Kore-independent: no Kore headers, so the unit test links it directly.
 */
#ifndef SIGNET_WEB_TMPL_H
#define SIGNET_WEB_TMPL_H

#include <stddef.h>

#include "err.h"

struct tmpl_data;	/* a dictionary: name -> text or list of rows */
struct tmpl_cache;	/* the parsed templates of one directory */

struct tmpl_data	*tmpl_data_new(void);
void			 tmpl_data_free(struct tmpl_data *);
/* Sets name to a copy of value (NULL value: the name becomes empty). */
int			 tmpl_data_set(struct tmpl_data *, const char *name,
			    const char *value, struct err *);
/* The text value of name, "" when missing or a list. */
const char		*tmpl_data_get(const struct tmpl_data *, const char *name);
/* The number of rows in the list called name (0 when missing). */
size_t			 tmpl_data_count(const struct tmpl_data *, const char *name);
/* Appends a new row to the list called name (created when absent) and
 * returns it; the row belongs to the data and is freed with it. */
struct tmpl_data	*tmpl_data_add_row(struct tmpl_data *, const char *name,
			    struct err *);

/* Loads every *.html file of dir; the cache key is the name without
 * ".html". Fails on the first template that does not parse. */
struct tmpl_cache	*tmpl_cache_load(const char *dir, struct err *);
void			 tmpl_cache_free(struct tmpl_cache *);
/* Adds one template from memory (used by tests and by tmpl_cache_load). */
int			 tmpl_cache_add(struct tmpl_cache *, const char *name,
			    const char *src, size_t len, struct err *);
struct tmpl_cache	*tmpl_cache_new(void);

/* Renders template name with data into a new NUL-terminated string
 * (*lenp gets its length). The caller frees the result with free(). */
char			*tmpl_render(const struct tmpl_cache *, const char *name,
			    const struct tmpl_data *, size_t *lenp, struct err *);

/* Appends the HTML-escaped form of s to a malloc'd buffer; exported for
 * handlers that build attribute values. Returns NULL on allocation failure. */
char			*tmpl_escape(const char *s);

#endif
