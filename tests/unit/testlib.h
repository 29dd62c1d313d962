/*
 * testlib: what several unit tests share -- running a command-line tool
 * (the independent client checking our output) and writing a file.
 * Include after <cmocka.h>.
 */
#ifndef SIGNET_TESTLIB_H
#define SIGNET_TESTLIB_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs a shell command; returns its exit status, output (with stderr) in out. */
__attribute__((unused)) static int
run(char **out, const char *fmt, ...)
{
	char	 cmd[4096], buf[4096];
	size_t	 len = 0, n;
	char	*s = NULL, *ns;
	FILE	*p;
	va_list	 ap;
	int	 st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	assert_non_null(p = popen(cmd, "r"));
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
		assert_non_null(ns = realloc(s, len + n + 1));
		s = ns;
		memcpy(s + len, buf, n);
		len += n;
	}
	if (s == NULL)
		assert_non_null(s = calloc(1, 1));
	s[len] = '\0';
	st = pclose(p);
	if (out != NULL)
		*out = s;
	else
		free(s);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Writes data to path, failing the test on any error. */
__attribute__((unused)) static void
write_file(const char *path, const void *data, size_t len)
{
	FILE	*f;

	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

#endif
