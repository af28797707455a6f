/* tests/unit/test-agent-status-page.c — the status page (agent/status_page.h)
 * and the metrics text (agent/metrics.h) from a status document: escaping of
 * everything a peer or a request controls, the numbers shown, byte units,
 * and the histogram's buckets. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/metrics.h"
#include "agent/status_page.h"
#include "proto/textbuf.h"

static json_t *doc(void)
{
    json_error_t err;
    json_t *d = json_loads(
        "{\"version\":\"0.1.0\",\"online\":false,"
        "\"upstream\":{\"url\":\"https://up.example/\",\"state\":\"offline\",\"since\":900,"
        "\"last_error\":\"connect <refused>\"},"
        "\"store\":{\"dir\":\"/s\",\"crates\":97,\"bytes\":4610000,\"index_entries\":300},"
        "\"peers\":[{\"id\":\"Abcdefghij\",\"addr\":\"10.0.0.2:7879\",\"via\":\"mdns\","
        "\"state\":\"live\",\"crates\":12,\"last_seen\":990,"
        "\"received\":{\"crates\":3,\"bytes\":150000},\"sent\":{\"crates\":1,\"bytes\":52000}},"
        "{\"id\":null,\"addr\":\"<script>x</script>:1\",\"via\":\"pex\",\"state\":\"failing\","
        "\"crates\":0,\"last_seen\":0,\"received\":{\"crates\":0,\"bytes\":0},"
        "\"sent\":{\"crates\":0,\"bytes\":0}}],"
        "\"counters\":{\"served\":40,\"index_served\":30,\"crates_served\":10,"
        "\"bytes_served\":1234567,\"bytes_from_peers\":150000,\"bytes_to_peers\":52000,"
        "\"from_store\":7,\"from_upstream\":0,\"from_peers\":3},"
        "\"rejected\":{\"checksum\":1},\"transfers\":{\"in_flight\":2},"
        "\"uploads\":{\"active\":1,\"waiting\":0,\"slots\":8},"
        "\"misses\":[{\"crate\":\"winapi\",\"version\":\"0.3.9\",\"reason\":\"a & b\",\"at\":995}],"
        "\"misses_total\":5,\"uptime_s\":100,\"listen\":\"127.0.0.1:7878\",\"mdns\":\"daemon\","
        "\"key_id\":\"0123\"}",
        0, &err);
    assert_non_null(d);
    return d;
}

static void test_page(void **state)
{
    (void)state;
    json_t *d = doc();
    size_t len = 0;
    char *html = status_page_html(d, 1000, &len);
    assert_non_null(html);
    assert_int_equal(strlen(html), len);
    assert_non_null(strstr(html, "<!doctype html>"));
    assert_non_null(strstr(html, "http-equiv=\"refresh\""));
    assert_non_null(strstr(html, "id=\"state\" class=\"badge offline\">offline<"));
    assert_non_null(strstr(html, "id=\"store-crates\">97<"));
    assert_non_null(strstr(html, "id=\"store-bytes\" data-bytes=\"4610000\">4.61 MB<"));
    assert_non_null(strstr(html, "id=\"saved-bytes\" data-bytes=\"202000\""));
    assert_non_null(strstr(html, "data-addr=\"10.0.0.2:7879\""));
    assert_non_null(strstr(html, "3 crates, 150 kB"));
    assert_non_null(strstr(html, "10 s ago"));
    /* what peers and requests control is escaped */
    assert_null(strstr(html, "<script>"));
    assert_non_null(strstr(html, "&lt;script&gt;x&lt;/script&gt;:1"));
    assert_non_null(strstr(html, "a &amp; b"));
    assert_non_null(strstr(html, "connect &lt;refused&gt;"));
    assert_non_null(strstr(html, "(1 live of 2)"));
    free(html);
    json_decref(d);
}

static void test_bytes(void **state)
{
    (void)state;
    char b[32];
    text_bytes(0, b, sizeof b);
    assert_string_equal(b, "0 B");
    text_bytes(999, b, sizeof b);
    assert_string_equal(b, "999 B");
    text_bytes(1000, b, sizeof b);
    assert_string_equal(b, "1.00 kB");
    text_bytes(20990000, b, sizeof b);
    assert_string_equal(b, "21.0 MB");
    text_bytes(UINT64_MAX, b, sizeof b);
    assert_non_null(strstr(b, "TB"));
}

static void test_metrics(void **state)
{
    (void)state;
    struct metrics_histogram h;
    memset(&h, 0, sizeof h);
    metrics_observe(&h, 0.0001); /* first bucket */
    metrics_observe(&h, 0.001);  /* le=0.001 exactly */
    metrics_observe(&h, 3);      /* le=5 */
    metrics_observe(&h, 100);    /* +Inf only */
    assert_int_equal(h.count, 4);
    assert_int_equal(h.le[0], 1);
    assert_int_equal(h.le[1], 1);
    assert_int_equal(h.inf, 1);
    json_t *d = doc();
    size_t len = 0;
    char *text = metrics_text(d, &h, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "\ncratecast_online 0\n"));
    assert_non_null(strstr(text, "\ncratecast_store_bytes 4610000\n"));
    assert_non_null(strstr(text, "\ncratecast_peers{state=\"live\"} 1\n"));
    assert_non_null(strstr(text, "\ncratecast_peers{state=\"failing\"} 1\n"));
    assert_non_null(strstr(text, "\ncratecast_peer_sent_bytes_total 52000\n"));
    assert_non_null(strstr(text, "\ncratecast_rejected_total{cause=\"checksum\"} 1\n"));
    assert_non_null(strstr(text, "\ncratecast_misses_total 5\n"));
    assert_non_null(strstr(text, "_bucket{le=\"0.001\"} 2\n"));
    assert_non_null(strstr(text, "_bucket{le=\"5\"} 3\n"));
    assert_non_null(strstr(text, "_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text, "\ncratecast_cargo_request_duration_seconds_count 4\n"));
    /* every TYPE counter ends in _total */
    for (const char *p = strstr(text, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
        const char *sp = strchr(p + 7, ' ');
        if (strncmp(sp + 1, "counter", 7) == 0)
            assert_memory_equal(sp - 6, "_total", 6);
    }
    free(text);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
