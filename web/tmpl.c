/*
 * tmpl: parses templates once into a node tree and renders them with every
 * value HTML-escaped unless the template asks for {{{raw}}}.
 * See tmpl.h for the syntax.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

enum node_type { N_TEXT, N_VAR, N_RAW, N_SECTION, N_INVERTED };

struct node {
	enum node_type	 type;
	char		*text;		/* literal text or the name */
	size_t		 len;
	struct node	*child;		/* first node of a section body */
	struct node	*next;
};

struct tmpl {
	char		*name;
	struct node	*root;
	struct tmpl	*next;
};

struct tmpl_cache {
	struct tmpl	*list;
};

struct entry {
	char			*name;
	char			*text;		/* NULL for a list */
	struct tmpl_data	*rows;		/* first row of a list */
	struct tmpl_data	*last;
	struct entry		*next;
};

struct tmpl_data {
	struct entry		*entries;
	struct tmpl_data	*next;		/* next row of the same list */
};

struct buf {
	char	*p;
	size_t	 len, cap;
};

/* ---- values ---- */

struct tmpl_data *
tmpl_data_new(void)
{
	return calloc(1, sizeof(struct tmpl_data));
}

void
tmpl_data_free(struct tmpl_data *d)
{
	struct entry		*e, *en;
	struct tmpl_data	*r, *rn;

	if (d == NULL)
		return;
	for (e = d->entries; e != NULL; e = en) {
		en = e->next;
		/* A list's rows are chained through next; free each alone. */
		for (r = e->rows; r != NULL; r = rn) {
			rn = r->next;
			r->next = NULL;
			tmpl_data_free(r);
		}
		free(e->name);
		free(e->text);
		free(e);
	}
	free(d);
}

static struct entry *
entry_get(const struct tmpl_data *d, const char *name, size_t len)
{
	struct entry	*e;

	for (e = d->entries; e != NULL; e = e->next)
		if (strlen(e->name) == len && memcmp(e->name, name, len) == 0)
			return e;
	return NULL;
}

const char *
tmpl_data_get(const struct tmpl_data *d, const char *name)
{
	const struct entry	*e = entry_get(d, name, strlen(name));

	return e != NULL && e->text != NULL ? e->text : "";
}

size_t
tmpl_data_count(const struct tmpl_data *d, const char *name)
{
	const struct entry	*e = entry_get(d, name, strlen(name));
	const struct tmpl_data	*r;
	size_t			 n = 0;

	for (r = e != NULL ? e->rows : NULL; r != NULL; r = r->next)
		n++;
	return n;
}

static struct entry *
entry_make(struct tmpl_data *d, const char *name, struct err *er)
{
	struct entry	*e;

	if ((e = entry_get(d, name, strlen(name))) != NULL)
		return e;
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->name = strdup(name)) == NULL) {
		free(e);
		err_set(er, "out of memory");
		return NULL;
	}
	e->next = d->entries;
	d->entries = e;
	return e;
}

int
tmpl_data_set(struct tmpl_data *d, const char *name, const char *value,
    struct err *er)
{
	struct entry	*e;
	char		*copy;

	if ((e = entry_make(d, name, er)) == NULL)
		return -1;
	if (e->rows != NULL)
		return err_set(er, "template value %s is a list", name);
	if ((copy = strdup(value != NULL ? value : "")) == NULL)
		return err_set(er, "out of memory");
	free(e->text);
	e->text = copy;
	return 0;
}

struct tmpl_data *
tmpl_data_add_row(struct tmpl_data *d, const char *name, struct err *er)
{
	struct entry		*e;
	struct tmpl_data	*row;

	if ((e = entry_make(d, name, er)) == NULL)
		return NULL;
	if (e->text != NULL) {
		err_set(er, "template value %s is text, not a list", name);
		return NULL;
	}
	if ((row = tmpl_data_new()) == NULL) {
		err_set(er, "out of memory");
		return NULL;
	}
	if (e->last != NULL)
		e->last->next = row;
	else
		e->rows = row;
	e->last = row;
	return row;
}

/* ---- parsing ---- */

static void
node_free(struct node *n)
{
	struct node	*next;

	for (; n != NULL; n = next) {
		next = n->next;
		node_free(n->child);
		free(n->text);
		free(n);
	}
}

static struct node *
node_new(enum node_type type, const char *text, size_t len)
{
	struct node	*n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	if ((n->text = strndup(text, len)) == NULL) {
		free(n);
		return NULL;
	}
	n->type = type;
	n->len = len;
	return n;
}

static int
valid_name(const char *s, size_t len)
{
	size_t	i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

/* The first occurrence of pat in [p, end), or NULL. */
static const char *
find(const char *p, const char *end, const char *pat)
{
	size_t	plen = strlen(pat);

	for (; p + plen <= end; p++)
		if (memcmp(p, pat, plen) == 0)
			return p;
	return NULL;
}

static size_t
line_of(const char *src, const char *at)
{
	size_t	n = 1;

	for (; src < at; src++)
		if (*src == '\n')
			n++;
	return n;
}

/*
 * Parses src[*pos..end) into a node list until end of input (when closing
 * is NULL) or until {{/closing}}. Returns 0 or -1 with a message naming the
 * template and line.
 */
static int
parse(const char *tname, const char *src, const char *end, const char **pos,
    const char *closing, size_t closelen, struct node **out, struct err *er)
{
	struct node	*head = NULL, **tail = &head, *n;
	const char	*p = *pos, *open, *close, *name;
	size_t		 namelen;
	enum node_type	 type;
	int		 rc = -1;

	while (p < end) {
		open = find(p, end, "{{");
		if (open == NULL)
			open = end;
		if (open > p) {
			if ((n = node_new(N_TEXT, p, open - p)) == NULL)
				goto nomem;
			*tail = n;
			tail = &n->next;
		}
		if (open == end) {
			p = end;
			break;
		}
		if (open + 2 < end && open[2] == '{') {
			close = find(open + 3, end, "}}}");
			type = N_RAW;
			name = open + 3;
		} else {
			close = find(open + 2, end, "}}");
			type = N_VAR;
			name = open + 2;
		}
		if (close == NULL) {
			err_set(er, "template %s line %zu: unclosed tag",
			    tname, line_of(src, open));
			goto out;
		}
		p = close + (type == N_RAW ? 3 : 2);
		if (type == N_VAR && *name == '!')
			continue;
		if (type == N_VAR && (*name == '#' || *name == '^' ||
		    *name == '/')) {
			char	sigil = *name++;

			namelen = close - name;
			if (!valid_name(name, namelen)) {
				err_set(er, "template %s line %zu: bad name "
				    "\"%.*s\"", tname, line_of(src, open),
				    (int)namelen, name);
				goto out;
			}
			if (sigil == '/') {
				if (closing == NULL || namelen != closelen ||
				    memcmp(name, closing, namelen) != 0) {
					err_set(er, "template %s line %zu: "
					    "{{/%.*s}} closes nothing open",
					    tname, line_of(src, open),
					    (int)namelen, name);
					goto out;
				}
				*pos = p;
				*out = head;
				return 0;
			}
			n = node_new(sigil == '#' ? N_SECTION : N_INVERTED,
			    name, namelen);
			if (n == NULL)
				goto nomem;
			*tail = n;
			tail = &n->next;
			if (parse(tname, src, end, &p, n->text, namelen,
			    &n->child, er) == -1)
				goto out;
			continue;
		}
		namelen = close - name;
		if (!valid_name(name, namelen)) {
			err_set(er, "template %s line %zu: bad name \"%.*s\"",
			    tname, line_of(src, open), (int)namelen, name);
			goto out;
		}
		if ((n = node_new(type, name, namelen)) == NULL)
			goto nomem;
		*tail = n;
		tail = &n->next;
	}
	if (closing != NULL) {
		err_set(er, "template %s: {{#%s}} is never closed", tname,
		    closing);
		goto out;
	}
	*pos = p;
	*out = head;
	return 0;
nomem:
	err_set(er, "out of memory");
out:
	node_free(head);
	return rc;
}

struct tmpl_cache *
tmpl_cache_new(void)
{
	return calloc(1, sizeof(struct tmpl_cache));
}

void
tmpl_cache_free(struct tmpl_cache *c)
{
	struct tmpl	*t, *next;

	if (c == NULL)
		return;
	for (t = c->list; t != NULL; t = next) {
		next = t->next;
		node_free(t->root);
		free(t->name);
		free(t);
	}
	free(c);
}

int
tmpl_cache_add(struct tmpl_cache *c, const char *name, const char *src,
    size_t len, struct err *er)
{
	struct tmpl	*t;
	const char	*pos = src;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->name = strdup(name)) == NULL) {
		free(t);
		return err_set(er, "out of memory");
	}
	if (parse(name, src, src + len, &pos, NULL, 0, &t->root, er) == -1) {
		free(t->name);
		free(t);
		return -1;
	}
	t->next = c->list;
	c->list = t;
	return 0;
}

static int
load_file(struct tmpl_cache *c, const char *dir, const char *file,
    struct err *er)
{
	char	 path[4096], name[256], *src = NULL;
	FILE	*fp = NULL;
	long	 size;
	int	 rc = -1;
	size_t	 flen = strlen(file);

	snprintf(name, sizeof(name), "%.*s", (int)(flen - 5), file);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    sizeof(path)) {
		err_set(er, "template path too long: %s/%s", dir, file);
		goto out;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		err_set(er, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fseek(fp, 0, SEEK_END) == -1 || (size = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) == -1) {
		err_set(er, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((src = malloc(size + 1)) == NULL) {
		err_set(er, "out of memory");
		goto out;
	}
	if (fread(src, 1, size, fp) != (size_t)size) {
		err_set(er, "%s: short read", path);
		goto out;
	}
	src[size] = '\0';
	rc = tmpl_cache_add(c, name, src, size, er);
out:
	if (fp != NULL)
		fclose(fp);
	free(src);
	return rc;
}

struct tmpl_cache *
tmpl_cache_load(const char *dir, struct err *er)
{
	struct tmpl_cache	*c = NULL;
	DIR			*d = NULL;
	struct dirent		*de;
	size_t			 len;

	if ((c = tmpl_cache_new()) == NULL) {
		err_set(er, "out of memory");
		goto fail;
	}
	if ((d = opendir(dir)) == NULL) {
		err_set(er, "templates %s: %s", dir, strerror(errno));
		goto fail;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 5 || de->d_name[0] == '.' ||
		    strcmp(de->d_name + len - 5, ".html") != 0)
			continue;
		if (load_file(c, dir, de->d_name, er) == -1)
			goto fail;
	}
	closedir(d);
	return c;
fail:
	if (d != NULL)
		closedir(d);
	tmpl_cache_free(c);
	return NULL;
}

/* ---- rendering ---- */

static int
buf_add(struct buf *b, const char *s, size_t len)
{
	char	*np;
	size_t	 ncap;

	if (b->len + len + 1 > b->cap) {
		ncap = b->cap ? b->cap : 1024;
		while (ncap < b->len + len + 1)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL)
			return -1;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

/* HTML 5.2 / OWASP: these five characters end text, attribute values
 * (quoted either way) and start markup; escaping them makes a value inert
 * in element content and in quoted attributes. */
static int
buf_add_escaped(struct buf *b, const char *s)
{
	const char	*rep;
	size_t		 run;

	while (*s != '\0') {
		run = strcspn(s, "&<>\"'");
		if (run > 0 && buf_add(b, s, run) == -1)
			return -1;
		s += run;
		if (*s == '\0')
			break;
		switch (*s) {
		case '&':	rep = "&amp;"; break;
		case '<':	rep = "&lt;"; break;
		case '>':	rep = "&gt;"; break;
		case '"':	rep = "&quot;"; break;
		default:	rep = "&#39;"; break;
		}
		if (buf_add(b, rep, strlen(rep)) == -1)
			return -1;
		s++;
	}
	return 0;
}

char *
tmpl_escape(const char *s)
{
	struct buf	b = { NULL, 0, 0 };

	if (buf_add(&b, "", 0) == -1 || buf_add_escaped(&b, s) == -1) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* A scope is the chain of rows entered, innermost first. */
struct scope {
	const struct tmpl_data	*data;
	const struct scope	*up;
};

static const struct entry *
lookup(const struct scope *sc, const char *name, size_t len)
{
	const struct entry	*e;

	for (; sc != NULL; sc = sc->up)
		if (sc->data != NULL &&
		    (e = entry_get(sc->data, name, len)) != NULL)
			return e;
	return NULL;
}

static int
entry_empty(const struct entry *e)
{
	return e == NULL || (e->text != NULL && e->text[0] == '\0') ||
	    (e->text == NULL && e->rows == NULL);
}

static int
render_nodes(const struct node *n, const struct scope *sc, struct buf *b)
{
	const struct entry	*e;
	const struct tmpl_data	*row;
	struct scope		 inner;

	for (; n != NULL; n = n->next) {
		switch (n->type) {
		case N_TEXT:
			if (buf_add(b, n->text, n->len) == -1)
				return -1;
			break;
		case N_VAR:
		case N_RAW:
			e = lookup(sc, n->text, n->len);
			if (e == NULL || e->text == NULL)
				break;	/* missing renders empty (tmpl.h) */
			if (n->type == N_RAW ?
			    buf_add(b, e->text, strlen(e->text)) :
			    buf_add_escaped(b, e->text))
				return -1;
			break;
		case N_SECTION:
			e = lookup(sc, n->text, n->len);
			if (entry_empty(e))
				break;
			if (e->text != NULL) {
				if (render_nodes(n->child, sc, b) == -1)
					return -1;
				break;
			}
			for (row = e->rows; row != NULL; row = row->next) {
				inner.data = row;
				inner.up = sc;
				if (render_nodes(n->child, &inner, b) == -1)
					return -1;
			}
			break;
		case N_INVERTED:
			if (entry_empty(lookup(sc, n->text, n->len)) &&
			    render_nodes(n->child, sc, b) == -1)
				return -1;
			break;
		}
	}
	return 0;
}

char *
tmpl_render(const struct tmpl_cache *c, const char *name,
    const struct tmpl_data *d, size_t *lenp, struct err *er)
{
	const struct tmpl	*t;
	struct buf		 b = { NULL, 0, 0 };
	struct scope		 top = { d, NULL };

	for (t = c->list; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			break;
	if (t == NULL) {
		err_set(er, "no template called %s", name);
		return NULL;
	}
	if (buf_add(&b, "", 0) == -1 || render_nodes(t->root, &top, &b) == -1) {
		free(b.p);
		err_set(er, "out of memory rendering %s", name);
		return NULL;
	}
	if (lenp != NULL)
		*lenp = b.len;
	return b.p;
}
