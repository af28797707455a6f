/* proto/route.h — the Cargo-facing URL space of an agent.
 *
 *   /index/config.json                      -> PROTO_ROUTE_CONFIG
 *   /index/<sparse path>/<name>              -> PROTO_ROUTE_INDEX (path must match name)
 *   /crates/<name>/<version>/<sha256 hex>    -> PROTO_ROUTE_CRATE
 *   /-/status                                -> PROTO_ROUTE_STATUS
 *   /-/why/<name>                            -> PROTO_ROUTE_WHY
 *   /                                        -> PROTO_ROUTE_PAGE (the status page)
 *   /metrics                                 -> PROTO_ROUTE_METRICS (Prometheus)
 * and on the peer side (see docs/protocol.md):
 *   /peer/1/hello?nonce=<64 hex>[&port=N]    -> PROTO_ROUTE_PEER_HELLO
 *   /peer/1/manifest[?since=N]               -> PROTO_ROUTE_PEER_MANIFEST
 *   /peer/1/index/<name>                     -> PROTO_ROUTE_PEER_INDEX
 *   /peer/1/crate/<sha256 hex>               -> PROTO_ROUTE_PEER_CRATE
 *   /peer/1/news[?since=G][&wait=S]          -> PROTO_ROUTE_PEER_NEWS
 * (the query of the peer routes is parsed: unknown parameters are ignored,
 * a malformed value of a known one is -EINVAL; other routes ignore queries)
 *
 * The request path is percent-decoded once, then every component is validated
 * strictly (names, versions, 64-hex digests). Anything that decodes to '/',
 * '..', NUL, or a character outside the component's alphabet is rejected, so no
 * request can name a file outside the store. A query string ('?...') is ignored.
 *
 * The agent's own requests to a peer are built here too (proto_route_peer_url),
 * so that what one agent asks for is what the other parses.
 */
#ifndef CRATECAST_PROTO_ROUTE_H
#define CRATECAST_PROTO_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/name.h"
#include "proto/sha256.h"

#define PROTO_PATH_MAX 1024

enum proto_route_kind {
    PROTO_ROUTE_CONFIG = 1,
    PROTO_ROUTE_INDEX,
    PROTO_ROUTE_CRATE,
    PROTO_ROUTE_STATUS,
    PROTO_ROUTE_PEER_HELLO,
    PROTO_ROUTE_PEER_MANIFEST,
    PROTO_ROUTE_PEER_INDEX,
    PROTO_ROUTE_PEER_CRATE,
    PROTO_ROUTE_WHY,
    PROTO_ROUTE_PEER_NEWS,
    PROTO_ROUTE_PAGE,
    PROTO_ROUTE_METRICS,
};

#define PROTO_NEWS_WAIT_MAX 60 /* seconds a news long poll may be held */

struct proto_route {
    enum proto_route_kind kind;
    char name[PROTO_NAME_MAX + 1]; /* as requested (case preserved) */
    char vers[PROTO_VERS_MAX + 1];
    uint8_t sha256[PROTO_SHA256_LEN];
    /* peer routes */
    uint8_t nonce[32]; /* hello: required */
    uint64_t since;    /* manifest, news: 0 when absent */
    unsigned wait;     /* news: seconds to hold the answer, 0..PROTO_NEWS_WAIT_MAX */
    bool gains;        /* news: "gains=1", the answer may carry the holdings gained */
    uint16_t port;     /* hello: the requester's own peer port, 0 when absent */
};

/* 0; -EINVAL for a malformed path (bad escape, bad name/version/digest,
 * traversal, index path that does not match its name) -> HTTP 400;
 * -ENOENT for a well-formed path outside the routes -> 404;
 * -ENAMETOOLONG over PROTO_PATH_MAX -> 414. */
int proto_route_parse(const char *path, size_t len, struct proto_route *out);

/* The path of a peer request, which proto_route_parse reads back into the same
 * fields: r->kind is one of the PROTO_ROUTE_PEER_* kinds, and what is written is
 *   HELLO     nonce (lower-case hex), port (left out when 0)
 *   MANIFEST  since (left out when 0)
 *   INDEX     name
 *   CRATE     sha256 (lower-case hex)
 *   NEWS      since and wait, both always; gains=1 when r->gains
 * Returns the length (without the NUL); -EINVAL for another kind, a name that
 * is not a crate name or a wait over PROTO_NEWS_WAIT_MAX; -ENAMETOOLONG when
 * it does not fit in outsz. On error out is "" (when outsz > 0). */
int proto_route_peer_path(const struct proto_route *r, char *out, size_t outsz);
/* "http://" addr and that path: the URL of a peer request to addr, a peer's
 * "host:port" as proto_peer_host_parse accepts it (else -EINVAL). Returns as
 * proto_route_peer_path. */
int proto_route_peer_url(const char *addr, const struct proto_route *r, char *out, size_t outsz);

#endif
