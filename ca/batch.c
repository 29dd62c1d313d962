/*
 * batch: the text of `signet issue --batch` lists (batch.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"

/* The next blank-separated field of *s, NUL-terminated in place. */
static char *
next_field(char **s)
{
	char	*p = *s, *f;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	f = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*s = p;
	return f;
}

int
batch_line_split(char *line, struct batch_fields *f, const char **why)
{
	char	*p, *end;
	size_t	 n = strlen(line);

	memset(f, 0, sizeof(*f));
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	for (p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			*why = "a control character";
			return -1;
		}
	p = line;
	if ((f->csr = next_field(&p)) == NULL || *f->csr == '#')
		return 0;
	if ((f->email = next_field(&p)) == NULL ||
	    (f->profile = next_field(&p)) == NULL) {
		*why = "want CSR-FILE MAILBOX PROFILE [NAME]";
		return -1;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	for (end = p + strlen(p); end > p && (end[-1] == ' ' ||
	    end[-1] == '\t'); end--)
		;
	*end = '\0';
	f->name = *p != '\0' ? p : NULL;
	return 1;
}

const char *
batch_name_problem(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 k, need;
	unsigned		 cp;

	if (*p == '\0' || strlen(s) > 128)
		return "1 to 128 characters";
	while (*p != '\0') {
		if (*p < 0x20 || *p == 0x7f)
			return "a control character";
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			need = 1, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			need = 2, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			need = 3, cp = *p & 0x07;
		else
			return "not UTF-8";
		for (k = 1; k <= need; k++) {
			if ((p[k] & 0xc0) != 0x80)
				return "not UTF-8";
			cp = (cp << 6) | (p[k] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return "not UTF-8";
		if (cp <= 0x9f)
			return "a control character";	/* C1 */
		p += need + 1;
	}
	return NULL;
}

char *
batch_out_path(const char *dir, const char *csr)
{
	const char	*base = strrchr(csr, '/'), *dot;
	char		*out;
	size_t		 n;

	base = base == NULL ? csr : base + 1;
	dot = strrchr(base, '.');
	n = dot != NULL && dot != base ? (size_t)(dot - base) : strlen(base);
	if (asprintf(&out, "%s/%.*s.pem", dir, (int)n, base) < 0)
		return NULL;
	return out;
}
