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
 *     written to tmp/, made durable (fsync, or one syncfs for a batch), then
 *     renamed into place; only then is its directory synced and the blob
 *     recorded.
 *   - A blob is admitted only when a trusted index entry carries its digest as
 *     cksum (store_blob_commit checks the bytes, store_blob_record the entry).
 *   - An index entry is immutable per (name, version) apart from `yanked`.
 *
 * Threads: a struct store (one SQLite connection) belongs to one thread. A
 * second thread (e.g. an import on the libuv thread pool) opens its own.
 * The blob writer, store_blob_commit*() and the blob batch touch only files
 * and keep no pointer to the struct store: they may run on any thread, and
 * outlive store_close().
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
/* Whether an entry of this origin rests on a signer's word (a peer's, or a
 * bundle's), not on the registry's or the user's own Cargo cache: online, the
 * upstream overrides it and drops what it does not list. */
bool store_origin_signed(int origin);

struct store;

/* What went wrong, in words for the person who runs cratecast: one sentence
 * without a newline that names the file and says what is wrong with it
 * ("DIR/store.db is not a SQLite database"). store/ never prints it; the
 * caller does, and adds what to do about it (it knows its commands and
 * options). Filled by the *_err functions below on failure, "" on success. */
struct store_error {
    char text[1024];
};

/* Open (creating if needed) the store at dir: creates the directories and the
 * schema (upgrading an older one), empties tmp/. Returns 0 or one of:
 *   -EINVAL       dir is empty
 *   -ENOTDIR      dir, a component of it, or blobs/, tmp/ or quarantine/ in it
 *                 is not a directory
 *   -EACCES, -EROFS  dir (or what is in it) cannot be written
 *   -ENODATA      store.db is empty (0 bytes) while blobs/ holds blobs: refused,
 *                 not taken for a new store (that would forget every blob);
 *                 with blobs/ empty, nothing can be lost: it becomes a new store
 *   -EBADMSG      store.db is not a SQLite database, or a SQLite database that
 *                 is not a store (tables, but no schema version)
 *   -EUCLEAN      store.db is damaged (SQLite reports corruption)
 *   -EPROTONOSUPPORT  store.db was written by a newer cratecast (its schema
 *                 version is above this code's): refused, not altered
 *   -EBUSY        another process held store.db locked beyond the busy timeout
 *   -ENOSPC, -EIO, -ENOMEM, -errno from the file system
 * A refused store is left as it was: nothing is created, cleaned or written
 * in it (for a damaged store.db, not even tmp/ is emptied).
 * Concurrent opens of a new directory, from threads or processes, all
 * succeed: store.db is created under a lock (flock of DIR) and has its schema
 * before the lock is released, and an upgrade re-reads the version after
 * taking the write lock. err (may be NULL) explains a failure. */
int store_open_err(const char *dir, struct store **out, struct store_error *err);
/* store_open_err without the explanation. */
int store_open(const char *dir, struct store **out);
void store_close(struct store *s); /* NULL-safe; releases the agent lock */
const char *store_dir(const struct store *s);
/* The last error of this store (a SQLite message, or the text of the last
 * store_identity / store_agent_lock failure), for logging. */
const char *store_errmsg(const struct store *s);

/* ---- the agent lock ---------------------------------------------------------
 *
 * One agent per store: DIR/agent.lock is flock'ed (LOCK_EX | LOCK_NB) by the
 * agent for as long as its struct store is open, and holds the agent's pid in
 * decimal (for the message of the one refused). The lock goes with the open
 * file, so a crashed agent never leaves a stale lock; the file itself stays.
 * One-shot commands (import-cargo, verify, id) never take it and run beside an
 * agent. Returns 0 (held until store_close; again 0 if already held by s),
 * -EBUSY when another process holds it (err names its pid when it wrote one),
 * -errno. */
int store_agent_lock(struct store *s, struct store_error *err);

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
    int origin;     /* enum store_origin of the source that first described it */
    char *line;     /* original bytes, NUL-terminated for convenience */
    size_t line_len;
};
struct store_index_list {
    struct store_index_row *rows; /* in the order the entries first arrived */
    size_t n;
    int64_t updated; /* unix time the newest of these entries was added or changed */
};
/* All entries for a crate name (case-insensitive). n == 0 when unknown. The
 * rows with have_blob join the held set (store_crate_open): Cargo asks for an
 * index file before the crates it lists. */
int store_index_list(struct store *s, const char *name, struct store_index_list *out);
void store_index_list_free(struct store_index_list *l); /* NULL-safe */

/* The one entry for (name, version), if any: 0 and *row filled (free with
 * store_index_row_free), -ENOENT. */
int store_index_get(struct store *s, const char *name, const char *vers,
                    struct store_index_row *row);
void store_index_row_free(struct store_index_row *row);

/* How an index entry from a source was taken in (store_index_ingest). */
enum store_ingest {
    STORE_INGEST_NEW = 0,  /* a new (name, version) */
    STORE_INGEST_HELD,     /* already held with the same content (the yanked flag follows) */
    STORE_INGEST_REPLACED, /* from the upstream: replaced a contradicting entry that only a
                              peer or a bundle vouched for (that entry and its crate are gone) */
    STORE_INGEST_CONFLICT, /* contradicts the entry already held: rejected, nothing changed */
};
/* The one way index entries come in, whatever brought them (a fetch from the
 * upstream or a peer, the CARGO_HOME import, a bundle): store_index_put with
 * the upstream authoritative. From origin STORE_ORIGIN_UPSTREAM, a held entry
 * only a peer or a bundle vouched for gives way when the upstream contradicts it, and is
 * recorded as the upstream's when the upstream repeats it; any other held
 * entry wins over whatever contradicts it. Returns an enum store_ingest, or a
 * negative errno on a database error (see store_errmsg). Inside the caller's
 * transaction when one is open. */
int store_index_ingest(struct store *s, const struct proto_index_entry *e, int origin,
                       const char *detail);

/* Remove the entry for (name, version): the upstream, authoritative online,
 * does not list it. When no other entry carries its cksum, the blob (if any)
 * is not trusted any more: its record and file go too (*blob_dropped). The
 * entry leaves the held set (store_crate_open) first.
 * 0, -ENOENT, -EIO. Loop thread (it writes the database). */
int store_index_drop(struct store *s, const char *name, const char *vers, bool *blob_dropped);

/* An entry first described by a peer or a bundle (store_origin_signed) was
 * confirmed, identical, by a stronger source (the upstream): it is recorded as
 * that source's from now on. No-op for entries of any other origin. 0,
 * -ENOENT, -EIO. */
int store_index_confirm(struct store *s, const char *name, const char *vers, int origin,
                        const char *origin_detail);

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
/* Open the blob file of sha read-only: its descriptor (>= 0, the caller
 * closes it) and *size (not asked when size is NULL: no fstat), or -ENOENT
 * (no such file, or not a regular file), -errno. No database. */
int store_blob_open(const struct store *s, const uint8_t sha[PROTO_SHA256_LEN], uint64_t *size);

/* ---- serving a crate (store/held.c) ------------------------------------------
 *
 * A crate download asks one question: does (name, vers) have an entry whose
 * cksum is sha, and is that blob here? store_crate_open answers it by opening
 * the blob file, so the caller sends what was opened (a file removed just
 * before is seen by the open, not after a separate check). Returns:
 *   fd >= 0   the blob file, open read-only, and *size its size: the caller
 *             closes it (and may read it after anything else removes it)
 *   -ENOENT   no entry of (name, vers) with that cksum (name matched
 *             case-insensitively)
 *   -ENODATA  the entry is there, its blob is not: not recorded, or recorded
 *             but its file is gone (verify quarantined it, an eviction
 *             removed it): fetch it
 *   -EIO      a database error (store_errmsg); -ENOMEM; -errno from open(2)
 *             (e.g. -EMFILE)
 * The held set: what this connection has learnt is held (an answer of fd >= 0,
 * a listing's rows with have_blob) is remembered, at most STORE_HELD_MAX
 * (name, vers, sha) triples, least recently used out; a remembered triple is
 * answered with one open(2) and no database read. Entries are removed only
 * by store_index_drop, which forgets them here and which only the agent's
 * own connection calls (on the upstream's word; every other writer only
 * adds); a blob removed by any connection or process is found gone at the
 * open and asked of the database again. So a remembered triple can cost an
 * open, never serve other bytes than the file named by sha. Loop thread (the
 * owner of s). */
#define STORE_HELD_MAX 1024
int store_crate_open(struct store *s, const char *name, const char *vers,
                     const uint8_t sha[PROTO_SHA256_LEN], uint64_t *size);
/* Triples in the held set (for tests and measurement). */
size_t store_held_count(const struct store *s);

/* ---- writing a blob ----------------------------------------------------------
 *
 * The one way bytes become a blob. A writer is a new file in DIR/tmp/ (created
 * O_EXCL and flock'ed) and a running SHA-256 of what was written to it:
 *
 *   store_blob_writer_open     WRITING   (the temporary file exists)
 *   store_blob_writer_write    WRITING, or FAILED on an error (-EFBIG past the
 *                              size cap, -ENOSPC, ...): every later write
 *                              returns that error again and writes nothing
 *   store_blob_writer_finish   digest checked (-EBADMSG: the file is removed),
 *                              fsync, rename to blobs/xx/<sha>, fsync blobs/xx
 *                              (and blobs/ when xx was made); on any error the
 *                              temporary file is removed. Frees the writer.
 *   store_blob_writer_abort    the temporary file is removed. Frees the writer.
 *
 * So nothing unverified ever has a blob name, and a crash leaves at most a file
 * in tmp/ (removed at the next store_open). Ownership: the caller owns the
 * writer from open until it calls exactly one of finish and abort (both free
 * it, also after an error). A writer is used by one thread at a time but may
 * change threads between calls: the agent opens and writes on the loop thread
 * (write is a hash update and a write(2) into the page cache: cheap enough for
 * small chunks there) and finishes on the libuv pool (fsync and rename block).
 * The writer copies the paths it needs: it does not use the struct store after
 * open, and touches no database (record the blob with store_blob_record after
 * finish, on the store's own thread). */
struct store_blob_writer;

/* max_size: bytes beyond min(max_size, STORE_BLOB_MAX) fail with -EFBIG.
 * -errno from creating the temporary file, -ENOMEM. */
int store_blob_writer_open(const struct store *s, const uint8_t expect_sha[PROTO_SHA256_LEN],
                           uint64_t max_size, struct store_blob_writer **out);
/* The same, for bytes the caller stages in page-aligned buffers (a bundle
 * import): a write whose buffer address and length are multiples of
 * STORE_DIRECT_ALIGN goes straight to the device (O_DIRECT, where the file
 * system takes it: no page cache to fill and write back); the first write
 * that is not (the tail of the blob) ends that for the rest of the file. */
#define STORE_DIRECT_ALIGN 4096
int store_blob_writer_open_direct(const struct store *s, const uint8_t expect_sha[PROTO_SHA256_LEN],
                                  uint64_t max_size, struct store_blob_writer **out);
int store_blob_writer_write(struct store_blob_writer *w, const void *buf, size_t len);
/* Bytes written so far. */
uint64_t store_blob_writer_size(const struct store_blob_writer *w);
/* A new read-only descriptor of the bytes being written (for relaying them as
 * they arrive: they are unverified until finish). It stays valid after finish
 * renames or abort removes the file; the caller closes it. -errno, or -EBADF
 * once the writer failed or was sealed. */
int store_blob_writer_reader(const struct store_blob_writer *w);
int store_blob_writer_finish(struct store_blob_writer *w);
void store_blob_writer_abort(struct store_blob_writer *w); /* NULL-safe */

/* A whole buffer through one writer: -EBADMSG on a digest mismatch, -EFBIG
 * over STORE_BLOB_MAX (checked before a byte is read), -errno from the file
 * system (e.g. -ENOSPC). Nothing is left in tmp/ on error. Any thread. */
int store_blob_commit(const struct store *s, const uint8_t sha[PROTO_SHA256_LEN],
                      const uint8_t *buf, size_t len);
/* The same from a file (copied, not moved; the source is not modified; each
 * byte is read once, hashed and written from the same buffer). -EINVAL when it
 * is not a regular file. */
int store_blob_commit_file(const struct store *s, const uint8_t sha[PROTO_SHA256_LEN],
                           const char *src_path);

/* ---- many blobs at once (import) -----------------------------------------------
 *
 * A batch copies files into the store on a few worker threads and makes them
 * durable together, which is what makes an import run at hashing speed:
 *
 *   store_blob_batch_add_file  queues one copy. A worker reads the source once,
 *                              hashes each chunk and writes the same chunk to
 *                              a tmp/ file (O_DIRECT where the file system
 *                              takes it: no page cache to fill and write back),
 *                              then checks the digest.
 *   store_blob_batch_publish   takes the copies that are done (all=true: waits
 *                              for every queued one first) and, for those:
 *                              1. one syncfs(2) of the store's file system:
 *                                 their data and sizes are durable (a failure
 *                                 falls back to fsync of each file, so only a
 *                                 failing file is lost);
 *                              2. renames each into blobs/xx/ -- after 1, so a
 *                                 blob name never names bytes a crash could
 *                                 lose or that were not verified;
 *                              3. one fsync per blobs/xx directory touched (and
 *                                 blobs/ when one was made);
 *                              then calls cb once per copy with its result.
 *   store_blob_batch_free      stops the workers; copies not published are
 *                              removed from tmp/.
 *
 * The batch touches no database: record the published blobs (e.g. in one
 * store_begin/store_commit) after publish returns, not during it, so the
 * database's write lock is never held across the fsyncs. syncfs also writes
 * whatever else is dirty on that file system: a batch pays for it once, not
 * per file.
 *
 * Threads: one caller thread (add_file, ready, publish, free); the workers are
 * internal. Worker threads start with every signal blocked. */
struct store_blob_batch;

/* threads < 0: the default (four per online CPU, 4..16: a worker waits for
 * its writes about as long as it hashes); 0: no threads, add_file copies
 * before it returns; > 0: that many (at most 16). -ENOMEM; thread-creation failures
 * fall back to fewer threads, then to none. */
int store_blob_batch_open(const struct store *s, int threads, struct store_blob_batch **out);
/* Queue src_path to become blob sha; ud is handed back to the callback. Waits
 * while the workers have enough queued work; -ENOBUFS (nothing queued) when
 * the copies not yet published reach the batch's limit of open files (call
 * publish, then again); -ENOMEM. Errors of the copy itself (-ENOENT, -EINVAL
 * for a non-regular file, -EFBIG, -EBADMSG, -ENOSPC, ...) reach the callback. */
int store_blob_batch_add_file(struct store_blob_batch *b, const uint8_t sha[PROTO_SHA256_LEN],
                              const char *src_path, void *ud);
/* Hand over a writer the caller filled (store_blob_writer_open, _write) as
 * one more copy: its digest is checked now (a mismatch, or an earlier write
 * error, reaches the callback at publish, its temporary file already gone),
 * and publish makes it durable with the others. The batch owns w from this
 * call on, except after -ENOBUFS: the copies not yet published reach the
 * batch's limit of open files; the caller keeps w, publishes, and hands it
 * over again. Otherwise 0, or -ENOMEM/-EINVAL (w aborted). For bytes that
 * arrive as a stream (a bundle) rather than as files. */
int store_blob_batch_add_writer(struct store_blob_batch *b, struct store_blob_writer *w, void *ud);
/* Copies done and not yet published (count), and their bytes (*bytes). */
size_t store_blob_batch_ready(struct store_blob_batch *b, uint64_t *bytes);

/* result: 0 when the blob is durable under its name, else why not (nothing
 * of it is then left in tmp/; after a directory fsync error the file may stay
 * under its name, complete and verified, but unrecorded). size: bytes copied. */
typedef void (*store_blob_batch_cb)(void *ctx, void *ud, const uint8_t sha[PROTO_SHA256_LEN],
                                    uint64_t size, int result);
/* Returns the number of copies reported through cb (on the caller's thread,
 * after all three steps). */
size_t store_blob_batch_publish(struct store_blob_batch *b, bool all, store_blob_batch_cb cb,
                                void *ctx);
void store_blob_batch_free(struct store_blob_batch *b); /* NULL-safe */

/* ---- blob records ---------------------------------------------------------- */

/* Record a committed blob in the database, in one transaction (nested in the
 * caller's when one is open). -EPERM when no trusted index entry has sha as its
 * cksum (the file is then removed), -ENOENT when the file is missing.
 * Idempotent: a blob already recorded only has last_used set. */
int store_blob_record(struct store *s, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size,
                      int origin);

/* A blob a batch published (store_blob_batch_cb's values), to be recorded. */
struct store_blob_result {
    uint8_t sha[PROTO_SHA256_LEN];
    uint64_t size;
    int rc; /* the copy's result; store_blob_record_all sets the record's */
};
/* Record the published blobs of v (those whose rc is 0) in one transaction;
 * after a database error, each on its own. Each rc becomes the result of its
 * record (an rc < 0 on entry is left as it is). Call it after publish, so
 * the write lock is never held across the batch's fsyncs. */
void store_blob_record_all(struct store *s, struct store_blob_result *v, size_t n, int origin);

/* Mark a blob used now (for LRU eviction) without writing the database: the
 * digest joins an in-memory set (deduplicated, at most STORE_TOUCH_MAX
 * distinct digests; when full it is flushed first). 0, or the error of that
 * flush (the touch is then dropped), -ENOMEM. A digest with no blob row is
 * ignored at flush. */
#define STORE_TOUCH_MAX 4096
int store_blob_touch(struct store *s, const uint8_t sha[PROTO_SHA256_LEN]);
/* Write the pending touches in one transaction (last_used = now: ~1 s
 * precision when called from a 1-second tick). 0 with nothing pending; -EIO
 * (the set is kept for the next flush). store_close flushes too. */
int store_touch_flush(struct store *s);
/* Touches waiting for store_touch_flush. */
size_t store_touch_pending(const struct store *s);

/* Write transactions this connection has committed since store_open
 * (SQLite's commit hook: an autocommit statement counts as one). For tests and
 * measurement: a fetched crate's record is exactly one. */
uint64_t store_commits(const struct store *s);

/* ---- identity ------------------------------------------------------------- */

/* This store's Ed25519 identity (libsodium), made at first use: DIR/identity.key
 * holds the 64-byte secret key (libsodium layout: seed || public key), mode
 * 0600, written to tmp/, fsynced, then link()ed to its name (so concurrent first
 * starts end with one key). A key file of the wrong size, whose public half
 * its seed does not make, or that is not a regular file is refused
 * (-EBADMSG), one with group/other permissions too (-EPERM), a symlink
 * (-ELOOP): never silently replaced. err (may be NULL) explains a failure;
 * store_errmsg(s) says the same. */
int store_identity_err(struct store *s, uint8_t pk[32], uint8_t sk[64], struct store_error *err);
int store_identity(struct store *s, uint8_t pk[32], uint8_t sk[64]);

/* ---- change sequence (what manifests announce) ----------------------------- */

/* A per-store counter that moves on with every change a peer could care about:
 * each index put that returns STORE_PUT_NEW or STORE_PUT_YANK and each new
 * blob record takes the next value, stored with the row; each eviction batch
 * takes one too (store_removed_seq). Survives restarts. */
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

/* ---- eviction (store/evict.c) ----------------------------------------------
 *
 * The store is bounded by removing whole blobs, least recently used first;
 * index entries always stay (an evicted crate is fetched again when needed).
 * The order (store_evict):
 *   1. blobs not pinned within keep_days, by last_used (oldest first), then
 *   2. pinned blobs, by last_used,
 * ties by sha256. last_used is what store_touch_flush wrote (store_evict
 * flushes this connection's touches first; another process's pending touches,
 * at most its last second, are not seen).
 *
 * Crash order, per batch of at most STORE_EVICT_BATCH blobs:
 *   a. one transaction deletes their rows, records each file (sha256, device,
 *      inode) in the blob_unlink journal, takes the next change number and
 *      makes it store_removed_seq, committed with synchronous=FULL (durable
 *      before any file goes);
 *   b. each file is unlinked, if it is still the one journalled (a newer copy
 *      renamed there by a writer since is left to be recorded);
 *   c. the journal rows go (one transaction).
 * So a row never outlives its file: a crash anywhere leaves rows whose files
 * exist, and at worst files whose rows are gone, listed in the journal; the
 * next store_evict (and store_verify) finishes those first. */

#define STORE_EVICT_BATCH 256
#define STORE_KEEP_DAYS_DEFAULT 30 /* cratecast gc --keep-days, and the agent's */

/* Mark a blob as needed by a prefetch at `now` (unix seconds; a later pin
 * wins, an earlier one is ignored). 0, -ENOENT (no blob row), -EIO. */
int store_blob_pin(struct store *s, const uint8_t sha[PROTO_SHA256_LEN], int64_t now);

struct store_evict_result {
    uint64_t removed;         /* blob rows removed (their files unlinked) */
    uint64_t removed_pinned;  /* of which pinned within keep_days */
    uint64_t bytes_freed;     /* the sum of their sizes */
    uint64_t bytes_remaining; /* the sum of the sizes of the blob rows left */
    uint64_t unlinked_late;   /* files of an earlier, interrupted eviction removed now */
};

/* While the blobs recorded total more than max_bytes, remove blobs in the
 * order above (max_bytes 0: every blob). now: unix seconds; a blob is pinned
 * when pinned_at >= now - keep_days * 86400 (keep_days 0: nothing is).
 * Each batch that removes something moves store_seq by one and sets
 * store_removed_seq to it. A blob used or pinned (by another connection)
 * between being listed and being deleted is skipped. Already under the limit:
 * nothing is removed and the sequence does not move. out (may be NULL) is
 * filled also on error, with what was done until then. Not inside an open
 * transaction (-EINVAL). Blocking (unlinks, one fsync per batch): the agent
 * should call it off its busy paths, e.g. from a timer every few minutes, or
 * on the thread pool with its own struct store. */
int store_evict(struct store *s, uint64_t max_bytes, int64_t now, unsigned keep_days,
                struct store_evict_result *out);

/* The change number of the last eviction batch (0 when nothing was ever
 * evicted). A peer that last saw sequence `since` < store_removed_seq holds a
 * view listing blobs that are gone: answer it with a full manifest, not with
 * "what changed after since". Read from the database, so an eviction by
 * another process (`cratecast gc`) counts too. */
uint64_t store_removed_seq(struct store *s);

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
