/* proto/peer.h — the agent-to-agent protocol's messages (pure; no I/O).
 *
 * See docs/protocol.md for the HTTP endpoints that carry them. Every message
 * that states what a peer holds is signed with the sender's Ed25519 key
 * (libsodium) over a domain-separated encoding, so a relay or a spoofed mDNS
 * answer cannot forge it, and a signature for one message type can never be
 * replayed as another (the envelope: proto/envelope.h).
 *
 * Decoders check every length before reading, cap every count, verify the
 * signature against the key in the body, and return -EBADMSG (malformed),
 * -EMSGSIZE (over a cap), -EPROTO (unknown magic/version/type), -EPERM (bad
 * signature), -ENOMEM. The caller still has to check that the key is the one
 * it expects (the peer's hello key, or an mDNS key id).
 */
#ifndef CRATECAST_PROTO_PEER_H
#define CRATECAST_PROTO_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/addr.h"
#include "proto/envelope.h"
#include "proto/name.h"
#include "proto/sha256.h"

#define PROTO_PEER_VERSION 1
#define PROTO_NONCE_LEN 32
#define PROTO_KEY_TEXT_LEN 43  /* base64url, no padding */
#define PROTO_KEYID_HEX_LEN 16 /* hex of the first 8 bytes of BLAKE2b-256(pk) */
#define PROTO_MANIFEST_CRATES_MAX 500000u
#define PROTO_MANIFEST_INDEX_MAX 500000u
#define PROTO_PEX_MAX 64u

/* Capabilities in a hello. */
#define PROTO_CAP_MANIFEST 0x1u
#define PROTO_CAP_DELTA 0x2u
#define PROTO_CAP_CRATE 0x4u
#define PROTO_CAP_INDEX 0x8u
#define PROTO_CAP_PEX 0x10u
#define PROTO_CAP_NEWS 0x20u  /* serves GET /peer/1/news (long poll) */
#define PROTO_CAP_RELAY 0x40u /* serves a crate it is fetching as the bytes arrive */

/* ---- keys ---------------------------------------------------------------- */

/* base64url (no padding) of a public key: 43 chars + NUL. */
void proto_key_encode(const uint8_t pk[PROTO_PK_LEN], char out[PROTO_KEY_TEXT_LEN + 1]);
/* 0 or -EINVAL. Accepts exactly the encode output. */
int proto_key_decode(const char *s, size_t len, uint8_t pk[PROTO_PK_LEN]);
/* Short id for TXT records and logs: 16 lower-case hex chars + NUL. */
void proto_key_id(const uint8_t pk[PROTO_PK_LEN], char out[PROTO_KEYID_HEX_LEN + 1]);

/* ---- hello --------------------------------------------------------------- */

/* GET /peer/1/hello?nonce=<64 hex>: proves the key holder is live (the
 * requester's fresh nonce is signed) and says what it serves. */
struct proto_hello {
    uint8_t pk[PROTO_PK_LEN];
    uint16_t version;   /* PROTO_PEER_VERSION */
    uint32_t caps;      /* PROTO_CAP_* */
    uint64_t seq;       /* current manifest sequence */
    uint64_t time;      /* sender's unix time */
    uint16_t peer_port; /* the sender's peer-side port (0 = does not serve) */
    uint8_t nonce[PROTO_NONCE_LEN];
};

/* ---- manifest ------------------------------------------------------------ */

struct proto_manifest_crate {
    uint8_t sha256[PROTO_SHA256_LEN];
    uint64_t size;
};
struct proto_manifest_index {
    char name[PROTO_NAME_MAX + 1];  /* lower-case crate name */
    uint8_t hash[PROTO_SHA256_LEN]; /* SHA-256 of the index file body it would serve */
    uint64_t updated;               /* unix time its content last changed */
};

/* GET /peer/1/manifest[?since=N]: what the sender holds. since == 0 is a full
 * manifest; since > 0 lists only what changed after sequence `since` (a delta:
 * the receiver adds it to the full manifest it has for that sequence). */
struct proto_manifest {
    uint8_t pk[PROTO_PK_LEN];
    uint64_t seq;
    uint64_t since;
    uint64_t time;
    struct proto_manifest_crate *crates; /* malloc'd by decode */
    uint32_t ncrates;
    struct proto_manifest_index *index; /* malloc'd by decode */
    uint32_t nindex;
    char (*pex)[PROTO_PEER_ADDR_MAX + 1]; /* peers the sender knows ("host:port"), malloc'd */
    uint32_t npex;
};
void proto_manifest_clear(struct proto_manifest *m); /* frees the arrays; NULL-safe */

/* ---- index file ---------------------------------------------------------- */

/* GET /peer/1/index/<name>: the index lines the sender holds for one crate,
 * covered by its signature. body/len point into the decoder's output buffer. */
struct proto_peer_index {
    uint8_t pk[PROTO_PK_LEN];
    char name[PROTO_NAME_MAX + 1];
    uint64_t time;
    const uint8_t *lines; /* index-file bytes: JSON lines separated by '\n' */
    size_t len;
};

/* ---- encode / decode ----------------------------------------------------- */

/* Encoders sign with sk (whose public half must equal the message's pk),
 * compress the body with zstd when compress is true, and return a malloc'd
 * wire buffer in *out. 0 or -EINVAL/-EMSGSIZE/-ENOMEM. */
int proto_hello_encode(const struct proto_hello *h, const uint8_t sk[PROTO_SK_LEN], uint8_t **out,
                       size_t *outlen);
int proto_manifest_encode(const struct proto_manifest *m, const uint8_t sk[PROTO_SK_LEN],
                          bool compress, uint8_t **out, size_t *outlen);
int proto_peer_index_encode(const struct proto_peer_index *x, const uint8_t sk[PROTO_SK_LEN],
                            bool compress, uint8_t **out, size_t *outlen);

/* Decoders verify the envelope and the signature. On success *out is filled;
 * for the index message, *owned receives the decompressed body that x->lines
 * points into (free it after use). On error nothing needs freeing. */
int proto_hello_decode(const uint8_t *buf, size_t len, struct proto_hello *out);
int proto_manifest_decode(const uint8_t *buf, size_t len, struct proto_manifest *out);
int proto_peer_index_decode(const uint8_t *buf, size_t len, struct proto_peer_index *out,
                            uint8_t **owned);

/* ---- news (long poll) ----------------------------------------------------- */

#define PROTO_NEWS_FETCHING_MAX 1024u
#define PROTO_NEWS_PEERS_MAX 64u
#define PROTO_NEWS_GAINS_MAX 256u /* crates, and index entries, in one news message */

/* GET /peer/1/news?since=G&wait=S: answered at once when the sender's news
 * generation is not G, else when it changes or after S seconds. It says what
 * moved since the requester last looked, so holdings and peers spread within
 * a round trip instead of a polling period: the manifest sequence (fetch the
 * delta when it moved), the crates the sender is fetching right now (wait for
 * it rather than fetch the same bytes again), the live peers it knows (one
 * address joins the whole room), and its upload load.
 *
 * Asked with gains=1, the answer may also carry what the sender gained after
 * its sequence gains_since, up to seq: the crates and index entries a manifest
 * delta since gains_since would list. A receiver that holds the sender's
 * manifest at a sequence S with gains_since <= S <= seq adds them and holds
 * seq, without fetching the delta. */
struct proto_news {
    uint8_t pk[PROTO_PK_LEN];
    uint64_t gen;  /* changes whenever anything below does */
    uint64_t seq;  /* manifest sequence */
    uint64_t time; /* sender's unix time */
    uint16_t uploads, upload_slots, upload_waiting;
    uint8_t (*fetching)[PROTO_SHA256_LEN]; /* malloc'd by decode */
    uint32_t nfetching;
    struct proto_peer_addr *peers; /* malloc'd by decode */
    uint32_t npeers;
    bool has_gains;                      /* the trailer below is present (encoded only when true) */
    uint64_t gains_since;                /* <= seq */
    struct proto_manifest_crate *gained; /* malloc'd by decode; at most PROTO_NEWS_GAINS_MAX */
    uint32_t ngained;
    struct proto_manifest_index *gained_index; /* likewise */
    uint32_t ngained_index;
};
void proto_news_clear(struct proto_news *n); /* frees the arrays; NULL-safe */
int proto_news_encode(const struct proto_news *n, const uint8_t sk[PROTO_SK_LEN], uint8_t **out,
                      size_t *outlen);
int proto_news_decode(const uint8_t *buf, size_t len, struct proto_news *out);

/* ---- mDNS TXT record ----------------------------------------------------- */

/* The service's TXT strings: "v=1", "id=<keyid hex>", "seq=<decimal>", and
 * "net=<16 hex>" when a network key is in use. */
struct proto_txt {
    unsigned version;
    char id[PROTO_KEYID_HEX_LEN + 1];
    uint64_t seq;
    char net[PROTO_KEYID_HEX_LEN + 1]; /* "" when absent */
};
/* Writes each "key=value" string into out[i] (up to 4); returns how many. */
int proto_txt_encode(const struct proto_txt *t, char out[4][64]);
/* Parses a list of TXT strings (as avahi hands them: not NUL-terminated).
 * Unknown keys are ignored; a missing v or id, or an oversized string, is
 * -EBADMSG. Total size capped at 1300 bytes (-EMSGSIZE). */
int proto_txt_decode(const uint8_t *const *strs, const size_t *lens, size_t n,
                     struct proto_txt *out);

#endif
