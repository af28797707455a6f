/* tests/unit/test-agent-upstream-state.c — the upstream's online/offline
 * state machine (agent/upstream_state.h) with a fake clock: the first probe,
 * failures and the doubling back-off, recovery, the rate-limited nudge, one
 * probe at a time, and --upstream none staying put. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/upstream_state.h"

/* A fake owner: time moves only when the test says, an armed timer fires when
 * the clock passes it, and a probe asked for is started (or fails to start). */
struct owner {
    struct upstream_sm m;
    uint64_t now;
    bool timer_armed;
    uint64_t timer_at;
    unsigned probes;  /* probes started */
    unsigned changes; /* state changes reported */
    bool start_fails; /* the next probe cannot be started */
};

static void apply(struct owner *o, struct upstream_action a)
{
    if (a.changed)
        o->changes++;
    if (a.stop_timer)
        o->timer_armed = false;
    if (a.arm_timer) {
        o->timer_armed = true;
        o->timer_at = o->now + a.timer_ms;
    }
    if (a.probe_now) {
        assert_false(o->m.probing); /* never a second probe in flight */
        bool ok = !o->start_fails;
        o->start_fails = false;
        if (ok)
            o->probes++;
        apply(o, upstream_state_probe_started(&o->m, ok, o->now));
    }
}

/* Move the clock; fire the timer when due. */
static void advance(struct owner *o, uint64_t ms)
{
    uint64_t end = o->now + ms;
    while (o->timer_armed && o->timer_at <= end) {
        o->now = o->timer_at;
        o->timer_armed = false;
        apply(o, upstream_state_timer(&o->m));
    }
    o->now = end;
}

static void start(struct owner *o, bool has_upstream)
{
    memset(o, 0, sizeof *o);
    o->now = 1000000;
    apply(o, upstream_state_init(&o->m, has_upstream));
}

static void test_none_is_final(void **state)
{
    (void)state;
    struct owner o;
    start(&o, false);
    assert_int_equal(o.m.state, UPSTREAM_NONE);
    apply(&o, upstream_state_failed(&o.m));
    apply(&o, upstream_state_nudge(&o.m, o.now + 60000));
    apply(&o, upstream_state_timer(&o.m));
    advance(&o, 120000);
    assert_int_equal(o.m.state, UPSTREAM_NONE);
    assert_int_equal(o.probes, 0);
    assert_int_equal(o.changes, 0);
    assert_false(o.timer_armed);
    assert_string_equal(upstream_state_name(o.m.state), "none");
}

static void test_first_probe_then_online(void **state)
{
    (void)state;
    struct owner o;
    start(&o, true);
    assert_int_equal(o.m.state, UPSTREAM_UNKNOWN);
    assert_string_equal(upstream_state_name(o.m.state), "probing");
    assert_int_equal(o.probes, 1);
    assert_true(o.m.probing);
    apply(&o, upstream_state_probe_done(&o.m, true));
    assert_int_equal(o.m.state, UPSTREAM_ONLINE);
    assert_int_equal(o.changes, 1);
    assert_false(o.timer_armed); /* online: no probing */
    advance(&o, 600000);
    assert_int_equal(o.probes, 1);
}

static void test_backoff_doubles_to_the_cap_and_resets(void **state)
{
    (void)state;
    struct owner o;
    start(&o, true);
    apply(&o, upstream_state_probe_done(&o.m, false));
    assert_int_equal(o.m.state, UPSTREAM_OFFLINE);
    /* each failed probe waits twice as long as the one before, up to the cap */
    const uint64_t want[] = {1000, 2000, 4000, 8000, 15000, 15000, 15000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_true(o.timer_armed);
        assert_int_equal(o.timer_at - o.now, want[i]);
        unsigned before = o.probes;
        advance(&o, want[i] - 1);
        assert_int_equal(o.probes, before); /* not a millisecond early */
        advance(&o, 1);
        assert_int_equal(o.probes, before + 1);
        apply(&o, upstream_state_probe_done(&o.m, false));
        assert_int_equal(o.m.state, UPSTREAM_OFFLINE);
    }
    assert_int_equal(o.changes, 1); /* offline once, not once per probe */
    /* healed: online again, and the next failure starts from the minimum */
    advance(&o, 15000);
    apply(&o, upstream_state_probe_done(&o.m, true));
    assert_int_equal(o.m.state, UPSTREAM_ONLINE);
    assert_int_equal(o.changes, 2);
    apply(&o, upstream_state_failed(&o.m));
    assert_int_equal(o.m.state, UPSTREAM_OFFLINE);
    assert_int_equal(o.timer_at - o.now, UPSTREAM_BACKOFF_MIN_MS);
}

static void test_nudge_probes_at_once_but_rate_limited(void **state)
{
    (void)state;
    struct owner o;
    start(&o, true);
    apply(&o, upstream_state_probe_done(&o.m, true));
    apply(&o, upstream_state_failed(&o.m)); /* a transfer failed: offline */
    assert_int_equal(o.m.state, UPSTREAM_OFFLINE);
    for (int i = 0; i < 4; i++) { /* back-off grows to 15 s */
        advance(&o, o.timer_at - o.now);
        apply(&o, upstream_state_probe_done(&o.m, false));
    }
    unsigned before = o.probes;
    uint64_t last_probe = o.now;
    /* a Cargo request right after a probe: too soon */
    apply(&o, upstream_state_nudge(&o.m, o.now));
    assert_int_equal(o.probes, before);
    advance(&o, UPSTREAM_NUDGE_MIN_MS - 1);
    apply(&o, upstream_state_nudge(&o.m, o.now));
    assert_int_equal(o.probes, before);
    /* 2 s after the last probe: probe now instead of waiting up to 15 s */
    advance(&o, 1);
    assert_true(o.now - last_probe == UPSTREAM_NUDGE_MIN_MS);
    apply(&o, upstream_state_nudge(&o.m, o.now));
    assert_int_equal(o.probes, before + 1);
    assert_false(o.timer_armed); /* the pending timer was stopped */
    /* while that probe is in flight, nudges and failures start nothing */
    advance(&o, 5000);
    apply(&o, upstream_state_nudge(&o.m, o.now));
    apply(&o, upstream_state_failed(&o.m));
    assert_int_equal(o.probes, before + 1);
    assert_false(o.timer_armed);
    apply(&o, upstream_state_probe_done(&o.m, true));
    assert_int_equal(o.m.state, UPSTREAM_ONLINE);
    /* online: a nudge does nothing */
    advance(&o, 60000);
    apply(&o, upstream_state_nudge(&o.m, o.now));
    assert_int_equal(o.probes, before + 1);
}

static void test_probe_that_cannot_start(void **state)
{
    (void)state;
    struct owner o;
    memset(&o, 0, sizeof o);
    o.now = 5000;
    o.start_fails = true;
    apply(&o, upstream_state_init(&o.m, true));
    /* the first probe could not start: offline at once (requests do not park
     * forever), and the timer retries */
    assert_int_equal(o.m.state, UPSTREAM_OFFLINE);
    assert_int_equal(o.probes, 0);
    assert_true(o.timer_armed);
    advance(&o, UPSTREAM_BACKOFF_MIN_MS);
    assert_int_equal(o.probes, 1);
    apply(&o, upstream_state_probe_done(&o.m, true));
    assert_int_equal(o.m.state, UPSTREAM_ONLINE);
}

static void test_transfer_failure_while_probing_waits_for_the_probe(void **state)
{
    (void)state;
    struct owner o;
    start(&o, true);
    apply(&o, upstream_state_failed(&o.m)); /* during the first probe */
    assert_int_equal(o.m.state, UPSTREAM_OFFLINE);
    assert_false(o.timer_armed); /* the probe in flight decides */
    apply(&o, upstream_state_probe_done(&o.m, true));
    assert_int_equal(o.m.state, UPSTREAM_ONLINE);
    assert_int_equal(o.probes, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none_is_final),
        cmocka_unit_test(test_first_probe_then_online),
        cmocka_unit_test(test_backoff_doubles_to_the_cap_and_resets),
        cmocka_unit_test(test_nudge_probes_at_once_but_rate_limited),
        cmocka_unit_test(test_probe_that_cannot_start),
        cmocka_unit_test(test_transfer_failure_while_probing_waits_for_the_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
