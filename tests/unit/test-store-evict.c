/* tests/unit/test-store-evict.c — eviction by size (store/evict.c) against a
 * temporary store.
 *
 * Each blob here is a few bytes of text whose SHA-256 is the cksum of a hand-
 * built index entry "c<i>" 1.0.0, so sizes are exact and known. last_used and
 * pinned_at are set through a second SQLite connection (the store writes
 * last_used only from touches, at one-second precision), which is also how
 * the "crash between the rows and the files" states are made.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmp_root.h"
#include <sqlite3.h>

#include "proto/sha256.h"
#include "store/store.h"

#define NOW 1700000000LL
#define DAY 86400LL
#define MAXB 700

struct fx {
    char root[1024];
    char dir[1100];
    struct store *s;
    size_t n;
    uint8_t sha[MAXB][PROTO_SHA256_LEN];
    uint64_t size[MAXB];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tmp_root_make(f->root, sizeof f->root, "test-store-evict");
    snprintf(f->dir, sizeof f->dir, "%s/store", f->root);
    assert_int_equal(store_open(f->dir, &f->s), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    tmp_root_remove(f->root);
    free(f);
    return 0;
}

/* One SQL statement on a second connection; returns the first column of the
 * first row (0 when none). */
static int64_t sql(const struct fx *f, const char *fmt, ...)
{
    char path[PATH_MAX], q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/store.db", f->dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", q, sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void hex(const uint8_t sha[PROTO_SHA256_LEN], char out[PROTO_SHA256_HEX_LEN + 1])
{
    proto_hex_encode(sha, PROTO_SHA256_LEN, out);
}

/* Blob i: `len` bytes, an index entry c<i> 1.0.0 for it, recorded, with
 * last_used = lu. */
static void add_blob(struct fx *f, size_t len, int64_t lu)
{
    size_t i = f->n++;
    assert_true(i < MAXB);
    char *data = malloc(len + 1);
    assert_non_null(data);
    for (size_t j = 0; j < len; j++)
        data[j] = (char)('a' + (i + j) % 26);
    char tag[32];
    int tl = snprintf(tag, sizeof tag, "%zu:", i); /* distinct contents */
    memcpy(data, tag, (size_t)tl < len ? (size_t)tl : len);
    proto_sha256(data, len, f->sha[i]);
    f->size[i] = len;

    struct proto_index_entry e;
    char line[512], h[PROTO_SHA256_HEX_LEN + 1];
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "c%zu", i);
    snprintf(e.vers, sizeof e.vers, "1.0.0");
    memcpy(e.cksum, f->sha[i], PROTO_SHA256_LEN);
    memset(e.content_hash, (int)(i & 0xff), PROTO_SHA256_LEN);
    e.content_hash[0] = (uint8_t)(i >> 8);
    hex(f->sha[i], h);
    int n = snprintf(line, sizeof line,
                     "{\"name\":\"c%zu\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"%s\","
                     "\"features\":{},\"yanked\":false}",
                     i, h);
    e.line = (const uint8_t *)line;
    e.line_len = (size_t)n;
    assert_int_equal(store_index_put(f->s, &e, STORE_ORIGIN_UPSTREAM, NULL), STORE_PUT_NEW);
    assert_int_equal(store_blob_commit(f->s, f->sha[i], (const uint8_t *)data, len), 0);
    assert_int_equal(store_blob_record(f->s, f->sha[i], len, STORE_ORIGIN_UPSTREAM), 0);
    free(data);
    sql(f, "UPDATE blobs SET last_used = %lld WHERE hex(sha256) = upper('%s')", (long long)lu, h);
}

static void set_pinned(struct fx *f, size_t i, int64_t at)
{
    char h[PROTO_SHA256_HEX_LEN + 1];
    hex(f->sha[i], h);
    sql(f, "UPDATE blobs SET pinned_at = %lld WHERE hex(sha256) = upper('%s')", (long long)at, h);
}

static bool file_exists(const struct fx *f, size_t i)
{
    char path[PATH_MAX];
    struct stat st;
    assert_int_equal(store_blob_path(f->s, f->sha[i], path, sizeof path), 0);
    return stat(path, &st) == 0;
}

static bool recorded(const struct fx *f, size_t i)
{
    char h[PROTO_SHA256_HEX_LEN + 1];
    hex(f->sha[i], h);
    return sql(f, "SELECT count(*) FROM blobs WHERE hex(sha256) = upper('%s')", h) == 1;
}

/* Which blobs are still held, as "0 1 4" (each must have row and file alike). */
static void held(const struct fx *f, char *out, size_t outsz)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < f->n; i++) {
        bool r = recorded(f, i), x = file_exists(f, i);
        if (r != x)
            fail_msg("blob %zu: row %d, file %d", i, r, x);
        if (r)
            len += (size_t)snprintf(out + len, outsz - len, "%s%zu", len ? " " : "", i);
    }
}

static uint64_t store_bytes(struct fx *f)
{
    struct store_stats st;
    assert_int_equal(store_stats(f->s, &st), 0);
    return st.bytes;
}

/* Files under blobs/ (each two-digit directory). */
static size_t blob_files(const struct fx *f)
{
    char path[PATH_MAX];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/blobs", f->dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX + 300];
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        DIR *s = opendir(sub);
        assert_non_null(s);
        struct dirent *e;
        while ((e = readdir(s)) != NULL)
            n += e->d_name[0] != '.';
        closedir(s);
    }
    closedir(d);
    return n;
}

/* ---- tests ------------------------------------------------------------------- */

/* Least recently used first, and only as many as bring the total under the limit. */
static void test_lru_order(void **state)
{
    struct fx *f = *state;
    static const int64_t lu[] = {NOW - 10, NOW - 50, NOW - 20, NOW - 40, NOW - 30};
    for (size_t i = 0; i < 5; i++)
        add_blob(f, 100 + i, lu[i]);
    uint64_t total = store_bytes(f);
    assert_int_equal(total, 100 + 101 + 102 + 103 + 104);
    /* to reach 300: remove 1 (lu -50, 101 B), 3 (-40, 103 B), 4 (-30, 104 B) */
    struct store_evict_result r;
    assert_int_equal(store_evict(f->s, 300, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 3);
    assert_int_equal(r.removed_pinned, 0);
    assert_int_equal(r.bytes_freed, 101 + 103 + 104);
    assert_int_equal(r.bytes_remaining, 100 + 102);
    assert_int_equal(r.bytes_remaining, store_bytes(f));
    assert_int_equal(r.bytes_freed + r.bytes_remaining, total);
    char h[64];
    held(f, h, sizeof h);
    assert_string_equal(h, "0 2");
    assert_int_equal(blob_files(f), 2);

    /* exactly at the limit: nothing more */
    assert_int_equal(store_evict(f->s, 202, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 0);
    /* one byte under it: the older of the two */
    assert_int_equal(store_evict(f->s, 201, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 1);
    assert_int_equal(r.bytes_freed, 102);
    held(f, h, sizeof h);
    assert_string_equal(h, "0");
}

/* Blobs pinned within keep_days go last, oldest pin-holder first; a pin older
 * than keep_days does not count; keep_days 0 ignores pins. */
static void test_pinned_kept_first(void **state)
{
    struct fx *f = *state;
    char h[64];
    for (size_t i = 0; i < 6; i++)
        add_blob(f, 100, NOW - 100 + (int64_t)i); /* 0 is the least recently used */
    set_pinned(f, 0, NOW - 1 * DAY);
    set_pinned(f, 1, NOW - 29 * DAY);
    set_pinned(f, 2, NOW - 31 * DAY); /* too old: not pinned with keep_days 30 */
    struct store_evict_result r;
    /* 3 to go: the unpinned 2, 3, 4 */
    assert_int_equal(store_evict(f->s, 300, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 3);
    assert_int_equal(r.removed_pinned, 0);
    held(f, h, sizeof h);
    assert_string_equal(h, "0 1 5");
    /* 2 more: the unpinned 5, then the least recently used pinned one, 0 */
    assert_int_equal(store_evict(f->s, 100, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 2);
    assert_int_equal(r.removed_pinned, 1);
    held(f, h, sizeof h);
    assert_string_equal(h, "1");
    /* a later pin wins, an earlier one is ignored */
    assert_int_equal(store_blob_pin(f->s, f->sha[1], NOW), 0);
    assert_int_equal(store_blob_pin(f->s, f->sha[1], NOW - 5 * DAY), 0);
    char hx[PROTO_SHA256_HEX_LEN + 1];
    hex(f->sha[1], hx);
    assert_int_equal(sql(f, "SELECT pinned_at FROM blobs WHERE hex(sha256) = upper('%s')", hx),
                     NOW);
    assert_int_equal(store_blob_pin(f->s, f->sha[0], NOW), -ENOENT); /* evicted */
}

static void test_keep_days_zero(void **state)
{
    struct fx *f = *state;
    char h[64];
    for (size_t i = 0; i < 3; i++)
        add_blob(f, 100, NOW - 100 + (int64_t)i);
    set_pinned(f, 0, NOW);
    struct store_evict_result r;
    assert_int_equal(store_evict(f->s, 200, NOW, 0, &r), 0);
    assert_int_equal(r.removed, 1);
    assert_int_equal(r.removed_pinned, 0);
    held(f, h, sizeof h);
    assert_string_equal(h, "1 2");
}

/* Index entries stay: the versions are still listed, just not held. */
static void test_index_entries_stay(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < 4; i++)
        add_blob(f, 50, NOW - 10);
    struct store_stats before, after;
    assert_int_equal(store_stats(f->s, &before), 0);
    struct store_evict_result r;
    assert_int_equal(store_evict(f->s, 0, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 4);
    assert_int_equal(store_stats(f->s, &after), 0);
    assert_int_equal(after.index_entries, before.index_entries);
    assert_int_equal(after.index_crates, 4);
    assert_int_equal(after.crates, 0);
    struct store_index_row row;
    assert_int_equal(store_index_get(f->s, "c2", "1.0.0", &row), 0);
    assert_false(row.have_blob);
    assert_memory_equal(row.cksum, f->sha[2], PROTO_SHA256_LEN);
    store_index_row_free(&row);
    assert_true(store_cksum_trusted(f->s, f->sha[2]));
    assert_false(store_blob_has(f->s, f->sha[2]));
}

/* The change counter moves once per batch that removed something, and
 * store_removed_seq names that batch; blobs_since no longer lists them. */
static void test_sequence(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < 4; i++)
        add_blob(f, 10, NOW - 40 + (int64_t)i);
    uint64_t seq0 = store_seq(f->s);
    assert_int_equal(seq0, 8); /* 4 entries + 4 blobs */
    assert_int_equal(store_removed_seq(f->s), 0);
    struct store_evict_result r;
    assert_int_equal(store_evict(f->s, 20, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 2);
    assert_int_equal(store_seq(f->s), seq0 + 1);
    assert_int_equal(store_removed_seq(f->s), seq0 + 1);
    struct store_blob_item *items;
    size_t n;
    assert_int_equal(store_blobs_since(f->s, 0, &items, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(items[0].sha256, f->sha[2], PROTO_SHA256_LEN);
    assert_memory_equal(items[1].sha256, f->sha[3], PROTO_SHA256_LEN);
    free(items);
    /* survives a reopen */
    store_close(f->s);
    assert_int_equal(store_open(f->dir, &f->s), 0);
    assert_int_equal(store_removed_seq(f->s), seq0 + 1);
    /* a new blob after it takes the next number above it */
    add_blob(f, 10, NOW);
    assert_int_equal(store_seq(f->s), seq0 + 3);
    assert_int_equal(store_removed_seq(f->s), seq0 + 1);
}

/* Many batches: every one moves the counter, and everything goes with max 0,
 * an empty (0-byte) blob too. */
static void test_max_zero_evicts_all(void **state)
{
    struct fx *f = *state;
    add_blob(f, 0, NOW - 5);
    for (size_t i = 1; i < 600; i++)
        add_blob(f, 8 + i % 7, NOW - (int64_t)(i % 13)); /* room for the "i:" tag */
    uint64_t total = store_bytes(f), seq0 = store_seq(f->s);
    assert_int_equal(blob_files(f), 600);
    struct store_evict_result r;
    assert_int_equal(store_evict(f->s, 0, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 600);
    assert_int_equal(r.bytes_freed, total);
    assert_int_equal(r.bytes_remaining, 0);
    assert_int_equal(blob_files(f), 0);
    assert_int_equal(store_bytes(f), 0);
    /* 600 rows in batches of STORE_EVICT_BATCH */
    uint64_t batches = (600 + STORE_EVICT_BATCH - 1) / STORE_EVICT_BATCH;
    assert_int_equal(store_seq(f->s), seq0 + batches);
    assert_int_equal(store_removed_seq(f->s), seq0 + batches);
    assert_int_equal(sql(f, "SELECT count(*) FROM blob_unlink"), 0);
}

/* Under the limit: nothing removed, nothing written, the counter unmoved. */
static void test_under_limit_noop(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < 3; i++)
        add_blob(f, 100, NOW - (int64_t)i);
    uint64_t seq0 = store_seq(f->s), commits0 = store_commits(f->s);
    struct store_evict_result r;
    assert_int_equal(store_evict(f->s, 300, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 0);
    assert_int_equal(r.bytes_freed, 0);
    assert_int_equal(r.bytes_remaining, 300);
    assert_int_equal(store_evict(f->s, UINT64_MAX, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 0);
    assert_int_equal(store_seq(f->s), seq0);
    assert_int_equal(store_removed_seq(f->s), 0);
    assert_int_equal(store_commits(f->s), commits0);
    assert_int_equal(blob_files(f), 3);
    /* an empty store too */
    assert_int_equal(store_evict(f->s, 0, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 3);
    assert_int_equal(store_evict(f->s, 0, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 0);
    assert_int_equal(r.bytes_remaining, 0);
}

/* Touches not yet flushed count: evict flushes them first. */
static void test_flushes_touches(void **state)
{
    struct fx *f = *state;
    char h[64];
    for (size_t i = 0; i < 3; i++)
        add_blob(f, 100, NOW - 1000 + (int64_t)i); /* long ago: 0 is the oldest */
    assert_int_equal(store_blob_touch(f->s, f->sha[0]), 0);
    assert_int_equal(store_touch_pending(f->s), 1);
    struct store_evict_result r;
    assert_int_equal(store_evict(f->s, 200, NOW, 30, &r), 0);
    assert_int_equal(store_touch_pending(f->s), 0);
    held(f, h, sizeof h);
    assert_string_equal(h, "0 2");
}

/* A crash after the rows went and before the files did: the journal lists the
 * files; the next evict unlinks those that are still the same inode and have
 * no row, and leaves a newer copy alone. */
static void test_finishes_interrupted(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < 4; i++)
        add_blob(f, 100, NOW - 10);
    char h[4][PROTO_SHA256_HEX_LEN + 1];
    struct stat st[4];
    for (size_t i = 0; i < 4; i++) {
        char path[PATH_MAX];
        hex(f->sha[i], h[i]);
        assert_int_equal(store_blob_path(f->s, f->sha[i], path, sizeof path), 0);
        assert_int_equal(stat(path, &st[i]), 0);
    }
    /* 0: row gone, file journalled: to be unlinked */
    sql(f, "DELETE FROM blobs WHERE hex(sha256) = upper('%s')", h[0]);
    sql(f, "INSERT INTO blob_unlink VALUES (x'%s', %lld, %lld)", h[0], (long long)st[0].st_dev,
        (long long)st[0].st_ino);
    /* 1: row gone, but the file is another inode now (a newer copy): kept */
    sql(f, "DELETE FROM blobs WHERE hex(sha256) = upper('%s')", h[1]);
    sql(f, "INSERT INTO blob_unlink VALUES (x'%s', %lld, %lld)", h[1], (long long)st[1].st_dev,
        (long long)st[1].st_ino + 1000000);
    /* 2: recorded again since (a row): kept */
    sql(f, "INSERT INTO blob_unlink VALUES (x'%s', %lld, %lld)", h[2], (long long)st[2].st_dev,
        (long long)st[2].st_ino);
    /* 3: the file is gone already */
    sql(f, "DELETE FROM blobs WHERE hex(sha256) = upper('%s')", h[3]);
    char path[PATH_MAX];
    assert_int_equal(store_blob_path(f->s, f->sha[3], path, sizeof path), 0);
    assert_int_equal(unlink(path), 0);
    sql(f, "INSERT INTO blob_unlink VALUES (x'%s', %lld, %lld)", h[3], (long long)st[3].st_dev,
        (long long)st[3].st_ino);

    struct store_evict_result r;
    assert_int_equal(store_evict(f->s, UINT64_MAX, NOW, 30, &r), 0);
    assert_int_equal(r.unlinked_late, 1);
    assert_int_equal(r.removed, 0);
    assert_false(file_exists(f, 0));
    assert_true(file_exists(f, 1));
    assert_true(file_exists(f, 2));
    assert_true(recorded(f, 2));
    assert_int_equal(sql(f, "SELECT count(*) FROM blob_unlink"), 0);

    /* verify finishes a journal too */
    sql(f, "DELETE FROM blobs WHERE hex(sha256) = upper('%s')", h[2]);
    sql(f, "INSERT INTO blob_unlink VALUES (x'%s', %lld, %lld)", h[2], (long long)st[2].st_dev,
        (long long)st[2].st_ino);
    struct store_verify_result vr;
    assert_int_equal(store_verify(f->s, NULL, NULL, &vr), 0);
    assert_false(file_exists(f, 2));
    assert_int_equal(vr.missing, 0);
    assert_int_equal(sql(f, "SELECT count(*) FROM blob_unlink"), 0);
}

/* A row whose file is missing already is evicted like any other (its bytes
 * counted as the row says). */
static void test_missing_file(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < 2; i++)
        add_blob(f, 100, NOW - 10 + (int64_t)i);
    char path[PATH_MAX];
    assert_int_equal(store_blob_path(f->s, f->sha[0], path, sizeof path), 0);
    assert_int_equal(unlink(path), 0);
    struct store_evict_result r;
    assert_int_equal(store_evict(f->s, 100, NOW, 30, &r), 0);
    assert_int_equal(r.removed, 1);
    assert_int_equal(r.bytes_freed, 100);
    assert_false(recorded(f, 0));
    assert_int_equal(sql(f, "SELECT count(*) FROM blob_unlink"), 0);
}

static void test_refused_in_transaction(void **state)
{
    struct fx *f = *state;
    add_blob(f, 100, NOW);
    struct store_evict_result r;
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_evict(f->s, 0, NOW, 30, &r), -EINVAL);
    assert_int_equal(r.removed, 0);
    store_rollback(f->s);
    assert_true(recorded(f, 0));
}

/* The schema: version 3, with pinned_at 0 for blobs recorded without a pin. */
static void test_schema(void **state)
{
    struct fx *f = *state;
    add_blob(f, 10, NOW);
    assert_int_equal(sql(f, "PRAGMA user_version"), 3);
    assert_int_equal(sql(f, "SELECT pinned_at FROM blobs"), 0);
    assert_int_equal(sql(f, "SELECT removed FROM change_seq"), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_lru_order),
        T(test_pinned_kept_first),
        T(test_keep_days_zero),
        T(test_index_entries_stay),
        T(test_sequence),
        T(test_max_zero_evicts_all),
        T(test_under_limit_noop),
        T(test_flushes_touches),
        T(test_finishes_interrupted),
        T(test_missing_file),
        T(test_refused_in_transaction),
        T(test_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
