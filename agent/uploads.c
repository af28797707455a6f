/* agent/uploads.c — crate uploads to peers: a bounded number at once, and a
 * fair queue instead of "busy" for the rest.
 *
 * At most --upload-slots blobs (default 8) are sent at a time. A request beyond that waits in
 * the queue (at most UPLOAD_QUEUE_MAX requests, each at most UPLOAD_WAIT_MS);
 * when a slot frees, the waiting request whose requester (by IP address) has
 * the fewest uploads in progress goes next, the oldest among equals, so one
 * greedy machine cannot starve a room. Only a full queue or an expired wait is
 * answered 503 (with Retry-After): the requester then asks another holder or
 * tries again later; it never fails a build for it (agent/fetch.c).
 *
 * A slot is held from h2o_file_send until h2o disposes of the request (sent,
 * or the connection closed), or until the upload's send deadline (10 s plus
 * the time at 1 MiB/s): a requester that never reads (or reads slowly) keeps
 * its connection (bounded by the peer side's connection cap) but not a slot;
 * the slot limits concurrency, and a slow upload goes on without one. Ownership: loop thread; the
 * queue entries are malloc'd and linked to their request's pool so a requester that goes away is
 * skipped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <h2o.h>
#include <uv.h>

#include "agent/core.h"
#include "agent/http_server.h"
#include "agent/log.h"
#include "agent/mesh.h"
#include "agent/peers.h"
#include "agent/uploads.h"
#include "proto/alloc.h"
#include "store/store.h"

struct upload_wait;
struct upload;
#define AGENT_UPLOAD_IPS_MAX 64
#define AGENT_UPLOAD_RECENT 512 /* the last crates sent, for "first copies first" */
struct agent_upload_ip {
    struct proto_peer_addr who;
    unsigned n; /* uploads in progress to it (0 = free entry) */
};
/* uploads.c's state: only uploads.c reads or writes it (others ask the
 * functions below). */
struct agent_uploads {
    unsigned active;  /* crate uploads in progress (holding a slot) */
    unsigned waiting; /* upload requests waiting for a slot */
    struct upload_wait *queue;
    struct upload *list; /* every upload h2o has not disposed of yet */
    uv_timer_t timer;
    struct agent_upload_ip ips[AGENT_UPLOAD_IPS_MAX];
    uint8_t recent[AGENT_UPLOAD_RECENT][PROTO_SHA256_LEN];
    size_t recent_pos;
};

struct agent_uploads *agent_uploads_new(void)
{
    return cc_calloc(1, sizeof(struct agent_uploads));
}

#define UPLOAD_QUEUE_MAX 128
#define UPLOAD_WAIT_MS 5000
#define UPLOAD_SWEEP_MS 250
#define UPLOAD_DEADLINE_BASE_MS 10000 /* plus the time at 1 MiB/s: then the slot is freed */

struct upload_link;

struct upload_wait {
    struct upload_wait *next;
    struct upload_link *link;
    h2o_req_t *req; /* NULL once the requester went away */
    uint8_t sha[PROTO_SHA256_LEN];
    struct proto_peer_addr who; /* port 0 */
    uint64_t deadline_ms;
};

struct upload_link {
    struct upload_wait *w;
};

/* One upload in progress; lives in the request's pool, linked in
 * agent_uploads(a)->list until h2o disposes of the request. */
struct upload {
    struct upload *next, **prev;
    struct agent *a;
    struct proto_peer_addr who;
    uint64_t deadline_ms; /* its slot is given back then, sent or not */
    bool released;        /* the slot was given back by the deadline */
};

unsigned agent_uploads_slots(const struct agent *a)
{
    return agent_opt(a)->upload_slots ? agent_opt(a)->upload_slots : AGENT_DEFAULT_UPLOAD_SLOTS;
}

static bool who_of(h2o_req_t *req, struct proto_peer_addr *who)
{
    struct sockaddr_storage ss;
    memset(who, 0, sizeof *who);
    memset(&ss, 0, sizeof ss);
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0 ||
        proto_peer_addr_from_sockaddr((struct sockaddr *)&ss, who) < 0)
        return false;
    who->port = 0; /* a requester is its IP address */
    return true;
}

/* Uploads in progress per requester IP (a small table: a room's machines). */
static unsigned *active_slot(struct agent *a, const struct proto_peer_addr *who, bool create)
{
    struct agent_upload_ip *active = agent_uploads(a)->ips;
    int free_i = -1;
    for (int i = 0; i < AGENT_UPLOAD_IPS_MAX; i++) {
        if (active[i].n && proto_peer_addr_eq(&active[i].who, who))
            return &active[i].n;
        if (active[i].n == 0 && free_i < 0)
            free_i = i;
    }
    if (!create || free_i < 0)
        return NULL;
    active[free_i].who = *who;
    return &active[free_i].n;
}

/* Give the upload's slot back (once). */
static void release_slot(struct upload *u)
{
    struct agent *a = u->a;
    if (u->released)
        return;
    u->released = true;
    unsigned *n = active_slot(a, &u->who, false);
    if (n && *n)
        (*n)--;
    if (agent_uploads(a)->active > 0)
        agent_uploads(a)->active--;
}

static void upload_done(void *ptr)
{
    struct upload *u = ptr;
    struct agent *a = u->a;
    *u->prev = u->next;
    if (u->next)
        u->next->prev = u->prev;
    bool had_slot = !u->released;
    release_slot(u);
    if (!had_slot)
        return;
    agent_changed(a);
    if (!agent_stopping(a))
        agent_uploads_next(a);
}

static void on_sweep(uv_timer_t *t);

/* Send the blob now, taking a slot. 0, or -ENOENT (not held any more). */
static int start(struct agent *a, h2o_req_t *req, const uint8_t sha[PROTO_SHA256_LEN],
                 const struct proto_peer_addr *who)
{
    char path[4096];
    struct stat st;
    if (store_blob_path(agent_store(a), sha, path, sizeof path) < 0 || stat(path, &st) < 0)
        return -ENOENT;
    if (agent_mesh_send_file(a, req, path, "application/x-tar") != 0)
        return -ENOENT;
    struct upload *u = h2o_mem_alloc_shared(&req->pool, sizeof *u, upload_done);
    memset(u, 0, sizeof *u);
    u->a = a;
    u->who = *who;
    uv_update_time(agent_loop(a));
    u->deadline_ms = uv_now(agent_loop(a)) + UPLOAD_DEADLINE_BASE_MS + (uint64_t)st.st_size / 1024;
    u->next = agent_uploads(a)->list;
    u->prev = &agent_uploads(a)->list;
    if (u->next)
        u->next->prev = &u->next;
    agent_uploads(a)->list = u;
    if (!uv_is_active((uv_handle_t *)&agent_uploads(a)->timer))
        uv_timer_start(&agent_uploads(a)->timer, on_sweep, UPLOAD_SWEEP_MS, UPLOAD_SWEEP_MS);
    unsigned *n = active_slot(a, who, true);
    if (n)
        (*n)++;
    agent_uploads(a)->active++;
    agent_counters(a)->served_to_peers++;
    agent_counters(a)->bytes_to_peers += (uint64_t)st.st_size;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) != 0) {
        struct agent_peer *p = agent_peer_by_ip(a, (struct sockaddr *)&ss);
        if (p)
            agent_peer_sent_crate(p, (uint64_t)st.st_size);
    }
    memcpy(agent_uploads(a)->recent[agent_uploads(a)->recent_pos++ % AGENT_UPLOAD_RECENT], sha,
           PROTO_SHA256_LEN);
    store_blob_touch(agent_store(a), sha);
    agent_changed(a);
    return 0;
}

static void link_dispose(void *ptr)
{
    struct upload_link *l = ptr;
    if (l->w)
        l->w->req = NULL;
}

static void answer_busy(h2o_req_t *req)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    agent_respond_text(req, 503, "Service Unavailable", "busy: try another holder\n");
}

static void unlink_wait(struct agent *a, struct upload_wait **pp)
{
    struct upload_wait *w = *pp;
    *pp = w->next;
    if (w->req)
        w->link->w = NULL;
    free(w);
    agent_uploads(a)->waiting--;
}

/* Expired waits get 503; gone requesters are dropped; uploads past their
 * send deadline give their slot back. */
static void sweep(struct agent *a)
{
    uv_update_time(agent_loop(a));
    uint64_t now = uv_now(agent_loop(a));
    bool freed = false;
    for (struct upload *u = agent_uploads(a)->list; u; u = u->next) {
        if (!u->released && u->deadline_ms <= now) {
            release_slot(u);
            agent_counters(a)->uploads_too_slow++;
            freed = true;
        }
    }
    if (freed)
        agent_uploads_next(a);
    struct upload_wait **pp = &agent_uploads(a)->queue;
    while (*pp) {
        struct upload_wait *w = *pp;
        if (w->req != NULL && w->deadline_ms > now) {
            pp = &w->next;
            continue;
        }
        if (w->req) {
            agent_counters(a)->peer_busy++;
            answer_busy(w->req);
        }
        unlink_wait(a, pp);
    }
}

static void on_sweep(uv_timer_t *t)
{
    struct agent *a = t->data;
    sweep(a);
    bool pending = agent_uploads(a)->queue != NULL;
    for (struct upload *u = agent_uploads(a)->list; u && !pending; u = u->next)
        pending = !u->released;
    if (!pending)
        uv_timer_stop(t);
}

/* How many times this crate was sent recently (a small ring of recent sends). */
static unsigned sent_count(const struct agent *a, const uint8_t sha[PROTO_SHA256_LEN])
{
    unsigned n = 0;
    for (size_t i = 0; i < AGENT_UPLOAD_RECENT; i++)
        if (memcmp(agent_uploads(a)->recent[i], sha, PROTO_SHA256_LEN) == 0)
            n++;
    return n;
}

void agent_uploads_next(struct agent *a)
{
    while (agent_uploads(a)->active < agent_uploads_slots(a) && agent_uploads(a)->queue != NULL) {
        /* the requester with the fewest uploads in progress; then the crate
         * sent the fewest times recently; then the oldest */
        struct upload_wait **best = NULL;
        unsigned best_n = 0, best_sent = 0;
        for (struct upload_wait **pp = &agent_uploads(a)->queue; *pp; pp = &(*pp)->next) {
            if ((*pp)->req == NULL)
                continue;
            unsigned *n = active_slot(a, &(*pp)->who, false);
            unsigned k = n ? *n : 0;
            if (best != NULL && k > best_n)
                continue;
            unsigned sent = sent_count(a, (*pp)->sha);
            if (best == NULL || k < best_n || sent < best_sent) {
                best = pp;
                best_n = k;
                best_sent = sent;
            }
        }
        if (best == NULL) { /* only gone requesters left */
            while (agent_uploads(a)->queue)
                unlink_wait(a, &agent_uploads(a)->queue);
            break;
        }
        struct upload_wait *w = *best;
        h2o_req_t *req = w->req;
        uint8_t sha[PROTO_SHA256_LEN];
        struct proto_peer_addr who = w->who;
        memcpy(sha, w->sha, sizeof sha);
        unlink_wait(a, best);
        if (start(a, req, sha, &who) < 0)
            agent_respond_text(req, 404, "Not Found", "not held\n");
    }
    agent_changed(a);
}

void agent_uploads_request(struct agent *a, h2o_req_t *req, const uint8_t sha[PROTO_SHA256_LEN])
{
    struct proto_peer_addr who;
    if (!who_of(req, &who))
        memset(&who, 0, sizeof who);
    if (agent_uploads(a)->active < agent_uploads_slots(a) && agent_uploads(a)->queue == NULL) {
        if (start(a, req, sha, &who) < 0)
            agent_respond_text(req, 404, "Not Found", "not held\n");
        return;
    }
    if (agent_uploads(a)->waiting >= UPLOAD_QUEUE_MAX) {
        agent_counters(a)->peer_busy++;
        answer_busy(req);
        return;
    }
    struct upload_wait *w = cc_calloc(1, sizeof *w);
    if (w == NULL) {
        answer_busy(req);
        return;
    }
    struct upload_link *l = h2o_mem_alloc_shared(&req->pool, sizeof *l, link_dispose);
    l->w = w;
    w->link = l;
    w->req = req;
    memcpy(w->sha, sha, PROTO_SHA256_LEN);
    w->who = who;
    uv_update_time(agent_loop(a));
    w->deadline_ms = uv_now(agent_loop(a)) + UPLOAD_WAIT_MS;
    struct upload_wait **pp = &agent_uploads(a)->queue;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    agent_uploads(a)->waiting++;
    agent_counters(a)->uploads_queued++;
    agent_changed(a);
    if (!uv_is_active((uv_handle_t *)&agent_uploads(a)->timer))
        uv_timer_start(&agent_uploads(a)->timer, on_sweep, UPLOAD_SWEEP_MS, UPLOAD_SWEEP_MS);
}

unsigned agent_uploads_active(const struct agent *a)
{
    return agent_uploads(a)->active;
}

unsigned agent_uploads_waiting(const struct agent *a)
{
    return agent_uploads(a)->waiting;
}

void agent_uploads_init(struct agent *a)
{
    uv_timer_init(agent_loop(a), &agent_uploads(a)->timer);
    agent_uploads(a)->timer.data = a;
}

void agent_uploads_close(struct agent *a)
{
    if (agent_uploads(a)->timer.data == NULL) /* agent_uploads_init never ran (a startup error) */
        return;
    uv_timer_stop(&agent_uploads(a)->timer);
    uv_close((uv_handle_t *)&agent_uploads(a)->timer, NULL);
    while (agent_uploads(a)->queue)
        unlink_wait(a, &agent_uploads(a)->queue);
}
