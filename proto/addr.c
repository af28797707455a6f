/* proto/addr.c — the host:port forms of proto/addr.h. Pure: no I/O, no name
 * resolution (a host name is only ever checked and passed on as text).
 */
#include "proto/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* 1 to 5 decimal digits, 1..65535. */
static int port_parse(const char *s, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5)
        return -EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* An IPv4 (family 4) or IPv6 (family 6) literal of hl bytes, without brackets. */
static int ip_parse(const char *h, size_t hl, uint8_t family, uint8_t ip[16])
{
    char host[PROTO_PEER_ADDR_TEXT_MAX];
    if (hl == 0 || hl >= sizeof host)
        return -EINVAL;
    /* only the literal's own alphabet: no NUL (inet_pton would stop there),
     * no zone id, nothing a URL could carry */
    for (size_t i = 0; i < hl; i++) {
        char c = h[i];
        bool ok = (c >= '0' && c <= '9') || c == '.' ||
                  (family == 6 && (c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        if (!ok)
            return -EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    return inet_pton(family == 4 ? AF_INET : AF_INET6, host, ip) == 1 ? 0 : -EINVAL;
}

int proto_peer_addr_parse(const char *s, size_t len, struct proto_peer_addr *out)
{
    memset(out, 0, sizeof *out);
    if (s == NULL || len < 3 || len >= PROTO_PEER_ADDR_TEXT_MAX)
        return -EINVAL;
    const char *host, *port;
    size_t hl;
    struct proto_peer_addr a;
    memset(&a, 0, sizeof a);
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL || (size_t)(rb - s) + 2 > len || rb[1] != ':')
            return -EINVAL;
        host = s + 1;
        hl = (size_t)(rb - host);
        port = rb + 2;
        a.family = 6;
    } else {
        const char *c = memchr(s, ':', len);
        if (c == NULL)
            return -EINVAL;
        host = s;
        hl = (size_t)(c - s);
        port = c + 1;
        a.family = 4;
    }
    if (ip_parse(host, hl, a.family, a.ip) < 0 ||
        port_parse(port, len - (size_t)(port - s), &a.port) < 0)
        return -EINVAL;
    *out = a;
    return 0;
}

int proto_peer_addr_join(const char *ip, uint16_t port, char out[PROTO_PEER_ADDR_TEXT_MAX])
{
    struct proto_peer_addr a;
    memset(&a, 0, sizeof a);
    out[0] = '\0';
    if (ip == NULL || port == 0)
        return -EINVAL;
    a.family = strchr(ip, ':') ? 6 : 4;
    a.port = port;
    if (ip_parse(ip, strlen(ip), a.family, a.ip) < 0)
        return -EINVAL;
    return proto_peer_addr_format(&a, out);
}

int proto_peer_addr_format(const struct proto_peer_addr *a, char out[PROTO_PEER_ADDR_TEXT_MAX])
{
    char host[INET6_ADDRSTRLEN];
    out[0] = '\0';
    if ((a->family != 4 && a->family != 6) ||
        inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->ip, host, sizeof host) == NULL)
        return -EINVAL;
    int n = snprintf(out, PROTO_PEER_ADDR_TEXT_MAX, a->family == 4 ? "%s:%u" : "[%s]:%u", host,
                     (unsigned)a->port);
    return n < 0 || n >= PROTO_PEER_ADDR_TEXT_MAX ? -EINVAL : n;
}

bool proto_peer_addr_eq(const struct proto_peer_addr *a, const struct proto_peer_addr *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

bool proto_peer_addr_valid(const struct proto_peer_addr *a)
{
    return (a->family == 4 || a->family == 6) && a->port != 0;
}

int proto_peer_addr_to_sockaddr(const struct proto_peer_addr *a, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (!proto_peer_addr_valid(a))
        return -EINVAL;
    if (a->family == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a->port);
        memcpy(&sin->sin_addr, a->ip, 4);
        return (int)sizeof *sin;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a->port);
    memcpy(&sin6->sin6_addr, a->ip, 16);
    return (int)sizeof *sin6;
}

int proto_peer_addr_from_sockaddr(const struct sockaddr *sa, struct proto_peer_addr *out)
{
    memset(out, 0, sizeof *out);
    if (sa == NULL)
        return -EINVAL;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        out->family = 4;
        memcpy(out->ip, &sin->sin_addr, 4);
        out->port = ntohs(sin->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        out->family = 6;
        memcpy(out->ip, &sin6->sin6_addr, 16);
        out->port = ntohs(sin6->sin6_port);
    } else {
        return -EINVAL;
    }
    return 0;
}

int proto_host_port_parse(const char *s, size_t len, struct proto_host_port *out)
{
    if (s == NULL || len < 3 || len > PROTO_PEER_ADDR_MAX)
        return -EINVAL;
    size_t colon = len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return -EINVAL;
        if (c == ':')
            colon = i;
    }
    uint16_t port;
    if (colon == 0 || colon == len || port_parse(s + colon + 1, len - colon - 1, &port) < 0)
        return -EINVAL;
    if (out != NULL)
        *out = (struct proto_host_port){s, colon, port};
    return 0;
}

int proto_peer_host_parse(const char *s, size_t len, struct proto_host_port *out)
{
    struct proto_host_port hp;
    if (proto_host_port_parse(s, len, &hp) < 0)
        return -EINVAL;
    for (size_t i = 0; i < hp.host_len; i++)
        if (strchr("/@?#\\", hp.host[i]) != NULL) /* would end or redirect the URL's authority */
            return -EINVAL;
    if (out != NULL)
        *out = hp;
    return 0;
}
