/* agent/peers.c — the peer table.
 *
 * Peers come from --peer (static), from mDNS (discovery.c), and from other
 * peers' manifests or hellos (pex). A candidate becomes useful only after it
 * proved itself: a hello that signs our fresh nonce, a key the trust policy
 * accepts (and that matches the key id its mDNS record announced), and a
 * signed manifest from that same key. Until then it is never asked for data.
 *
 * Poll cycle of one peer (poll_start -> hello_done -> manifest_done), driven by
 * its own uv_timer_t:
 *   CONNECTING --hello ok, key ok--> (fetch manifest if its seq moved) --> LIVE
 *   any        --transport error / bad message--> FAILING (back-off 1 s .. 60 s)
 *   any        --key not trusted / id mismatch--> REJECTED (re-polled every 60 s)
 * A LIVE peer is polled every POLL_LIVE_MS; mDNS TXT changes poll at once.
 * Transfers hold a reference (agent_peer_ref) so that a peer removed meanwhile
 * (mDNS "lost", table pruning) is freed only when its last transfer ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <stdio.h>

#include <uv.h>

#include "agent/core.h"
#include "agent/discovery.h"
#include "agent/http_client.h"
#include "agent/log.h"
#include "agent/mesh.h"
#include "agent/peer_select.h"
#include "agent/peers.h"
#include "agent/waiters.h"
#include "proto/addr.h"
#include "proto/alloc.h"
#include "proto/config.h"
#include "proto/peer.h"
#include "proto/route.h"

/* The peer table: only peers.c reads or writes it. */
struct agent_peers {
    struct agent_peer *list;
    size_t npeers;
    uint8_t (*trusted)[PROTO_PK_LEN]; /* --trust keys */
    size_t ntrusted;
#define AGENT_SELF_ADDRS_MAX 8
    char self_addrs[AGENT_SELF_ADDRS_MAX][PROTO_PEER_ADDR_MAX + 1]; /* where we reached ourselves */
    size_t nself_addrs;
    bool peers_ready;
    struct proto_peer_addr forgotten[256]; /* pex addresses dropped after failing (a ring) */
    size_t nforgotten;
    struct agent_token_bucket {
        double tokens;
        int64_t at;
    } pex_tokens, hello_tokens; /* new addresses allowed now: announced, or from a hello */
    struct agent_waiters peer_waiters;
    uv_timer_t peers_ready_timer;
    struct agent_discovery *discovery;
    uint16_t peer_port; /* ours (0 when --peer-listen off) */
    uint64_t seq;       /* the store sequence our TXT record announces */
};

struct agent_peers *agent_peers_new(void)
{
    return cc_calloc(1, sizeof(struct agent_peers));
}

struct agent_peer *agent_peers_first(const struct agent *a)
{
    return agent_peers(a)->list;
}

bool agent_peers_ready(const struct agent *a)
{
    return agent_peers(a)->peers_ready;
}

struct agent_discovery *agent_peers_discovery(const struct agent *a)
{
    return agent_peers(a)->discovery;
}

void agent_peer_slot_take(struct agent_peer *p)
{
    p->inflight++;
}

void agent_peer_slot_give(struct agent_peer *p)
{
    if (p->inflight)
        p->inflight--;
}

#define PEERS_MAX 64
#define PEERS_PEX_MAX 40 /* pex peers at most: room is kept for static, mDNS and newcomers */
#define PEERS_ENTRIES_MAX 1000000u /* manifest entries held for all peers (~140 MB at most) */
/* One peer that has not yet given us a verified byte may hold at most this share of it. */
#define PEER_ENTRIES_UNPROVEN (PEERS_ENTRIES_MAX / 4)
#define PEX_PER_MINUTE 16   /* new pex addresses contacted per minute, at most (also the burst) */
#define HELLO_PER_MINUTE 32 /* new peers learnt from their hellos per minute (also the burst) */
#define FORGOTTEN_MAX 256   /* pex addresses that failed FAILS_BEFORE_DROP times: not retried */
#define POLL_LIVE_MS 5000
#define POLL_REJECTED_MS 60000
#define BACKOFF_MAX_MS 60000
#define PEERS_READY_MS 3000 /* index requests wait at most this long for static peers */
#define HELLO_MAX (16u << 10)
#define MANIFEST_WIRE_MAX (PROTO_PEER_BODY_MAX + 64)
#define FAILS_BEFORE_DROP 5 /* pex peers are forgotten after this many failures */

static void poll_start(struct agent_peer *p);

const char *agent_peer_via_name(enum peer_via v)
{
    switch (v) {
    case PEER_VIA_STATIC:
        return "static";
    case PEER_VIA_MDNS:
        return "mdns";
    case PEER_VIA_PEX:
        return "pex";
    }
    return "?";
}

const char *agent_peer_state_name(enum peer_state s)
{
    switch (s) {
    case PEER_CONNECTING:
        return "connecting";
    case PEER_LIVE:
        return "live";
    case PEER_FAILING:
        return "failing";
    case PEER_REJECTED:
        return "rejected";
    }
    return "?";
}

/* ---- lifetime ------------------------------------------------------------ */

/* Forget what its manifest said (the news it sent stays: see peer_forget). */
static void peer_free_manifest(struct agent_peer *p)
{
    free(p->crates);
    free(p->index);
    p->crates = NULL;
    p->index = NULL;
    p->ncrates = p->nindex = 0;
    p->manifest_held = false;
}

/* Forget everything it told us. */
static void peer_free_data(struct agent_peer *p)
{
    peer_free_manifest(p);
    free(p->fetching);
    p->fetching = NULL;
    p->nfetching = 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct agent_peer *p = container_of((uv_timer_t *)h, struct agent_peer, timer);
    peer_free_data(p);
    free(p);
}

static void peer_maybe_free(struct agent_peer *p)
{
    if (p->removed && p->refs == 0 && !p->polling)
        uv_close((uv_handle_t *)&p->timer, timer_closed);
}

void agent_peer_ref(struct agent_peer *p)
{
    p->refs++;
}

void agent_peer_unref(struct agent_peer *p)
{
    if (p->refs > 0)
        p->refs--;
    peer_maybe_free(p);
}

static void peer_remove(struct agent_peer *p)
{
    struct agent *a = p->a;
    for (struct agent_peer **pp = &agent_peers(a)->list; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            agent_peers(a)->npeers--;
            break;
        }
    }
    p->removed = true;
    uv_timer_stop(&p->timer);
    if (p->state == PEER_LIVE)
        agent_changed(a);
    peer_maybe_free(p);
}

static bool addr_is_self(struct agent *a, const char *addr)
{
    for (size_t i = 0; i < agent_peers(a)->nself_addrs; i++)
        if (strcmp(agent_peers(a)->self_addrs[i], addr) == 0)
            return true;
    if (agent_peers(a)->peer_port == 0)
        return false;
    struct proto_host_port hp;
    if (proto_host_port_parse(addr, strlen(addr), &hp) < 0 || hp.port != agent_peers(a)->peer_port)
        return false;
    return (hp.host_len == 9 && memcmp(hp.host, "127.0.0.1", 9) == 0) ||
           (hp.host_len == 9 && memcmp(hp.host, "localhost", 9) == 0);
}

/* What a peer has given us that verified: the measure by which room is made. */
static uint64_t usefulness(const struct agent_peer *p)
{
    return p->n.bytes_from + p->n.index_from * 4096u + (p->state == PEER_LIVE ? 1u : 0u);
}

/* Make room for a newcomer arriving via `via`: the least useful peer that is
 * not static and not in use goes (never one whose poll or transfer is in
 * flight); among equally useful ones, pex before mDNS, then the one seen
 * longest ago. A pex newcomer may only displace a pex peer that never gave
 * anything. Returns false when nobody can go. */
static bool make_room(struct agent *a, enum peer_via via)
{
    struct agent_peer *victim = NULL;
    for (struct agent_peer *p = agent_peers(a)->list; p; p = p->next) {
        if (p->via == PEER_VIA_STATIC || p->polling || p->refs > 0 || p->news_polling)
            continue;
        if (via == PEER_VIA_PEX && (p->via != PEER_VIA_PEX || usefulness(p) > 1))
            continue;
        if (victim == NULL || usefulness(p) < usefulness(victim) ||
            (usefulness(p) == usefulness(victim) &&
             (p->via > victim->via || (p->via == victim->via && p->last_seen < victim->last_seen))))
            victim = p;
    }
    if (victim == NULL)
        return false;
    log_info("peer %s (%s): dropped to make room", victim->addr, agent_peer_via_name(victim->via));
    peer_remove(victim);
    return true;
}

static bool forgotten(const struct agent *a, const struct proto_peer_addr *pa)
{
    for (size_t i = 0; i < agent_peers(a)->nforgotten && i < FORGOTTEN_MAX; i++)
        if (proto_peer_addr_eq(&agent_peers(a)->forgotten[i], pa))
            return true;
    return false;
}

static void forget(struct agent *a, const char *addr)
{
    struct proto_peer_addr pa;
    if (proto_peer_addr_parse(addr, strlen(addr), &pa) == 0 && !forgotten(a, &pa))
        agent_peers(a)->forgotten[agent_peers(a)->nforgotten++ % FORGOTTEN_MAX] = pa;
}

/* A token bucket of `per_minute` new addresses a minute (and as the burst). */
static bool take_token(struct agent_token_bucket *b, double per_minute)
{
    int64_t now = agent_now();
    if (b->at == 0) {
        b->tokens = per_minute;
    } else if (now > b->at) {
        b->tokens += (double)(now - b->at) * per_minute / 60.0;
        if (b->tokens > per_minute)
            b->tokens = per_minute;
    }
    b->at = now;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

static struct agent_peer *peers_add(struct agent *a, const char *addr_in, enum peer_via via,
                                    bool from_hello);

struct agent_peer *agent_peers_add(struct agent *a, const char *addr_in, enum peer_via via)
{
    return peers_add(a, addr_in, via, false);
}

/* A peer that sent us a hello with its own port: its address is its TCP
 * source (it cannot be forged like a pex entry), so it has an allowance of its
 * own: a flood of announced pex addresses must not lock out a real newcomer. */
struct agent_peer *agent_peers_learn(struct agent *a, const char *addr)
{
    return peers_add(a, addr, PEER_VIA_PEX, true);
}

static struct agent_peer *peers_add(struct agent *a, const char *addr_in, enum peer_via via,
                                    bool from_hello)
{
    char addr[PROTO_PEER_ADDR_MAX + 1];
    if (agent_stopping(a) || strlen(addr_in) > PROTO_PEER_ADDR_MAX)
        return NULL;
    if (via != PEER_VIA_STATIC) {
        /* what the network says is an address only as an IP literal and a port,
         * written the one canonical way; a host name comes only from --peer */
        struct proto_peer_addr pa;
        if (proto_peer_addr_parse(addr_in, strlen(addr_in), &pa) < 0 ||
            proto_peer_addr_format(&pa, addr) < 0)
            return NULL;
        if (via == PEER_VIA_PEX && forgotten(a, &pa))
            return NULL;
    } else {
        snprintf(addr, sizeof addr, "%s", addr_in);
    }
    if (addr_is_self(a, addr))
        return NULL;
    size_t npex = 0;
    for (struct agent_peer *p = agent_peers(a)->list; p; p = p->next) {
        if (strcmp(p->addr, addr) == 0) {
            /* a stronger source wins: static > mdns > pex */
            if (via < p->via)
                p->via = via;
            /* heard of again (its hello, mDNS, pex) while backing off: try now */
            if (p->state == PEER_FAILING && !p->polling && via != PEER_VIA_PEX)
                poll_start(p);
            return p;
        }
        npex += p->via == PEER_VIA_PEX;
    }
    if (via == PEER_VIA_PEX &&
        !take_token(from_hello ? &agent_peers(a)->hello_tokens : &agent_peers(a)->pex_tokens,
                    from_hello ? HELLO_PER_MINUTE : PEX_PER_MINUTE))
        return NULL; /* a flood of addresses is not a flood of connections */
    if ((agent_peers(a)->npeers >= PEERS_MAX || (via == PEER_VIA_PEX && npex >= PEERS_PEX_MAX)) &&
        !make_room(a, via))
        return NULL;
    struct agent_peer *p = cc_calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->a = a;
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    p->via = via;
    p->state = PEER_CONNECTING;
    uv_timer_init(agent_loop(a), &p->timer);
    p->next = agent_peers(a)->list;
    agent_peers(a)->list = p;
    agent_peers(a)->npeers++;
    log_info("peer %s (%s): added", addr, agent_peer_via_name(via));
    poll_start(p);
    return p;
}

/* ---- polling ------------------------------------------------------------- */

static void on_timer(uv_timer_t *t)
{
    poll_start(container_of(t, struct agent_peer, timer));
}

static void schedule(struct agent_peer *p, uint64_t ms)
{
    if (p->removed || agent_stopping(p->a))
        return;
    uv_update_time(agent_loop(p->a));
    uv_timer_start(&p->timer, on_timer, ms, 0);
}

static void ready_check(struct agent *a);

/* LIVE is entered and left only here and in set_live(): peers hear of it. */
static void set_state(struct agent_peer *p, enum peer_state st)
{
    bool was_live = p->state == PEER_LIVE;
    p->state = st;
    if (was_live != (st == PEER_LIVE))
        agent_changed(p->a);
}

/* A poll ended: poll again at once if that was asked for meanwhile. */
static bool repoll_pending(struct agent_peer *p)
{
    if (!p->repoll || p->removed || agent_stopping(p->a))
        return false;
    p->repoll = false;
    poll_start(p);
    return true;
}

static void poll_failed(struct agent_peer *p, const char *why, bool bad_data)
{
    struct agent *a = p->a;
    p->polling = false;
    p->repoll = false;
    p->fails++;
    if (p->state == PEER_LIVE || p->fails == 1)
        log_warn("peer %s: %s", p->addr, why);
    if (bad_data)
        p->penalty++;
    set_state(p, PEER_FAILING);
    ready_check(a);
    if (p->removed) {
        peer_maybe_free(p);
        return;
    }
    if (p->mdns_gone) {
        /* its mDNS record said goodbye and now it does not answer: gone */
        log_info("peer %s: gone (mDNS goodbye, then no answer)", p->addr);
        peer_remove(p);
        return;
    }
    if (p->via == PEER_VIA_PEX && p->fails >= FAILS_BEFORE_DROP) {
        log_info("peer %s: forgotten after %u failures", p->addr, p->fails);
        forget(a, p->addr); /* re-announcing it does not bring it back */
        peer_remove(p);
        return;
    }
    uint64_t ms = 1000u << (p->fails < 7 ? p->fails - 1 : 6);
    schedule(p, ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms);
}

static bool key_trusted(struct agent *a, const uint8_t pk[PROTO_PK_LEN])
{
    if (agent_opt(a)->trust == AGENT_TRUST_OPEN)
        return true;
    for (size_t i = 0; i < agent_peers(a)->ntrusted; i++)
        if (memcmp(agent_peers(a)->trusted[i], pk, PROTO_PK_LEN) == 0)
            return true;
    return false;
}

static int cmp_crate(const void *x, const void *y)
{
    return memcmp(((const struct proto_manifest_crate *)x)->sha256,
                  ((const struct proto_manifest_crate *)y)->sha256, PROTO_SHA256_LEN);
}

static int cmp_index(const void *x, const void *y)
{
    return strcmp(((const struct peer_index_item *)x)->name,
                  ((const struct peer_index_item *)y)->name);
}

/* Did we merge these very index bytes from another peer? */
static bool merged_elsewhere(const struct agent_peer *p, const struct peer_index_item *it)
{
    for (struct agent_peer *q = agent_peers(p->a)->list; q; q = q->next) {
        if (q == p)
            continue;
        struct peer_index_item *o = agent_peer_index_item(q, it->name);
        if (o && memcmp(o->merged, it->hash, PROTO_SHA256_LEN) == 0)
            return true;
    }
    return false;
}

/* Replace (full) or extend (delta) what we know the peer holds. */
static int apply_manifest(struct agent_peer *p, const struct proto_manifest *m)
{
    size_t nc = m->since ? p->ncrates : 0, ni = m->since ? p->nindex : 0;
    if (nc + m->ncrates > PROTO_MANIFEST_CRATES_MAX || ni + m->nindex > PROTO_MANIFEST_INDEX_MAX)
        return -EMSGSIZE;
    /* A peer that never gave a verified byte holds at most a share of the
     * budget; what all peers together make us hold is bounded too, and a
     * newcomer makes room by dropping what the largest unproven other peer
     * announced, so two free identities cannot lock out an honest third. */
    size_t want = nc + m->ncrates + ni + m->nindex;
    if (usefulness(p) <= 1 && want > PEER_ENTRIES_UNPROVEN)
        return -EMSGSIZE;
    for (;;) {
        size_t others = 0;
        struct agent_peer *largest = NULL;
        for (struct agent_peer *q = agent_peers(p->a)->list; q; q = q->next) {
            if (q == p)
                continue;
            others += q->ncrates + q->nindex;
            if (usefulness(q) <= 1 && q->refs == 0 && !q->polling &&
                (largest == NULL || q->ncrates + q->nindex > largest->ncrates + largest->nindex))
                largest = q;
        }
        if (others + want <= PEERS_ENTRIES_MAX)
            break;
        if (largest == NULL || largest->ncrates + largest->nindex == 0)
            return -EMSGSIZE;
        log_warn("peer %s: its manifest (%u entries) dropped to make room for %s's", largest->addr,
                 largest->ncrates + largest->nindex, p->addr);
        peer_free_manifest(largest);
        largest->seq = 0; /* a full one is asked for at its next poll */
    }
    struct proto_manifest_crate *crates = cc_malloc((nc + m->ncrates + 1) * sizeof *crates);
    struct peer_index_item *index = cc_malloc((ni + m->nindex + 1) * sizeof *index);
    if (crates == NULL || index == NULL) {
        free(crates);
        free(index);
        return -ENOMEM;
    }
    if (nc)
        memcpy(crates, p->crates, nc * sizeof *crates);
    if (ni)
        memcpy(index, p->index, ni * sizeof *index);
    for (uint32_t i = 0; i < m->ncrates; i++)
        crates[nc++] = m->crates[i];
    for (uint32_t i = 0; i < m->nindex; i++) {
        struct peer_index_item it;
        memset(&it, 0, sizeof it);
        snprintf(it.name, sizeof it.name, "%s", m->index[i].name);
        memcpy(it.hash, m->index[i].hash, PROTO_SHA256_LEN);
        it.updated = m->index[i].updated;
        /* keep what we merged of an existing entry, or of the same bytes from
         * another peer (a room's copies of one index file are usually equal) */
        struct peer_index_item *old = agent_peer_index_item(p, it.name);
        if (old && m->since)
            memcpy(it.merged, old->merged, PROTO_SHA256_LEN);
        if (memcmp(it.merged, it.hash, PROTO_SHA256_LEN) != 0 && merged_elsewhere(p, &it))
            memcpy(it.merged, it.hash, PROTO_SHA256_LEN);
        index[ni++] = it;
    }
    qsort(crates, nc, sizeof *crates, cmp_crate);
    qsort(index, ni, sizeof *index, cmp_index);
    /* deduplicate (a delta repeats names whose entries changed): the later wins */
    size_t w = 0;
    for (size_t r = 0; r < nc; r++)
        if (w == 0 || memcmp(crates[w - 1].sha256, crates[r].sha256, PROTO_SHA256_LEN) != 0)
            crates[w++] = crates[r];
    nc = w;
    w = 0;
    for (size_t r = 0; r < ni; r++) {
        if (w > 0 && strcmp(index[w - 1].name, index[r].name) == 0)
            index[w - 1] = index[r];
        else
            index[w++] = index[r];
    }
    ni = w;
    peer_free_manifest(p);
    p->crates = crates;
    p->ncrates = (uint32_t)nc;
    p->index = index;
    p->nindex = (uint32_t)ni;
    p->seq = m->seq;
    p->manifest_held = true;
    return 0;
}

bool agent_peer_apply_gains(struct agent_peer *p, const struct proto_news *n)
{
    /* only onto the manifest we hold, and not while a poll may be bringing
     * a delta from the sequence we hold now */
    if (!n->has_gains || p->polling || p->state != PEER_LIVE || !p->manifest_held ||
        n->gains_since > p->seq || p->seq >= n->seq) {
        log_debug("peer %s: news gains not applied (has %d, polling %d, state %d, held %llu, "
                  "since %llu, seq %llu)",
                  p->addr, n->has_gains, p->polling, (int)p->state, (unsigned long long)p->seq,
                  (unsigned long long)n->gains_since, (unsigned long long)n->seq);
        return false;
    }
    struct proto_manifest m = {
        .seq = n->seq,
        .since = p->seq,
        .crates = n->gained,
        .ncrates = n->ngained,
        .index = n->gained_index,
        .nindex = n->ngained_index,
    };
    memcpy(m.pk, n->pk, PROTO_PK_LEN);
    if (apply_manifest(p, &m) < 0)
        return false;
    p->n.news_gains++;
    return true;
}

/* A poll answered after its peer was removed or the agent began to stop. */
static bool poll_abandoned(struct agent_peer *p)
{
    if (!p->removed && !agent_stopping(p->a))
        return false;
    p->polling = false;
    peer_maybe_free(p);
    return true;
}

static void manifest_done(void *ud, struct agent_http_response *res)
{
    struct agent_peer *p = ud;
    struct agent *a = p->a;
    if (poll_abandoned(p))
        return;
    if (res->error || res->status != 200) {
        char why[300], f[256];
        snprintf(why, sizeof why, "manifest: %s", agent_http_failure(res, f, sizeof f));
        poll_failed(p, why, false);
        return;
    }
    struct proto_manifest m;
    int rc = proto_manifest_decode(res->body, res->len, &m);
    if (rc < 0 || memcmp(m.pk, p->pk, PROTO_PK_LEN) != 0) {
        if (rc == 0)
            proto_manifest_clear(&m);
        agent_counters(a)->rejected_peer_signature++;
        agent_counters(a)->rejected++;
        p->n.fail_signature++;
        poll_failed(p, rc < 0 ? "manifest does not verify" : "manifest signed by another key",
                    true);
        return;
    }
    if (m.since != 0 && m.since != p->seq) {
        proto_manifest_clear(&m);
        p->seq = 0; /* out of step: ask for a full one next time */
        p->manifest_held = false;
        p->polling = false;
        /* at once the first time; a peer that keeps answering out of step is
         * asked less and less often */
        p->mismatches++;
        uint64_t ms = p->mismatches <= 1 ? 10 : 1000u << (p->mismatches < 6 ? p->mismatches : 6);
        schedule(p, ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms);
        return;
    }
    rc = apply_manifest(p, &m);
    if (rc == 0)
        p->n.manifests++;
    /* peer exchange: every address it knows is a candidate */
    for (uint32_t i = 0; i < m.npex && rc == 0; i++)
        agent_peers_add(a, m.pex[i], PEER_VIA_PEX);
    proto_manifest_clear(&m);
    if (rc < 0) {
        poll_failed(p, "manifest too large", false);
        return;
    }
    if (p->state != PEER_LIVE)
        log_info("peer %s: live (key %s, %u crates, %u index files)", p->addr, p->key_text,
                 p->ncrates, p->nindex);
    set_state(p, PEER_LIVE);
    p->fails = 0;
    p->mismatches = 0;
    p->polling = false;
    p->last_seen = agent_now();
    ready_check(a);
    agent_sources_changed(a); /* new holdings: fetches waiting for them look again */
    if (repoll_pending(p))
        return;
    agent_peer_live(p);
    schedule(p, POLL_LIVE_MS);
}

/* The manifest (or the delta since what we hold); manifest_done ends the poll. */
static void manifest_fetch(struct agent_peer *p)
{
    char url[PROTO_URL_MAX];
    struct proto_route route = {.kind = PROTO_ROUTE_PEER_MANIFEST, .since = p->seq};
    proto_route_peer_url(p->addr, &route, url, sizeof url);
    struct agent_http_request req = {
        .url = url,
        .max_body = MANIFEST_WIRE_MAX,
        .connect_timeout_ms = 2000,
        .timeout_ms = 30000,
    };
    struct agent_mesh_ticket mt;
    agent_mesh_ticket(p->a, url, &mt);
    agent_mesh_apply(&mt, &req);
    if (agent_http_get(agent_http(p->a), &req, manifest_done, p) < 0)
        poll_failed(p, "out of memory", false);
}

static void hello_done(void *ud, struct agent_http_response *res)
{
    struct agent_peer *p = ud;
    struct agent *a = p->a;
    if (poll_abandoned(p))
        return;
    if (res->error || res->status != 200) {
        char why[300], f[256];
        snprintf(why, sizeof why, "hello: %s", agent_http_failure(res, f, sizeof f));
        poll_failed(p, why, false);
        return;
    }
    struct proto_hello h;
    int rc = proto_hello_decode(res->body, res->len, &h);
    if (rc < 0 || memcmp(h.nonce, p->nonce, PROTO_NONCE_LEN) != 0) {
        agent_counters(a)->rejected_peer_signature++;
        agent_counters(a)->rejected++;
        p->n.fail_signature++;
        poll_failed(p, rc < 0 ? "hello does not verify" : "hello does not answer our nonce", true);
        return;
    }
    if (memcmp(h.pk, agent_id(a)->pk, PROTO_PK_LEN) == 0) { /* ourselves, under another address */
        if (agent_peers(a)->nself_addrs < AGENT_SELF_ADDRS_MAX)
            snprintf(agent_peers(a)->self_addrs[agent_peers(a)->nself_addrs++],
                     sizeof agent_peers(a)->self_addrs[0], "%s", p->addr);
        log_debug("peer %s is this agent: ignored from now on", p->addr);
        p->polling = false;
        peer_remove(p);
        return;
    }
    char id[PROTO_KEYID_HEX_LEN + 1];
    proto_key_id(h.pk, id);
    if (p->have_key && memcmp(p->pk, h.pk, PROTO_PK_LEN) != 0) {
        /* another machine at this address: forget what the old one held */
        peer_free_data(p);
        p->seq = 0;
    }
    memcpy(p->pk, h.pk, PROTO_PK_LEN);
    p->have_key = true;
    proto_key_encode(h.pk, p->key_text);
    if ((p->expect_id[0] && strcmp(p->expect_id, id) != 0) || !key_trusted(a, h.pk)) {
        if (p->state != PEER_REJECTED)
            log_warn("peer %s: key %s %s: not used", p->addr, p->key_text,
                     p->expect_id[0] && strcmp(p->expect_id, id) != 0
                         ? "does not match its mDNS key id"
                         : "is not trusted (--trust keys)");
        set_state(p, PEER_REJECTED);
        p->polling = false;
        p->repoll = false;
        peer_free_data(p);
        p->seq = 0;
        ready_check(a);
        schedule(p, POLL_REJECTED_MS);
        return;
    }
    p->last_seen = agent_now();
    p->caps = h.caps;
    p->mdns_gone = false;                 /* it answers: a goodbye was stale */
    if (h.seq == p->seq && p->seq != 0) { /* nothing new */
        set_state(p, PEER_LIVE);
        p->fails = 0;
        p->polling = false;
        ready_check(a);
        if (repoll_pending(p))
            return;
        agent_peer_live(p);
        schedule(p, POLL_LIVE_MS);
        return;
    }
    manifest_fetch(p);
}

static void poll_start(struct agent_peer *p)
{
    struct agent *a = p->a;
    if (p->polling || p->removed || agent_stopping(a))
        return;
    uv_timer_stop(&p->timer);
    randombytes_buf(p->nonce, sizeof p->nonce);
    char url[PROTO_URL_MAX];
    struct proto_route route = {.kind = PROTO_ROUTE_PEER_HELLO, .port = agent_peers(a)->peer_port};
    memcpy(route.nonce, p->nonce, sizeof route.nonce);
    if (proto_route_peer_url(p->addr, &route, url, sizeof url) < 0) {
        peer_remove(p);
        return;
    }
    struct agent_http_request req = {
        .url = url,
        .max_body = HELLO_MAX,
        .connect_timeout_ms = 2000,
        .timeout_ms = 5000,
    };
    struct agent_mesh_ticket mt;
    agent_mesh_ticket(a, url, &mt);
    agent_mesh_apply(&mt, &req);
    if (agent_http_get(agent_http(a), &req, hello_done, p) == 0)
        p->polling = true;
    else
        schedule(p, 1000);
}

void agent_peer_poll_now(struct agent_peer *p)
{
    if (p->removed || agent_stopping(p->a))
        return;
    if (p->polling)
        p->repoll = true;
    else
        poll_start(p);
}

void agent_peer_manifest_now(struct agent_peer *p)
{
    if (p->removed || agent_stopping(p->a))
        return;
    if (p->polling) {
        p->repoll = true;
    } else if (p->state != PEER_LIVE || p->seq == 0) {
        poll_start(p);
    } else {
        /* its signed news just proved it live: the hello can be skipped */
        uv_timer_stop(&p->timer);
        p->polling = true;
        manifest_fetch(p);
    }
}

/* ---- mDNS ---------------------------------------------------------------- */

static void mdns_found(void *ud, const char *host, uint16_t port, const struct proto_txt *txt)
{
    struct agent *a = ud;
    char addr[PROTO_PEER_ADDR_TEXT_MAX];
    if (proto_peer_addr_join(host, port, addr) < 0)
        return;
    if (strcmp(txt->id, agent_id(a)->key_id) == 0)
        return; /* our own announcement */
    const char *net = agent_mesh_id(a);
    if (strcmp(txt->net, net ? net : "") != 0)
        return; /* another mesh, or a mesh and we are open (or the other way round) */
    struct agent_peer *p = agent_peers_add(a, addr, PEER_VIA_MDNS);
    if (p == NULL)
        return;
    p->mdns_gone = false;
    bool changed = strcmp(p->expect_id, txt->id) != 0 || p->txt_seq != txt->seq;
    snprintf(p->expect_id, sizeof p->expect_id, "%s", txt->id);
    p->txt_seq = txt->seq;
    if (changed && !p->polling)
        poll_start(p);
}

static void mdns_lost(void *ud, const char *host, uint16_t port)
{
    struct agent *a = ud;
    char addr[PROTO_PEER_ADDR_TEXT_MAX];
    if (proto_peer_addr_join(host, port, addr) < 0)
        return;
    for (struct agent_peer *p = agent_peers(a)->list; p; p = p->next) {
        if (strcmp(p->addr, addr) == 0 && p->via == PEER_VIA_MDNS) {
            /* Goodbyes can be stale (a restart, a flapping link): keep it, and
             * its transfers, until a poll says it is really gone. */
            log_info("peer %s: mDNS goodbye; checking whether it is still there", addr);
            p->mdns_gone = true;
            agent_peer_poll_now(p);
            return;
        }
    }
}

void agent_peers_announce(struct agent *a, uint64_t seq)
{
    agent_peers(a)->seq = seq;
    if (agent_peers(a)->discovery == NULL)
        return;
    struct proto_txt t;
    memset(&t, 0, sizeof t);
    t.version = PROTO_PEER_VERSION;
    snprintf(t.id, sizeof t.id, "%s", agent_id(a)->key_id);
    snprintf(t.net, sizeof t.net, "%s", agent_mesh_id(a) ? agent_mesh_id(a) : "");
    t.seq = seq;
    agent_discovery_update(agent_peers(a)->discovery, &t);
}

/* ---- readiness ----------------------------------------------------------- */

static void release_ready(struct agent *a)
{
    agent_peers(a)->peers_ready = true;
    uv_timer_stop(&agent_peers(a)->peers_ready_timer);
    agent_waiters_release(a, &agent_peers(a)->peer_waiters, 0, NULL);
}

static void ready_check(struct agent *a)
{
    if (agent_peers(a)->peers_ready)
        return;
    for (struct agent_peer *p = agent_peers(a)->list; p; p = p->next)
        if (p->via == PEER_VIA_STATIC && p->state == PEER_CONNECTING)
            return;
    release_ready(a);
}

static void on_ready_timeout(uv_timer_t *t)
{
    release_ready(t->data);
}

void agent_peers_when_ready(struct agent *a, agent_done_cb cb, void *ud)
{
    if (agent_peers(a)->peers_ready)
        cb(a, ud, 0, NULL);
    else
        agent_waiters_park(a, &agent_peers(a)->peer_waiters, cb, ud);
}

/* ---- choosing holders ---------------------------------------------------- */

static bool usable(const struct agent_peer *p)
{
    return p->state == PEER_LIVE && !p->removed;
}

static const struct proto_manifest_crate *find_crate(const struct agent_peer *p,
                                                     const uint8_t sha[PROTO_SHA256_LEN])
{
    struct proto_manifest_crate key;
    memcpy(key.sha256, sha, PROTO_SHA256_LEN);
    return p->ncrates ? bsearch(&key, p->crates, p->ncrates, sizeof key, cmp_crate) : NULL;
}

struct peer_index_item *agent_peer_index_item(struct agent_peer *p, const char *name)
{
    struct peer_index_item key;
    memset(&key, 0, sizeof key);
    size_t n = strlen(name);
    if (n > PROTO_NAME_MAX)
        return NULL;
    proto_name_lower(name, key.name, sizeof key.name);
    return p->nindex ? bsearch(&key, p->index, p->nindex, sizeof key, cmp_index) : NULL;
}

struct peer_cand agent_peer_cand(struct agent_peer *p)
{
    struct peer_cand c;
    memset(&c, 0, sizeof c);
    c.ref = p;
    c.key = p->pk;
    c.penalty = p->penalty;
    c.inflight = p->inflight;
    c.remote_load = (unsigned)p->remote_uploads + p->remote_waiting;
    c.ncrates = p->ncrates;
    c.ms_per_mb = p->ms_per_mb;
    return c;
}

/* xorshift64*, seeded once from the system's generator: the noise only
 * spreads equals (no secret rests on it), and randombytes_uniform is a
 * getrandom system call each time (thousands per fetch in a busy room). */
uint32_t agent_peers_noise(uint32_t bound)
{
    static uint64_t state;
    while (state == 0)
        randombytes_buf(&state, sizeof state);
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    uint64_t r = state * UINT64_C(2685821657736338717);
    return bound ? (uint32_t)((r >> 32) % bound) : 0;
}

size_t agent_peers_order(struct agent_peer **v, size_t n)
{
    struct peer_cand c[PEER_SELECT_MAX];
    if (n > PEER_SELECT_MAX)
        n = PEER_SELECT_MAX;
    for (size_t i = 0; i < n; i++) {
        c[i] = agent_peer_cand(v[i]);
        c[i].noise = agent_peers_noise(100);
    }
    n = peer_select_order(c, n);
    for (size_t i = 0; i < n; i++)
        v[i] = c[i].ref;
    return n;
}

size_t agent_peers_holding_crate(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN],
                                 struct agent_peer **out, size_t max)
{
    size_t n = 0;
    for (struct agent_peer *p = agent_peers(a)->list; p && n < max; p = p->next)
        if (usable(p) && find_crate(p, sha))
            out[n++] = p;
    return agent_peers_order(out, n);
}

uint64_t agent_peer_crate_size(const struct agent_peer *p, const uint8_t sha[PROTO_SHA256_LEN])
{
    const struct proto_manifest_crate *c = find_crate(p, sha);
    return c ? c->size : 0;
}

bool agent_peers_have_crate(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN])
{
    for (struct agent_peer *p = agent_peers(a)->list; p; p = p->next)
        if (usable(p) && find_crate(p, sha))
            return true;
    return false;
}

size_t agent_peers_index_news(struct agent *a, const char *name, struct agent_peer **out,
                              size_t max)
{
    size_t n = 0;
    for (struct agent_peer *p = agent_peers(a)->list; p && n < max; p = p->next) {
        if (!usable(p))
            continue;
        struct peer_index_item *it = agent_peer_index_item(p, name);
        if (it && memcmp(it->hash, it->merged, PROTO_SHA256_LEN) != 0)
            out[n++] = p;
    }
    return agent_peers_order(out, n);
}

/* The index file of name with these bytes was merged: no peer listing the
 * same bytes is asked for it again. */
static void index_merged(struct agent *a, const char *name, const uint8_t hash[PROTO_SHA256_LEN])
{
    for (struct agent_peer *p = agent_peers(a)->list; p; p = p->next) {
        struct peer_index_item *it = agent_peer_index_item(p, name);
        if (it && memcmp(it->hash, hash, PROTO_SHA256_LEN) == 0)
            memcpy(it->merged, hash, PROTO_SHA256_LEN);
    }
}

/* A transfer from p went well: its cost feeds the ordering. */
static void transfer_ok(struct agent_peer *p, size_t bytes, double ms)
{
    double mb = (double)bytes / (1024.0 * 1024.0);
    double cost = ms / (mb < 0.01 ? 0.01 : mb);
    p->ms_per_mb = p->ms_per_mb == 0 ? cost : 0.7 * p->ms_per_mb + 0.3 * cost;
    p->last_seen = agent_now();
}

void agent_peer_transfer_failed(struct agent_peer *p, const char *why, bool bad_data)
{
    log_warn("peer %s: %s", p->addr, why);
    if (bad_data) {
        p->penalty++;
        return;
    }
    /* a transport failure: stop using it until a poll succeeds again */
    if (p->state == PEER_LIVE && !p->removed) {
        set_state(p, PEER_FAILING);
        p->fails++;
        agent_peer_poll_now(p);
    }
}

struct agent_peer *agent_peer_by_ip(struct agent *a, const struct sockaddr *sa)
{
    struct proto_peer_addr want;
    if (proto_peer_addr_from_sockaddr(sa, &want) < 0)
        return NULL;
    struct agent_peer *best = NULL;
    for (struct agent_peer *p = agent_peers(a)->list; p; p = p->next) {
        struct proto_peer_addr pa;
        if (p->removed || proto_peer_addr_parse(p->addr, strlen(p->addr), &pa) < 0)
            continue;
        want.port = pa.port;
        if (proto_peer_addr_eq(&pa, &want) && (best == NULL || p->state == PEER_LIVE))
            best = p;
    }
    return best;
}

void agent_peer_got_index(struct agent *a, struct agent_peer *p, const char *name,
                          const uint8_t hash[PROTO_SHA256_LEN], size_t wire_bytes, double ms)
{
    p->n.index_from++;
    index_merged(a, name, hash);
    struct peer_index_item *it = agent_peer_index_item(p, name);
    if (it)
        memcpy(it->merged, it->hash, PROTO_SHA256_LEN);
    transfer_ok(p, wire_bytes, ms);
}

void agent_peer_got_crate(struct agent_peer *p, size_t bytes, double ms)
{
    p->n.crates_from++;
    p->n.bytes_from += bytes;
    transfer_ok(p, bytes, ms);
}

void agent_peer_sent_crate(struct agent_peer *p, uint64_t bytes)
{
    p->n.crates_to++;
    p->n.bytes_to += bytes;
}

void agent_peer_count_fail(struct agent_peer *p, enum peer_fail why)
{
    switch (why) {
    case PEER_FAIL_TRANSPORT:
        p->n.fail_transport++;
        break;
    case PEER_FAIL_TIMEOUT:
        p->n.fail_timeout++;
        break;
    case PEER_FAIL_BUSY:
        p->n.fail_busy++;
        break;
    case PEER_FAIL_CHECKSUM:
        p->n.fail_checksum++;
        break;
    case PEER_FAIL_SIGNATURE:
        p->n.fail_signature++;
        break;
    case PEER_FAIL_NOT_HELD:
        p->n.fail_not_held++;
        break;
    }
}

void agent_peer_busy(struct agent_peer *p, uint64_t until_ms)
{
    p->busy_until_ms = until_ms;
}

/* ---- init ---------------------------------------------------------------- */

int agent_peers_init(struct agent *a, uint16_t peer_port, uint64_t seq)
{
    agent_peers(a)->seq = seq;
    agent_peers(a)->peer_port = peer_port;
    uv_timer_init(agent_loop(a), &agent_peers(a)->peers_ready_timer);
    agent_peers(a)->peers_ready_timer.data = a;
    for (size_t i = 0; i < agent_opt(a)->ntrust_keys; i++) {
        uint8_t(*nt)[PROTO_PK_LEN] =
            cc_realloc(agent_peers(a)->trusted, (agent_peers(a)->ntrusted + 1) * sizeof *nt);
        if (nt == NULL)
            return -ENOMEM;
        agent_peers(a)->trusted = nt;
        const char *k = agent_opt(a)->trust_keys[i];
        if (proto_key_decode(k, strlen(k), agent_peers(a)->trusted[agent_peers(a)->ntrusted]) < 0)
            return -EINVAL; /* cli/agent.c validated it already */
        agent_peers(a)->ntrusted++;
    }
    for (size_t i = 0; i < agent_opt(a)->npeers; i++)
        agent_peers_add(a, agent_opt(a)->peers[i], PEER_VIA_STATIC);
    agent_peers(a)->peers_ready = agent_peers(a)->npeers == 0;
    if (!agent_peers(a)->peers_ready) {
        uv_update_time(agent_loop(a));
        uv_timer_start(&agent_peers(a)->peers_ready_timer, on_ready_timeout, PEERS_READY_MS, 0);
    }
    if (agent_opt(a)->mdns) {
        struct agent_discovery_config cfg;
        memset(&cfg, 0, sizeof cfg);
        char instance[64];
        snprintf(instance, sizeof instance, "cratecast-%s", agent_id(a)->key_id);
        cfg.instance = instance;
        cfg.port = agent_peers(a)->peer_port;
        cfg.txt.version = PROTO_PEER_VERSION;
        snprintf(cfg.txt.id, sizeof cfg.txt.id, "%s", agent_id(a)->key_id);
        cfg.txt.seq = agent_peers(a)->seq;
        snprintf(cfg.txt.net, sizeof cfg.txt.net, "%s", agent_mesh_id(a) ? agent_mesh_id(a) : "");
        cfg.found = mdns_found;
        cfg.lost = mdns_lost;
        cfg.ud = a;
        const char *fb = getenv("CRATECAST_MDNS_BACKEND");
        if (fb && strcmp(fb, "avahi-daemon") == 0)
            cfg.force_backend = 1;
        else if (fb && strcmp(fb, "avahi-core") == 0)
            cfg.force_backend = 2;
        int rc = agent_discovery_start(agent_loop(a), &cfg, &agent_peers(a)->discovery);
        if (rc < 0)
            log_warn("mDNS discovery unavailable (%s): use --peer HOST:PORT", strerror(-rc));
        else
            log_info("mDNS: announcing and browsing _cratecast._tcp via %s",
                     agent_discovery_backend(agent_peers(a)->discovery));
    }
    return 0;
}

void agent_peers_close(struct agent *a)
{
    agent_discovery_stop(agent_peers(a)->discovery);
    agent_peers(a)->discovery = NULL;
    while (agent_peers(a)->list) {
        struct agent_peer *p = agent_peers(a)->list;
        p->polling = false; /* the HTTP client was closed: no callback will come */
        p->refs = 0;
        peer_remove(p);
    }
    if (agent_peers(a)->peers_ready_timer.loop) /* agent_peers_init ran */
        uv_timer_stop(&agent_peers(a)->peers_ready_timer);
    agent_waiters_drop(&agent_peers(a)->peer_waiters);
    free(agent_peers(a)->trusted);
    agent_peers(a)->trusted = NULL;
}
