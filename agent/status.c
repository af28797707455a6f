/* agent/status.c — the status document served at /-/status and printed by
 * `cratecast status`. Field names are a contract (docs/operations.md):
 *   online, upstream {url, state, since, last_error}, store {dir, crates, bytes,
 *   index_entries, index_crates}, peers [], counters {served, from_store,
 *   from_upstream, from_peers, rejected, ...}, rejected {checksum, conflict,
 *   request}, transfers {in_flight}, import {...}, uptime_s.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core.h"
#include "agent/discovery.h"
#include "agent/fetch.h"
#include "agent/import.h"
#include "agent/import_job.h"
#include "agent/manifest.h"
#include "agent/mesh.h"
#include "agent/misses.h"
#include "agent/peers.h"
#include "agent/relay.h"
#include "agent/status.h"
#include "agent/uploads.h"
#include "agent/upstream.h"
#include "proto/peer.h"
#include "store/store.h"

static json_t *counters_base_json(const struct agent_counters *c);

static json_t *peer_json(const struct agent_peer *p)
{
    const struct peer_counters *n = &p->n;
    json_t *o = json_pack("{s:s?,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "id",
                          p->have_key ? p->key_text : NULL, "addr", p->addr, "via",
                          agent_peer_via_name(p->via), "state", agent_peer_state_name(p->state),
                          "crates", (json_int_t)p->ncrates, "index_crates", (json_int_t)p->nindex,
                          "seq", (json_int_t)p->seq, "last_seen", (json_int_t)p->last_seen, "fails",
                          (json_int_t)p->fails, "penalty", (json_int_t)p->penalty, "ms_per_mb",
                          p->ms_per_mb);
    json_t *more = json_pack(
        "{s:{s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I},s:I,s:{s:i,s:i,s:i},"
        "s:b}",
        "received", "crates", (json_int_t)n->crates_from, "bytes", (json_int_t)n->bytes_from,
        "index_files", (json_int_t)n->index_from, "manifests", (json_int_t)n->manifests,
        "news_gains", (json_int_t)n->news_gains, "sent", "crates", (json_int_t)n->crates_to,
        "bytes", (json_int_t)n->bytes_to, "failures", "transport", (json_int_t)n->fail_transport,
        "timeout", (json_int_t)n->fail_timeout, "busy", (json_int_t)n->fail_busy, "checksum",
        (json_int_t)n->fail_checksum, "signature", (json_int_t)n->fail_signature, "not_held",
        (json_int_t)n->fail_not_held, "fetching", (json_int_t)p->nfetching, "load", "uploads",
        (int)p->remote_uploads, "slots", (int)p->remote_slots, "waiting", (int)p->remote_waiting,
        "news", (p->caps & PROTO_CAP_NEWS) != 0);
    if (o && more)
        json_object_update(o, more);
    json_decref(more);
    return o;
}

static json_t *peers_json(struct agent *a)
{
    json_t *arr = json_array();
    for (struct agent_peer *p = agent_peers_first(a); p && arr; p = p->next) {
        json_t *o = peer_json(p);
        if (o)
            json_array_append_new(arr, o);
    }
    return arr ? arr : json_array();
}

static json_t *counters_json(const struct agent_counters *c)
{
    json_t *o = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "bytes_served", (json_int_t)c->bytes_served,
        "uploads_too_slow", (json_int_t)c->uploads_too_slow, "relayed", (json_int_t)c->relayed,
        "uploads_queued", (json_int_t)c->uploads_queued, "bytes_from_peers",
        (json_int_t)c->bytes_from_peers, "served_to_peers", (json_int_t)c->served_to_peers,
        "bytes_to_peers", (json_int_t)c->bytes_to_peers, "peer_index_merged",
        (json_int_t)c->peer_index_merged, "peer_busy", (json_int_t)c->peer_busy);
    json_t *base = counters_base_json(c);
    if (o && base)
        json_object_update(base, o);
    json_decref(o);
    return base;
}

static json_t *counters_base_json(const struct agent_counters *c)
{
    return json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "served", (json_int_t)c->served, "index_served",
        (json_int_t)c->index_served, "crates_served", (json_int_t)c->crates_served, "from_store",
        (json_int_t)c->from_store, "from_upstream", (json_int_t)c->from_upstream, "from_peers",
        (json_int_t)c->from_peers, "rejected", (json_int_t)c->rejected, "upstream_errors",
        (json_int_t)c->upstream_errors, "bytes_from_upstream", (json_int_t)c->bytes_from_upstream);
}

static json_t *import_json(const struct agent *a)
{
    if (agent_import_running(a))
        return json_pack("{s:b}", "running", 1);
    const struct import_result *r = agent_import_last(a);
    if (r == NULL)
        return json_null();
    return json_pack("{s:b,s:I,s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:s?}", "running", 0,
                     "registries", (json_int_t)r->registries, "registries_skipped",
                     (json_int_t)r->registries_skipped, "skipped", r->skipped_text, "index_entries",
                     (json_int_t)r->index_entries, "index_new", (json_int_t)r->index_new,
                     "conflicts", (json_int_t)r->conflicts, "crates_added",
                     (json_int_t)r->crates_added, "crates_present", (json_int_t)r->crates_present,
                     "crates_untrusted", (json_int_t)r->crates_untrusted, "seconds", r->seconds,
                     "error", r->error ? r->error_text : NULL);
}

char *agent_status_json(struct agent *a, const char *cargo_host, size_t *len)
{
    return agent_json_take(agent_status_doc(a, cargo_host), len);
}

json_t *agent_status_doc(struct agent *a, const char *cargo_host)
{
    struct store_stats st;
    memset(&st, 0, sizeof st);
    store_stats(agent_store(a), &st);
    const struct agent_counters *c = agent_counters(a);
    json_t *doc = json_pack(
        "{s:s,s:b,s:{s:s?,s:s,s:I,s:s?},s:{s:s,s:I,s:I,s:I,s:I},s:o,s:o,"
        "s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I},s:o,s:I,s:s,s:s,s:s,s:s,s:I}",
        "version", "0.1.0", "online", agent_upstream_online(a), "upstream", "url",
        agent_upstream_base(a), "state", agent_upstream_state_name(a), "since",
        (json_int_t)agent_upstream_since(a), "last_error", agent_upstream_last_error(a), "store",
        "dir", store_dir(agent_store(a)), "crates", (json_int_t)st.crates, "bytes",
        (json_int_t)st.bytes, "index_entries", (json_int_t)st.index_entries, "index_crates",
        (json_int_t)st.index_crates, "peers", peers_json(a), "counters", counters_json(c),
        "rejected", "checksum", (json_int_t)c->rejected_checksum, "conflict",
        (json_int_t)c->rejected_conflict, "request", (json_int_t)c->rejected_request,
        "peer_checksum", (json_int_t)c->rejected_peer_checksum, "peer_signature",
        (json_int_t)c->rejected_peer_signature, "peer_conflict",
        (json_int_t)c->rejected_peer_conflict, "peer_unconfirmed",
        (json_int_t)c->rejected_peer_unconfirmed, "transfers", "in_flight",
        (json_int_t)agent_fetch_in_flight(a), "relaying", (json_int_t)agent_relay_count(a),
        "import", import_json(a), "uptime_s", (json_int_t)(agent_now() - agent_started_at(a)),
        "listen", cargo_host, "id", agent_id(a)->key_text, "key_id", agent_id(a)->key_id, "mdns",
        agent_peers_discovery(a) ? agent_discovery_backend(agent_peers_discovery(a)) : "off", "seq",
        (json_int_t)agent_manifest_seq(a));
    if (doc != NULL) {
        json_object_set_new(doc, "peer_listen", json_string(agent_opt(a)->peer_listen));
        /* the private mesh's key id (null: an open room), and peer requests refused for it */
        json_object_set_new(doc, "mesh",
                            agent_mesh_id(a) ? json_string(agent_mesh_id(a)) : json_null());
        json_object_set_new(json_object_get(doc, "rejected"), "mesh",
                            json_integer((json_int_t)agent_counters(a)->rejected_mesh));
    }
    if (doc != NULL)
        json_object_set_new(doc, "uploads",
                            json_pack("{s:I,s:I,s:I}", "active",
                                      (json_int_t)agent_uploads_active(a), "waiting",
                                      (json_int_t)agent_uploads_waiting(a), "slots",
                                      (json_int_t)agent_uploads_slots(a)));
    if (doc != NULL) {
        json_t *m = agent_misses_json(agent_misses(a), NULL);
        if (m == NULL || json_object_set_new(doc, "misses", m) < 0 ||
            json_object_set_new(doc, "misses_total",
                                json_integer((json_int_t)agent_misses(a)->total)) < 0) {
            json_decref(doc);
            doc = NULL;
        }
    }
    return doc;
}

char *agent_json_take(json_t *doc, size_t *len)
{
    if (doc == NULL)
        return NULL;
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (s)
        *len = strlen(s);
    return s;
}
