/*
 * par: a loop over n independent items on the machine's cores.
 */
#ifndef SIGNET_PAR_H
#define SIGNET_PAR_H

#include <stddef.h>

#define PAR_THREADS_MAX	8

/* The cores this process may run on, 1 .. PAR_THREADS_MAX. */
int	par_cores(void);

/*
 * Calls fn(arg, i) once for each i in 0 .. n-1, on up to one thread a
 * core of par_cores() (the caller's thread is one of them), in
 * no particular order. fn must touch only what item i owns. Falls back to
 * the caller's thread alone for small n or when no thread can be started.
 */
void	par_each(size_t n, void (*fn)(void *arg, size_t i), void *arg);

#endif
