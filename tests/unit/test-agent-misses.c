/* tests/unit/test-agent-misses.c — the misses table (agent/misses.h): dedup by
 * (kind, crate, version), case folding, eviction of the oldest, JSON shape and
 * order, and both log rate limits. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/misses.h"

static void test_dedup_and_json(void **state)
{
    (void)state;
    struct agent_misses *m = calloc(1, sizeof *m);
    assert_true(agent_misses_record(m, AGENT_MISS_CRATE, "WinAPI", "0.3.9", "not here", 100));
    /* same miss again: counted, not logged again within a minute */
    assert_false(agent_misses_record(m, AGENT_MISS_CRATE, "winapi", "0.3.9", "still not", 130));
    assert_false(agent_misses_record(m, AGENT_MISS_WITHHELD, "winapi", NULL, "withheld", 131));
    assert_true(agent_misses_record(m, AGENT_MISS_INDEX, "nosuch", "", "unknown", 140));
    assert_int_equal(m->n, 3);
    assert_int_equal(m->total, 4);
    assert_int_equal(m->not_logged, 2);

    json_t *a = agent_misses_json(m, NULL);
    assert_non_null(a);
    assert_int_equal(json_array_size(a), 3);
    json_t *first = json_array_get(a, 0); /* newest first */
    assert_string_equal(json_string_value(json_object_get(first, "crate")), "nosuch");
    assert_true(json_is_null(json_object_get(first, "version")));
    assert_string_equal(json_string_value(json_object_get(first, "kind")), "index");
    json_t *last = json_array_get(a, 2);
    assert_string_equal(json_string_value(json_object_get(last, "crate")), "winapi");
    assert_string_equal(json_string_value(json_object_get(last, "version")), "0.3.9");
    assert_string_equal(json_string_value(json_object_get(last, "reason")), "still not");
    assert_int_equal(json_integer_value(json_object_get(last, "count")), 2);
    assert_int_equal(json_integer_value(json_object_get(last, "at")), 130);
    assert_int_equal(json_integer_value(json_object_get(last, "first_at")), 100);
    json_decref(a);

    a = agent_misses_json(m, "WINAPI");
    assert_int_equal(json_array_size(a), 2);
    json_decref(a);
    /* a minute later the crate is logged again */
    assert_true(agent_misses_record(m, AGENT_MISS_CRATE, "winapi", "0.3.9", "x", 200));
    free(m);
}

static void test_eviction(void **state)
{
    (void)state;
    struct agent_misses *m = calloc(1, sizeof *m);
    char name[32];
    for (int i = 0; i < AGENT_MISSES_MAX + 10; i++) {
        snprintf(name, sizeof name, "c%d", i);
        agent_misses_record(m, AGENT_MISS_INDEX, name, NULL, "r", 1000 + i);
    }
    assert_int_equal(m->n, AGENT_MISSES_MAX);
    json_t *a = agent_misses_json(m, NULL);
    assert_int_equal(json_array_size(a), AGENT_MISSES_MAX);
    /* the oldest ten were replaced */
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *c = json_string_value(json_object_get(json_array_get(a, i), "crate"));
        long k = strtol(c + 1, NULL, 10);
        assert_true(k >= 10);
    }
    json_decref(a);
    free(m);
}

static void test_overall_log_budget(void **state)
{
    (void)state;
    struct agent_misses *m = calloc(1, sizeof *m);
    char name[32];
    int logged = 0;
    for (int i = 0; i < 100; i++) { /* a burst of distinct crates in one second */
        snprintf(name, sizeof name, "burst%d", i);
        logged += agent_misses_record(m, AGENT_MISS_INDEX, name, NULL, "r", 5000);
    }
    assert_int_equal(logged, AGENT_MISSES_LOG_BURST);
    /* refills at one line per second */
    assert_true(agent_misses_record(m, AGENT_MISS_INDEX, "later", NULL, "r", 5001));
    assert_false(agent_misses_record(m, AGENT_MISS_INDEX, "later2", NULL, "r", 5001));
    free(m);
}

static void test_long_inputs_truncated(void **state)
{
    (void)state;
    struct agent_misses *m = calloc(1, sizeof *m);
    char longname[200], longreason[1000];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    memset(longreason, 'r', sizeof longreason - 1);
    longreason[sizeof longreason - 1] = '\0';
    agent_misses_record(m, AGENT_MISS_CRATE, longname, longname, longreason, 1);
    assert_int_equal(strlen(m->v[0].crate), PROTO_NAME_MAX);
    assert_int_equal(strlen(m->v[0].vers), PROTO_VERS_MAX);
    assert_int_equal(strlen(m->v[0].reason), AGENT_MISS_REASON_MAX - 1);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup_and_json),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_overall_log_budget),
        cmocka_unit_test(test_long_inputs_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
