/* agent/peers.h — the peer table: who the peers are (static, mDNS, pex,
 * hellos), verification (signed hello, trust policy, signed manifest),
 * polling, what each holds, and choosing holders (peers.c; the pure ordering
 * rule is peer_select.h; news.c keeps each live peer's news poll).
 *
 * Ownership: the table (struct agent_peers) is allocated zeroed by
 * agent_peers_new and owned by peers.c. Each struct agent_peer is allocated
 * and freed by peers.c; other files read its fields but write none of them
 * (news.c writes the news fields it documents below). A pointer to a peer is
 * valid until the next return to the loop, unless agent_peer_ref holds it:
 * a removed peer is unlinked at once and freed when its last reference goes.
 * agent_peers_close stops every poll and frees the table (safe when init never
 * ran). Callbacks given to agent_peers_when_ready run exactly once (at once
 * when ready, or when the first polls of static peers end or time out); never
 * after close. Loop thread only.
 */
#ifndef CRATECAST_AGENT_PEERS_H
#define CRATECAST_AGENT_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent/peer_select.h"
#include "agent/waiters.h"
#include "proto/peer.h"

struct agent;
struct agent_peers;
struct agent_discovery;
struct sockaddr;

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
    uint64_t manifests;  /* its manifests (full or delta) applied */
    uint64_t news_gains; /* its news that brought what it gained (no manifest needed) */
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
    uint64_t seq;       /* sequence of the manifest we hold (0 = none) */
    bool manifest_held; /* we hold its manifest at seq (seq 0 too: an empty store) */
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

struct agent_peers *agent_peers_new(void);
/* Start the table: static peers, mDNS (announcing peer_port, ours; 0 when
 * the peer side is off) and the store sequence seq peers were told of, the
 * ready timer. 0 or -errno. */
int agent_peers_init(struct agent *a, uint16_t peer_port, uint64_t seq);
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
/* Keep a peer alive across an asynchronous transfer. */
void agent_peer_ref(struct agent_peer *p);
void agent_peer_unref(struct agent_peer *p);
/* What came from p and went to it (its counters; the cost of a transfer in
 * ms feeds the ordering). An index file of name whose bytes hash to hash was
 * merged: no peer listing the same bytes is asked for it again. */
void agent_peer_got_index(struct agent *a, struct agent_peer *p, const char *name,
                          const uint8_t hash[PROTO_SHA256_LEN], size_t wire_bytes, double ms);
void agent_peer_got_crate(struct agent_peer *p, size_t bytes, double ms);
void agent_peer_sent_crate(struct agent_peer *p, uint64_t bytes);
/* Why a transfer with p failed, counted per cause (status). */
enum peer_fail {
    PEER_FAIL_TRANSPORT,
    PEER_FAIL_TIMEOUT,
    PEER_FAIL_BUSY,
    PEER_FAIL_CHECKSUM,
    PEER_FAIL_SIGNATURE,
    PEER_FAIL_NOT_HELD
};
void agent_peer_count_fail(struct agent_peer *p, enum peer_fail why);
/* It answered busy: ask others first until loop time until_ms. */
void agent_peer_busy(struct agent_peer *p, uint64_t until_ms);
/* A transfer failed: bad_data (bad bytes or signature) adds a penalty;
 * otherwise p stops being used until a poll succeeds again. */
void agent_peer_transfer_failed(struct agent_peer *p, const char *why, bool bad_data);
/* Index requests wait (up to a few seconds) for the first poll of static peers. */
void agent_peers_when_ready(struct agent *a, agent_done_cb cb, void *ud);
/* The store's sequence moved to seq: update our TXT record. */
void agent_peers_announce(struct agent *a, uint64_t seq);
/* Poll it now (hello, then the manifest if its sequence moved); if a poll is in
 * flight, once more when it ends. */
void agent_peer_poll_now(struct agent_peer *p);
/* Its news said its sequence moved: fetch the manifest delta now (no hello:
 * the signed news proved it live), or poll when it is not live. */
void agent_peer_manifest_now(struct agent_peer *p);
/* Its news listed what it gained since a sequence at or before the manifest we
 * hold: add that (as a delta would) and return true; false when it cannot be
 * applied (no gains, our copy is older, a poll is in flight), and then the
 * manifest delta is fetched as before. */
bool agent_peer_apply_gains(struct agent_peer *p, const struct proto_news *n);
/* v ordered best first (peer_select_order, a little noise for equals), one per
 * key; returns how many are left. */
size_t agent_peers_order(struct agent_peer **v, size_t n);
/* A number in [0, bound) from a cheap generator seeded once (spreading only:
 * not for keys or nonces). */
uint32_t agent_peers_noise(uint32_t bound);
/* A peer as peer_select.h sees it (ref = p; tried, busy and noise left 0). */
struct peer_cand agent_peer_cand(struct agent_peer *p);
/* The live peer whose address has this IP (any port), for upload accounting. */
struct agent_peer *agent_peer_by_ip(struct agent *a, const struct sockaddr *sa);
const char *agent_peer_via_name(enum peer_via v);
const char *agent_peer_state_name(enum peer_state s);
/* The table's first peer (then p->next), NULL when empty. */
struct agent_peer *agent_peers_first(const struct agent *a);
/* The first polls of static peers have ended (or timed out). */
bool agent_peers_ready(const struct agent *a);
/* mDNS discovery (NULL when off or not started). */
struct agent_discovery *agent_peers_discovery(const struct agent *a);
/* A transfer from p starts (it counts against p's download slots) or ends. */
void agent_peer_slot_take(struct agent_peer *p);
void agent_peer_slot_give(struct agent_peer *p);

#endif
