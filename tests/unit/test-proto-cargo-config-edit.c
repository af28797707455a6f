/* tests/unit/test-proto-cargo-config-edit.c — setup's block in a Cargo config:
 * every form a file can have (none, empty, table, dotted, inline, legacy
 * leftovers, CRLF, no final line break, byte-order mark), what is refused and
 * why, and for every file that is edited: the exact bytes written, that the
 * edit resolves crates-io to the URL, that a second add changes nothing, and
 * that remove gives back the original bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/alloc.h"
#include "proto/cargo_config_edit.h"

#define URL "sparse+http://127.0.0.1:7878/index/"
#define URL2 "sparse+http://127.0.0.1:9000/index/"

#define SNIP(eol, url)                                                                             \
    "[source.crates-io]" eol "replace-with = \"cratecast\"" eol eol "[source.cratecast]" eol        \
    "registry = \"" url "\"" eol
#define BLOCK(begin, eol, url)                                                                     \
    begin eol SNIP(eol, url) PROTO_CARGO_CONFIG_EDIT_END eol
#define B(url) BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN, "\n", url)

static const struct add_case {
    const char *name;
    const char *in; /* NULL: no file */
    int rc;
    const char *out;    /* rc 0: the file written */
    const char *reason; /* rc < 0: a part of the reason */
    unsigned line;
} add_cases[] = {
    {"no file", NULL, 0, BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN_CREATED, "\n", URL), NULL, 0},
    {"empty file", "", 0, B(URL), NULL, 0},
    {"a blank line", "\n", 0, "\n\n" B(URL), NULL, 0},
    {"other tables", "[net]\nretry = 3\n", 0, "[net]\nretry = 3\n\n" B(URL), NULL, 0},
    {"comments and unknown tables kept byte for byte",
     "# mine\n[build]   # x\njobs=8\n\n\n[frobnicate.'x y']\nz = [ 1,\n  2, # two\n]\n", 0,
     "# mine\n[build]   # x\njobs=8\n\n\n[frobnicate.'x y']\nz = [ 1,\n  2, # two\n]\n\n" B(URL),
     NULL, 0},
    {"no final line break", "[net]\nretry = 3", 0,
     "[net]\nretry = 3\n\n" BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN_NL, "\n", URL), NULL, 0},
    {"a final comment without line break", "[net]\n# end", 0,
     "[net]\n# end\n\n" BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN_NL, "\n", URL), NULL, 0},
    {"CRLF", "[net]\r\nretry = 3\r\n", 0,
     "[net]\r\nretry = 3\r\n\r\n" BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN, "\r\n", URL), NULL, 0},
    {"CRLF, no final line break", "[net]\r\nretry = 3", 0,
     "[net]\r\nretry = 3\r\n\r\n" BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN_NL, "\r\n", URL), NULL, 0},
    {"byte-order mark", "\xef\xbb\xbf[net]\nretry = 3\n", 0,
     "\xef\xbb\xbf[net]\nretry = 3\n\n" B(URL), NULL, 0},
    {"other sources, table form",
     "[source.mirror]\nregistry = \"sparse+http://m/\"\n", 0,
     "[source.mirror]\nregistry = \"sparse+http://m/\"\n\n" B(URL), NULL, 0},
    {"other sources, dotted at the top",
     "source.mirror.registry = \"sparse+http://m/\"\n", 0,
     "source.mirror.registry = \"sparse+http://m/\"\n\n" B(URL), NULL, 0},
    {"other sources, [source] with an inline table",
     "[source]\nmirror = { registry = \"sparse+http://m/\" }\n", 0,
     "[source]\nmirror = { registry = \"sparse+http://m/\" }\n\n" B(URL), NULL, 0},
    {"ends inside another table", "[registries.crates-io]\nprotocol = \"sparse\"\n", 0,
     "[registries.crates-io]\nprotocol = \"sparse\"\n\n" B(URL), NULL, 0},
    /* setup's own block */
    {"own block: no-op", "[net]\nretry = 3\n\n" B(URL), -EALREADY, NULL, "already", 0},
    {"own block, created: no-op", BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN_CREATED, "\n", URL),
     -EALREADY, NULL, "already", 0},
    {"own block with another URL: moved", "[net]\nretry = 3\n\n" B(URL2), 0,
     "[net]\nretry = 3\n\n" B(URL), NULL, 0},
    {"own block, then more of the user's", "[net]\n\n" B(URL2) "[http]\ntimeout = 3\n", 0,
     "[net]\n[http]\ntimeout = 3\n\n" B(URL), NULL, 0},
    {"own block, created, with another URL",
     BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN_CREATED, "\n", URL2), 0,
     BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN_CREATED, "\n", URL), NULL, 0},
    {"own block, end marker lost", "[net]\n\n" PROTO_CARGO_CONFIG_EDIT_BEGIN "\n" SNIP("\n", URL2),
     -EBADMSG, NULL, "end marker", 3},
    {"own block, begin marker edited", "# added by cratecast setup!\n", -EBADMSG, NULL, "edited",
     1},
    {"two blocks", B(URL2) "\n" B(URL2), -EBADMSG, NULL, "second", 9},
    /* already there by hand */
    {"by hand, same URL", SNIP("\n", URL), -EALREADY, NULL, "undo will leave it", 0},
    {"by hand, dotted, same URL",
     "source.crates-io.replace-with = \"cratecast\"\nsource.cratecast.registry = \"" URL "\"\n",
     -EALREADY, NULL, "not with a block", 0},
    /* refused */
    {"foreign replacement, table", "[source.crates-io]\nreplace-with = \"mirror\"\n", -EEXIST,
     NULL, "replaced by source \"mirror\" (line 2)", 2},
    {"foreign replacement, dotted", "source.crates-io.replace-with = \"mirror\"\n", -EEXIST, NULL,
     "replaced by source \"mirror\"", 1},
    {"foreign replacement, dotted in [source]",
     "[source]\ncrates-io.replace-with = \"mirror\"\nmirror.registry = \"sparse+http://m/\"\n",
     -EEXIST, NULL, "\"mirror\"", 2},
    {"foreign replacement, quoted", "[source.\"crates-io\"]\n'replace-with' = 'm'\n", -EEXIST,
     NULL, "\"m\"", 2},
    {"cratecast, by hand, another URL", SNIP("\n", URL2), -EEXIST, NULL,
     "replaced by source \"cratecast\"", 2},
    {"crates-io configured otherwise", "[source.crates-io]\n", -EEXIST, NULL, "source crates-io",
     1},
    {"a source named cratecast", "[source.cratecast]\nregistry = \"sparse+http://x/\"\n", -EEXIST,
     NULL, "named \"cratecast\"", 1},
    {"inline table", "source = { crates-io = { replace-with = \"m\" } }\n", -EEXIST, NULL,
     "\"m\"", 1},
    {"inline table without crates-io", "source = { m = { registry = \"sparse+http://m/\" } }\n",
     -ENOTSUP, NULL, "inline table", 1},
    {"inline table, quoted key", "\"source\" = { m = { registry = \"x\" } }\n", -ENOTSUP, NULL,
     "inline table", 1},
    {"source as an array of tables", "[[source]]\nx = 1\n", -ENOTSUP, NULL, "array of tables",
     1},
    {"not TOML", "[net\n", -EBADMSG, NULL, "not valid TOML (line 1)", 1},
    {"not TOML, later line", "[net]\nretry = \n", -EBADMSG, NULL, "line 2", 2},
};

static void check_add(const struct add_case *c)
{
    struct proto_cargo_config_edit e;
    size_t len = c->in ? strlen(c->in) : 0;
    int rc = proto_cargo_config_edit_add((const uint8_t *)c->in, len, c->in != NULL, URL, &e);
    if (rc != c->rc)
        fail_msg("%s: rc %d, expected %d (%s)", c->name, rc, c->rc, e.reason);
    if (rc != 0) {
        assert_null(e.text);
        if (strstr(e.reason, c->reason) == NULL)
            fail_msg("%s: reason '%s' lacks '%s'", c->name, e.reason, c->reason);
        if (e.line != c->line)
            fail_msg("%s: line %u, expected %u", c->name, e.line, c->line);
        return;
    }
    assert_non_null(e.text);
    if (e.len != strlen(c->out) || memcmp(e.text, c->out, e.len) != 0)
        fail_msg("%s: wrote\n%s\nexpected\n%s", c->name, (const char *)e.text, c->out);

    /* Cargo's reading of it */
    char url[256];
    assert_int_equal(proto_cargo_config_crates_io_replacement(e.text, e.len, url, sizeof url, NULL),
                     0);
    assert_string_equal(url, URL);

    /* again: nothing to do */
    struct proto_cargo_config_edit again;
    assert_int_equal(proto_cargo_config_edit_add(e.text, e.len, true, URL, &again), -EALREADY);
    assert_null(again.text);

    /* remove: the original, unless the block was moved */
    struct proto_cargo_config_edit back;
    assert_int_equal(proto_cargo_config_edit_remove(e.text, e.len, &back), 0);
    struct proto_cargo_config_edit orig_removed;
    const char *want = c->in ? c->in : "";
    size_t wl = strlen(want);
    bool moved = c->in && proto_cargo_config_edit_remove((const uint8_t *)c->in, len,
                                                         &orig_removed) == 0;
    if (moved) {
        want = (const char *)orig_removed.text;
        wl = orig_removed.len;
    }
    if (back.len != wl || memcmp(back.text, want, wl) != 0)
        fail_msg("%s: remove gave\n%s\nexpected\n%s", c->name, (const char *)back.text, want);
    assert_int_equal(back.remove_file, c->in == NULL || (moved && orig_removed.remove_file));
    if (moved)
        proto_cargo_config_edit_free(&orig_removed);
    proto_cargo_config_edit_free(&back);
    proto_cargo_config_edit_free(&e);
}

static void test_add(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof add_cases / sizeof add_cases[0]; i++)
        check_add(&add_cases[i]);
}

static const struct remove_case {
    const char *name;
    const char *in;
    int rc;
    const char *out;
    bool remove_file;
} remove_cases[] = {
    {"nothing of ours", "[net]\nretry = 3\n", -ENOENT, NULL, false},
    {"what cargo-config --write used to append (no markers)", "[net]\n\n" SNIP("\n", URL), -ENOENT,
     NULL, false},
    {"created, only ours", BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN_CREATED, "\n", URL), 0, "", true},
    {"created, the user added more",
     BLOCK(PROTO_CARGO_CONFIG_EDIT_BEGIN_CREATED, "\n", URL) "[net]\nretry = 1\n", 0,
     "[net]\nretry = 1\n", false},
    {"the user's blank line removed", "[net]\n" B(URL), 0, "[net]\n", false},
    {"the user edited inside the block", "[net]\n\n" PROTO_CARGO_CONFIG_EDIT_BEGIN
                                         "\n[source.crates-io]\nreplace-with = \"x\"\n"
                                         "protocol = 1\n" PROTO_CARGO_CONFIG_EDIT_END "\n",
     0, "[net]\n", false},
    {"end marker without line break", "a = 1\n\n" PROTO_CARGO_CONFIG_EDIT_BEGIN
                                      "\n" PROTO_CARGO_CONFIG_EDIT_END,
     0, "a = 1\n", false},
    {"an end marker alone", PROTO_CARGO_CONFIG_EDIT_END "\n", -ENOENT, NULL, false},
    {"begin without end", PROTO_CARGO_CONFIG_EDIT_BEGIN "\n", -EBADMSG, NULL, false},
};

static void test_remove(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof remove_cases / sizeof remove_cases[0]; i++) {
        const struct remove_case *c = &remove_cases[i];
        struct proto_cargo_config_edit e;
        int rc = proto_cargo_config_edit_remove((const uint8_t *)c->in, strlen(c->in), &e);
        if (rc != c->rc)
            fail_msg("%s: rc %d, expected %d (%s)", c->name, rc, c->rc, e.reason);
        if (rc != 0) {
            assert_null(e.text);
            assert_true(e.reason[0] != '\0');
            continue;
        }
        if (e.len != strlen(c->out) || memcmp(e.text, c->out, e.len) != 0)
            fail_msg("%s: gave\n%s\nexpected\n%s", c->name, (const char *)e.text, c->out);
        assert_int_equal(e.remove_file, c->remove_file);
        proto_cargo_config_edit_free(&e);
    }
}

static void test_snippet(void **state)
{
    (void)state;
    char buf[2048];
    assert_int_equal(proto_cargo_config_edit_snippet(URL, buf, sizeof buf),
                     (int)strlen(SNIP("\n", URL)));
    assert_string_equal(buf, SNIP("\n", URL));
    assert_int_equal(proto_cargo_config_edit_snippet("", buf, sizeof buf), -EINVAL);
    assert_int_equal(proto_cargo_config_edit_snippet("http://a\"b/", buf, sizeof buf), -EINVAL);
    assert_int_equal(proto_cargo_config_edit_snippet("http://a\\b/", buf, sizeof buf), -EINVAL);
    assert_int_equal(proto_cargo_config_edit_snippet("http://a\nb/", buf, sizeof buf), -EINVAL);
    struct proto_cargo_config_edit e;
    assert_int_equal(proto_cargo_config_edit_add(NULL, 0, false, "x\"y", &e), -EINVAL);
    assert_null(e.text);
}

static void test_limits(void **state)
{
    (void)state;
    size_t n = PROTO_CARGO_CONFIG_MAX + 1;
    uint8_t *big = cc_malloc(n);
    assert_non_null(big);
    memset(big, '\n', n);
    struct proto_cargo_config_edit e;
    assert_int_equal(proto_cargo_config_edit_add(big, n, true, URL, &e), -EMSGSIZE);
    assert_int_equal(proto_cargo_config_edit_remove(big, n, &e), -EMSGSIZE);
    free(big);
}

/* Every allocation failing in turn: -ENOMEM and nothing returned, or success. */
static void test_alloc_failure(void **state)
{
    (void)state;
    const char *in = "[net]\nretry = 3\n\n" B(URL2);
    for (long k = 1; k < 200; k++) {
        struct proto_cargo_config_edit e;
        cc_alloc_fail_nth(k);
        int rc = proto_cargo_config_edit_add((const uint8_t *)in, strlen(in), true, URL, &e);
        cc_alloc_fail_nth(0);
        if (rc == 0) {
            proto_cargo_config_edit_free(&e);
            continue;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_null(e.text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add),   cmocka_unit_test(test_remove),
        cmocka_unit_test(test_snippet), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
