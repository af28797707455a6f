/* store/store.c — the store's database and directory: open/close, schema and
 * migrations, transactions, the change sequence, temporary files, the agent lock.
 *
 * Implements store/store.h together with store/index.c (index entries),
 * store/blob.c (blob records, touches, verify) and store/identity.c (the
 * identity key), which work on the connection opened here (struct store, in
 * store/internal.h). docs/store.md describes the schema for operators;
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
 *   change_seq     one row (one = 1): `value`, the change counter; `removed`,
 *                  the number of the last eviction batch.
 *   blob_unlink    files of evicted rows not yet unlinked (store/evict.c).
 * The change counter (store_seq). A write that a peer could care about -- an
 * index put returning STORE_PUT_NEW or STORE_PUT_YANK, a blob row inserted --
 * bumps change_seq.value and stores the new value in the row's `seq`, in the
 * same transaction as the row change (store__seq_next). So the counter is the
 * largest `seq` of any row written (rows may leave `blobs` through verify),
 * a rolled-back write leaves no gap, and "rows with seq > N" is exactly what
 * changed after a peer saw N. The one other move: each eviction batch
 * (store/evict.c) takes a number for its removals and keeps it in
 * change_seq.removed (store_removed_seq), as no row can carry it. Nothing else
 * moves it.
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
 * Commits. on_commit (SQLite's commit hook) counts this connection's write
 * transactions (store_commits), for tests and measurement.
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
#include "proto/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#define SCHEMA_VERSION 3
#define BUSY_TIMEOUT_MS 10000

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

    /* 2 -> 3: eviction (store/evict.c). blobs.pinned_at: when a prefetch last
     * asked for the blob (0 = never); change_seq.removed: the change number of
     * the last eviction (0 = none yet); blob_unlink: the files of evicted rows
     * not unlinked yet, with the device and inode they had, so that a crash
     * between the two steps is finished later without touching a newer copy. */
    "ALTER TABLE blobs ADD COLUMN pinned_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE change_seq ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE blob_unlink ("
    "  sha256 BLOB PRIMARY KEY CHECK (length(sha256) = 32),"
    "  dev INTEGER NOT NULL,"
    "  ino INTEGER NOT NULL) WITHOUT ROWID;",
};

/* ---- prepared statements ----------------------------------------------------- */

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
                         " WHERE name_lc = ?1 AND vers = ?2 AND origin IN (3, 4)",
    [ST_BLOB_PIN] = "UPDATE blobs SET pinned_at = max(pinned_at, ?2) WHERE sha256 = ?1",
    /* eviction order: least recently used first (the index on last_used, whose
     * entries end with the primary key, gives last_used, sha256 without a sort) */
    [ST_EVICT_UNPINNED] = "SELECT sha256, size, last_used, pinned_at FROM blobs"
                          " WHERE pinned_at < ?1 ORDER BY last_used, sha256 LIMIT ?2",
    [ST_EVICT_PINNED] = "SELECT sha256, size, last_used, pinned_at FROM blobs"
                        " WHERE pinned_at >= ?1 ORDER BY last_used, sha256 LIMIT ?2",
    /* only when not used or pinned since it was listed */
    [ST_EVICT_DELETE] = "DELETE FROM blobs WHERE sha256 = ?1 AND last_used = ?2 AND pinned_at = ?3",
    [ST_UNLINK_ADD] = "INSERT OR REPLACE INTO blob_unlink (sha256, dev, ino) VALUES (?1, ?2, ?3)",
    [ST_UNLINK_LIST] = "SELECT sha256, dev, ino FROM blob_unlink LIMIT ?1",
    [ST_UNLINK_DONE] = "DELETE FROM blob_unlink WHERE sha256 = ?1",
    [ST_SEQ_REMOVED_SET] = "UPDATE change_seq SET removed = ?1",
    [ST_SEQ_REMOVED_GET] = "SELECT removed FROM change_seq",
};

/* ---- small helpers ------------------------------------------------------------ */

const char *store_dir(const struct store *s)
{
    return s->dir;
}

const char *store_errmsg(const struct store *s)
{
    return s->errmsg[0] ? s->errmsg : "no error";
}

void store__copy_trunc(char *dst, size_t dstsz, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= dstsz)
        n = dstsz - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void store__set_errmsg(struct store *s, const char *msg)
{
    store__copy_trunc(s->errmsg, sizeof s->errmsg, msg);
}

int store__db_fail(struct store *s)
{
    store__set_errmsg(s, sqlite3_errmsg(s->db));
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

sqlite3_stmt *store__stmt(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->st[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

bool store__sha_has_row(struct store *s, enum stmt_id id, const uint8_t sha[PROTO_SHA256_LEN])
{
    sqlite3_stmt *st = store__stmt(s, id);
    sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        store__db_fail(s);
    sqlite3_reset(st);
    return rc == SQLITE_ROW;
}

int store__exec_stmt(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int ret = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : store__db_fail(s);
    sqlite3_reset(st);
    return ret;
}

int64_t store__now_s(void)
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

void store__explain(struct store_error *err, const char *fmt, ...)
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
    store__set_errmsg(s, msg);
    switch (code) {
    case SQLITE_NOTADB:
        store__explain(err, "%s is not a SQLite database", db);
        return -EBADMSG;
    case SQLITE_CORRUPT:
        store__explain(err, "%s is damaged (SQLite: %s)", db, msg);
        return -EUCLEAN;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        store__explain(err, "%s stayed locked by another process for %d s", db,
                       BUSY_TIMEOUT_MS / 1000);
        return -EBUSY;
    case SQLITE_READONLY:
        store__explain(err, "%s cannot be written (a read-only file or file system)", db);
        return -EROFS;
    case SQLITE_FULL:
        store__explain(err, "the file system of %s is full", db);
        return -ENOSPC;
    case SQLITE_NOMEM:
        store__explain(err, "out of memory opening %s", db);
        return -ENOMEM;
    case SQLITE_CANTOPEN:
        store__explain(err, "cannot open %s: %s", db, sys ? strerror(sys) : msg);
        return sys ? -sys : -EACCES;
    case SQLITE_IOERR:
        store__explain(err, "cannot read or write %s: %s", db, sys ? strerror(sys) : msg);
        return -EIO;
    default:
        store__explain(err, "%s: %s", db, msg);
        return -EIO;
    }
}

/* What a failed mkdir_p of the store directory means. */
static int explain_mkdir(const char *dir, int rc, struct store_error *err)
{
    struct stat st;
    if (rc == -ENOTDIR && stat(dir, &st) == 0)
        store__explain(err, "the store path %s is a file, not a directory", dir);
    else if (rc == -ENOTDIR)
        store__explain(err, "the store path %s runs through a file, not a directory", dir);
    else if (rc == -EACCES || rc == -EPERM)
        store__explain(err, "cannot create the store directory %s: permission denied", dir);
    else
        store__explain(err, "cannot create the store directory %s: %s", dir, strerror(-rc));
    return rc;
}

/* A directory the store writes into: 0, or -errno explained. */
static int check_writable(const char *path, struct store_error *err)
{
    if (faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) == 0)
        return 0;
    int rc = -errno;
    if (rc == -EROFS)
        store__explain(err, "%s is on a read-only file system", path);
    else if (rc == -EACCES || rc == -EPERM)
        store__explain(err, "%s is not writable by this user", path);
    else
        store__explain(err, "cannot use %s: %s", path, strerror(-rc));
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
            store__explain(err, "the store path %s is too long", dir);
            return rc;
        }
        if (stat(path, &st) < 0) {
            if (errno == ENOENT)
                continue; /* made once the database is known to be good */
            rc = -errno;
            store__explain(err, "cannot use %s: %s", path, strerror(errno));
            return rc;
        }
        if (!S_ISDIR(st.st_mode)) {
            store__explain(err, "%s is a file, not a directory", path);
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
            store__explain(err, "cannot create %s: %s", path, strerror(errno));
            return rc;
        }
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
            store__explain(err, "%s is not a directory", path);
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
        store__set_errmsg(s, msg);
        store__explain(err, "the store %s was %s", s->dir, msg);
        return -EPROTONOSUPPORT;
    }
    if (version == 0 && objects > 0) {
        store__explain(
            err,
            "%s is a SQLite database, but not a cratecast store (it has tables and no schema "
            "version)",
            db);
        store__set_errmsg(s, "not a cratecast store");
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
        store__explain(err, "the store path %s is too long", s->dir);
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
            store__explain(err, "cannot lock the store directory %s: %s", s->dir, strerror(-rc));
            return rc;
        }
        rc = db_file_state(db);
    }
    if (rc == -ENODATA) {
        /* Taken for a new store, it would forget every blob: refused while
         * blobs/ holds any. With none, nothing can be lost: a new store. */
        if (holds_blobs(s->dir)) {
            store__explain(err,
                           "%s is empty (0 bytes), so nothing records the crates in %s/blobs: "
                           "refusing to take it for a new store",
                           db, s->dir);
            goto out;
        }
        rc = 0;
    }
    if (rc == -EBADMSG) {
        store__explain(err, "%s is not a regular file", db);
        goto out;
    }
    if (rc < 0) {
        store__explain(err, "cannot use %s: %s", db, strerror(-rc));
        goto out;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (rc == 0 ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(db, &s->db, flags, NULL) != SQLITE_OK) {
        rc = s->db ? db_explain(s, db, err) : -ENOMEM;
        if (rc == -ENOMEM)
            store__explain(err, "out of memory opening %s", db);
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
        store__explain(err, "no store directory given");
        return -EINVAL;
    }
    /* Check before changing anything: a refused store is left as it was. */
    rc = mkdir_p(dir);
    if (rc < 0)
        return explain_mkdir(dir, rc, err);
    rc = check_dirs(dir, err);
    if (rc < 0)
        return rc;

    s = cc_calloc(1, sizeof *s);
    if (s == NULL) {
        store__explain(err, "out of memory");
        return -ENOMEM;
    }
    s->lock_fd = -1;
    s->dir = cc_strdup(dir);
    if (s->dir == NULL) {
        store__explain(err, "out of memory");
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
        store__explain(err, "cannot empty %s/tmp: %s", dir, strerror(-rc));
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
    free(s->held);
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
        store__explain(err, "cannot open the agent lock %s: %s", path, strerror(errno));
        goto fail;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        if (rc == -EBUSY) {
            long pid = lock_holder(fd);
            if (pid > 0)
                store__explain(err, "another cratecast agent (pid %ld) is using the store %s", pid,
                               s->dir);
            else
                store__explain(err, "another cratecast agent is using the store %s", s->dir);
        } else {
            store__explain(err, "cannot lock %s: %s", path, strerror(-rc));
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
        store__explain(err, "cannot write the agent lock %s: %s", path, strerror(errno));
        close(fd);
        goto fail;
    }
    s->lock_fd = fd;
    return 0;

fail:
    store__set_errmsg(s, err->text);
    return rc;
}

/* ---- transactions ------------------------------------------------------------ */

int store_begin(struct store *s)
{
    if (s->depth == 0) {
        int rc = store__exec_stmt(s, store__stmt(s, ST_BEGIN));
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
        store__exec_stmt(s, store__stmt(s, ST_ROLLBACK));
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
    int rc = store__exec_stmt(s, store__stmt(s, ST_COMMIT));
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
    sqlite3_stmt *st = store__stmt(s, ST_SEQ_GET);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = store__db_fail(s); /* SQLITE_DONE too: the row is made by the migration */
    }
    sqlite3_reset(st);
    return rc;
}

int store__seq_next(struct store *s, int64_t *out)
{
    int rc = store__exec_stmt(s, store__stmt(s, ST_SEQ_BUMP));
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

int store_blobs_since(struct store *s, uint64_t since, struct store_blob_item **out, size_t *n)
{
    struct store_blob_item *items = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (since > INT64_MAX)
        return 0; /* no row has such a number */
    sqlite3_stmt *st = store__stmt(s, ST_BLOBS_SINCE);
    sqlite3_bind_int64(st, 1, (int64_t)since);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != PROTO_SHA256_LEN)
            continue; /* the CHECK constraint makes this impossible */
        if ((rc = cc_grow((void **)&items, &cap, cnt, sizeof *items, 64)) < 0)
            goto fail;
        memcpy(items[cnt].sha256, sqlite3_column_blob(st, 0), PROTO_SHA256_LEN);
        items[cnt].size = (uint64_t)sqlite3_column_int64(st, 1);
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        rc = store__db_fail(s);
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
    sqlite3_stmt *st = store__stmt(s, ST_NAMES_SINCE);
    sqlite3_bind_int64(st, 1, (int64_t)since);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = cc_grow((void **)&names, &cap, cnt, sizeof *names, 64)) < 0)
            goto fail;
        const char *name = (const char *)sqlite3_column_text(st, 0);
        names[cnt] = cc_strdup(name ? name : "");
        if (names[cnt] == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        rc = store__db_fail(s);
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

/* ---- whole store ------------------------------------------------------------------- */

int store_stats(struct store *s, struct store_stats *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store__stmt(s, ST_STATS_BLOBS);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto fail;
    out->crates = (uint64_t)sqlite3_column_int64(st, 0);
    out->bytes = (uint64_t)sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    st = store__stmt(s, ST_STATS_INDEX);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto fail;
    out->index_entries = (uint64_t)sqlite3_column_int64(st, 0);
    out->index_crates = (uint64_t)sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    return 0;

fail:;
    int rc = store__db_fail(s);
    sqlite3_reset(st);
    return rc;
}
