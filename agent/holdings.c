/* agent/holdings.c — what the store holds, in the terms of the peer protocol:
 * crates as (sha256, size) and index files as (name, digest of the body a peer
 * would receive, when it last changed). The manifest (manifest.c) lists all of
 * it or a delta; news (news.c) carries the latest gains.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core.h"
#include "agent/holdings.h"
#include "agent/listing.h"
#include "proto/alloc.h"
#include "proto/peer.h"
#include "store/store.h"

/* SHA-256 of the index body served to peers for a name: all lines, '\n'-ended. */
static int index_digest(struct agent *a, const char *name, uint8_t out[PROTO_SHA256_LEN],
                        uint64_t *updated)
{
    struct store_index_list l;
    int rc = store_index_list(agent_store(a), name, &l);
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

int agent_holdings_since(struct agent *a, uint64_t since, size_t max, struct proto_manifest *m)
{
    struct store_blob_item *blobs = NULL;
    size_t nblobs = 0, nnames = 0;
    char **names = NULL;
    int rc = store_blobs_since(agent_store(a), since, &blobs, &nblobs);
    if (rc < 0)
        goto out;
    rc = store_index_names_since(agent_store(a), since, &names, &nnames);
    if (rc < 0)
        goto out;
    if (nblobs > max || nnames > max) {
        rc = -E2BIG;
        goto out;
    }
    if (nblobs > PROTO_MANIFEST_CRATES_MAX)
        nblobs = PROTO_MANIFEST_CRATES_MAX;
    if (nnames > PROTO_MANIFEST_INDEX_MAX)
        nnames = PROTO_MANIFEST_INDEX_MAX;
    m->crates = cc_calloc(nblobs + 1, sizeof *m->crates);
    m->index = cc_calloc(nnames + 1, sizeof *m->index);
    if (m->crates == NULL || m->index == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nblobs; i++) {
        memcpy(m->crates[i].sha256, blobs[i].sha256, PROTO_SHA256_LEN);
        m->crates[i].size = blobs[i].size;
    }
    m->ncrates = (uint32_t)nblobs;
    for (size_t i = 0; i < nnames; i++) {
        struct proto_manifest_index *it = &m->index[m->nindex];
        if (strlen(names[i]) > PROTO_NAME_MAX)
            continue;
        snprintf(it->name, sizeof it->name, "%s", names[i]);
        if (index_digest(a, names[i], it->hash, &it->updated) == 0)
            m->nindex++;
    }
out:
    free(blobs);
    store_names_free(names, nnames);
    if (rc < 0) {
        free(m->crates);
        free(m->index);
        m->crates = NULL;
        m->index = NULL;
        m->ncrates = m->nindex = 0;
    }
    return rc;
}
