/*
 * json: the one JSON writer signet-web needs (the request status endpoint).
 */
#include <stdio.h>

#include <kore/kore.h>

#include "web.h"

/* RFC 8259 7: quote, backslash and control characters are escaped; "<"
 * too, so a value can never close a script element it is pasted into. */
void
web_json_str(struct kore_buf *b, const char *s)
{
	const unsigned char	*p;

	kore_buf_append(b, "\"", 1);
	for (p = (const unsigned char *)(s != NULL ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			kore_buf_appendf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&')
			kore_buf_appendf(b, "\\u%04x", *p);
		else
			kore_buf_append(b, p, 1);
	}
	kore_buf_append(b, "\"", 1);
}
