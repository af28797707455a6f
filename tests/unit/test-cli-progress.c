/* tests/unit/test-cli-progress.c — the progress line of prefetch and
 * import-cargo (cli/progress.h): the bar's fill, counts with and without a
 * total, byte units, the rate, the detail, and cutting to the buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/progress.h"

static void test_bar_and_rate(void **state)
{
    (void)state;
    char out[256];
    struct progress_view v = {.done = 5,
                              .total = 10,
                              .items = "crates",
                              .bytes = 2000000,
                              .bytes_total = 4000000,
                              .detail = "from index.crates.io-6f17d22bba15001f"};
    size_t n = progress_line(out, sizeof out, &v, 1.0, 10);
    assert_int_equal(n, strlen(out));
    assert_string_equal(out, "[=====>    ] 5/10 crates, 2.00 MB of 4.00 MB, 2.00 MB/s from "
                             "index.crates.io-6f17d22bba15001f");
    /* done: a full bar, no arrow */
    v.done = 10;
    v.detail = NULL;
    progress_line(out, sizeof out, &v, 2.0, 4);
    assert_string_equal(out, "[====] 10/10 crates, 2.00 MB of 4.00 MB, 1.00 MB/s");
    /* nothing yet: a rate of 0, also before any time passed */
    v.done = 0;
    v.bytes = 0;
    progress_line(out, sizeof out, &v, 0.01, 4);
    assert_string_equal(out, "[>   ] 0/10 crates, 0 B of 4.00 MB, 0 B/s");
    v.bytes = 1000;
    progress_line(out, sizeof out, &v, 0.0, 4);
    assert_string_equal(out, "[>   ] 0/10 crates, 1.00 kB of 4.00 MB, 0 B/s");
}

static void test_no_total(void **state)
{
    (void)state;
    char out[256];
    struct progress_view v = {.done = 3, .items = "packages", .bytes = 512, .detail = "(here 3)"};
    progress_line(out, sizeof out, &v, 2.0, 30);
    assert_string_equal(out, "3 packages, 512 B, 256 B/s (here 3)");
    /* no bar asked for */
    v.total = 4;
    progress_line(out, sizeof out, &v, 2.0, 0);
    assert_string_equal(out, "3/4 packages, 512 B, 256 B/s (here 3)");
    /* more done than total (a count that grew): the bar stays full */
    v.done = 9;
    progress_line(out, sizeof out, &v, 2.0, 2);
    assert_string_equal(out, "[==] 9/4 packages, 512 B, 256 B/s (here 3)");
}

static void test_cut(void **state)
{
    (void)state;
    char out[12];
    struct progress_view v = {.done = 5, .total = 10, .items = "crates", .bytes = 1500000};
    size_t n = progress_line(out, sizeof out, &v, 1.0, 30);
    assert_int_equal(n, sizeof out - 1);
    assert_int_equal(strlen(out), sizeof out - 1);
    assert_memory_equal(out, "[==========", 11);
    assert_int_equal(progress_line(out, 1, &v, 1.0, 30), 0);
    assert_string_equal(out, "");
}

/* Off a terminal nothing is drawn. */
static void test_not_a_tty(void **state)
{
    (void)state;
    char buf[256] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    struct progress p;
    progress_start(&p, f);
    assert_false(p.tty);
    struct progress_view v = {.done = 1, .total = 2, .items = "crates"};
    progress_draw(&p, &v, true);
    progress_end(&p);
    fclose(f);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bar_and_rate),
        cmocka_unit_test(test_no_total),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_not_a_tty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
