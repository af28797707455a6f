/* tests/unit/test-proto-options.c — the --config file tokenizer: settings,
 * strings, booleans, arrays (one line and multi-line), comments, errors with
 * their line numbers, limits, and callback stop. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/options.h"

/* The callback renders each value as "key=value[b]@line;" into a string. */
struct collect {
    char out[8192];
    size_t len;
    int stop_after; /* return 42 after this many values; 0 = never */
    int count;
};

static int collect_cb(void *ud, const char *key, const char *value, int is_bool, unsigned line)
{
    struct collect *c = ud;
    int n = snprintf(c->out + c->len, sizeof c->out - c->len, "%s=%s%s@%u;", key, value,
                     is_bool ? "[b]" : "", line);
    assert_true(n > 0 && (size_t)n < sizeof c->out - c->len);
    c->len += (size_t)n;
    c->count++;
    return c->stop_after && c->count >= c->stop_after ? 42 : 0;
}

static const struct {
    const char *in;
    int rc;
    unsigned err_line;
    const char *out;
} cases[] = {
    {"", 0, 0, ""},
    {"\n\n   \n", 0, 0, ""},
    {"# only a comment\n", 0, 0, ""},
    {"listen = \"127.0.0.1:7878\"\n", 0, 0, "listen=127.0.0.1:7878@1;"},
    {"listen=\"127.0.0.1:7878\"", 0, 0, "listen=127.0.0.1:7878@1;"}, /* no final newline */
    {"upstream = https://index.crates.io/\n", 0, 0, "upstream=https://index.crates.io/@1;"},
    {"import = false\nno-mdns = true\n", 0, 0, "import=false[b]@1;no-mdns=true[b]@2;"},
    {"import = \"false\"\n", 0, 0, "import=false@1;"}, /* quoted: a string */
    {"x = True\n", 0, 0, "x=True@1;"},
    {"\t key_1-a \t=\t v \t# trailing comment\n", 0, 0, "key_1-a=v@1;"},
    {"s = \"a \\\"q\\\" \\\\ b # not a comment\"\n", 0, 0, "s=a \"q\" \\ b # not a comment@1;"},
    {"s = \"\"\n", 0, 0, "s=@1;"},
    {"s = \"tab\there\"\n", 0, 0, "s=tab\there@1;"},
    {"store = /var/cache/caf\xc3\xa9\n", 0, 0, "store=/var/cache/caf\xc3\xa9@1;"},
    {"a = 1\r\nb = 2\r\n", 0, 0, "a=1@1;b=2@2;"},
    {"\xef\xbb\xbf" "a = 1\n", 0, 0, "a=1@1;"},
    {"# c\n\npeer = [\"10.0.0.2:7879\", \"10.0.0.3:7879\"]\n", 0, 0,
     "peer=10.0.0.2:7879@3;peer=10.0.0.3:7879@3;"},
    {"peer = []\n", 0, 0, ""},
    {"peer = [ a , \"b\" , ]\n", 0, 0, "peer=a@1;peer=b@1;"},
    {"peer = [\n  \"a\",  # first\n  \"b\"\n  # done\n]\nx = 1\n", 0, 0,
     "peer=a@1;peer=b@1;x=1@6;"},
    {"k = [true]\n", 0, 0, "k=true[b]@1;"},
    {"a = 1\na = 2\n", 0, 0, "a=1@1;a=2@2;"}, /* repeats are the agent's business */
    {"max-size = 20G\nmax-size = 1.5T\n", 0, 0, "max-size=20G@1;max-size=1.5T@2;"},

    /* errors, with the line they are found on */
    {"listen\n", -EBADMSG, 1, NULL},
    {"listen =\n", -EBADMSG, 1, NULL},
    {"listen = \n", -EBADMSG, 1, NULL},
    {"= x\n", -EBADMSG, 1, NULL},
    {"a = 1\nb c = 2\n", -EBADMSG, 2, NULL},
    {"a = 1 2\n", -EBADMSG, 1, NULL},
    {"a = \"x\" y\n", -EBADMSG, 1, NULL},
    {"a = \"unterminated\n", -EBADMSG, 1, NULL},
    {"a = \"unterminated", -EBADMSG, 1, NULL},
    {"a = \"bad \\n escape\"\n", -EBADMSG, 1, NULL},
    {"a = \"trailing backslash\\", -EBADMSG, 1, NULL},
    {"a = 'single'\n", -EBADMSG, 1, NULL},
    {"[section]\n", -EBADMSG, 1, NULL},
    {"a.b = 1\n", -EBADMSG, 1, NULL},
    {"\"a\" = 1\n", -EBADMSG, 1, NULL},
    {"a = [\"x\"\n", -EBADMSG, 2, NULL},
    {"a = [\"x\" \"y\"]\n", -EBADMSG, 1, NULL},
    {"a = [,]\n", -EBADMSG, 1, NULL},
    {"a = [\"x\",,]\n", -EBADMSG, 1, NULL},
    {"a = [[\"x\"]]\n", -EBADMSG, 1, NULL},
    {"a = [\"x\"] y\n", -EBADMSG, 1, NULL},
    {"a = x=y\n", -EBADMSG, 1, NULL},
    {"a = b,c\n", -EBADMSG, 1, NULL},
    {"ok = 1\n\n\nbad\n", -EBADMSG, 4, NULL},
    {"a = \"x\x01y\"\n", -EBADMSG, 1, NULL},
    {"a = x\x7f\n", -EBADMSG, 1, NULL},
    {"a = 1\r2\n", -EBADMSG, 1, NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct collect c = {.len = 0};
        unsigned err_line = 12345;
        const char *in = cases[i].in;
        int rc = proto_options_parse((const uint8_t *)in, strlen(in), collect_cb, &c, &err_line);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d", i, in, rc, cases[i].rc);
        if (rc == 0) {
            assert_string_equal(c.out, cases[i].out);
        } else {
            if (err_line != cases[i].err_line)
                fail_msg("case %zu (%s): line %u, want %u", i, in, err_line, cases[i].err_line);
            /* nothing is delivered from a file with a syntax error */
            assert_int_equal(c.count, 0);
        }
    }
}

static void test_nul_bytes(void **state)
{
    (void)state;
    static const char a[] = "a = x\0y\n";
    static const char b[] = "a = \"x\0y\"\n";
    static const char c[] = "# x\0y\na = 1\n";
    static const char d[] = "a = 1\n\0";
    const char *ins[] = {a, b, c, d};
    const size_t lens[] = {sizeof a - 1, sizeof b - 1, sizeof c - 1, sizeof d - 1};
    const unsigned lines[] = {1, 1, 1, 2};
    for (size_t i = 0; i < 4; i++) {
        struct collect col = {.len = 0};
        unsigned line = 0;
        assert_int_equal(proto_options_parse((const uint8_t *)ins[i], lens[i], collect_cb, &col,
                                             &line),
                         -EBADMSG);
        assert_int_equal(line, lines[i]);
        assert_int_equal(col.count, 0);
    }
}

static void test_limits(void **state)
{
    (void)state;
    size_t cap = PROTO_OPTIONS_MAX + 16;
    char *buf = malloc(cap);
    assert_non_null(buf);
    struct collect c = {.len = 0};
    unsigned line;

    /* key of PROTO_OPTION_KEY_MAX is fine, one more is not */
    for (size_t k = PROTO_OPTION_KEY_MAX; k <= PROTO_OPTION_KEY_MAX + 1; k++) {
        memset(buf, 'k', k);
        memcpy(buf + k, "=v\n", 3);
        int rc = proto_options_parse((const uint8_t *)buf, k + 3, NULL, NULL, &line);
        assert_int_equal(rc, k <= PROTO_OPTION_KEY_MAX ? 0 : -EBADMSG);
    }
    /* values: quoted and bare, at and over PROTO_OPTION_VALUE_MAX */
    for (int quoted = 0; quoted <= 1; quoted++) {
        for (size_t v = PROTO_OPTION_VALUE_MAX; v <= PROTO_OPTION_VALUE_MAX + 1; v++) {
            size_t n = 0;
            memcpy(buf, "k = ", 4);
            n = 4;
            if (quoted)
                buf[n++] = '"';
            memset(buf + n, 'v', v);
            n += v;
            if (quoted)
                buf[n++] = '"';
            buf[n++] = '\n';
            int rc = proto_options_parse((const uint8_t *)buf, n, NULL, NULL, &line);
            assert_int_equal(rc, v <= PROTO_OPTION_VALUE_MAX ? 0 : -EBADMSG);
        }
    }
    /* whole-file cap, checked before reading */
    memset(buf, '\n', cap);
    assert_int_equal(proto_options_parse((const uint8_t *)buf, PROTO_OPTIONS_MAX, collect_cb, &c,
                                         &line),
                     0);
    assert_int_equal(proto_options_parse((const uint8_t *)buf, PROTO_OPTIONS_MAX + 1, collect_cb,
                                         &c, &line),
                     -EMSGSIZE);
    assert_int_equal(c.count, 0);
    /* line numbers keep counting over a big file */
    memcpy(buf + PROTO_OPTIONS_MAX - 4, "x=\n\n", 4);
    assert_int_equal(proto_options_parse((const uint8_t *)buf, PROTO_OPTIONS_MAX, collect_cb, &c,
                                         &line),
                     -EBADMSG);
    assert_int_equal(line, PROTO_OPTIONS_MAX - 3);
    free(buf);

    /* no input, no callback, no err_line pointer */
    assert_int_equal(proto_options_parse(NULL, 0, collect_cb, &c, NULL), 0);
    assert_int_equal(proto_options_parse((const uint8_t *)"a=1", 3, NULL, NULL, NULL), 0);
    assert_int_equal(proto_options_parse((const uint8_t *)"a", 1, NULL, NULL, NULL), -EBADMSG);
}

static void test_callback_stop(void **state)
{
    (void)state;
    const char *in = "a = 1\nb = [x, y, z]\nc = 3\n";
    struct collect c = {.stop_after = 3};
    unsigned line = 7;
    assert_int_equal(proto_options_parse((const uint8_t *)in, strlen(in), collect_cb, &c, &line),
                     42);
    assert_string_equal(c.out, "a=1@1;b=x@2;b=y@2;");
    assert_int_equal(line, 0); /* not a syntax error */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_callback_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
