/* tests/unit/test-agent-resolve.c — where a crate comes from next
 * (agent/resolve.h), with a fake clock: waiting for a neighbour that fetches
 * it (bounded), the one deferral to a designated neighbour, holders first,
 * busy holders waited for (bounded), then the upstream, then failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/resolve.h"

#define T0 1000000u

static enum resolve_step step(struct resolve_crate *r, const struct resolve_view *v, uint64_t t)
{
    return resolve_crate_next(r, v, t);
}

static void test_holder_first_then_upstream_then_fail(void **state)
{
    (void)state;
    struct resolve_crate r;
    resolve_crate_init(&r, T0);
    struct resolve_view v = {.holders = 3, .peer_ready = true, .upstream = true};
    assert_int_equal(step(&r, &v, T0), RESOLVE_PEER);
    v.peer_ready = false; /* every holder tried and failed */
    assert_int_equal(step(&r, &v, T0 + 5), RESOLVE_UPSTREAM);
    v.upstream = false; /* offline */
    assert_int_equal(step(&r, &v, T0 + 10), RESOLVE_FAIL);
    assert_string_equal(resolve_step_name(RESOLVE_FAIL), "fail");
}

static void test_busy_is_waited_for_bounded(void **state)
{
    (void)state;
    struct resolve_crate r;
    resolve_crate_init(&r, T0);
    struct resolve_view v = {.holders = 2, .saturated = true, .upstream = true};
    /* a busy holder is waited for even when the upstream could send it */
    assert_int_equal(step(&r, &v, T0), RESOLVE_WAIT_SLOT);
    assert_int_equal(step(&r, &v, T0 + RESOLVE_SLOT_WAIT_MS - 1), RESOLVE_WAIT_SLOT);
    /* the wait counts from the fetch's start; then the upstream */
    assert_int_equal(step(&r, &v, T0 + RESOLVE_SLOT_WAIT_MS), RESOLVE_UPSTREAM);
    v.upstream = false;
    assert_int_equal(step(&r, &v, T0 + RESOLVE_SLOT_WAIT_MS), RESOLVE_FAIL);
    /* a slot freed in time: asked */
    resolve_crate_init(&r, T0);
    v.peer_ready = true;
    assert_int_equal(step(&r, &v, T0 + 100), RESOLVE_PEER);
}

static void test_waits_for_a_fetching_neighbour(void **state)
{
    (void)state;
    struct resolve_crate r;
    resolve_crate_init(&r, T0);
    /* one holder (a teacher) with a free slot, and a classmate fetching the crate */
    struct resolve_view v = {.holders = 1, .neighbour_fetching = true, .peer_ready = true};
    assert_int_equal(step(&r, &v, T0 + 10), RESOLVE_WAIT_NEIGHBOUR);
    assert_int_equal(r.neighbour_since, T0 + 10);
    assert_int_equal(step(&r, &v, T0 + 10 + RESOLVE_NEIGHBOUR_WAIT_MS - 1), RESOLVE_WAIT_NEIGHBOUR);
    /* the neighbour finished: its manifest is due, still worth waiting for */
    v.neighbour_fetching = false;
    v.manifest_due = true;
    assert_int_equal(step(&r, &v, T0 + 5000), RESOLVE_WAIT_NEIGHBOUR);
    /* the neighbour now holds it: two holders, asked at once */
    v.holders = 2;
    v.manifest_due = false;
    assert_int_equal(step(&r, &v, T0 + 5100), RESOLVE_PEER);
}

static void test_relay_from_a_fetching_neighbour(void **state)
{
    (void)state;
    struct resolve_crate r;
    resolve_crate_init(&r, T0);
    /* one holder (a teacher), a classmate fetching it that passes crates on */
    struct resolve_view v = {
        .holders = 1, .neighbour_fetching = true, .relay_ready = true, .peer_ready = true};
    assert_int_equal(step(&r, &v, T0), RESOLVE_RELAY);
    assert_int_equal(r.neighbour_since, 0); /* no wait started */
    /* the relay is at its bound: wait for the neighbour as before */
    v.relay_ready = false;
    assert_int_equal(step(&r, &v, T0 + 5), RESOLVE_WAIT_NEIGHBOUR);
    /* with two holders a relay is not needed */
    v.holders = 2;
    v.relay_ready = true;
    assert_int_equal(step(&r, &v, T0 + 10), RESOLVE_PEER);
    assert_string_equal(resolve_step_name(RESOLVE_RELAY), "relay");
}

static void test_neighbour_wait_is_bounded(void **state)
{
    (void)state;
    struct resolve_crate r;
    resolve_crate_init(&r, T0);
    struct resolve_view v = {.holders = 0, .neighbour_fetching = true, .upstream = true};
    assert_int_equal(step(&r, &v, T0), RESOLVE_WAIT_NEIGHBOUR);
    /* the neighbour's transfer hangs: after the bound, the upstream itself */
    assert_int_equal(step(&r, &v, T0 + RESOLVE_NEIGHBOUR_WAIT_MS), RESOLVE_UPSTREAM);
}

static void test_manifest_due_alone_does_not_start_a_wait(void **state)
{
    (void)state;
    struct resolve_crate r;
    resolve_crate_init(&r, T0);
    /* a neighbour's manifest is due, but nobody said it fetches this crate */
    struct resolve_view v = {.holders = 1, .manifest_due = true, .peer_ready = true};
    assert_int_equal(step(&r, &v, T0), RESOLVE_PEER);
    assert_int_equal(r.neighbour_since, 0);
}

static void test_settle_once_before_the_upstream(void **state)
{
    (void)state;
    struct resolve_crate r;
    resolve_crate_init(&r, T0);
    /* online, nobody holds it, a classmate is busy fetching: its news may be on its way */
    struct resolve_view v = {.holders = 0, .neighbour_active = true, .upstream = true};
    assert_int_equal(step(&r, &v, T0), RESOLVE_SETTLE);
    assert_true(r.settled);
    /* nothing came: the upstream, without settling again */
    assert_int_equal(step(&r, &v, T0 + RESOLVE_SETTLE_MS), RESOLVE_UPSTREAM);
    assert_int_equal(step(&r, &v, T0 + 2 * RESOLVE_SETTLE_MS), RESOLVE_UPSTREAM);
    /* its news said it fetches this crate: we wait for it */
    resolve_crate_init(&r, T0);
    assert_int_equal(step(&r, &v, T0), RESOLVE_SETTLE);
    v.neighbour_fetching = true;
    assert_int_equal(step(&r, &v, T0 + RESOLVE_SETTLE_MS), RESOLVE_WAIT_NEIGHBOUR);
    /* a holder ready, or nobody active: no settling */
    resolve_crate_init(&r, T0);
    struct resolve_view w = {
        .holders = 1, .peer_ready = true, .neighbour_active = true, .upstream = true};
    assert_int_equal(step(&r, &w, T0), RESOLVE_PEER);
    struct resolve_view idle = {.holders = 0, .upstream = true};
    assert_int_equal(step(&r, &idle, T0), RESOLVE_UPSTREAM);
    /* the settle is shorter than a deferral: a settling designated agent still announces in
     * time for a deferring one */
    assert_true(RESOLVE_SETTLE_MS < RESOLVE_DEFER_MS);
}

static void test_defer_once_to_the_designated_neighbour(void **state)
{
    (void)state;
    struct resolve_crate r;
    resolve_crate_init(&r, T0);
    /* online, nobody holds it, a classmate comes first in the rendezvous order */
    struct resolve_view v = {.holders = 0, .designated_elsewhere = true, .upstream = true};
    assert_int_equal(step(&r, &v, T0), RESOLVE_DEFER);
    assert_true(r.deferred);
    /* it did not announce the crate within RESOLVE_DEFER_MS: we go ourselves */
    assert_int_equal(step(&r, &v, T0 + RESOLVE_DEFER_MS), RESOLVE_UPSTREAM);
    /* had it announced, we would wait for it */
    resolve_crate_init(&r, T0);
    assert_int_equal(step(&r, &v, T0), RESOLVE_DEFER);
    v.neighbour_fetching = true;
    assert_int_equal(step(&r, &v, T0 + RESOLVE_DEFER_MS), RESOLVE_WAIT_NEIGHBOUR);
    /* how long: 50 ms before the upstream; longer with a teacher as the one holder, whose
     * designated classmate announces its share one or two crates at a time */
    assert_int_equal(resolve_defer_ms(&v), RESOLVE_DEFER_MS);
    struct resolve_view teacher = {.holders = 1, .designated_elsewhere = true};
    resolve_crate_init(&r, T0);
    assert_int_equal(step(&r, &teacher, T0), RESOLVE_DEFER);
    assert_int_equal(resolve_defer_ms(&teacher), RESOLVE_DEFER_HOLDER_MS);
    assert_true(RESOLVE_DEFER_MS < RESOLVE_DEFER_HOLDER_MS);
}

static void test_many_holders_never_wait_for_neighbours(void **state)
{
    (void)state;
    struct resolve_crate r;
    resolve_crate_init(&r, T0);
    /* several classmates hold it: no waiting, no deferring, just ask one */
    struct resolve_view v = {.holders = 4,
                             .neighbour_fetching = true,
                             .manifest_due = true,
                             .designated_elsewhere = true,
                             .peer_ready = true};
    assert_int_equal(step(&r, &v, T0), RESOLVE_PEER);
    assert_false(r.deferred);
    assert_int_equal(r.neighbour_since, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holder_first_then_upstream_then_fail),
        cmocka_unit_test(test_busy_is_waited_for_bounded),
        cmocka_unit_test(test_waits_for_a_fetching_neighbour),
        cmocka_unit_test(test_relay_from_a_fetching_neighbour),
        cmocka_unit_test(test_neighbour_wait_is_bounded),
        cmocka_unit_test(test_manifest_due_alone_does_not_start_a_wait),
        cmocka_unit_test(test_defer_once_to_the_designated_neighbour),
        cmocka_unit_test(test_settle_once_before_the_upstream),
        cmocka_unit_test(test_many_holders_never_wait_for_neighbours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
