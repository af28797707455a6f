/* proto/alloc.c — see alloc.h. */
#include <errno.h>
#include <stdint.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/alloc.h"

static atomic_long count;     /* allocations so far */
static atomic_long fail_at;   /* the count at which one fails (0: none) */
static atomic_int configured; /* the environment was read */
static int trace;             /* CRATECAST_FAIL_ALLOC_TRACE=1: a backtrace of the failure */

static void report(void)
{
    fprintf(stderr, "cratecast: %ld allocations\n", atomic_load(&count));
}

static void configure(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&configured, &expected, 1))
        return;
    const char *v = getenv("CRATECAST_FAIL_ALLOC");
    if (v != NULL && *v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end == '\0' && n > 0)
            atomic_store(&fail_at, n);
    }
    v = getenv("CRATECAST_FAIL_ALLOC_TRACE");
    trace = v != NULL && strcmp(v, "1") == 0;
    v = getenv("CRATECAST_COUNT_ALLOC");
    if (v != NULL && strcmp(v, "1") == 0)
        atexit(report);
}

/* Count this allocation; true when it is the one to fail. */
static int failing(void)
{
    if (atomic_load_explicit(&configured, memory_order_relaxed) == 0)
        configure();
    long n = atomic_fetch_add(&count, 1) + 1;
    long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (at != 0 && n == at) {
        if (trace) {
            void *frames[32];
            int k = backtrace(frames, 32);
            fprintf(stderr, "cratecast: allocation %ld fails here:\n", n);
            backtrace_symbols_fd(frames, k, 2);
        }
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *cc_malloc(size_t n)
{
    return failing() ? NULL : malloc(n);
}

void *cc_calloc(size_t n, size_t size)
{
    return failing() ? NULL : calloc(n, size);
}

void *cc_realloc(void *p, size_t n)
{
    return failing() ? NULL : realloc(p, n);
}

char *cc_strdup(const char *s)
{
    return failing() ? NULL : strdup(s);
}

char *cc_strndup(const char *s, size_t n)
{
    return failing() ? NULL : strndup(s, n);
}

void cc_alloc_fail_nth(long n)
{
    if (atomic_load(&configured) == 0)
        configure();
    atomic_store(&fail_at, n > 0 ? atomic_load(&count) + n : 0);
}

long cc_alloc_count(void)
{
    return atomic_load(&count);
}

int cc_grow(void **arr, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : first;
    if (ncap < *cap || elem == 0 || ncap > SIZE_MAX / elem)
        return -ENOMEM;
    void *p = cc_realloc(*arr, ncap * elem);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}
