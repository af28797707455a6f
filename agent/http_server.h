/* agent/http_server.h — one h2o HTTP/1.1 server on the agent's libuv loop.
 *
 * The agent runs two: the Cargo side (registry.c) and the peer side
 * (peerapi.c). Each has its own h2o configuration, context and listener, so a
 * route of one can never be reached through the other's port.
 * Ownership: embedded in struct agent; used on the loop thread only.
 */
#ifndef CRATECAST_AGENT_HTTP_SERVER_H
#define CRATECAST_AGENT_HTTP_SERVER_H

#include <h2o.h>
#include <stdbool.h>
#include <uv.h>

#define AGENT_REQUEST_HEADERS_MAX (16u << 10) /* Cargo sends a few hundred bytes */

struct agent_server {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    uv_tcp_t listener;
    bool started; /* config and context initialised */
    bool listening;
    unsigned max_conns; /* 0 = no cap */
    unsigned conns;     /* open now */
    uint64_t refused;   /* connections closed at once because of the cap */
};

struct agent_server_limits {
    unsigned max_conns; /* connections open at once; more are closed at once (0 = no cap) */
    bool http2;         /* offer HTTP/2 over cleartext (h2c upgrade) */
};

typedef int (*agent_server_handler)(h2o_handler_t *self, h2o_req_t *req);

/* Bind and listen on "ADDR:PORT", or, with fd >= 0, listen on that socket
 * handed over already bound (socket activation: listen_fds.h; listen is then
 * ignored). 0 or a negative errno (uv codes pass through). */
int agent_server_start(struct agent_server *srv, uv_loop_t *loop, const char *listen, int fd,
                       const struct agent_server_limits *limits, agent_server_handler on_req);
/* The address actually listened on, as "ADDR:PORT" (after start): 0 or -errno. */
int agent_server_addr(const struct agent_server *srv, char *out, size_t outsz);
void agent_server_stop(struct agent_server *srv);
/* The port actually bound (after start). */
int agent_server_port(const struct agent_server *srv);

void agent_respond_text(h2o_req_t *req, int status, const char *reason, const char *body);
/* Status 200 with body (copied by h2o). */
void agent_respond_bytes(h2o_req_t *req, const char *ctype, const void *body, size_t len);
/* Status 200 with size bytes of the open file fd as body (a HEAD gets only
 * the headers), read in chunks as the client takes them. Takes fd: it is
 * closed after its last byte is read, on a read error (the response is then
 * cut short), and when the client goes first. A file shorter than size is a
 * read error. Headers the caller added to req->res.headers are kept. */
void agent_respond_file(h2o_req_t *req, const char *ctype, int fd, uint64_t size);
struct proto_route;
/* The common start of every request: method, header size and path checked,
 * the path parsed into *r. Returns true when the request may proceed; false
 * when an error answer was sent (405 not GET/HEAD, 431 headers over
 * AGENT_REQUEST_HEADERS_MAX, 400/404/414 from proto_route_parse), counting the malformed
 * ones in *rejected. */
bool agent_server_route(h2o_req_t *req, struct proto_route *r, uint64_t *rejected);

#endif
