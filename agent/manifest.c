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
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "agent/log.h"
#include "proto/alloc.h"

#define MANIFEST_PEX_REFRESH_S 5

/* SHA-256 of the index body served to peers for a name: all lines, '\n'-ended. */
static int index_digest(struct agent *a, const char *name, uint8_t out[PROTO_SHA256_LEN],
                        uint64_t *updated)
{
    struct store_index_list l;
    int rc = store_index_list(a->store, name, &l);
    if (rc < 0)
        return rc;
    size_t len;
    char *body = agent_index_body(&l, NULL, &len);
    if (body == NULL) {
        rc = l.n ? -ENOMEM : -ENOENT;
    } else {
        proto_sha256(body, len, out);
        free(body);
        *updated = l.updated > 0 ? (uint64_t)l.updated : 0;
        rc = 0;
    }
    store_index_list_free(&l);
    return rc;
}

static int build(struct agent *a, uint64_t since, uint64_t seq, uint8_t **out, size_t *outlen)
{
    struct proto_manifest m;
    memset(&m, 0, sizeof m);
    memcpy(m.pk, a->pk, PROTO_PK_LEN);
    m.seq = seq;
    m.since = since;
    m.time = (uint64_t)agent_now();
    struct store_blob_item *blobs = NULL;
    size_t nblobs = 0, nnames = 0;
    char **names = NULL;
    int rc = store_blobs_since(a->store, since, &blobs, &nblobs);
    if (rc < 0)
        goto out;
    rc = store_index_names_since(a->store, since, &names, &nnames);
    if (rc < 0)
        goto out;
    if (nblobs > PROTO_MANIFEST_CRATES_MAX)
        nblobs = PROTO_MANIFEST_CRATES_MAX;
    if (nnames > PROTO_MANIFEST_INDEX_MAX)
        nnames = PROTO_MANIFEST_INDEX_MAX;
    m.crates = cc_calloc(nblobs + 1, sizeof *m.crates);
    m.index = cc_calloc(nnames + 1, sizeof *m.index);
    m.pex = cc_calloc(PROTO_PEX_MAX, sizeof *m.pex);
    if (m.crates == NULL || m.index == NULL || m.pex == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nblobs; i++) {
        memcpy(m.crates[i].sha256, blobs[i].sha256, PROTO_SHA256_LEN);
        m.crates[i].size = blobs[i].size;
    }
    m.ncrates = (uint32_t)nblobs;
    for (size_t i = 0; i < nnames; i++) {
        struct proto_manifest_index *it = &m.index[m.nindex];
        if (strlen(names[i]) > PROTO_NAME_MAX)
            continue;
        snprintf(it->name, sizeof it->name, "%s", names[i]);
        if (index_digest(a, names[i], it->hash, &it->updated) == 0)
            m.nindex++;
    }
    for (struct agent_peer *p = a->peers; p && m.npex < PROTO_PEX_MAX; p = p->next)
        if (p->state == PEER_LIVE && !p->removed)
            snprintf(m.pex[m.npex++], PROTO_PEER_ADDR_MAX + 1, "%s", p->addr);
    rc = proto_manifest_encode(&m, a->sk, true, out, outlen);
out:
    free(blobs);
    store_names_free(names, nnames);
    free(m.crates);
    free(m.index);
    free(m.pex);
    return rc;
}

int agent_manifest_get(struct agent *a, uint64_t since, const uint8_t **buf, size_t *len)
{
    uint64_t seq = store_seq(a->store);
    int64_t now = agent_now();
    if (since > seq)
        since = 0; /* a sequence we never had (another store, a reset): the full manifest */
    /* The pex list does not move the sequence: a cached encoding is rebuilt
     * after MANIFEST_PEX_REFRESH_S so newly learnt peers still spread (deltas
     * carry the pex list too). */
    if (since == 0) {
        if (a->mf.full == NULL || a->mf.full_seq != seq ||
            now - a->mf.full_at >= MANIFEST_PEX_REFRESH_S) {
            free(a->mf.full);
            a->mf.full = NULL;
            int rc = build(a, 0, seq, &a->mf.full, &a->mf.full_len);
            if (rc < 0)
                return rc;
            a->mf.full_seq = seq;
            a->mf.full_at = now;
        }
        *buf = a->mf.full;
        *len = a->mf.full_len;
        return 0;
    }
    if (a->mf.delta == NULL || a->mf.delta_seq != seq || a->mf.delta_since != since ||
        now - a->mf.delta_at >= MANIFEST_PEX_REFRESH_S) {
        free(a->mf.delta);
        a->mf.delta = NULL;
        int rc = build(a, since, seq, &a->mf.delta, &a->mf.delta_len);
        if (rc < 0)
            return rc;
        a->mf.delta_seq = seq;
        a->mf.delta_since = since;
        a->mf.delta_at = now;
    }
    *buf = a->mf.delta;
    *len = a->mf.delta_len;
    return 0;
}

void agent_manifest_tick(struct agent *a)
{
    uint64_t seq = store_seq(a->store);
    if (seq == a->mf.announced)
        return;
    a->mf.announced = seq;
    log_debug("store sequence %llu: re-announcing", (unsigned long long)seq);
    agent_peers_announce(a);
}

void agent_manifest_init(struct agent *a)
{
    memset(&a->mf, 0, sizeof a->mf);
    a->mf.announced = store_seq(a->store);
}

void agent_manifest_close(struct agent *a)
{
    free(a->mf.full);
    free(a->mf.delta);
    a->mf.full = a->mf.delta = NULL;
}

uint64_t agent_manifest_seq(const struct agent *a)
{
    return a->mf.announced;
}
