/* agent/registry.c — the Cargo-facing sparse registry (h2o on the libuv loop).
 *
 *   GET /index/config.json            {"dl": "http://<host>/crates/{crate}/{version}/{sha256-checksum}"}
 *   GET /index/<prefix>/<name>        the crate's index file from the store
 *   GET /crates/<name>/<vers>/<sha>   the verified .crate, sent from its blob file
 *   GET /-/status                     the status document (JSON)
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

#include "agent/internal.h"
#include "agent/log.h"
#include "proto/name.h"
#include "proto/route.h"
#include "proto/sha256.h"

#define REQUEST_HEADERS_MAX (16u << 10)

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
    struct pending *p = calloc(1, sizeof *p);
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

static void respond_text(h2o_req_t *req, int status, const char *reason, const char *body)
{
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, strlen(body));
}

static void respond_bytes(h2o_req_t *req, const char *ctype, const char *body, size_t len)
{
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    h2o_send_inline(req, body, len);
}

static struct agent *req_agent(h2o_req_t *req)
{
    return container_of(req->conn->ctx, struct agent, h2o_ctx);
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
    const char *host = a->listen_host;
    int hlen = (int)strlen(host);
    if (host_ok(req->authority.base, req->authority.len)) {
        host = req->authority.base;
        hlen = (int)req->authority.len;
    }
    int n = snprintf(body, sizeof body,
                     "{\"dl\":\"http://%.*s/crates/{crate}/{version}/{sha256-checksum}\","
                     "\"api\":null}",
                     hlen, host);
    a->counters.served++;
    respond_bytes(req, "application/json", body, (size_t)n);
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

static void serve_index(struct agent *a, h2o_req_t *req, const char *name)
{
    struct store_index_list l;
    if (store_index_list(a->store, name, &l) < 0) {
        log_error("store: cannot list %s: %s", name, store_errmsg(a->store));
        respond_text(req, 500, "Internal Server Error", "store error\n");
        return;
    }
    bool filter = !agent_upstream_online(a) && !a->opt->offline_index_all;
    size_t total = 0, kept = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (filter && !l.rows[i].have_blob)
            continue;
        total += l.rows[i].line_len + 1;
        kept++;
    }
    if (kept == 0) {
        store_index_list_free(&l);
        respond_text(req, 404, "Not Found",
                     l.n ? "no version of this crate is available offline\n"
                         : "crate not found\n");
        return;
    }
    char *body = h2o_mem_alloc_pool(&req->pool, total);
    size_t off = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (filter && !l.rows[i].have_blob)
            continue;
        memcpy(body + off, l.rows[i].line, l.rows[i].line_len);
        off += l.rows[i].line_len;
        body[off++] = '\n';
    }
    store_index_list_free(&l);

    uint8_t digest[PROTO_SHA256_LEN];
    proto_sha256(body, total, digest);
    char hex[PROTO_SHA256_HEX_LEN + 1];
    proto_hex_encode(digest, PROTO_SHA256_LEN, hex);
    char *etag = h2o_mem_alloc_pool(&req->pool, 36);
    snprintf(etag, 36, "\"%.32s\"", hex);
    a->counters.served++;
    a->counters.index_served++;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, etag, strlen(etag));
    if (etag_matches(req, etag)) {
        req->res.status = 304;
        req->res.reason = "Not Modified";
        h2o_send_inline(req, NULL, 0);
        return;
    }
    respond_bytes(req, "text/plain; charset=utf-8", body, total);
}

static void index_fetched(struct agent *a, void *ud, int result)
{
    struct pending *p = ud;
    h2o_req_t *req = pending_take(p);
    if (req != NULL && result != -ECANCELED)
        serve_index(a, req, p->route.name);
    free(p);
}

/* ---- crates -------------------------------------------------------------- */

static int send_blob(struct agent *a, h2o_req_t *req, const uint8_t sha[PROTO_SHA256_LEN])
{
    char path[4096];
    if (store_blob_path(a->store, sha, path, sizeof path) < 0)
        return -ENAMETOOLONG;
    if (h2o_file_send(req, 200, "OK", path, h2o_iovec_init(H2O_STRLIT("application/x-tar")), 0) !=
        0)
        return -ENOENT;
    store_blob_touch(a->store, sha);
    a->counters.served++;
    a->counters.crates_served++;
    return 0;
}

static void crate_fetched(struct agent *a, void *ud, int result)
{
    struct pending *p = ud;
    h2o_req_t *req = pending_take(p);
    if (req != NULL && result != -ECANCELED) {
        if (result == 0 && send_blob(a, req, p->route.sha256) == 0) {
            /* counted as from_upstream by the fetch */
        } else if (result == -EBADMSG) {
            respond_text(req, 502, "Bad Gateway",
                         "the upstream sent bytes that do not match the registry checksum\n");
        } else if (result == -ENOENT) {
            respond_text(req, 404, "Not Found", "crate not available\n");
        } else {
            respond_text(req, 502, "Bad Gateway", "download failed\n");
        }
    }
    free(p);
}

static void serve_crate(struct agent *a, h2o_req_t *req, const struct proto_route *r)
{
    struct store_index_row row;
    int rc = store_index_get(a->store, r->name, r->vers, &row);
    if (rc == -ENOENT || (rc == 0 && memcmp(row.cksum, r->sha256, PROTO_SHA256_LEN) != 0)) {
        if (rc == 0)
            store_index_row_free(&row);
        respond_text(req, 404, "Not Found", "no such crate version with that checksum\n");
        return;
    }
    if (rc < 0) {
        respond_text(req, 500, "Internal Server Error", "store error\n");
        return;
    }
    store_index_row_free(&row);
    if (store_blob_has(a->store, r->sha256) && send_blob(a, req, r->sha256) == 0) {
        a->counters.from_store++;
        return;
    }
    struct pending *p = pending_new(a, req, r);
    if (p == NULL) {
        respond_text(req, 503, "Service Unavailable", "out of memory\n");
        return;
    }
    agent_fetch_crate(a, r->name, r->vers, r->sha256, crate_fetched, p);
}

/* ---- dispatch ------------------------------------------------------------ */

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct agent *a = req_agent(req);
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        respond_text(req, 405, "Method Not Allowed", "only GET and HEAD\n");
        return 0;
    }
    /* Cargo sends a few hundred bytes of headers; h2o's own cap is ~400 KiB */
    size_t hdr = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        hdr += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    if (hdr > REQUEST_HEADERS_MAX) {
        a->counters.rejected_request++;
        respond_text(req, 431, "Request Header Fields Too Large", "request headers too large\n");
        return 0;
    }
    struct proto_route r;
    int rc = proto_route_parse(req->path.base, req->path.len, &r);
    if (rc < 0) {
        a->counters.rejected_request++;
        if (rc == -ENOENT)
            respond_text(req, 404, "Not Found", "not found\n");
        else if (rc == -ENAMETOOLONG)
            respond_text(req, 414, "URI Too Long", "path too long\n");
        else
            respond_text(req, 400, "Bad Request", "malformed path\n");
        return 0;
    }
    switch (r.kind) {
    case PROTO_ROUTE_CONFIG:
        serve_config(a, req);
        return 0;
    case PROTO_ROUTE_STATUS: {
        size_t len;
        char *json = agent_status_json(a, &len);
        if (json == NULL) {
            respond_text(req, 503, "Service Unavailable", "out of memory\n");
            return 0;
        }
        char *copy = h2o_mem_alloc_pool(&req->pool, len);
        memcpy(copy, json, len);
        free(json);
        respond_bytes(req, "application/json", copy, len);
        return 0;
    }
    case PROTO_ROUTE_INDEX: {
        struct pending *p = pending_new(a, req, &r);
        if (p == NULL) {
            respond_text(req, 503, "Service Unavailable", "out of memory\n");
            return 0;
        }
        if (agent_fetch_index(a, r.name, index_fetched, p) == 1) {
            pending_take(p);
            free(p);
            serve_index(a, req, r.name);
        }
        return 0;
    }
    case PROTO_ROUTE_CRATE:
        serve_crate(a, req, &r);
        return 0;
    default: /* peer routes are served on the peer side only */
        break;
    }
    respond_text(req, 404, "Not Found", "not found\n");
    return 0;
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct agent *a = container_of((uv_tcp_t *)listener, struct agent, listener);
    if (status != 0)
        return;
    uv_tcp_t *conn = h2o_mem_alloc(sizeof *conn);
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    h2o_accept(&a->accept_ctx, sock);
}

int agent_registry_start(struct agent *a, const char *listen)
{
    struct sockaddr_storage ss;
    int rc = agent_parse_addr(listen, &ss);
    if (rc < 0)
        return rc;
    /* the address Cargo is told to download from */
    if (strncmp(listen, "0.0.0.0:", 8) == 0)
        snprintf(a->listen_host, sizeof a->listen_host, "127.0.0.1:%s", listen + 8);
    else if (strncmp(listen, "[::]:", 5) == 0)
        snprintf(a->listen_host, sizeof a->listen_host, "[::1]:%s", listen + 5);
    else
        snprintf(a->listen_host, sizeof a->listen_host, "%s", listen);

    h2o_config_init(&a->h2o_config);
    a->h2o_config.server_name = h2o_iovec_init(H2O_STRLIT("cratecast"));
    /* Bound what a client controls: request line + headers (h2o caps it at
     * H2O_MAX_REQLEN); no request body is accepted by any route. */
    a->h2o_config.max_request_entity_size = 1024;
    h2o_hostconf_t *host =
        h2o_config_register_host(&a->h2o_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    handler->on_req = on_req;
    h2o_context_init(&a->h2o_ctx, &a->loop, &a->h2o_config);
    a->accept_ctx.ctx = &a->h2o_ctx;
    a->accept_ctx.hosts = a->h2o_config.hosts;

    uv_tcp_init(&a->loop, &a->listener);
    rc = uv_tcp_bind(&a->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->listener, 511, on_accept);
    if (rc < 0) {
        uv_close((uv_handle_t *)&a->listener, NULL);
        return rc;
    }
    return 0;
}

void agent_registry_stop(struct agent *a)
{
    if (!uv_is_closing((uv_handle_t *)&a->listener))
        uv_close((uv_handle_t *)&a->listener, NULL);
}
