/*
 * par: items are taken PAR_CHUNK at a time from a shared counter, so a
 * slow item (a large RSA request, a file on a slow disk) holds up only
 * its own thread.
 */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "par.h"

#define PAR_CHUNK	16
#define PAR_MIN		(4 * PAR_CHUNK)	/* below this, one thread */

struct par {
	size_t	  n, next;
	void	(*fn)(void *, size_t);
	void	 *arg;
};

static void *
par_run(void *p)
{
	struct par	*w = p;
	size_t		 i, end;

	for (;;) {
		i = __atomic_fetch_add(&w->next, PAR_CHUNK, __ATOMIC_RELAXED);
		if (i >= w->n)
			return NULL;
		end = i + PAR_CHUNK < w->n ? i + PAR_CHUNK : w->n;
		for (; i < end; i++)
			w->fn(w->arg, i);
	}
}

int
par_cores(void)
{
	cpu_set_t	set;
	long		n;

	/* the cores this process may run on (taskset, a container's
	 * cpuset), not all the machine has */
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	else
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > PAR_THREADS_MAX ? PAR_THREADS_MAX : (int)n;
}

void
par_each(size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
	struct par	 w = { n, 0, fn, arg };
	pthread_t	 t[PAR_THREADS_MAX - 1];
	int		 cores = par_cores();
	int		 k, started = 0;

	for (k = 0; n >= PAR_MIN && k < cores - 1; k++) {
		if (pthread_create(&t[k], NULL, par_run, &w) != 0)
			break;
		started++;
	}
	par_run(&w);
	for (k = 0; k < started; k++)
		pthread_join(t[k], NULL);
}
