/* store/internal.h — what the files of store/ share and nothing outside uses.
 *
 *   store.c        the database: open/close, schema and migrations, statements,
 *                  transactions, change sequence; temporary files; the agent lock
 *   index.c        index entries (put, get, list, drop, confirm), index-file
 *                  metadata, origins
 *   blob.c         blob paths and records, touches, verify and quarantine
 *   identity.c     the Ed25519 identity key
 *   blob_writer.c  one blob: tmp/ file, incremental SHA-256, publish
 *   blob_batch.c   many blobs copied by worker threads, made durable together
 *   evict.c        eviction by size (least recently used first), pins, and
 *                  finishing the unlinks of an eviction that crashed
 *   held.c         serving a crate: the blob file opened, and the held set
 *                  (what this connection knows is held, kept in memory)
 *
 * The helpers below touch only files below a store directory (never the
 * database): they run on any thread.
 */
#ifndef CRATECAST_STORE_INTERNAL_H
#define CRATECAST_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"

/* Alignment of O_DIRECT buffers, offsets and lengths: a page, which every
 * block device's logical block size divides. */
#define STORE__DIRECT_ALIGN ((unsigned)STORE_DIRECT_ALIGN)

/* snprintf into out; -ENAMETOOLONG when it does not fit. */
int store__path_fmt(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fsync a directory by path. */
int store__fsync_dir(const char *path);

/* Create a new DIR/tmp/<pid>-<counter>.tmp (O_EXCL, mode) and flock it: the
 * lock tells clean_tmp() of another struct store that the file is alive.
 * 0 and *fdp, or -errno with *fdp = -1 and nothing left behind. */
int store__tmp_create(const char *dir, mode_t mode, char *tmp, size_t tmpsz, int *fdp);

/* write(2) all of buf, retrying on EINTR and short writes. */
int store__write_all(int fd, const uint8_t *buf, size_t len);

/* ---- blob_writer.c: the steps of store_blob_writer_finish, for blob_batch.c */

/* As store_blob_writer_open, from a directory. direct: try O_DIRECT for the
 * page-aligned part of what store__blob_writer_copy_fd writes (the data then
 * goes to the device without filling the page cache; silently buffered where
 * the file system refuses it). */
int store__blob_writer_open(const char *dir, const uint8_t sha[PROTO_SHA256_LEN], uint64_t max_size,
                            bool direct, struct store_blob_writer **out);
/* Append everything src has left (read(2) until EOF) through buf, which must
 * be STORE__DIRECT_ALIGN-aligned and bufsz a multiple of it. Each chunk is
 * hashed from buf, then written from buf: what is hashed is what is written. */
int store__blob_writer_copy_fd(struct store_blob_writer *w, int src, uint8_t *buf, size_t bufsz);
/* Compare the digest: 0, or -EBADMSG (the writer is then failed). Once. */
int store__blob_writer_seal(struct store_blob_writer *w);
/* The digest the writer was opened to expect. */
void store__blob_writer_expect(const struct store_blob_writer *w, uint8_t sha[PROTO_SHA256_LEN]);
/* The writer's file descriptor (for fsync/syncfs), -1 after publish. */
int store__blob_writer_fd(const struct store_blob_writer *w);
/* After seal and after the data is durable: mkdir blobs/xx (*created tells),
 * rename the file to its blob name, close it. The caller fsyncs blobs/xx
 * (and blobs/ when *created). */
int store__blob_writer_rename(struct store_blob_writer *w, bool *created);
/* Close, remove the temporary file unless renamed, free. NULL-safe. */
void store__blob_writer_free(struct store_blob_writer *w);

/* ---- store.c: the connection, for index.c, blob.c and identity.c ----------
 *
 * Unlike the helpers above, these use the database: only on the thread that
 * owns the struct store. */

/* The prepared statements (their SQL: stmt_sql in store.c), made at open. */
enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_ENTRY_FIND,
    ST_ENTRY_INSERT,
    ST_ENTRY_YANK,
    ST_ENTRY_LIST,
    ST_ENTRY_GET,
    ST_CKSUM_TRUSTED,
    ST_META_GET,
    ST_META_PUT,
    ST_BLOB_HAS,
    ST_BLOB_INSERT,
    ST_BLOB_TOUCH,
    ST_BLOB_DELETE,
    ST_BLOB_ALL,
    ST_STATS_BLOBS,
    ST_STATS_INDEX,
    ST_SEQ_BUMP,
    ST_SEQ_GET,
    ST_BLOBS_SINCE,
    ST_NAMES_SINCE,
    ST_ENTRY_DELETE,
    ST_CKSUM_COUNT,
    ST_ENTRY_CONFIRM,
    ST_BLOB_PIN,
    ST_EVICT_UNPINNED,
    ST_EVICT_PINNED,
    ST_EVICT_DELETE,
    ST_UNLINK_ADD,
    ST_UNLINK_LIST,
    ST_UNLINK_DONE,
    ST_SEQ_REMOVED_SET,
    ST_SEQ_REMOVED_GET,
    ST__COUNT
};

struct touch_set; /* blob.c */
struct held_set;  /* held.c */

struct store {
    sqlite3 *db;
    char *dir;
    sqlite3_stmt *st[ST__COUNT];
    unsigned depth;            /* store_begin nesting */
    int doomed;                /* 0, or the error the outermost store_commit returns */
    uint64_t commits;          /* counted by on_commit */
    struct touch_set *touched; /* NULL until the first store_blob_touch */
    struct held_set *held;     /* NULL until the first store__held_put */
    int lock_fd;               /* DIR/agent.lock while store_agent_lock holds it, else -1 */
    char errmsg[sizeof(struct store_error)];
};

/* Copy src (NULL: "") into dst, truncated to fit, NUL-terminated. */
void store__copy_trunc(char *dst, size_t dstsz, const char *src);
/* Set s->errmsg (store_errmsg). */
void store__set_errmsg(struct store *s, const char *msg);
/* Record the connection's last error; returns -EIO for `return store__db_fail(s);`. */
int store__db_fail(struct store *s);
/* The statement, reset and unbound, ready for new bindings. */
sqlite3_stmt *store__stmt(struct store *s, enum stmt_id id);
/* Whether statement id, with a digest bound as its one parameter, yields a row
 * (a database error counts as no, and is recorded for store_errmsg). */
bool store__sha_has_row(struct store *s, enum stmt_id id, const uint8_t sha[PROTO_SHA256_LEN]);
/* Step a statement that returns no rows; leaves it reset. */
int store__exec_stmt(struct store *s, sqlite3_stmt *st);
/* Unix time in seconds. */
int64_t store__now_s(void);
/* Fill err (NULL: nothing) with one sentence for the user. */
void store__explain(struct store_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The next change number, for a row written in the same (open) transaction. */
int store__seq_next(struct store *s, int64_t *out);

/* ---- held.c: the held set ----------------------------------------------------
 *
 * Remember that (name_lc, vers) has an entry with cksum sha whose blob is
 * recorded (size: the blob's, or UINT64_MAX when not known). Ignored inside a
 * transaction (it may be rolled back), for a version too long to keep, and
 * when the set cannot be allocated. */
void store__held_put(struct store *s, const char *name_lc, const char *vers,
                     const uint8_t sha[PROTO_SHA256_LEN], uint64_t size);
/* Forget (name_lc, vers, sha); with name_lc NULL, every triple of sha. */
void store__held_forget(struct store *s, const char *name_lc, const char *vers,
                        const uint8_t sha[PROTO_SHA256_LEN]);

/* ---- evict.c ---------------------------------------------------------------- */

/* Unlink the files an interrupted eviction journalled (blob_unlink) that are
 * still the inode it chose and have no blob row again, and empty the journal.
 * *unlinked (may be NULL) counts the files removed. Not inside a transaction. */
int store__evict_finish(struct store *s, uint64_t *unlinked);

#endif
