/* store/store.c — the store: SQLite metadata plus content-addressed blob files.
 *
 * Implements store/store.h. docs/store.md describes the schema for operators;
 * this comment states the rules the code below keeps.
 *
 * Database (DIR/store.db, WAL, synchronous=NORMAL, busy_timeout 10 s). Schema
 * version in PRAGMA user_version; store_open applies the migrations in
 * `migrations[]` from the file's version up to SCHEMA_VERSION inside one
 * BEGIN IMMEDIATE, and refuses a file newer than this code. Tables:
 *   index_entries  one row per (name_lc, vers); only `yanked`, `line`,
 *                  `updated_at` and `seq` ever change (store_index_put; a
 *                  trigger enforces it); `id` is arrival order.
 *   index_meta     the validators of the upstream index file per name_lc.
 *   blobs          one row per verified blob file.
 *   change_seq     one row (one = 1): `value`, the change counter.
 * The change counter (store_seq). A write that a peer could care about -- an
 * index put returning STORE_PUT_NEW or STORE_PUT_YANK, a blob row inserted --
 * bumps change_seq.value and stores the new value in the row's `seq`, in the
 * same transaction as the row change (seq_next). So the counter is the
 * largest `seq` of any row written (rows may leave `blobs` through verify),
 * a rolled-back write leaves no gap, and "rows with seq > N" is exactly what
 * changed after a peer saw N. Nothing else moves it.
 * Every row of index_entries is trusted: the agent decides trust before it
 * calls store_index_put, so store_cksum_trusted is a lookup on cksum.
 *
 * Transaction states of one struct store (one connection):
 *   IDLE      depth == 0. Every statement autocommits. store_begin -> OPEN.
 *   OPEN      depth >= 1, BEGIN IMMEDIATE done by the outermost store_begin (so
 *             the write lock is taken up front: a deferred read->write upgrade
 *             can fail with SQLITE_BUSY_SNAPSHOT and skip the busy handler).
 *             store_begin nests (depth++); store_commit unnests (depth--), and
 *             the outermost one COMMITs -> IDLE.
 *   DOOMED    OPEN after a store_rollback at an inner level, or after a
 *             database error inside store_index_put. The outermost
 *             store_commit then ROLLBACKs and returns -ECANCELED (-EIO for a
 *             database error); the outermost store_rollback ROLLBACKs.
 * A failed COMMIT is rolled back at once -> IDLE, so a store_rollback that
 * follows it (the callers' usual pattern) is a no-op. store_index_put runs in
 * its own nested begin/commit, so its read-compare-write is atomic against
 * the other connection.
 *
 * Blob files. DIR/blobs/<2 hex>/<64 hex> holds bytes whose SHA-256 is its
 * name. They are written by store/blob_writer.c (one at a time) and
 * store/blob_batch.c (an import); this file only gives them their temporary
 * files (store__tmp_create: DIR/tmp/<pid>-<counter>.tmp, created O_EXCL,
 * flock'ed) and records them. A blob is written and made durable before it is
 * recorded (store_blob_record), so a row of `blobs` never names a file that a
 * crash could lose.
 *
 * Touches. store_blob_touch (called for every crate served, on the loop)
 * writes nothing: the digest joins `touched`, a deduplicated set of at most
 * STORE_TOUCH_MAX digests, and store_touch_flush (the agent's 1-second tick,
 * store_close) sets last_used for all of them in one transaction. A touch
 * that finds the set full flushes it first. So serving costs no database write,
 * and last_used is exact to the flush interval.
 *
 * Commits. on_commit (SQLite's commit hook) counts this connection's write
 * transactions (store_commits), for tests and measurement.
 *
 * Identity. DIR/identity.key is the 64-byte libsodium Ed25519 secret key, mode
 * 0600. It is made once, in tmp/ like a blob, and published with link(), not
 * rename(): link fails with EEXIST when the name exists, so two stores racing
 * on one directory cannot replace each other's key; the loser reads the
 * winner's. An existing file is only ever read. It is refused, never
 * replaced, when it is not a regular file of exactly 64 bytes whose public
 * half is the one its seed derives (-EBADMSG), when group or others may
 * access it (-EPERM), or when it is a symlink (-ELOOP, O_NOFOLLOW).
 *
 * DIR/tmp/ at open: each file whose flock can be taken is garbage (a crashed
 * writer's); a file still locked belongs to a live writer of another struct
 * store on the same directory (the import worker, a CLI command) and is left.
 *
 * Opening (store_open_err), in this order, so that a store that is refused is
 * left exactly as it was:
 *   1. mkdir -p DIR; DIR and those of blobs/, tmp/, quarantine/ that exist
 *      must be directories this process can write (check_dirs). Nothing is
 *      created in an existing DIR yet.
 *   2. store.db (db_open). Present and non-empty: opened, its user_version
 *      read before anything is written; newer than SCHEMA_VERSION, or a
 *      SQLite file with tables but version 0 (another program's), is refused.
 *      Missing or empty: flock(DIR) is taken (creation_lock) and the file is
 *      looked at again. Still missing: created, switched to WAL -- which
 *      writes its first page -- and given the schema, all under that lock.
 *      So a store.db is never empty once the lock is released, and an empty
 *      one seen under the lock is damage (a truncation, a bad copy) or the
 *      leftover of a creator that crashed before its first page. While
 *      blobs/ holds any blob it is refused (-ENODATA): taken for a new store
 *      it would forget every blob. With blobs/ empty nothing can be lost, and
 *      it becomes a new store. Two processes creating one store serialise on
 *      the lock; the second finds a whole database.
 *   3. journal_mode = WAL is retried while SQLITE_BUSY (SQLite does not call
 *      the busy handler for it); migrate() does nothing for a current store
 *      and otherwise re-reads the version inside its BEGIN IMMEDIATE.
 *   4. The missing subdirectories are made, tmp/ is emptied (as above), the
 *      statements are prepared.
 * SQLite's errors at open are mapped to errnos with a sentence for the user
 * (db_explain): SQLITE_NOTADB -EBADMSG, SQLITE_CORRUPT -EUCLEAN, ...
 *
 * Agent lock (store_agent_lock): DIR/agent.lock, flock(LOCK_EX | LOCK_NB) on a
 * descriptor kept in s->lock_fd until store_close, so the kernel drops it with
 * the process however it ends. It holds the holder's pid for the refusal's
 * message. Only the agent takes it; other connections are not affected.
 *
 * Nothing here logs; errors return a negative errno and, for SQLite ones,
 * leave the message in s->errmsg (store_errmsg); the functions that take a
 * struct store_error explain their failures in it for the caller to print.
 */
#include "store/store.h"
#include "store/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA_VERSION 2
#define BUSY_TIMEOUT_MS 10000
#define COPY_CHUNK (1u << 20)

/* ---- schema ---------------------------------------------------------------- */

/* migrations[i] takes a database from user_version i to i + 1. */
static const char *const migrations[SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE index_entries ("
    "  id INTEGER PRIMARY KEY,"
    "  name_lc TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  vers TEXT NOT NULL,"
    "  cksum BLOB NOT NULL CHECK (length(cksum) = 32),"
    "  yanked INTEGER NOT NULL DEFAULT 0,"
    "  content_hash BLOB NOT NULL CHECK (length(content_hash) = 32),"
    "  line BLOB NOT NULL,"
    "  origin INTEGER NOT NULL,"
    "  origin_detail TEXT,"
    "  added_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE (name_lc, vers));"
    "CREATE INDEX index_entries_cksum ON index_entries (cksum);"
    "CREATE TRIGGER index_entries_immutable BEFORE UPDATE ON index_entries"
    "  WHEN NEW.name_lc IS NOT OLD.name_lc OR NEW.vers IS NOT OLD.vers"
    "    OR NEW.cksum IS NOT OLD.cksum OR NEW.content_hash IS NOT OLD.content_hash"
    "    OR NEW.id IS NOT OLD.id"
    "  BEGIN SELECT RAISE(ABORT, 'index entries are immutable apart from yanked'); END;"
    "CREATE TABLE index_meta ("
    "  name_lc TEXT PRIMARY KEY,"
    "  etag TEXT NOT NULL DEFAULT '',"
    "  last_modified TEXT NOT NULL DEFAULT '',"
    "  fetched_at INTEGER NOT NULL DEFAULT 0,"
    "  not_found INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE TABLE blobs ("
    "  sha256 BLOB PRIMARY KEY CHECK (length(sha256) = 32),"
    "  size INTEGER NOT NULL,"
    "  origin INTEGER NOT NULL,"
    "  added_at INTEGER NOT NULL,"
    "  last_used INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX blobs_last_used ON blobs (last_used);",

    /* 1 -> 2: the change sequence. Rows that exist already are numbered as if
     * the counter had always run: index entries by id (arrival order; rows are
     * never deleted, so normally 1..N -- a gap would be harmless), then blobs
     * after them by (added_at, sha256): a blob is recorded only after its
     * entry, so every entry comes first. No peer has seen a sequence number
     * yet, so any order that gives each row its own number up to the counter
     * is correct; this one is deterministic. */
    "ALTER TABLE index_entries ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE blobs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
    "UPDATE index_entries SET seq = id;"
    "CREATE INDEX index_entries_seq ON index_entries (seq);"
    "CREATE TEMP TABLE blob_seq (sha256 BLOB PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO blob_seq SELECT sha256, row_number() OVER (ORDER BY added_at, sha256)"
    "  FROM blobs;"
    "UPDATE blobs SET seq = (SELECT coalesce(max(seq), 0) FROM index_entries)"
    "  + (SELECT n FROM blob_seq WHERE blob_seq.sha256 = blobs.sha256);"
    "DROP TABLE temp.blob_seq;"
    "CREATE INDEX blobs_seq ON blobs (seq);"
    "CREATE TABLE change_seq ("
    "  one INTEGER PRIMARY KEY CHECK (one = 1),"
    "  value INTEGER NOT NULL CHECK (value >= 0));"
    "INSERT INTO change_seq (one, value) VALUES (1, max("
    "  (SELECT coalesce(max(seq), 0) FROM index_entries),"
    "  (SELECT coalesce(max(seq), 0) FROM blobs)));",
};

/* ---- prepared statements ----------------------------------------------------- */

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
    ST__COUNT
};

#define ROW_COLUMNS                                                                                \
    "e.vers, e.cksum, e.yanked, e.line,"                                                           \
    " EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = e.cksum), e.origin"

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_ENTRY_FIND] = "SELECT content_hash, yanked FROM index_entries"
                      " WHERE name_lc = ?1 AND vers = ?2",
    [ST_ENTRY_INSERT] = "INSERT INTO index_entries (name_lc, name, vers, cksum, yanked,"
                        " content_hash, line, origin, origin_detail, added_at, updated_at, seq)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)",
    [ST_ENTRY_YANK] = "UPDATE index_entries SET yanked = ?3, line = ?4, updated_at = ?5,"
                      " seq = ?6 WHERE name_lc = ?1 AND vers = ?2",
    [ST_ENTRY_LIST] = "SELECT " ROW_COLUMNS ", max(e.added_at, e.updated_at)"
                      " FROM index_entries e"
                      " WHERE e.name_lc = ?1 ORDER BY e.id",
    [ST_ENTRY_GET] = "SELECT " ROW_COLUMNS " FROM index_entries e"
                     " WHERE e.name_lc = ?1 AND e.vers = ?2",
    [ST_CKSUM_TRUSTED] = "SELECT 1 FROM index_entries WHERE cksum = ?1 LIMIT 1",
    [ST_META_GET] = "SELECT etag, last_modified, fetched_at, not_found FROM index_meta"
                    " WHERE name_lc = ?1",
    [ST_META_PUT] = "INSERT INTO index_meta (name_lc, etag, last_modified, fetched_at, not_found)"
                    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name_lc) DO UPDATE SET"
                    " etag = excluded.etag, last_modified = excluded.last_modified,"
                    " fetched_at = excluded.fetched_at, not_found = excluded.not_found",
    [ST_BLOB_HAS] = "SELECT 1 FROM blobs WHERE sha256 = ?1",
    [ST_BLOB_INSERT] = "INSERT INTO blobs (sha256, size, origin, added_at, last_used, seq)"
                       " VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
    [ST_BLOB_TOUCH] = "UPDATE blobs SET last_used = ?2 WHERE sha256 = ?1",
    [ST_BLOB_DELETE] = "DELETE FROM blobs WHERE sha256 = ?1",
    [ST_BLOB_ALL] = "SELECT sha256 FROM blobs",
    [ST_STATS_BLOBS] = "SELECT count(*), coalesce(sum(size), 0) FROM blobs",
    [ST_STATS_INDEX] = "SELECT count(*), count(DISTINCT name_lc) FROM index_entries",
    [ST_SEQ_BUMP] = "UPDATE change_seq SET value = value + 1",
    [ST_SEQ_GET] = "SELECT value FROM change_seq",
    [ST_BLOBS_SINCE] = "SELECT sha256, size FROM blobs WHERE seq > ?1 ORDER BY seq",
    [ST_NAMES_SINCE] = "SELECT DISTINCT name_lc FROM index_entries WHERE seq > ?1"
                       " ORDER BY name_lc",
    [ST_ENTRY_DELETE] = "DELETE FROM index_entries WHERE name_lc = ?1 AND vers = ?2",
    [ST_CKSUM_COUNT] = "SELECT count(*) FROM index_entries WHERE cksum = ?1",
    [ST_ENTRY_CONFIRM] = "UPDATE index_entries SET origin = ?3, origin_detail = ?4"
                         " WHERE name_lc = ?1 AND vers = ?2 AND origin = 3",
};

/* The touch set: digests served since the last store_touch_flush, each once.
 * `list` holds them in arrival order; `slot` is an open-addressing index into
 * it (0 = empty, else list index + 1), twice as large as the list can grow, so
 * a probe ends quickly. The key is the digest's first 8 bytes: SHA-256 output,
 * and only digests of blobs this store serves, so nobody picks collisions. */
#define TOUCH_SLOTS (2 * STORE_TOUCH_MAX)
_Static_assert((TOUCH_SLOTS & (TOUCH_SLOTS - 1)) == 0, "TOUCH_SLOTS is a power of two");
_Static_assert(STORE_TOUCH_MAX <= UINT16_MAX, "slot holds a list index + 1 in 16 bits");
struct touch_set {
    uint8_t list[STORE_TOUCH_MAX][PROTO_SHA256_LEN];
    uint16_t slot[TOUCH_SLOTS];
    size_t n;
};

struct store {
    sqlite3 *db;
    char *dir;
    sqlite3_stmt *st[ST__COUNT];
    unsigned depth;            /* store_begin nesting */
    int doomed;                /* 0, or the error the outermost store_commit returns */
    uint64_t commits;          /* counted by on_commit */
    struct touch_set *touched; /* NULL until the first store_blob_touch */
    int lock_fd;               /* DIR/agent.lock while store_agent_lock holds it, else -1 */
    char errmsg[sizeof(struct store_error)];
};

/* ---- small helpers ------------------------------------------------------------ */

const char *store_origin_name(int origin)
{
    switch (origin) {
    case STORE_ORIGIN_UPSTREAM:
        return "upstream";
    case STORE_ORIGIN_CARGO_HOME:
        return "cargo-home";
    case STORE_ORIGIN_PEER:
        return "peer";
    case STORE_ORIGIN_BUNDLE:
        return "bundle";
    default:
        return "unknown";
    }
}

const char *store_dir(const struct store *s)
{
    return s->dir;
}

const char *store_errmsg(const struct store *s)
{
    return s->errmsg[0] ? s->errmsg : "no error";
}

static void copy_trunc(char *dst, size_t dstsz, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= dstsz)
        n = dstsz - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static void set_errmsg(struct store *s, const char *msg)
{
    copy_trunc(s->errmsg, sizeof s->errmsg, msg);
}

/* Record the connection's last error; returns -EIO for `return db_fail(s);`. */
static int db_fail(struct store *s)
{
    set_errmsg(s, sqlite3_errmsg(s->db));
    return -EIO;
}

int store__path_fmt(char *out, size_t outsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outsz, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= outsz)
        return -ENAMETOOLONG;
    return 0;
}

/* ASCII lower-case of a crate name; -EINVAL when empty or too long. */
static int name_lower(const char *name, char out[PROTO_NAME_MAX + 1])
{
    size_t n = name ? strnlen(name, PROTO_NAME_MAX + 1) : 0;
    if (n == 0 || n > PROTO_NAME_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return 0;
}

/* The statement, reset and unbound, ready for new bindings. */
static sqlite3_stmt *stmt(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->st[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Step a statement that returns no rows; leaves it reset. */
static int exec_stmt(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int ret = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : db_fail(s);
    sqlite3_reset(st);
    return ret;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- directories ------------------------------------------------------------- */

/* mkdir -p with mode 0700 for every component created. */
static int mkdir_p(const char *dir)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0)
        return -EINVAL;
    if (n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        buf[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int store__fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static unsigned long tmp_counter;

int store__tmp_create(const char *dir, mode_t mode, char *tmp, size_t tmpsz, int *fdp)
{
    int rc, fd = -1;

    *fdp = -1;
    for (int tries = 0; tries < 100; tries++) {
        unsigned long n = __atomic_fetch_add(&tmp_counter, 1, __ATOMIC_RELAXED);
        rc = store__path_fmt(tmp, tmpsz, "%s/tmp/%ld-%lu.tmp", dir, (long)getpid(), n);
        if (rc < 0)
            return rc;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0)
            break;
        if (errno != EEXIST)
            return -errno;
    }
    if (fd < 0)
        return -EEXIST;
    if (flock(fd, LOCK_EX) < 0) {
        rc = -errno;
        close(fd);
        unlink(tmp);
        return rc;
    }
    *fdp = fd;
    return 0;
}

int store__write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Remove what crashed writers left in DIR/tmp/ (see the file comment). */
static int clean_tmp(const char *dir)
{
    char path[PATH_MAX];
    int rc = store__path_fmt(path, sizeof path, "%s/tmp", dir);
    if (rc < 0)
        return rc;
    DIR *d = opendir(path);
    if (d == NULL)
        return -errno;
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
            close(fd); /* a live writer holds it */
            continue;
        }
        /* Unlinking before the lock is released keeps a writer that races
         * between O_EXCL and flock from publishing: its rename fails. */
        if (unlinkat(dfd, de->d_name, 0) < 0 && errno == EISDIR)
            unlinkat(dfd, de->d_name, AT_REMOVEDIR);
        if (fd >= 0)
            close(fd);
    }
    closedir(d);
    return 0;
}

/* ---- open / close ------------------------------------------------------------ */

static int on_commit(void *ud)
{
    struct store *s = ud;
    s->commits++;
    return 0; /* let it commit */
}

uint64_t store_commits(const struct store *s)
{
    return s ? s->commits : 0;
}

static void explain(struct store_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void explain(struct store_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The connection's last error as an errno, explained for the person who runs
 * the program (store_open's failures). */
static int db_explain(struct store *s, const char *db, struct store_error *err)
{
    int code = sqlite3_errcode(s->db) & 0xff, sys = sqlite3_system_errno(s->db);
    const char *msg = sqlite3_errmsg(s->db);
    set_errmsg(s, msg);
    switch (code) {
    case SQLITE_NOTADB:
        explain(err, "%s is not a SQLite database", db);
        return -EBADMSG;
    case SQLITE_CORRUPT:
        explain(err, "%s is damaged (SQLite: %s)", db, msg);
        return -EUCLEAN;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        explain(err, "%s stayed locked by another process for %d s", db, BUSY_TIMEOUT_MS / 1000);
        return -EBUSY;
    case SQLITE_READONLY:
        explain(err, "%s cannot be written (a read-only file or file system)", db);
        return -EROFS;
    case SQLITE_FULL:
        explain(err, "the file system of %s is full", db);
        return -ENOSPC;
    case SQLITE_NOMEM:
        explain(err, "out of memory opening %s", db);
        return -ENOMEM;
    case SQLITE_CANTOPEN:
        explain(err, "cannot open %s: %s", db, sys ? strerror(sys) : msg);
        return sys ? -sys : -EACCES;
    case SQLITE_IOERR:
        explain(err, "cannot read or write %s: %s", db, sys ? strerror(sys) : msg);
        return -EIO;
    default:
        explain(err, "%s: %s", db, msg);
        return -EIO;
    }
}

/* What a failed mkdir_p of the store directory means. */
static int explain_mkdir(const char *dir, int rc, struct store_error *err)
{
    struct stat st;
    if (rc == -ENOTDIR && stat(dir, &st) == 0)
        explain(err, "the store path %s is a file, not a directory", dir);
    else if (rc == -ENOTDIR)
        explain(err, "the store path %s runs through a file, not a directory", dir);
    else if (rc == -EACCES || rc == -EPERM)
        explain(err, "cannot create the store directory %s: permission denied", dir);
    else
        explain(err, "cannot create the store directory %s: %s", dir, strerror(-rc));
    return rc;
}

/* A directory the store writes into: 0, or -errno explained. */
static int check_writable(const char *path, struct store_error *err)
{
    if (faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) == 0)
        return 0;
    int rc = -errno;
    if (rc == -EROFS)
        explain(err, "%s is on a read-only file system", path);
    else if (rc == -EACCES || rc == -EPERM)
        explain(err, "%s is not writable by this user", path);
    else
        explain(err, "cannot use %s: %s", path, strerror(-rc));
    return rc;
}

static const char *const store_subdirs[] = {"blobs", "tmp", "quarantine"};

/* The directory, and those of its subdirectories that exist, are directories
 * this process can write. Creates nothing. */
static int check_dirs(const char *dir, struct store_error *err)
{
    char path[PATH_MAX];
    struct stat st;
    int rc = check_writable(dir, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof store_subdirs / sizeof store_subdirs[0]; i++) {
        rc = store__path_fmt(path, sizeof path, "%s/%s", dir, store_subdirs[i]);
        if (rc < 0) {
            explain(err, "the store path %s is too long", dir);
            return rc;
        }
        if (stat(path, &st) < 0) {
            if (errno == ENOENT)
                continue; /* made once the database is known to be good */
            rc = -errno;
            explain(err, "cannot use %s: %s", path, strerror(errno));
            return rc;
        }
        if (!S_ISDIR(st.st_mode)) {
            explain(err, "%s is a file, not a directory", path);
            return -ENOTDIR;
        }
        if (strcmp(store_subdirs[i], "quarantine") != 0 && (rc = check_writable(path, err)) < 0)
            return rc;
    }
    return 0;
}

/* Make the subdirectories that are missing (mode 0700). */
static int make_subdirs(const char *dir, struct store_error *err)
{
    char path[PATH_MAX];
    struct stat st;
    for (size_t i = 0; i < sizeof store_subdirs / sizeof store_subdirs[0]; i++) {
        int rc = store__path_fmt(path, sizeof path, "%s/%s", dir, store_subdirs[i]);
        if (rc < 0)
            return rc;
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            rc = -errno;
            explain(err, "cannot create %s: %s", path, strerror(errno));
            return rc;
        }
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
            explain(err, "%s is not a directory", path);
            return -ENOTDIR;
        }
    }
    return 0;
}

/* 1: path is a regular file with something in it; 0: there is none;
 * -ENODATA: it is empty; -EBADMSG: it is not a regular file; -errno. */
static int db_file_state(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISREG(st.st_mode))
        return -EBADMSG;
    return st.st_size > 0 ? 1 : -ENODATA;
}

/* True when blobs/ holds at least one file (two levels down). */
static bool holds_blobs(const char *dir)
{
    char path[PATH_MAX];
    bool found = false;
    if (store__path_fmt(path, sizeof path, "%s/blobs", dir) < 0)
        return false;
    DIR *d = opendir(path);
    if (d == NULL)
        return false;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        DIR *sub = NULL;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0 && (sub = fdopendir(fd)) == NULL)
            close(fd);
        struct dirent *e;
        while (sub && !found && (e = readdir(sub)) != NULL)
            found = e->d_name[0] != '.';
        if (sub)
            closedir(sub);
    }
    closedir(d);
    return found;
}

/* Take flock(DIR, LOCK_EX), waiting at most the busy timeout. Each open() is
 * its own lock owner, so this serialises threads as well as processes. Where
 * the file system has no flock for directories, *fdp = -1 and 0: the store
 * then opens without it (as before it existed). */
static int creation_lock(const char *dir, int *fdp)
{
    *fdp = -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (unsigned waited = 0;; waited += 10) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            *fdp = fd;
            return 0;
        }
        int e = errno;
        if (e != EWOULDBLOCK && e != EINTR) {
            close(fd);
            return (e == EBADF || e == EINVAL || e == ENOLCK || e == EOPNOTSUPP) ? 0 : -e;
        }
        if (waited >= BUSY_TIMEOUT_MS) {
            close(fd);
            return -EBUSY;
        }
        sleep_ms(10);
    }
}

/* The schema version and the number of schema objects, read in one statement,
 * so from one snapshot: read apart, another process's creation of the schema
 * could commit between the two, and a new store would look like someone
 * else's database (tables, version 0). */
static int read_version(struct store *s, int *version, int *objects)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT user_version, (SELECT count(*) FROM sqlite_master)"
                           " FROM pragma_user_version",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = -EIO;
    } else {
        *version = sqlite3_column_int(st, 0);
        *objects = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Refuse a version this code cannot open: newer than SCHEMA_VERSION
 * (-EPROTONOSUPPORT), or 0 with schema objects -- a new store has none, so
 * that is another program's database, not ours to add tables to or to switch
 * to WAL (-EBADMSG). */
static int check_version(struct store *s, const char *db, int version, int objects,
                         struct store_error *err)
{
    if (version > SCHEMA_VERSION || version < 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "made by a newer cratecast (schema %d); this one knows schema %d",
                 version, SCHEMA_VERSION);
        set_errmsg(s, msg);
        explain(err, "the store %s was %s", s->dir, msg);
        return -EPROTONOSUPPORT;
    }
    if (version == 0 && objects > 0) {
        explain(err,
                "%s is a SQLite database, but not a cratecast store (it has tables and no schema "
                "version)",
                db);
        set_errmsg(s, "not a cratecast store");
        return -EBADMSG;
    }
    return 0;
}

/* PRAGMA journal_mode = WAL (a no-op once the file is in WAL mode). Changing
 * the mode needs the database to itself, and SQLite answers SQLITE_BUSY at
 * once rather than calling the busy handler: retry up to the busy timeout. */
static int set_wal(struct store *s)
{
    for (unsigned waited = 0;; waited += 10) {
        int rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            break;
        if ((rc & 0xff) != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS)
            return -EIO;
        sleep_ms(10);
    }
    return sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", NULL, NULL,
                        NULL) == SQLITE_OK
               ? 0
               : -EIO;
}

/* Bring the schema from `version` (read before, outside a transaction) to
 * SCHEMA_VERSION. A current store is not written at all. Otherwise inside one
 * BEGIN IMMEDIATE, which waits (busy timeout) for any other writer -- say a
 * second process upgrading or creating the same store at the same moment --
 * and then reads the version again: what that writer did is not done twice. */
static int migrate(struct store *s, int version, const char *db, struct store_error *err)
{
    if (version == SCHEMA_VERSION)
        return 0;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_explain(s, db, err);
    int objects = 0;
    int rc = read_version(s, &version, &objects);
    if (rc < 0) {
        rc = db_explain(s, db, err);
        goto fail;
    }
    if ((rc = check_version(s, db, version, objects, err)) < 0)
        goto fail;
    for (; version < SCHEMA_VERSION; version++) {
        if (sqlite3_exec(s->db, migrations[version], NULL, NULL, NULL) != SQLITE_OK) {
            rc = db_explain(s, db, err);
            goto fail;
        }
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_explain(s, db, err);
        goto fail;
    }
    return 0;

fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Open DIR/store.db into s->db, creating it when there is none, refusing one
 * that is empty, not a database, or newer than this code; upgrade an older
 * one. See "Opening" in the file comment. */
static int db_open(struct store *s, struct store_error *err)
{
    char db[PATH_MAX];
    int lock_fd = -1, version = 0, objects = 0;
    int rc = store__path_fmt(db, sizeof db, "%s/store.db", s->dir);
    if (rc < 0) {
        explain(err, "the store path %s is too long", s->dir);
        return rc;
    }
    rc = db_file_state(db);
    if (rc == 0 || rc == -ENODATA) {
        /* None, or empty: look again under the creation lock. A creator holds
         * it until the file has its first page, so an empty file seen under
         * the lock is never a creation in progress: it is damage, or what a
         * creator that crashed before its first page left. */
        rc = creation_lock(s->dir, &lock_fd);
        if (rc < 0) {
            explain(err, "cannot lock the store directory %s: %s", s->dir, strerror(-rc));
            return rc;
        }
        rc = db_file_state(db);
    }
    if (rc == -ENODATA) {
        /* Taken for a new store, it would forget every blob: refused while
         * blobs/ holds any. With none, nothing can be lost: a new store. */
        if (holds_blobs(s->dir)) {
            explain(err,
                    "%s is empty (0 bytes), so nothing records the crates in %s/blobs: "
                    "refusing to take it for a new store",
                    db, s->dir);
            goto out;
        }
        rc = 0;
    }
    if (rc == -EBADMSG) {
        explain(err, "%s is not a regular file", db);
        goto out;
    }
    if (rc < 0) {
        explain(err, "cannot use %s: %s", db, strerror(-rc));
        goto out;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (rc == 0 ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(db, &s->db, flags, NULL) != SQLITE_OK) {
        rc = s->db ? db_explain(s, db, err) : -ENOMEM;
        if (rc == -ENOMEM)
            explain(err, "out of memory opening %s", db);
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_commit_hook(s->db, on_commit, s);
    if (sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
        rc = db_explain(s, db, err);
        goto out;
    }
    /* The version first, before anything is written: a newer store is
     * refused as it is (not even switched to WAL). */
    if (read_version(s, &version, &objects) < 0) {
        rc = db_explain(s, db, err);
        goto out;
    }
    if ((rc = check_version(s, db, version, objects, err)) < 0)
        goto out;
    if (set_wal(s) < 0) {
        rc = db_explain(s, db, err);
        goto out;
    }
    rc = migrate(s, version, db, err);

out:
    if (lock_fd >= 0)
        close(lock_fd); /* the file has its first page now, or we failed */
    return rc;
}

int store_open_err(const char *dir, struct store **out, struct store_error *err)
{
    struct store *s = NULL;
    int rc;

    *out = NULL;
    if (err)
        err->text[0] = '\0';
    if (dir == NULL || dir[0] == '\0') {
        explain(err, "no store directory given");
        return -EINVAL;
    }
    /* Check before changing anything: a refused store is left as it was. */
    rc = mkdir_p(dir);
    if (rc < 0)
        return explain_mkdir(dir, rc, err);
    rc = check_dirs(dir, err);
    if (rc < 0)
        return rc;

    s = calloc(1, sizeof *s);
    if (s == NULL) {
        explain(err, "out of memory");
        return -ENOMEM;
    }
    s->lock_fd = -1;
    s->dir = strdup(dir);
    if (s->dir == NULL) {
        explain(err, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    rc = db_open(s, err);
    if (rc < 0)
        goto fail;
    rc = make_subdirs(dir, err);
    if (rc < 0)
        goto fail;
    rc = clean_tmp(dir);
    if (rc < 0) {
        explain(err, "cannot empty %s/tmp: %s", dir, strerror(-rc));
        goto fail;
    }
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            rc = db_explain(s, store_dir(s), err);
            goto fail;
        }
    }
    *out = s;
    return 0;

fail:
    store_close(s);
    return rc;
}

int store_open(const char *dir, struct store **out)
{
    return store_open_err(dir, out, NULL);
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    if (s->depth > 0 && s->db) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->depth = 0;
        s->doomed = 0;
    }
    (void)store_touch_flush(s); /* best effort: last_used is a hint */
    free(s->touched);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db); /* NULL-safe; all statements are finalized */
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the agent lock */
    free(s->dir);
    free(s);
}

/* ---- the agent lock -------------------------------------------------------------- */

#define AGENT_LOCK_FILE "agent.lock"

/* The pid the holder wrote, 0 when none could be read. */
static long lock_holder(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    errno = 0;
    long pid = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || pid <= 0 || (*end != '\0' && *end != '\n'))
        return 0;
    return pid;
}

int store_agent_lock(struct store *s, struct store_error *err)
{
    struct store_error local;
    char path[PATH_MAX];
    int rc;

    if (err == NULL)
        err = &local;
    err->text[0] = '\0';
    if (s->lock_fd >= 0)
        return 0;
    rc = store__path_fmt(path, sizeof path, "%s/" AGENT_LOCK_FILE, s->dir);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        explain(err, "cannot open the agent lock %s: %s", path, strerror(errno));
        goto fail;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        if (rc == -EBUSY) {
            long pid = lock_holder(fd);
            if (pid > 0)
                explain(err, "another cratecast agent (pid %ld) is using the store %s", pid,
                        s->dir);
            else
                explain(err, "another cratecast agent is using the store %s", s->dir);
        } else {
            explain(err, "cannot lock %s: %s", path, strerror(-rc));
        }
        close(fd);
        goto fail;
    }
    /* Ours: say who holds it. Write, then cut: a reader sees our pid or a
     * mix it cannot parse (and then names no pid), never another number. */
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    ssize_t w = pwrite(fd, pid, (size_t)n, 0);
    if (w != n || ftruncate(fd, n) < 0) {
        rc = w < 0 || w == n ? -errno : -EIO;
        explain(err, "cannot write the agent lock %s: %s", path, strerror(errno));
        close(fd);
        goto fail;
    }
    s->lock_fd = fd;
    return 0;

fail:
    set_errmsg(s, err->text);
    return rc;
}

/* ---- transactions ------------------------------------------------------------ */

int store_begin(struct store *s)
{
    if (s->depth == 0) {
        int rc = exec_stmt(s, stmt(s, ST_BEGIN));
        if (rc < 0)
            return rc;
        s->doomed = 0;
    }
    s->depth++;
    return 0;
}

/* The outermost level ends: roll back whatever is open. */
static void end_rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db)) /* SQLite may have rolled back already */
        exec_stmt(s, stmt(s, ST_ROLLBACK));
    s->depth = 0;
    s->doomed = 0;
}

int store_commit(struct store *s)
{
    if (s->depth == 0)
        return -EINVAL;
    if (--s->depth > 0)
        return 0;
    if (s->doomed) {
        int rc = s->doomed;
        end_rollback(s);
        return rc;
    }
    int rc = exec_stmt(s, stmt(s, ST_COMMIT));
    if (rc < 0)
        end_rollback(s);
    return rc;
}

void store_rollback(struct store *s)
{
    if (s->depth == 0)
        return;
    if (--s->depth > 0) {
        if (!s->doomed)
            s->doomed = -ECANCELED;
        return;
    }
    end_rollback(s);
}

/* ---- change sequence ---------------------------------------------------------- */

static int seq_read(struct store *s, int64_t *out)
{
    sqlite3_stmt *st = stmt(s, ST_SEQ_GET);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = db_fail(s); /* SQLITE_DONE too: the row is made by the migration */
    }
    sqlite3_reset(st);
    return rc;
}

/* The next change number, for a row written in the same (open) transaction. */
static int seq_next(struct store *s, int64_t *out)
{
    int rc = exec_stmt(s, stmt(s, ST_SEQ_BUMP));
    if (rc < 0)
        return rc;
    return seq_read(s, out);
}

uint64_t store_seq(struct store *s)
{
    int64_t v = 0;
    if (seq_read(s, &v) < 0 || v < 0)
        return 0; /* the message is in store_errmsg */
    return (uint64_t)v;
}

/* Make room for one more element in a growing array (doubling from `first`).
 * 0 or -ENOMEM (the array is left as it was). */
static int grow(void **arr, size_t *cap, size_t cnt, size_t elem, size_t first)
{
    if (cnt < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : first;
    void *n = realloc(*arr, ncap * elem);
    if (n == NULL)
        return -ENOMEM;
    *arr = n;
    *cap = ncap;
    return 0;
}

int store_blobs_since(struct store *s, uint64_t since, struct store_blob_item **out, size_t *n)
{
    struct store_blob_item *items = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (since > INT64_MAX)
        return 0; /* no row has such a number */
    sqlite3_stmt *st = stmt(s, ST_BLOBS_SINCE);
    sqlite3_bind_int64(st, 1, (int64_t)since);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != PROTO_SHA256_LEN)
            continue; /* the CHECK constraint makes this impossible */
        if ((rc = grow((void **)&items, &cap, cnt, sizeof *items, 64)) < 0)
            goto fail;
        memcpy(items[cnt].sha256, sqlite3_column_blob(st, 0), PROTO_SHA256_LEN);
        items[cnt].size = (uint64_t)sqlite3_column_int64(st, 1);
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        rc = db_fail(s);
        goto fail;
    }
    sqlite3_reset(st);
    *out = items;
    *n = cnt;
    return 0;

fail:
    sqlite3_reset(st);
    free(items);
    return rc;
}

int store_index_names_since(struct store *s, uint64_t since, char ***out, size_t *n)
{
    char **names = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (since > INT64_MAX)
        return 0;
    sqlite3_stmt *st = stmt(s, ST_NAMES_SINCE);
    sqlite3_bind_int64(st, 1, (int64_t)since);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = grow((void **)&names, &cap, cnt, sizeof *names, 64)) < 0)
            goto fail;
        const char *name = (const char *)sqlite3_column_text(st, 0);
        names[cnt] = strdup(name ? name : "");
        if (names[cnt] == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        rc = db_fail(s);
        goto fail;
    }
    sqlite3_reset(st);
    *out = names;
    *n = cnt;
    return 0;

fail:
    sqlite3_reset(st);
    store_names_free(names, cnt);
    return rc;
}

void store_names_free(char **names, size_t n)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- index entries ------------------------------------------------------------ */

static const void *line_bytes(const uint8_t *line)
{
    return line ? (const void *)line : (const void *)""; /* bind "" not NULL */
}

/* The body of store_index_put, inside its own begin/commit. */
static int index_put_locked(struct store *s, const char *name_lc, const struct proto_index_entry *e,
                            int origin, const char *origin_detail)
{
    int64_t now = now_s();
    sqlite3_stmt *st = stmt(s, ST_ENTRY_FIND);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->vers, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *held = sqlite3_column_blob(st, 0);
        bool same = sqlite3_column_bytes(st, 0) == PROTO_SHA256_LEN && held &&
                    memcmp(held, e->content_hash, PROTO_SHA256_LEN) == 0;
        bool held_yanked = sqlite3_column_int(st, 1) != 0;
        sqlite3_reset(st);
        if (!same)
            return -EEXIST;
        if (held_yanked == e->yanked)
            return STORE_PUT_SAME;
        int64_t seq;
        rc = seq_next(s, &seq);
        if (rc < 0)
            return rc;
        st = stmt(s, ST_ENTRY_YANK);
        sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->vers, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, e->yanked);
        sqlite3_bind_blob(st, 4, line_bytes(e->line), (int)e->line_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, seq);
        rc = exec_stmt(s, st);
        return rc < 0 ? rc : STORE_PUT_YANK;
    }
    if (rc != SQLITE_DONE) {
        rc = db_fail(s);
        sqlite3_reset(st);
        return rc;
    }
    sqlite3_reset(st);
    int64_t seq;
    rc = seq_next(s, &seq);
    if (rc < 0)
        return rc;
    st = stmt(s, ST_ENTRY_INSERT);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, e->vers, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, e->cksum, PROTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, e->yanked);
    sqlite3_bind_blob(st, 6, e->content_hash, PROTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, line_bytes(e->line), (int)e->line_len, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, origin);
    if (origin_detail)
        sqlite3_bind_text(st, 9, origin_detail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, now);
    sqlite3_bind_int64(st, 11, seq);
    rc = exec_stmt(s, st);
    return rc < 0 ? rc : STORE_PUT_NEW;
}

int store_index_put(struct store *s, const struct proto_index_entry *e, int origin,
                    const char *origin_detail)
{
    char name_lc[PROTO_NAME_MAX + 1];
    if (name_lower(e->name, name_lc) < 0 || e->vers[0] == '\0' ||
        strnlen(e->vers, sizeof e->vers) > PROTO_VERS_MAX || e->line_len > PROTO_LINE_MAX ||
        (e->line == NULL && e->line_len != 0))
        return -EINVAL;

    int rc = store_begin(s);
    if (rc < 0)
        return rc;
    rc = index_put_locked(s, name_lc, e, origin, origin_detail);
    if (rc < 0 && rc != -EEXIST) {
        /* A database error may have undone more than this statement. */
        if (s->depth > 1 && !s->doomed)
            s->doomed = rc;
        store_rollback(s);
        return rc;
    }
    int crc = store_commit(s);
    return crc < 0 ? crc : rc;
}

static void row_clear(struct store_index_row *row)
{
    memset(row, 0, sizeof *row);
}

void store_index_row_free(struct store_index_row *row)
{
    if (row == NULL)
        return;
    free(row->line);
    row_clear(row);
}

/* Fill row from the current result row of ST_ENTRY_LIST / ST_ENTRY_GET. */
static int row_fill(sqlite3_stmt *st, struct store_index_row *row)
{
    row_clear(row);
    copy_trunc(row->vers, sizeof row->vers, (const char *)sqlite3_column_text(st, 0));
    const void *ck = sqlite3_column_blob(st, 1);
    if (ck && sqlite3_column_bytes(st, 1) == PROTO_SHA256_LEN)
        memcpy(row->cksum, ck, PROTO_SHA256_LEN);
    row->yanked = sqlite3_column_int(st, 2) != 0;
    const void *line = sqlite3_column_blob(st, 3);
    size_t len = (size_t)sqlite3_column_bytes(st, 3);
    row->line = malloc(len + 1);
    if (row->line == NULL)
        return -ENOMEM;
    if (len)
        memcpy(row->line, line, len);
    row->line[len] = '\0';
    row->line_len = len;
    row->have_blob = sqlite3_column_int(st, 4) != 0;
    row->origin = sqlite3_column_int(st, 5);
    return 0;
}

int store_index_list(struct store *s, const char *name, struct store_index_list *out)
{
    char name_lc[PROTO_NAME_MAX + 1];
    size_t cap = 0;
    int rc;

    out->rows = NULL;
    out->n = 0;
    out->updated = 0;
    if (name_lower(name, name_lc) < 0)
        return 0; /* no such name can be stored */
    sqlite3_stmt *st = stmt(s, ST_ENTRY_LIST);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = grow((void **)&out->rows, &cap, out->n, sizeof *out->rows, 16)) < 0)
            goto fail;
        rc = row_fill(st, &out->rows[out->n]);
        if (rc < 0)
            goto fail;
        out->n++;
        int64_t changed = sqlite3_column_int64(st, 6); /* max(added_at, updated_at) */
        if (changed > out->updated)
            out->updated = changed;
    }
    if (rc != SQLITE_DONE) {
        rc = db_fail(s);
        goto fail;
    }
    sqlite3_reset(st);
    return 0;

fail:
    sqlite3_reset(st);
    store_index_list_free(out);
    return rc;
}

void store_index_list_free(struct store_index_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->rows[i].line);
    free(l->rows);
    l->rows = NULL;
    l->n = 0;
    l->updated = 0;
}

int store_index_get(struct store *s, const char *name, const char *vers,
                    struct store_index_row *row)
{
    char name_lc[PROTO_NAME_MAX + 1];
    row_clear(row);
    if (name_lower(name, name_lc) < 0 || vers == NULL)
        return -ENOENT;
    sqlite3_stmt *st = stmt(s, ST_ENTRY_GET);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, vers, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = row_fill(st, row);
    else if (rc == SQLITE_DONE)
        rc = -ENOENT;
    else
        rc = db_fail(s);
    sqlite3_reset(st);
    if (rc < 0)
        store_index_row_free(row);
    return rc;
}

int store_index_drop(struct store *s, const char *name, const char *vers, bool *blob_dropped)
{
    char name_lc[PROTO_NAME_MAX + 1];
    if (blob_dropped)
        *blob_dropped = false;
    struct store_index_row row;
    int rc = store_index_get(s, name, vers, &row);
    if (rc < 0)
        return rc;
    uint8_t sha[PROTO_SHA256_LEN];
    memcpy(sha, row.cksum, sizeof sha);
    store_index_row_free(&row);
    if (name_lower(name, name_lc) < 0)
        return -ENOENT;
    if ((rc = store_begin(s)) < 0)
        return rc;
    sqlite3_stmt *st = stmt(s, ST_ENTRY_DELETE);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, vers, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s);
    sqlite3_reset(st);
    /* a blob whose only trusted entry this was is not trusted any more */
    bool orphan = false;
    if (rc == 0) {
        st = stmt(s, ST_CKSUM_COUNT);
        sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            orphan = sqlite3_column_int64(st, 0) == 0;
        else
            rc = db_fail(s);
        sqlite3_reset(st);
    }
    if (rc == 0 && orphan) {
        st = stmt(s, ST_BLOB_DELETE);
        sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s);
        sqlite3_reset(st);
    }
    if (rc < 0) {
        store_rollback(s);
        return rc;
    }
    if ((rc = store_commit(s)) < 0)
        return rc;
    if (orphan) {
        char path[4096];
        if (store_blob_path(s, sha, path, sizeof path) >= 0 && unlink(path) == 0 && blob_dropped)
            *blob_dropped = true;
    }
    return 0;
}

int store_index_confirm(struct store *s, const char *name, const char *vers, int origin,
                        const char *origin_detail)
{
    char name_lc[PROTO_NAME_MAX + 1];
    if (name_lower(name, name_lc) < 0 || vers == NULL)
        return -ENOENT;
    sqlite3_stmt *st = stmt(s, ST_ENTRY_CONFIRM);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, vers, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, origin);
    sqlite3_bind_text(st, 4, origin_detail, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s);
    sqlite3_reset(st);
    return rc;
}

bool store_cksum_trusted(struct store *s, const uint8_t sha[PROTO_SHA256_LEN])
{
    sqlite3_stmt *st = stmt(s, ST_CKSUM_TRUSTED);
    sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        db_fail(s);
    sqlite3_reset(st);
    return rc == SQLITE_ROW;
}

int store_index_meta_get(struct store *s, const char *name, struct store_index_meta *m)
{
    char name_lc[PROTO_NAME_MAX + 1];
    memset(m, 0, sizeof *m);
    if (name_lower(name, name_lc) < 0)
        return -ENOENT;
    sqlite3_stmt *st = stmt(s, ST_META_GET);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        copy_trunc(m->etag, sizeof m->etag, (const char *)sqlite3_column_text(st, 0));
        copy_trunc(m->last_modified, sizeof m->last_modified,
                   (const char *)sqlite3_column_text(st, 1));
        m->fetched_at = sqlite3_column_int64(st, 2);
        m->not_found = sqlite3_column_int(st, 3) != 0;
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = -ENOENT;
    } else {
        rc = db_fail(s);
    }
    sqlite3_reset(st);
    return rc;
}

int store_index_meta_put(struct store *s, const char *name, const struct store_index_meta *m)
{
    char name_lc[PROTO_NAME_MAX + 1];
    if (name_lower(name, name_lc) < 0)
        return -EINVAL;
    sqlite3_stmt *st = stmt(s, ST_META_PUT);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->etag, (int)strnlen(m->etag, sizeof m->etag), SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->last_modified,
                      (int)strnlen(m->last_modified, sizeof m->last_modified), SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, m->fetched_at);
    sqlite3_bind_int(st, 5, m->not_found);
    return exec_stmt(s, st);
}

/* ---- blob files ------------------------------------------------------------------ */

int store_blob_path(const struct store *s, const uint8_t sha[PROTO_SHA256_LEN], char *out,
                    size_t outsz)
{
    char hex[PROTO_SHA256_HEX_LEN + 1];
    proto_hex_encode(sha, PROTO_SHA256_LEN, hex);
    return store__path_fmt(out, outsz, "%s/blobs/%.2s/%s", s->dir, hex, hex);
}

/* ---- blob records ------------------------------------------------------------------ */

static bool blob_recorded(struct store *s, const uint8_t sha[PROTO_SHA256_LEN])
{
    sqlite3_stmt *st = stmt(s, ST_BLOB_HAS);
    sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        db_fail(s);
    sqlite3_reset(st);
    return rc == SQLITE_ROW;
}

bool store_blob_has(struct store *s, const uint8_t sha[PROTO_SHA256_LEN])
{
    char path[PATH_MAX];
    struct stat st;
    if (!blob_recorded(s, sha))
        return false;
    if (store_blob_path(s, sha, path, sizeof path) < 0)
        return false;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The database half of store_blob_record, inside its own begin/commit: a row
 * that exists is only marked used; a new one takes the next change number. */
static int blob_record_locked(struct store *s, const uint8_t sha[PROTO_SHA256_LEN], int64_t size,
                              int origin)
{
    int64_t now = now_s(), seq;
    sqlite3_stmt *q = stmt(s, ST_BLOB_TOUCH);
    sqlite3_bind_blob(q, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now);
    int rc = exec_stmt(s, q);
    if (rc < 0 || sqlite3_changes(s->db) > 0)
        return rc;
    rc = seq_next(s, &seq);
    if (rc < 0)
        return rc;
    q = stmt(s, ST_BLOB_INSERT);
    sqlite3_bind_blob(q, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, size);
    sqlite3_bind_int(q, 3, origin);
    sqlite3_bind_int64(q, 4, now);
    sqlite3_bind_int64(q, 5, seq);
    return exec_stmt(s, q);
}

int store_blob_record(struct store *s, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size,
                      int origin)
{
    char path[PATH_MAX];
    struct stat st;
    int rc = store_blob_path(s, sha, path, sizeof path);
    if (rc < 0)
        return rc;
    if (!store_cksum_trusted(s, sha)) {
        unlink(path); /* an untrusted blob does not stay under a real name */
        return -EPERM;
    }
    if (stat(path, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -ENOENT;
    /* The file's own size is the truth; `size` is what the caller committed. */
    (void)size;
    rc = store_begin(s);
    if (rc < 0)
        return rc;
    rc = blob_record_locked(s, sha, (int64_t)st.st_size, origin);
    if (rc < 0) {
        /* as in store_index_put: the error may have undone an outer level */
        if (s->depth > 1 && !s->doomed)
            s->doomed = rc;
        store_rollback(s);
        return rc;
    }
    return store_commit(s);
}

size_t store_touch_pending(const struct store *s)
{
    return s && s->touched ? s->touched->n : 0;
}

int store_touch_flush(struct store *s)
{
    struct touch_set *t = s ? s->touched : NULL;
    if (t == NULL || t->n == 0)
        return 0;
    int rc = store_begin(s);
    if (rc < 0)
        return rc;
    int64_t now = now_s();
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        sqlite3_stmt *st = stmt(s, ST_BLOB_TOUCH);
        sqlite3_bind_blob(st, 1, t->list[i], PROTO_SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        rc = exec_stmt(s, st);
    }
    if (rc < 0) {
        if (s->depth > 1 && !s->doomed)
            s->doomed = rc;
        store_rollback(s);
        return rc;
    }
    rc = store_commit(s);
    if (rc < 0)
        return rc; /* kept for the next flush */
    t->n = 0;
    memset(t->slot, 0, sizeof t->slot);
    return 0;
}

int store_blob_touch(struct store *s, const uint8_t sha[PROTO_SHA256_LEN])
{
    if (s == NULL || sha == NULL)
        return -EINVAL;
    struct touch_set *t = s->touched;
    if (t == NULL) {
        t = s->touched = calloc(1, sizeof *t);
        if (t == NULL)
            return -ENOMEM;
    }
    uint64_t key;
    memcpy(&key, sha, sizeof key);
    for (;;) {
        size_t i = (size_t)key & (TOUCH_SLOTS - 1);
        while (t->slot[i] != 0) {
            if (memcmp(t->list[t->slot[i] - 1], sha, PROTO_SHA256_LEN) == 0)
                return 0; /* already pending */
            i = (i + 1) & (TOUCH_SLOTS - 1);
        }
        if (t->n < STORE_TOUCH_MAX) {
            memcpy(t->list[t->n], sha, PROTO_SHA256_LEN);
            t->slot[i] = (uint16_t)(++t->n);
            return 0;
        }
        int rc = store_touch_flush(s); /* full: write what is pending, then retry */
        if (rc < 0)
            return rc;
    }
}

/* ---- identity ---------------------------------------------------------------------- */

#define IDENTITY_FILE "identity.key"

_Static_assert(crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_SECRETKEYBYTES == 64,
               "store.h declares 32-byte public and 64-byte secret Ed25519 keys");

/* Read and check the key file: 0 and sk, -ENOENT when there is none, -EPERM,
 * -EBADMSG, -ELOOP (see the file comment), -errno; err says which. */
static int identity_read(const char *path, uint8_t sk[crypto_sign_SECRETKEYBYTES],
                         struct store_error *err)
{
    uint8_t seed[crypto_sign_SEEDBYTES], pk2[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk2[crypto_sign_SECRETKEYBYTES];
    struct stat st;
    size_t got = 0;
    int rc;

    /* O_NONBLOCK: a FIFO planted under the name must not hang the open. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        if (rc == -ELOOP)
            explain(err,
                    "the identity key %s is a symbolic link, and a key is never read through one",
                    path);
        else if (rc != -ENOENT)
            explain(err, "cannot read the identity key %s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        explain(err, "cannot read the identity key %s: %s", path, strerror(-rc));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        explain(err, "the identity key %s is not a regular file", path);
        rc = -EBADMSG;
        goto out;
    }
    if (st.st_mode & 077) {
        explain(err, "the identity key %s is %s by others (mode %04o): chmod 600 it", path,
                (st.st_mode & 044) ? "readable" : "usable", (unsigned)(st.st_mode & 07777));
        rc = -EPERM;
        goto out;
    }
    if (st.st_size != crypto_sign_SECRETKEYBYTES) {
        explain(err, "the identity key %s is %lld bytes, not %d: damaged, or not a cratecast key",
                path, (long long)st.st_size, crypto_sign_SECRETKEYBYTES);
        rc = -EBADMSG;
        goto out;
    }
    while (got < crypto_sign_SECRETKEYBYTES) {
        ssize_t n = read(fd, sk + got, crypto_sign_SECRETKEYBYTES - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            explain(err, "cannot read the identity key %s: %s", path, strerror(-rc));
            goto out;
        }
        if (n == 0) { /* shrank since fstat */
            explain(err, "the identity key %s shrank while it was read", path);
            rc = -EBADMSG;
            goto out;
        }
        got += (size_t)n;
    }
    /* seed || public key: the public half must be the one the seed makes, or
     * what we announce would not verify what we sign. */
    crypto_sign_ed25519_sk_to_seed(seed, sk);
    if (crypto_sign_seed_keypair(pk2, sk2, seed) != 0 ||
        sodium_memcmp(sk2, sk, crypto_sign_SECRETKEYBYTES) != 0) {
        explain(err,
                "the identity key %s is damaged: its public half is not the one its seed makes",
                path);
        rc = -EBADMSG;
    } else {
        rc = 0;
    }

out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk2, sizeof sk2);
    close(fd);
    return rc;
}

/* Make a new key and publish it as path unless one is there already (then
 * 0 too: the caller reads whichever key won). */
static int identity_create(const struct store *s, const char *path, struct store_error *err)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char tmp[PATH_MAX];
    int fd = -1;
    int rc = store__tmp_create(s->dir, 0600, tmp, sizeof tmp, &fd);
    if (rc < 0) {
        explain(err, "cannot create the identity key %s: %s", path, strerror(-rc));
        return rc;
    }
    if (crypto_sign_keypair(pk, sk) != 0) {
        rc = -EIO;
        goto out;
    }
    /* exactly 0600 whatever the umask: the owner must be able to read it back */
    if (fchmod(fd, 0600) < 0) {
        rc = -errno;
        goto out;
    }
    rc = store__write_all(fd, sk, sizeof sk);
    if (rc < 0)
        goto out;
    if (fsync(fd) < 0) {
        rc = -errno;
        goto out;
    }
    /* link, unlike rename, never replaces: EEXIST means another store won. */
    if (link(tmp, path) < 0 && errno != EEXIST) {
        rc = -errno;
        goto out;
    }
    rc = store__fsync_dir(s->dir); /* the winner's name, whoever won, is durable */

out:
    if (rc < 0)
        explain(err, "cannot create the identity key %s: %s", path, strerror(-rc));
    sodium_memzero(sk, sizeof sk);
    unlink(tmp); /* before close: see clean_tmp */
    close(fd);
    return rc;
}

int store_identity_err(struct store *s, uint8_t pk[32], uint8_t sk[64], struct store_error *err)
{
    struct store_error local;
    char path[PATH_MAX];
    int rc;

    if (err == NULL)
        err = &local;
    err->text[0] = '\0';
    if (sodium_init() < 0) {
        explain(err, "libsodium cannot be initialised");
        rc = -EIO;
        goto fail;
    }
    rc = store__path_fmt(path, sizeof path, "%s/" IDENTITY_FILE, s->dir);
    if (rc < 0) {
        explain(err, "the store path %s is too long", s->dir);
        goto fail;
    }
    rc = identity_read(path, sk, err);
    if (rc == -ENOENT) {
        rc = identity_create(s, path, err);
        if (rc < 0)
            goto fail;
        rc = identity_read(path, sk, err); /* what is on disk is the identity */
        if (rc == -ENOENT)
            explain(err, "the identity key %s vanished as it was made", path);
    }
    if (rc < 0)
        goto fail;
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    return 0;

fail:
    set_errmsg(s, err->text);
    sodium_memzero(sk, crypto_sign_SECRETKEYBYTES);
    memset(pk, 0, crypto_sign_PUBLICKEYBYTES);
    return rc;
}

int store_identity(struct store *s, uint8_t pk[32], uint8_t sk[64])
{
    return store_identity_err(s, pk, sk, NULL);
}

/* ---- whole store ------------------------------------------------------------------- */

int store_stats(struct store *s, struct store_stats *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = stmt(s, ST_STATS_BLOBS);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto fail;
    out->crates = (uint64_t)sqlite3_column_int64(st, 0);
    out->bytes = (uint64_t)sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    st = stmt(s, ST_STATS_INDEX);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto fail;
    out->index_entries = (uint64_t)sqlite3_column_int64(st, 0);
    out->index_crates = (uint64_t)sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    return 0;

fail:;
    int rc = db_fail(s);
    sqlite3_reset(st);
    return rc;
}

/* Hash the open file fd; 0 and *got, or -errno. */
static int hash_fd(int fd, uint8_t *buf, uint8_t got[PROTO_SHA256_LEN])
{
    struct proto_sha256 h;
    int rc = proto_sha256_init(&h);
    if (rc < 0)
        return rc;
    for (;;) {
        ssize_t n = read(fd, buf, COPY_CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            proto_sha256_abort(&h);
            return rc;
        }
        if (n == 0)
            break;
        proto_sha256_update(&h, buf, (size_t)n);
    }
    proto_sha256_final(&h, got);
    return 0;
}

static int blob_forget(struct store *s, const uint8_t sha[PROTO_SHA256_LEN])
{
    sqlite3_stmt *st = stmt(s, ST_BLOB_DELETE);
    sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    return exec_stmt(s, st);
}

/* Check one recorded blob; updates *r. -errno only for what stops verify. */
static int verify_one(struct store *s, const uint8_t sha[PROTO_SHA256_LEN], uint8_t *buf,
                      store_verify_cb cb, void *ud, struct store_verify_result *r)
{
    char hex[PROTO_SHA256_HEX_LEN + 1];
    char path[PATH_MAX], qpath[PATH_MAX];
    uint8_t got[PROTO_SHA256_LEN];
    struct stat st_open, st_now;
    int rc;

    proto_hex_encode(sha, PROTO_SHA256_LEN, hex);
    rc = store_blob_path(s, sha, path, sizeof path);
    if (rc < 0)
        return rc;
    r->checked++;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno != ENOENT) {
            if (cb)
                cb(ud, hex, "cannot open the blob file");
            return 0;
        }
        rc = blob_forget(s, sha);
        if (rc < 0)
            return rc;
        r->missing++;
        if (cb)
            cb(ud, hex, "missing: dropped from the store");
        return 0;
    }
    rc = fstat(fd, &st_open) < 0 ? -errno : hash_fd(fd, buf, got);
    close(fd);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        if (cb)
            cb(ud, hex, "cannot read the blob file");
        return 0;
    }
    if (memcmp(got, sha, PROTO_SHA256_LEN) == 0) {
        r->ok++;
        return 0;
    }
    /* A concurrent store_blob_commit may have replaced the file since: only
     * the file that was hashed goes to quarantine. */
    if (lstat(path, &st_now) < 0 || st_now.st_ino != st_open.st_ino ||
        st_now.st_dev != st_open.st_dev) {
        if (cb)
            cb(ud, hex, "replaced while verified: check again");
        return 0;
    }
    rc = store__path_fmt(qpath, sizeof qpath, "%s/quarantine/%s", s->dir, hex);
    if (rc < 0)
        return rc;
    if (rename(path, qpath) < 0) {
        rc = -errno;
        if (cb)
            cb(ud, hex, "digest mismatch, and the file cannot be moved to quarantine");
        return rc;
    }
    rc = blob_forget(s, sha);
    if (rc < 0)
        return rc;
    r->quarantined++;
    if (cb)
        cb(ud, hex, "digest mismatch: moved to quarantine");
    return 0;
}

int store_verify(struct store *s, store_verify_cb cb, void *ud, struct store_verify_result *out)
{
    struct store_verify_result r = {0};
    uint8_t(*shas)[PROTO_SHA256_LEN] = NULL;
    size_t n = 0, cap = 0;
    uint8_t *buf = NULL;
    int rc;

    /* Take the list first: hashing takes long, and a read transaction held
     * across it would keep the WAL from being checkpointed. */
    sqlite3_stmt *st = stmt(s, ST_BLOB_ALL);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != PROTO_SHA256_LEN)
            continue;
        if ((rc = grow((void **)&shas, &cap, n, sizeof *shas, 256)) < 0)
            goto fail;
        memcpy(shas[n++], sqlite3_column_blob(st, 0), PROTO_SHA256_LEN);
    }
    if (rc != SQLITE_DONE) {
        rc = db_fail(s);
        goto fail;
    }
    sqlite3_reset(st);
    buf = malloc(COPY_CHUNK);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        rc = verify_one(s, shas[i], buf, cb, ud, &r);
        if (rc < 0)
            goto fail;
    }
    rc = 0;

fail:
    sqlite3_reset(st);
    free(buf);
    free(shas);
    if (out)
        *out = r;
    return rc;
}
