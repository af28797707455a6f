/* tests/unit/test-agent-listing.c — the offline listing rule (agent/listing.h):
 * deliverable versions always listed; a compatible range with a deliverable
 * non-yanked version shows only those; a range with none shows all of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/listing.h"

struct row {
    const char *vers;
    int avail, yanked, want;
};

static void run(const struct row *rows, size_t n, size_t want_withheld)
{
    struct agent_listing_version v[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        v[i].vers = rows[i].vers;
        v[i].available = rows[i].avail;
        v[i].yanked = rows[i].yanked;
        v[i].listed = !rows[i].want; /* poison: the function must set every entry */
    }
    size_t withheld = agent_listing_offline(v, n);
    for (size_t i = 0; i < n; i++)
        if (v[i].listed != (bool)rows[i].want)
            fail_msg("%s: listed %d, expected %d", rows[i].vers, v[i].listed, rows[i].want);
    assert_int_equal(withheld, want_withheld);
}

#define RUN(rows, w) run(rows, sizeof rows / sizeof rows[0], w)

static void test_available_wins_in_its_range(void **state)
{
    (void)state;
    /* log = "0.4": 0.4.17 is here, 0.4.18 is not -> Cargo must pick 0.4.17 */
    static const struct row rows[] = {
        {"0.3.9", 0, 0, 1}, /* range 0.3 has nothing: listed */
        {"0.4.17", 1, 0, 1},
        {"0.4.18", 0, 0, 0},
    };
    RUN(rows, 1);
}

static void test_nothing_here_lists_everything(void **state)
{
    (void)state;
    /* winapi on a Linux laptop: nothing deliverable, every version listed */
    static const struct row rows[] = {
        {"0.2.8", 0, 0, 1},
        {"0.3.8", 0, 0, 1},
        {"0.3.9", 0, 0, 1},
    };
    RUN(rows, 0);
}

static void test_major_ranges(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"1.0.0", 0, 0, 0}, {"1.5.0", 1, 0, 1}, {"1.9.0", 0, 0, 0}, {"2.0.0", 0, 0, 1},
        {"2.1.0", 0, 0, 1}, {"3.0.0", 1, 0, 1}, {"3.0.1", 0, 0, 0},
    };
    RUN(rows, 3);
}

static void test_zero_zero_patch_is_its_own_range(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"0.0.1", 1, 0, 1},
        {"0.0.2", 0, 0, 1}, /* ^0.0.2 := =0.0.2: its own range */
        {"0.1.0", 0, 0, 1},
    };
    RUN(rows, 0);
}

static void test_yanked_available_does_not_satisfy(void **state)
{
    (void)state;
    /* the only deliverable 1.x is yanked: a fresh resolution cannot pick it, so
     * the rest of 1.x stays listed (and the yanked one for lockfiles) */
    static const struct row rows[] = {
        {"1.0.0", 1, 1, 1},
        {"1.1.0", 0, 0, 1},
        {"1.2.0", 0, 1, 1},
    };
    RUN(rows, 0);
}

static void test_prereleases_apart(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"1.0.0-rc.1", 1, 0, 1},
        {"1.0.0", 0, 0, 1}, /* a plain ^1 cannot use the rc: 1.x releases stay */
        {"1.1.0", 0, 0, 1},
        {"2.0.0-alpha", 0, 0, 0}, /* 2.x pre-releases: 2.0.0-beta is here */
        {"2.0.0-beta", 1, 0, 1},
    };
    RUN(rows, 1);
}

static void test_not_semver(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"1.0", 0, 0, 1}, /* not semver: a range of its own, nothing there: listed */
        {"1.0.0", 1, 0, 1},
        {"1.0.1", 0, 0, 0},
    };
    RUN(rows, 1);
}

static void test_many_ranges(void **state)
{
    (void)state;
    /* more satisfied ranges than the fast table: the slow path must agree */
    static char vers[140][16];
    struct agent_listing_version v[140];
    for (int i = 0; i < 70; i++) {
        snprintf(vers[2 * i], sizeof vers[0], "%d.0.0", i + 1);
        snprintf(vers[2 * i + 1], sizeof vers[0], "%d.1.0", i + 1);
        v[2 * i] = (struct agent_listing_version){vers[2 * i], false, true, false};
        v[2 * i + 1] = (struct agent_listing_version){vers[2 * i + 1], false, false, true};
    }
    assert_int_equal(agent_listing_offline(v, 140), 70);
    for (int i = 0; i < 70; i++) {
        assert_true(v[2 * i].listed);
        assert_false(v[2 * i + 1].listed);
    }
}

static void test_empty(void **state)
{
    (void)state;
    assert_int_equal(agent_listing_offline(NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_available_wins_in_its_range),
        cmocka_unit_test(test_nothing_here_lists_everything),
        cmocka_unit_test(test_major_ranges),
        cmocka_unit_test(test_zero_zero_patch_is_its_own_range),
        cmocka_unit_test(test_yanked_available_does_not_satisfy),
        cmocka_unit_test(test_prereleases_apart),
        cmocka_unit_test(test_not_semver),
        cmocka_unit_test(test_many_ranges),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
