/* agent/core.h — what every agent/ module may ask of the agent that composes
 * it (agent.c). struct agent itself is private to agent.c.
 *
 * The agent is made of parts. agent.c owns the loop, the store, the options,
 * the HTTP client, the counters and the identity; every other part (fetches,
 * the peer table, uploads, ...) defines its own struct in its own file,
 * allocates it zeroed with agent_<part>_new() before any part starts, and is
 * the only file that reads or writes it. agent.c holds the pointer and hands
 * it back through the typed getter below; a zeroed part is "not started", so
 * every part's close accepts one whose init never ran.
 *
 * Lifetime: everything returned here lives from agent_run's start until the
 * process exits (the agent and its parts are never freed before exit: see
 * agent_run). All of it is used on the loop thread only; work on the thread
 * pool gets copies.
 */
#ifndef CRATECAST_AGENT_CORE_H
#define CRATECAST_AGENT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent/options.h"
#include "proto/peer.h"

struct agent;
struct agent_http;
struct store;

/* What status reports. Monotonic since start. */
struct agent_counters {
    uint64_t served;       /* successful responses to Cargo (index files + crates) */
    uint64_t bytes_served; /* bytes of crate and index files sent to Cargo */
    uint64_t index_served;
    uint64_t crates_served;
    uint64_t from_store;    /* crates served that were already in the store */
    uint64_t from_upstream; /* crates fetched from the upstream */
    uint64_t from_peers;
    uint64_t rejected;          /* sum of the rejection causes below */
    uint64_t rejected_checksum; /* crate bytes that did not match the trusted cksum */
    uint64_t rejected_conflict; /* index entries contradicting one already held */
    uint64_t rejected_request;  /* malformed requests (4xx) */
    uint64_t rejected_mesh;     /* peer requests without this mesh's proof (403) */
    uint64_t upstream_errors;
    uint64_t bytes_from_upstream;
    uint64_t bytes_from_peers;
    uint64_t served_to_peers; /* crates uploaded to peers */
    uint64_t bytes_to_peers;
    uint64_t peer_index_merged;         /* index files taken from peers */
    uint64_t rejected_peer_checksum;    /* crate bytes from a peer that did not match */
    uint64_t rejected_peer_signature;   /* peer messages whose signature or key did not verify */
    uint64_t rejected_peer_conflict;    /* peer index entries contradicting what we hold */
    uint64_t rejected_peer_unconfirmed; /* peer-only entries the upstream does not list (or
                                           contradicts): dropped when it answered */
    uint64_t peer_only_served;          /* versions listed offline on a peer's word only */
    uint64_t peer_busy;                 /* upload requests answered 503 (queue full or wait over) */
    uint64_t uploads_queued;            /* upload requests that waited for a slot */
    uint64_t uploads_too_slow; /* uploads whose slot was taken back at their send deadline */
    uint64_t relayed;          /* crates passed on to peers while they were arriving (relay.h) */
};

/* This agent's Ed25519 identity (the store's key). */
struct agent_identity {
    uint8_t pk[PROTO_PK_LEN];
    uint8_t sk[PROTO_SK_LEN];
    char key_text[PROTO_KEY_TEXT_LEN + 1];
    char key_id[PROTO_KEYID_HEX_LEN + 1];
};

uv_loop_t *agent_loop(const struct agent *a);
struct store *agent_store(const struct agent *a);
const struct agent_options *agent_opt(const struct agent *a);
struct agent_http *agent_http(const struct agent *a);
const struct agent_identity *agent_id(const struct agent *a);
/* Counters status reports; any part bumps its own (agent.h lists them). */
struct agent_counters *agent_counters(const struct agent *a);
/* The agent is shutting down: start nothing new, answer nobody. */
bool agent_stopping(const struct agent *a);
int64_t agent_started_at(const struct agent *a);
/* Unix time, seconds. */
int64_t agent_now(void);

/* The struct that embeds member at ptr. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Events: a part says what happened, the agent tells the parts that act on
 * it (agent.c). They run synchronously, on the loop thread.
 *   agent_changed          something peers act on changed (holdings, load,
 *                          known peers): news polls are answered, and the
 *                          store's size is checked against --max-size
 *   agent_sources_changed  a peer became live, has new holdings or a free
 *                          slot: fetches waiting for a source look again
 *   agent_peer_live        a peer's hello and manifest verified: keep a news
 *                          poll at it
 *   agent_crate_progress   a crate transfer has written size bytes so far
 *   agent_crate_ended      it ended, complete (every byte written) or not
 *                          (relays of it are cut off) */
struct agent_peer;
void agent_changed(struct agent *a);
void agent_sources_changed(struct agent *a);
void agent_peer_live(struct agent_peer *p);
void agent_crate_progress(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size);
void agent_crate_ended(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], bool complete);

/* The parts' states (each defined in the file named after it). */
struct agent_fetches *agent_fetches(const struct agent *a);   /* fetch.c */
struct agent_relays *agent_relays(const struct agent *a);     /* relay.c */
struct agent_upstream *agent_upstream(const struct agent *a); /* upstream.c */
struct agent_manifest *agent_manifest(const struct agent *a); /* manifest.c */
struct agent_uploads *agent_uploads(const struct agent *a);   /* uploads.c */
struct agent_news *agent_news(const struct agent *a);         /* news.c */
struct agent_peers *agent_peers(const struct agent *a);       /* peers.c */
struct agent_registry *agent_registry(const struct agent *a); /* registry.c */
struct agent_peerapi *agent_peerapi(const struct agent *a);   /* peerapi.c */
struct agent_imports *agent_imports(const struct agent *a);   /* import_job.c */
struct agent_misses *agent_misses(const struct agent *a);     /* misses.c */
struct agent_evict *agent_evict(const struct agent *a);       /* evict.c */
struct agent_activity *agent_activity(const struct agent *a); /* activity.c */
struct agent_mesh *agent_mesh(const struct agent *a);         /* mesh.c */

#endif
