/* proto/alloc.h — every allocation of cratecast's own code goes through these
 * (libraries allocate on their own), so a test can make them fail.
 *
 * They behave as malloc, calloc, realloc, strdup and strndup, and are as
 * thread-safe. Fault injection (the model is SQLite's faultsim and curl's
 * torture tests): with CRATECAST_FAIL_ALLOC=N in the environment of the
 * process, the N-th allocation (counting from 1, across threads) returns NULL
 * with errno ENOMEM, once; every other one succeeds. The variable is read once,
 * at the first allocation. CRATECAST_FAIL_ALLOC=0 (or unset) injects nothing;
 * CRATECAST_FAIL_ALLOC_TRACE=1 also prints a backtrace of the failing call
 * (addresses for addr2line). CRATECAST_COUNT_ALLOC=1 prints the number of allocations made to stderr at
 * exit, so a test knows how many failure points a scenario has.
 */
#ifndef CRATECAST_PROTO_ALLOC_H
#define CRATECAST_PROTO_ALLOC_H

#include <stddef.h>

void *cc_malloc(size_t n);
void *cc_calloc(size_t n, size_t size);
void *cc_realloc(void *p, size_t n);
char *cc_strdup(const char *s);
char *cc_strndup(const char *s, size_t n);
/* Room for one more element in a growable array: when n == *cap, *arr is
 * reallocated to twice *cap elements of elem bytes (first when *cap is 0).
 * 0, or -ENOMEM (also on size overflow) with *arr and *cap unchanged. */
int cc_grow(void **arr, size_t *cap, size_t n, size_t elem, size_t first);

/* For tests in one process: fail the n-th allocation from now (0: none). */
void cc_alloc_fail_nth(long n);
/* Allocations made so far. */
long cc_alloc_count(void);

#endif
