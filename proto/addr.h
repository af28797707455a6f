/* proto/addr.h — host:port, parsed and written in one place (pure; no I/O).
 *
 * Two kinds of address, by where they come from:
 *
 *  - A peer address as a value (struct proto_peer_addr): an IP literal and a
 *    port. Text forms "a.b.c.d:port" and "[v6]:port", written one canonical
 *    way (inet_ntop's). What the network says (news, mDNS answers, the TCP
 *    source of a hello, a manifest's pex entries) becomes a peer only in this
 *    form, and the addresses the agent listens on are in it too.
 *  - "host:port" text whose host may also be a name (struct proto_host_port):
 *    the user's own --peer (resolved by the HTTP client), and the pex strings
 *    of a manifest as the wire format allows them.
 */
#ifndef CRATECAST_PROTO_ADDR_H
#define CRATECAST_PROTO_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#define PROTO_PEER_ADDR_MAX 255u    /* "host:port" */
#define PROTO_PEER_ADDR_TEXT_MAX 48 /* "[" 39 "]:" 5 NUL */

/* ---- an IP literal and a port ------------------------------------------------ */

struct proto_peer_addr {
    uint8_t family; /* 4 or 6 */
    uint8_t ip[16]; /* 4 bytes used for IPv4 */
    uint16_t port;  /* 1..65535 */
};

/* "a.b.c.d:port" or "[v6]:port". 0 or -EINVAL (not an IP literal with a port
 * 1..65535; nothing else after; no zone id, no host name). On error *out is zeroed. */
int proto_peer_addr_parse(const char *s, size_t len, struct proto_peer_addr *out);
/* An IP literal as a resolver or mDNS writes it (IPv6 without brackets) and a
 * port 1..65535, in the canonical text form; returns its length, or -EINVAL. */
int proto_peer_addr_join(const char *ip, uint16_t port, char out[PROTO_PEER_ADDR_TEXT_MAX]);
/* The canonical text form; returns its length, or -EINVAL for a family other
 * than 4 or 6. out must hold PROTO_PEER_ADDR_TEXT_MAX. */
int proto_peer_addr_format(const struct proto_peer_addr *a, char out[PROTO_PEER_ADDR_TEXT_MAX]);
bool proto_peer_addr_eq(const struct proto_peer_addr *a, const struct proto_peer_addr *b);
/* Family 4 or 6 and a port other than 0. */
bool proto_peer_addr_valid(const struct proto_peer_addr *a);

/* To a sockaddr_in/sockaddr_in6 (the rest of *out zeroed); returns the size of
 * the one filled, or -EINVAL when a is not valid. */
int proto_peer_addr_to_sockaddr(const struct proto_peer_addr *a, struct sockaddr_storage *out);
/* From an AF_INET/AF_INET6 sockaddr, its port included (may be 0). 0 or
 * -EINVAL (another family; *out zeroed). */
int proto_peer_addr_from_sockaddr(const struct sockaddr *sa, struct proto_peer_addr *out);

/* ---- host:port with a host name ------------------------------------------------ */

struct proto_host_port {
    const char *host; /* into the parsed text, not NUL-terminated */
    size_t host_len;
    uint16_t port;
};

/* 3..PROTO_PEER_ADDR_MAX bytes of printable ASCII without spaces (0x21..0x7e);
 * after the last ':' a decimal port 1..65535 of 1 to 5 digits, before it a
 * non-empty host, taken as it is ("[::1]" keeps its brackets). The rule for a
 * pex string of a manifest. 0 or -EINVAL; out may be NULL. */
int proto_host_port_parse(const char *s, size_t len, struct proto_host_port *out);
/* The address of a peer the agent sends requests to ("http://" addr ...): the
 * user's --peer, or any address in its peer table. proto_host_port_parse, and
 * none of '/', '@', '?', '#', '\\' in the host (each would end the URL's
 * authority early or move it elsewhere). 0 or -EINVAL; out may be NULL. */
int proto_peer_host_parse(const char *s, size_t len, struct proto_host_port *out);

#endif
