/* store/evict.c — bounding the store: eviction by size, least recently used
 * first, pins, and finishing an eviction that was interrupted.
 *
 * Implements store_evict, store_blob_pin and store_removed_seq (store/store.h
 * states the contract and the order) on the connection of store/store.c.
 *
 * Why rows first, files second: the rest of the store assumes that a blob row
 * names a file that exists (store_blob_has, the manifest a peer is sent, the
 * offline index filter). Deleting the rows of a batch in one durable
 * transaction before unlinking anything keeps that true through a crash at
 * any point: what a crash can leave is files without rows. Those are not
 * lost track of: the same transaction lists each one in `blob_unlink` with
 * the device and inode the file had when it was chosen, and
 * store__evict_finish (the start of every store_evict, and store_verify)
 * unlinks the files still listed. The inode is what makes that safe beside a
 * live agent: if the agent fetched the crate again after the rows went, its
 * writer renamed a new file (a new inode) to the same name, and that file is
 * left for it to record.
 *
 * One batch, the states it passes through (a crash in each leaves):
 *   CHOSEN     up to STORE_EVICT_BATCH rows listed, files lstat'ed (nothing
 *              changed yet)
 *   COMMITTED  rows deleted, journal rows added, store_seq and
 *              store_removed_seq moved: one transaction, synchronous=FULL
 *              (rows gone, files present and journalled)
 *   UNLINKED   each journalled file that is still the same inode unlinked
 *              (some files gone, all journalled)
 *   DONE       the batch's journal rows deleted (one transaction)
 * A row used (last_used moved) or pinned since it was listed is not deleted
 * in COMMITTED: the DELETE matches the values that were listed.
 *
 * Nothing here logs; errors return a negative errno (SQLite's message in
 * store_errmsg).
 */
#include "store/store.h"
#include "store/internal.h"
#include "proto/alloc.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_S 86400

/* A blob chosen for eviction. */
struct victim {
    uint8_t sha[PROTO_SHA256_LEN];
    int64_t size, last_used, pinned_at;
    int64_t dev, ino; /* of its file when chosen; ino 0: there was no file */
    bool deleted;     /* its row went in COMMITTED */
};

/* 1 when sha has a blob row, 0 when not, -EIO. */
static int blob_row(struct store *s, const uint8_t sha[PROTO_SHA256_LEN])
{
    sqlite3_stmt *st = store__stmt(s, ST_BLOB_HAS);
    sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store__db_fail(s);
    sqlite3_reset(st);
    return ret;
}

/* Unlink blob sha's file when it is still the inode (dev, ino). true when
 * it was removed. */
static bool unlink_same(struct store *s, const uint8_t sha[PROTO_SHA256_LEN], int64_t dev,
                        int64_t ino)
{
    char path[PATH_MAX];
    struct stat st;
    if (ino == 0 || store_blob_path(s, sha, path, sizeof path) < 0)
        return false;
    if (lstat(path, &st) < 0 || (int64_t)st.st_dev != dev || (int64_t)st.st_ino != ino)
        return false; /* gone already, or a newer copy */
    return unlink(path) == 0;
}

/* Delete the journal rows of shas[0..n) in one transaction. */
static int journal_done(struct store *s, const uint8_t (*shas)[PROTO_SHA256_LEN], size_t n)
{
    int rc = store_begin(s);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_stmt *st = store__stmt(s, ST_UNLINK_DONE);
        sqlite3_bind_blob(st, 1, shas[i], PROTO_SHA256_LEN, SQLITE_STATIC);
        rc = store__exec_stmt(s, st);
    }
    if (rc < 0) {
        store_rollback(s);
        return rc;
    }
    return store_commit(s);
}

int store__evict_finish(struct store *s, uint64_t *unlinked)
{
    uint8_t(*shas)[PROTO_SHA256_LEN] = NULL;
    int64_t *ids = NULL;
    int rc = 0;

    shas = cc_malloc(STORE_EVICT_BATCH * sizeof *shas);
    ids = cc_malloc(2 * STORE_EVICT_BATCH * sizeof *ids);
    if (shas == NULL || ids == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (;;) {
        size_t n = 0;
        sqlite3_stmt *st = store__stmt(s, ST_UNLINK_LIST);
        sqlite3_bind_int(st, 1, STORE_EVICT_BATCH);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (sqlite3_column_bytes(st, 0) != PROTO_SHA256_LEN)
                continue; /* the CHECK constraint makes this impossible */
            memcpy(shas[n], sqlite3_column_blob(st, 0), PROTO_SHA256_LEN);
            ids[2 * n] = sqlite3_column_int64(st, 1);
            ids[2 * n + 1] = sqlite3_column_int64(st, 2);
            n++;
        }
        rc = rc == SQLITE_DONE ? 0 : store__db_fail(s);
        sqlite3_reset(st);
        if (rc < 0 || n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            /* recorded again since (a new row): its file is the new one */
            int row = blob_row(s, shas[i]);
            if (row < 0) {
                rc = row;
                goto out;
            }
            if (row == 0 && unlink_same(s, shas[i], ids[2 * i], ids[2 * i + 1]) && unlinked)
                (*unlinked)++;
        }
        if ((rc = journal_done(s, (const uint8_t(*)[PROTO_SHA256_LEN])shas, n)) < 0)
            break;
    }

out:
    free(ids);
    free(shas);
    return rc;
}

/* The blob rows: their sizes' sum and their number. */
struct usage {
    uint64_t bytes, blobs;
};

static int usage_get(struct store *s, struct usage *u)
{
    struct store_stats st;
    int rc = store_stats(s, &st);
    if (rc == 0) {
        u->bytes = st.bytes;
        u->blobs = st.crates;
    }
    return rc;
}

/* Over the limit: more bytes than max, or any blob at all when max is 0 (an
 * empty .crate is 0 bytes, and "max 0" means "evict everything"). */
static bool over(uint64_t bytes, uint64_t blobs, uint64_t max)
{
    return blobs > 0 && (bytes > max || max == 0);
}

/* CHOSEN: up to `max` rows of one class, in eviction order, with their files'
 * identities. */
static int choose(struct store *s, enum stmt_id id, int64_t cutoff, struct victim *v, size_t max,
                  size_t *n)
{
    char path[PATH_MAX];
    int rc;
    *n = 0;
    sqlite3_stmt *st = store__stmt(s, id);
    sqlite3_bind_int64(st, 1, cutoff);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        if (sqlite3_column_bytes(st, 0) != PROTO_SHA256_LEN)
            continue;
        struct victim *x = &v[(*n)++];
        memset(x, 0, sizeof *x);
        memcpy(x->sha, sqlite3_column_blob(st, 0), PROTO_SHA256_LEN);
        x->size = sqlite3_column_int64(st, 1);
        x->last_used = sqlite3_column_int64(st, 2);
        x->pinned_at = sqlite3_column_int64(st, 3);
    }
    rc = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : store__db_fail(s);
    sqlite3_reset(st);
    for (size_t i = 0; rc == 0 && i < *n; i++) {
        struct stat sb;
        if (store_blob_path(s, v[i].sha, path, sizeof path) == 0 && lstat(path, &sb) == 0 &&
            S_ISREG(sb.st_mode)) {
            v[i].dev = (int64_t)sb.st_dev;
            v[i].ino = (int64_t)sb.st_ino;
        }
    }
    return rc;
}

static int set_sync(struct store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : store__db_fail(s);
}

/* CHOSEN -> COMMITTED for v[0..n): *deleted rows removed. */
static int commit_batch(struct store *s, struct victim *v, size_t n, size_t *deleted)
{
    int rc;
    *deleted = 0;
    /* durable before the first unlink: a power cut must not bring back rows
     * whose files are gone (NORMAL may lose the last commits in WAL mode) */
    if ((rc = set_sync(s, "PRAGMA synchronous = FULL")) < 0)
        return rc;
    if ((rc = store_begin(s)) < 0)
        goto out;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_stmt *st = store__stmt(s, ST_EVICT_DELETE);
        sqlite3_bind_blob(st, 1, v[i].sha, PROTO_SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, v[i].last_used);
        sqlite3_bind_int64(st, 3, v[i].pinned_at);
        if ((rc = store__exec_stmt(s, st)) < 0 || sqlite3_changes(s->db) == 0)
            continue; /* used or pinned since it was listed (or gone): kept */
        v[i].deleted = true;
        (*deleted)++;
        if (v[i].ino == 0)
            continue; /* no file to unlink */
        st = store__stmt(s, ST_UNLINK_ADD);
        sqlite3_bind_blob(st, 1, v[i].sha, PROTO_SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, v[i].dev);
        sqlite3_bind_int64(st, 3, v[i].ino);
        rc = store__exec_stmt(s, st);
    }
    if (rc == 0 && *deleted > 0) {
        int64_t seq;
        if ((rc = store__seq_next(s, &seq)) == 0) {
            sqlite3_stmt *st = store__stmt(s, ST_SEQ_REMOVED_SET);
            sqlite3_bind_int64(st, 1, seq);
            rc = store__exec_stmt(s, st);
        }
    }
    if (rc < 0) {
        store_rollback(s);
    } else {
        rc = store_commit(s);
    }
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            v[i].deleted = false;
        *deleted = 0;
    }

out:;
    int rc2 = set_sync(s, "PRAGMA synchronous = NORMAL");
    return rc < 0 ? rc : rc2;
}

/* COMMITTED -> DONE: unlink the files, then drop their journal rows. */
static int unlink_batch(struct store *s, const struct victim *v, size_t n,
                        uint8_t (*done)[PROTO_SHA256_LEN])
{
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].deleted || v[i].ino == 0)
            continue;
        (void)unlink_same(s, v[i].sha, v[i].dev, v[i].ino);
        memcpy(done[nd++], v[i].sha, PROTO_SHA256_LEN);
    }
    return nd ? journal_done(s, (const uint8_t(*)[PROTO_SHA256_LEN])done, nd) : 0;
}

int store_evict(struct store *s, uint64_t max_bytes, int64_t now, unsigned keep_days,
                struct store_evict_result *out)
{
    struct store_evict_result r = {0};
    struct victim *v = NULL;
    uint8_t(*done)[PROTO_SHA256_LEN] = NULL;
    struct usage u = {0, 0};
    int rc;

    if (s == NULL || s->depth > 0) {
        rc = -EINVAL;
        goto out;
    }
    /* pinned: pinned_at >= cutoff; keep_days 0: nothing is */
    int64_t cutoff = INT64_MAX;
    if (keep_days > 0)
        cutoff = now - (int64_t)keep_days * DAY_S;
    if ((rc = store__evict_finish(s, &r.unlinked_late)) < 0)
        goto out;
    if ((rc = store_touch_flush(s)) < 0)
        goto out;
    if ((rc = usage_get(s, &u)) < 0)
        goto out;
    v = cc_malloc(STORE_EVICT_BATCH * sizeof *v);
    done = cc_malloc(STORE_EVICT_BATCH * sizeof *done);
    if (v == NULL || done == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    static const enum stmt_id classes[] = {ST_EVICT_UNPINNED, ST_EVICT_PINNED};
    for (size_t c = 0; c < 2 && over(u.bytes, u.blobs, max_bytes); c++) {
        unsigned idle = 0; /* batches in a row where every row had been used since */
        while (over(u.bytes, u.blobs, max_bytes) && idle < 4) {
            size_t n, k = 0, deleted;
            if ((rc = choose(s, classes[c], cutoff, v, STORE_EVICT_BATCH, &n)) < 0)
                goto out;
            if (n == 0)
                break; /* this class is exhausted */
            /* only as many as bring the store to the limit */
            uint64_t acc = 0;
            while (k < n && k < u.blobs && acc <= u.bytes &&
                   over(u.bytes - acc, u.blobs - k, max_bytes))
                acc += (uint64_t)v[k++].size;
            if ((rc = commit_batch(s, v, k, &deleted)) < 0)
                goto out;
            idle = deleted ? 0 : idle + 1;
            for (size_t i = 0; i < k; i++) {
                if (!v[i].deleted)
                    continue;
                r.removed++;
                r.bytes_freed += (uint64_t)v[i].size;
                if (v[i].pinned_at >= cutoff)
                    r.removed_pinned++;
            }
            if ((rc = unlink_batch(s, v, k, done)) < 0)
                goto out;
            /* again from the database: another connection may have added blobs */
            if ((rc = usage_get(s, &u)) < 0)
                goto out;
        }
    }
    rc = 0;

out:
    if (s != NULL && s->depth == 0 && usage_get(s, &u) == 0)
        r.bytes_remaining = u.bytes;
    free(done);
    free(v);
    if (out)
        *out = r;
    return rc;
}

int store_blob_pin(struct store *s, const uint8_t sha[PROTO_SHA256_LEN], int64_t now)
{
    sqlite3_stmt *st = store__stmt(s, ST_BLOB_PIN);
    sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int rc = store__exec_stmt(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        rc = -ENOENT;
    return rc;
}

uint64_t store_removed_seq(struct store *s)
{
    sqlite3_stmt *st = store__stmt(s, ST_SEQ_REMOVED_GET);
    int64_t v = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        store__db_fail(s);
    sqlite3_reset(st);
    return v > 0 ? (uint64_t)v : 0;
}
