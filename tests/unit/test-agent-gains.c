/* tests/unit/test-agent-gains.c — the holder's log of what its store gained
 * lately (agent/gains.h): what a news message with gains lists, from which
 * sequence, and how the log stays within its steps and caps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/gains.h"

#define MAXC 64

/* One store step: ncrates crates whose digests start with the byte tag+i, and
 * the index names given (digest byte dig). */
struct step {
    struct proto_manifest_crate crates[MAXC];
    struct proto_manifest_index index[MAXC];
    struct proto_manifest m;
};

static struct proto_manifest *mk(struct step *st, uint8_t tag, uint32_t ncrates,
                                 const char *const *names, uint32_t nnames, uint8_t dig)
{
    memset(st, 0, sizeof *st);
    for (uint32_t i = 0; i < ncrates; i++) {
        st->crates[i].sha256[0] = (uint8_t)(tag + i);
        st->crates[i].size = 1000 + i;
    }
    for (uint32_t i = 0; i < nnames; i++) {
        snprintf(st->index[i].name, sizeof st->index[i].name, "%s", names[i]);
        memset(st->index[i].hash, dig, sizeof st->index[i].hash);
    }
    st->m.crates = st->crates;
    st->m.ncrates = ncrates;
    st->m.index = st->index;
    st->m.nindex = nnames;
    return &st->m;
}

struct view {
    struct proto_manifest_crate c[4 * MAXC];
    struct proto_manifest_index x[4 * MAXC];
    uint32_t nc, nx;
};

static void view(const struct agent_gains *g, struct view *v)
{
    assert_true(g->ncrates <= 4 * MAXC && g->nindex <= 4 * MAXC);
    agent_gains_view(g, v->c, &v->nc, v->x, &v->nx);
    assert_int_equal(v->nc, g->ncrates);
    assert_int_equal(v->nx, g->nindex);
}

static void test_steps_accumulate_from_base(void **state)
{
    (void)state;
    struct agent_gains g = {0};
    agent_gains_reset(&g, 10);
    struct step s;
    const char *serde[] = {"serde"}, *log[] = {"log"};
    assert_int_equal(agent_gains_add(&g, 11, mk(&s, 0x10, 2, serde, 1, 0xaa), 16, 256), 0);
    assert_int_equal(agent_gains_add(&g, 13, mk(&s, 0x20, 1, log, 1, 0xbb), 16, 256), 0);
    assert_true(g.base == 10 && g.top == 13);
    struct view v;
    view(&g, &v);
    assert_int_equal(v.nc, 3);
    assert_int_equal(v.nx, 2);
    assert_int_equal(v.c[0].sha256[0], 0x10); /* in sequence order */
    assert_int_equal(v.c[2].sha256[0], 0x20);
    assert_true(v.c[1].size == 1001);
    assert_string_equal(v.x[0].name, "serde");
    assert_string_equal(v.x[1].name, "log");
    /* a sequence that does not move forward is refused (the caller resets) */
    assert_int_equal(agent_gains_add(&g, 13, mk(&s, 0x30, 1, NULL, 0, 0), 16, 256), -EINVAL);
    assert_int_equal(agent_gains_add(&g, 12, mk(&s, 0x30, 1, NULL, 0, 0), 16, 256), -EINVAL);
    assert_true(g.top == 13 && g.ncrates == 2 + 1);
    agent_gains_free(&g);
}

static void test_index_name_keeps_latest_digest(void **state)
{
    (void)state;
    struct agent_gains g = {0};
    agent_gains_reset(&g, 1);
    struct step s;
    const char *serde[] = {"serde"}, *both[] = {"log", "serde"};
    assert_int_equal(agent_gains_add(&g, 2, mk(&s, 0, 0, serde, 1, 0x01), 16, 256), 0);
    assert_int_equal(agent_gains_add(&g, 3, mk(&s, 0, 0, both, 2, 0x02), 16, 256), 0);
    struct view v;
    view(&g, &v);
    assert_int_equal(v.nx, 2); /* serde once */
    for (uint32_t i = 0; i < v.nx; i++)
        assert_int_equal(v.x[i].hash[0], 0x02);
    /* a later step for serde alone: still once, with the newest digest */
    assert_int_equal(agent_gains_add(&g, 4, mk(&s, 0, 0, serde, 1, 0x03), 16, 256), 0);
    view(&g, &v);
    assert_int_equal(v.nx, 2);
    assert_string_equal(v.x[0].name, "log");
    assert_string_equal(v.x[1].name, "serde");
    assert_int_equal(v.x[1].hash[0], 0x03);
    assert_true(g.base == 1);
    agent_gains_free(&g);
}

static void test_steps_bound_moves_base(void **state)
{
    (void)state;
    struct agent_gains g = {0};
    agent_gains_reset(&g, 100);
    struct step s;
    for (uint64_t q = 101; q <= 110; q++)
        assert_int_equal(agent_gains_add(&g, q, mk(&s, (uint8_t)q, 1, NULL, 0, 0), 4, 256), 0);
    /* the last 4 steps (107..110) are kept: everything after 106 */
    assert_true(g.base == 106 && g.top == 110);
    struct view v;
    view(&g, &v);
    assert_int_equal(v.nc, 4);
    assert_int_equal(v.c[0].sha256[0], 107);
    assert_int_equal(v.c[3].sha256[0], 110);
    for (size_t i = 0; i < g.n; i++)
        assert_true(g.v[i].at > g.base && g.v[i].at <= g.top);
    agent_gains_free(&g);
}

static void test_caps_drop_oldest_steps(void **state)
{
    (void)state;
    struct agent_gains g = {0};
    agent_gains_reset(&g, 0);
    struct step s;
    /* steps of 3 crates under a cap of 8: two steps fit, a third pushes one out */
    assert_int_equal(agent_gains_add(&g, 1, mk(&s, 0x10, 3, NULL, 0, 0), 16, 8), 0);
    assert_int_equal(agent_gains_add(&g, 2, mk(&s, 0x20, 3, NULL, 0, 0), 16, 8), 0);
    assert_true(g.base == 0 && g.ncrates == 6);
    assert_int_equal(agent_gains_add(&g, 3, mk(&s, 0x30, 3, NULL, 0, 0), 16, 8), 0);
    assert_true(g.base == 1 && g.ncrates == 6);
    struct view v;
    view(&g, &v);
    assert_int_equal(v.c[0].sha256[0], 0x20);
    /* the index cap counts on its own */
    const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    assert_int_equal(agent_gains_add(&g, 4, mk(&s, 0, 0, names, 5, 1), 16, 8), 0);
    assert_true(g.base == 1 && g.nindex == 5);
    assert_int_equal(agent_gains_add(&g, 5, mk(&s, 0, 0, names + 5, 4, 1), 16, 8), 0);
    assert_true(g.base == 4 && g.nindex == 4 && g.ncrates == 0);
    /* a step larger than the cap by itself: the log is empty, from that step */
    assert_int_equal(agent_gains_add(&g, 6, mk(&s, 0x40, 9, NULL, 0, 0), 16, 8), 0);
    assert_true(g.base == 6 && g.top == 6 && g.n == 0 && g.ncrates + g.nindex == 0);
    agent_gains_free(&g);
}

static void test_reset_empties(void **state)
{
    (void)state;
    struct agent_gains g = {0};
    agent_gains_reset(&g, 5);
    struct step s;
    assert_int_equal(agent_gains_add(&g, 6, mk(&s, 1, 2, NULL, 0, 0), 16, 256), 0);
    agent_gains_reset(&g, 9);
    assert_true(g.base == 9 && g.top == 9 && g.n == 0 && g.ncrates + g.nindex == 0);
    struct view v;
    view(&g, &v);
    assert_int_equal(v.nc + v.nx, 0);
    agent_gains_free(&g);
    agent_gains_free(&g); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps_accumulate_from_base),
        cmocka_unit_test(test_index_name_keeps_latest_digest),
        cmocka_unit_test(test_steps_bound_moves_base),
        cmocka_unit_test(test_caps_drop_oldest_steps),
        cmocka_unit_test(test_reset_empties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
