/* tests/unit/test-proto-cargo-config.c — crates.io's replacement in a Cargo
 * config: table, dotted, inline and quoted forms, chains, registries, every
 * error with its line, the limits; and the cache directory host, with the
 * cases checked against the directories cargo 1.95 created. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/cargo_config.h"

#define CRATECAST                                                                                  \
    "[source.crates-io]\n"                                                                         \
    "replace-with = \"cratecast\"\n"                                                               \
    "\n"                                                                                           \
    "[source.cratecast]\n"                                                                         \
    "registry = \"sparse+http://127.0.0.1:7878/index/\"\n"

static const struct {
    const char *in;
    int rc;
    unsigned line;
    const char *url;
} cases[] = {
    /* what `cratecast cargo-config` writes */
    {CRATECAST, 0, 0, "sparse+http://127.0.0.1:7878/index/"},
    /* among everything else a config holds */
    {"# ~/.cargo/config.toml\n"
     "[build]\njobs = 8\nrustflags = [\"-C\", \"target-cpu=native\"]\n"
     "[target.'cfg(target_os = \"linux\")']\nlinker = \"clang\"\n"
     "[alias]\nb = \"build\"\nxt = [\"run\", \"--package\", \"xtask\", \"--\"]\n"
     "[env]\nFOO = { value = \"bar\", relative = true }\n"
     "[net]\nretry = 2\ngit-fetch-with-cli = true\n"
     "[registries.crates-io]\nprotocol = \"sparse\"\n"
     "[source.unused]\nregistry = 7\n" /* not in the chain: not looked at */
     "[other.crates-io]\nreplace-with = 7\n" CRATECAST "[http]\ntimeout = 30\n",
     0, 0, "sparse+http://127.0.0.1:7878/index/"},
    /* dotted keys, at the top and in a table */
    {"source.crates-io.replace-with = \"m\"\nsource.m.registry = \"sparse+http://h/\"\n", 0, 0,
     "sparse+http://h/"},
    {"[source]\ncrates-io.replace-with = \"m\"\nm.registry = \"https://h/index\"\n", 0, 0,
     "https://h/index"},
    /* inline tables */
    {"[source]\ncrates-io = { replace-with = \"m\" }\nm = { registry = \"sparse+http://h/\" }\n", 0,
     0, "sparse+http://h/"},
    {"source = { crates-io = { replace-with = 'm' }, m = { registry = 'sparse+http://h/' } }\n", 0,
     0, "sparse+http://h/"},
    /* quoted keys, escapes, a name with a space */
    {"[source.\"crates-io\"]\n'replace-with' = \"my mirror\"\n"
     "[source.'my mirror']\n\"registry\" = \"sparse+http://127.0.0.1:7878/\\u0069ndex/\"\n",
     0, 0, "sparse+http://127.0.0.1:7878/index/"},
    /* order does not matter */
    {"[source.m]\nregistry = \"sparse+http://h/\"\n[source.crates-io]\nreplace-with = \"m\"\n", 0,
     0, "sparse+http://h/"},
    /* a chain: a source with a location is replaced in turn */
    {"[source.crates-io]\nreplace-with = \"a\"\n"
     "[source.a]\nregistry = \"sparse+http://a/\"\nreplace-with = \"b\"\n"
     "[source.b]\nregistry = \"sparse+http://b/\"\n",
     0, 0, "sparse+http://b/"},
    /* a name that is no source but a registry ends the chain with its index */
    {"[source.crates-io]\nreplace-with = \"r\"\n[registries.r]\nindex = "
     "\"sparse+http://[::1]:8080/x/\"\ntoken = \"t\"\n",
     0, 0, "sparse+http://[::1]:8080/x/"},
    {"[source.crates-io]\nreplace-with = \"a\"\n[source.a]\ngit = \"https://g/\"\nbranch = "
     "\"main\"\nreplace-with = \"r\"\n[registries.r]\nindex = \"https://r/\"\n",
     0, 0, "https://r/"},

    /* not replaced */
    {"", -ENOENT, 0, NULL},
    {"[build]\njobs = 1\n", -ENOENT, 0, NULL},
    {"[source.crates-io]\n", -ENOENT, 0, NULL},
    {"[source.crates-io]\nregistry = \"sparse+http://h/\"\n", -ENOENT, 0, NULL},
    {"[source.crates-iox]\nreplace-with = \"m\"\n[source.m]\nregistry = \"x\"\n", -ENOENT, 0, NULL},
    {"[registries.crates-io]\nreplace-with = \"m\"\n[source.m]\nregistry = \"x\"\n", -ENOENT, 0,
     NULL},

    /* a mirror on disk or in git: no registry URL */
    {"[source.crates-io]\nreplace-with = \"v\"\n[source.v]\ndirectory = \"vendor\"\n", -ENOTSUP, 0,
     NULL},
    {"[source.crates-io]\nreplace-with = \"v\"\n[source.v]\nlocal-registry = \"/srv/reg\"\n",
     -ENOTSUP, 0, NULL},
    {"[source.crates-io]\nreplace-with = \"v\"\n[source.v]\ngit = \"https://g/\"\ntag = \"x\"\n",
     -ENOTSUP, 0, NULL},

    /* cycles */
    {"[source.crates-io]\nreplace-with = \"crates-io\"\n", -ELOOP, 2, NULL},
    {"[source.crates-io]\nreplace-with = \"a\"\n"
     "[source.a]\nregistry = \"x\"\nreplace-with = \"b\"\n"
     "[source.b]\nregistry = \"y\"\nreplace-with = \"a\"\n",
     -ELOOP, 8, NULL},

    /* what Cargo refuses */
    {"[source.crates-io]\nreplace-with = \"nope\"\n", -EINVAL, 2, NULL},
    {"[source.crates-io]\nreplace-with = \"a\"\n[source.a]\n", -EINVAL, 2, NULL},
    {"[source.crates-io]\nreplace-with = \"a\"\n[source.a]\nreplace-with = \"b\"\n"
     "[source.b]\nregistry = \"x\"\n",
     -EINVAL, 2, NULL},
    {"[source.crates-io]\nreplace-with = \"a\"\n[source.a]\nregistry = \"x\"\n\n"
     "directory = \"d\"\n",
     -EINVAL, 6, NULL},
    {"[source.crates-io]\nreplace-with = \"a\"\n[source.a]\ngit = \"g\"\nlocal-registry = \"l\"\n",
     -EINVAL, 5, NULL},
    {"[source.crates-io]\nreplace-with = \"r\"\n[registries.r]\ntoken = \"t\"\n", -EINVAL, 2, NULL},
    {"[source.crates-io]\nreplace-with = \"r\"\n[source.r]\n[registries.r]\nindex = \"x\"\n",
     -EINVAL, 2, NULL},

    /* a key of the chain with another type, or twice */
    {"[source.crates-io]\nreplace-with = 1\n", -EBADMSG, 2, NULL},
    {"[source.crates-io]\nreplace-with = [\"a\"]\n", -EBADMSG, 2, NULL},
    {"[source.crates-io]\nreplace-with = \"a\"\n[source.a]\nregistry = true\n", -EBADMSG, 4, NULL},
    {"[source.crates-io]\nreplace-with = \"a\"\n[source.a]\ndirectory = [\"d\"]\n", -EBADMSG, 4,
     NULL},
    {"[source.crates-io]\nreplace-with = \"r\"\n[registries.r]\nindex = 5\n", -EBADMSG, 4, NULL},
    {"source.crates-io.replace-with = \"a\"\n[source.crates-io]\nreplace-with = \"b\"\n", -EBADMSG,
     3, NULL},
    {"[source.crates-io]\nreplace-with = \"a\"\n[source.a]\nregistry = \"x\"\nregistry = \"y\"\n",
     -EBADMSG, 5, NULL},
    {"source.crates-io = \"a\"\n", -EBADMSG, 1, NULL},

    /* TOML */
    {CRATECAST "[http]\ntimeout = 1.5\n", -EBADMSG, 7, NULL},
    {"[source.crates-io\nreplace-with = \"a\"\n", -EBADMSG, 1, NULL},
    {"[source.crates-io]\nreplace-with = \"a\n", -EBADMSG, 2, NULL},
};

static void test_replacement(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char url[256];
        unsigned line = 12345;
        const char *in = cases[i].in;
        memset(url, 'x', sizeof url);
        int rc = proto_cargo_config_crates_io_replacement((const uint8_t *)in, strlen(in), url,
                                                          sizeof url, &line);
        if (rc != cases[i].rc || line != cases[i].line)
            fail_msg("case %zu (%s): rc %d line %u, want %d line %u", i, in, rc, line, cases[i].rc,
                     cases[i].line);
        assert_string_equal(url, rc == 0 ? cases[i].url : "");
    }
}

/* A chain of n links: crates-io -> s1 -> ... -> sn, sn with the registry. */
static size_t chain(char *buf, size_t cap, unsigned n)
{
    size_t len = (size_t)snprintf(buf, cap, "[source.crates-io]\nreplace-with = \"s1\"\n");
    for (unsigned i = 1; i <= n; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "[source.s%u]\nregistry = \"http://s%u/\"\n",
                                i, i);
        if (i < n)
            len += (size_t)snprintf(buf + len, cap - len, "replace-with = \"s%u\"\n", i + 1);
    }
    return len;
}

static void test_limits(void **state)
{
    (void)state;
    char buf[4096], url[64];
    unsigned line;

    /* PROTO_CARGO_CONFIG_HOPS_MAX links, then one more */
    size_t n = chain(buf, sizeof buf, PROTO_CARGO_CONFIG_HOPS_MAX);
    assert_int_equal(
        proto_cargo_config_crates_io_replacement((const uint8_t *)buf, n, url, sizeof url, &line),
        0);
    assert_string_equal(url, "http://s8/");
    n = chain(buf, sizeof buf, PROTO_CARGO_CONFIG_HOPS_MAX + 1);
    assert_int_equal(
        proto_cargo_config_crates_io_replacement((const uint8_t *)buf, n, url, sizeof url, &line),
        -ELOOP);
    assert_int_equal(line, 3 * PROTO_CARGO_CONFIG_HOPS_MAX + 2); /* s8's replace-with */

    /* the URL buffer: exactly enough, one byte short, none */
    const char *in = CRATECAST;
    size_t ul = strlen("sparse+http://127.0.0.1:7878/index/");
    assert_int_equal(proto_cargo_config_crates_io_replacement((const uint8_t *)in, strlen(in), url,
                                                              ul + 1, &line),
                     0);
    assert_int_equal(strlen(url), ul);
    assert_int_equal(
        proto_cargo_config_crates_io_replacement((const uint8_t *)in, strlen(in), url, ul, &line),
        -ENAMETOOLONG);
    assert_string_equal(url, "");
    assert_int_equal(line, 0);
    assert_int_equal(
        proto_cargo_config_crates_io_replacement((const uint8_t *)in, strlen(in), NULL, 0, NULL),
        -ENAMETOOLONG);

    /* a replace-with longer than any key can be names nothing */
    n = (size_t)snprintf(buf, sizeof buf, "[source.crates-io]\nreplace-with = \"");
    memset(buf + n, 'm', PROTO_TOML_KEY_MAX + 1);
    n += PROTO_TOML_KEY_MAX + 1;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\"\n");
    assert_int_equal(
        proto_cargo_config_crates_io_replacement((const uint8_t *)buf, n, url, sizeof url, &line),
        -EINVAL);
    assert_int_equal(line, 2);
    /* and one of the longest name works */
    n = (size_t)snprintf(buf, sizeof buf, "[source.crates-io]\nreplace-with = \"");
    memset(buf + n, 'm', PROTO_TOML_KEY_MAX);
    n += PROTO_TOML_KEY_MAX;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\"\n[source.");
    memset(buf + n, 'm', PROTO_TOML_KEY_MAX);
    n += PROTO_TOML_KEY_MAX;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "]\nregistry = \"r\"\n");
    assert_int_equal(
        proto_cargo_config_crates_io_replacement((const uint8_t *)buf, n, url, sizeof url, &line),
        0);
    assert_string_equal(url, "r");

    /* the file size, before anything is read */
    uint8_t *big = malloc(PROTO_CARGO_CONFIG_MAX + 1);
    assert_non_null(big);
    memset(big, '\n', PROTO_CARGO_CONFIG_MAX + 1);
    line = 7;
    assert_int_equal(proto_cargo_config_crates_io_replacement(big, PROTO_CARGO_CONFIG_MAX + 1, url,
                                                              sizeof url, &line),
                     -EMSGSIZE);
    assert_int_equal(line, 0);
    assert_int_equal(proto_cargo_config_crates_io_replacement(big, PROTO_CARGO_CONFIG_MAX, url,
                                                              sizeof url, &line),
                     -ENOENT);
    free(big);

    /* NUL in the file */
    static const char nul[] = "[source.crates-io]\nreplace-with = \"a\0\"\n";
    assert_int_equal(proto_cargo_config_crates_io_replacement((const uint8_t *)nul, sizeof nul - 1,
                                                              url, sizeof url, &line),
                     -EBADMSG);
    assert_int_equal(line, 2);
}

static const struct {
    const char *url;
    int rc; /* the length, or -errno */
    const char *host;
} hosts[] = {
    /* cargo 1.95 named its registry/index/<host>-<hash> directory after these */
    {"sparse+http://[::1]:18765/x/", 5, "[::1]"},
    {"sparse+http://[0:0::1]:18765/x/", 5, "[::1]"},
    {"sparse+http://[::ffff:127.0.0.1]:18765/x/", 15, "[::ffff:7f00:1]"},
    {"https://[0::1]:9/x", 5, "[::1]"},
    {"sparse+http://User:pw@LOCALHOST:18765/x/", 9, "LOCALHOST"},
    {"http://User:pw@LOCALHOST:9/x", 9, "localhost"},
    {"sparse+http://127.1:18765/x/", 5, "127.1"},
    {"registry+http://127.1:9/x", 5, "127.1"},
    {"http://Ex%41mple.com:9/x", 11, "example.com"},
    {"git://HOST.invalid:9/x", 12, "HOST.invalid"},
    {"registry+ssh://Git@HOST.invalid/x", 12, "HOST.invalid"},
    {"file:///tmp/helperA-cargo/nonexist", 0, ""},
    /* and the usual ones */
    {"sparse+http://127.0.0.1:7878/index/", 9, "127.0.0.1"},
    {"https://index.crates.io/", 15, "index.crates.io"},
    {"sparse+https://index.crates.io/", 15, "index.crates.io"},
    {"registry+https://github.com/rust-lang/crates.io-index", 10, "github.com"},
    {"sparse+https://[::1]:8080/x/", 5, "[::1]"},
    {"HTTPS://INDEX.Crates.IO", 15, "index.crates.io"},
    {"http://h?x=1", 1, "h"},
    {"http://h#f", 1, "h"},
    {"http://h\\x", 1, "h"},
    {"http://h:/", 1, "h"},
    {"http://h:65535/", 1, "h"},
    {"http://a@b@c/", 1, "c"},
    {"http://example.com./", 12, "example.com."},
    {"foo://a%zz/", 4, "a%zz"},
    {"sparse+http:///x", 0, ""},
    {"file://localhost/x", 0, ""},
    {"file://LocalHost/x", 0, ""},
    {"file://srv/x", 3, "srv"},
    /* IPv4 on special schemes, as the URL standard reads it */
    {"http://127.1/", 9, "127.0.0.1"},
    {"http://0x7f.1/", 9, "127.0.0.1"},
    {"http://0177.0.0.1/", 9, "127.0.0.1"},
    {"http://2130706433/", 9, "127.0.0.1"},
    {"http://1.2.3.4./", 7, "1.2.3.4"},
    {"http://1.2.65535/", 11, "1.2.255.255"},
    {"http://0x/", 7, "0.0.0.0"},
    {"http://255.255.255.255/", 15, "255.255.255.255"},
    {"http://1a/", 2, "1a"},
    {"http://a.0x1g/", 6, "a.0x1g"},
    {"http://1.2.3.256/", -EINVAL, ""},
    {"http://256.1.1.1/", -EINVAL, ""},
    {"http://1.2.65536/", -EINVAL, ""},
    {"http://4294967296/", -EINVAL, ""},
    {"http://1.2.3.4.5/", -EINVAL, ""},
    {"http://1..2/", -EINVAL, ""},
    {"http://08/", -EINVAL, ""},
    {"http://a.1/", -EINVAL, ""},
    {"http://99999999999999999999/", -EINVAL, ""},
    /* IPv6, RFC 5952 */
    {"http://[1:0:0:2:0:0:0:3]/", 12, "[1:0:0:2::3]"},
    {"http://[1:0:0:2:0:0:3:4]/", 14, "[1::2:0:0:3:4]"},
    {"http://[1:2:3:4:5:6:7:0]/", 17, "[1:2:3:4:5:6:7:0]"},
    {"http://[0:0:0:0:0:0:0:0]/", 4, "[::]"},
    {"http://[ABCD:0EF::]/", 11, "[abcd:ef::]"},
    {"http://[1:2:3:4:5:6:7:8]:1/", 17, "[1:2:3:4:5:6:7:8]"},
    {"http://[::1/", -EINVAL, ""},
    {"http://[::1]x/", -EINVAL, ""},
    {"http://[1:2:3]/", -EINVAL, ""},
    {"http://[::1%25eth0]/", -EINVAL, ""},
    {"http://[]/", -EINVAL, ""},
    {"http://[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:1]/", -EINVAL, ""},
    {"http://[::1]:70000/", -EINVAL, ""},
    /* what has no host, or none this can name */
    {"http:///x", -EINVAL, ""},
    {"http://user@/x", -EINVAL, ""},
    {"foo://:80/", -EINVAL, ""},
    {"http://h:65536/", -EINVAL, ""},
    {"http://h:8a/", -EINVAL, ""},
    {"file://u@h/", -EINVAL, ""},
    {"file://h:1/", -EINVAL, ""},
    {"http://caf\xc3\xa9.com/", -EINVAL, ""},
    {"sparse+http://caf\xc3\xa9.com/", -EINVAL, ""},
    {"http://a b/", -EINVAL, ""},
    {"http://a%zz/", -EINVAL, ""},
    {"http://a%25/", -EINVAL, ""},
    {"http://a%00/", -EINVAL, ""},
    {"http://a%C3%A9/", -EINVAL, ""},
    {"foo://a\x01/", -EINVAL, ""},
    {"foo://a\\b/", -EINVAL, ""},
    {"foo://a^b/", -EINVAL, ""},
    {"index.crates.io", -EINVAL, ""},
    {"https:/index.crates.io", -EINVAL, ""},
    {"://x", -EINVAL, ""},
    {"1http://x", -EINVAL, ""},
    {"", -EINVAL, ""},
};

static void test_url_host(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        char host[300];
        memset(host, 'x', sizeof host);
        int rc = proto_cargo_config_url_host(hosts[i].url, host, sizeof host);
        if (rc != hosts[i].rc || strcmp(host, hosts[i].host) != 0)
            fail_msg("case %zu (%s): rc %d host \"%s\", want %d \"%s\"", i, hosts[i].url, rc, host,
                     hosts[i].rc, hosts[i].host);
        if (rc > 0) { /* exactly enough room, and one byte short */
            assert_int_equal(proto_cargo_config_url_host(hosts[i].url, host, (size_t)rc + 1), rc);
            assert_string_equal(host, hosts[i].host);
            assert_int_equal(proto_cargo_config_url_host(hosts[i].url, host, (size_t)rc),
                             -ENAMETOOLONG);
            assert_string_equal(host, "");
        }
    }
    char host[300], url[600];
    assert_int_equal(proto_cargo_config_url_host(NULL, host, sizeof host), -EINVAL);
    assert_int_equal(proto_cargo_config_url_host("http://h/", NULL, 0), -ENAMETOOLONG);
    assert_int_equal(proto_cargo_config_url_host("file:///x", host, 0), -ENAMETOOLONG);

    /* a special host of 255 bytes is named, one of 256 is not */
    for (size_t k = 255; k <= 256; k++) {
        int n = snprintf(url, sizeof url, "http://");
        memset(url + n, 'h', k);
        snprintf(url + n + k, sizeof url - (size_t)n - k, ":1/");
        assert_int_equal(proto_cargo_config_url_host(url, host, sizeof host),
                         k == 255 ? 255 : -EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replacement),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_url_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
