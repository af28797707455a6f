/* tests/unit/test-proto-toml.c — the TOML event parser: keys (bare, quoted,
 * dotted), headers and arrays of tables with their element counter, every
 * string form and escape, integers, booleans, arrays, inline tables, what is
 * rejected on purpose, every error with its line, NUL bytes, the limits, and
 * callback stop. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/toml.h"

/* Each event is rendered into out:
 *   header   "[a.b]@line;" or "[[a.b]]#element@line;"
 *   value    "tbl.segs/key.segs=T:value@line;" with T s, i or b, and
 *            "T[index]" for an array element. */
struct collect {
    char out[16384];
    size_t len;
    int stop_after; /* return 42 after this many events; 0 = never */
    int count;
};

static void add(struct collect *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->out + c->len, sizeof c->out - c->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof c->out - c->len);
    c->len += (size_t)n;
}

static void add_segs(struct collect *c, const char *const *segs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        add(c, "%s%s", i ? "." : "", segs[i]);
}

static int collect_cb(void *ud, const struct proto_toml_event *ev)
{
    struct collect *c = ud;
    assert_int_equal(strlen(ev->value), ev->value_len);
    assert_true(ev->table_len + ev->key_len <= PROTO_TOML_DEPTH_MAX);
    if (ev->type == PROTO_TOML_TABLE) {
        assert_int_equal(ev->key_len, 0);
        assert_true(ev->table_len >= 1);
        assert_int_equal(ev->value_len, 0);
        assert_false(ev->in_array);
        add(c, ev->array_table ? "[[" : "[");
        add_segs(c, ev->path, ev->table_len);
        if (ev->array_table)
            add(c, "]]#%zu", ev->element);
        else
            add(c, "]");
    } else {
        assert_true(ev->key_len >= 1);
        add_segs(c, ev->path, ev->table_len);
        add(c, "/");
        add_segs(c, ev->path + ev->table_len, ev->key_len);
        char t = ev->type == PROTO_TOML_STRING ? 's' : ev->type == PROTO_TOML_INTEGER ? 'i' : 'b';
        add(c, "=%c", t);
        if (ev->in_array)
            add(c, "[%zu]", ev->index);
        add(c, ":%s", ev->value);
        if (ev->type == PROTO_TOML_INTEGER) {
            char n[32];
            snprintf(n, sizeof n, "%" PRId64, ev->integer);
            assert_string_equal(n, ev->value);
        } else if (ev->type == PROTO_TOML_BOOLEAN) {
            assert_string_equal(ev->value, ev->integer ? "true" : "false");
        }
    }
    add(c, "@%u;", ev->line);
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
    {"\n\n  \t \n", 0, 0, ""},
    {"# only a comment\n# another\n", 0, 0, ""},
    {"a = \"x\"\n", 0, 0, "/a=s:x@1;"},
    {"a=\"x\"", 0, 0, "/a=s:x@1;"}, /* no final newline */
    {"\t a \t=\t \"x\" \t# c\n", 0, 0, "/a=s:x@1;"},
    {"a = 1\r\nb = 2\r\n", 0, 0, "/a=i:1@1;/b=i:2@2;"},
    {"# c\r\na = 1 # d\r\n[t] # e\r\nb = [ # f\r\n2 # g\r\n]\r\n", 0, 0,
     "/a=i:1@2;[t]@3;t/b=i[0]:2@5;"},
    {"\xef\xbb\xbf"
     "a = 1\n",
     0, 0, "/a=i:1@1;"},
    {"s = \"caf\xc3\xa9\" # na\xc3\xafve\n", 0, 0, "/s=s:caf\xc3\xa9@1;"},
    {"s = \"\xff\xfe\"\n", 0, 0, "/s=s:\xff\xfe@1;"}, /* not UTF-8: passed through */

    /* keys */
    {"a-b_C9 = 1\n1234 = 2\ntrue = 3\n", 0, 0, "/a-b_C9=i:1@1;/1234=i:2@2;/true=i:3@3;"},
    {"\"a b\" = 1\n'c.d' = 2\n\"\" = 3\n\"\\u00e9\" = 4\n'\\n' = 5\n", 0, 0,
     "/a b=i:1@1;/c.d=i:2@2;/=i:3@3;/\xc3\xa9=i:4@4;/\\n=i:5@5;"},
    {"a.b.c = true\na . \"b\" . 'c' = false\n", 0, 0, "/a.b.c=b:true@1;/a.b.c=b:false@2;"},

    /* headers */
    {"[t]\nk = 1\n[t.u]\n[ \"x y\" . z ] # c\nv = 'w'\n", 0, 0,
     "[t]@1;t/k=i:1@2;[t.u]@3;[x y.z]@4;x y.z/v=s:w@5;"},
    {"[[package]]\nname = \"a\"\n[[package]]\n[[package]]\nname = \"c\"\n", 0, 0,
     "[[package]]#1@1;package/name=s:a@2;[[package]]#2@3;[[package]]#3@4;package/name=s:c@5;"},
    {"[[a]]\n[a.b]\nx = 1\n[[ a . c ]]\n[[a]]\n", 0, 0,
     "[[a]]#1@1;[a.b]@2;a.b/x=i:1@3;[[a.c]]#2@4;[[a]]#3@5;"},
    {"top = 1\n[t]\nk.l = 2\n", 0, 0, "/top=i:1@1;[t]@2;t/k.l=i:2@3;"},

    /* basic strings */
    {"s = \"q\\\" b\\\\ n\\n t\\t r\\r b\\b f\\f\"\n", 0, 0, "/s=s:q\" b\\ n\n t\t r\r b\b f\f@1;"},
    {"s = \"\\u00e9 \\u20AC \\U0001F600 \\u007f\"\n", 0, 0,
     "/s=s:\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f@1;"},
    {"s = \"\"\n", 0, 0, "/s=s:@1;"},
    {"s = \"tab\there\"\n", 0, 0, "/s=s:tab\there@1;"},
    {"s = \"# not a comment\" # a comment\n", 0, 0, "/s=s:# not a comment@1;"},

    /* literal strings */
    {"s = 'C:\\path\\n \"x\"'\n", 0, 0, "/s=s:C:\\path\\n \"x\"@1;"},
    {"s = ''\n", 0, 0, "/s=s:@1;"},

    /* multi-line strings */
    {"s = \"\"\"\nline1\nline2\"\"\"\nt = 1\n", 0, 0, "/s=s:line1\nline2@1;/t=i:1@4;"},
    {"s = \"\"\"a\r\nb\"\"\"\n", 0, 0, "/s=s:a\nb@1;"},
    {"s = \"\"\"\r\na\"\"\"\n", 0, 0, "/s=s:a@1;"},
    {"s = \"\"\"a \\\n   \n  b \\  \n\"\"\"\n", 0, 0, "/s=s:a b @1;"},
    {"s = \"\"\"a\"b\"\"c\"\"\"\n", 0, 0, "/s=s:a\"b\"\"c@1;"},
    {"s = \"\"\"a\"\"\"\"\n", 0, 0, "/s=s:a\"@1;"},
    {"s = \"\"\"a\"\"\"\"\"\n", 0, 0, "/s=s:a\"\"@1;"},
    {"s = \"\"\"\"\"\"\n", 0, 0, "/s=s:@1;"},
    {"s = \"\"\"\\\"\\\"\\\"\\u0041\"\"\"\n", 0, 0, "/s=s:\"\"\"A@1;"},
    {"s = '''\nraw \\n\n'''\n", 0, 0, "/s=s:raw \\n\n@1;"},
    {"s = '''it''s'''\n", 0, 0, "/s=s:it''s@1;"},
    {"s = '''x'''''\n", 0, 0, "/s=s:x''@1;"},
    {"a = \"\"\"\n\n\"\"\"\nb = [\n'''x\ny''',\n]\n", 0, 0, "/a=s:\n@1;/b=s[0]:x\ny@5;"},

    /* integers and booleans */
    {"i = +1_000\nj = -0\nk = 0\nl = 10\n", 0, 0, "/i=i:1000@1;/j=i:0@2;/k=i:0@3;/l=i:10@4;"},
    {"max = 9223372036854775807\nmin = -9223372036854775808\n", 0, 0,
     "/max=i:9223372036854775807@1;/min=i:-9223372036854775808@2;"},
    {"t = true\nf = false # c\n", 0, 0, "/t=b:true@1;/f=b:false@2;"},

    /* arrays */
    {"a = [1, \"two\", true, ]\n", 0, 0, "/a=i[0]:1@1;/a=s[1]:two@1;/a=b[2]:true@1;"},
    {"a = []\nb = [ ]\nc = [\n]\n", 0, 0, ""},
    {"deps = [\n \"a\",  # first\n\n \"b 1.0.0\"\n # done\n]\nx = 1\n", 0, 0,
     "/deps=s[0]:a@2;/deps=s[1]:b 1.0.0@4;/x=i:1@7;"},
    {"a = [\r\n1,\r\n2]\r\n", 0, 0, "/a=i[0]:1@2;/a=i[1]:2@3;"},

    /* inline tables */
    {"x = { a = \"1\", b = { c = true } }\n", 0, 0, "/x.a=s:1@1;/x.b.c=b:true@1;"},
    {"x = {}\ny = {a={}}\n", 0, 0, ""},
    {"[t]\nx = {y.z = 1, 'q' = [2, 3]}\n", 0, 0,
     "[t]@1;t/x.y.z=i:1@2;t/x.q=i[0]:2@2;t/x.q=i[1]:3@2;"},
    {"x = {a = [\n1]}\n", 0, 0, "/x.a=i[0]:1@2;"},
    {"x={a=\"\"\"\n\"\"\"}\n", 0, 0, "/x.a=s:@1;"},

    /* errors, with the line they are found on */
    {"a\n", -EBADMSG, 1, NULL},
    {"a =\n", -EBADMSG, 1, NULL},
    {"a = \n", -EBADMSG, 1, NULL},
    {"a = ", -EBADMSG, 1, NULL},
    {"= 1\n", -EBADMSG, 1, NULL},
    {"a b = 1\n", -EBADMSG, 1, NULL},
    {"a = 1 2\n", -EBADMSG, 1, NULL},
    {"a = \"x\" y\n", -EBADMSG, 1, NULL},
    {"a = x\n", -EBADMSG, 1, NULL},
    {"ok = 1\n\n\nbad\n", -EBADMSG, 4, NULL},
    {"a = \"x", -EBADMSG, 1, NULL},
    {"a = \"x\ny\"\n", -EBADMSG, 1, NULL},
    {"a = 'x\n", -EBADMSG, 1, NULL},
    {"a = \"\"\"\nx\n", -EBADMSG, 3, NULL},
    {"a = '''x", -EBADMSG, 1, NULL},
    {"a = \"\\x41\"\n", -EBADMSG, 1, NULL},
    {"a = \"\\e\"\n", -EBADMSG, 1, NULL},
    {"a = \"\\ \"\n", -EBADMSG, 1, NULL},
    {"a = \"x\\\ny\"\n", -EBADMSG, 1, NULL},
    {"a = \"\\u00\"\n", -EBADMSG, 1, NULL},
    {"a = \"\\u12", -EBADMSG, 1, NULL},
    {"a = \"\\U0001F60", -EBADMSG, 1, NULL},
    {"a = \"\\u00g0\"\n", -EBADMSG, 1, NULL},
    {"a = \"\\uD800\"\n", -EBADMSG, 1, NULL},
    {"a = \"\\U00110000\"\n", -EBADMSG, 1, NULL},
    {"a = \"\\u0000\"\n", -EBADMSG, 1, NULL},
    {"a = \"x\\", -EBADMSG, 1, NULL},
    {"a = \"\"\"\nx \\ y\"\"\"\n", -EBADMSG, 2, NULL},
    {"a = \"\"\"x\"\"\"\"\"\"\n", -EBADMSG, 1, NULL},
    {"a = '''x''''''\n", -EBADMSG, 1, NULL},
    {"a = \"\"\"\nx\ry\"\"\"\n", -EBADMSG, 2, NULL},
    {"a = \"x\x01\"\n", -EBADMSG, 1, NULL},
    {"a = 'x\x7f'\n", -EBADMSG, 1, NULL},
    {"a = '''\n\n\x1b'''\n", -EBADMSG, 3, NULL},
    {"a = 1\n# x\x01y\n", -EBADMSG, 2, NULL},
    {"a = 1 # x\ry\n", -EBADMSG, 1, NULL},
    {"a = 1\r2\n", -EBADMSG, 1, NULL},
    {"a = 1\rb = 2\n", -EBADMSG, 1, NULL},
    {"\r", -EBADMSG, 1, NULL},
    {"a = 1\n\x01\n", -EBADMSG, 2, NULL},
    {"\xc3\xa9 = 1\n", -EBADMSG, 1, NULL},

    /* rejected on purpose: floats, dates, other integer forms */
    {"a = 1.5\n", -EBADMSG, 1, NULL},
    {"a = 1e5\n", -EBADMSG, 1, NULL},
    {"a = inf\n", -EBADMSG, 1, NULL},
    {"a = -inf\n", -EBADMSG, 1, NULL},
    {"a = nan\n", -EBADMSG, 1, NULL},
    {"a = 1979-05-27\n", -EBADMSG, 1, NULL},
    {"a = 1979-05-27T07:32:00Z\n", -EBADMSG, 1, NULL},
    {"a = 07:32:00\n", -EBADMSG, 1, NULL},
    {"a = 0x1F\n", -EBADMSG, 1, NULL},
    {"a = 0o7\n", -EBADMSG, 1, NULL},
    {"a = 0b1\n", -EBADMSG, 1, NULL},
    {"a = 01\n", -EBADMSG, 1, NULL},
    {"a = 0_1\n", -EBADMSG, 1, NULL},
    {"a = 1__0\n", -EBADMSG, 1, NULL},
    {"a = 1_\n", -EBADMSG, 1, NULL},
    {"a = _1\n", -EBADMSG, 1, NULL},
    {"a = +\n", -EBADMSG, 1, NULL},
    {"a = +_1\n", -EBADMSG, 1, NULL},
    {"a = 9223372036854775808\n", -EBADMSG, 1, NULL},
    {"a = -9223372036854775809\n", -EBADMSG, 1, NULL},
    {"a = 99999999999999999999999\n", -EBADMSG, 1, NULL},
    {"a = True\n", -EBADMSG, 1, NULL},
    {"a = tru\n", -EBADMSG, 1, NULL},
    {"a = truex\n", -EBADMSG, 1, NULL},
    {"a = fals", -EBADMSG, 1, NULL},

    /* arrays */
    {"a = [[1]]\n", -EBADMSG, 1, NULL},
    {"a = [1, [2]]\n", -EBADMSG, 1, NULL},
    {"a = [{b = 1}]\n", -EBADMSG, 1, NULL},
    {"a = [,]\n", -EBADMSG, 1, NULL},
    {"a = [1,,2]\n", -EBADMSG, 1, NULL},
    {"a = [1 2]\n", -EBADMSG, 1, NULL},
    {"a = [1,\n", -EBADMSG, 2, NULL},
    {"a = [\n1,\n2\n", -EBADMSG, 4, NULL},
    {"a = [1] x\n", -EBADMSG, 1, NULL},
    {"a = [1 # c ]\n", -EBADMSG, 2, NULL},
    {"a = [\n# c\x01\n]\n", -EBADMSG, 2, NULL},
    {"a = [\n1 # c\x01\n]\n", -EBADMSG, 2, NULL},

    /* inline tables */
    {"a = {b = 1,}\n", -EBADMSG, 1, NULL},
    {"a = {b = 1,\nc = 2}\n", -EBADMSG, 1, NULL},
    {"a = {\nb = 1}\n", -EBADMSG, 1, NULL},
    {"a = {b = 1\n}\n", -EBADMSG, 1, NULL},
    {"a = {b}\n", -EBADMSG, 1, NULL},
    {"a = {b = 1 c = 2}\n", -EBADMSG, 1, NULL},
    {"a = {b = 1", -EBADMSG, 1, NULL},
    {"a = {,}\n", -EBADMSG, 1, NULL},
    {"a = {b = 1} c\n", -EBADMSG, 1, NULL},

    /* headers and keys */
    {"[a\n", -EBADMSG, 1, NULL},
    {"[]\n", -EBADMSG, 1, NULL},
    {"[a]]\n", -EBADMSG, 1, NULL},
    {"[[a]\n", -EBADMSG, 1, NULL},
    {"[[a] ]\n", -EBADMSG, 1, NULL},
    {"[ [a] ]\n", -EBADMSG, 1, NULL},
    {"[a] x\n", -EBADMSG, 1, NULL},
    {"[a] = 1\n", -EBADMSG, 1, NULL},
    {"[a.]\n", -EBADMSG, 1, NULL},
    {"[.a]\n", -EBADMSG, 1, NULL},
    {"[a..b]\n", -EBADMSG, 1, NULL},
    {"x = 1\n[a]\n[b\n", -EBADMSG, 3, NULL},
    {"a. = 1\n", -EBADMSG, 1, NULL},
    {".a = 1\n", -EBADMSG, 1, NULL},
    {"\"a\nb\" = 1\n", -EBADMSG, 1, NULL},
    {"\"\"\"a\"\"\" = 1\n", -EBADMSG, 1, NULL},
    {"'''a''' = 1\n", -EBADMSG, 1, NULL},
    {"a.\"b = 1\n", -EBADMSG, 1, NULL},
    {"\"\\u0000\" = 1\n", -EBADMSG, 1, NULL},
    {"a = 1\n\n[t]\nb = \"\"\"\n\n\n\"\"\" x\n", -EBADMSG, 7, NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct collect c = {.len = 0};
        unsigned err_line = 12345;
        const char *in = cases[i].in;
        int rc = proto_toml_parse((const uint8_t *)in, strlen(in), collect_cb, &c, &err_line);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d", i, in, rc, cases[i].rc);
        /* checking alone gives the same verdict */
        assert_int_equal(proto_toml_parse((const uint8_t *)in, strlen(in), NULL, NULL, NULL), rc);
        if (rc == 0) {
            if (strcmp(c.out, cases[i].out) != 0)
                fail_msg("case %zu (%s):\n got  %s\n want %s", i, in, c.out, cases[i].out);
            assert_int_equal(err_line, 0);
        } else {
            if (err_line != cases[i].err_line)
                fail_msg("case %zu (%s): line %u, want %u", i, in, err_line, cases[i].err_line);
            /* nothing is delivered from a file with an error */
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
    static const char e[] = "a = '''\n\0'''\n";
    static const char f[] = "\"a\0\" = 1\n";
    const char *ins[] = {a, b, c, d, e, f};
    const size_t lens[] = {sizeof a - 1, sizeof b - 1, sizeof c - 1,
                           sizeof d - 1, sizeof e - 1, sizeof f - 1};
    const unsigned lines[] = {1, 1, 1, 2, 2, 1};
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        struct collect col = {.len = 0};
        unsigned line = 0;
        assert_int_equal(
            proto_toml_parse((const uint8_t *)ins[i], lens[i], collect_cb, &col, &line), -EBADMSG);
        assert_int_equal(line, lines[i]);
        assert_int_equal(col.count, 0);
    }
}

/* Parses buf[0..n) and checks rc and err_line. */
static void expect(const char *buf, size_t n, int rc, unsigned line)
{
    unsigned got = 12345;
    struct collect c = {.len = 0};
    int r = proto_toml_parse((const uint8_t *)buf, n, NULL, &c, &got);
    if (r != rc || (rc != 0 && got != line))
        fail_msg("rc %d line %u, want %d line %u (input %.60s...)", r, got, rc, line, buf);
}

static void test_limits(void **state)
{
    (void)state;
    size_t cap = PROTO_TOML_MAX + 64;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;

    /* a key segment: bare, quoted, and decoded from escapes */
    for (size_t k = PROTO_TOML_KEY_MAX; k <= PROTO_TOML_KEY_MAX + 1; k++) {
        int want = k <= PROTO_TOML_KEY_MAX ? 0 : -EMSGSIZE;
        memcpy(buf, "x = 1\n", 6);
        memset(buf + 6, 'k', k);
        memcpy(buf + 6 + k, " = 1\n", 5);
        expect(buf, 6 + k + 5, want, 2);
        n = 0;
        buf[n++] = '[';
        buf[n++] = '"';
        memset(buf + n, 'k', k);
        n += k;
        memcpy(buf + n, "\"]\n", 3);
        expect(buf, n + 3, want, 1);
        n = 0;
        buf[n++] = '\'';
        for (size_t i = 0; i < k / 2; i++) {
            memcpy(buf + n, "\xc3\xa9", 2);
            n += 2;
        }
        if (k % 2)
            buf[n++] = 'k';
        memcpy(buf + n, "' = 1", 5);
        expect(buf, n + 5, want, 1);
        /* 128 escapes decode to 256 bytes, 129 to 258 */
        n = 0;
        buf[n++] = '"';
        for (size_t i = 0; i < (k + 1) / 2; i++) {
            memcpy(buf + n, "\\u00e9", 6);
            n += 6;
        }
        memcpy(buf + n, "\" = 1", 5);
        expect(buf, n + 5, k % 2 ? -EMSGSIZE : want, 1);
    }

    /* path depth: dotted keys, headers plus keys, inline tables */
    for (size_t d = PROTO_TOML_DEPTH_MAX; d <= PROTO_TOML_DEPTH_MAX + 1; d++) {
        int want = d <= PROTO_TOML_DEPTH_MAX ? 0 : -EMSGSIZE;
        n = 0;
        for (size_t i = 0; i < d; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%sk%zu", i ? "." : "", i);
        n += (size_t)snprintf(buf + n, cap - n, " = 1\n");
        expect(buf, n, want, 1);

        n = (size_t)snprintf(buf, cap, "\n[");
        for (size_t i = 0; i + 1 < d; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%st%zu", i ? "." : "", i);
        n += (size_t)snprintf(buf + n, cap - n, "]\nk = 1\n");
        expect(buf, n, want, 3);

        n = (size_t)snprintf(buf, cap, "a = ");
        for (size_t i = 1; i < d; i++)
            n += (size_t)snprintf(buf + n, cap - n, "{k%zu = ", i);
        n += (size_t)snprintf(buf + n, cap - n, "1");
        for (size_t i = 1; i < d; i++)
            buf[n++] = '}';
        expect(buf, n, want, 1);
    }
    /* the deepest path that fits, delivered whole */
    {
        n = (size_t)snprintf(buf, cap,
                             "[a.b.c.d.e.f.g.h]\ni.j.k.l = { m.n = { o.p = [ 'q' ] } }\n");
        struct collect c = {.len = 0};
        assert_int_equal(proto_toml_parse((const uint8_t *)buf, n, collect_cb, &c, NULL), 0);
        assert_string_equal(c.out, "[a.b.c.d.e.f.g.h]@1;a.b.c.d.e.f.g.h/i.j.k.l.m.n.o.p=s[0]:q@2;");
    }

    /* a string value: each form, at and over the limit, the error on its line */
    static const char *const open[] = {"\"", "'", "\"\"\"\n", "'''\n"};
    static const char *const close[] = {"\"", "'", "\"\"\"", "'''"};
    for (size_t f = 0; f < 4; f++) {
        for (size_t v = PROTO_TOML_STRING_MAX; v <= PROTO_TOML_STRING_MAX + 1; v++) {
            n = (size_t)snprintf(buf, cap, "\n\nk = %s", open[f]);
            memset(buf + n, 'v', v);
            n += v;
            n += (size_t)snprintf(buf + n, cap - n, "%s\n", close[f]);
            int want = v <= PROTO_TOML_STRING_MAX ? 0 : -EMSGSIZE;
            expect(buf, n, want, f >= 2 ? 4 : 3);
        }
    }
    /* an escape that does not fit: 65535 bytes and one 2-byte character */
    n = (size_t)snprintf(buf, cap, "k = \"");
    memset(buf + n, 'v', PROTO_TOML_STRING_MAX - 1);
    n += PROTO_TOML_STRING_MAX - 1;
    n += (size_t)snprintf(buf + n, cap - n, "\\u00e9\"");
    expect(buf, n, -EMSGSIZE, 1);
    n -= 7;
    n += (size_t)snprintf(buf + n, cap - n, "\\u0041\"");
    expect(buf, n, 0, 0);
    /* quotes that end a multi-line string but are content: """...v""""" */
    for (size_t v = PROTO_TOML_STRING_MAX - 2; v <= PROTO_TOML_STRING_MAX - 1; v++) {
        size_t m = (size_t)snprintf(buf, cap, "k = \"\"\"");
        memset(buf + m, 'v', v);
        m += v;
        m += (size_t)snprintf(buf + m, cap - m, "\"\"\"\"\"");
        expect(buf, m, v + 2 <= PROTO_TOML_STRING_MAX ? 0 : -EMSGSIZE, 1);
    }

    /* the whole file, checked before reading; lines keep counting */
    struct collect c = {.len = 0};
    unsigned line = 7;
    memset(buf, '\n', cap);
    assert_int_equal(proto_toml_parse((const uint8_t *)buf, PROTO_TOML_MAX, collect_cb, &c, &line),
                     0);
    assert_int_equal(
        proto_toml_parse((const uint8_t *)buf, PROTO_TOML_MAX + 1, collect_cb, &c, &line),
        -EMSGSIZE);
    assert_int_equal(line, 0);
    memcpy(buf + PROTO_TOML_MAX - 4, "x=\n\n", 4);
    expect(buf, PROTO_TOML_MAX, -EBADMSG, PROTO_TOML_MAX - 3);
    assert_int_equal(c.count, 0);
    free(buf);

    /* no input, no callback, no err_line pointer */
    assert_int_equal(proto_toml_parse(NULL, 0, collect_cb, &c, NULL), 0);
    assert_int_equal(proto_toml_parse(NULL, 5, collect_cb, &c, NULL), -EBADMSG);
    assert_int_equal(proto_toml_parse((const uint8_t *)"a=1", 3, NULL, NULL, NULL), 0);
    assert_int_equal(proto_toml_parse((const uint8_t *)"a", 1, NULL, NULL, NULL), -EBADMSG);
}

static void test_callback_stop(void **state)
{
    (void)state;
    const char *in = "a = 1\n[t]\nb = [x, y]\n";
    /* syntax is checked first: the bad array stops everything */
    struct collect c = {.stop_after = 1};
    unsigned line = 0;
    assert_int_equal(proto_toml_parse((const uint8_t *)in, strlen(in), collect_cb, &c, &line),
                     -EBADMSG);
    assert_int_equal(line, 3);
    assert_int_equal(c.count, 0);

    in = "a = 1\n[t]\nb = ['x', 'y', 'z']\nc = 3\n";
    for (int stop = 1; stop <= 5; stop++) {
        struct collect d = {.stop_after = stop};
        line = 7;
        assert_int_equal(proto_toml_parse((const uint8_t *)in, strlen(in), collect_cb, &d, &line),
                         42);
        assert_int_equal(d.count, stop);
        assert_int_equal(line, 0); /* not a syntax error */
    }
    struct collect e = {.stop_after = 4};
    assert_int_equal(proto_toml_parse((const uint8_t *)in, strlen(in), collect_cb, &e, NULL), 42);
    assert_string_equal(e.out, "/a=i:1@1;[t]@2;t/b=s[0]:x@3;t/b=s[1]:y@3;");
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
