/* agent/registry.c — the Cargo-facing sparse registry (h2o on the libuv loop).
 *
 *   GET /index/config.json            {"dl": "http://<host>/crates/{crate}/{version}/{sha256-checksum}",
 *                                      "api": null}   (<host> as Cargo named us, else --listen)
 *   GET /index/<prefix>/<name>        the crate's index file from the store, made current first
 *                                     (agent_fetch_index); offline only the versions that can be
 *                                     had (listing.h); ETag / If-None-Match -> 304
 *   GET /crates/<name>/<vers>/<sha>   the verified .crate, sent from its blob file (fetched first
 *                                     when not held: agent_fetch_crate)
 *   GET /-/status                     the status document (JSON)
 *   GET /-/why/<name>                 where each version of a crate can come from (JSON, why.c)
 *   anything else                     404; the peer routes are served on the peer side only
 *
 * Every path goes through proto_route_parse first: anything malformed is a 400
 * before the store is consulted, so no request can name a file outside it.
 *
 * A request that must wait for a fetch is tracked by a struct pending
 * (malloc'd) and a struct pending_link allocated in the request's memory pool.
 * If the client goes away, h2o disposes the pool, link_dispose() detaches the
 * pending and the fetch callback later finds pending->req == NULL and only
 * frees it. When the fetch answers first, the link is detached before the
 * response is sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>

#include "agent/activity.h"
#include "agent/core.h"
#include "agent/fetch.h"
#include "agent/http_server.h"
#include "agent/listing.h"
#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/misses.h"
#include "agent/peers.h"
#include "agent/registry.h"
#include "agent/status.h"
#include "agent/status_page.h"
#include "agent/upstream.h"
#include "agent/upstream_state.h"
#include "proto/addr.h"
#include "proto/alloc.h"
#include "proto/name.h"
#include "proto/route.h"
#include "proto/sha256.h"
#include "store/store.h"

/* The Cargo side's state: only registry.c reads or writes it. */
struct agent_registry {
    struct agent *a;
    struct agent_server cargo;
    char listen_host[128]; /* host:port for URLs handed to Cargo */
#define AGENT_PEER_ONLY_SEEN 64
    char peer_only_seen[AGENT_PEER_ONLY_SEEN][PROTO_NAME_MAX + PROTO_VERS_MAX + 2];
    size_t peer_only_pos;
    struct metrics_histogram latency; /* Cargo requests, start to end of the answer */
};

struct agent_registry *agent_registry_new(void)
{
    return cc_calloc(1, sizeof(struct agent_registry));
}

const char *agent_registry_host(const struct agent *a)
{
    return agent_registry(a)->listen_host;
}

struct pending_link;

struct pending {
    struct agent *a;
    h2o_req_t *req; /* NULL once the client is gone */
    struct pending_link *link;
    struct proto_route route;
};

struct pending_link {
    struct pending *p;
};

static void link_dispose(void *ptr)
{
    struct pending_link *l = ptr;
    if (l->p) {
        l->p->req = NULL;
        l->p->link = NULL;
    }
}

static struct pending *pending_new(struct agent *a, h2o_req_t *req, const struct proto_route *r)
{
    struct pending *p = cc_calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    struct pending_link *l = h2o_mem_alloc_shared(&req->pool, sizeof *l, link_dispose);
    l->p = p;
    p->a = a;
    p->req = req;
    p->link = l;
    p->route = *r;
    return p;
}

/* Returns the request if the client is still there, detaching the link. */
static h2o_req_t *pending_take(struct pending *p)
{
    h2o_req_t *req = p->req;
    if (p->link)
        p->link->p = NULL;
    p->link = NULL;
    p->req = NULL;
    return req;
}

static struct agent *req_agent(h2o_req_t *req)
{
    return container_of(req->conn->ctx, struct agent_registry, cargo.ctx)->a;
}

/* ---- config.json --------------------------------------------------------- */

/* The host Cargo used to reach us, when it is a plain host[:port]. */
static bool host_ok(const char *s, size_t len)
{
    if (len == 0 || len > 100)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return false;
    }
    return true;
}

static void serve_config(struct agent *a, h2o_req_t *req)
{
    char body[400];
    const char *host = agent_registry(a)->listen_host;
    int hlen = (int)strlen(host);
    if (host_ok(req->authority.base, req->authority.len)) {
        host = req->authority.base;
        hlen = (int)req->authority.len;
    }
    int n = snprintf(body, sizeof body,
                     "{\"dl\":\"http://%.*s/crates/{crate}/{version}/{sha256-checksum}\","
                     "\"api\":null}",
                     hlen, host);
    agent_counters(a)->served++;
    agent_respond_bytes(req, "application/json", body, (size_t)n);
}

/* ---- index files --------------------------------------------------------- */

static bool etag_matches(h2o_req_t *req, const char *etag)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (i < 0)
        return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t el = strlen(etag);
    /* a list of tags; ours is quoted and has no commas */
    for (size_t off = 0; off + el <= v.len; off++)
        if (memcmp(v.base + off, etag, el) == 0)
            return true;
    return false;
}

/* Record a miss; log it unless rate-limited (misses.h). */
static void agent_miss(struct agent *a, enum agent_miss_kind kind, const char *name,
                       const char *vers, const char *why)
{
    if (agent_misses_record(agent_misses(a), kind, name, vers, why, agent_now()))
        log_info("miss: %s%s%s: %s", name, vers ? " " : "", vers ? vers : "", why);
}

/* Why nothing more can be had: the upstream's part of a miss's reason. */
static const char *upstream_phrase(struct agent *a)
{
    switch (agent_upstream_state(a)) {
    case UPSTREAM_NONE:
        return "no upstream is configured (--upstream none)";
    case UPSTREAM_ONLINE:
        return "the upstream does not have it";
    default:
        return "the upstream is unreachable (offline)";
    }
}

/* The first time a version resting on a peer's word alone is shown to Cargo,
 * say so (a small ring of what was said). */
static void note_peer_only(struct agent *a, const char *name, const char *vers)
{
    char key[PROTO_NAME_MAX + PROTO_VERS_MAX + 2];
    snprintf(key, sizeof key, "%s %s", name, vers);
    for (size_t i = 0; i < AGENT_PEER_ONLY_SEEN; i++)
        if (strcmp(agent_registry(a)->peer_only_seen[i], key) == 0)
            return;
    snprintf(agent_registry(a)
                 ->peer_only_seen[agent_registry(a)->peer_only_pos++ % AGENT_PEER_ONLY_SEEN],
             sizeof agent_registry(a)->peer_only_seen[0], "%s", key);
    agent_counters(a)->peer_only_served++;
    log_info("offline: listing %s %s on a peer's word only (the upstream never confirmed it; "
             "`cratecast why %s`)",
             name, vers, name);
}

/* Offline, which rows Cargo is shown (listing.h); NULL = all. Records a
 * miss when versions are withheld. */
static bool *offline_listing(struct agent *a, const char *name, const struct store_index_list *l)
{
    if (agent_upstream_online(a) || agent_opt(a)->offline_index_all || l->n == 0)
        return NULL;
    struct agent_listing_version *v = cc_calloc(l->n, sizeof *v);
    bool *keep = cc_calloc(l->n, sizeof *keep);
    if (v == NULL || keep == NULL) {
        free(v);
        free(keep);
        return NULL;
    }
    for (size_t i = 0; i < l->n; i++) {
        v[i].vers = l->rows[i].vers;
        v[i].yanked = l->rows[i].yanked;
        v[i].available = l->rows[i].have_blob || agent_peers_have_crate(a, l->rows[i].cksum);
    }
    size_t withheld = agent_listing_offline(v, l->n);
    for (size_t i = 0; i < l->n; i++)
        if (v[i].listed && store_origin_signed(l->rows[i].origin))
            note_peer_only(a, name, l->rows[i].vers);
    const char *newest = NULL;
    for (size_t i = 0; i < l->n; i++) {
        keep[i] = v[i].listed;
        if (!keep[i])
            newest = l->rows[i].vers; /* rows are in publication order */
    }
    free(v);
    if (withheld) {
        char why[AGENT_MISS_REASON_MAX];
        snprintf(why, sizeof why,
                 "offline: %zu of %zu versions withheld (not here or at a live peer), newest "
                 "withheld %s",
                 withheld, l->n, newest);
        agent_miss(a, AGENT_MISS_WITHHELD, name, newest, why);
    }
    return keep;
}

/* failed: the upstream failed for this very index file (5xx, garbage, a hang):
 * with nothing held, Cargo gets 503 (a network problem it reports as such)
 * rather than 404 ("no matching package"). */
static void serve_index(struct agent *a, h2o_req_t *req, const char *name, bool failed)
{
    struct store_index_list l;
    if (store_index_list(agent_store(a), name, &l) < 0) {
        log_error("store: cannot list %s: %s", name, store_errmsg(agent_store(a)));
        agent_respond_text(req, 500, "Internal Server Error", "store error\n");
        return;
    }
    if (l.n == 0) {
        store_index_list_free(&l);
        char why[AGENT_MISS_REASON_MAX];
        if (failed) {
            snprintf(why, sizeof why,
                     "the upstream failed to send this index file (%.200s), and no live peer "
                     "has it",
                     (agent_upstream_last_error(a) ? agent_upstream_last_error(a) : "error"));
            agent_miss(a, AGENT_MISS_INDEX, name, NULL, why);
            agent_respond_text(req, 503, "Service Unavailable",
                               "the upstream registry failed for this index file and nobody in "
                               "the room has it: see `cratecast why`\n");
            return;
        }
        snprintf(why, sizeof why, "index file not held here or by any live peer; %s",
                 upstream_phrase(a));
        agent_miss(a, AGENT_MISS_INDEX, name, NULL, why);
        agent_respond_text(req, 404, "Not Found", "crate not found\n");
        return;
    }
    bool *keep = offline_listing(a, name, &l);
    size_t total;
    char *body = agent_index_body(&l, keep, &total);
    free(keep);
    store_index_list_free(&l);
    if (body == NULL) {
        agent_respond_text(req, 503, "Service Unavailable", "out of memory\n");
        return;
    }

    uint8_t digest[PROTO_SHA256_LEN];
    proto_sha256(body, total, digest);
    char hex[PROTO_SHA256_HEX_LEN + 1];
    proto_hex_encode(digest, PROTO_SHA256_LEN, hex);
    char *etag = h2o_mem_alloc_pool(&req->pool, 36);
    snprintf(etag, 36, "\"%.32s\"", hex);
    agent_counters(a)->served++;
    agent_counters(a)->index_served++;
    if (!etag_matches(req, etag))
        agent_counters(a)->bytes_served += total;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, etag, strlen(etag));
    if (etag_matches(req, etag)) {
        req->res.status = 304;
        req->res.reason = "Not Modified";
        h2o_send_inline(req, NULL, 0);
    } else {
        agent_respond_bytes(req, "text/plain; charset=utf-8", body, total); /* copies */
    }
    free(body);
}

static void index_fetched(struct agent *a, void *ud, int result, const char *source)
{
    (void)source;
    struct pending *p = ud;
    h2o_req_t *req = pending_take(p);
    if (req != NULL && result != -ECANCELED)
        serve_index(a, req, p->route.name, result == -EAGAIN || result == -EIO);
    free(p);
}

/* ---- crates -------------------------------------------------------------- */

/* Send the blob file fd (opened by store_crate_open or store_blob_open: it is
 * the file we answer with, checked by nothing after the open) and count it.
 * source: "store", "upstream" or "peer ADDR", sent as X-Cratecast-Source (for
 * `cratecast prefetch`). */
static void send_blob(struct agent *a, h2o_req_t *req, const uint8_t sha[PROTO_SHA256_LEN], int fd,
                      uint64_t size, const char *source)
{
    h2o_iovec_t src = h2o_strdup(&req->pool, source, SIZE_MAX);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-cratecast-source"), 0, NULL,
                          src.base, src.len);
    agent_respond_file(req, "application/x-tar", fd, size);
    store_blob_touch(agent_store(a), sha);
    if (req->query_at != SIZE_MAX && req->path.len - req->query_at >= 9 &&
        memcmp(req->path.base + req->query_at, "?prefetch", 9) == 0 &&
        store_blob_pin(agent_store(a), sha, agent_now()) < 0) /* `cratecast prefetch` */
        log_warn("store: cannot record a prefetched crate: %s", store_errmsg(agent_store(a)));
    agent_counters(a)->served++;
    agent_counters(a)->crates_served++;
    agent_counters(a)->bytes_served += size;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) != 0)
        agent_activity_crate(a, (struct sockaddr *)&ss, source, size);
}

/* A crate nobody can send: 404 (Cargo 1.96+ treats only 404 as "not found"),
 * recorded as a miss with the reason (what, or one made up here). */
static void crate_missing(struct agent *a, h2o_req_t *req, const struct proto_route *r,
                          const char *what)
{
    char why[AGENT_MISS_REASON_MAX];
    struct agent_peer *cand[8];
    size_t holders = agent_peers_holding_crate(a, r->sha256, cand, 8);
    if (what)
        snprintf(why, sizeof why, "%s", what);
    else if (holders)
        snprintf(why, sizeof why, "not here; %zu live peer(s) list it but the transfer failed; %s",
                 holders, upstream_phrase(a));
    else
        snprintf(why, sizeof why, "not here and at no live peer; %s", upstream_phrase(a));
    agent_miss(a, AGENT_MISS_CRATE, r->name, r->vers, why);
    agent_respond_text(req, 404, "Not Found", "crate not available: see `cratecast why`\n");
}

static void crate_fetched(struct agent *a, void *ud, int result, const char *source)
{
    struct pending *p = ud;
    h2o_req_t *req = pending_take(p);
    uint64_t size = 0;
    int fd =
        req != NULL && result == 0 ? store_blob_open(agent_store(a), p->route.sha256, &size) : -1;
    if (req != NULL && result != -ECANCELED) {
        if (fd >= 0) {
            /* counted as from_upstream / from_peers by the fetch */
            send_blob(a, req, p->route.sha256, fd, size, source ? source : "store");
        } else if (result == -EBADMSG) {
            agent_respond_text(req, 502, "Bad Gateway",
                               "the upstream sent bytes that do not match the registry checksum\n");
        } else if (result == -ENOENT) {
            crate_missing(a, req, &p->route, NULL);
        } else {
            /* a transfer failed (the upstream answered 5xx or hung, the disk
             * is full): Cargo retries a 502, and reports a network problem */
            agent_miss(a, AGENT_MISS_CRATE, p->route.name, p->route.vers,
                       "the transfer failed: see the agent's log");
            agent_respond_text(req, 502, "Bad Gateway", "download failed\n");
        }
    }
    free(p);
}

/* A crate the store holds costs one open(2) when the store's held set knows
 * it (a repeat, or a version of an index file Cargo just read), else one
 * database read as well (store_crate_open). */
static void serve_crate(struct agent *a, h2o_req_t *req, const struct proto_route *r)
{
    uint64_t size = 0;
    int fd = store_crate_open(agent_store(a), r->name, r->vers, r->sha256, &size);
    if (fd >= 0) {
        send_blob(a, req, r->sha256, fd, size, "store");
        agent_counters(a)->from_store++;
        return;
    }
    if (fd == -ENOENT) {
        crate_missing(a, req, r, "no index entry of this version with that checksum");
        return;
    }
    if (fd == -EIO) {
        agent_respond_text(req, 500, "Internal Server Error", "store error\n");
        return;
    }
    if (fd == -ENOMEM) {
        agent_respond_text(req, 503, "Service Unavailable", "out of memory\n");
        return;
    }
    if (fd != -ENODATA) { /* the file is there but cannot be opened (EMFILE, EACCES) */
        log_warn("store: cannot open the crate file of %s %s: %s", r->name, r->vers, strerror(-fd));
        agent_respond_text(req, 503, "Service Unavailable", "cannot open the crate file\n");
        return;
    }
    /* -ENODATA: not held, or recorded but its file is gone (verify
     * quarantined it, an eviction removed it): fetched again */
    struct pending *p = pending_new(a, req, r);
    if (p == NULL) {
        agent_respond_text(req, 503, "Service Unavailable", "out of memory\n");
        return;
    }
    agent_fetch_crate(a, r->name, r->vers, r->sha256, crate_fetched, p);
}

/* ---- why ----------------------------------------------------------------- */

static void serve_json(h2o_req_t *req, char *json, size_t len)
{
    if (json == NULL) {
        agent_respond_text(req, 503, "Service Unavailable", "out of memory\n");
        return;
    }
    char *copy = h2o_mem_alloc_pool(&req->pool, len);
    memcpy(copy, json, len);
    free(json);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    agent_respond_bytes(req, "application/json", copy, len);
}

static void serve_why(struct agent *a, h2o_req_t *req, const char *name)
{
    size_t len = 0;
    char *json = agent_why_json(a, name, &len);
    serve_json(req, json, len);
}

static void why_fetched(struct agent *a, void *ud, int result, const char *source)
{
    (void)source;
    struct pending *p = ud;
    h2o_req_t *req = pending_take(p);
    if (req != NULL && result != -ECANCELED)
        serve_why(a, req, p->route.name);
    free(p);
}

/* ---- dispatch ------------------------------------------------------------ */

/* Times one request: made at its start in the request's pool, observed when
 * h2o disposes of the pool (the answer ended, or the client went away). */
struct timing {
    struct agent_registry *reg;
    uint64_t start_ns;
};

static void timing_dispose(void *ptr)
{
    struct timing *t = ptr;
    metrics_observe(&t->reg->latency, (double)(uv_hrtime() - t->start_ns) / 1e9);
}

static void serve_page(struct agent *a, h2o_req_t *req, bool metrics)
{
    json_t *doc = agent_status_doc(a, agent_registry(a)->listen_host);
    size_t len = 0;
    char *text = doc == NULL ? NULL
                 : metrics   ? metrics_text(doc, &agent_registry(a)->latency, &len)
                             : status_page_html(doc, agent_now(), &len);
    json_decref(doc);
    if (text == NULL) {
        agent_respond_text(req, 503, "Service Unavailable", "out of memory\n");
        return;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    agent_respond_bytes(
        req, metrics ? "text/plain; version=0.0.4; charset=utf-8" : "text/html; charset=utf-8",
        text, len);
    free(text);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct agent *a = req_agent(req);
    struct timing *t = h2o_mem_alloc_shared(&req->pool, sizeof *t, timing_dispose);
    t->reg = agent_registry(a);
    t->start_ns = uv_hrtime();
    struct proto_route r;
    if (!agent_server_route(req, &r, &agent_counters(a)->rejected_request))
        return 0;
    agent_upstream_nudge(a);
    switch (r.kind) {
    case PROTO_ROUTE_CONFIG:
        serve_config(a, req);
        return 0;
    case PROTO_ROUTE_PAGE:
    case PROTO_ROUTE_METRICS:
        serve_page(a, req, r.kind == PROTO_ROUTE_METRICS);
        return 0;
    case PROTO_ROUTE_STATUS: {
        size_t len = 0;
        char *json = agent_status_json(a, agent_registry(a)->listen_host, &len);
        serve_json(req, json, len);
        return 0;
    }
    case PROTO_ROUTE_INDEX: {
        struct pending *p = pending_new(a, req, &r);
        if (p == NULL) {
            agent_respond_text(req, 503, "Service Unavailable", "out of memory\n");
            return 0;
        }
        if (agent_fetch_index(a, r.name, index_fetched, p) == 1) {
            pending_take(p);
            free(p);
            serve_index(a, req, r.name, false);
        }
        return 0;
    }
    case PROTO_ROUTE_CRATE:
        serve_crate(a, req, &r);
        return 0;
    case PROTO_ROUTE_WHY: {
        /* the index file is made current first, as for Cargo */
        struct pending *p = pending_new(a, req, &r);
        if (p == NULL) {
            agent_respond_text(req, 503, "Service Unavailable", "out of memory\n");
            return 0;
        }
        if (agent_fetch_index(a, r.name, why_fetched, p) == 1) {
            pending_take(p);
            free(p);
            serve_why(a, req, r.name);
        }
        return 0;
    }
    default: /* peer routes are served on the peer side only */
        break;
    }
    agent_respond_text(req, 404, "Not Found", "not found\n");
    return 0;
}

int agent_registry_start(struct agent *a, const char *listen, int fd)
{
    /* Cargo multiplexes over HTTP/2 when offered (h2c upgrade) */
    static const struct agent_server_limits limits = {.max_conns = 512, .http2 = true};
    agent_registry(a)->a = a;
    int rc =
        agent_server_start(&agent_registry(a)->cargo, agent_loop(a), listen, fd, &limits, on_req);
    if (rc < 0)
        return rc;
    char bound[PROTO_PEER_ADDR_TEXT_MAX];
    if (fd >= 0 && agent_server_addr(&agent_registry(a)->cargo, bound, sizeof bound) == 0)
        listen = bound; /* a handed-over socket: its own address */
    /* the address Cargo is told to download from */
    if (strncmp(listen, "0.0.0.0:", 8) == 0)
        snprintf(agent_registry(a)->listen_host, sizeof agent_registry(a)->listen_host,
                 "127.0.0.1:%s", listen + 8);
    else if (strncmp(listen, "[::]:", 5) == 0)
        snprintf(agent_registry(a)->listen_host, sizeof agent_registry(a)->listen_host, "[::1]:%s",
                 listen + 5);
    else
        snprintf(agent_registry(a)->listen_host, sizeof agent_registry(a)->listen_host, "%s",
                 listen);
    return 0;
}

void agent_registry_stop(struct agent *a)
{
    agent_server_stop(&agent_registry(a)->cargo);
}
