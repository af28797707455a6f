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

#include "agent/internal.h"
#include "agent/log.h"
#include "proto/alloc.h"

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
 * a->ul.list until h2o disposes of the request. */
struct upload {
    struct upload *next, **prev;
    struct agent *a;
    struct proto_peer_addr who;
    uint64_t deadline_ms; /* its slot is given back then, sent or not */
    bool released;        /* the slot was given back by the deadline */
};

unsigned agent_peerapi_slots(const struct agent *a)
{
    return a->opt->upload_slots ? a->opt->upload_slots : AGENT_DEFAULT_UPLOAD_SLOTS;
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
    struct agent_upload_ip *active = a->ul.ips;
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
    if (a->ul.active > 0)
        a->ul.active--;
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
    agent_news_changed(a);
    if (!a->stopping)
        agent_uploads_next(a);
}

static void on_sweep(uv_timer_t *t);

/* Send the blob now, taking a slot. 0, or -ENOENT (not held any more). */
static int start(struct agent *a, h2o_req_t *req, const uint8_t sha[PROTO_SHA256_LEN],
                 const struct proto_peer_addr *who)
{
    char path[4096];
    struct stat st;
    if (store_blob_path(a->store, sha, path, sizeof path) < 0 || stat(path, &st) < 0)
        return -ENOENT;
    if (h2o_file_send(req, 200, "OK", path, h2o_iovec_init(H2O_STRLIT("application/x-tar")), 0) !=
        0)
        return -ENOENT;
    struct upload *u = h2o_mem_alloc_shared(&req->pool, sizeof *u, upload_done);
    memset(u, 0, sizeof *u);
    u->a = a;
    u->who = *who;
    uv_update_time(&a->loop);
    u->deadline_ms = uv_now(&a->loop) + UPLOAD_DEADLINE_BASE_MS + (uint64_t)st.st_size / 1024;
    u->next = a->ul.list;
    u->prev = &a->ul.list;
    if (u->next)
        u->next->prev = &u->next;
    a->ul.list = u;
    if (!uv_is_active((uv_handle_t *)&a->ul.timer))
        uv_timer_start(&a->ul.timer, on_sweep, UPLOAD_SWEEP_MS, UPLOAD_SWEEP_MS);
    unsigned *n = active_slot(a, who, true);
    if (n)
        (*n)++;
    a->ul.active++;
    a->counters.served_to_peers++;
    a->counters.bytes_to_peers += (uint64_t)st.st_size;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) != 0) {
        struct agent_peer *p = agent_peer_by_ip(a, (struct sockaddr *)&ss);
        if (p) {
            p->n.crates_to++;
            p->n.bytes_to += (uint64_t)st.st_size;
        }
    }
    memcpy(a->ul.recent[a->ul.recent_pos++ % AGENT_UPLOAD_RECENT], sha, PROTO_SHA256_LEN);
    store_blob_touch(a->store, sha);
    agent_news_changed(a);
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
    a->ul.waiting--;
}

/* Expired waits get 503; gone requesters are dropped; uploads past their
 * send deadline give their slot back. */
static void sweep(struct agent *a)
{
    uv_update_time(&a->loop);
    uint64_t now = uv_now(&a->loop);
    bool freed = false;
    for (struct upload *u = a->ul.list; u; u = u->next) {
        if (!u->released && u->deadline_ms <= now) {
            release_slot(u);
            a->counters.uploads_too_slow++;
            freed = true;
        }
    }
    if (freed)
        agent_uploads_next(a);
    struct upload_wait **pp = &a->ul.queue;
    while (*pp) {
        struct upload_wait *w = *pp;
        if (w->req != NULL && w->deadline_ms > now) {
            pp = &w->next;
            continue;
        }
        if (w->req) {
            a->counters.peer_busy++;
            answer_busy(w->req);
        }
        unlink_wait(a, pp);
    }
}

static void on_sweep(uv_timer_t *t)
{
    struct agent *a = t->data;
    sweep(a);
    bool pending = a->ul.queue != NULL;
    for (struct upload *u = a->ul.list; u && !pending; u = u->next)
        pending = !u->released;
    if (!pending)
        uv_timer_stop(t);
}

/* How many times this crate was sent recently (a small ring of recent sends). */
static unsigned sent_count(const struct agent *a, const uint8_t sha[PROTO_SHA256_LEN])
{
    unsigned n = 0;
    for (size_t i = 0; i < AGENT_UPLOAD_RECENT; i++)
        if (memcmp(a->ul.recent[i], sha, PROTO_SHA256_LEN) == 0)
            n++;
    return n;
}

void agent_uploads_next(struct agent *a)
{
    while (a->ul.active < agent_peerapi_slots(a) && a->ul.queue != NULL) {
        /* the requester with the fewest uploads in progress; then the crate
         * sent the fewest times recently; then the oldest */
        struct upload_wait **best = NULL;
        unsigned best_n = 0, best_sent = 0;
        for (struct upload_wait **pp = &a->ul.queue; *pp; pp = &(*pp)->next) {
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
            while (a->ul.queue)
                unlink_wait(a, &a->ul.queue);
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
    agent_news_changed(a);
}

void agent_uploads_request(struct agent *a, h2o_req_t *req, const uint8_t sha[PROTO_SHA256_LEN])
{
    struct proto_peer_addr who;
    if (!who_of(req, &who))
        memset(&who, 0, sizeof who);
    if (a->ul.active < agent_peerapi_slots(a) && a->ul.queue == NULL) {
        if (start(a, req, sha, &who) < 0)
            agent_respond_text(req, 404, "Not Found", "not held\n");
        return;
    }
    if (a->ul.waiting >= UPLOAD_QUEUE_MAX) {
        a->counters.peer_busy++;
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
    uv_update_time(&a->loop);
    w->deadline_ms = uv_now(&a->loop) + UPLOAD_WAIT_MS;
    struct upload_wait **pp = &a->ul.queue;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    a->ul.waiting++;
    a->counters.uploads_queued++;
    agent_news_changed(a);
    if (!uv_is_active((uv_handle_t *)&a->ul.timer))
        uv_timer_start(&a->ul.timer, on_sweep, UPLOAD_SWEEP_MS, UPLOAD_SWEEP_MS);
}

unsigned agent_uploads_active(const struct agent *a)
{
    return a->ul.active;
}

unsigned agent_uploads_waiting(const struct agent *a)
{
    return a->ul.waiting;
}

void agent_uploads_init(struct agent *a)
{
    uv_timer_init(&a->loop, &a->ul.timer);
    a->ul.timer.data = a;
}

void agent_uploads_close(struct agent *a)
{
    if (a->ul.timer.data == NULL) /* agent_uploads_init never ran (a startup error) */
        return;
    uv_timer_stop(&a->ul.timer);
    uv_close((uv_handle_t *)&a->ul.timer, NULL);
    while (a->ul.queue)
        unlink_wait(a, &a->ul.queue);
}
