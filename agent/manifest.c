/* agent/manifest.c — this agent's signed manifest.
 *
 * The manifest says what the store holds: every blob (sha256, size), every
 * crate name with index entries (with the SHA-256 of the index-file body a
 * peer would receive from /peer/1/index/<name>, and when it last changed), and
 * the peers this agent knows (peer exchange). It carries the store's sequence
 * number (store_seq), so a peer that holds sequence S asks only for the delta
 * since S.
 *
 * Encodings are cached: the full manifest per sequence, and the most recent
 * delta. The tick timer (every second) notices a new sequence — crates fetched
 * by this agent or imported — drops the cache and re-announces the TXT record
 * so peers on the link resync at once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core.h"
#include "agent/holdings.h"
#include "agent/log.h"
#include "agent/manifest.h"
#include "agent/news.h"
#include "agent/peers.h"
#include "proto/alloc.h"
#include "proto/peer.h"
#include "store/store.h"

struct agent_manifest {
    uint64_t announced; /* the store sequence peers were last told of */
    uint8_t *full;      /* cached encodings */
    size_t full_len;
    uint64_t full_seq;
    int64_t full_at;
    uint8_t *delta;
    size_t delta_len;
    uint64_t delta_seq, delta_since;
    int64_t delta_at;
};

struct agent_manifest *agent_manifest_new(void)
{
    return cc_calloc(1, sizeof(struct agent_manifest));
}

#define MANIFEST_PEX_REFRESH_S 5

static int build(struct agent *a, uint64_t since, uint64_t seq, uint8_t **out, size_t *outlen)
{
    struct proto_manifest m;
    memset(&m, 0, sizeof m);
    memcpy(m.pk, agent_id(a)->pk, PROTO_PK_LEN);
    m.seq = seq;
    m.since = since;
    m.time = (uint64_t)agent_now();
    int rc = agent_holdings_since(a, since, SIZE_MAX, &m);
    if (rc < 0)
        return rc;
    m.pex = cc_calloc(PROTO_PEX_MAX, sizeof *m.pex);
    if (m.pex == NULL) {
        proto_manifest_clear(&m);
        return -ENOMEM;
    }
    for (struct agent_peer *p = agent_peers_first(a); p && m.npex < PROTO_PEX_MAX; p = p->next)
        if (p->state == PEER_LIVE && !p->removed)
            snprintf(m.pex[m.npex++], PROTO_PEER_ADDR_MAX + 1, "%s", p->addr);
    rc = proto_manifest_encode(&m, agent_id(a)->sk, true, out, outlen);
    proto_manifest_clear(&m);
    return rc;
}

int agent_manifest_get(struct agent *a, uint64_t since, const uint8_t **buf, size_t *len)
{
    uint64_t seq = store_seq(agent_store(a));
    int64_t now = agent_now();
    if (since > seq)
        since = 0; /* a sequence we never had (another store, a reset): the full manifest */
    if (since != 0 && since < store_removed_seq(agent_store(a)))
        since = 0; /* crates were evicted since: a delta cannot say so, the full one does */
    /* The pex list does not move the sequence: a cached encoding is rebuilt
     * after MANIFEST_PEX_REFRESH_S so newly learnt peers still spread (deltas
     * carry the pex list too). */
    if (since == 0) {
        if (agent_manifest(a)->full == NULL || agent_manifest(a)->full_seq != seq ||
            now - agent_manifest(a)->full_at >= MANIFEST_PEX_REFRESH_S) {
            free(agent_manifest(a)->full);
            agent_manifest(a)->full = NULL;
            int rc = build(a, 0, seq, &agent_manifest(a)->full, &agent_manifest(a)->full_len);
            if (rc < 0)
                return rc;
            agent_manifest(a)->full_seq = seq;
            agent_manifest(a)->full_at = now;
        }
        *buf = agent_manifest(a)->full;
        *len = agent_manifest(a)->full_len;
        return 0;
    }
    if (agent_manifest(a)->delta == NULL || agent_manifest(a)->delta_seq != seq ||
        agent_manifest(a)->delta_since != since ||
        now - agent_manifest(a)->delta_at >= MANIFEST_PEX_REFRESH_S) {
        free(agent_manifest(a)->delta);
        agent_manifest(a)->delta = NULL;
        int rc = build(a, since, seq, &agent_manifest(a)->delta, &agent_manifest(a)->delta_len);
        if (rc < 0)
            return rc;
        agent_manifest(a)->delta_seq = seq;
        agent_manifest(a)->delta_since = since;
        agent_manifest(a)->delta_at = now;
    }
    *buf = agent_manifest(a)->delta;
    *len = agent_manifest(a)->delta_len;
    return 0;
}

void agent_manifest_tick(struct agent *a)
{
    uint64_t seq = store_seq(agent_store(a));
    if (seq == agent_manifest(a)->announced)
        return;
    agent_manifest(a)->announced = seq;
    log_debug("store sequence %llu: re-announcing", (unsigned long long)seq);
    agent_peers_announce(a, seq);
    /* peers polling our news hear of it now, also of a change another process
     * made (`cratecast bundle import` beside the agent), not at their next
     * manifest poll */
    agent_news_store_moved(a, seq);
}

void agent_manifest_init(struct agent *a)
{
    memset(agent_manifest(a), 0, sizeof *agent_manifest(a));
    agent_manifest(a)->announced = store_seq(agent_store(a));
}

void agent_manifest_close(struct agent *a)
{
    free(agent_manifest(a)->full);
    free(agent_manifest(a)->delta);
    agent_manifest(a)->full = agent_manifest(a)->delta = NULL;
}

uint64_t agent_manifest_seq(const struct agent *a)
{
    return agent_manifest(a)->announced;
}
