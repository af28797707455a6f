/* tests/fuzz/fuzz-addr.c — libFuzzer target for proto/addr.h. The input is
 * taken as an address in each of its forms:
 *  - proto_peer_addr_parse: whatever parses is an IP literal with a port
 *    1..65535 whose canonical form parses back to the same value, survives a
 *    round trip through a sockaddr, and is also a valid host:port;
 *  - proto_host_port_parse / proto_peer_host_parse: whatever parses is
 *    printable ASCII split at its last ':' with a port 1..65535, and a peer
 *    host is exactly that without '/', '@', '?', '#' or '\\' in the host;
 *  - proto_peer_addr_join (the input as an IP literal): the result parses.
 * Nothing is read past the input (ASan). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_peer_addr(const char *s, size_t size)
{
    struct proto_peer_addr a, b;
    if (proto_peer_addr_parse(s, size, &a) != 0) {
        if (a.family != 0)
            abort();
        return;
    }
    char text[PROTO_PEER_ADDR_TEXT_MAX];
    int n = proto_peer_addr_format(&a, text);
    if ((a.family != 4 && a.family != 6) || a.port == 0 || n <= 0 ||
        proto_peer_addr_parse(text, (size_t)n, &b) != 0 || !proto_peer_addr_eq(&a, &b))
        abort();
    if (memchr(s, '/', size) || memchr(s, '@', size) || memchr(s, '?', size))
        abort(); /* no URL syntax ever passes */
    struct sockaddr_storage ss;
    if (proto_peer_addr_to_sockaddr(&a, &ss) <= 0 ||
        proto_peer_addr_from_sockaddr((struct sockaddr *)&ss, &b) != 0 ||
        !proto_peer_addr_eq(&a, &b))
        abort();
    struct proto_host_port hp;
    if (proto_peer_host_parse(s, size, &hp) != 0 || hp.port != a.port)
        abort(); /* an IP literal is a peer host too */
    /* the canonical form again, from the literal without brackets */
    char ip[PROTO_PEER_ADDR_TEXT_MAX], again[PROTO_PEER_ADDR_TEXT_MAX];
    size_t brackets = a.family == 6 ? 1 : 0;
    size_t il = (size_t)(strrchr(text, ':') - text) - 2 * brackets;
    memcpy(ip, text + brackets, il);
    ip[il] = '\0';
    if (proto_peer_addr_join(ip, a.port, again) != n || strcmp(again, text) != 0)
        abort();
}

static void check_host_port(const char *s, size_t size)
{
    struct proto_host_port hp;
    int rc = proto_host_port_parse(s, size, &hp);
    int prc = proto_peer_host_parse(s, size, NULL);
    if (rc != 0) {
        if (prc == 0)
            abort();
        return;
    }
    if (size < 3 || size > PROTO_PEER_ADDR_MAX || hp.host != s || hp.host_len == 0 ||
        hp.host_len + 2 > size || s[hp.host_len] != ':' || hp.port == 0)
        abort();
    unsigned port = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            abort();
        if (i > hp.host_len) {
            if (c < '0' || c > '9')
                abort();
            port = port * 10 + (c - '0');
        }
    }
    if (port != hp.port)
        abort();
    bool url_safe = true;
    for (size_t i = 0; i < hp.host_len; i++)
        if (strchr("/@?#\\", s[i]) != NULL)
            url_safe = false;
    if ((prc == 0) != url_safe)
        abort();
}

static void check_join(const char *s, size_t size)
{
    char out[PROTO_PEER_ADDR_TEXT_MAX];
    struct proto_peer_addr a;
    int n = proto_peer_addr_join(s, 7879, out); /* s is NUL-terminated: up to its first NUL */
    if (n < 0)
        return;
    if (proto_peer_addr_parse(out, (size_t)n, &a) != 0 || a.port != 7879)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    if (size)
        memcpy(s, data, size);
    /* the parsers get the exact length, and the byte after it is never read
     * (ASan cannot see that one: it is allocated for join's NUL) */
    s[size] = '\0';
    char *exact = malloc(size ? size : 1);
    if (exact == NULL) {
        free(s);
        return 0;
    }
    exact[0] = '\0';
    if (size)
        memcpy(exact, data, size);
    check_peer_addr(exact, size);
    check_host_port(exact, size);
    free(exact);
    check_join(s, size);
    free(s);
    return 0;
}
