/*
 * libFuzzer target: a `signet issue --batch` list as the CLI reads it
 * (ca/batch.h), line by line. Whatever the bytes, each line is skipped,
 * refused with a reason, or split into three non-empty fields without
 * blanks or control characters and a name with no blank at either end;
 * a name judged fine is 1 to 128 bytes without control characters.
 * Seeds: tests/fuzz/seeds/fuzz_batch/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
field_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		abort();
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct batch_fields	 f;
	const char		*why, *p;
	char			*buf, *line, *eol, *out;
	size_t			 n;
	int			 r;

	if (size > 65536 || (buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (line = buf; line <= buf + size; line = eol + 1) {
		if ((eol = strchr(line, '\n')) == NULL)
			eol = line + strlen(line);
		*eol = '\0';
		why = NULL;
		r = batch_line_split(line, &f, &why);
		if (r < 0 && why == NULL)
			abort();
		if (r <= 0)
			continue;
		field_ok(f.csr);
		field_ok(f.email);
		field_ok(f.profile);
		if (f.name != NULL) {
			n = strlen(f.name);
			if (n == 0 || f.name[0] == ' ' || f.name[0] == '\t' ||
			    f.name[n - 1] == ' ' || f.name[n - 1] == '\t')
				abort();
			if (batch_name_problem(f.name) == NULL) {
				if (n > 128)
					abort();
				for (p = f.name; *p != '\0'; p++)
					if ((unsigned char)*p < 0x20 ||
					    *p == 0x7f)
						abort();
			}
		}
		if ((out = batch_out_path("out", f.csr)) == NULL)
			abort();
		if (strncmp(out, "out/", 4) != 0 || strchr(out + 4, '/') !=
		    NULL)
			abort();
		free(out);
		if (eol == buf + size)
			break;
	}
	free(buf);
	return 0;
}
