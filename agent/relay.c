/* agent/relay.c — see relay.h. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <h2o.h>

#include "agent/core.h"
#include "agent/fetch.h"
#include "agent/http_server.h"
#include "agent/log.h"
#include "agent/mesh.h"
#include "agent/relay.h"
#include "proto/alloc.h"

struct agent_relays {
    struct relay *list;
    unsigned n;
    unsigned held;   /* requests waiting for a relay's first byte */
    uv_timer_t hold; /* while held > 0: answers those held too long */
};

struct agent_relays *agent_relays_new(void)
{
    return cc_calloc(1, sizeof(struct agent_relays));
}

#define RELAY_CHUNK (64u << 10)

struct relay {
    h2o_generator_t gen; /* h2o calls proceed when a chunk went out */
    struct relay *next, **prev;
    struct agent *a;
    h2o_req_t *req;
    uint8_t sha[PROTO_SHA256_LEN];
    int fd;
    uint64_t off;        /* bytes sent */
    uint64_t avail;      /* bytes the transfer has written */
    bool complete;       /* the transfer brought every byte: avail is the size */
    bool failed;         /* the transfer failed: cut the answer off */
    bool sending;        /* a chunk is out, proceed not called yet */
    bool finished;       /* the last h2o_send went out (FINAL or ERROR), or h2o stopped us */
    bool sealed;         /* a mesh member's request: every chunk sealed (mesh.h) */
    bool held;           /* not answered yet: the transfer, itself a relay, has no byte */
    uint64_t held_until; /* loop time (ms) by which a held request is answered 404 */
    struct agent_mesh_stream st;
    uint8_t buf[RELAY_CHUNK];
    uint8_t out[PROTO_MESH_STREAM_HEADER + RELAY_CHUNK + PROTO_MESH_CHUNK_OVERHEAD];
};

/* Send n bytes of buf (the last ones when final), sealed when the request is a
 * mesh member's. */
static void send_chunk(struct relay *r, size_t n, bool final)
{
    h2o_iovec_t v = h2o_iovec_init(r->buf, n);
    if (r->sealed)
        v = h2o_iovec_init(r->out, agent_mesh_stream_chunk(&r->st, r->buf, n, final, r->out));
    h2o_send(r->req, n || r->sealed ? &v : NULL, n || r->sealed ? 1 : 0,
             final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void pump(struct relay *r)
{
    if (r->sending || r->finished)
        return;
    if (r->failed) {
        r->finished = true;
        h2o_send(r->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    if (r->off < r->avail) {
        uint64_t want = r->avail - r->off;
        size_t n = want < RELAY_CHUNK ? (size_t)want : RELAY_CHUNK;
        ssize_t got = pread(r->fd, r->buf, n, (off_t)r->off);
        if (got <= 0) {
            r->finished = true;
            h2o_send(r->req, NULL, 0, H2O_SEND_STATE_ERROR);
            return;
        }
        r->off += (uint64_t)got;
        bool last = r->complete && r->off == r->avail;
        if (last) {
            r->finished = true;
            agent_counters(r->a)->relayed++;
            agent_counters(r->a)->served_to_peers++;
            agent_counters(r->a)->bytes_to_peers += r->off;
        } else {
            r->sending = true;
        }
        send_chunk(r, (size_t)got, last);
        return;
    }
    if (r->complete) {
        r->finished = true;
        agent_counters(r->a)->relayed++;
        agent_counters(r->a)->served_to_peers++;
        agent_counters(r->a)->bytes_to_peers += r->off;
        send_chunk(r, 0, true);
    }
    /* else: caught up; agent_relay_progress pumps again */
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    struct relay *r = (struct relay *)g;
    r->sending = false;
    pump(r);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    struct relay *r = (struct relay *)g;
    r->finished = true; /* the requester went away: send nothing more */
}

static void unhold(struct relay *r)
{
    if (r->held) {
        r->held = false;
        agent_relays(r->a)->held--;
    }
}

static void dispose(void *ptr)
{
    struct relay *r = ptr;
    unhold(r);
    *r->prev = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (agent_relays(r->a)->n > 0)
        agent_relays(r->a)->n--;
    if (r->fd >= 0)
        close(r->fd);
    sodium_memzero(&r->st, sizeof r->st);
}

/* The 200 answer starts (the relay was held until now, or never). */
static void begin(struct relay *r)
{
    h2o_req_t *req = r->req;
    unhold(r);
    req->res.status = 200;
    req->res.reason = "OK";
    if (r->sealed)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/octet-stream"));
    else
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/x-tar"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-cratecast-source"), 0, NULL,
                          H2O_STRLIT("relay"));
    h2o_start_response(req, &r->gen);
    pump(r);
}

/* A held request whose relay will not start: "not held" (the requester asks
 * someone else). */
static void refuse(struct relay *r, const char *why)
{
    unhold(r);
    r->finished = true;
    agent_respond_text(r->req, 404, "Not Found", why);
}

static void on_hold_tick(uv_timer_t *t)
{
    struct agent *a = t->data;
    uint64_t now = uv_now(agent_loop(a));
    struct relay *r = agent_relays(a)->list, *next;
    for (; r; r = next) {
        next = r->next;
        if (r->held && now >= r->held_until) {
            log_debug("relay %02x%02x%02x%02x: no byte after %u ms: refused", r->sha[0], r->sha[1],
                      r->sha[2], r->sha[3], RELAY_HOLD_MS);
            refuse(r, "not held: no byte of it here yet\n");
        }
    }
    if (agent_relays(a)->held == 0)
        uv_timer_stop(t);
}

void agent_relay_close(struct agent *a)
{
    struct agent_relays *x = agent_relays(a);
    if (x != NULL && x->hold.data != NULL && !uv_is_closing((uv_handle_t *)&x->hold)) {
        uv_timer_stop(&x->hold);
        uv_close((uv_handle_t *)&x->hold, NULL);
    }
}

int agent_relay_start(struct agent *a, h2o_req_t *req, const uint8_t sha[PROTO_SHA256_LEN])
{
    struct agent_relays *x = agent_relays(a);
    if (x->n >= RELAY_MAX)
        return -EBUSY;
    uint64_t size;
    bool relayed;
    int fd = agent_fetch_relay_reader(a, sha, &size, &relayed);
    if (fd < 0)
        return fd;
    bool hold = relayed && size == 0;
    log_debug("relay %02x%02x%02x%02x: %llu bytes so far%s%s", sha[0], sha[1], sha[2], sha[3],
              (unsigned long long)size, relayed ? ", itself a relay" : "",
              hold ? ": held until its first byte" : "");
    if (hold && x->hold.data == NULL) {
        uv_timer_init(agent_loop(a), &x->hold);
        x->hold.data = a;
    }
    struct relay *r = h2o_mem_alloc_shared(&req->pool, sizeof *r, dispose);
    memset(r, 0, offsetof(struct relay, buf));
    r->sealed = agent_mesh_stream_start(a, req, &r->st);
    r->gen.proceed = on_proceed;
    r->gen.stop = on_stop;
    r->a = a;
    r->req = req;
    memcpy(r->sha, sha, PROTO_SHA256_LEN);
    r->fd = fd;
    r->avail = size;
    r->next = agent_relays(a)->list;
    r->prev = &agent_relays(a)->list;
    if (r->next)
        r->next->prev = &r->next;
    x->list = r;
    x->n++;
    if (hold) {
        r->held = true;
        r->held_until = uv_now(agent_loop(a)) + RELAY_HOLD_MS;
        if (x->held++ == 0)
            uv_timer_start(&x->hold, on_hold_tick, RELAY_HOLD_MS / 4, RELAY_HOLD_MS / 4);
        return 0;
    }
    begin(r);
    return 0;
}

/* Pump every relay of sha (a relay may be disposed of while pumped: the next
 * one is taken first). */
static void each(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size, int how)
{
    struct relay *r = agent_relays(a)->list, *next;
    for (; r; r = next) {
        next = r->next;
        if (memcmp(r->sha, sha, PROTO_SHA256_LEN) != 0 || r->finished)
            continue;
        if (how == 0 && size > r->avail)
            r->avail = size;
        else if (how == 1)
            r->complete = true;
        else if (how == 2)
            r->failed = true;
        if (r->held) {
            if (r->failed)
                refuse(r, "not held\n");
            else if (r->avail > 0 || r->complete)
                begin(r);
            continue;
        }
        pump(r);
    }
}

void agent_relay_progress(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size)
{
    if (agent_relays(a)->n)
        each(a, sha, size, 0);
}

void agent_relay_end(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], bool complete)
{
    if (agent_relays(a)->n)
        each(a, sha, 0, complete ? 1 : 2);
}

unsigned agent_relay_count(const struct agent *a)
{
    return agent_relays(a)->n;
}
