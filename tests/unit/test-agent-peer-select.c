/* tests/unit/test-agent-peer-select.c — holder order and transfer slots
 * (agent/peer_select.h): a classmate before the teacher who holds everything,
 * load and our own transfers, liars last, one candidate per key, the bound per
 * holder, busy holders, and "saturated" only when waiting can help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/peer_select.h"

static uint8_t keys[8][32];

static struct peer_cand cand(int id, size_t ncrates)
{
    struct peer_cand c;
    memset(&c, 0, sizeof c);
    memset(keys[id], id + 1, sizeof keys[id]);
    c.key = keys[id];
    c.ref = (void *)(intptr_t)(id + 1);
    c.ncrates = ncrates;
    return c;
}

static int id_of(const struct peer_cand *c)
{
    return (int)(intptr_t)c->ref - 1;
}

static void test_classmate_before_teacher(void **state)
{
    (void)state;
    struct peer_cand v[3] = {cand(0, 1000), cand(1, 40), cand(2, 300)};
    size_t n = peer_select_order(v, 3);
    assert_int_equal(n, 3);
    /* fewer crates held: less likely the sole source of what others need */
    assert_int_equal(id_of(&v[0]), 1);
    assert_int_equal(id_of(&v[1]), 2);
    assert_int_equal(id_of(&v[2]), 0);
}

static void test_load_and_inflight_outweigh_share(void **state)
{
    (void)state;
    struct peer_cand v[3] = {cand(0, 1000), cand(1, 10), cand(2, 10)};
    v[1].inflight = 1;    /* we already take something from it */
    v[2].remote_load = 3; /* it tells everyone it is uploading to three */
    size_t n = peer_select_order(v, 3);
    assert_int_equal(n, 3);
    assert_int_equal(id_of(&v[0]), 0); /* the idle teacher now wins */
    assert_int_equal(id_of(&v[1]), 1); /* 1000 for our transfer < 3 x 400 reported */
    assert_int_equal(id_of(&v[2]), 2);
}

static void test_cost_and_noise(void **state)
{
    (void)state;
    struct peer_cand v[2] = {cand(0, 10), cand(1, 10)};
    v[0].ms_per_mb = 900; /* slow link */
    v[1].ms_per_mb = 100;
    peer_select_order(v, 2);
    assert_int_equal(id_of(&v[0]), 1);
    /* noise (0..99) reorders equals, never a real difference */
    struct peer_cand w[2] = {cand(0, 10), cand(1, 10)};
    w[0].noise = 99;
    w[1].noise = 0;
    peer_select_order(w, 2);
    assert_int_equal(id_of(&w[0]), 1);
    struct peer_cand x[2] = {cand(0, 10), cand(1, 10)};
    x[0].noise = 0;
    x[0].ms_per_mb = 300;
    x[1].noise = 99;
    x[1].ms_per_mb = 100;
    peer_select_order(x, 2);
    assert_int_equal(id_of(&x[0]), 1);
    /* a cost is capped: a dead-slow peer is not worse than a liar */
    struct peer_cand y[2] = {cand(0, 10), cand(1, 10)};
    y[0].ms_per_mb = 1e9;
    y[1].penalty = 1;
    peer_select_order(y, 2);
    assert_int_equal(id_of(&y[0]), 0);
}

static void test_one_per_key(void **state)
{
    (void)state;
    struct peer_cand v[3] = {cand(0, 10), cand(1, 10), cand(0, 10)};
    v[0].remote_load = 2; /* the same machine under a second address, loaded */
    v[2].ref = (void *)(intptr_t)7;
    v[1].ms_per_mb = 50;
    size_t n = peer_select_order(v, 3);
    assert_int_equal(n, 2);
    assert_int_equal(id_of(&v[0]), 6); /* key 0's better address (ref 7) */
    assert_int_equal(id_of(&v[1]), 1);
}

static void test_take_bound_busy_tried(void **state)
{
    (void)state;
    bool sat;
    struct peer_cand v[3] = {cand(0, 10), cand(1, 10), cand(2, 10)};
    assert_int_equal(peer_select_take(v, 3, 2, &sat), 0);
    assert_false(sat);
    v[0].inflight = 2; /* at its bound */
    assert_int_equal(peer_select_take(v, 3, 2, &sat), 1);
    assert_true(sat);
    v[1].busy = true;
    v[2].tried = true;
    assert_int_equal(peer_select_take(v, 3, 2, &sat), -1);
    assert_true(sat); /* waiting helps: a slot frees, the back-off ends */
    /* unbounded (index files): the bound and busy do not apply */
    v[1].busy = false;
    assert_int_equal(peer_select_take(v, 3, UINT32_MAX, &sat), 0);
    /* everyone tried: nothing to wait for */
    for (int i = 0; i < 3; i++)
        v[i].tried = true;
    assert_int_equal(peer_select_take(v, 3, 2, &sat), -1);
    assert_false(sat);
    assert_int_equal(peer_select_take(v, 0, 2, &sat), -1);
    assert_false(sat);
}

/* The teacher (holds the most) waits behind a classmate at its bound or busy:
 * the classmate's slot frees within a transfer. */
static void test_teacher_waits_behind_busy_classmate(void **state)
{
    (void)state;
    bool sat;
    struct peer_cand v[3] = {cand(0, 40), cand(1, 55), cand(2, 1000)};
    assert_int_equal(peer_select_take(v, 3, 2, &sat), 0);
    v[0].inflight = 2;
    assert_int_equal(peer_select_take(v, 3, 2, &sat), 1); /* another classmate */
    v[1].busy = true;
    assert_int_equal(peer_select_take(v, 3, 2, &sat), -1); /* not the teacher: wait */
    assert_true(sat);
    /* the classmates were tried (they failed): the teacher is asked */
    v[0].tried = v[1].tried = true;
    assert_int_equal(peer_select_take(v, 3, 2, &sat), 2);
    /* a classmate that lied does not hold the teacher back */
    struct peer_cand w[2] = {cand(0, 40), cand(2, 1000)};
    w[0].penalty = 1;
    w[0].inflight = 2;
    assert_int_equal(peer_select_take(w, 2, 2, &sat), 1);
    /* equals (every holder complete): nobody is the sole source */
    struct peer_cand e[2] = {cand(0, 1000), cand(2, 1000)};
    e[0].inflight = 2;
    assert_int_equal(peer_select_take(e, 2, 2, &sat), 1);
    /* the teacher alone: asked */
    struct peer_cand t[1] = {cand(2, 1000)};
    assert_int_equal(peer_select_take(t, 1, 2, &sat), 0);
}

static void test_liars_wait_behind_honest(void **state)
{
    (void)state;
    bool sat;
    struct peer_cand v[2] = {cand(0, 10), cand(1, 10)};
    v[0].penalty = 1; /* sent bad bytes once */
    v[1].inflight = 2;
    /* the honest one is at its bound: the liar is still not asked */
    assert_int_equal(peer_select_take(v, 2, 2, &sat), -1);
    assert_true(sat);
    /* once the honest one was tried (and failed), the liar may be */
    v[1].tried = true;
    assert_int_equal(peer_select_take(v, 2, 2, &sat), 0);
    /* ordered, the liar comes last even when idle */
    struct peer_cand w[2] = {cand(0, 10), cand(1, 1000)};
    w[0].penalty = 1;
    w[1].inflight = 1;
    w[1].remote_load = 5;
    peer_select_order(w, 2);
    assert_int_equal(id_of(&w[0]), 1);
}

static void test_many_candidates_capped(void **state)
{
    (void)state;
    static struct peer_cand v[PEER_SELECT_MAX + 10];
    static uint8_t k[PEER_SELECT_MAX + 10][32];
    for (size_t i = 0; i < PEER_SELECT_MAX + 10; i++) {
        memset(&v[i], 0, sizeof v[i]);
        memset(k[i], 0, 32);
        memcpy(k[i], &i, sizeof i);
        v[i].key = k[i];
        v[i].ncrates = PEER_SELECT_MAX + 10 - i;
    }
    size_t n = peer_select_order(v, PEER_SELECT_MAX + 10);
    assert_int_equal(n, PEER_SELECT_MAX);
    for (size_t i = 1; i < n; i++)
        assert_true(v[i - 1].ncrates <= v[i].ncrates);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classmate_before_teacher),
        cmocka_unit_test(test_load_and_inflight_outweigh_share),
        cmocka_unit_test(test_cost_and_noise),
        cmocka_unit_test(test_one_per_key),
        cmocka_unit_test(test_take_bound_busy_tried),
        cmocka_unit_test(test_teacher_waits_behind_busy_classmate),
        cmocka_unit_test(test_liars_wait_behind_honest),
        cmocka_unit_test(test_many_candidates_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
