/*
 * test_par: par_each (ca/par.h) calls its function exactly once for every
 * item, for lists too small to split and large ones alike, and a large
 * list is shared between threads when the process may use more than one
 * core, and never among more threads than it has cores.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "par.h"

struct tally {
	unsigned	*calls;		/* calls[i]: how often item i was seen */
	pthread_t	 seen[PAR_THREADS_MAX + 1];
	unsigned	 nseen;
	pthread_mutex_t	 mx;
	int		 nap;		/* microseconds each item takes */
};

static void
count(void *arg, size_t i)
{
	struct tally	*t = arg;
	pthread_t	 me = pthread_self();
	unsigned	 k;

	__atomic_fetch_add(&t->calls[i], 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&t->mx);
	for (k = 0; k < t->nseen && !pthread_equal(t->seen[k], me); k++)
		;
	if (k == t->nseen && t->nseen < PAR_THREADS_MAX + 1)
		t->seen[t->nseen++] = me;
	pthread_mutex_unlock(&t->mx);
	if (t->nap > 0)
		usleep((useconds_t)t->nap);
}

static unsigned
run(size_t n, int nap, struct tally *t)
{
	size_t	i;

	t->calls = calloc(n ? n : 1, sizeof(*t->calls));
	assert_non_null(t->calls);
	t->nseen = 0;
	t->nap = nap;
	pthread_mutex_init(&t->mx, NULL);
	par_each(n, count, t);
	for (i = 0; i < n; i++)
		if (t->calls[i] != 1)
			fail_msg("item %zu of %zu was called %u times", i, n,
			    t->calls[i]);
	pthread_mutex_destroy(&t->mx);
	free(t->calls);
	return t->nseen;
}

static void
test_every_item_is_called_once(void **state)
{
	static const size_t	 sizes[] = { 0, 1, 15, 16, 17, 63, 64, 65,
	    1000, 100003 };
	struct tally		 t;
	size_t			 k;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		run(sizes[k], 0, &t);
}

static void
test_a_small_list_stays_on_the_callers_thread(void **state)
{
	struct tally	t;

	assert_int_equal(run(63, 0, &t), 1);
	assert_true(pthread_equal(t.seen[0], pthread_self()));
}

static void
test_a_large_list_is_shared_between_the_cores(void **state)
{
	struct tally	t;
	unsigned	want = (unsigned)par_cores();
	unsigned	got;

	/* items that sleep leave the other threads time to take theirs */
	got = run(2000, 50, &t);
	assert_true(got >= (want > 1 ? 2u : 1u));
	assert_true(got <= want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_item_is_called_once),
		cmocka_unit_test(test_a_small_list_stays_on_the_callers_thread),
		cmocka_unit_test(test_a_large_list_is_shared_between_the_cores),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
