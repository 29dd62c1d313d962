/*
 * err: a human-readable error message carried back to the caller.
 *
 * Library code never prints or exits. A function that can fail takes a
 * struct err * as its last argument, fills it on failure and returns -1
 * (or NULL). Only main() and web handlers decide what the user sees.
 */
#ifndef SIGNET_ERR_H
#define SIGNET_ERR_H

#include <stddef.h>

struct err {
	char	msg[512];
};

/* Sets the message (printf-style) and returns -1, so callers can write
 * `return err_set(e, "...")`. e may be NULL. */
int	err_set(struct err *e, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Prefixes an existing message with context: "loading CA key: <old>". */
int	err_wrap(struct err *e, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
