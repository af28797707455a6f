/* tests/unit/test-cli-status-text.c — `cratecast status` as text
 * (cli/status_text.h) from a status document: every section, byte units,
 * peers with both directions and their failures, a document with fields
 * missing, and the "ago" wording. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/textbuf.h"
#include "cli/status_text.h"

static const char DOC[] =
    "{\"version\":\"0.1.0\",\"online\":true,"
    "\"upstream\":{\"url\":\"https://index.crates.io/\",\"state\":\"online\",\"since\":400,"
    "\"last_error\":null},"
    "\"store\":{\"dir\":\"/s\",\"crates\":97,\"bytes\":4610000,\"index_entries\":300},"
    "\"peers\":[{\"id\":\"Abcdefghijklmnop\",\"addr\":\"10.0.0.2:7879\",\"via\":\"mdns\","
    "\"state\":\"live\",\"crates\":12,\"last_seen\":990,"
    "\"received\":{\"crates\":3,\"bytes\":150000},\"sent\":{\"crates\":52,\"bytes\":12300000},"
    "\"failures\":{\"transport\":0,\"timeout\":2,\"busy\":1,\"checksum\":0,\"signature\":0,"
    "\"not_held\":0}},"
    "{\"id\":null,\"addr\":\"10.0.0.3:7879\",\"via\":\"pex\",\"state\":\"failing\","
    "\"crates\":1,\"last_seen\":0,\"received\":{\"crates\":0,\"bytes\":0},"
    "\"sent\":{\"crates\":1,\"bytes\":999}}],"
    "\"counters\":{\"served\":40,\"index_served\":30,\"crates_served\":10,"
    "\"bytes_served\":1234567,\"bytes_from_peers\":150000,\"bytes_to_peers\":12300999,"
    "\"bytes_from_upstream\":2000000,\"served_to_peers\":53,\"relayed\":4,"
    "\"from_store\":7,\"from_upstream\":5,\"from_peers\":3,\"rejected\":1},"
    "\"rejected\":{\"checksum\":1},\"transfers\":{\"in_flight\":2,\"relaying\":1},"
    "\"uploads\":{\"active\":1,\"waiting\":0,\"slots\":8},"
    "\"import\":{\"running\":false,\"crates_added\":52,\"crates_present\":3,"
    "\"crates_untrusted\":1,\"index_entries\":300,\"index_new\":290,\"conflicts\":0,"
    "\"seconds\":1.5,\"registries_skipped\":0,\"skipped\":\"\"},"
    "\"misses\":[{\"crate\":\"winapi\",\"version\":\"0.3.9\",\"kind\":\"crate\","
    "\"reason\":\"no peer holds it\"}],"
    "\"listen\":\"127.0.0.1:7878\",\"mdns\":\"avahi-daemon\",\"key_id\":\"0123abcd\"}";

/* The text for a document at now = 1000; malloc'd. */
static char *text_of(const char *json)
{
    json_error_t err;
    json_t *d = json_loads(json, 0, &err);
    assert_non_null(d);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    status_text_print(f, d, 1000);
    fclose(f);
    json_decref(d);
    assert_non_null(buf);
    return buf;
}

static void test_full(void **state)
{
    (void)state;
    char *t = text_of(DOC);
    static const char *const want[] = {
        "state:     online since 10 min ago (upstream https://index.crates.io/, online)\n",
        "cargo:     served at http://127.0.0.1:7878/",
        "peers via: mDNS through the avahi daemon; key id 0123abcd\n",
        "           97 crates, 4.61 MB, 300 index entries\n",
        "to Cargo:  40 answers (10 crates, 30 index files), 1.23 MB sent\n",
        "crates:    7 from the store, 5 from the upstream, 3 from peers\n",
        "fetched:   2.00 MB from the upstream, 150 kB from peers\n",
        "to peers:  53 crates, 12.3 MB sent (4 relayed while arriving)\n",
        "transfers: 2 in flight, 1 relaying; uploads 1 of 8 slots busy, 0 waiting\n",
        "peers:     2\n",
        "           10.0.0.2:7879  Abcdefgh  mdns  live  12 crates, seen 10 s ago\n"
        "             received 3 crates (150 kB), sent 52 crates (12.3 MB); failures: timeout 2,"
        " busy 1\n",
        "           10.0.0.3:7879  (no key)  pex  failing  1 crate, seen never\n"
        "             received 0 crates (0 B), sent 1 crate (999 B)\n",
        "misses:    1 recent",
        "           winapi 0.3.9: no peer holds it\n",
        "import:    52 crates added, 3 already held, 1 without a trusted index entry; 300 index "
        "entries (290 new, 0 conflicting), in 1.50 s\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (strstr(t, want[i]) == NULL)
            fail_msg("missing %s\nin:\n%s", want[i], t);
    }
    assert_null(strstr(t, "last error"));
    assert_null(strstr(t, "MiB"));
    free(t);
}

/* Offline with an error, no upstream at all, mDNS variants, an import that
 * failed or runs, and a document with nothing in it. */
static void test_states(void **state)
{
    (void)state;
    char *t = text_of("{\"online\":false,\"upstream\":{\"url\":\"https://up/\",\"state\":"
                      "\"offline\",\"since\":950,\"last_error\":\"connect refused\"},"
                      "\"mdns\":\"off\",\"import\":{\"running\":false,\"error\":\"no dir\"}}");
    assert_non_null(strstr(t, "state:     offline since 50 s ago"));
    assert_non_null(strstr(t, "           last error: connect refused\n"));
    assert_non_null(strstr(t, "peers via: mDNS off"));
    assert_non_null(strstr(t, "import:    failed: no dir\n"));
    free(t);
    t = text_of("{\"online\":false,\"upstream\":{\"url\":null,\"state\":\"none\",\"since\":0},"
                "\"mdns\":\"avahi-core\",\"import\":{\"running\":true}}");
    assert_non_null(strstr(t, "state:     offline: no upstream, peers only\n"));
    assert_non_null(strstr(t, "peers via: mDNS, embedded"));
    assert_non_null(strstr(t, "import:    running\n"));
    free(t);
    t = text_of("{}");
    assert_non_null(strstr(t, "peers:     0\n"));
    assert_non_null(strstr(t, "misses:    none\n"));
    assert_non_null(strstr(t, "import:    none at start\n"));
    free(t);
}

static void test_ago(void **state)
{
    (void)state;
    char out[32];
    text_ago(1000, 0, out, sizeof out);
    assert_string_equal(out, "never");
    text_ago(1000, 2000, out, sizeof out);
    assert_string_equal(out, "never");
    text_ago(1000, 1000, out, sizeof out);
    assert_string_equal(out, "0 s ago");
    text_ago(10000, 10000 - 7200, out, sizeof out);
    assert_string_equal(out, "2 h ago");
    text_ago(200000, 200000 - 86400, out, sizeof out);
    assert_string_equal(out, "1 day ago");
    text_ago(400000, 400000 - 3 * 86400, out, sizeof out);
    assert_string_equal(out, "3 days ago");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_ago),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
