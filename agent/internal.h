/* agent/internal.h — struct agent and the functions agent/ files share.
 *
 * Everything here runs on the loop thread. Module map:
 *   agent.c     process lifetime: loop, signals, listener, startup import
 *   registry.c  the Cargo-facing HTTP server (h2o): routes -> store / fetch
 *   upstream.c  the upstream registry: online/offline state, probing, config.json
 *   fetch.c     single-flight fetches of index files and crates; blob commit on the pool
 *   import.c    CARGO_HOME import (runs on the thread pool with its own store)
 *   status.c    the status document (GET /-/status, `cratecast status`)
 */
#ifndef CRATECAST_AGENT_INTERNAL_H
#define CRATECAST_AGENT_INTERNAL_H

#include <h2o.h>
#include <stdbool.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/http_client.h"
#include "proto/route.h"
#include "store/store.h"

/* ---- upstream.c ---------------------------------------------------------- */

enum upstream_state {
    UPSTREAM_NONE = 0, /* --upstream none: never online */
    UPSTREAM_UNKNOWN,  /* first probe in flight: requests wait for it */
    UPSTREAM_ONLINE,
    UPSTREAM_OFFLINE,  /* re-probed with back-off */
};

struct upstream_waiter;

struct agent_upstream {
    enum upstream_state state;
    char *base;       /* index root with a trailing '/', "sparse+" stripped */
    char *dl;         /* the upstream's dl template, once config.json was read */
    bool probing;
    unsigned backoff_ms;
    uv_timer_t probe_timer;
    int64_t since;    /* unix time of the last state change */
    char last_error[256];
    struct upstream_waiter *waiters; /* parked until the first probe answers */
};

typedef void (*upstream_ready_cb)(struct agent *a, void *ud);

int agent_upstream_init(struct agent *a, const char *url);
void agent_upstream_close(struct agent *a);
bool agent_upstream_online(const struct agent *a);
/* Call cb once the upstream state is known (at once unless the first probe is
 * still in flight). */
void agent_upstream_when_ready(struct agent *a, upstream_ready_cb cb, void *ud);
/* A transfer failed for a reason that says the upstream is unreachable. */
void agent_upstream_failed(struct agent *a, const char *why);
/* Absolute URL of a path below the index root. */
int agent_upstream_url(const struct agent *a, const char *rel, char *out, size_t outsz);
const char *agent_upstream_state_name(const struct agent *a);

/* ---- fetch.c ------------------------------------------------------------- */

/* result: 0 done (look in the store), or a negative errno: -EBADMSG bad bytes
 * from the source, -ENOENT not available anywhere, -EIO transfer failure. */
typedef void (*agent_fetch_cb)(struct agent *a, void *ud, int result);

struct agent_fetch; /* one transfer in flight, shared by all who wait for it */

/* Make the store's copy of a crate's index file current (when online and
 * stale). Returns 1 when nothing has to be fetched (cb is NOT called), 0 when
 * cb will be called later. */
int agent_fetch_index(struct agent *a, const char *name, agent_fetch_cb cb, void *ud);
/* Fetch one crate's bytes into the store. cb is always called later. */
void agent_fetch_crate(struct agent *a, const char *name, const char *vers,
                       const uint8_t sha[PROTO_SHA256_LEN], agent_fetch_cb cb, void *ud);
/* Forget a waiter whose requester went away (its cb will not be called). */
void agent_fetch_cancel(struct agent *a, agent_fetch_cb cb, void *ud);
size_t agent_fetch_in_flight(const struct agent *a);
/* At shutdown: every waiter is called with -ECANCELED (it must not respond). */
void agent_fetch_abort_all(struct agent *a);

/* ---- registry.c ---------------------------------------------------------- */

int agent_registry_start(struct agent *a, const char *listen);
void agent_registry_stop(struct agent *a);

/* ---- import.c ------------------------------------------------------------ */

struct import_result {
    uint64_t files, index_entries, index_new, conflicts, bad_lines;
    uint64_t crates_seen, crates_added, crates_present, crates_untrusted, crates_bad;
    double seconds;
    int error;
    char error_text[256];
};
/* Synchronous: opens its own store connection. Safe on the thread pool. */
int agent_import_cargo_home(const char *store_dir, const char *cargo_home,
                            struct import_result *res);
/* Start an import on the thread pool; the agent keeps serving. */
int agent_import_start(struct agent *a, const char *cargo_home);
/* Ask a running import to stop at the next file (shutdown). */
void agent_import_cancel(void);

/* ---- status.c ------------------------------------------------------------ */

/* The status document as compact JSON (malloc'd), NULL on out-of-memory. */
char *agent_status_json(struct agent *a, size_t *len);

/* ---- agent.c ------------------------------------------------------------- */

struct agent {
    uv_loop_t loop;
    const struct agent_options *opt;
    struct store *store;
    struct agent_http http;
    struct agent_upstream up;
    struct agent_counters counters;
    struct agent_fetch *fetches;
    size_t nfetches;

    /* registry.c */
    h2o_globalconf_t h2o_config;
    h2o_context_t h2o_ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    char listen_host[128]; /* host:port for URLs handed to Cargo */

    uv_signal_t sigint, sigterm;
    int64_t started_at;
    bool stopping;

    /* import.c */
    bool importing;
    struct import_result last_import;
    bool have_import;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

int64_t agent_now(void);

#endif
