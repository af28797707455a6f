/* store/store.h — what this machine holds, and why it trusts it.
 *
 * Layout of a store directory DIR:
 *   DIR/store.db            SQLite (WAL): index entries, index-file metadata, blobs
 *   DIR/blobs/ab/<sha256>   one .crate per file, named by its lower-case hex SHA-256
 *   DIR/tmp/                temporary files; anything here at open is garbage
 *   DIR/quarantine/         blobs whose bytes no longer match their name (verify)
 *
 * Invariants (see docs/store.md):
 *   - A file under blobs/ has exactly the SHA-256 of its name: it was hashed while
 *     written to tmp/, fsynced, then renamed into place.
 *   - A blob is admitted only when a trusted index entry carries its digest as
 *     cksum (store_blob_commit checks the bytes, store_blob_record the entry).
 *   - An index entry is immutable per (name, version) apart from `yanked`.
 *
 * Threads: a struct store (one SQLite connection) belongs to one thread. A
 * second thread (e.g. an import on the libuv thread pool) opens its own.
 * store_blob_commit() touches only files and may run on any thread.
 * Every function returns 0 or a negative errno unless stated otherwise.
 */
#ifndef CRATECAST_STORE_STORE_H
#define CRATECAST_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/index_line.h"
#include "proto/sha256.h"

#define STORE_BLOB_MAX (512ull << 20) /* the largest .crate accepted */

enum store_origin {
    STORE_ORIGIN_UPSTREAM = 1,   /* fetched from the upstream registry */
    STORE_ORIGIN_CARGO_HOME = 2, /* imported from a local CARGO_HOME */
    STORE_ORIGIN_PEER = 3,       /* from a peer (origin_detail = its key id) */
    STORE_ORIGIN_BUNDLE = 4,
};
const char *store_origin_name(int origin);

struct store;

/* Open (creating if needed) the store at dir. Creates the directories, the
 * schema, empties tmp/. -errno from mkdir, -EIO for a database error. */
int store_open(const char *dir, struct store **out);
void store_close(struct store *s); /* NULL-safe */
const char *store_dir(const struct store *s);
/* Last SQLite error message, for logging. */
const char *store_errmsg(const struct store *s);

/* ---- index entries -------------------------------------------------------- */

enum store_put_result {
    STORE_PUT_NEW = 0,  /* a new (name, version) */
    STORE_PUT_SAME = 1, /* identical content, nothing changed */
    STORE_PUT_YANK = 2, /* same content, yanked flag (and line) updated */
};
/* Insert or update one entry. Returns a store_put_result (>= 0), -EEXIST when
 * it contradicts the entry already held (different content hash): nothing is
 * changed; -EIO. Name matching is case-insensitive (as crates.io's). */
int store_index_put(struct store *s, const struct proto_index_entry *e, int origin,
                    const char *origin_detail);

/* Group many puts into one transaction (import). Nestable: only the outermost
 * begin/commit act. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

struct store_index_row {
    char vers[PROTO_VERS_MAX + 1];
    uint8_t cksum[PROTO_SHA256_LEN];
    bool yanked;
    bool have_blob; /* a verified blob with this cksum is in the store */
    char *line;     /* original bytes, NUL-terminated for convenience */
    size_t line_len;
};
struct store_index_list {
    struct store_index_row *rows; /* in the order the entries first arrived */
    size_t n;
    int64_t updated; /* unix time the newest of these entries was added or changed */
};
/* All entries for a crate name (case-insensitive). n == 0 when unknown. */
int store_index_list(struct store *s, const char *name, struct store_index_list *out);
void store_index_list_free(struct store_index_list *l); /* NULL-safe */

/* The one entry for (name, version), if any: 0 and *row filled (free with
 * store_index_row_free), -ENOENT. */
int store_index_get(struct store *s, const char *name, const char *vers,
                    struct store_index_row *row);
void store_index_row_free(struct store_index_row *row);

/* True when some trusted index entry has this cksum. */
bool store_cksum_trusted(struct store *s, const uint8_t sha[PROTO_SHA256_LEN]);

/* Metadata of the upstream index file last seen for a crate (conditional GET).
 * Strings are copied into the caller's buffers (truncated to fit). */
struct store_index_meta {
    char etag[256];
    char last_modified[64];
    int64_t fetched_at; /* unix seconds; 0 = never */
    bool not_found;     /* the upstream answered 404 at fetched_at */
};
int store_index_meta_get(struct store *s, const char *name,
                         struct store_index_meta *m); /* -ENOENT */
int store_index_meta_put(struct store *s, const char *name, const struct store_index_meta *m);

/* ---- blobs ---------------------------------------------------------------- */

/* Path of the blob file for sha (whether or not it exists). */
int store_blob_path(const struct store *s, const uint8_t sha[PROTO_SHA256_LEN], char *out,
                    size_t outsz);
/* True when the blob is recorded and its file exists. */
bool store_blob_has(struct store *s, const uint8_t sha[PROTO_SHA256_LEN]);

/* Hash buf; when it equals sha, write it to tmp/, fsync, rename to its blob
 * path, fsync the directory. -EBADMSG on a digest mismatch (nothing written),
 * -EFBIG over STORE_BLOB_MAX, -errno from the file system (e.g. -ENOSPC; the
 * temporary file is removed). Touches no database: safe on any thread. */
int store_blob_commit(const struct store *s, const uint8_t sha[PROTO_SHA256_LEN],
                      const uint8_t *buf, size_t len);
/* The same from a file (copied, not moved; the source is not modified). */
int store_blob_commit_file(const struct store *s, const uint8_t sha[PROTO_SHA256_LEN],
                           const char *src_path);

/* Record a committed blob in the database. -EPERM when no trusted index entry
 * has sha as its cksum (the file is then removed), -ENOENT when the file is
 * missing. Idempotent. */
int store_blob_record(struct store *s, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size,
                      int origin);
/* Mark a blob used now (for LRU eviction). */
int store_blob_touch(struct store *s, const uint8_t sha[PROTO_SHA256_LEN]);

/* ---- identity ------------------------------------------------------------- */

/* This store's Ed25519 identity (libsodium), made at first use: DIR/identity.key
 * holds the 64-byte secret key (libsodium layout: seed || public key), mode
 * 0600, written to tmp/, fsynced, then link()ed to its name (so concurrent first
 * starts end with one key). A key file of the wrong size or
 * with group/other permissions is refused (-EBADMSG / -EPERM): never silently
 * replaced. */
int store_identity(struct store *s, uint8_t pk[32], uint8_t sk[64]);

/* ---- change sequence (what manifests announce) ----------------------------- */

/* A per-store counter that moves on with every change a peer could care about:
 * each index put that returns STORE_PUT_NEW or STORE_PUT_YANK and each new
 * blob record takes the next value, stored with the row. Survives restarts. */
uint64_t store_seq(struct store *s);

struct store_blob_item {
    uint8_t sha256[PROTO_SHA256_LEN];
    uint64_t size;
};
/* Blobs recorded after sequence `since` (0 = all), malloc'd array. */
int store_blobs_since(struct store *s, uint64_t since, struct store_blob_item **out, size_t *n);
/* Distinct lower-case crate names with an entry added or changed after
 * `since` (0 = all names), malloc'd array of malloc'd strings. */
int store_index_names_since(struct store *s, uint64_t since, char ***out, size_t *n);
void store_names_free(char **names, size_t n);

/* ---- whole-store ---------------------------------------------------------- */

struct store_stats {
    uint64_t crates;        /* blobs recorded */
    uint64_t bytes;         /* their total size */
    uint64_t index_entries; /* (name, version) entries */
    uint64_t index_crates;  /* distinct names */
};
int store_stats(struct store *s, struct store_stats *out);

/* Re-hash every recorded blob. A missing file is dropped from the database; a
 * file whose bytes do not match is moved to quarantine/ and dropped. The
 * callback (may be NULL) is told of each problem. */
typedef void (*store_verify_cb)(void *ud, const char *sha_hex, const char *problem);
struct store_verify_result {
    uint64_t checked, ok, missing, quarantined;
};
int store_verify(struct store *s, store_verify_cb cb, void *ud, struct store_verify_result *out);

#endif
