/* agent/internal.h — struct agent and the functions agent/ files share.
 *
 * Everything here runs on the loop thread. Module map:
 *   agent.c     process lifetime: loop, signals, listener, startup import
 *   registry.c  the Cargo-facing HTTP server (h2o): routes -> store / fetch
 *   upstream.c  the upstream registry: online/offline state, probing, config.json
 *   fetch.c     single-flight fetches of index files and crates; blob commit on the pool
 *   import.c    CARGO_HOME import (runs on the thread pool with its own store)
 *   status.c    the status document (GET /-/status, `cratecast status`)
 *   peers.c     the peer table: verify (hello + signed manifest), poll, pex, choose holders
 *   peerapi.c   the peer-side HTTP server (hello, manifest, index, crate)
 *   manifest.c  this agent's signed manifest, rebuilt when the store's sequence moves
 *   discovery.c mDNS announce/browse (Avahi), see discovery.h; avahi_load.c and
 *               avahi_poll.c load Avahi and run it on the loop
 */
#ifndef CRATECAST_AGENT_INTERNAL_H
#define CRATECAST_AGENT_INTERNAL_H

#include <h2o.h>
#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/discovery.h"
#include "agent/http_client.h"
#include "agent/http_server.h"
#include "agent/import.h"
#include "agent/misses.h"
#include "agent/peer_select.h"
#include "agent/upstream_state.h"
#include "agent/waiters.h"
#include "proto/peer.h"
#include "proto/route.h"
#include "store/store.h"

/* ---- upstream.c ---------------------------------------------------------- */

struct agent_upstream {
    bool started;          /* agent_upstream_init ran (probe_timer initialised); close clears it */
    struct upstream_sm sm; /* the state machine (upstream_state.h) */
    char *base;            /* index root with a trailing '/', "sparse+" stripped */
    char *dl;              /* the upstream's dl template, once config.json was read */
    uv_timer_t probe_timer;
    int64_t since; /* unix time of the last state change */
    char last_error[256];
    struct agent_waiter *waiters; /* parked until the first probe answers */
};

int agent_upstream_init(struct agent *a, const char *url);
void agent_upstream_close(struct agent *a);
bool agent_upstream_online(const struct agent *a);
enum upstream_state agent_upstream_state(const struct agent *a);
/* The index root URL with a trailing '/' (NULL with --upstream none), the dl
 * template of its config.json (NULL until one was read), the last failure
 * (NULL if none), the unix time of the last state change. Valid until the
 * next event of the upstream (a probe's answer can replace dl). */
const char *agent_upstream_base(const struct agent *a);
const char *agent_upstream_dl(const struct agent *a);
const char *agent_upstream_last_error(const struct agent *a);
int64_t agent_upstream_since(const struct agent *a);
/* Call cb once the upstream state is known (at once unless the first probe is
 * still in flight). */
void agent_upstream_when_ready(struct agent *a, agent_ready_cb cb, void *ud);
/* Offline and asked for something: probe now (rate-limited), so a healed
 * uplink is noticed at once. The request itself is answered offline. */
void agent_upstream_nudge(struct agent *a);
/* A transfer failed for a reason that says the upstream is unreachable. */
void agent_upstream_failed(struct agent *a, const char *why);
/* Absolute URL of a path below the index root. */
int agent_upstream_url(const struct agent *a, const char *rel, char *out, size_t outsz);
const char *agent_upstream_state_name(const struct agent *a);

/* ---- fetch.c ------------------------------------------------------------- */

/* result: 0 done (look in the store), or a negative errno: -EBADMSG bad bytes
 * from the source, -ENOENT not available anywhere, -EIO transfer failure,
 * -EAGAIN (index) the upstream failed for it and no peer had it.
 * source: for a crate that was fetched, where from ("upstream", "peer ADDR");
 * otherwise NULL. */
typedef void (*agent_fetch_cb)(struct agent *a, void *ud, int result, const char *source);

struct agent_fetch; /* one transfer in flight, shared by all who wait for it */

/* Make the store's copy of a crate's index file current (when online and
 * stale). Returns 1 when nothing has to be fetched (cb is NOT called), 0 when
 * cb will be called later. */
int agent_fetch_index(struct agent *a, const char *name, agent_fetch_cb cb, void *ud);
/* Fetch one crate's bytes into the store. cb is always called later. */
void agent_fetch_crate(struct agent *a, const char *name, const char *vers,
                       const uint8_t sha[PROTO_SHA256_LEN], agent_fetch_cb cb, void *ud);
size_t agent_fetch_in_flight(const struct agent *a);
/* For relay.c: a reader of the crate transfer of sha in flight now and the
 * bytes it has written (*size); -ENOENT when none, -EAGAIN while its bytes are
 * being committed (held in a moment), -errno. */
int agent_fetch_relay_reader(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], uint64_t *size);
/* Fetches waiting for a slot or a neighbour look for a source again. */
void agent_fetch_kick(struct agent *a);
/* At shutdown: every waiter is called with -ECANCELED (it must not respond). */
void agent_fetch_abort_all(struct agent *a);
void agent_fetch_close(struct agent *a);

/* relay.c's state: only relay.c reads or writes it. */
struct relay;
struct agent_relays {
    struct relay *list;
    unsigned n;
};

/* fetch.c's state: only fetch.c reads or writes it. */
struct agent_fetches {
    struct agent_fetch *list; /* every fetch running */
    size_t n;
    struct agent_fetch *queue;  /* crate fetches waiting: a slot, a neighbour, a delay */
    uv_timer_t timer;           /* looks at the queue while it is not empty */
    struct agent_fetch *ingest; /* index files being stored slice by slice */
    uv_timer_t ingest_timer;
};

/* ---- registry.c ---------------------------------------------------------- */

int agent_registry_start(struct agent *a, const char *listen);
/* A crate's index file as served: every row's original line + '\n', in
 * arrival order; with keep != NULL, just the rows i where keep[i].
 * malloc'd (NULL when no row is kept or out of memory, *len = 0). */
char *agent_index_body(const struct store_index_list *l, const bool *keep, size_t *len);
void agent_registry_stop(struct agent *a);

/* ---- import_job.c -------------------------------------------------------- */

/* Start an import of cargo_home on the thread pool; the agent keeps serving. */
int agent_import_start(struct agent *a, const char *cargo_home);

/* ---- peers.c ------------------------------------------------------------- */

enum peer_via { PEER_VIA_STATIC = 0, PEER_VIA_MDNS, PEER_VIA_PEX };

/* Peer states (peers.c performs every transition):
 *   PEER_CONNECTING  hello not yet verified (new, or after a failure)
 *   PEER_LIVE        hello verified, key accepted by the trust policy, manifest held
 *   PEER_FAILING     the last poll failed; retried with back-off; not used for fetches
 *   PEER_REJECTED    its key is not trusted, or does not match its mDNS key id; polled slowly
 */
enum peer_state { PEER_CONNECTING = 0, PEER_LIVE, PEER_FAILING, PEER_REJECTED };

struct peer_index_item {
    char name[PROTO_NAME_MAX + 1];
    uint8_t hash[PROTO_SHA256_LEN];
    uint64_t updated;
    uint8_t merged[PROTO_SHA256_LEN]; /* hash of the copy we last merged (zero: never) */
};

/* What one peer gave us and took from us, and why transfers with it failed. */
struct peer_counters {
    uint64_t crates_from, bytes_from, index_from; /* received from it */
    uint64_t crates_to, bytes_to;                 /* sent to it (matched by its IP) */
    uint64_t fail_transport, fail_timeout, fail_busy, fail_checksum, fail_signature, fail_not_held;
};

struct agent_peer {
    struct agent_peer *next;
    struct agent *a;
    char addr[PROTO_PEER_ADDR_MAX + 1]; /* host:port of its peer side */
    enum peer_via via;
    enum peer_state state;
    char expect_id[PROTO_KEYID_HEX_LEN + 1]; /* from mDNS TXT; "" = none */
    uint64_t txt_seq;
    bool have_key;
    uint8_t pk[PROTO_PK_LEN];
    char key_text[PROTO_KEY_TEXT_LEN + 1];
    uint64_t seq;                        /* sequence of the manifest we hold (0 = none) */
    struct proto_manifest_crate *crates; /* sorted by sha256 */
    uint32_t ncrates;
    struct peer_index_item *index; /* sorted by name */
    uint32_t nindex;
    int64_t last_seen;
    unsigned fails;         /* consecutive poll failures */
    unsigned inflight;      /* crate/index fetches from it now */
    unsigned penalty;       /* bad bytes / bad signatures seen */
    double ms_per_mb;       /* EWMA of transfer cost, for ordering holders */
    uint64_t busy_until_ms; /* it answered "busy": ask others first until then (loop time) */
    struct peer_counters n;
    /* news (news.c) */
    uint32_t caps; /* PROTO_CAP_* from its hello */
    uint64_t news_gen;
    uint64_t news_seq; /* the sequence its last news announced (> seq: a manifest is due) */
    bool news_polling;
    uint8_t (*fetching)[PROTO_SHA256_LEN]; /* crates it is fetching now, sorted */
    uint32_t nfetching;
    uint16_t remote_uploads, remote_slots, remote_waiting;
    bool mdns_gone;      /* its mDNS record went away: kept until a poll fails */
    unsigned mismatches; /* manifests in a row that did not follow on from what we held */
    bool repoll;         /* poll again when the one in flight ends */
    bool polling;
    bool removed;  /* unlinked; freed when the last transfer ends */
    unsigned refs; /* transfers in flight holding this pointer */
    uint8_t nonce[PROTO_NONCE_LEN];
    uv_timer_t timer;
};

int agent_peers_init(struct agent *a);
void agent_peers_close(struct agent *a);
/* A requester's own peer address, learnt from its hello (port=): see peers.c. */
struct agent_peer *agent_peers_learn(struct agent *a, const char *addr);
/* Add (or refresh) a candidate peer. NULL when the table is full or addr is ours. */
struct agent_peer *agent_peers_add(struct agent *a, const char *addr, enum peer_via via);
/* Holders of a crate, best first (live, trusted; peer_select_order). */
size_t agent_peers_holding_crate(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN],
                                 struct agent_peer **out, size_t max);
bool agent_peers_have_crate(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN]);
/* The size a peer's signed manifest gives for a crate (0 when not listed). */
uint64_t agent_peer_crate_size(const struct agent_peer *p, const uint8_t sha[PROTO_SHA256_LEN]);
/* Live peers listing an index file for name whose copy we have not merged yet. */
size_t agent_peers_index_news(struct agent *a, const char *name, struct agent_peer **out,
                              size_t max);
struct peer_index_item *agent_peer_index_item(struct agent_peer *p, const char *name);
/* The index file of name with these bytes was merged: no peer listing the same
 * bytes is asked for it again. */
void agent_peers_index_merged(struct agent *a, const char *name,
                              const uint8_t hash[PROTO_SHA256_LEN]);
/* Keep a peer alive across an asynchronous transfer. */
void agent_peer_ref(struct agent_peer *p);
void agent_peer_unref(struct agent_peer *p);
/* Report how a transfer went: ok with bytes/ms, or a failure cause. */
void agent_peer_transfer_ok(struct agent_peer *p, size_t bytes, double ms);
void agent_peer_transfer_failed(struct agent_peer *p, const char *why, bool bad_data);
/* Index requests wait (up to a few seconds) for the first poll of static peers. */
void agent_peers_when_ready(struct agent *a, agent_ready_cb cb, void *ud);
/* The store's sequence moved: tell peers' pollers nothing; update our TXT. */
void agent_peers_announce(struct agent *a);
/* Poll it now (hello, then the manifest if its sequence moved); if a poll is in
 * flight, once more when it ends. */
void agent_peer_poll_now(struct agent_peer *p);
/* Its news said its sequence moved: fetch the manifest delta now (no hello:
 * the signed news proved it live), or poll when it is not live. */
void agent_peer_manifest_now(struct agent_peer *p);
/* v ordered best first (peer_select_order, a little noise for equals), one per
 * key; returns how many are left. */
size_t agent_peers_order(struct agent_peer **v, size_t n);
/* A peer as peer_select.h sees it (ref = p; tried, busy and noise left 0). */
struct peer_cand agent_peer_cand(struct agent_peer *p);
/* The live peer whose address has this IP (any port), for upload accounting. */
struct agent_peer *agent_peer_by_ip(struct agent *a, const struct sockaddr *sa);
/* Peer-side URL of a path on a peer. */
const char *agent_peer_via_name(enum peer_via v);
const char *agent_peer_state_name(enum peer_state s);

/* ---- news.c ---------------------------------------------------------------- */

struct news_waiter;
struct agent_news {
    bool started;
    uint64_t gen; /* moves with anything peers act on */
    uv_timer_t coalesce, deadlines;
    struct news_waiter *parked; /* oldest first */
    size_t nparked;
    uint8_t *wire; /* encoding of generation wire_gen */
    size_t wire_len;
    uint64_t wire_gen;
    uint8_t fetching[PROTO_NEWS_FETCHING_MAX][PROTO_SHA256_LEN]; /* transfers in flight */
    size_t nfetching;
};

void agent_news_init(struct agent *a);
void agent_news_close(struct agent *a);
/* Something peers act on changed: parked polls are answered (coalesced). */
void agent_news_changed(struct agent *a);
/* GET /peer/1/news on the peer side. */
void agent_news_serve(struct agent *a, h2o_req_t *req, const struct proto_route *r);
/* A crate transfer to this store started (on) or ended (off). */
void agent_news_fetching(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], bool on);
/* Keep one news poll in flight to a live peer that offers it. */
void agent_news_poll(struct agent_peer *p);
/* The peer said it is fetching this crate now. */
bool agent_peer_fetching(const struct agent_peer *p, const uint8_t sha[PROTO_SHA256_LEN]);

/* ---- manifest.c ---------------------------------------------------------- */

/* The encoded, signed manifest (since == 0) or delta (since > 0) of this
 * agent. *buf stays owned by the agent (valid until the next call). */
int agent_manifest_get(struct agent *a, uint64_t since, const uint8_t **buf, size_t *len);
/* Called every second: notices a new store sequence, rebuilds, re-announces. */
void agent_manifest_tick(struct agent *a);
/* manifest.c's state: only manifest.c reads or writes it. */
struct agent_manifest {
    uint64_t announced; /* the store sequence peers were last told of */
    uint8_t *full;      /* cached encodings */
    size_t full_len;
    uint64_t full_seq;
    int64_t full_at;
    uint8_t *delta;
    size_t delta_len;
    uint64_t delta_seq, delta_since;
    int64_t delta_at;
};
/* Start from the store's sequence now (at startup). */
void agent_manifest_init(struct agent *a);
/* Free the cached encodings (at shutdown; safe if init never ran). */
void agent_manifest_close(struct agent *a);
/* The store sequence peers were last told of (TXT record, status). */
uint64_t agent_manifest_seq(const struct agent *a);

/* ---- peerapi.c ----------------------------------------------------------- */

/* ---- uploads.c ----------------------------------------------------------- */

struct upload_wait;
struct upload;
#define AGENT_UPLOAD_IPS_MAX 64
#define AGENT_UPLOAD_RECENT 512 /* the last crates sent, for "first copies first" */
struct agent_upload_ip {
    struct proto_peer_addr who;
    unsigned n; /* uploads in progress to it (0 = free entry) */
};
/* uploads.c's state: only uploads.c reads or writes it (others ask the
 * functions below). */
struct agent_uploads {
    unsigned active;  /* crate uploads in progress (holding a slot) */
    unsigned waiting; /* upload requests waiting for a slot */
    struct upload_wait *queue;
    struct upload *list; /* every upload h2o has not disposed of yet */
    uv_timer_t timer;
    struct agent_upload_ip ips[AGENT_UPLOAD_IPS_MAX];
    uint8_t recent[AGENT_UPLOAD_RECENT][PROTO_SHA256_LEN];
    size_t recent_pos;
};
/* Uploads holding a slot now, and requests waiting for one. */
unsigned agent_uploads_active(const struct agent *a);
unsigned agent_uploads_waiting(const struct agent *a);
void agent_uploads_init(struct agent *a);
void agent_uploads_close(struct agent *a);
/* Send a held blob to a peer now, or queue the request fairly (uploads.c). */
void agent_uploads_request(struct agent *a, h2o_req_t *req, const uint8_t sha[PROTO_SHA256_LEN]);
/* A slot came free: start the next waiting upload. */
void agent_uploads_next(struct agent *a);

int agent_peerapi_start(struct agent *a, const char *listen);
void agent_peerapi_stop(struct agent *a);
/* Upload slots (concurrent crate uploads), the rest wait their turn. */
unsigned agent_peerapi_slots(const struct agent *a);

/* ---- why.c --------------------------------------------------------------- */

/* GET /-/why/<name>: every known version and where it can come from (compact
 * JSON, malloc'd), NULL on out-of-memory or a store error. */
char *agent_why_json(struct agent *a, const char *name, size_t *len);

/* ---- status.c ------------------------------------------------------------ */

/* doc as compact JSON (malloc'd; doc is released), NULL when doc is NULL or on
 * out-of-memory. */
char *agent_json_take(json_t *doc, size_t *len);
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
    struct agent_misses misses; /* what Cargo asked for and nobody could give */
#define AGENT_PEER_ONLY_SEEN 64
    char peer_only_seen[AGENT_PEER_ONLY_SEEN][PROTO_NAME_MAX + PROTO_VERS_MAX + 2];
    size_t peer_only_pos;
    struct agent_fetches fx;    /* fetch.c */
    struct agent_relays relays; /* relay.c */

    /* registry.c */
    struct agent_server cargo;
    char listen_host[128]; /* host:port for URLs handed to Cargo */

    /* identity and peering */
    uint8_t pk[PROTO_PK_LEN];
    uint8_t sk[PROTO_SK_LEN];
    char key_text[PROTO_KEY_TEXT_LEN + 1];
    char key_id[PROTO_KEYID_HEX_LEN + 1];
    uint8_t (*trusted)[PROTO_PK_LEN]; /* --trust keys */
    size_t ntrusted;
    struct agent_peer *peers;
    size_t npeers;
#define AGENT_SELF_ADDRS_MAX 8
    char self_addrs[AGENT_SELF_ADDRS_MAX][PROTO_PEER_ADDR_MAX + 1]; /* where we reached ourselves */
    size_t nself_addrs;
    bool peers_ready;
    struct proto_peer_addr forgotten[256]; /* pex addresses dropped after failing (a ring) */
    size_t nforgotten;
    struct agent_token_bucket {
        double tokens;
        int64_t at;
    } pex_tokens, hello_tokens; /* new addresses allowed now: announced, or from a hello */
    struct agent_waiter *peer_waiters;
    uv_timer_t peers_ready_timer;
    uint16_t peer_port; /* 0 when --peer-listen off */
    struct agent_discovery *discovery;
    uv_timer_t tick;          /* manifest/sequence watch */
    struct agent_manifest mf; /* manifest.c */
    struct agent_uploads ul;  /* uploads.c */
    struct agent_news news;

    /* peerapi.c */
    struct agent_server peer;

    uv_signal_t sigint, sigterm;
    int64_t started_at;
    bool stopping;

    /* import.c */
    bool importing;
    struct import_result last_import;
    bool have_import;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

int64_t agent_now(void);

#endif
