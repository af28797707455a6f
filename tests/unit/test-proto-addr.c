/* tests/unit/test-proto-addr.c — host:port in proto/addr.h: peer addresses as
 * values (parse, canonical form, equality, sockaddr both ways, an IP literal
 * joined with a port), and host:port text whose host may be a name (the pex
 * rule and the --peer rule). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "proto/addr.h"

/* ---- peer addresses as values --------------------------------------------- */

static const struct {
    const char *s;
    int rc;
    const char *canon;
} addr_cases[] = {
    {"192.0.2.7:7879", 0, "192.0.2.7:7879"},
    {"127.0.0.1:1", 0, "127.0.0.1:1"},
    {"10.77.0.2:65535", 0, "10.77.0.2:65535"},
    {"[::1]:7879", 0, "[::1]:7879"},
    {"[2001:DB8:0:0::1]:80", 0, "[2001:db8::1]:80"},
    {"[::ffff:192.0.2.1]:80", 0, "[::ffff:192.0.2.1]:80"},
    {"192.0.2.7:0", -EINVAL, NULL},
    {"192.0.2.7:65536", -EINVAL, NULL},
    {"192.0.2.7:123456", -EINVAL, NULL},
    {"192.0.2.7:", -EINVAL, NULL},
    {"192.0.2.7", -EINVAL, NULL},
    {":7879", -EINVAL, NULL},
    {"example.com:7879", -EINVAL, NULL}, /* a host name: never from the network */
    {"localhost:7879", -EINVAL, NULL},
    {"192.0.2.7:7879/x", -EINVAL, NULL},
    {"192.0.2.7:78 9", -EINVAL, NULL},
    {"192.0.2.7:+79", -EINVAL, NULL},
    {"1.2.3:80", -EINVAL, NULL},
    {"1.2.3.4.5:80", -EINVAL, NULL},
    {"01.2.3.4:80", -EINVAL, NULL},
    {"[::1]7879", -EINVAL, NULL},
    {"[::1:7879", -EINVAL, NULL},
    {"::1:7879", -EINVAL, NULL},
    {"[fe80::1%eth0]:80", -EINVAL, NULL},
    {"[]:80", -EINVAL, NULL},
    {"127.0.0.1:7879?x=:1", -EINVAL, NULL},
    {"127.0.0.1:80@evil", -EINVAL, NULL},
};

static void test_peer_addr(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof addr_cases / sizeof addr_cases[0]; i++) {
        struct proto_peer_addr a;
        int rc = proto_peer_addr_parse(addr_cases[i].s, strlen(addr_cases[i].s), &a);
        if (rc != addr_cases[i].rc)
            fail_msg("%s: %d, expected %d", addr_cases[i].s, rc, addr_cases[i].rc);
        if (rc != 0) {
            assert_int_equal(a.family, 0);
            continue;
        }
        char out[PROTO_PEER_ADDR_TEXT_MAX];
        int n = proto_peer_addr_format(&a, out);
        assert_int_equal(n, (int)strlen(addr_cases[i].canon));
        assert_string_equal(out, addr_cases[i].canon);
        struct proto_peer_addr b;
        assert_int_equal(proto_peer_addr_parse(out, (size_t)n, &b), 0);
        assert_true(proto_peer_addr_eq(&a, &b));
    }
    struct proto_peer_addr a;
    char long_in[100];
    memset(long_in, '1', sizeof long_in);
    assert_int_equal(proto_peer_addr_parse(long_in, sizeof long_in, &a), -EINVAL);
    assert_int_equal(proto_peer_addr_parse(NULL, 0, &a), -EINVAL);
    /* the length is honoured: "1.2.3.4:80" inside a longer buffer */
    assert_int_equal(proto_peer_addr_parse("1.2.3.4:8080", 10, &a), 0);
    assert_int_equal(a.port, 80);
    /* a NUL inside the literal (inet_pton would stop at it): found by fuzz-addr */
    static const char nul6[] = "[::\0/x]:80";
    assert_int_equal(proto_peer_addr_parse(nul6, sizeof nul6 - 1, &a), -EINVAL);
    static const char nul4[] = "1.2.3.4\0x:80";
    assert_int_equal(proto_peer_addr_parse(nul4, sizeof nul4 - 1, &a), -EINVAL);
    a.family = 9;
    char out[PROTO_PEER_ADDR_TEXT_MAX];
    assert_int_equal(proto_peer_addr_format(&a, out), -EINVAL);
}

static void test_peer_addr_join(void **state)
{
    (void)state;
    static const struct {
        const char *ip;
        uint16_t port;
        int rc;
        const char *text;
    } cases[] = {
        {"192.0.2.7", 7879, 0, "192.0.2.7:7879"},
        {"2001:DB8:0:0::1", 80, 0, "[2001:db8::1]:80"}, /* written the canonical way */
        {"::1", 7879, 0, "[::1]:7879"},
        {"::ffff:192.0.2.1", 1, 0, "[::ffff:192.0.2.1]:1"},
        {"192.0.2.7", 0, -EINVAL, ""},
        {"[::1]", 80, -EINVAL, ""}, /* brackets are the text form's, not the literal's */
        {"fe80::1%eth0", 80, -EINVAL, ""},
        {"example.com", 80, -EINVAL, ""},
        {"1.2.3", 80, -EINVAL, ""},
        {"", 80, -EINVAL, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[PROTO_PEER_ADDR_TEXT_MAX];
        int rc = proto_peer_addr_join(cases[i].ip, cases[i].port, out);
        if (cases[i].rc == 0 && rc != (int)strlen(cases[i].text))
            fail_msg("%s %u: %d", cases[i].ip, cases[i].port, rc);
        if (cases[i].rc != 0 && rc != cases[i].rc)
            fail_msg("%s %u: %d, expected %d", cases[i].ip, cases[i].port, rc, cases[i].rc);
        assert_string_equal(out, cases[i].text);
    }
    char out[PROTO_PEER_ADDR_TEXT_MAX];
    assert_int_equal(proto_peer_addr_join(NULL, 80, out), -EINVAL);
    char long_ip[100];
    memset(long_ip, '1', sizeof long_ip - 1);
    long_ip[sizeof long_ip - 1] = '\0';
    assert_int_equal(proto_peer_addr_join(long_ip, 80, out), -EINVAL);
}

static void test_peer_addr_sockaddr(void **state)
{
    (void)state;
    struct proto_peer_addr a, b;
    struct sockaddr_storage ss;

    assert_int_equal(proto_peer_addr_parse("192.0.2.7:7879", 14, &a), 0);
    assert_int_equal(proto_peer_addr_to_sockaddr(&a, &ss), (int)sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 7879);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000207u);
    assert_int_equal(proto_peer_addr_from_sockaddr((const struct sockaddr *)&ss, &b), 0);
    assert_true(proto_peer_addr_eq(&a, &b));

    assert_int_equal(proto_peer_addr_parse("[2001:db8::1]:80", 16, &a), 0);
    assert_int_equal(proto_peer_addr_to_sockaddr(&a, &ss), (int)sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 80);
    assert_int_equal(sin6->sin6_scope_id, 0);
    assert_int_equal(sin6->sin6_addr.s6_addr[0], 0x20);
    assert_int_equal(sin6->sin6_addr.s6_addr[15], 0x01);
    assert_int_equal(proto_peer_addr_from_sockaddr((const struct sockaddr *)&ss, &b), 0);
    assert_true(proto_peer_addr_eq(&a, &b));

    /* a TCP source as getpeername gives it: the port comes along, 0 included */
    struct sockaddr_in src;
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000001u);
    assert_int_equal(proto_peer_addr_from_sockaddr((const struct sockaddr *)&src, &b), 0);
    assert_int_equal(b.family, 4);
    assert_int_equal(b.port, 0);
    assert_false(proto_peer_addr_valid(&b));
    assert_int_equal(proto_peer_addr_to_sockaddr(&b, &ss), -EINVAL);
    b.port = 7879;
    assert_true(proto_peer_addr_valid(&b));
    char text[PROTO_PEER_ADDR_TEXT_MAX];
    assert_int_equal(proto_peer_addr_format(&b, text), 14);
    assert_string_equal(text, "127.0.0.1:7879");

    struct sockaddr_storage other;
    memset(&other, 0, sizeof other);
    other.ss_family = AF_UNIX;
    b.family = 4;
    assert_int_equal(proto_peer_addr_from_sockaddr((const struct sockaddr *)&other, &b), -EINVAL);
    assert_int_equal(b.family, 0);
    assert_int_equal(proto_peer_addr_from_sockaddr(NULL, &b), -EINVAL);
    a.family = 5;
    assert_int_equal(proto_peer_addr_to_sockaddr(&a, &ss), -EINVAL);
}

/* ---- host:port with a host name -------------------------------------------- */

static const struct {
    const char *s;
    int rc;      /* proto_host_port_parse */
    int peer_rc; /* proto_peer_host_parse */
    const char *host;
    unsigned port;
} hp_cases[] = {
    {"example.com:7879", 0, 0, "example.com", 7879},
    {"localhost:1", 0, 0, "localhost", 1},
    {"192.0.2.7:65535", 0, 0, "192.0.2.7", 65535},
    {"[::1]:7879", 0, 0, "[::1]", 7879}, /* split at the last ':', brackets kept */
    {"::1:7879", 0, 0, "::1", 7879},
    {"h:1", 0, 0, "h", 1},
    {"a/b:80", 0, -EINVAL, NULL, 0}, /* a pex string may say it; a --peer may not */
    {"user@host:80", 0, -EINVAL, NULL, 0},
    {"a#b:7879", 0, -EINVAL, NULL, 0}, /* would ask host a on port 80 */
    {"a?x=:80", 0, -EINVAL, NULL, 0},
    {"a\\b:80", 0, -EINVAL, NULL, 0},
    {"host:80/x", -EINVAL, -EINVAL, NULL, 0},
    {"host:0", -EINVAL, -EINVAL, NULL, 0},
    {"host:65536", -EINVAL, -EINVAL, NULL, 0},
    {"host:000080", -EINVAL, -EINVAL, NULL, 0}, /* at most 5 digits */
    {"host:00080", 0, 0, "host", 80},
    {"host:", -EINVAL, -EINVAL, NULL, 0},
    {":80", -EINVAL, -EINVAL, NULL, 0},
    {"host", -EINVAL, -EINVAL, NULL, 0},
    {"ho st:80", -EINVAL, -EINVAL, NULL, 0},
    {"host:+80", -EINVAL, -EINVAL, NULL, 0},
    {"h\x7f:80", -EINVAL, -EINVAL, NULL, 0},
    {"h\xc3\xa9:80", -EINVAL, -EINVAL, NULL, 0},
    {"h:", -EINVAL, -EINVAL, NULL, 0},
};

static void test_host_port(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof hp_cases / sizeof hp_cases[0]; i++) {
        const char *s = hp_cases[i].s;
        struct proto_host_port hp;
        int rc = proto_host_port_parse(s, strlen(s), &hp);
        if (rc != hp_cases[i].rc)
            fail_msg("%s: %d, expected %d", s, rc, hp_cases[i].rc);
        assert_int_equal(proto_host_port_parse(s, strlen(s), NULL), rc);
        int prc = proto_peer_host_parse(s, strlen(s), &hp);
        if (prc != hp_cases[i].peer_rc)
            fail_msg("%s (peer): %d, expected %d", s, prc, hp_cases[i].peer_rc);
        if (prc != 0)
            continue;
        assert_ptr_equal(hp.host, s);
        assert_int_equal(hp.host_len, strlen(hp_cases[i].host));
        assert_memory_equal(hp.host, hp_cases[i].host, hp.host_len);
        assert_int_equal(hp.port, hp_cases[i].port);
    }
    /* lengths: 3..255, and the length given is honoured */
    char max[PROTO_PEER_ADDR_MAX + 2];
    memset(max, 'h', sizeof max);
    memcpy(max + PROTO_PEER_ADDR_MAX - 3, ":80", 3);
    assert_int_equal(proto_host_port_parse(max, PROTO_PEER_ADDR_MAX, NULL), 0);
    memcpy(max + PROTO_PEER_ADDR_MAX - 2, ":80", 3);
    assert_int_equal(proto_host_port_parse(max, PROTO_PEER_ADDR_MAX + 1, NULL), -EINVAL);
    assert_int_equal(proto_host_port_parse("a:80x", 4, NULL), 0);
    static const char nul[] = "a\0b:80";
    assert_int_equal(proto_host_port_parse(nul, sizeof nul - 1, NULL), -EINVAL);
    assert_int_equal(proto_host_port_parse(NULL, 0, NULL), -EINVAL);
    assert_int_equal(proto_peer_host_parse(NULL, 0, NULL), -EINVAL);
}

/* Every peer address value is also a host:port and a peer host. */
static void test_peer_addr_is_host_port(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof addr_cases / sizeof addr_cases[0]; i++) {
        if (addr_cases[i].rc != 0)
            continue;
        struct proto_peer_addr a;
        struct proto_host_port hp;
        const char *s = addr_cases[i].s;
        assert_int_equal(proto_peer_addr_parse(s, strlen(s), &a), 0);
        assert_int_equal(proto_peer_host_parse(s, strlen(s), &hp), 0);
        assert_int_equal(hp.port, a.port);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_addr),
        cmocka_unit_test(test_peer_addr_join),
        cmocka_unit_test(test_peer_addr_sockaddr),
        cmocka_unit_test(test_host_port),
        cmocka_unit_test(test_peer_addr_is_host_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
