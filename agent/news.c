/* agent/news.c — news between peers, as it happens (GET /peer/1/news, a long
 * poll; the message is proto/peer.h's struct proto_news).
 *
 * Holder side. agent_news(a)->gen counts changes of anything a peer acts on: the
 * store's sequence (crates or index entries gained), the set of crates this
 * agent is fetching, the live peers it knows, its upload load. A request
 * "since=G" whose G differs from the current generation is answered at once;
 * otherwise it is parked (at most NEWS_PARKED_MAX, the oldest answered first
 * when full) until the generation moves or its wait (<= PROTO_NEWS_WAIT_MAX s)
 * ends. Changes are coalesced for NEWS_COALESCE_MS, so a burst of fetches costs
 * one message per poller. One encoding per generation is cached, and one more
 * with gains for requests that ask gains=1: the holder's log of what the store
 * gained in its last NEWS_GAINS_STEPS sequence steps (agent/gains.c, kept
 * up to date one small delta query per step when such an encoding is made).
 *
 * Requester side, per live peer whose hello offers PROTO_CAP_NEWS: one poll in
 * flight at a time (p->news_polling). An answer updates what the peer is
 * fetching and its load, adds the peers it knows as pex candidates (one address
 * joins the room), adds what it gained when the answer's gains follow on from
 * the manifest we hold (agent_peer_apply_gains), else starts a manifest poll
 * when its sequence moved (holdings spread within a round trip), wakes fetches that wait for a neighbour, and
 * polls again at once. A failure ends polling until the next hello of the
 * regular poll cycle starts it again (agent_news_poll).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>
#include <uv.h>

#include "agent/core.h"
#include "agent/gains.h"
#include "agent/http_client.h"
#include "agent/http_server.h"
#include "agent/holdings.h"
#include "agent/log.h"
#include "agent/mesh.h"
#include "agent/news.h"
#include "agent/peers.h"
#include "agent/uploads.h"
#include "proto/alloc.h"
#include "proto/config.h"
#include "proto/peer.h"
#include "proto/route.h"
#include "store/store.h"

/* One cached encoding: of generation gen. */
struct news_wire {
    uint8_t *buf;
    size_t len;
    uint64_t gen;
};

struct news_waiter;
struct agent_news {
    bool started;
    uint64_t gen;      /* moves with anything peers act on */
    uint64_t told_seq; /* the store sequence the news moved for last */
    uv_timer_t coalesce, deadlines;
    struct news_waiter *parked; /* oldest first */
    size_t nparked;
    struct news_wire wire[2]; /* the encodings without [0] and with [1] gains */
    struct agent_gains gains; /* what the store gained lately (gains.h) */
    uint8_t fetching[PROTO_NEWS_FETCHING_MAX][PROTO_SHA256_LEN]; /* transfers in flight */
    size_t nfetching;
};

struct agent_news *agent_news_new(void)
{
    return cc_calloc(1, sizeof(struct agent_news));
}

#define NEWS_PARKED_MAX 256
#define NEWS_COALESCE_MS 3
#define NEWS_WAIT_S 25             /* what we ask a holder to hold our poll for */
#define NEWS_WIRE_MAX (128u << 10) /* a news message is at most ~72 KiB */
#define NEWS_GAINS_STEPS 16        /* store sequences the gains reach back */
#define NEWS_CTYPE "application/x-cratecast"

struct news_link;

struct news_waiter {
    struct news_waiter *next;
    struct news_link *link;
    h2o_req_t *req; /* NULL once the client went away */
    uint64_t deadline_ms;
    bool gains; /* asked with gains=1 */
};

struct news_link {
    struct news_waiter *w;
};

static struct agent *news_agent(uv_timer_t *t)
{
    return t->data;
}

/* ---- holder side ---------------------------------------------------------- */

/* Bring the gains up to the store's sequence seq: one small delta query per
 * step of the sequence, so what a news message lists costs no more than what
 * changed. An eviction, a reset store or a large import starts them afresh
 * (peers then fetch the manifest as before). */
static void gains_catch_up(struct agent *a, uint64_t seq)
{
    struct agent_gains *g = &agent_news(a)->gains;
    if (seq == g->top)
        return;
    if (seq < g->top || store_removed_seq(agent_store(a)) > g->top) {
        agent_gains_reset(g, seq);
        return;
    }
    struct proto_manifest m;
    memset(&m, 0, sizeof m);
    if (agent_holdings_since(a, g->top, PROTO_NEWS_GAINS_MAX, &m) < 0 ||
        agent_gains_add(g, seq, &m, NEWS_GAINS_STEPS, PROTO_NEWS_GAINS_MAX) < 0)
        agent_gains_reset(g, seq);
    proto_manifest_clear(&m);
}

static int encode_current(struct agent *a, bool with_gains)
{
    struct agent_news *ns = agent_news(a);
    struct news_wire *cached = &ns->wire[with_gains];
    if (cached->buf != NULL && cached->gen == ns->gen)
        return 0;
    struct proto_news n;
    memset(&n, 0, sizeof n);
    memcpy(n.pk, agent_id(a)->pk, PROTO_PK_LEN);
    n.gen = ns->gen;
    n.seq = store_seq(agent_store(a));
    n.time = (uint64_t)agent_now();
    unsigned active = agent_uploads_active(a), waiting = agent_uploads_waiting(a);
    n.uploads = (uint16_t)(active > 0xffff ? 0xffff : active);
    n.upload_slots = (uint16_t)agent_uploads_slots(a);
    n.upload_waiting = (uint16_t)(waiting > 0xffff ? 0xffff : waiting);
    n.fetching = ns->fetching;
    n.nfetching = ns->nfetching > PROTO_NEWS_FETCHING_MAX ? PROTO_NEWS_FETCHING_MAX : ns->nfetching;
    struct proto_peer_addr peers[PROTO_NEWS_PEERS_MAX];
    for (struct agent_peer *p = agent_peers_first(a); p && n.npeers < PROTO_NEWS_PEERS_MAX;
         p = p->next)
        if (p->state == PEER_LIVE && !p->removed &&
            proto_peer_addr_parse(p->addr, strlen(p->addr), &peers[n.npeers]) == 0)
            n.npeers++;
    n.peers = peers;
    struct proto_manifest_crate *gc = NULL;
    struct proto_manifest_index *gi = NULL;
    if (with_gains) {
        struct agent_gains *g = &ns->gains;
        gains_catch_up(a, n.seq);
        gc = cc_calloc(g->ncrates + 1, sizeof *gc);
        gi = cc_calloc(g->nindex + 1, sizeof *gi);
        if (gc && gi) { /* else the news goes without gains */
            n.has_gains = true;
            n.gains_since = g->base;
            n.gained = gc;
            n.gained_index = gi;
            agent_gains_view(g, gc, &n.ngained, gi, &n.ngained_index);
        }
    }
    uint8_t *wire;
    size_t len;
    int rc = proto_news_encode(&n, agent_id(a)->sk, &wire, &len);
    free(gc);
    free(gi);
    if (rc < 0)
        return rc;
    free(cached->buf);
    *cached = (struct news_wire){.buf = wire, .len = len, .gen = ns->gen};
    return 0;
}

static void respond(struct agent *a, h2o_req_t *req, bool gains)
{
    struct agent_news *ns = agent_news(a);
    if (encode_current(a, gains) < 0) {
        agent_respond_text(req, 500, "Internal Server Error", "cannot encode news\n");
        return;
    }
    agent_mesh_respond(a, req, NEWS_CTYPE, ns->wire[gains].buf, ns->wire[gains].len);
}

static void link_dispose(void *ptr)
{
    struct news_link *l = ptr;
    if (l->w)
        l->w->req = NULL;
}

/* Answer parked polls: all of them, or only those past their deadline. */
static void release(struct agent *a, bool all)
{
    struct agent_news *ns = agent_news(a);
    uv_update_time(agent_loop(a));
    uint64_t now = uv_now(agent_loop(a));
    struct news_waiter **pp = &ns->parked;
    while (*pp) {
        struct news_waiter *w = *pp;
        if (!all && w->req != NULL && w->deadline_ms > now) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        ns->nparked--;
        if (w->req) {
            w->link->w = NULL;
            respond(a, w->req, w->gains);
        }
        free(w);
    }
}

static void on_coalesced(uv_timer_t *t)
{
    release(news_agent(t), true);
}

static void on_deadlines(uv_timer_t *t)
{
    release(news_agent(t), false);
}

void agent_news_changed(struct agent *a)
{
    struct agent_news *ns = agent_news(a);
    ns->gen++;
    if (!ns->started || agent_stopping(a) || ns->nparked == 0 ||
        uv_is_active((uv_handle_t *)&ns->coalesce))
        return;
    uv_update_time(agent_loop(a));
    uv_timer_start(&ns->coalesce, on_coalesced, NEWS_COALESCE_MS, 0);
}

void agent_news_store_moved(struct agent *a, uint64_t seq)
{
    struct agent_news *ns = agent_news(a);
    if (seq == ns->told_seq)
        return;
    ns->told_seq = seq;
    agent_news_changed(a);
}

void agent_news_serve(struct agent *a, h2o_req_t *req, const struct proto_route *r)
{
    struct agent_news *ns = agent_news(a);
    if (r->since != ns->gen || r->wait == 0 || !ns->started) {
        respond(a, req, r->gains);
        return;
    }
    if (ns->nparked >= NEWS_PARKED_MAX) {
        /* full: the oldest is answered now (it polls again), this one waits */
        struct news_waiter *oldest = ns->parked;
        if (oldest) {
            ns->parked = oldest->next;
            ns->nparked--;
            if (oldest->req) {
                oldest->link->w = NULL;
                respond(a, oldest->req, oldest->gains);
            }
            free(oldest);
        }
    }
    struct news_waiter *w = cc_calloc(1, sizeof *w);
    if (w == NULL) {
        respond(a, req, r->gains);
        return;
    }
    struct news_link *l = h2o_mem_alloc_shared(&req->pool, sizeof *l, link_dispose);
    l->w = w;
    w->link = l;
    w->req = req;
    w->gains = r->gains;
    uv_update_time(agent_loop(a));
    w->deadline_ms = uv_now(agent_loop(a)) + (uint64_t)r->wait * 1000u;
    /* appended, so the list stays oldest first */
    struct news_waiter **pp = &ns->parked;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    ns->nparked++;
}

/* ---- what this agent is fetching -------------------------------------------- */

void agent_news_fetching(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], bool on)
{
    struct agent_news *ns = agent_news(a);
    log_debug("fetching %02x%02x%02x%02x: %s", sha[0], sha[1], sha[2], sha[3], on ? "on" : "off");
    for (size_t i = 0; i < ns->nfetching; i++) {
        if (memcmp(ns->fetching[i], sha, PROTO_SHA256_LEN) != 0)
            continue;
        if (!on) {
            memmove(ns->fetching[i], ns->fetching[i + 1],
                    (ns->nfetching - i - 1) * PROTO_SHA256_LEN);
            ns->nfetching--;
            agent_news_changed(a);
        }
        return;
    }
    if (!on || ns->nfetching >= PROTO_NEWS_FETCHING_MAX)
        return;
    memcpy(ns->fetching[ns->nfetching++], sha, PROTO_SHA256_LEN);
    agent_news_changed(a);
}

/* ---- requester side --------------------------------------------------------- */

static int cmp_sha(const void *x, const void *y)
{
    return memcmp(x, y, PROTO_SHA256_LEN);
}

bool agent_peer_fetching(const struct agent_peer *p, const uint8_t sha[PROTO_SHA256_LEN])
{
    return p->nfetching && bsearch(sha, p->fetching, p->nfetching, PROTO_SHA256_LEN, cmp_sha);
}

static void news_done(void *ud, struct agent_http_response *res)
{
    struct agent_peer *p = ud;
    struct agent *a = p->a;
    p->news_polling = false;
    if (p->removed || agent_stopping(a)) {
        agent_peer_unref(p);
        return;
    }
    struct proto_news n;
    int rc = -EIO;
    if (res->error == 0 && res->status == 200)
        rc = proto_news_decode(res->body, res->len, &n);
    if (rc == 0 && memcmp(n.pk, p->pk, PROTO_PK_LEN) != 0) {
        proto_news_clear(&n);
        rc = -EPERM;
    }
    if (rc < 0) {
        if (rc != -EIO) {
            agent_counters(a)->rejected_peer_signature++;
            agent_counters(a)->rejected++;
            agent_peer_count_fail(p, PEER_FAIL_SIGNATURE);
        }
        char f[256];
        log_debug("peer %s: news poll failed (%s)", p->addr,
                  rc == -EIO ? agent_http_failure(res, f, sizeof f) : "message does not verify");
        agent_peer_unref(p); /* the regular poll cycle starts it again */
        return;
    }
    log_debug("peer %s: news gen %llu seq %llu, fetching %u, %u peers", p->addr,
              (unsigned long long)n.gen, (unsigned long long)n.seq, n.nfetching, n.npeers);
    p->news_gen = n.gen;
    p->last_seen = agent_now();
    p->remote_uploads = n.uploads;
    p->remote_slots = n.upload_slots;
    p->remote_waiting = n.upload_waiting;
    free(p->fetching);
    p->fetching = NULL;
    p->nfetching = 0;
    if (n.nfetching) {
        p->fetching = n.fetching; /* take the array */
        n.fetching = NULL;
        p->nfetching = n.nfetching;
        qsort(p->fetching, p->nfetching, PROTO_SHA256_LEN, cmp_sha);
    }
    for (uint32_t i = 0; i < n.npeers; i++) {
        char addr[PROTO_PEER_ADDR_TEXT_MAX];
        if (proto_peer_addr_format(&n.peers[i], addr) > 0)
            agent_peers_add(a, addr, PEER_VIA_PEX);
    }
    bool moved = n.seq != p->seq;
    p->news_seq = n.seq;
    /* what it gained came with the news: no manifest round trip */
    if (moved && agent_peer_apply_gains(p, &n))
        moved = false;
    proto_news_clear(&n);
    if (moved)
        agent_peer_manifest_now(p); /* fetches are woken when the delta is applied */
    else
        agent_sources_changed(a); /* fetches waiting for this neighbour look again */
    agent_news_poll(p);
    agent_peer_unref(p);
}

void agent_news_poll(struct agent_peer *p)
{
    struct agent *a = p->a;
    if (p->news_polling || p->removed || agent_stopping(a) || p->state != PEER_LIVE ||
        !(p->caps & PROTO_CAP_NEWS))
        return;
    char url[PROTO_URL_MAX];
    struct proto_route route = {
        .kind = PROTO_ROUTE_PEER_NEWS, .since = p->news_gen, .wait = NEWS_WAIT_S, .gains = true};
    if (proto_route_peer_url(p->addr, &route, url, sizeof url) < 0)
        return;
    struct agent_http_request req = {
        .url = url,
        .max_body = NEWS_WIRE_MAX,
        .connect_timeout_ms = 2000,
        .timeout_ms = (NEWS_WAIT_S + 10) * 1000,
    };
    agent_peer_ref(p);
    struct agent_mesh_ticket mt;
    agent_mesh_ticket(a, url, &mt);
    agent_mesh_apply(&mt, &req);
    if (agent_http_get(agent_http(a), &req, news_done, p) == 0)
        p->news_polling = true;
    else
        agent_peer_unref(p);
}

/* ---- lifetime --------------------------------------------------------------- */

void agent_news_init(struct agent *a)
{
    struct agent_news *ns = agent_news(a);
    uv_timer_init(agent_loop(a), &ns->coalesce);
    uv_timer_init(agent_loop(a), &ns->deadlines);
    ns->coalesce.data = ns->deadlines.data = a;
    uv_timer_start(&ns->deadlines, on_deadlines, 1000, 1000);
    ns->gen = 1; /* a requester that knows nothing asks since=0: answered at once */
    ns->told_seq = store_seq(agent_store(a));
    agent_gains_reset(&ns->gains, ns->told_seq);
    ns->started = true;
}

void agent_news_close(struct agent *a)
{
    struct agent_news *ns = agent_news(a);
    if (!ns->started)
        return;
    ns->started = false;
    uv_timer_stop(&ns->coalesce);
    uv_timer_stop(&ns->deadlines);
    uv_close((uv_handle_t *)&ns->coalesce, NULL);
    uv_close((uv_handle_t *)&ns->deadlines, NULL);
    while (ns->parked) {
        struct news_waiter *w = ns->parked;
        ns->parked = w->next;
        if (w->req)
            w->link->w = NULL;
        free(w);
    }
    ns->nparked = 0;
    for (int i = 0; i < 2; i++) {
        free(ns->wire[i].buf);
        ns->wire[i].buf = NULL;
    }
    agent_gains_free(&ns->gains);
}
