/* agent/why.c — GET /-/why/<crate> (shown by `cratecast why CRATE`, cli/why.c):
 * every version of a crate the agent knows, and where each can come from now.
 *
 * Document (a contract, docs/operations.md):
 *   {crate, online, upstream (url or null), upstream_state, listing ("all" online or with
 *    --offline-index all, else "offline"), versions: [{version, cksum, yanked, here,
 *    peers: [{id, addr}], upstream, listed, source, origin, peer_only}], misses: [...]}
 * origin is who first described the version (upstream, cargo-home, peer,
 * bundle); peer_only: it rests on a peer's word alone (the upstream never
 * confirmed it: online it would have been dropped if it did not list it).
 * source is the first of: "here" (in this store), "peer" (a live peer's signed
 * manifest lists it), "upstream" (online: the upstream can send it), "nowhere".
 * listed says whether Cargo is shown the version now (listing.h offline).
 * Versions come in the order they were published (the index file's order).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core.h"
#include "agent/listing.h"
#include "agent/misses.h"
#include "agent/peers.h"
#include "agent/status.h"
#include "agent/upstream.h"
#include "proto/alloc.h"
#include "store/store.h"

#define WHY_PEERS_MAX 16

static json_t *holders_json(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN])
{
    struct agent_peer *cand[WHY_PEERS_MAX];
    size_t n = agent_peers_holding_crate(a, sha, cand, WHY_PEERS_MAX);
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr; i++)
        json_array_append_new(
            arr, json_pack("{s:s,s:s}", "id", cand[i]->key_text, "addr", cand[i]->addr));
    return arr;
}

char *agent_why_json(struct agent *a, const char *name, size_t *len)
{
    struct store_index_list l;
    if (store_index_list(agent_store(a), name, &l) < 0)
        return NULL;
    bool online = agent_upstream_online(a);
    bool filter = !online && !agent_opt(a)->offline_index_all;
    struct agent_listing_version *v = cc_calloc(l.n + 1, sizeof *v);
    json_t *versions = json_array();
    json_t *doc = NULL;
    if (v == NULL || versions == NULL)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        v[i].vers = l.rows[i].vers;
        v[i].yanked = l.rows[i].yanked;
        v[i].available = l.rows[i].have_blob || agent_peers_have_crate(a, l.rows[i].cksum);
    }
    if (filter)
        agent_listing_offline(v, l.n);
    for (size_t i = 0; i < l.n; i++) {
        const struct store_index_row *r = &l.rows[i];
        char hex[PROTO_SHA256_HEX_LEN + 1];
        proto_hex_encode(r->cksum, PROTO_SHA256_LEN, hex);
        json_t *peers = holders_json(a, r->cksum);
        bool up = online && agent_upstream_dl(a) != NULL;
        const char *source = r->have_blob                 ? "here"
                             : json_array_size(peers) > 0 ? "peer"
                             : up                         ? "upstream"
                                                          : "nowhere";
        const char *origin = store_origin_name(r->origin);
        json_t *o = json_pack(
            "{s:s,s:s,s:b,s:b,s:o,s:b,s:b,s:s,s:s,s:b}", "version", r->vers, "cksum", hex, "yanked",
            r->yanked, "here", r->have_blob, "peers", peers ? peers : json_array(), "upstream", up,
            "listed", filter ? v[i].listed : true, "source", source, "origin",
            origin ? origin : "unknown", "peer_only", store_origin_signed(r->origin));
        if (o == NULL || json_array_append_new(versions, o) < 0)
            goto out;
    }
    doc = json_pack("{s:s,s:b,s:s?,s:s,s:s,s:O,s:o}", "crate", name, "online", online, "upstream",
                    agent_upstream_base(a), "upstream_state", agent_upstream_state_name(a),
                    "listing", filter ? "offline" : "all", "versions", versions, "misses",
                    agent_misses_json(agent_misses(a), name));
out:
    json_decref(versions);
    free(v);
    store_index_list_free(&l);
    return agent_json_take(doc, len);
}
