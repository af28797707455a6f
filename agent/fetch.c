/* agent/fetch.c — bring index files and crates into the store, once each.
 *
 * A struct agent_fetch is one job for one key ("i:<lower-case name>" or
 * "c:<sha256 hex>"); every request that needs the same thing while it runs
 * joins its waiter list (single flight). Lifecycle of a fetch:
 *
 *   WAIT      parked until the first upstream probe / first static-peer polls answered
 *   SOURCE    next_*_source() picks where to ask next (crates: resolve.h)
 *   QUEUED    crates: waiting for a slot, a neighbour or a delay (agent_fetches(a)->queue)
 *   TRANSFER  one HTTP GET in flight (agent_http) to that source; a crate's
 *             bytes stream into a store blob writer (hashed on the way, never
 *             held whole in memory), capped at the size its source vouched for
 *   INGEST    index files: the lines go into the store, INGEST_SLICE per loop turn
 *   COMMIT    crates only: digest check + fsync + rename on the thread pool
 *   DONE      waiters called in arrival order, fetch freed (fetch_finish)
 * f->phase says which (WAIT and SOURCE are FETCH_SOURCE; DONE frees the fetch).
 *
 * Sources, in order:
 *   crates:  the order and the waits are agent/resolve.h's rule (pure,
 *            unit-tested): the live peers whose manifests list the digest,
 *            best first (peer_select.h: least penalised, least loaded, not
 *            the sole source, cheapest so far), at most PEER_INFLIGHT_MAX
 *            transfers per peer. Busy is never a failure: a fetch whose
 *            holders are all at their bound, or answered 503 (they queue
 *            fairly first, see uploads.c), waits in agent_fetches(a)->queue for a slot,
 *            up to RESOLVE_SLOT_WAIT_MS; a holder that said busy is asked
 *            again, after others, once BUSY_BACKOFF_MS passed. With one
 *            source at most, a fetch waits (up to RESOLVE_NEIGHBOUR_WAIT_MS)
 *            for a live neighbour that says it is fetching the same crate,
 *            then takes it from that neighbour: the room's uplink (or the
 *            teacher) carries it about once. Then the upstream's dl URL when
 *            online (agents asked for one crate at the same instant do not
 *            both go: the one first in a rendezvous order of crate and key
 *            goes, the others give it RESOLVE_DEFER_MS to announce it). On an
 *            error, a timeout or bad bytes, the next holder. The bytes must hash to the
 *            trusted cksum (store_blob_commit) or they are dropped, the sender
 *            penalised, and the next source tried. Every transfer is announced
 *            to peers (news.c) while it runs.
 *   index:   online, the upstream (conditional GET, validators kept; none sent
 *            while an entry only a peer vouched for is held, as a 304 would not
 *            say which versions it lists). Its file is authoritative: a
 *            peer-only entry it contradicts gives way to its own, one it does
 *            not list is dropped (with its crate), one it lists is recorded as
 *            the upstream's; the dependencies are fetched ahead (prefetch_deps).
 *            When the upstream is unreachable or fails (5xx, a hang), the
 *            fetch goes on as offline. Offline, each live peer listing a copy
 *            of that index file we have not merged yet: its signed index
 *            message is verified against the peer's key and every entry goes
 *            through store_index_put, where a contradiction with what we hold
 *            is rejected and counted (no prefetching from peers).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "agent/core.h"
#include "agent/fetch.h"
#include "agent/http_client.h"
#include "agent/log.h"
#include "agent/mesh.h"
#include "agent/news.h"
#include "agent/peer_select.h"
#include "agent/peers.h"
#include "agent/resolve.h"
#include "agent/upstream.h"
#include "agent/upstream_state.h"
#include "proto/alloc.h"
#include "proto/config.h"
#include "proto/index_line.h"
#include "proto/name.h"
#include "proto/peer.h"
#include "proto/route.h"
#include "store/store.h"

/* fetch.c's state: only fetch.c reads or writes it. */
struct agent_fetches {
    struct agent_fetch *list; /* every fetch running */
    size_t n;
    struct agent_fetch *queue;  /* crate fetches waiting: a slot, a neighbour, a delay */
    uv_timer_t timer;           /* looks at the queue while it is not empty */
    struct agent_fetch *ingest; /* index files being stored slice by slice */
    uv_timer_t ingest_timer;
};

struct agent_fetches *agent_fetches_new(void)
{
    return cc_calloc(1, sizeof(struct agent_fetches));
}

#define PREFETCH_MAX 64     /* dependency index files fetched ahead per index file */
#define PREFETCH_DEPTH 2    /* how far ahead of what Cargo asked for */
#define PREFETCH_FRESH_S 5  /* a prefetch skips index files fetched this recently */
#define SOURCES_MAX 16      /* peers tried for one fetch */
#define PEER_INFLIGHT_MAX 2 /* transfers from one peer at a time; more wait their turn */
#define BUSY_BACKOFF_MS 400 /* a holder that said busy is asked again after this */
#define QUEUE_TICK_MS 100
/* Every transfer has a minimum rate and a total deadline; then the next source is tried. */
#define MIN_RATE_BYTES 1024     /* bytes/s, averaged over the low-speed window */
#define PEER_LOW_SPEED_S 10     /* a peer below MIN_RATE for this long is dropped */
#define UPSTREAM_LOW_SPEED_S 20 /* the upstream gets a little longer */
#define UPSTREAM_CRATE_DEADLINE_MS (10 * 60 * 1000)
#define INGEST_SLICE 2000     /* index lines stored per loop turn */
#define PROGRESS_LOG_MS 10000 /* a transfer this long logs its progress this often */
#define STALL_MS 5000 /* a fetch with no byte for this long is not joined: a new one starts */

/* A peer's whole transfer: 30 s plus the time at 64 KiB/s. */
static long peer_deadline_ms(uint64_t size)
{
    return (long)(30000 + size / 64);
}
#define PEER_INDEX_WIRE_MAX (PROTO_PEER_BODY_MAX + 64)

struct ingest_counts {
    size_t lines, ok, conflicts; /* lines seen, entries stored or already held, contradictions */
};

struct agent_fetch;
struct ingest {
    uint8_t *owned;
    const uint8_t *buf;
    size_t len, pos;
    int origin;
    char detail[PROTO_KEY_TEXT_LEN + 512];
    struct ingest_counts c;
    size_t nnew, nbad;
    bool want_deps;
    char **deps;
    size_t ndeps, cap;
    void (*then)(struct agent_fetch *f);
    bool queued;
    struct agent_fetch *next; /* agent_fetches(a)->ingest */
    char **vers;              /* upstream: every version it listed (its index is authoritative) */
    size_t nvers, vcap;
};

/* Where a fetch is in its life (the diagram at the top). */
enum fetch_phase {
    FETCH_SOURCE = 0, /* WAIT or SOURCE: parked for the first probe, or choosing */
    FETCH_QUEUED,     /* in agent_fetches(a)->queue: a slot, a neighbour or a delay */
    FETCH_TRANSFER,   /* one GET in flight (transfer_ms, progress_ms) */
    FETCH_INGEST,     /* index lines going into the store in slices */
    FETCH_COMMIT,     /* a crate's blob being checked and renamed on the pool */
};

struct agent_fetch {
    struct agent_fetch *next;
    enum fetch_phase phase;
    struct agent *a;
    char key[80];
    unsigned depth; /* 0: Cargo asked; n: a prefetch n levels below */
    char name[PROTO_NAME_MAX + 1];
    char vers[PROTO_VERS_MAX + 1];
    uint8_t sha[PROTO_SHA256_LEN];
    struct agent_waiters waiters; /* in arrival order */
    /* sources */
    char tried[SOURCES_MAX][PROTO_PEER_ADDR_MAX + 1];
    size_t ntried;
    struct agent_peer *peer; /* source of the transfer in flight, NULL = upstream */
    uint64_t started_ms;
    uint64_t logged_ms;   /* a long transfer's last progress line (PROGRESS_LOG_MS) */
    uint64_t transfer_ms; /* loop time the transfer in flight started (0: none) */
    uint64_t progress_ms; /* loop time its last body byte arrived */
    int last_error;
    struct agent_fetch *queue_next; /* waiting for a slot, a neighbour or a delay */
    bool queued;
    struct resolve_crate resolve;      /* crates: where from next (resolve.h) */
    uint64_t not_before_ms;            /* queued: do not look again before this */
    bool upstream_failed;              /* index: the upstream answered 5xx or hung for it */
    struct ingest in;                  /* INGEST of an index file */
    uint8_t in_hash[PROTO_SHA256_LEN]; /* peer index: SHA-256 of the bytes being merged */
    size_t in_wire_len;
    char in_etag[256], in_last_modified[64]; /* upstream index: validators to keep */
    bool announced;                          /* peers were told it is being fetched */
    bool relayed;                            /* this transfer is a relay (relay.h) */
    /* COMMIT */
    uv_work_t work;
    struct store_blob_writer *writer; /* TRANSFER: the crate's bytes go here as they arrive */
    int write_error;                  /* the writer failed (disk full...): not the source's fault */
    size_t len;
    int commit_rc;
    char source[PROTO_PEER_ADDR_MAX + 8]; /* DONE: where the crate came from, "" = nowhere */
};

int agent_fetch_relay_reader(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], uint64_t *size,
                             bool *relayed)
{
    char key[80] = "c:";
    proto_hex_encode(sha, PROTO_SHA256_LEN, key + 2);
    for (struct agent_fetch *f = agent_fetches(a)->list; f; f = f->next) {
        if (strcmp(f->key, key) != 0)
            continue;
        if (f->phase == FETCH_COMMIT)
            return -EAGAIN;
        if (f->phase != FETCH_TRANSFER || f->writer == NULL)
            continue;
        int fd = store_blob_writer_reader(f->writer);
        if (fd >= 0) {
            *size = store_blob_writer_size(f->writer);
            *relayed = f->relayed;
        }
        return fd;
    }
    return -ENOENT;
}

size_t agent_fetch_in_flight(const struct agent *a)
{
    return agent_fetches(a)->n;
}

static uint64_t now_ms(struct agent *a);

/* A GET to a source starts / ended (its callback runs). */
static void transfer_begin(struct agent_fetch *f)
{
    f->phase = FETCH_TRANSFER;
    f->relayed = false;
    f->transfer_ms = now_ms(f->a);
    f->progress_ms = 0;
}

static void transfer_end(struct agent_fetch *f)
{
    f->phase = FETCH_SOURCE;
    f->transfer_ms = 0;
}

/* The fetch to join for key, if any. A fetch whose transfer has brought no
 * byte for STALL_MS is not joined: it is detached (its own waiters keep it,
 * and its deadlines end it) and the caller starts a fresh one. */
static struct agent_fetch *fetch_find(struct agent *a, const char *key)
{
    for (struct agent_fetch *f = agent_fetches(a)->list; f; f = f->next) {
        if (strcmp(f->key, key) != 0)
            continue;
        uint64_t last = f->progress_ms > f->transfer_ms ? f->progress_ms : f->transfer_ms;
        if (f->phase == FETCH_TRANSFER && now_ms(a) - last > STALL_MS) {
            log_info("%s: the transfer in flight has stalled: starting another", f->key);
            f->key[0] = '\0';
            return NULL;
        }
        return f;
    }
    return NULL;
}

static int waiter_add(struct agent_fetch *f, agent_fetch_cb cb, void *ud)
{
    return cb == NULL ? 0 : agent_waiters_add(&f->waiters, cb, ud);
}

static struct agent_fetch *fetch_new(struct agent *a, const char *key)
{
    struct agent_fetch *f = cc_calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->a = a;
    snprintf(f->key, sizeof f->key, "%s", key);
    f->last_error = -ENOENT;
    f->next = agent_fetches(a)->list;
    agent_fetches(a)->list = f;
    agent_fetches(a)->n++;
    return f;
}

static void ingest_free(struct agent_fetch *f);

/* DONE: unlink, call every waiter, free. */
static void fetch_finish(struct agent_fetch *f, int result)
{
    struct agent *a = f->a;
    if (f->phase == FETCH_TRANSFER && f->key[0] == 'c')
        agent_crate_ended(a, f->sha, false); /* a transfer cut short: so are its relays */
    for (struct agent_fetch **pp = &agent_fetches(a)->list; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    agent_fetches(a)->n--;
    if (f->phase == FETCH_QUEUED) {
        for (struct agent_fetch **pp = &agent_fetches(a)->queue; *pp; pp = &(*pp)->queue_next) {
            if (*pp == f) {
                *pp = f->queue_next;
                break;
            }
        }
    }
    if (f->announced)
        agent_news_fetching(a, f->sha, false);
    ingest_free(f);
    agent_waiters_release(a, &f->waiters, result, result == 0 && f->source[0] ? f->source : NULL);
    store_blob_writer_abort(f->writer);
    free(f);
}

void agent_fetch_abort_all(struct agent *a)
{
    /* a fetch in COMMIT is owned by its work request until commit_after runs;
     * those are left alone (the loop is not run again) */
    struct agent_fetch *f = agent_fetches(a)->list, *next;
    for (; f; f = next) {
        next = f->next;
        if (f->phase != FETCH_COMMIT)
            fetch_finish(f, -ECANCELED);
    }
}

static bool upstream_unreachable(const struct agent_http_response *res)
{
    if (res->error == -EFBIG || res->error == -ENOMEM)
        return false;
    return res->error != 0 || res->status >= 500;
}

static uint64_t now_ms(struct agent *a)
{
    uv_update_time(agent_loop(a));
    return uv_now(agent_loop(a));
}

/* ---- sources ------------------------------------------------------------- */

static bool was_tried(const struct agent_fetch *f, const struct agent_peer *p)
{
    for (size_t i = 0; i < f->ntried; i++)
        if (strcmp(f->tried[i], p->addr) == 0)
            return true;
    return false;
}

/* Forget that p was tried (it was only busy). */
static void untry(struct agent_fetch *f, const struct agent_peer *p)
{
    for (size_t i = 0; i < f->ntried; i++) {
        if (strcmp(f->tried[i], p->addr) == 0) {
            memmove(f->tried[i], f->tried[i + 1], (f->ntried - i - 1) * sizeof f->tried[0]);
            f->ntried--;
            return;
        }
    }
}

/* The best untried peer among candidates (with a free slot when bounded):
 * its index, or -1. *saturated tells whether an untried holder was skipped
 * only for now (peer_select_take). Index files are small and not bounded. */
static int choose_peer(struct agent_fetch *f, struct agent_peer **cand, size_t n, bool bounded,
                       bool relays, bool *saturated)
{
    *saturated = false;
    if (f->ntried >= SOURCES_MAX)
        return -1;
    struct peer_cand c[PEER_SELECT_MAX];
    if (n > PEER_SELECT_MAX)
        n = PEER_SELECT_MAX;
    uint64_t now = now_ms(f->a);
    for (size_t i = 0; i < n; i++) {
        c[i] = agent_peer_cand(cand[i]);
        c[i].tried = was_tried(f, cand[i]);
        c[i].busy = bounded && cand[i]->busy_until_ms > now;
        if (relays)
            c[i].ncrates = 0; /* what a relayer holds says nothing of this crate's sources */
    }
    return peer_select_take(c, n, bounded ? PEER_INFLIGHT_MAX : UINT_MAX, saturated);
}

/* The transfer from p starts: p is marked tried, referenced and counted. */
static struct agent_peer *take(struct agent_fetch *f, struct agent_peer *p)
{
    snprintf(f->tried[f->ntried++], PROTO_PEER_ADDR_MAX + 1, "%s", p->addr);
    agent_peer_ref(p);
    agent_peer_slot_take(p);
    f->peer = p;
    f->started_ms = now_ms(f->a);
    return p;
}

static void crate_next_source(struct agent_fetch *f);

/* Look again at every queued crate fetch whose delay has passed, oldest
 * first; the others stay queued (and some queue up again). */
static void on_queue_tick(uv_timer_t *t);

/* The queue is looked at every QUEUE_TICK_MS (a slot or a back-off may end
 * without news), and sooner when a queued fetch's delay ends first: a short
 * deferral (resolve.h) must not become a tick, nor agents deferring by different
 * amounts wake at the same tick. */
static void queue_arm(struct agent *a)
{
    struct agent_fetches *fx = agent_fetches(a);
    if (fx->queue == NULL || agent_stopping(a))
        return;
    if (fx->timer.data == NULL) {
        uv_timer_init(agent_loop(a), &fx->timer);
        fx->timer.data = a;
    }
    uint64_t now = now_ms(a), due = now + QUEUE_TICK_MS;
    for (struct agent_fetch *f = fx->queue; f; f = f->queue_next)
        if (f->not_before_ms > now && f->not_before_ms < due)
            due = f->not_before_ms;
    if (!uv_is_active((uv_handle_t *)&fx->timer) || uv_timer_get_due_in(&fx->timer) > due - now)
        uv_timer_start(&fx->timer, on_queue_tick, due - now, QUEUE_TICK_MS);
}

static bool designated_elsewhere(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN],
                                 bool upstream_only);

/* A queued crate this agent should take before the others: it comes first in
 * the rendezvous order among the neighbours fetching now, so classmates wait
 * for it (resolve.h, rule 2) and it goes to the single holder's slots first.
 * Each agent then works on its own share first, and the holder sends each
 * crate about once instead of every agent taking the crates in Cargo's order. */
static bool first_for_us(struct agent *a, const struct agent_fetch *f)
{
    return f->key[0] == 'c' && !designated_elsewhere(a, f->sha, false);
}

/* Each fetch of a detached list looks for a source again, in order (one may
 * queue itself again: on the new queue). */
static void look_again(struct agent_fetch *list)
{
    while (list) {
        struct agent_fetch *next = list->queue_next;
        list->queue_next = NULL;
        list->phase = FETCH_SOURCE;
        crate_next_source(list);
        list = next;
    }
}

static void queue_kick(struct agent *a)
{
    struct agent_fetch *list = agent_fetches(a)->queue, *rev = NULL;
    agent_fetches(a)->queue = NULL;
    while (list) { /* the queue is pushed at the head: reverse to oldest first */
        struct agent_fetch *next = list->queue_next;
        list->queue_next = rev;
        rev = list;
        list = next;
    }
    /* oldest first, into three lists kept in order: still waiting; due and
     * ours (first_for_us), which take the free slots first; due, the rest */
    uint64_t now = now_ms(a);
    struct agent_fetch *later = NULL, *ours = NULL, *rest = NULL;
    struct agent_fetch **tail = &later, **otail = &ours, **rtail = &rest;
    while (rev) {
        struct agent_fetch *next = rev->queue_next;
        rev->queue_next = NULL;
        if (rev->not_before_ms > now) {
            *tail = rev;
            tail = &rev->queue_next;
        } else if (first_for_us(a, rev)) {
            *otail = rev;
            otail = &rev->queue_next;
        } else {
            *rtail = rev;
            rtail = &rev->queue_next;
        }
        rev = next;
    }
    look_again(ours);
    look_again(rest);
    /* the still-waiting ones go back behind the newly queued, newest first */
    struct agent_fetch *rl = NULL;
    while (later) {
        struct agent_fetch *next = later->queue_next;
        later->queue_next = rl;
        rl = later;
        later = next;
    }
    struct agent_fetch **end = &agent_fetches(a)->queue;
    while (*end)
        end = &(*end)->queue_next;
    *end = rl;
    queue_arm(a);
}

static void on_queue_tick(uv_timer_t *t)
{
    struct agent *a = t->data;
    if (agent_fetches(a)->queue == NULL || agent_stopping(a)) {
        uv_timer_stop(t);
        return;
    }
    queue_kick(a);
}

/* Park a crate fetch until a slot frees, news arrives, or delay_ms passed. */
static void enqueue(struct agent_fetch *f, uint64_t delay_ms)
{
    struct agent *a = f->a;
    f->not_before_ms = delay_ms ? now_ms(a) + delay_ms : 0;
    f->phase = FETCH_QUEUED;
    f->queue_next = agent_fetches(a)->queue;
    agent_fetches(a)->queue = f;
    queue_arm(a);
}

void agent_fetch_kick(struct agent *a)
{
    if (agent_fetches(a)->queue && !agent_stopping(a))
        queue_kick(a);
}

void agent_fetch_close(struct agent *a)
{
    if (agent_fetches(a)->ingest_timer.data != NULL &&
        !uv_is_closing((uv_handle_t *)&agent_fetches(a)->ingest_timer)) {
        uv_timer_stop(&agent_fetches(a)->ingest_timer);
        uv_close((uv_handle_t *)&agent_fetches(a)->ingest_timer, NULL);
    }
    if (agent_fetches(a)->timer.data != NULL &&
        !uv_is_closing((uv_handle_t *)&agent_fetches(a)->timer)) {
        uv_timer_stop(&agent_fetches(a)->timer);
        uv_close((uv_handle_t *)&agent_fetches(a)->timer, NULL);
    }
}

/* A transfer of this crate is about to start: peers hear of it (once). */
static void announce(struct agent_fetch *f)
{
    if (f->announced)
        return;
    f->announced = true;
    agent_news_fetching(f->a, f->sha, true);
}

static void release_peer(struct agent_fetch *f)
{
    struct agent_peer *p = f->peer;
    if (p == NULL)
        return;
    f->peer = NULL;
    agent_peer_slot_give(p);
    agent_peer_unref(p);
    if (agent_fetches(f->a)->queue && !agent_stopping(f->a))
        queue_kick(f->a);
}

/* ---- index files --------------------------------------------------------- */

static int fetch_index_at(struct agent *a, const char *name, unsigned depth, agent_fetch_cb cb,
                          void *ud);

static void prefetch_deps(struct agent *a, char **names, size_t n, unsigned depth)
{
    for (size_t i = 0; i < n; i++) {
        if (depth <= PREFETCH_DEPTH && !agent_stopping(a))
            fetch_index_at(a, names[i], depth, NULL, NULL);
        free(names[i]);
    }
    free(names);
}

/* Store every line of an index file. Collects dependency names for prefetching
 * (when deps_out is not NULL). Returns how many entries were rejected. */
/* INGEST (index files): every line is parsed and put in the store, at most
 * INGEST_SLICE lines per loop turn (each slice one transaction), so a huge
 * index message never blocks the loop; then f->in.then(f) continues. */
static void ingest_step(struct agent_fetch *f);

static void on_ingest_tick(uv_timer_t *t)
{
    struct agent *a = t->data;
    struct agent_fetch *list = agent_fetches(a)->ingest;
    agent_fetches(a)->ingest = NULL;
    while (list) {
        struct agent_fetch *f = list;
        list = f->in.next;
        f->in.next = NULL;
        f->in.queued = false;
        ingest_step(f);
    }
    if (agent_fetches(a)->ingest == NULL)
        uv_timer_stop(t);
}

static void ingest_later(struct agent_fetch *f)
{
    struct agent *a = f->a;
    f->in.queued = true;
    f->in.next = agent_fetches(a)->ingest;
    agent_fetches(a)->ingest = f;
    if (agent_fetches(a)->ingest_timer.data == NULL) {
        uv_timer_init(agent_loop(a), &agent_fetches(a)->ingest_timer);
        agent_fetches(a)->ingest_timer.data = a;
    }
    if (!uv_is_active((uv_handle_t *)&agent_fetches(a)->ingest_timer))
        uv_timer_start(&agent_fetches(a)->ingest_timer, on_ingest_tick, 0, 1);
}

static void ingest_unqueue(struct agent_fetch *f)
{
    if (!f->in.queued)
        return;
    for (struct agent_fetch **pp = &agent_fetches(f->a)->ingest; *pp; pp = &(*pp)->in.next) {
        if (*pp == f) {
            *pp = f->in.next;
            break;
        }
    }
    f->in.queued = false;
}

static void ingest_free(struct agent_fetch *f)
{
    ingest_unqueue(f);
    free(f->in.owned);
    f->in.owned = NULL;
    for (size_t i = 0; i < f->in.ndeps; i++)
        free(f->in.deps[i]);
    free(f->in.deps);
    f->in.deps = NULL;
    f->in.ndeps = f->in.cap = 0;
    for (size_t i = 0; i < f->in.nvers; i++)
        free(f->in.vers[i]);
    free(f->in.vers);
    f->in.vers = NULL;
    f->in.nvers = f->in.vcap = 0;
}

static void keep_vers(struct ingest *in, const char *vers)
{
    if (in->nvers == in->vcap) {
        size_t ncap = in->vcap ? in->vcap * 2 : 16;
        char **nv = cc_realloc(in->vers, ncap * sizeof *nv);
        if (nv == NULL)
            return;
        in->vers = nv;
        in->vcap = ncap;
    }
    in->vers[in->nvers] = cc_strdup(vers);
    if (in->vers[in->nvers])
        in->nvers++;
}

static void keep_dep(struct ingest *in, const char *dep)
{
    if (in->ndeps >= PREFETCH_MAX)
        return;
    for (size_t j = 0; j < in->ndeps; j++)
        if (strcasecmp(in->deps[j], dep) == 0)
            return;
    if (in->ndeps == in->cap) {
        size_t ncap = in->cap ? in->cap * 2 : 8;
        char **nd = cc_realloc(in->deps, ncap * sizeof *nd);
        if (nd == NULL)
            return;
        in->deps = nd;
        in->cap = ncap;
    }
    in->deps[in->ndeps] = cc_strdup(dep);
    if (in->deps[in->ndeps])
        in->ndeps++;
}

static void ingest_step(struct agent_fetch *f)
{
    struct agent *a = f->a;
    struct ingest *in = &f->in;
    if (agent_stopping(a)) {
        fetch_finish(f, -ECANCELED);
        return;
    }
    const uint8_t *line;
    size_t line_len, done = 0;
    store_begin(agent_store(a));
    while (done < INGEST_SLICE &&
           proto_index_next_line(in->buf, in->len, &in->pos, &line, &line_len) == 1) {
        if (line_len == 0)
            continue;
        done++;
        in->c.lines++;
        struct proto_index_entry e;
        int rc = proto_index_line_parse(line, line_len, &e);
        if (rc < 0) {
            in->nbad++;
            continue;
        }
        if (strcasecmp(e.name, f->name) != 0) {
            in->nbad++;
            proto_index_entry_clear(&e);
            continue;
        }
        rc = store_index_ingest(agent_store(a), &e, in->origin, in->detail);
        if (in->origin == STORE_ORIGIN_UPSTREAM)
            keep_vers(in, e.vers);
        if (rc == STORE_INGEST_CONFLICT) {
            in->c.conflicts++;
            agent_counters(a)->rejected++;
            if (in->origin == STORE_ORIGIN_PEER)
                agent_counters(a)->rejected_peer_conflict++;
            else
                agent_counters(a)->rejected_conflict++;
            log_warn("index entry %s %s from %s contradicts the one already held: rejected", e.name,
                     e.vers, in->detail);
        } else if (rc == STORE_INGEST_NEW || rc == STORE_INGEST_REPLACED) {
            if (rc == STORE_INGEST_REPLACED) {
                agent_counters(a)->rejected_peer_unconfirmed++;
                agent_counters(a)->rejected++;
                log_warn("index entry %s %s from a peer contradicts the upstream's: the "
                         "upstream's is kept",
                         e.name, e.vers);
            }
            in->nnew++;
            in->c.ok++;
        } else if (rc >= 0) {
            in->c.ok++;
        } else {
            log_error("store: cannot record %s %s: %s", e.name, e.vers,
                      store_errmsg(agent_store(a)));
        }
        for (size_t i = 0; in->want_deps && i < e.ndeps; i++)
            keep_dep(in, e.deps[i]);
        proto_index_entry_clear(&e);
    }
    if (store_commit(agent_store(a)) < 0) {
        log_error("store: commit failed: %s", store_errmsg(agent_store(a)));
        store_rollback(agent_store(a));
    }
    if (in->pos < in->len) {
        ingest_later(f); /* the rest at the next loop turn */
        return;
    }
    log_debug("index %s from %s: %zu lines, %zu new, %zu conflicts, %zu unparsable", f->name,
              in->detail, in->c.lines, in->nnew, in->c.conflicts, in->nbad);
    if (in->nnew)
        agent_news_store_moved(a, store_seq(agent_store(a)));
    f->phase = FETCH_SOURCE;
    in->then(f);
}

/* Start INGEST of buf[0..len) (owned: freed with the fetch, or NULL when buf
 * outlives it). */
static void ingest_start(struct agent_fetch *f, uint8_t *owned, const uint8_t *buf, size_t len,
                         int origin, const char *detail, bool want_deps,
                         void (*then)(struct agent_fetch *f))
{
    ingest_free(f);
    memset(&f->in, 0, sizeof f->in);
    f->in.owned = owned;
    f->in.buf = buf;
    f->in.len = len;
    f->in.origin = origin;
    snprintf(f->in.detail, sizeof f->in.detail, "%s", detail);
    f->in.want_deps = want_deps;
    f->in.then = then;
    f->phase = FETCH_INGEST;
    ingest_step(f);
}

static void index_from_peers(struct agent_fetch *f);

static void peer_index_ingested(struct agent_fetch *f)
{
    struct agent *a = f->a;
    struct agent_peer *p = f->peer;
    agent_counters(a)->peer_index_merged++;
    agent_peer_got_index(a, p, f->name, f->in_hash, f->in_wire_len,
                         (double)(now_ms(a) - f->started_ms));
    ingest_free(f);
    release_peer(f);
    index_from_peers(f);
}

static void peer_index_done(void *ud, struct agent_http_response *res)
{
    struct agent_fetch *f = ud;
    transfer_end(f);
    struct agent *a = f->a;
    struct agent_peer *p = f->peer;
    char why[300];
    if (res->error || res->status != 200) {
        agent_http_failure(res, why, sizeof why);
        if (res->status != 404 && res->status != 503) {
            char msg[PROTO_NAME_MAX + 340];
            snprintf(msg, sizeof msg, "index file of %s: %s", f->name, why);
            agent_peer_transfer_failed(p, msg, false);
        }
        release_peer(f);
        index_from_peers(f);
        return;
    }
    struct proto_peer_index x;
    uint8_t *owned = NULL;
    int rc = proto_peer_index_decode(res->body, res->len, &x, &owned);
    if (rc < 0 || memcmp(x.pk, p->pk, PROTO_PK_LEN) != 0 || strcasecmp(x.name, f->name) != 0) {
        agent_counters(a)->rejected_peer_signature++;
        agent_counters(a)->rejected++;
        agent_peer_count_fail(p, PEER_FAIL_SIGNATURE);
        agent_peer_transfer_failed(p, "index message does not verify: ignored", true);
        free(owned);
        release_peer(f);
        index_from_peers(f);
        return;
    }
    /* every peer that lists these very bytes has nothing more to give */
    proto_sha256(x.lines, x.len, f->in_hash);
    f->in_wire_len = res->len;
    ingest_start(f, owned, x.lines, x.len, STORE_ORIGIN_PEER, p->key_text, false,
                 peer_index_ingested);
}

/* Offline: merge the index file from every live peer with a copy we lack. */
static void index_from_peers(struct agent_fetch *f)
{
    struct agent *a = f->a;
    if (agent_stopping(a)) {
        fetch_finish(f, -ECANCELED);
        return;
    }
    struct agent_peer *cand[SOURCES_MAX];
    size_t n = agent_peers_index_news(a, f->name, cand, SOURCES_MAX);
    bool busy;
    int k = choose_peer(f, cand, n, false, false, &busy);
    struct agent_peer *p = k < 0 ? NULL : take(f, cand[k]);
    if (p == NULL) {
        /* the store has whatever could be had */
        fetch_finish(f, f->upstream_failed ? -EAGAIN : 0);
        return;
    }
    char url[PROTO_URL_MAX];
    struct proto_route route = {.kind = PROTO_ROUTE_PEER_INDEX};
    memcpy(route.name, f->name, sizeof route.name);
    proto_route_peer_url(p->addr, &route, url, sizeof url);
    struct agent_http_request req = {
        .progress_ms = &f->progress_ms,
        .url = url,
        .max_body = PEER_INDEX_WIRE_MAX,
        .connect_timeout_ms = 2000,
        .timeout_ms = 20000,
        .low_speed_secs = PEER_LOW_SPEED_S,
        .low_speed_bytes = MIN_RATE_BYTES,
    };
    transfer_begin(f);
    struct agent_mesh_ticket mt;
    agent_mesh_ticket(a, url, &mt);
    agent_mesh_apply(&mt, &req);
    if (agent_http_get(agent_http(a), &req, peer_index_done, f) < 0) {
        release_peer(f);
        fetch_finish(f, -ENOMEM);
    }
}

/* Entries only a peer vouched for, for versions the upstream's file does not
 * list, are dropped (and counted): online, versions it does not list are not
 * served, and an invented version does not outlive the network. */
static void drop_unlisted(struct agent *a, struct agent_fetch *f)
{
    struct store_index_list l;
    if (store_index_list(agent_store(a), f->name, &l) < 0)
        return;
    for (size_t i = 0; i < l.n; i++) {
        if (!store_origin_signed(l.rows[i].origin))
            continue;
        bool listed = false;
        for (size_t k = 0; k < f->in.nvers && !listed; k++)
            listed = strcmp(f->in.vers[k], l.rows[i].vers) == 0;
        if (listed)
            continue;
        bool blob = false;
        if (store_index_drop(agent_store(a), f->name, l.rows[i].vers, &blob) == 0) {
            agent_counters(a)->rejected_peer_unconfirmed++;
            agent_counters(a)->rejected++;
            log_warn(
                "index entry %s %s came only from a peer or a bundle and the upstream does not "
                "list it: dropped%s",
                f->name, l.rows[i].vers, blob ? " (with its crate)" : "");
        }
    }
    store_index_list_free(&l);
}

/* The upstream's 200 is in the store: validators kept, dependencies fetched ahead. */
static void index_ingested(struct agent_fetch *f)
{
    struct agent *a = f->a;
    if (f->in.c.ok == 0 && (f->in.c.lines > 0 || f->in.len > 0)) {
        log_warn("index file of %s: the upstream sent no valid index line", f->name);
        ingest_free(f);
        fetch_finish(f, -EIO);
        return;
    }
    drop_unlisted(a, f);
    struct store_index_meta meta;
    if (store_index_meta_get(agent_store(a), f->name, &meta) < 0)
        memset(&meta, 0, sizeof meta);
    meta.fetched_at = agent_now();
    snprintf(meta.etag, sizeof meta.etag, "%s", f->in_etag);
    snprintf(meta.last_modified, sizeof meta.last_modified, "%s", f->in_last_modified);
    meta.not_found = false;
    if (store_index_meta_put(agent_store(a), f->name, &meta) < 0)
        log_error("store: cannot record index metadata of %s: %s", f->name,
                  store_errmsg(agent_store(a)));
    char **deps = f->in.deps;
    size_t ndeps = f->in.ndeps;
    f->in.deps = NULL; /* handed to prefetch_deps */
    f->in.ndeps = 0;
    unsigned depth = f->depth;
    fetch_finish(f, 0);
    prefetch_deps(a, deps, ndeps, depth + 1);
}

static void index_done(void *ud, struct agent_http_response *res)
{
    struct agent_fetch *f = ud;
    transfer_end(f);
    struct agent *a = f->a;
    char why[300];
    struct store_index_meta meta;
    if (store_index_meta_get(agent_store(a), f->name, &meta) < 0)
        memset(&meta, 0, sizeof meta);

    if (upstream_unreachable(res)) {
        agent_http_failure(res, why, sizeof why);
        agent_upstream_failed(a, why);
        /* it answered badly (5xx) or hung, rather than not being there at all:
         * if the room has nothing either, Cargo is told of a network problem,
         * not that the crate does not exist */
        if (res->error != -ECONNREFUSED && res->error != -EHOSTUNREACH)
            f->upstream_failed = true;
        index_from_peers(f); /* now offline: what the room has */
        return;
    }
    if (res->error) {
        agent_http_failure(res, why, sizeof why);
        log_warn("index file of %s: %s", f->name, why);
        fetch_finish(f, -EIO);
        return;
    }
    if (res->status == 200) {
        snprintf(f->in_etag, sizeof f->in_etag, "%s", res->etag);
        snprintf(f->in_last_modified, sizeof f->in_last_modified, "%s", res->last_modified);
        uint8_t *body = res->body; /* take it: ingest may span loop turns */
        res->body = NULL;
        ingest_start(f, body, body, res->len, STORE_ORIGIN_UPSTREAM, agent_upstream_base(a), true,
                     index_ingested);
        return;
    }
    meta.fetched_at = agent_now();
    if (res->status == 304) {
        /* unchanged */
    } else if (res->status == 404 || res->status == 410 || res->status == 451) {
        meta.not_found = true;
        meta.etag[0] = meta.last_modified[0] = '\0';
    } else {
        log_warn("index file of %s: upstream answered HTTP %ld", f->name, res->status);
        fetch_finish(f, -EIO);
        return;
    }
    if (store_index_meta_put(agent_store(a), f->name, &meta) < 0)
        log_error("store: cannot record index metadata of %s: %s", f->name,
                  store_errmsg(agent_store(a)));
    fetch_finish(f, 0);
}

/* Does the store hold an entry of name that only a peer vouched for? */
static bool holds_peer_only(struct agent *a, const char *name)
{
    struct store_index_list l;
    bool any = false;
    if (store_index_list(agent_store(a), name, &l) < 0)
        return false;
    for (size_t i = 0; i < l.n && !any; i++)
        any = store_origin_signed(l.rows[i].origin);
    store_index_list_free(&l);
    return any;
}

static void index_start(struct agent *a, void *ud, int result, const char *detail)
{
    struct agent_fetch *f = ud;
    if (!agent_upstream_online(a)) {
        index_from_peers(f);
        return;
    }
    char path[PROTO_INDEX_PATH_MAX], url[PROTO_URL_MAX];
    if (proto_index_path(f->name, strlen(f->name), path, sizeof path) < 0 ||
        agent_upstream_url(a, path, url, sizeof url) < 0) {
        fetch_finish(f, -EINVAL);
        return;
    }
    struct store_index_meta meta;
    if (store_index_meta_get(agent_store(a), f->name, &meta) < 0)
        memset(&meta, 0, sizeof meta);
    if (holds_peer_only(a, f->name)) /* a 304 would not say which versions it lists */
        meta.etag[0] = meta.last_modified[0] = '\0';
    struct agent_http_request req = {
        .progress_ms = &f->progress_ms,
        .url = url,
        .if_none_match = meta.etag,
        .if_modified_since = meta.etag[0] ? NULL : meta.last_modified,
        .max_body = PROTO_INDEX_FILE_MAX,
        .connect_timeout_ms = 3000,
        .timeout_ms = 60000,
        .low_speed_secs = UPSTREAM_LOW_SPEED_S,
        .low_speed_bytes = MIN_RATE_BYTES,
        .follow_redirects = 1,
    };
    transfer_begin(f);
    if (agent_http_get(agent_http(a), &req, index_done, f) < 0)
        fetch_finish(f, -ENOMEM);
}

/* First the upstream's state, then the first polls of static peers. */
static void index_wait_peers(struct agent *a, void *ud, int result, const char *detail)
{
    agent_peers_when_ready(a, index_start, ud);
}

int agent_fetch_index(struct agent *a, const char *name, agent_fetch_cb cb, void *ud)
{
    return fetch_index_at(a, name, 0, cb, ud);
}

static int fetch_index_at(struct agent *a, const char *name, unsigned depth, agent_fetch_cb cb,
                          void *ud)
{
    bool offline =
        agent_upstream_state(a) == UPSTREAM_NONE || agent_upstream_state(a) == UPSTREAM_OFFLINE;
    if (offline && agent_peers_ready(a)) {
        struct agent_peer *cand[1];
        if (agent_peers_index_news(a, name, cand, 1) == 0)
            return 1; /* the store holds all the room has */
    }
    char key[80] = "i:";
    proto_name_lower(name, key + 2, sizeof key - 2);
    struct agent_fetch *f = fetch_find(a, key);
    if (f == NULL) {
        /* A prefetch does not repeat a fetch of the last few seconds; a
         * request from Cargo revalidates unless within --index-ttl. */
        int64_t ttl = (int64_t)agent_opt(a)->index_ttl;
        if (depth > 0 && ttl < PREFETCH_FRESH_S)
            ttl = PREFETCH_FRESH_S;
        struct store_index_meta meta;
        if (!offline && ttl > 0 && store_index_meta_get(agent_store(a), name, &meta) == 0 &&
            agent_now() - meta.fetched_at < ttl)
            return 1; /* fresh enough */
        if (offline && depth > 0)
            return 1; /* no prefetching from peers */
        f = fetch_new(a, key);
        if (f == NULL)
            return 1;
        snprintf(f->name, sizeof f->name, "%s", name);
        f->depth = depth;
        if (waiter_add(f, cb, ud) < 0) {
            fetch_finish(f, 0);
            return 1;
        }
        agent_upstream_when_ready(a, index_wait_peers, f);
        return 0;
    }
    if (depth < f->depth)
        f->depth = depth;
    if (waiter_add(f, cb, ud) < 0)
        return 1;
    return 0;
}

/* ---- crates -------------------------------------------------------------- */

static void commit_work(uv_work_t *w)
{
    struct agent_fetch *f = container_of(w, struct agent_fetch, work);
    f->commit_rc = store_blob_writer_finish(f->writer); /* frees it */
    f->writer = NULL;
}

static int crate_sink(void *ud, const uint8_t *buf, size_t len)
{
    struct agent_fetch *f = ud;
    int rc = store_blob_writer_write(f->writer, buf, len);
    if (rc < 0 && rc != -EFBIG)
        f->write_error = rc;
    if (rc >= 0) {
        uint64_t size = store_blob_writer_size(f->writer), now = now_ms(f->a);
        agent_crate_progress(f->a, f->sha, size);
        if (f->transfer_ms && now - f->transfer_ms >= PROGRESS_LOG_MS &&
            now - f->logged_ms >= PROGRESS_LOG_MS) {
            f->logged_ms = now;
            log_info("fetching %s %s from %s: %.1f MB so far, %.2f MB/s", f->name, f->vers,
                     f->peer ? f->peer->addr : "the upstream", (double)size / 1e6,
                     (double)size / 1e3 / (double)(now - f->transfer_ms));
        }
    }
    return rc;
}

/* A fresh writer for the next transfer (a failed one's bytes are dropped). */
static int writer_open(struct agent_fetch *f, uint64_t max_size)
{
    if (f->writer != NULL)
        agent_crate_ended(f->a, f->sha, false);
    store_blob_writer_abort(f->writer);
    f->writer = NULL;
    f->write_error = 0;
    int rc = store_blob_writer_open(agent_store(f->a), f->sha, max_size, &f->writer);
    if (rc < 0)
        log_error("store: cannot write %s %s: %s", f->name, f->vers, strerror(-rc));
    return rc;
}

static void commit_after(uv_work_t *w, int status)
{
    struct agent_fetch *f = container_of(w, struct agent_fetch, work);
    struct agent *a = f->a;
    struct agent_peer *p = f->peer;
    f->phase = FETCH_SOURCE;
    int rc = status < 0 ? status : f->commit_rc;
    size_t len = f->len;
    if (rc == -EBADMSG) {
        agent_counters(a)->rejected++;
        if (p) {
            agent_counters(a)->rejected_peer_checksum++;
            agent_peer_count_fail(p, PEER_FAIL_CHECKSUM);
            char msg[PROTO_NAME_MAX + PROTO_VERS_MAX + 80];
            snprintf(msg, sizeof msg,
                     "sent %s %s whose sha256 does not match the index cksum: discarded", f->name,
                     f->vers);
            agent_peer_transfer_failed(p, msg, true);
            release_peer(f);
            f->last_error = -EBADMSG;
            crate_next_source(f);
            return;
        }
        agent_counters(a)->rejected_checksum++;
        log_warn("upstream sent %s %s whose sha256 does not match the index cksum: discarded",
                 f->name, f->vers);
        fetch_finish(f, -EBADMSG);
        return;
    }
    if (rc < 0) {
        log_error("store: cannot write %s %s: %s", f->name, f->vers, strerror(-rc));
        release_peer(f);
        fetch_finish(f, -EIO);
        return;
    }
    rc = store_blob_record(agent_store(a), f->sha, len,
                           p ? STORE_ORIGIN_PEER : STORE_ORIGIN_UPSTREAM);
    if (rc < 0) {
        log_error("store: cannot record %s %s: %s", f->name, f->vers, strerror(-rc));
        release_peer(f);
        fetch_finish(f, -EIO);
        return;
    }
    agent_news_store_moved(a, store_seq(agent_store(a)));
    log_debug("crate %s %s: stored from %s (%zu bytes, %llu ms after it was asked for)", f->name,
              f->vers, p ? p->addr : "the upstream", len,
              (unsigned long long)(now_ms(a) - f->resolve.created_ms));
    if (p)
        snprintf(f->source, sizeof f->source, "peer %s", p->addr);
    else
        snprintf(f->source, sizeof f->source, "upstream");
    if (p) {
        agent_counters(a)->from_peers++;
        agent_counters(a)->bytes_from_peers += len;
        agent_peer_got_crate(p, len, (double)(now_ms(a) - f->started_ms));
        release_peer(f);
    } else {
        agent_counters(a)->from_upstream++;
        agent_counters(a)->bytes_from_upstream += len;
    }
    fetch_finish(f, 0);
}

static void crate_done(void *ud, struct agent_http_response *res)
{
    struct agent_fetch *f = ud;
    transfer_end(f);
    struct agent *a = f->a;
    bool whole = !agent_stopping(a) && !f->write_error && res->error == 0 && res->status == 200;
    if (whole)
        agent_crate_progress(a, f->sha, store_blob_writer_size(f->writer));
    agent_crate_ended(a, f->sha, whole); /* relays of this transfer end with it */
    struct agent_peer *p = f->peer;
    char why[300];
    if (agent_stopping(a)) {
        release_peer(f);
        fetch_finish(f, -ECANCELED);
        return;
    }
    if (f->write_error) { /* our disk, not the source */
        log_error("store: cannot write %s %s: %s", f->name, f->vers, strerror(-f->write_error));
        release_peer(f);
        fetch_finish(f, -EIO);
        return;
    }
    if (p == NULL && upstream_unreachable(res)) {
        agent_http_failure(res, why, sizeof why);
        agent_upstream_failed(a, why);
        fetch_finish(f, -EIO);
        return;
    }
    if (res->error || res->status != 200) {
        agent_http_failure(res, why, sizeof why);
        store_blob_writer_abort(f->writer);
        f->writer = NULL;
        if (p && res->status == 503) {
            /* busy: not a failure. Ask it again later (after others), and
             * wait for a slot somewhere. */
            agent_peer_count_fail(p, PEER_FAIL_BUSY);
            agent_peer_busy(p, now_ms(a) + BUSY_BACKOFF_MS);
            untry(f, p);
            release_peer(f);
            enqueue(f, BUSY_BACKOFF_MS / 2 + (uint64_t)(agent_peers_noise(BUSY_BACKOFF_MS)));
            return;
        }
        if (p) {
            if (res->status == 404) {
                /* not held any more: not the peer's fault */
                agent_peer_count_fail(p, PEER_FAIL_NOT_HELD);
            } else {
                agent_peer_count_fail(p, res->error == -ETIMEDOUT ? PEER_FAIL_TIMEOUT
                                                                  : PEER_FAIL_TRANSPORT);
                char msg[PROTO_NAME_MAX + PROTO_VERS_MAX + 340];
                snprintf(msg, sizeof msg, "download of %s %s failed: %s", f->name, f->vers, why);
                agent_peer_transfer_failed(p, msg, false);
            }
            release_peer(f);
            f->last_error = -EIO;
            crate_next_source(f);
            return;
        }
        log_warn("download of %s %s failed: %s", f->name, f->vers, why);
        bool gone = res->status == 404 || res->status == 410 || res->status == 451;
        fetch_finish(f, gone ? -ENOENT : -EIO);
        return;
    }
    f->len = (size_t)store_blob_writer_size(f->writer);
    f->phase = FETCH_COMMIT;
    if (uv_queue_work(agent_loop(a), &f->work, commit_work, commit_after) < 0) {
        f->phase = FETCH_SOURCE;
        release_peer(f);
        fetch_finish(f, -EIO);
    }
}

static void crate_from_upstream(struct agent_fetch *f)
{
    struct agent *a = f->a;
    char hex[PROTO_SHA256_HEX_LEN + 1], url[PROTO_URL_MAX];
    proto_hex_encode(f->sha, PROTO_SHA256_LEN, hex);
    int n = proto_dl_expand(agent_upstream_dl(a), f->name, f->vers, hex, url, sizeof url);
    if (n < 0) {
        log_warn("cannot build the download URL of %s %s: %s", f->name, f->vers, strerror(-n));
        fetch_finish(f, -EIO);
        return;
    }
    /* a relative dl template is relative to the index root */
    char abs[PROTO_URL_MAX];
    if (strstr(url, "://") == NULL) {
        if (agent_upstream_url(a, url[0] == '/' ? url + 1 : url, abs, sizeof abs) < 0) {
            fetch_finish(f, -EIO);
            return;
        }
    } else {
        snprintf(abs, sizeof abs, "%s", url);
    }
    if (writer_open(f, STORE_BLOB_MAX) < 0) {
        fetch_finish(f, -EIO);
        return;
    }
    struct agent_http_request req = {
        .progress_ms = &f->progress_ms,
        .url = abs,
        .max_body = STORE_BLOB_MAX,
        .connect_timeout_ms = 3000,
        .timeout_ms = UPSTREAM_CRATE_DEADLINE_MS,
        .low_speed_secs = UPSTREAM_LOW_SPEED_S,
        .low_speed_bytes = MIN_RATE_BYTES,
        .follow_redirects = 1,
        .sink = crate_sink,
        .sink_ud = f,
    };
    f->peer = NULL;
    announce(f);
    transfer_begin(f);
    if (agent_http_get(agent_http(a), &req, crate_done, f) < 0)
        fetch_finish(f, -ENOMEM);
}

/* Is a live neighbour fetching this crate right now (news.c)? */
static bool neighbour_fetching(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN])
{
    for (struct agent_peer *p = agent_peers_first(a); p; p = p->next)
        if (p->state == PEER_LIVE && !p->removed && agent_peer_fetching(p, sha))
            return true;
    return false;
}

/* A live neighbour announced a sequence whose manifest we have not applied yet:
 * a crate it was fetching may have just arrived there. */
static bool manifest_due(struct agent *a)
{
    for (struct agent_peer *p = agent_peers_first(a); p; p = p->next)
        if (p->state == PEER_LIVE && !p->removed && p->news_seq > p->seq)
            return true;
    return false;
}

/* Live neighbours that say they are fetching this crate now and pass a crate
 * on as it arrives (relay.h), best first. A peer that ever sent bad bytes is
 * not asked for a relay (no size was signed for one): only for what it holds. */
static size_t relays_of(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN],
                        struct agent_peer **out, size_t max)
{
    size_t n = 0;
    for (struct agent_peer *p = agent_peers_first(a); p && n < max; p = p->next)
        if (p->state == PEER_LIVE && !p->removed && p->penalty == 0 &&
            (p->caps & PROTO_CAP_RELAY) && agent_peer_fetching(p, sha) &&
            agent_peer_crate_size(p, sha) == 0)
            out[n++] = p;
    return agent_peers_order(out, n);
}

/* Rendezvous order for who fetches a crate from the upstream first: the
 * smallest sha XOR key. Only neighbours that are fetching something right now
 * take part (they are probably asked for the same crates at the same moment),
 * and only those that do not hold it already. */
static bool before(const uint8_t sha[PROTO_SHA256_LEN], const uint8_t x[PROTO_PK_LEN],
                   const uint8_t y[PROTO_PK_LEN])
{
    for (size_t i = 0; i < PROTO_PK_LEN; i++) {
        uint8_t a = sha[i] ^ x[i], b = sha[i] ^ y[i];
        if (a != b)
            return a < b;
    }
    return false;
}

/* A neighbour that may be asked for the crates we are asked for now. With a
 * holder, one fetching now (an idle one does not compete for the holder). With
 * the upstream as the only source, any live one with news: a class starts at
 * once, before anyone's news shows it fetching, and a duplicate costs the
 * room's uplink. */
static bool competing(const struct agent_peer *p, bool upstream_only)
{
    return p->state == PEER_LIVE && !p->removed && (p->caps & PROTO_CAP_NEWS) &&
           (upstream_only || p->nfetching > 0);
}

/* A competing neighbour comes first in the rendezvous order for sha. */
static bool designated_elsewhere(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN],
                                 bool upstream_only)
{
    for (struct agent_peer *p = agent_peers_first(a); p; p = p->next)
        if (competing(p, upstream_only) && agent_peer_crate_size(p, sha) == 0 &&
            before(sha, p->pk, agent_id(a)->pk))
            return true;
    return false;
}

/* A competing neighbour exists (resolve.h, rule 5). */
static bool neighbour_active(struct agent *a, bool upstream_only)
{
    for (struct agent_peer *p = agent_peers_first(a); p; p = p->next)
        if (competing(p, upstream_only))
            return true;
    return false;
}

/* From p: a holder, or (relay) a neighbour passing it on as it arrives. */
static void crate_from_peer(struct agent_fetch *f, struct agent_peer *p, bool relay)
{
    struct agent *a = f->a;
    char url[PROTO_URL_MAX];
    struct proto_route route = {.kind = PROTO_ROUTE_PEER_CRATE};
    memcpy(route.sha256, f->sha, PROTO_SHA256_LEN);
    proto_route_peer_url(p->addr, &route, url, sizeof url);
    /* the peer signed the crate's size: it may not send more than that */
    uint64_t size = agent_peer_crate_size(p, f->sha);
    size_t max = size > 0 && size < STORE_BLOB_MAX ? (size_t)size : STORE_BLOB_MAX;
    if (writer_open(f, max) < 0) {
        release_peer(f);
        fetch_finish(f, -EIO);
        return;
    }
    struct agent_http_request req = {
        .progress_ms = &f->progress_ms,
        .url = url,
        .max_body = max,
        .connect_timeout_ms = 2000,
        .timeout_ms = peer_deadline_ms(max),
        .low_speed_secs = PEER_LOW_SPEED_S,
        .low_speed_bytes = MIN_RATE_BYTES,
        .sink = crate_sink,
        .sink_ud = f,
    };
    announce(f);
    log_debug("crate %s %s: asking peer %s (%llu ms after it was asked for)", f->name, f->vers,
              p->addr, (unsigned long long)(now_ms(a) - f->resolve.created_ms));
    transfer_begin(f);
    f->relayed = relay;
    struct agent_mesh_ticket mt;
    agent_mesh_ticket(a, url, &mt);
    agent_mesh_apply(&mt, &req);
    if (agent_http_get(agent_http(a), &req, crate_done, f) < 0) {
        release_peer(f);
        fetch_finish(f, -ENOMEM);
    }
}

/* SOURCE for a crate: the states of the file comment, in order. */
static void crate_next_source(struct agent_fetch *f)
{
    struct agent *a = f->a;
    if (agent_stopping(a)) {
        fetch_finish(f, -ECANCELED);
        return;
    }
    uint64_t now = now_ms(a);
    struct agent_peer *cand[SOURCES_MAX];
    size_t n = agent_peers_holding_crate(a, f->sha, cand, SOURCES_MAX);
    bool saturated, relay_saturated;
    int k = choose_peer(f, cand, n, true, false, &saturated);
    struct agent_peer *rel[SOURCES_MAX];
    size_t nr = n <= 1 ? relays_of(a, f->sha, rel, SOURCES_MAX) : 0;
    int kr = choose_peer(f, rel, nr, true, true, &relay_saturated);
    struct resolve_view v = {
        .relay_ready = kr >= 0,
        .holders = n,
        .neighbour_fetching = n <= 1 && neighbour_fetching(a, f->sha),
        .manifest_due = n <= 1 && manifest_due(a),
        .designated_elsewhere = n <= 1 && designated_elsewhere(a, f->sha, n == 0),
        .peer_ready = k >= 0,
        .saturated = saturated,
        .upstream = agent_upstream_online(a) && agent_upstream_dl(a) != NULL,
        .neighbour_active = n <= 1 && neighbour_active(a, n == 0),
    };
    switch (resolve_crate_next(&f->resolve, &v, now)) {
    case RESOLVE_WAIT_NEIGHBOUR:
        log_debug("crate %s %s: waiting for a neighbour fetching it", f->name, f->vers);
        enqueue(f, 0); /* news or its manifest wakes us */
        return;
    case RESOLVE_DEFER: /* then it is announced (we wait) or we go */
        enqueue(f, resolve_defer_ms(&v));
        return;
    case RESOLVE_PEER:
        crate_from_peer(f, take(f, cand[k]), false);
        return;
    case RESOLVE_RELAY:
        log_debug("crate %s %s: from %s as it arrives there", f->name, f->vers, rel[kr]->addr);
        crate_from_peer(f, take(f, rel[kr]), true);
        return;
    case RESOLVE_WAIT_SLOT:
        enqueue(f, 0); /* a holder is busy: wait for its slot */
        return;
    case RESOLVE_SETTLE:
        enqueue(f, RESOLVE_SETTLE_MS); /* a neighbour's news may be on its way */
        return;
    case RESOLVE_UPSTREAM:
        log_debug("crate %s %s (%02x%02x%02x%02x): from the upstream", f->name, f->vers, f->sha[0],
                  f->sha[1], f->sha[2], f->sha[3]);
        crate_from_upstream(f);
        return;
    case RESOLVE_FAIL:
        break;
    }
    fetch_finish(f, f->last_error);
}

static void crate_start(struct agent *a, void *ud, int result, const char *detail)
{
    (void)a;
    crate_next_source(ud);
}

void agent_fetch_crate(struct agent *a, const char *name, const char *vers,
                       const uint8_t sha[PROTO_SHA256_LEN], agent_fetch_cb cb, void *ud)
{
    char key[80], hex[PROTO_SHA256_HEX_LEN + 1];
    proto_hex_encode(sha, PROTO_SHA256_LEN, hex);
    snprintf(key, sizeof key, "c:%s", hex);
    struct agent_fetch *f = fetch_find(a, key);
    if (f != NULL) {
        if (waiter_add(f, cb, ud) < 0)
            cb(a, ud, -ENOMEM, NULL);
        return;
    }
    f = fetch_new(a, key);
    if (f == NULL) {
        cb(a, ud, -ENOMEM, NULL);
        return;
    }
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->vers, sizeof f->vers, "%s", vers);
    memcpy(f->sha, sha, PROTO_SHA256_LEN);
    resolve_crate_init(&f->resolve, now_ms(a));
    if (waiter_add(f, cb, ud) < 0) {
        fetch_finish(f, -ENOMEM);
        cb(a, ud, -ENOMEM, NULL);
        return;
    }
    agent_upstream_when_ready(a, crate_start, f);
}
