/* cli/locate.h — where each package of a lock_set can come from, asked of a
 * running agent (GET /-/why/<name>, one per distinct crate name, 8 at a time).
 *
 * The agent makes each crate's index file current first (online: from the
 * upstream; offline: merged from live peers), so this also teaches it the
 * entries a later download needs.
 */
#ifndef CRATECAST_AGENT_LOCATE_H
#define CRATECAST_AGENT_LOCATE_H

#include "cli/lockfiles.h"

enum locate_where {
    LOCATE_HERE = 0, /* in the agent's store */
    LOCATE_PEER,     /* a live peer's signed manifest lists it */
    LOCATE_UPSTREAM, /* online, and only the upstream has it */
    LOCATE_NOWHERE,
};

struct locate_item {
    enum locate_where where;
    bool known;                      /* the agent has an index entry for this version */
    uint8_t cksum[PROTO_SHA256_LEN]; /* the index entry's (valid when known) */
    char peer_addr[64], peer_id[64]; /* the first holder, for LOCATE_PEER */
    size_t npeers;
    char note[PROTO_VERS_MAX + 192]; /* why nowhere: unknown version, checksum differs, ... */
};

/* out has s->n items. 0, or 1 after printing the problem (no agent answers,
 * an invalid answer); 2 for a bad --agent. *online gets the agent's view. */
int locate_packages(const char *cmd, const char *agent, const struct lock_set *s,
                    struct locate_item *out, bool *online);
const char *locate_where_name(enum locate_where w);

#endif
