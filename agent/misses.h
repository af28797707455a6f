/* agent/misses.h — what Cargo asked for that the agent could not give, kept so
 * `cratecast status` and `cratecast why` can say why an offline build failed.
 *
 * Kinds of miss:
 *   AGENT_MISS_WITHHELD  offline, an index file was served with versions left
 *                        out (not deliverable: see listing.h); version = the
 *                        newest withheld one
 *   AGENT_MISS_CRATE     a .crate nobody can send (not here, no live peer
 *                        holds it, the upstream offline or without it)
 *   AGENT_MISS_INDEX     an index file nobody has (unknown here and at every
 *                        live peer, upstream offline)
 *
 * A fixed table of AGENT_MISSES_MAX entries, one per (crate, version, kind):
 * a repeat updates its time and count; a new one replaces the oldest. Logging
 * is rate-limited per crate (once a minute) and overall (a burst of
 * AGENT_MISSES_LOG_BURST lines, then one per second on average).
 *
 * Ownership: embedded in struct agent, loop thread only. No I/O here.
 */
#ifndef CRATECAST_AGENT_MISSES_H
#define CRATECAST_AGENT_MISSES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/name.h"

#define AGENT_MISSES_MAX 64
#define AGENT_MISSES_LOG_BURST 20
#define AGENT_MISS_REASON_MAX 320

enum agent_miss_kind { AGENT_MISS_WITHHELD = 1, AGENT_MISS_CRATE, AGENT_MISS_INDEX };

struct agent_miss {
    enum agent_miss_kind kind;
    char crate[PROTO_NAME_MAX + 1];
    char vers[PROTO_VERS_MAX + 1]; /* "" when no version applies */
    char reason[AGENT_MISS_REASON_MAX];
    int64_t first_at, at; /* unix seconds */
    uint64_t count;
};

struct agent_misses {
    struct agent_miss v[AGENT_MISSES_MAX];
    size_t n;
    uint64_t total;      /* every miss recorded since start */
    uint64_t not_logged; /* lines suppressed by the rate limits */
    double tokens;       /* log budget (token bucket) */
    int64_t tokens_at;
};

/* Record one miss (crate lower-cased; vers NULL or "" for none). Returns true
 * when the caller should log it now. */
bool agent_misses_record(struct agent_misses *m, enum agent_miss_kind kind, const char *crate,
                         const char *vers, const char *reason, int64_t now);
/* The entries, newest first, as a JSON array of {crate, version (string or
 * null), kind, reason, at, first_at, count}. NULL on out-of-memory. */
json_t *agent_misses_json(const struct agent_misses *m, const char *only_crate);
const char *agent_miss_kind_name(enum agent_miss_kind k);

#endif
