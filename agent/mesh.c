/* agent/mesh.c — see mesh.h. */
#include "agent/mesh.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <h2o.h>

#include "agent/core.h"
#include "agent/http_client.h"
#include "agent/http_server.h"
#include "agent/log.h"
#include "proto/alloc.h"

struct agent_mesh {
    bool on;
    struct proto_mesh_key key;
    struct proto_mesh_replay *replay;
};

struct agent_mesh *agent_mesh_new(void)
{
    return cc_calloc(1, sizeof(struct agent_mesh));
}

int agent_mesh_init(struct agent *a)
{
    struct agent_mesh *m = agent_mesh(a);
    const struct agent_options *o = agent_opt(a);
    if (!o->mesh)
        return 0;
    m->replay = cc_calloc(1, sizeof *m->replay);
    if (m->replay == NULL)
        return -ENOMEM;
    proto_mesh_key_init(&m->key, o->mesh_key);
    m->on = true;
    log_info("private mesh: key id %s (only peers with the same key are served or used)",
             m->key.id);
    return 0;
}

void agent_mesh_close(struct agent *a)
{
    struct agent_mesh *m = agent_mesh(a);
    if (m == NULL)
        return;
    sodium_memzero(&m->key, sizeof m->key);
    free(m->replay);
    m->replay = NULL;
    m->on = false;
}

bool agent_mesh_on(const struct agent *a)
{
    return agent_mesh(a)->on;
}

const char *agent_mesh_id(const struct agent *a)
{
    return agent_mesh(a)->on ? agent_mesh(a)->key.id : NULL;
}

/* ---- requests to peers ----------------------------------------------------- */

void agent_mesh_ticket(struct agent *a, const char *url, struct agent_mesh_ticket *t)
{
    struct agent_mesh *m = agent_mesh(a);
    memset(t, 0, sizeof *t);
    if (!m->on)
        return;
    /* the path (with query) of "http://host:port/path?query": what the peer sees */
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    if (p == NULL)
        p = "/";
    struct proto_mesh_request r;
    randombytes_buf(r.nonce, sizeof r.nonce);
    r.time = agent_now();
    proto_mesh_header_make(&m->key, "GET", p, strlen(p), r.time, r.nonce, t->header);
    proto_mesh_response_key(&m->key, &r, t->key);
    t->on = true;
}

void agent_mesh_apply(const struct agent_mesh_ticket *t, struct agent_http_request *req)
{
    if (!t->on)
        return;
    req->mesh_header = t->header;
    req->mesh_key = t->key;
}

/* ---- the peer side ------------------------------------------------------------ */

static bool header_of(h2o_req_t *req, struct proto_mesh_request *r, bool *present)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT(PROTO_MESH_HEADER), -1);
    *present = i >= 0;
    if (i < 0)
        return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    return proto_mesh_header_parse(v.base, v.len, r) == 0;
}

int agent_mesh_admit(struct agent *a, h2o_req_t *req)
{
    struct agent_mesh *m = agent_mesh(a);
    struct proto_mesh_request r;
    bool present;
    bool parsed = header_of(req, &r, &present);
    if (!m->on)
        return present ? -EPERM : 0; /* a mesh member's request: not for us */
    int rc = -EPERM;
    char method[16];
    if (parsed && req->method.len < sizeof method) {
        memcpy(method, req->method.base, req->method.len); /* h2o's is not NUL-terminated */
        method[req->method.len] = '\0';
        rc = proto_mesh_header_check(&m->key, &r, method, req->path.base, req->path.len,
                                     agent_now());
        if (rc == 0)
            rc = proto_mesh_replay_add(m->replay, &r, agent_now());
    }
    if (rc < 0) {
        log_debug("peer request refused (%s): %.*s",
                  !present          ? "no mesh header"
                  : !parsed         ? "malformed mesh header"
                  : rc == -ETIME    ? "stale"
                  : rc == -EALREADY ? "a replay"
                  : rc == -EBUSY    ? "replay table full"
                                    : "another key",
                  (int)(req->path.len < 200 ? req->path.len : 200), req->path.base);
        return -EPERM;
    }
    return 0;
}

bool agent_mesh_response_key(struct agent *a, h2o_req_t *req, uint8_t key[32])
{
    struct agent_mesh *m = agent_mesh(a);
    struct proto_mesh_request r;
    bool present;
    if (!m->on || !header_of(req, &r, &present))
        return false;
    proto_mesh_response_key(&m->key, &r, key);
    return true;
}

void agent_mesh_respond(struct agent *a, h2o_req_t *req, const char *ctype, const void *body,
                        size_t len)
{
    uint8_t key[32];
    if (!agent_mesh_response_key(a, req, key)) {
        agent_respond_bytes(req, ctype, body, len);
        return;
    }
    uint8_t *sealed;
    size_t slen;
    int rc = proto_mesh_seal(key, body, len, &sealed, &slen);
    sodium_memzero(key, sizeof key);
    if (rc < 0) {
        agent_respond_text(req, 503, "Service Unavailable", "out of memory\n");
        return;
    }
    agent_respond_bytes(req, "application/octet-stream", sealed, slen);
    free(sealed);
}

/* A file sent sealed: read a chunk, seal it, send it, wait for h2o's proceed. */
struct sealed_file {
    h2o_generator_t gen;
    h2o_req_t *req;
    int fd;
    uint64_t size, off;
    bool done;
    struct agent_mesh_stream st;
    uint8_t plain[PROTO_MESH_CHUNK];
    uint8_t out[PROTO_MESH_STREAM_HEADER + PROTO_MESH_CHUNK + PROTO_MESH_CHUNK_OVERHEAD];
};

static void sealed_file_pump(struct sealed_file *f)
{
    uint64_t left = f->size - f->off;
    size_t want = left < PROTO_MESH_CHUNK ? (size_t)left : PROTO_MESH_CHUNK;
    ssize_t got = want ? pread(f->fd, f->plain, want, (off_t)f->off) : 0;
    if (got < 0 || (size_t)got != want) {
        f->done = true;
        h2o_send(f->req, NULL, 0, H2O_SEND_STATE_ERROR); /* the requester's open fails */
        return;
    }
    f->off += want;
    bool final = f->off == f->size;
    size_t n = agent_mesh_stream_chunk(&f->st, f->plain, want, final, f->out);
    h2o_iovec_t v = h2o_iovec_init(f->out, n);
    f->done = final;
    h2o_send(f->req, &v, 1, final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void sealed_file_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    struct sealed_file *f = (struct sealed_file *)g;
    if (!f->done)
        sealed_file_pump(f);
}

static void sealed_file_dispose(void *p)
{
    struct sealed_file *f = p;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    sodium_memzero(&f->st, sizeof f->st);
}

bool agent_mesh_stream_start(struct agent *a, h2o_req_t *req, struct agent_mesh_stream *st)
{
    uint8_t key[32];
    memset(st, 0, sizeof *st);
    if (!agent_mesh_response_key(a, req, key))
        return false;
    proto_mesh_seal_init(&st->sealer, key, st->hdr);
    sodium_memzero(key, sizeof key);
    return true;
}

size_t agent_mesh_stream_chunk(struct agent_mesh_stream *st, const uint8_t *in, size_t n,
                               bool final, uint8_t *out)
{
    size_t m = 0;
    if (!st->hdr_sent) {
        memcpy(out, st->hdr, sizeof st->hdr);
        m = sizeof st->hdr;
        st->hdr_sent = true;
    }
    return m + proto_mesh_seal_chunk(&st->sealer, in, n, final, out + m);
}

int agent_mesh_send_file(struct agent *a, h2o_req_t *req, const char *path, const char *ctype)
{
    struct agent_mesh_stream ms;
    if (!agent_mesh_stream_start(a, req, &ms))
        return h2o_file_send(req, 200, "OK", path, h2o_iovec_init(ctype, strlen(ctype)), 0) == 0
                   ? 0
                   : -ENOENT;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        sodium_memzero(&ms, sizeof ms);
        return -err;
    }
    struct sealed_file *f = h2o_mem_alloc_shared(&req->pool, sizeof *f, sealed_file_dispose);
    memset(f, 0, sizeof *f);
    f->gen.proceed = sealed_file_proceed;
    f->req = req;
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    f->st = ms;
    sodium_memzero(&ms, sizeof ms);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = proto_mesh_sealed_size(f->size);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/octet-stream"));
    h2o_start_response(req, &f->gen);
    sealed_file_pump(f);
    return 0;
}
