/* agent/options.h — what `cratecast agent` is told: the parsed options and
 * their defaults (parsed by cli/agent.c, filled and freed by agent.h's
 * agent_options_init/_free). The agent reads them and never changes them.
 */
#ifndef CRATECAST_AGENT_OPTIONS_H
#define CRATECAST_AGENT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    char *network_key;    /* --network-key FILE (the path, for messages) */
    bool mesh;            /* a network key was given: a private mesh */
    uint8_t mesh_key[32]; /* its bytes (proto/mesh.h), read and checked by cli/network_key.c */
    bool offline_index_all;
    unsigned index_ttl;    /* seconds an upstream index file is served without revalidation */
    unsigned upload_slots; /* crate uploads to peers at once (the rest queue fairly) */
    uint64_t max_size;     /* --max-size: bytes of crates the store may hold; 0 = no limit
                              (see store_evict in store/store.h) */
};

#endif
