/* tests/unit/test-proto-route.c — the Cargo-facing URL space: every route,
 * traversal attempts raw and percent-encoded, bad components, limits; and
 * the peer routes with their query parameters, and the peer requests the
 * agent builds (proto_route_peer_path/url), which parse back to what was built. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/route.h"

#define CK "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define CKU "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
#define N64 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"
#define URL_MAX 512

static const struct {
    const char *path;
    int rc;
    enum proto_route_kind kind;
    const char *name, *vers;
} cases[] = {
    /* routes */
    {"/index/config.json", 0, PROTO_ROUTE_CONFIG, "", ""},
    {"/index/config.json?x=1", 0, PROTO_ROUTE_CONFIG, "", ""},
    {"/-/status", 0, PROTO_ROUTE_STATUS, "", ""},
    {"/", 0, PROTO_ROUTE_PAGE, "", ""},
    {"/?refresh=5", 0, PROTO_ROUTE_PAGE, "", ""},
    {"/metrics", 0, PROTO_ROUTE_METRICS, "", ""},
    {"/-/status?json", 0, PROTO_ROUTE_STATUS, "", ""},
    {"/-/why/serde", 0, PROTO_ROUTE_WHY, "serde", ""},
    {"/-/why/Mixed_Case?x", 0, PROTO_ROUTE_WHY, "Mixed_Case", ""},
    {"/-/why/" N64, 0, PROTO_ROUTE_WHY, N64, ""},
    {"/-/why/" N64 "x", -EINVAL, 0, NULL, NULL},
    {"/-/why/se%2frde", -EINVAL, 0, NULL, NULL},
    {"/-/why/..", -EINVAL, 0, NULL, NULL},
    {"/-/why/-serde", -EINVAL, 0, NULL, NULL},
    {"/-/why", -ENOENT, 0, NULL, NULL},
    {"/-/why/serde/1", -ENOENT, 0, NULL, NULL},
    {"/index/1/a", 0, PROTO_ROUTE_INDEX, "a", ""},
    {"/index/2/ab", 0, PROTO_ROUTE_INDEX, "ab", ""},
    {"/index/3/a/abc", 0, PROTO_ROUTE_INDEX, "abc", ""},
    {"/index/ab/cd/abcd", 0, PROTO_ROUTE_INDEX, "abcd", ""},
    {"/index/se/rd/serde", 0, PROTO_ROUTE_INDEX, "serde", ""},
    {"/index/se/rd/serde?a=../../x", 0, PROTO_ROUTE_INDEX, "serde", ""},
    {"/index/se/rd/Serde", 0, PROTO_ROUTE_INDEX, "Serde", ""}, /* case preserved */
    {"/index/SE/rd/serde", 0, PROTO_ROUTE_INDEX, "serde", ""},
    {"/index/se/rd/serde_json", 0, PROTO_ROUTE_INDEX, "serde_json", ""},
    {"/index/%73e/rd/ser%64e", 0, PROTO_ROUTE_INDEX, "serde", ""}, /* decoded once */
    {"/index/ab/cd/" N64, 0, PROTO_ROUTE_INDEX, N64, ""},
    {"/crates/serde/1.0.0/" CK, 0, PROTO_ROUTE_CRATE, "serde", "1.0.0"},
    {"/crates/Serde/1.0.0-rc.1+b/" CKU, 0, PROTO_ROUTE_CRATE, "Serde", "1.0.0-rc.1+b"},
    {"/crates/serde/1.0.0%2Bb/" CK, 0, PROTO_ROUTE_CRATE, "serde", "1.0.0+b"},
    {"/crates/serde/1.0.0/" CK "?download", 0, PROTO_ROUTE_CRATE, "serde", "1.0.0"},

    /* traversal, raw and encoded */
    {"/index/../etc/passwd", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/..", -EINVAL, 0, NULL, NULL},
    {"/index/%2e%2e/x", -EINVAL, 0, NULL, NULL},
    {"/index/%2E%2e/x", -EINVAL, 0, NULL, NULL},
    {"/index/.%2e/x", -EINVAL, 0, NULL, NULL},
    {"/crates/%2e%2e/1.0.0/" CK, -EINVAL, 0, NULL, NULL},
    {"/crates/serde/%2e%2e/" CK, -EINVAL, 0, NULL, NULL},
    {"/crates/serde/../" CK, -EINVAL, 0, NULL, NULL},
    {"/index/se%2frd/serde", -EINVAL, 0, NULL, NULL},
    {"/index/se%2Frd%2Fserde", -EINVAL, 0, NULL, NULL},
    {"/crates/..%2f..%2fetc/1.0.0/" CK, -EINVAL, 0, NULL, NULL},
    {"/../index/config.json", -EINVAL, 0, NULL, NULL},
    {"/./index/config.json", -EINVAL, 0, NULL, NULL},
    {"/x/../../y", -EINVAL, 0, NULL, NULL}, /* traversal beats "unknown" */
    {"/%2e%2e", -EINVAL, 0, NULL, NULL},
    {"/index/%252e%252e/x", -EINVAL, 0, NULL, NULL}, /* decoded once: "%2e%2e" is no name */

    /* NUL and bad escapes */
    {"/index/se/rd/serde%00", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/ser%00de", -EINVAL, 0, NULL, NULL},
    {"/crates/serde/1.0.0/" CK "%00", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/serde%", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/serde%2", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/serde%zz", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/serde%g0", -EINVAL, 0, NULL, NULL},
    {"/unknown%", -EINVAL, 0, NULL, NULL},

    /* empty components */
    {"/index//se/rd/serde", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/serde/", -EINVAL, 0, NULL, NULL},
    {"//index/config.json", -EINVAL, 0, NULL, NULL},

    /* index path that does not match its name */
    {"/index/se/rd/serdf", 0, PROTO_ROUTE_INDEX, "serdf", ""}, /* control: this one matches */
    {"/index/xx/rd/serde", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/x/serde", -EINVAL, 0, NULL, NULL},
    {"/index/serde", -EINVAL, 0, NULL, NULL},
    {"/index/2/abc", -EINVAL, 0, NULL, NULL},
    {"/index/1/ab", -EINVAL, 0, NULL, NULL},
    {"/index/3/b/abc", -EINVAL, 0, NULL, NULL},
    {"/index/3/abc", -EINVAL, 0, NULL, NULL},
    {"/index/ab/abcd", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/ser de", -EINVAL, 0, NULL, NULL},
    {"/index/ab/cd/" N64 "m", -EINVAL, 0, NULL, NULL}, /* 65-char name */
    {"/index/config.jso", -EINVAL, 0, NULL, NULL},
    {"/index/a/b/c/d/e/f/g/h/i/j", -EINVAL, 0, NULL, NULL},

    /* bad crate components */
    {"/crates/ser de/1.0.0/" CK, -EINVAL, 0, NULL, NULL},
    {"/crates/" N64 "m/1.0.0/" CK, -EINVAL, 0, NULL, NULL},
    {"/crates/serde/v1.0.0/" CK, -EINVAL, 0, NULL, NULL},
    {"/crates/serde/1.0.0/" CK "0", -EINVAL, 0, NULL, NULL},
    {"/crates/serde/1.0.0/abc", -EINVAL, 0, NULL, NULL},
    {"/crates/serde/1.0.0/"
     "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     -EINVAL, 0, NULL, NULL},
    {"/crates/serde/1.0.0/download", -EINVAL, 0, NULL, NULL},

    /* well-formed but not a route */
    {"/metrics/x", -ENOENT, 0, NULL, NULL},
    {"/metric", -ENOENT, 0, NULL, NULL},
    {"/index", -ENOENT, 0, NULL, NULL},
    {"/crates", -ENOENT, 0, NULL, NULL},
    {"/crates/serde", -ENOENT, 0, NULL, NULL},
    {"/crates/serde/1.0.0", -ENOENT, 0, NULL, NULL},
    {"/crates/serde/1.0.0/" CK "/x", -ENOENT, 0, NULL, NULL},
    {"/-", -ENOENT, 0, NULL, NULL},
    {"/-/statuz", -ENOENT, 0, NULL, NULL},
    {"/-/status/x", -ENOENT, 0, NULL, NULL},
    {"/favicon.ico", -ENOENT, 0, NULL, NULL},
    {"/api/v1/crates", -ENOENT, 0, NULL, NULL},
    {"/Index/config.json", -ENOENT, 0, NULL, NULL},

    /* not an origin-form path */
    {"", -EINVAL, 0, NULL, NULL},
    {"index/config.json", -EINVAL, 0, NULL, NULL},
    {"*", -EINVAL, 0, NULL, NULL},
    {"http://h/index/config.json", -EINVAL, 0, NULL, NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = cases[i].path;
        size_t len = strlen(p);
        /* an exact-size heap copy with no NUL: ASan catches any overread */
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, p, len);
        struct proto_route r;
        memset(&r, 0x5a, sizeof r);
        int rc = proto_route_parse(copy, len, &r);
        free(copy);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", p, rc, cases[i].rc);
        if (rc != 0)
            continue;
        assert_int_equal(r.kind, cases[i].kind);
        assert_string_equal(r.name, cases[i].name);
        assert_string_equal(r.vers, cases[i].vers);
        if (r.kind == PROTO_ROUTE_CRATE) {
            uint8_t want[PROTO_SHA256_LEN];
            assert_int_equal(proto_hex_decode(CK, 64, want, sizeof want), 0);
            assert_memory_equal(r.sha256, want, sizeof want);
        }
    }
}

static void test_raw_nul(void **state)
{
    (void)state;
    static const char p[] = "/index/se/rd/ser\0de";
    struct proto_route r;
    assert_int_equal(proto_route_parse(p, sizeof p - 1, &r), -EINVAL);
    static const char q[] = "/index/config.json\0";
    assert_int_equal(proto_route_parse(q, sizeof q - 1, &r), -EINVAL);
    /* len bounds the parse: bytes after it are not part of the path */
    static const char s[] = "/-/status/garbage";
    assert_int_equal(proto_route_parse(s, 9, &r), 0);
    assert_int_equal(r.kind, PROTO_ROUTE_STATUS);
    assert_int_equal(proto_route_parse(NULL, 0, &r), -EINVAL);
}

static void test_length_limit(void **state)
{
    (void)state;
    char *p = malloc(PROTO_PATH_MAX + 2);
    assert_non_null(p);
    /* "/-/status?" padded with query bytes to exactly PROTO_PATH_MAX: fine */
    memset(p, 'q', PROTO_PATH_MAX + 1);
    memcpy(p, "/-/status?", 10);
    struct proto_route r;
    assert_int_equal(proto_route_parse(p, PROTO_PATH_MAX, &r), 0);
    assert_int_equal(proto_route_parse(p, PROTO_PATH_MAX + 1, &r), -ENAMETOOLONG);
    /* a long path of valid-looking components */
    for (size_t i = 0; i < PROTO_PATH_MAX + 1; i += 2)
        memcpy(p + i, "/a", 2);
    assert_int_equal(proto_route_parse(p, PROTO_PATH_MAX, &r), -ENOENT);
    assert_int_equal(proto_route_parse(p, PROTO_PATH_MAX + 1, &r), -ENAMETOOLONG);
    /* a path full of escapes decodes to a third of its length */
    for (size_t i = 1; i + 3 <= PROTO_PATH_MAX; i += 3)
        memcpy(p + i, "%41", 3);
    p[0] = '/';
    assert_int_equal(proto_route_parse(p, PROTO_PATH_MAX - (PROTO_PATH_MAX - 1) % 3, &r), -ENOENT);
    /* the length check comes first, even for garbage */
    assert_int_equal(proto_route_parse("x", 100000, &r), -ENAMETOOLONG);
    free(p);
}

#define NONCE "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define NONCEU "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"

static const struct {
    const char *path;
    int rc;
    enum proto_route_kind kind;
    const char *name;
    bool nonce; /* r.nonce == bytes of NONCE */
    uint16_t port;
    uint64_t since;
    bool sha; /* r.sha256 == bytes of CK */
} peer_cases[] = {
    /* hello */
    {"/peer/1/hello?nonce=" NONCE, 0, PROTO_ROUTE_PEER_HELLO, "", true, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCEU, 0, PROTO_ROUTE_PEER_HELLO, "", true, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCE "&port=7879", 0, PROTO_ROUTE_PEER_HELLO, "", true, 7879, 0,
     false},
    {"/peer/1/hello?port=1&nonce=" NONCE, 0, PROTO_ROUTE_PEER_HELLO, "", true, 1, 0, false},
    {"/peer/1/hello?port=65535&nonce=" NONCE "&x=%zz&since=bad&", 0, PROTO_ROUTE_PEER_HELLO, "",
     true, 65535, 0, false}, /* unknown (to hello) parameters ignored, whatever they hold */
    {"/peer/1/hello?&&nonce=" NONCE "&&", 0, PROTO_ROUTE_PEER_HELLO, "", true, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCE "&port=07879", 0, PROTO_ROUTE_PEER_HELLO, "", true, 7879, 0,
     false},
    {"/peer/1/hello", -EINVAL, 0, NULL, false, 0, 0, false}, /* nonce required */
    {"/peer/1/hello?", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?port=7879", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce=", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCE "0", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCE "&nonce=" NONCE, -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce=%30" NONCE, -EINVAL, 0, NULL, false, 0, 0, false}, /* not decoded */
    {"/peer/1/hello?nonce="
     "g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?NONCE=" NONCE, -EINVAL, 0, NULL, false, 0, 0, false}, /* keys exact */
    {"/peer/1/hello?nonce=" NONCE "&port=0", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCE "&port=65536", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCE "&port=000001", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCE "&port=", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCE "&port=-1", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCE "&port=80&port=81", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello?nonce=" NONCE "&port=+80", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/hello/x?nonce=" NONCE, -ENOENT, 0, NULL, false, 0, 0, false},
    {"/peer/1/%68ello?nonce=" NONCE, 0, PROTO_ROUTE_PEER_HELLO, "", true, 0, 0, false},

    /* manifest */
    {"/peer/1/manifest", 0, PROTO_ROUTE_PEER_MANIFEST, "", false, 0, 0, false},
    {"/peer/1/manifest?", 0, PROTO_ROUTE_PEER_MANIFEST, "", false, 0, 0, false},
    {"/peer/1/manifest?since=0", 0, PROTO_ROUTE_PEER_MANIFEST, "", false, 0, 0, false},
    {"/peer/1/manifest?since=42", 0, PROTO_ROUTE_PEER_MANIFEST, "", false, 0, 42, false},
    {"/peer/1/manifest?since=18446744073709551615&port=x&nonce=y", 0, PROTO_ROUTE_PEER_MANIFEST, "",
     false, 0, UINT64_MAX, false},
    {"/peer/1/manifest?since=18446744073709551616", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/manifest?since=99999999999999999999", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/manifest?since=000000000000000000001", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/manifest?since=", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/manifest?since", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/manifest?since=1x", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/manifest?since=1&since=2", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/manifest/x", -ENOENT, 0, NULL, false, 0, 0, false},

    /* news (wait checked in test_news_wait) */
    {"/peer/1/news", 0, PROTO_ROUTE_PEER_NEWS, "", false, 0, 0, false},
    {"/peer/1/news?since=9&wait=25", 0, PROTO_ROUTE_PEER_NEWS, "", false, 0, 9, false},
    {"/peer/1/news?wait=60&since=0", 0, PROTO_ROUTE_PEER_NEWS, "", false, 0, 0, false},
    {"/peer/1/news?wait=61", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/news?wait=100", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/news?wait=", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/news?wait=1&wait=2", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/news?since=x", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/manifest?wait=x", 0, PROTO_ROUTE_PEER_MANIFEST, "", false, 0, 0, false},
    {"/peer/1/news/x", -ENOENT, 0, NULL, false, 0, 0, false},

    /* index */
    {"/peer/1/index/serde", 0, PROTO_ROUTE_PEER_INDEX, "serde", false, 0, 0, false},
    {"/peer/1/index/Serde_json-x", 0, PROTO_ROUTE_PEER_INDEX, "Serde_json-x", false, 0, 0, false},
    {"/peer/1/index/ser%64e?since=bad", 0, PROTO_ROUTE_PEER_INDEX, "serde", false, 0, 0, false},
    {"/peer/1/index/" N64, 0, PROTO_ROUTE_PEER_INDEX, N64, false, 0, 0, false},
    {"/peer/1/index/" N64 "m", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/index/ser.de", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/index/..", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/index/%2e%2e", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/index/se%2frd", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/index/serde%00", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/index", -ENOENT, 0, NULL, false, 0, 0, false},
    {"/peer/1/index/se/rd/serde", -ENOENT, 0, NULL, false, 0, 0, false},

    /* crate */
    {"/peer/1/crate/" CK, 0, PROTO_ROUTE_PEER_CRATE, "", false, 0, 0, true},
    {"/peer/1/crate/" CKU "?x", 0, PROTO_ROUTE_PEER_CRATE, "", false, 0, 0, true},
    {"/peer/1/crate/" CK "0", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/crate/abc", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/crate/../" CK, -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/crate/" CK "/x", -ENOENT, 0, NULL, false, 0, 0, false},
    {"/peer/1/crate", -ENOENT, 0, NULL, false, 0, 0, false},

    /* other versions and shapes */
    {"/peer", -ENOENT, 0, NULL, false, 0, 0, false},
    {"/peer/1", -ENOENT, 0, NULL, false, 0, 0, false},
    {"/peer/2/manifest", -ENOENT, 0, NULL, false, 0, 0, false},
    {"/peer/01/manifest", -ENOENT, 0, NULL, false, 0, 0, false},
    {"/peer/1/status", -ENOENT, 0, NULL, false, 0, 0, false},
    {"/Peer/1/manifest", -ENOENT, 0, NULL, false, 0, 0, false},
    {"/peer/1//manifest", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/../peer/1/manifest", -EINVAL, 0, NULL, false, 0, 0, false},
    {"/peer/1/manifest/", -EINVAL, 0, NULL, false, 0, 0, false},
};

static void test_news_wait(void **state)
{
    (void)state;
    struct proto_route r;
    const char *p = "/peer/1/news?since=3&wait=25";
    assert_int_equal(proto_route_parse(p, strlen(p), &r), 0);
    assert_int_equal(r.wait, 25);
    assert_true(r.since == 3);
    assert_false(r.gains);
    p = "/peer/1/news";
    assert_int_equal(proto_route_parse(p, strlen(p), &r), 0);
    assert_int_equal(r.wait, 0);
    /* gains=1: exactly "1", at most once; other routes ignore it */
    p = "/peer/1/news?since=3&wait=25&gains=1";
    assert_int_equal(proto_route_parse(p, strlen(p), &r), 0);
    assert_true(r.gains);
    assert_int_equal(r.wait, 25);
    static const char *const bad[] = {"/peer/1/news?gains=0", "/peer/1/news?gains=",
                                      "/peer/1/news?gains", "/peer/1/news?gains=11",
                                      "/peer/1/news?gains=1&gains=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(proto_route_parse(bad[i], strlen(bad[i]), &r), -EINVAL);
    p = "/peer/1/manifest?gains=x";
    assert_int_equal(proto_route_parse(p, strlen(p), &r), 0);
    assert_false(r.gains);
    /* the URL builder writes it back */
    char url[256];
    struct proto_route w = {.kind = PROTO_ROUTE_PEER_NEWS, .since = 4, .wait = 25, .gains = true};
    assert_true(proto_route_peer_url("10.0.0.1:7879", &w, url, sizeof url) > 0);
    assert_string_equal(url, "http://10.0.0.1:7879/peer/1/news?since=4&wait=25&gains=1");
    w.gains = false;
    assert_true(proto_route_peer_url("10.0.0.1:7879", &w, url, sizeof url) > 0);
    assert_string_equal(url, "http://10.0.0.1:7879/peer/1/news?since=4&wait=25");
}

static void test_peer_table(void **state)
{
    (void)state;
    uint8_t nonce[32], ck[PROTO_SHA256_LEN];
    assert_int_equal(proto_hex_decode(NONCE, 64, nonce, sizeof nonce), 0);
    assert_int_equal(proto_hex_decode(CK, 64, ck, sizeof ck), 0);
    static const uint8_t zero[32];
    for (size_t i = 0; i < sizeof peer_cases / sizeof peer_cases[0]; i++) {
        const char *p = peer_cases[i].path;
        size_t len = strlen(p);
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, p, len);
        struct proto_route r;
        memset(&r, 0x5a, sizeof r);
        int rc = proto_route_parse(copy, len, &r);
        free(copy);
        if (rc != peer_cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", p, rc, peer_cases[i].rc);
        if (rc != 0) {
            assert_int_equal(r.kind, 0); /* cleared on error */
            continue;
        }
        assert_int_equal(r.kind, peer_cases[i].kind);
        assert_string_equal(r.name, peer_cases[i].name);
        assert_string_equal(r.vers, "");
        assert_memory_equal(r.nonce, peer_cases[i].nonce ? nonce : zero, 32);
        assert_int_equal(r.port, peer_cases[i].port);
        assert_int_equal(r.since, peer_cases[i].since);
        assert_memory_equal(r.sha256, peer_cases[i].sha ? ck : zero, PROTO_SHA256_LEN);
    }
}

/* The query is bounded by len like the path, and long queries are parsed. */
static void test_peer_query_bounds(void **state)
{
    (void)state;
    static const char p[] = "/peer/1/manifest?since=12345";
    struct proto_route r;
    assert_int_equal(proto_route_parse(p, sizeof p - 1 - 3, &r), 0);
    assert_int_equal(r.since, 12);
    assert_int_equal(proto_route_parse(p, sizeof p - 1 - 5, &r), -EINVAL); /* "since=" */
    static const char h[] = "/peer/1/hello?nonce=" NONCE;
    assert_int_equal(proto_route_parse(h, sizeof h - 2, &r), -EINVAL); /* 63 digits */

    /* a query of many ignored parameters up to the length cap */
    char *q = malloc(PROTO_PATH_MAX);
    assert_non_null(q);
    size_t n = 0;
    const char *head = "/peer/1/hello?nonce=" NONCE;
    memcpy(q, head, strlen(head));
    n = strlen(head);
    while (n + 4 <= PROTO_PATH_MAX) {
        memcpy(q + n, "&a=b", 4);
        n += 4;
    }
    assert_int_equal(proto_route_parse(q, n, &r), 0);
    assert_int_equal(r.kind, PROTO_ROUTE_PEER_HELLO);
    free(q);
}

/* ---- building peer requests ------------------------------------------------ */

static struct proto_route peer_route(enum proto_route_kind kind)
{
    struct proto_route r;
    memset(&r, 0, sizeof r); /* as proto_route_parse leaves it: padding too */
    r.kind = kind;
    return r;
}

/* What the agent asks a peer for, byte for byte (the wire format). */
static void test_peer_build(void **state)
{
    (void)state;
    char out[URL_MAX];
    struct proto_route r = peer_route(PROTO_ROUTE_PEER_HELLO);
    assert_int_equal(proto_hex_decode(NONCE, 64, r.nonce, sizeof r.nonce), 0);
    assert_int_equal(proto_route_peer_path(&r, out, sizeof out), 20 + 64);
    assert_string_equal(out, "/peer/1/hello?nonce=" NONCE);
    r.port = 7879;
    assert_int_equal(proto_route_peer_path(&r, out, sizeof out), 20 + 64 + 10);
    assert_string_equal(out, "/peer/1/hello?nonce=" NONCE "&port=7879");

    r = peer_route(PROTO_ROUTE_PEER_MANIFEST);
    assert_int_equal(proto_route_peer_path(&r, out, sizeof out), 16);
    assert_string_equal(out, "/peer/1/manifest");
    r.since = UINT64_MAX;
    proto_route_peer_path(&r, out, sizeof out);
    assert_string_equal(out, "/peer/1/manifest?since=18446744073709551615");

    r = peer_route(PROTO_ROUTE_PEER_INDEX);
    snprintf(r.name, sizeof r.name, "%s", "Serde_json");
    proto_route_peer_path(&r, out, sizeof out);
    assert_string_equal(out, "/peer/1/index/Serde_json");

    r = peer_route(PROTO_ROUTE_PEER_CRATE);
    assert_int_equal(proto_hex_decode(CKU, 64, r.sha256, sizeof r.sha256), 0);
    proto_route_peer_path(&r, out, sizeof out);
    assert_string_equal(out, "/peer/1/crate/" CK); /* lower-case */

    r = peer_route(PROTO_ROUTE_PEER_NEWS);
    r.wait = 25;
    proto_route_peer_path(&r, out, sizeof out);
    assert_string_equal(out, "/peer/1/news?since=0&wait=25");
    r.since = 7;
    r.wait = 0;
    proto_route_peer_path(&r, out, sizeof out);
    assert_string_equal(out, "/peer/1/news?since=7&wait=0");

    /* URLs: http://, the address as it is, the path */
    r = peer_route(PROTO_ROUTE_PEER_MANIFEST);
    r.since = 3;
    static const char *const addrs[] = {"192.0.2.7:7879", "[2001:db8::1]:7879", "example.com:7879",
                                        "localhost:1"};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        char want[128];
        int wn = snprintf(want, sizeof want, "http://%s/peer/1/manifest?since=3", addrs[i]);
        assert_int_equal(proto_route_peer_url(addrs[i], &r, out, sizeof out), wn);
        assert_string_equal(out, want);
    }
}

/* Whatever is built parses back to the same route. */
static void test_peer_build_round_trip(void **state)
{
    (void)state;
    static const uint64_t sinces[] = {0, 1, 42, 1700000000, UINT64_MAX};
    static const uint16_t ports[] = {0, 1, 7879, 65535};
    static const char *const names[] = {"a", "serde", "Serde_JSON", "x-y_z", N64};
    for (int kind = PROTO_ROUTE_CONFIG; kind <= PROTO_ROUTE_PEER_NEWS; kind++) {
        for (size_t i = 0; i < 5; i++) {
            struct proto_route r = peer_route((enum proto_route_kind)kind);
            switch (kind) {
            case PROTO_ROUTE_PEER_HELLO:
                for (size_t k = 0; k < sizeof r.nonce; k++)
                    r.nonce[k] = (uint8_t)(k * 37 + i);
                r.port = ports[i % 4];
                break;
            case PROTO_ROUTE_PEER_MANIFEST:
                r.since = sinces[i];
                break;
            case PROTO_ROUTE_PEER_INDEX:
                snprintf(r.name, sizeof r.name, "%s", names[i]);
                break;
            case PROTO_ROUTE_PEER_CRATE:
                for (size_t k = 0; k < sizeof r.sha256; k++)
                    r.sha256[k] = (uint8_t)(255 - k * 7 - i);
                break;
            case PROTO_ROUTE_PEER_NEWS:
                r.since = sinces[i];
                r.wait = (unsigned)(i * 15);
                break;
            default:
                break;
            }
            char url[URL_MAX];
            int n = proto_route_peer_url("192.0.2.7:7879", &r, url, sizeof url);
            bool peer = kind == PROTO_ROUTE_PEER_HELLO || kind == PROTO_ROUTE_PEER_MANIFEST ||
                        kind == PROTO_ROUTE_PEER_INDEX || kind == PROTO_ROUTE_PEER_CRATE ||
                        kind == PROTO_ROUTE_PEER_NEWS;
            if (!peer) {
                assert_int_equal(n, -EINVAL); /* only peer requests are built */
                assert_string_equal(url, "");
                continue;
            }
            assert_true(n > 0);
            assert_int_equal(strlen(url), n);
            assert_memory_equal(url, "http://192.0.2.7:7879/", 22);
            const char *path = url + 21;
            struct proto_route b;
            memset(&b, 0x5a, sizeof b);
            if (proto_route_parse(path, strlen(path), &b) != 0 || memcmp(&b, &r, sizeof b) != 0)
                fail_msg("kind %d: %s does not parse back", kind, url);
        }
    }
}

static void test_peer_build_errors(void **state)
{
    (void)state;
    char out[URL_MAX];
    struct proto_route r = peer_route(PROTO_ROUTE_PEER_INDEX);
    snprintf(r.name, sizeof r.name, "%s", "-bad");
    assert_int_equal(proto_route_peer_path(&r, out, sizeof out), -EINVAL);
    assert_string_equal(out, "");
    snprintf(r.name, sizeof r.name, "%s", "se/../rde");
    assert_int_equal(proto_route_peer_path(&r, out, sizeof out), -EINVAL);
    r.name[0] = '\0';
    assert_int_equal(proto_route_peer_path(&r, out, sizeof out), -EINVAL);
    r = peer_route(PROTO_ROUTE_PEER_NEWS);
    r.wait = PROTO_NEWS_WAIT_MAX + 1;
    assert_int_equal(proto_route_peer_path(&r, out, sizeof out), -EINVAL);
    r = peer_route(PROTO_ROUTE_CRATE);
    assert_int_equal(proto_route_peer_path(&r, out, sizeof out), -EINVAL);
    r = peer_route((enum proto_route_kind)0);
    assert_int_equal(proto_route_peer_path(&r, out, sizeof out), -EINVAL);

    /* the buffer: exactly the length and a NUL, or nothing */
    r = peer_route(PROTO_ROUTE_PEER_MANIFEST);
    assert_int_equal(proto_route_peer_path(&r, out, 17), 16);
    assert_int_equal(proto_route_peer_path(&r, out, 16), -ENAMETOOLONG);
    assert_string_equal(out, "");
    assert_int_equal(proto_route_peer_path(&r, NULL, 0), -ENAMETOOLONG);
    assert_int_equal(proto_route_peer_url("h:1", &r, out, 7 + 3 + 16 + 1), 7 + 3 + 16);
    assert_int_equal(proto_route_peer_url("h:1", &r, out, 7 + 3 + 16), -ENAMETOOLONG);
    assert_string_equal(out, "");
    assert_int_equal(proto_route_peer_url("h:1", &r, out, 5), -ENAMETOOLONG);
    assert_string_equal(out, "");
    assert_int_equal(proto_route_peer_url("h:1", &r, NULL, 0), -ENAMETOOLONG);

    /* the address: a peer host, nothing that would move the request elsewhere */
    static const char *const bad[] = {"user@h:80", "h/x:80", "h:80/x", "h",
                                      "h:0",       "h :80",  "",       "h:80?x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(out, 'x', sizeof out);
        if (proto_route_peer_url(bad[i], &r, out, sizeof out) != -EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_string_equal(out, "");
    }
    assert_int_equal(proto_route_peer_url(NULL, &r, out, sizeof out), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_raw_nul),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_peer_table),
        cmocka_unit_test(test_news_wait),
        cmocka_unit_test(test_peer_query_bounds),
        cmocka_unit_test(test_peer_build),
        cmocka_unit_test(test_peer_build_round_trip),
        cmocka_unit_test(test_peer_build_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
