/* agent/agent.h — the agent process: one libuv loop that owns every handle.
 *
 * Ownership: struct agent is created by agent_run() and lives until the loop
 * ends. Every sub-module (registry server, HTTP client, upstream state, fetch
 * scheduler) is embedded in it and runs on the loop thread only. Work on the
 * libuv thread pool (blob hashing/writing, CARGO_HOME import) never touches
 * struct agent: it gets copies and reports back through the after-work callback.
 */
#ifndef CRATECAST_AGENT_AGENT_H
#define CRATECAST_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"

#define AGENT_DEFAULT_LISTEN "127.0.0.1:7878"
#define AGENT_DEFAULT_PEER_LISTEN "0.0.0.0:7879"
#define AGENT_DEFAULT_UPSTREAM "https://index.crates.io/"
#define AGENT_DEFAULT_UPLOAD_SLOTS 8
#define AGENT_UPLOAD_SLOTS_MAX 64

enum agent_trust { AGENT_TRUST_OPEN = 0, AGENT_TRUST_KEYS = 1 };

/* Parsed `cratecast agent` options. Strings are malloc'd; agent_options_free. */
struct agent_options {
    char *store_dir;
    char *listen;
    char *peer_listen; /* "off" disables the peer side */
    char *upstream;    /* NULL = none (never online) */
    char **peers;
    size_t npeers;
    bool mdns;
    bool import;
    char *import_home; /* NULL = $CARGO_HOME or ~/.cargo */
    enum agent_trust trust;
    char **trust_keys;
    size_t ntrust_keys;
    char *network_key;
    bool offline_index_all;
    unsigned index_ttl;    /* seconds an upstream index file is served without revalidation */
    unsigned upload_slots; /* crate uploads to peers at once (the rest queue fairly) */
    uint64_t max_size;     /* --max-size: bytes of crates the store may hold; 0 = no limit
                              (see store_evict in store/store.h) */
};

/* What status reports. Monotonic since start. */
struct agent_counters {
    uint64_t served; /* successful responses to Cargo (index files + crates) */
    uint64_t index_served;
    uint64_t crates_served;
    uint64_t from_store;    /* crates served that were already in the store */
    uint64_t from_upstream; /* crates fetched from the upstream */
    uint64_t from_peers;
    uint64_t rejected;          /* sum of the rejection causes below */
    uint64_t rejected_checksum; /* crate bytes that did not match the trusted cksum */
    uint64_t rejected_conflict; /* index entries contradicting one already held */
    uint64_t rejected_request;  /* malformed requests (4xx) */
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

struct agent;

/* Run the agent until SIGINT/SIGTERM. Returns the process exit status. */
int agent_run(const struct agent_options *opt);

/* Defaults, then free. */
void agent_options_init(struct agent_options *o);
void agent_options_free(struct agent_options *o);
/* $XDG_CACHE_HOME/cratecast, else $HOME/.cache/cratecast (malloc'd), NULL if neither. */
char *agent_default_store_dir(void);
/* $CARGO_HOME, else $HOME/.cargo (malloc'd). */
char *agent_default_cargo_home(void);

/* Which store call failed, for agent_store_error. */
enum agent_store_step { AGENT_STORE_OPEN, AGENT_STORE_IDENTITY, AGENT_STORE_LOCK };
/* Print a fatal store error: "cratecast: <what is wrong>" on one line, then
 * "help: <what to do>" when a fix is known (agent startup, `cratecast id`).
 * code: what the store call returned; err: its explanation. */
void agent_store_error(enum agent_store_step step, int code, const char *dir,
                       const struct store_error *err);

/* "ADDR:PORT" / "[V6]:PORT" -> sockaddr. 0 or -EINVAL. */
int agent_parse_addr(const char *s, struct sockaddr_storage *out);

#endif
