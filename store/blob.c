/* store/blob.c — blob files and their records: paths, has, record, touches
 * (last_used, batched), verify and quarantine.
 *
 * Implements the blob-record part of store/store.h (store_blob_path,
 * store_blob_has, store_blob_record, store_blob_touch, store_touch_flush,
 * store_touch_pending, store_verify) on the connection of store/store.c.
 *
 * Blob files. DIR/blobs/<2 hex>/<64 hex> holds bytes whose SHA-256 is its
 * name. They are written by store/blob_writer.c (one at a time) and
 * store/blob_batch.c (an import); store/store.c only gives them their
 * temporary files (store__tmp_create: DIR/tmp/<pid>-<counter>.tmp, created
 * O_EXCL, flock'ed) and this file records them. A blob is written and made
 * durable before it is recorded (store_blob_record), so a row of `blobs`
 * never names a file that a crash could lose.
 *
 * Touches. store_blob_touch (called for every crate served, on the loop)
 * writes nothing: the digest joins `touched`, a deduplicated set of at most
 * STORE_TOUCH_MAX digests, and store_touch_flush (the agent's 1-second tick,
 * store_close) sets last_used for all of them in one transaction. A touch
 * that finds the set full flushes it first. So serving costs no database write,
 * and last_used is exact to the flush interval.
 */
#include "store/store.h"
#include "store/internal.h"
#include "proto/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

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
    return store__sha_has_row(s, ST_BLOB_HAS, sha);
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
    int64_t now = store__now_s(), seq;
    sqlite3_stmt *q = store__stmt(s, ST_BLOB_TOUCH);
    sqlite3_bind_blob(q, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now);
    int rc = store__exec_stmt(s, q);
    if (rc < 0 || sqlite3_changes(s->db) > 0)
        return rc;
    rc = store__seq_next(s, &seq);
    if (rc < 0)
        return rc;
    q = store__stmt(s, ST_BLOB_INSERT);
    sqlite3_bind_blob(q, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, size);
    sqlite3_bind_int(q, 3, origin);
    sqlite3_bind_int64(q, 4, now);
    sqlite3_bind_int64(q, 5, seq);
    return store__exec_stmt(s, q);
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

void store_blob_record_all(struct store *s, struct store_blob_result *v, size_t n, int origin)
{
    int rc = store_begin(s);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (v[i].rc < 0)
            continue;
        int prc = store_blob_record(s, v[i].sha, v[i].size, origin);
        if (prc == -EIO || prc == -ECANCELED)
            rc = prc; /* a database error: the transaction is lost */
        else if (prc < 0)
            v[i].rc = prc; /* this blob only (-EPERM, -ENOENT, ...) */
    }
    if (rc == 0)
        rc = store_commit(s);
    else
        store_rollback(s);
    for (size_t i = 0; i < n && rc < 0; i++)
        if (v[i].rc == 0)
            v[i].rc = store_blob_record(s, v[i].sha, v[i].size, origin);
}

/* ---- touches ------------------------------------------------------------------ */

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
    int64_t now = store__now_s();
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        sqlite3_stmt *st = store__stmt(s, ST_BLOB_TOUCH);
        sqlite3_bind_blob(st, 1, t->list[i], PROTO_SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        rc = store__exec_stmt(s, st);
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
        t = s->touched = cc_calloc(1, sizeof *t);
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

/* ---- verify ------------------------------------------------------------------- */

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
    sqlite3_stmt *st = store__stmt(s, ST_BLOB_DELETE);
    sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
    return store__exec_stmt(s, st);
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

    /* Files an interrupted eviction left (rows gone, files not yet): finish
     * it, so that blobs/ holds what the rows say. */
    if ((rc = store__evict_finish(s, NULL)) < 0) {
        if (out)
            *out = r;
        return rc;
    }
    /* Take the list first: hashing takes long, and a read transaction held
     * across it would keep the WAL from being checkpointed. */
    sqlite3_stmt *st = store__stmt(s, ST_BLOB_ALL);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != PROTO_SHA256_LEN)
            continue;
        if ((rc = cc_grow((void **)&shas, &cap, n, sizeof *shas, 256)) < 0)
            goto fail;
        memcpy(shas[n++], sqlite3_column_blob(st, 0), PROTO_SHA256_LEN);
    }
    if (rc != SQLITE_DONE) {
        rc = store__db_fail(s);
        goto fail;
    }
    sqlite3_reset(st);
    buf = cc_malloc(COPY_CHUNK);
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
