/* agent/peerapi.c — the peer side: what this agent serves to other agents.
 *
 *   GET /peer/1/hello?nonce=N[&port=P]  signed hello over the requester's nonce;
 *                                       P (the requester's own peer port) makes it a pex candidate
 *   GET /peer/1/manifest[?since=S]      signed manifest (full, or the delta after S)
 *   GET /peer/1/index/<name>            signed index lines held for one crate
 *   GET /peer/1/crate/<sha256>          a verified blob (uploads.c: a bounded number at once,
 *                                       the rest queued fairly; 503 only when the queue is full)
 *   GET /peer/1/news[?since=G&wait=S]   signed news, held until something changes (news.c)
 *
 * Only what the store holds is served: blobs exist under their name only after
 * their SHA-256 was verified, and index lines are the stored originals. No
 * request on this side ever causes a fetch from the upstream or other peers,
 * so the peer port is not an open proxy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <h2o.h>

#include "agent/core.h"
#include "agent/http_server.h"
#include "agent/listing.h"
#include "agent/log.h"
#include "agent/mesh.h"
#include "agent/manifest.h"
#include "agent/news.h"
#include "agent/peerapi.h"
#include "agent/peers.h"
#include "agent/relay.h"
#include "agent/uploads.h"
#include "proto/alloc.h"
#include "proto/peer.h"
#include "proto/route.h"
#include "store/store.h"

/* The peer side's state: only peerapi.c reads or writes it. */
struct agent_peerapi {
    struct agent *a;
    struct agent_server peer;
    uint16_t peer_port; /* 0 when --peer-listen off */
};

struct agent_peerapi *agent_peerapi_new(void)
{
    return cc_calloc(1, sizeof(struct agent_peerapi));
}

uint16_t agent_peerapi_port(const struct agent *a)
{
    return agent_peerapi(a)->peer_port;
}

#define PEER_CTYPE "application/x-cratecast"

static struct agent *req_agent(h2o_req_t *req)
{
    return container_of(req->conn->ctx, struct agent_peerapi, peer.ctx)->a;
}

static void learn_requester(struct agent *a, h2o_req_t *req, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct proto_peer_addr pa;
    char addr[PROTO_PEER_ADDR_TEXT_MAX];
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0 ||
        proto_peer_addr_from_sockaddr((struct sockaddr *)&ss, &pa) < 0)
        return;
    pa.port = port;
    if (proto_peer_addr_format(&pa, addr) < 0)
        return;
    agent_peers_learn(a, addr);
}

static void serve_hello(struct agent *a, h2o_req_t *req, const struct proto_route *r)
{
    struct proto_hello h;
    memset(&h, 0, sizeof h);
    memcpy(h.pk, agent_id(a)->pk, PROTO_PK_LEN);
    h.version = PROTO_PEER_VERSION;
    h.caps = PROTO_CAP_MANIFEST | PROTO_CAP_DELTA | PROTO_CAP_CRATE | PROTO_CAP_INDEX |
             PROTO_CAP_PEX | PROTO_CAP_NEWS | PROTO_CAP_RELAY;
    h.seq = store_seq(agent_store(a));
    h.time = (uint64_t)agent_now();
    h.peer_port = agent_peerapi(a)->peer_port;
    memcpy(h.nonce, r->nonce, PROTO_NONCE_LEN);
    uint8_t *buf;
    size_t len;
    if (proto_hello_encode(&h, agent_id(a)->sk, &buf, &len) < 0) {
        agent_respond_text(req, 500, "Internal Server Error", "cannot sign\n");
        return;
    }
    agent_mesh_respond(a, req, PEER_CTYPE, buf, len);
    free(buf);
    if (r->port)
        learn_requester(a, req, r->port);
}

static void serve_manifest(struct agent *a, h2o_req_t *req, const struct proto_route *r)
{
    const uint8_t *buf;
    size_t len;
    int rc = agent_manifest_get(a, r->since, &buf, &len);
    if (rc < 0) {
        log_error("cannot build the manifest: %s", strerror(-rc));
        agent_respond_text(req, 500, "Internal Server Error", "cannot build the manifest\n");
        return;
    }
    agent_mesh_respond(a, req, PEER_CTYPE, buf, len);
}

static void serve_index(struct agent *a, h2o_req_t *req, const struct proto_route *r)
{
    struct store_index_list l;
    if (store_index_list(agent_store(a), r->name, &l) < 0) {
        agent_respond_text(req, 500, "Internal Server Error", "store error\n");
        return;
    }
    if (l.n == 0) {
        store_index_list_free(&l);
        agent_respond_text(req, 404, "Not Found", "no index entries for this crate\n");
        return;
    }
    size_t total;
    char *body = agent_index_body(&l, NULL, &total);
    store_index_list_free(&l);
    if (body == NULL) {
        agent_respond_text(req, 503, "Service Unavailable", "out of memory\n");
        return;
    }
    struct proto_peer_index x;
    memset(&x, 0, sizeof x);
    memcpy(x.pk, agent_id(a)->pk, PROTO_PK_LEN);
    proto_name_lower(r->name, x.name, sizeof x.name);
    x.time = (uint64_t)agent_now();
    x.lines = (const uint8_t *)body;
    x.len = total;
    uint8_t *buf;
    size_t len;
    int rc = proto_peer_index_encode(&x, agent_id(a)->sk, true, &buf, &len);
    free(body);
    if (rc < 0) {
        agent_respond_text(req, 500, "Internal Server Error", "cannot encode\n");
        return;
    }
    agent_mesh_respond(a, req, PEER_CTYPE, buf, len);
    free(buf);
}

static void serve_crate(struct agent *a, h2o_req_t *req, const struct proto_route *r)
{
    if (!store_blob_has(agent_store(a), r->sha256)) {
        /* being fetched right now: passed on as it arrives (relay.h) */
        int rc = agent_relay_start(a, req, r->sha256);
        if (rc == 0)
            return;
        if (rc == -EAGAIN || rc == -EBUSY) { /* held in a moment, or too many relays */
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                           H2O_STRLIT("1"));
            agent_respond_text(req, 503, "Service Unavailable", "busy: try again\n");
            return;
        }
        agent_respond_text(req, 404, "Not Found", "not held\n");
        return;
    }
    agent_uploads_request(a, req, r->sha256);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct agent *a = req_agent(req);
    struct proto_route r;
    if (agent_mesh_admit(a, req) < 0) { /* not this mesh's (or a mesh's, and we are open) */
        agent_counters(a)->rejected_mesh++;
        agent_respond_text(req, 403, "Forbidden", "");
        return 0;
    }
    if (!agent_server_route(req, &r, &agent_counters(a)->rejected_request))
        return 0;
    switch (r.kind) {
    case PROTO_ROUTE_PEER_HELLO:
        serve_hello(a, req, &r);
        return 0;
    case PROTO_ROUTE_PEER_MANIFEST:
        serve_manifest(a, req, &r);
        return 0;
    case PROTO_ROUTE_PEER_INDEX:
        serve_index(a, req, &r);
        return 0;
    case PROTO_ROUTE_PEER_CRATE:
        serve_crate(a, req, &r);
        return 0;
    case PROTO_ROUTE_PEER_NEWS:
        agent_news_serve(a, req, &r);
        return 0;
    default: /* Cargo routes are served on the Cargo side only */
        break;
    }
    agent_respond_text(req, 404, "Not Found", "not found\n");
    return 0;
}

int agent_peerapi_start(struct agent *a, const char *listen, int fd)
{
    /* the LAN may flood this port: its own cap, below the Cargo side's */
    static const struct agent_server_limits limits = {.max_conns = 256, .http2 = false};
    agent_peerapi(a)->a = a;
    int rc =
        agent_server_start(&agent_peerapi(a)->peer, agent_loop(a), listen, fd, &limits, on_req);
    if (rc < 0)
        return rc;
    agent_peerapi(a)->peer_port = (uint16_t)agent_server_port(&agent_peerapi(a)->peer);
    return 0;
}

void agent_peerapi_stop(struct agent *a)
{
    agent_server_stop(&agent_peerapi(a)->peer);
}
