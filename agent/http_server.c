/* agent/http_server.c — h2o server setup and small response helpers shared by
 * the Cargo side and the peer side.
 *
 * Server states: zeroed (never started, or start failed: stop is a no-op) ->
 * listening + started (agent_server_start) -> stopped (agent_server_stop
 * closes the listener; h2o's context stays until process exit, see agent.c). */
#include "agent/http_server.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/route.h"

/* One accepted connection: counted against its server's cap until closed. */
struct server_conn {
    uv_tcp_t tcp; /* first: h2o and libuv see a uv_tcp_t */
    struct agent_server *srv;
};

static void conn_closed(uv_handle_t *h)
{
    struct server_conn *c = (struct server_conn *)h;
    if (c->srv->conns > 0)
        c->srv->conns--;
    free(c);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct agent_server *srv = listener->data;
    if (status != 0)
        return;
    struct server_conn *c = h2o_mem_alloc(sizeof *c);
    c->srv = srv;
    uv_tcp_init(listener->loop, &c->tcp);
    srv->conns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    if (srv->max_conns && srv->conns > srv->max_conns) {
        /* over the cap: closed at once, so a flood on one port cannot take
         * the file descriptors the other port (and Cargo) needs */
        srv->refused++;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, conn_closed);
    h2o_accept(&srv->accept, sock);
}

int agent_server_start(struct agent_server *srv, uv_loop_t *loop, const char *listen, int fd,
                       const struct agent_server_limits *limits, agent_server_handler on_req)
{
    struct sockaddr_storage ss;
    struct proto_peer_addr pa;
    if (fd < 0 && (listen == NULL || proto_peer_addr_parse(listen, strlen(listen), &pa) < 0 ||
                   proto_peer_addr_to_sockaddr(&pa, &ss) < 0))
        return -EINVAL;
    /* The socket first: a port in use (the usual startup error) leaves
     * nothing of h2o behind, only a listener handle closing on the loop. No
     * connection is accepted before the loop runs, and by then h2o is ready. */
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    int rc = fd >= 0 ? uv_tcp_open(&srv->listener, fd)
                     : uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_accept);
    if (rc < 0) {
        uv_close((uv_handle_t *)&srv->listener, NULL);
        return rc;
    }
    srv->listening = true;

    h2o_config_init(&srv->config);
    srv->config.server_name = h2o_iovec_init(H2O_STRLIT("cratecast"));
    srv->max_conns = limits->max_conns;
    /* HTTP/2 over cleartext (h2c) only where a client uses it: Cargo does */
    srv->config.http1.upgrade_to_http2 = limits->http2 ? 1 : 0;
    /* no route accepts a request body */
    srv->config.max_request_entity_size = 1024;
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    handler->on_req = on_req;
    h2o_context_init(&srv->ctx, loop, &srv->config);
    srv->accept.ctx = &srv->ctx;
    srv->accept.hosts = srv->config.hosts;
    srv->started = true;
    return 0;
}

/* Safe whether or not start ran or succeeded (struct agent starts zeroed). */
void agent_server_stop(struct agent_server *srv)
{
    if (srv->listening && !uv_is_closing((uv_handle_t *)&srv->listener))
        uv_close((uv_handle_t *)&srv->listener, NULL);
    srv->listening = false;
}

int agent_server_addr(const struct agent_server *srv, char *out, size_t outsz)
{
    struct sockaddr_storage ss;
    struct proto_peer_addr pa;
    char text[PROTO_PEER_ADDR_TEXT_MAX];
    int len = sizeof ss;
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len) != 0 ||
        proto_peer_addr_from_sockaddr((struct sockaddr *)&ss, &pa) < 0 ||
        proto_peer_addr_format(&pa, text) < 0)
        return -EINVAL;
    int n = snprintf(out, outsz, "%s", text);
    return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

int agent_server_port(const struct agent_server *srv)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

void agent_respond_text(h2o_req_t *req, int status, const char *reason, const char *body)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = strlen(body);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, strlen(body));
}

void agent_respond_bytes(h2o_req_t *req, const char *ctype, const void *body, size_t len)
{
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    h2o_send_inline(req, body, len);
}

/* A file sent by agent_respond_file: h2o asks for the next chunk (proceed)
 * when the last one is written, or stops the generator when the client goes.
 * The chunk is read into one buffer of the request's pool, reused. */
#define FILE_CHUNK (64u << 10)

struct file_gen {
    h2o_generator_t super;
    int fd; /* -1 once closed */
    uint64_t off, left;
    char *buf;
};

static void file_close(struct file_gen *g)
{
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
}

static void file_stop(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    file_close((struct file_gen *)self);
}

static void file_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    struct file_gen *g = (struct file_gen *)self;
    size_t want = g->left < FILE_CHUNK ? (size_t)g->left : FILE_CHUNK, got = 0;
    while (got < want) {
        ssize_t n = pread(g->fd, g->buf + got, want - got, (off_t)(g->off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) { /* an error, or the file is shorter than it was */
            file_close(g);
            h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
            return;
        }
        got += (size_t)n;
    }
    g->off += got;
    g->left -= got;
    h2o_iovec_t vec = h2o_iovec_init(g->buf, got);
    if (g->left == 0)
        file_close(g); /* before the send: the bytes are in buf */
    h2o_send(req, &vec, 1, g->left == 0 ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

void agent_respond_file(h2o_req_t *req, const char *ctype, int fd, uint64_t size)
{
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = size;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    if (size == 0 || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        static h2o_generator_t none = {NULL, NULL};
        close(fd);
        h2o_start_response(req, &none);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    struct file_gen *g = h2o_mem_alloc_pool(&req->pool, sizeof *g);
    g->super.proceed = file_proceed;
    g->super.stop = file_stop;
    g->fd = fd;
    g->off = 0;
    g->left = size;
    g->buf = h2o_mem_alloc_pool(&req->pool, size < FILE_CHUNK ? (size_t)size : FILE_CHUNK);
    h2o_start_response(req, &g->super);
    file_proceed(&g->super, req);
}

static bool reject_large_headers(h2o_req_t *req)
{
    size_t hdr = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        hdr += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    if (hdr <= AGENT_REQUEST_HEADERS_MAX)
        return false;
    agent_respond_text(req, 431, "Request Header Fields Too Large", "request headers too large\n");
    return true;
}

static bool reject_method(h2o_req_t *req)
{
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        return false;
    agent_respond_text(req, 405, "Method Not Allowed", "only GET and HEAD\n");
    return true;
}

bool agent_server_route(h2o_req_t *req, struct proto_route *r, uint64_t *rejected)
{
    if (reject_method(req))
        return false;
    if (reject_large_headers(req)) {
        (*rejected)++;
        return false;
    }
    int rc = proto_route_parse(req->path.base, req->path.len, r);
    if (rc == 0)
        return true;
    (*rejected)++;
    if (rc == -ENOENT)
        agent_respond_text(req, 404, "Not Found", "not found\n");
    else if (rc == -ENAMETOOLONG)
        agent_respond_text(req, 414, "URI Too Long", "path too long\n");
    else
        agent_respond_text(req, 400, "Bad Request", "malformed path\n");
    return false;
}
