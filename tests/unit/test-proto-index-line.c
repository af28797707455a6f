/* tests/unit/test-proto-index-line.c — index-line parsing, the content hash
 * (equal across yank state and key order, different for any other change),
 * dependency names, and line iteration. */
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

#include "proto/index_line.h"

#define CK "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define CKU "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"

/* A realistic crates.io line. */
static const char serde_line[] =
    "{\"name\":\"serde\",\"vers\":\"1.0.200\",\"deps\":["
    "{\"name\":\"serde_derive\",\"req\":\"=1.0.200\",\"features\":[],\"optional\":true,"
    "\"default_features\":true,\"target\":null,\"kind\":\"normal\"},"
    "{\"name\":\"serde_derive\",\"req\":\"^1\",\"features\":[],\"optional\":false,"
    "\"default_features\":true,\"target\":\"cfg(any())\",\"kind\":\"normal\"},"
    "{\"name\":\"derive\",\"req\":\"^1\",\"features\":[],\"optional\":false,"
    "\"default_features\":true,\"target\":null,\"kind\":\"dev\",\"package\":\"serde_derive\"},"
    "{\"name\":\"ser\",\"req\":\"^1\",\"features\":[],\"optional\":false,"
    "\"default_features\":true,\"target\":null,\"kind\":\"dev\",\"package\":null}],"
    "\"cksum\":\"" CK "\",\"features\":{\"std\":[],\"derive\":[\"serde_derive\"]},"
    "\"yanked\":false,\"links\":null,\"v\":2,\"features2\":{\"x\":[]},\"rust_version\":\"1.31\"}";

static void test_parse_full(void **state)
{
    (void)state;
    struct proto_index_entry e;
    size_t len = strlen(serde_line);
    assert_int_equal(proto_index_line_parse((const uint8_t *)serde_line, len, &e), 0);
    assert_string_equal(e.name, "serde");
    assert_string_equal(e.vers, "1.0.200");
    assert_false(e.yanked);
    uint8_t ck[PROTO_SHA256_LEN];
    assert_int_equal(proto_hex_decode(CK, 64, ck, sizeof ck), 0);
    assert_memory_equal(e.cksum, ck, sizeof ck);
    assert_ptr_equal(e.line, (const uint8_t *)serde_line);
    assert_int_equal(e.line_len, len);
    /* "package" wins over "name"; duplicates collapse; first-seen order */
    assert_int_equal(e.ndeps, 2);
    assert_string_equal(e.deps[0], "serde_derive");
    assert_string_equal(e.deps[1], "ser");
    proto_index_entry_clear(&e);
    assert_null(e.deps);
    assert_int_equal(e.ndeps, 0);
    proto_index_entry_clear(&e);
    proto_index_entry_clear(NULL);
}

static const struct {
    const char *line;
    int rc;
    const char *name, *vers;
    bool yanked;
    size_t ndeps;
} cases[] = {
    {"{\"name\":\"a\",\"vers\":\"0.1.0\",\"deps\":[],\"cksum\":\"" CK "\",\"yanked\":true}", 0,
     "a", "0.1.0", true, 0},
    {"{\"name\":\"Abc\",\"vers\":\"1.0.0\",\"cksum\":\"" CKU "\"}", 0, "Abc", "1.0.0", false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\",\"yanked\":null,\"deps\":null}", 0,
     "a", "1", false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\"}\n", 0, "a", "1", false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\"}\r\n", 0, "a", "1", false, 0},
    {"  {\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\"}  ", 0, "a", "1", false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK
     "\",\"deps\":[{\"name\":\"b\"},{\"name\":\"c\"},{\"name\":\"b\"}]}",
     0, "a", "1", false, 2},
    /* malformed */
    {"", -EBADMSG, NULL, NULL, false, 0},
    {"\n", -EBADMSG, NULL, NULL, false, 0},
    {"{", -EBADMSG, NULL, NULL, false, 0},
    {"[]", -EBADMSG, NULL, NULL, false, 0},
    {"\"x\"", -EBADMSG, NULL, NULL, false, 0},
    {"{\"vers\":\"1\",\"cksum\":\"" CK "\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a\",\"cksum\":\"" CK "\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":1,\"vers\":\"1\",\"cksum\":\"" CK "\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a b\",\"vers\":\"1\",\"cksum\":\"" CK "\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"../x\",\"vers\":\"1\",\"cksum\":\"" CK "\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a\\u0000\",\"vers\":\"1\",\"cksum\":\"" CK "\"}", -EBADMSG, NULL, NULL, false,
     0},
    {"{\"name\":\"a\",\"vers\":\"v1\",\"cksum\":\"" CK "\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a\",\"vers\":1,\"cksum\":\"" CK "\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"abc\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "0\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"x" CK "\"}", -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\",\"yanked\":\"no\"}", -EBADMSG, NULL,
     NULL, false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\",\"yanked\":0}", -EBADMSG, NULL, NULL,
     false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\",\"deps\":{}}", -EBADMSG, NULL, NULL,
     false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\",\"deps\":[1]}", -EBADMSG, NULL, NULL,
     false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\",\"deps\":[{\"req\":\"1\"}]}", -EBADMSG,
     NULL, NULL, false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\",\"deps\":[{\"name\":\"b c\"}]}",
     -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK
     "\",\"deps\":[{\"name\":\"b\",\"package\":7}]}",
     -EBADMSG, NULL, NULL, false, 0},
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK
     "\",\"deps\":[{\"name\":\"b\",\"package\":\"../../x\"}]}",
     -EBADMSG, NULL, NULL, false, 0},
    /* duplicate keys: a line must not say two things */
    {"{\"name\":\"a\",\"vers\":\"1\",\"vers\":\"2\",\"cksum\":\"" CK "\"}", -EBADMSG, NULL, NULL,
     false, 0},
    /* two objects on one line */
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\"}{}", -EBADMSG, NULL, NULL, false, 0},
    /* invalid UTF-8 */
    {"{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK "\",\"x\":\"\xc3\"}", -EBADMSG, NULL, NULL,
     false, 0},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct proto_index_entry e;
        memset(&e, 0x5a, sizeof e);
        const char *l = cases[i].line;
        int rc = proto_index_line_parse((const uint8_t *)l, strlen(l), &e);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d", i, l, rc, cases[i].rc);
        if (rc == 0) {
            assert_string_equal(e.name, cases[i].name);
            assert_string_equal(e.vers, cases[i].vers);
            assert_int_equal(e.yanked, cases[i].yanked);
            assert_int_equal(e.ndeps, cases[i].ndeps);
            /* the stored line never includes the newline */
            assert_true(e.line_len > 0);
            assert_true(e.line[e.line_len - 1] != '\n' && e.line[e.line_len - 1] != '\r');
        } else {
            assert_null(e.deps); /* cleared: nothing to free */
            assert_int_equal(e.ndeps, 0);
            assert_null(e.line);
        }
        proto_index_entry_clear(&e);
    }
}

static void hash_of(const char *line, uint8_t out[PROTO_SHA256_LEN])
{
    struct proto_index_entry e;
    assert_int_equal(proto_index_line_parse((const uint8_t *)line, strlen(line), &e), 0);
    memcpy(out, e.content_hash, PROTO_SHA256_LEN);
    proto_index_entry_clear(&e);
}

static void test_content_hash(void **state)
{
    (void)state;
    const char *base = "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"" CK
                       "\",\"features\":{},\"yanked\":false}";
    /* same content: yank flag, key order, whitespace and escapes don't matter */
    const char *same[] = {
        "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"" CK
        "\",\"features\":{},\"yanked\":true}",
        "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"" CK "\",\"features\":{}}",
        "{\"yanked\":true,\"features\":{},\"cksum\":\"" CK
        "\",\"deps\":[],\"vers\":\"1.0.0\",\"name\":\"a\"}",
        "{ \"name\" : \"\\u0061\", \"vers\":\"1.0.0\",\"deps\":[ ],\"cksum\":\"" CK
        "\",\"features\":{},\"yanked\":false}\n",
    };
    /* different content: anything else changes the hash */
    const char *diff[] = {
        "{\"name\":\"a\",\"vers\":\"1.0.1\",\"deps\":[],\"cksum\":\"" CK
        "\",\"features\":{},\"yanked\":false}",
        "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"" CKU
        "\",\"features\":{},\"yanked\":false}",
        "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[{\"name\":\"b\"}],\"cksum\":\"" CK
        "\",\"features\":{},\"yanked\":false}",
        "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"" CK
        "\",\"features\":{\"x\":[]},\"yanked\":false}",
        "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"" CK "\",\"yanked\":false}",
        "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"" CK
        "\",\"features\":{},\"yanked\":false,\"links\":\"z\"}",
    };
    uint8_t h0[PROTO_SHA256_LEN], h[PROTO_SHA256_LEN];
    hash_of(base, h0);
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        hash_of(same[i], h);
        if (memcmp(h, h0, sizeof h) != 0)
            fail_msg("same[%zu] hashes differently", i);
    }
    for (size_t i = 0; i < sizeof diff / sizeof diff[0]; i++) {
        hash_of(diff[i], h);
        if (memcmp(h, h0, sizeof h) == 0)
            fail_msg("diff[%zu] hashes the same", i);
    }

    /* the documented canonical form, computed by hand */
    const char *canon = "{\"cksum\":\"" CK "\",\"deps\":[],\"features\":{},\"name\":\"a\","
                        "\"vers\":\"1.0.0\"}";
    proto_sha256(canon, strlen(canon), h);
    assert_memory_equal(h, h0, sizeof h);
}

static void test_limits(void **state)
{
    (void)state;
    struct proto_index_entry e;
    /* over PROTO_LINE_MAX */
    size_t big = PROTO_LINE_MAX + 3;
    uint8_t *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, ' ', big);
    assert_int_equal(proto_index_line_parse(buf, big, &e), -EMSGSIZE);
    assert_int_equal(proto_index_line_parse(buf, PROTO_LINE_MAX + 1, &e), -EMSGSIZE);
    assert_int_equal(proto_index_line_parse(buf, PROTO_LINE_MAX, &e), -EBADMSG);
    assert_int_equal(proto_index_line_parse(NULL, 0, &e), -EBADMSG);
    free(buf);

    /* PROTO_DEPS_MAX deps are accepted, one more is -EMSGSIZE */
    for (size_t ndeps = PROTO_DEPS_MAX; ndeps <= PROTO_DEPS_MAX + 1; ndeps++) {
        size_t cap = 256 + ndeps * 32, n = 0;
        char *l = malloc(cap);
        assert_non_null(l);
        n += (size_t)snprintf(l + n, cap - n, "{\"name\":\"a\",\"vers\":\"1\",\"cksum\":\"" CK
                                              "\",\"deps\":[");
        for (size_t i = 0; i < ndeps; i++)
            n += (size_t)snprintf(l + n, cap - n, "%s{\"name\":\"d%zu\"}", i ? "," : "", i);
        n += (size_t)snprintf(l + n, cap - n, "]}");
        assert_true(n < cap);
        int rc = proto_index_line_parse((const uint8_t *)l, n, &e);
        if (ndeps <= PROTO_DEPS_MAX) {
            assert_int_equal(rc, 0);
            assert_int_equal(e.ndeps, ndeps);
            assert_string_equal(e.deps[ndeps - 1], "d4095");
        } else {
            assert_int_equal(rc, -EMSGSIZE);
            assert_null(e.deps);
        }
        proto_index_entry_clear(&e);
        free(l);
    }
}

static void test_next_line(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        size_t n;
        const char *lines[5];
    } files[] = {
        {"", 0, {NULL}},
        {"a", 1, {"a"}},
        {"a\n", 1, {"a"}},
        {"a\nb", 2, {"a", "b"}},
        {"a\r\nb\r\n", 2, {"a", "b"}},
        {"a\n\nb\n", 3, {"a", "", "b"}},
        {"\n", 1, {""}},
        {"\r\n\r\n", 2, {"", ""}},
        {"a\rb\n", 1, {"a\rb"}},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const uint8_t *buf = (const uint8_t *)files[i].file;
        size_t len = strlen(files[i].file), pos = 0, k = 0;
        const uint8_t *line;
        size_t ll;
        while (proto_index_next_line(buf, len, &pos, &line, &ll) == 1) {
            assert_true(k < files[i].n);
            assert_int_equal(ll, strlen(files[i].lines[k]));
            assert_memory_equal(line, files[i].lines[k], ll);
            assert_true(pos <= len);
            k++;
        }
        assert_int_equal(k, files[i].n);
        assert_int_equal(pos, len);
        /* at the end it stays at the end */
        assert_int_equal(proto_index_next_line(buf, len, &pos, &line, &ll), 0);
    }
    size_t pos = 10;
    const uint8_t *line;
    size_t ll;
    assert_int_equal(proto_index_next_line((const uint8_t *)"abc", 3, &pos, &line, &ll), 0);
    pos = 0;
    assert_int_equal(proto_index_next_line(NULL, 0, &pos, &line, &ll), 0);
}

static void test_file_of_lines(void **state)
{
    (void)state;
    const char *file =
        "{\"name\":\"a\",\"vers\":\"0.1.0\",\"cksum\":\"" CK "\"}\n"
        "{\"name\":\"a\",\"vers\":\"0.2.0\",\"cksum\":\"" CK "\",\"yanked\":true}\n";
    size_t pos = 0, ll, k = 0;
    const uint8_t *line;
    while (proto_index_next_line((const uint8_t *)file, strlen(file), &pos, &line, &ll) == 1) {
        struct proto_index_entry e;
        assert_int_equal(proto_index_line_parse(line, ll, &e), 0);
        assert_string_equal(e.vers, k == 0 ? "0.1.0" : "0.2.0");
        assert_int_equal(e.yanked, k == 1);
        assert_ptr_equal(e.line, line);
        assert_int_equal(e.line_len, ll);
        proto_index_entry_clear(&e);
        k++;
    }
    assert_int_equal(k, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full),    cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_content_hash),  cmocka_unit_test(test_limits),
        cmocka_unit_test(test_next_line),     cmocka_unit_test(test_file_of_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
