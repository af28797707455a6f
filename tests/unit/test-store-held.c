/* tests/unit/test-store-held.c — serving a crate (store/held.c): what
 * store_crate_open answers, and that its held set never outlives the truth in
 * a way that could send other bytes than the blob's.
 *
 * Each crate here is a few bytes of text whose SHA-256 is the cksum of a
 * hand-built index entry. "Behind the store's back" means a second SQLite
 * connection (or a second struct store, as `cratecast gc` and `verify` are):
 * an answer that survives a row deleted that way came from memory.
 */
#include <errno.h>
#include <fcntl.h>
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

#define MAXC (STORE_HELD_MAX + 300)

struct fx {
    char root[1024];
    char dir[1100];
    struct store *s;
    size_t n;
    uint8_t sha[MAXC][PROTO_SHA256_LEN];
    uint64_t size[MAXC];
    char data[MAXC][160];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tmp_root_make(f->root, sizeof f->root, "test-store-held");
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

/* One SQL statement on a second connection (behind the store's back). */
static void sql(const struct fx *f, const char *fmt, ...)
{
    char path[PATH_MAX], q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/store.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *err = NULL;
    if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", q, err);
    sqlite3_close(db);
}

/* An index entry name vers whose cksum is crate c's. */
static void add_entry(struct fx *f, const char *name, const char *vers, size_t c)
{
    struct proto_index_entry e;
    char line[512], h[PROTO_SHA256_HEX_LEN + 1];
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "%s", name);
    snprintf(e.vers, sizeof e.vers, "%s", vers);
    memcpy(e.cksum, f->sha[c], PROTO_SHA256_LEN);
    proto_hex_encode(f->sha[c], PROTO_SHA256_LEN, h);
    int n = snprintf(line, sizeof line, "{\"name\":\"%s\",\"vers\":\"%s\",\"cksum\":\"%s\"}", name,
                     vers, h);
    proto_sha256(line, (size_t)n, e.content_hash);
    e.line = (const uint8_t *)line;
    e.line_len = (size_t)n;
    assert_int_equal(store_index_put(f->s, &e, STORE_ORIGIN_UPSTREAM, NULL), STORE_PUT_NEW);
}

static void put_blob(struct fx *f, size_t c)
{
    assert_int_equal(
        store_blob_commit(f->s, f->sha[c], (const uint8_t *)f->data[c], (size_t)f->size[c]), 0);
    assert_int_equal(store_blob_record(f->s, f->sha[c], f->size[c], STORE_ORIGIN_UPSTREAM), 0);
}

/* Crate c: distinct bytes, an entry name vers for it, its blob held when
 * `held`. Returns c. */
static size_t add_crate(struct fx *f, const char *name, const char *vers, bool held)
{
    size_t c = f->n++;
    assert_true(c < MAXC);
    int len = snprintf(f->data[c], sizeof f->data[c], "crate %zu of %s %s", c, name, vers);
    assert_true(len > 0 && (size_t)len < sizeof f->data[c]);
    f->size[c] = (uint64_t)len;
    proto_sha256(f->data[c], (size_t)len, f->sha[c]);
    add_entry(f, name, vers, c);
    if (held)
        put_blob(f, c);
    return c;
}

static void path_of(const struct fx *f, size_t c, char *out, size_t outsz)
{
    assert_int_equal(store_blob_path(f->s, f->sha[c], out, outsz), 0);
}

/* store_crate_open(name, vers, crate c's digest) on s: the answer, and when it
 * is a file, that it holds crate c's bytes and size (then closed). */
static int open_on(struct fx *f, struct store *s, const char *name, const char *vers, size_t c)
{
    uint64_t size = 12345;
    int fd = store_crate_open(s, name, vers, f->sha[c], &size);
    if (fd < 0)
        return fd;
    char buf[sizeof f->data[0] + 1];
    ssize_t got = pread(fd, buf, sizeof buf, 0);
    close(fd);
    assert_int_equal(size, f->size[c]);
    assert_int_equal(got, (ssize_t)f->size[c]);
    assert_memory_equal(buf, f->data[c], (size_t)got);
    return 0;
}

static int open_crate(struct fx *f, const char *name, const char *vers, size_t c)
{
    return open_on(f, f->s, name, vers, c);
}

/* ---- tests ------------------------------------------------------------------- */

/* Each answer, first from the database, then again (held set or not). */
static void test_answers(void **state)
{
    struct fx *f = *state;
    size_t held = add_crate(f, "serde", "1.0.0", true);
    size_t bare = add_crate(f, "serde", "1.0.1", false);
    size_t gone = add_crate(f, "gone", "0.1.0", true);
    size_t other = add_crate(f, "other", "2.0.0", true);
    char path[PATH_MAX];
    path_of(f, gone, path, sizeof path);
    assert_int_equal(unlink(path), 0); /* recorded, file gone: verify's "missing" */
    static const char long_name[] = "a123456789b123456789c123456789d123456789e123456789"
                                    "f123456789g12345"; /* 66 > PROTO_NAME_MAX */
    const struct {
        const char *name, *vers;
        size_t crate;
        int want;
    } cases[] = {
        {"serde", "1.0.0", held, 0},
        {"SERDE", "1.0.0", held, 0},        /* names match case-insensitively */
        {"serde", "1.0.0", other, -ENOENT}, /* another cksum */
        {"serde", "1.0.2", held, -ENOENT},  /* no such version */
        {"serd", "1.0.0", held, -ENOENT},   /* no such name */
        {"", "1.0.0", held, -ENOENT},
        {long_name, "1.0.0", held, -ENOENT},
        {"serde", "1.0.1", bare, -ENODATA}, /* entry, no blob: fetch */
        {"gone", "0.1.0", gone, -ENODATA},  /* recorded, no file: fetch */
        {"other", "2.0.0", other, 0},
    };
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            int rc = open_crate(f, cases[i].name, cases[i].vers, cases[i].crate);
            if (rc != cases[i].want)
                fail_msg("pass %d, %s %s: %d, not %d", pass, cases[i].name, cases[i].vers, rc,
                         cases[i].want);
        }
    assert_int_equal(store_held_count(f->s), 2); /* serde 1.0.0 (one triple), other */
    uint64_t size = 0;
    assert_int_equal(store_crate_open(f->s, "serde", NULL, f->sha[held], &size), -ENOENT);
}

/* A repeat is answered from memory: the entry and blob rows deleted behind the
 * store's back are not seen while the file is there. A connection that never
 * answered it asks the database. */
static void test_repeat_from_memory(void **state)
{
    struct fx *f = *state;
    size_t c = add_crate(f, "anyhow", "1.0.86", true);
    assert_int_equal(open_crate(f, "anyhow", "1.0.86", c), 0);
    assert_int_equal(store_held_count(f->s), 1);
    sql(f, "DELETE FROM index_entries; DELETE FROM blobs");
    assert_int_equal(open_crate(f, "anyhow", "1.0.86", c), 0);
    assert_int_equal(open_crate(f, "Anyhow", "1.0.86", c), 0);
    struct store *s2 = NULL;
    assert_int_equal(store_open(f->dir, &s2), 0);
    assert_int_equal(open_on(f, s2, "anyhow", "1.0.86", c), -ENOENT);
    store_close(s2);
}

/* verify (another process) quarantines a damaged blob: the held triple finds
 * its file gone and the crate is fetched again; once fetched, served again. */
static void test_quarantined_fetched_again(void **state)
{
    struct fx *f = *state;
    size_t c = add_crate(f, "rand", "0.8.5", true);
    assert_int_equal(open_crate(f, "rand", "0.8.5", c), 0);
    char path[PATH_MAX];
    path_of(f, c, path, sizeof path);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 0), 1); /* bit rot */
    close(fd);
    struct store *s2 = NULL;
    struct store_verify_result r;
    assert_int_equal(store_open(f->dir, &s2), 0);
    assert_int_equal(store_verify(s2, NULL, NULL, &r), 0);
    assert_int_equal(r.quarantined, 1);
    store_close(s2);
    assert_int_equal(open_crate(f, "rand", "0.8.5", c), -ENODATA);
    assert_int_equal(store_held_count(f->s), 0);
    put_blob(f, c); /* fetched again */
    assert_int_equal(open_crate(f, "rand", "0.8.5", c), 0);
    assert_int_equal(open_crate(f, "rand", "0.8.5", c), 0);
}

/* An eviction on another connection (the agent's thread pool, `cratecast gc`):
 * rows first, files second. Until the file goes the held triple serves it
 * (still the entry's bytes); after, the crate is fetched again. */
static void test_evicted_elsewhere(void **state)
{
    struct fx *f = *state;
    size_t a = add_crate(f, "a", "1.0.0", true), b = add_crate(f, "b", "1.0.0", true);
    assert_int_equal(open_crate(f, "a", "1.0.0", a), 0);
    assert_int_equal(open_crate(f, "b", "1.0.0", b), 0);
    sql(f, "DELETE FROM blobs"); /* an eviction's rows, its files not yet */
    assert_int_equal(open_crate(f, "a", "1.0.0", a), 0);
    struct store *s2 = NULL;
    struct store_evict_result r;
    assert_int_equal(store_open(f->dir, &s2), 0);
    put_blob(f, a);
    put_blob(f, b);
    assert_int_equal(store_evict(s2, 0, 1700000000, 0, &r), 0);
    assert_int_equal(r.removed, 2);
    store_close(s2);
    assert_int_equal(open_crate(f, "a", "1.0.0", a), -ENODATA);
    assert_int_equal(open_crate(f, "b", "1.0.0", b), -ENODATA);
    assert_int_equal(store_held_count(f->s), 0);
}

/* An entry dropped on this connection (the upstream no longer lists it) is
 * forgotten at once, even when its blob stays for another entry. */
static void test_drop_forgets(void **state)
{
    struct fx *f = *state;
    size_t c = add_crate(f, "old", "1.0.0", true);
    add_entry(f, "new", "1.0.0", c); /* the same bytes under a second entry */
    assert_int_equal(open_crate(f, "old", "1.0.0", c), 0);
    assert_int_equal(open_crate(f, "new", "1.0.0", c), 0);
    assert_int_equal(store_held_count(f->s), 2);
    bool blob_dropped = true;
    assert_int_equal(store_index_drop(f->s, "OLD", "1.0.0", &blob_dropped), 0);
    assert_false(blob_dropped);
    assert_int_equal(store_held_count(f->s), 1);
    assert_int_equal(open_crate(f, "old", "1.0.0", c), -ENOENT);
    assert_int_equal(open_crate(f, "new", "1.0.0", c), 0);
    assert_int_equal(store_index_drop(f->s, "new", "1.0.0", &blob_dropped), 0);
    assert_true(blob_dropped);
    assert_int_equal(open_crate(f, "new", "1.0.0", c), -ENOENT);
    assert_int_equal(store_held_count(f->s), 0);
}

/* A listing's held rows join the set (Cargo reads the index file first), with
 * their size learnt at the first open. */
static void test_listing_fills(void **state)
{
    struct fx *f = *state;
    size_t v1 = add_crate(f, "Tokio", "1.0.0", true);
    add_crate(f, "tokio", "1.0.1", false);
    size_t v2 = add_crate(f, "tokio", "1.0.2", true);
    size_t mio = add_crate(f, "mio", "1.0.0", true);
    struct store_index_list l;
    assert_int_equal(store_index_list(f->s, "TOKIO", &l), 0);
    assert_int_equal(l.n, 3);
    store_index_list_free(&l);
    assert_int_equal(store_held_count(f->s), 2);
    sql(f, "DELETE FROM index_entries; DELETE FROM blobs");
    assert_int_equal(open_crate(f, "tokio", "1.0.0", v1), 0);
    assert_int_equal(open_crate(f, "tokio", "1.0.2", v2), 0);
    assert_int_equal(open_crate(f, "tokio", "1.0.2", v2), 0);
    assert_int_equal(open_crate(f, "mio", "1.0.0", mio), -ENOENT); /* never listed here */
}

/* What an open transaction shows is not remembered: it may be rolled back. */
static void test_not_in_transaction(void **state)
{
    struct fx *f = *state;
    size_t c = add_crate(f, "t", "1.0.0", true);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(open_crate(f, "t", "1.0.0", c), 0);
    struct store_index_list l;
    assert_int_equal(store_index_list(f->s, "t", &l), 0);
    store_index_list_free(&l);
    assert_int_equal(store_held_count(f->s), 0);
    store_rollback(f->s);
    assert_int_equal(open_crate(f, "t", "1.0.0", c), 0);
    assert_int_equal(store_held_count(f->s), 1);
}

/* More crates than the set holds: it stays bounded and every answer right. */
static void test_bounded(void **state)
{
    struct fx *f = *state;
    char name[32];
    assert_int_equal(store_begin(f->s), 0);
    for (size_t i = 0; i < MAXC; i++) {
        snprintf(name, sizeof name, "c%zu", i);
        add_crate(f, name, "1.0.0", i % 7 != 0);
    }
    assert_int_equal(store_commit(f->s), 0);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < MAXC; i++) {
            snprintf(name, sizeof name, "c%zu", i);
            assert_int_equal(open_crate(f, name, "1.0.0", i), i % 7 != 0 ? 0 : -ENODATA);
        }
    assert_true(store_held_count(f->s) <= STORE_HELD_MAX);
    assert_true(store_held_count(f->s) > STORE_HELD_MAX / 2);
}

/* A version too long to keep is still answered, from the database each time. */
static void test_long_version(void **state)
{
    struct fx *f = *state;
    const char *vers = "1.0.0-alpha.0123456789.0123456789.0123456789+build.0123456789.01234";
    size_t c = add_crate(f, "long", vers, true);
    assert_int_equal(open_crate(f, "long", vers, c), 0);
    assert_int_equal(open_crate(f, "long", vers, c), 0);
    assert_int_equal(store_held_count(f->s), 0);
}

static void test_blob_open(void **state)
{
    struct fx *f = *state;
    size_t c = add_crate(f, "b", "1.0.0", true);
    size_t n = add_crate(f, "b", "1.0.1", false);
    uint64_t size = 0;
    int fd = store_blob_open(f->s, f->sha[c], &size);
    assert_true(fd >= 0);
    assert_int_equal(size, f->size[c]);
    close(fd);
    assert_int_equal(store_blob_open(f->s, f->sha[n], &size), -ENOENT);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_answers),
        T(test_repeat_from_memory),
        T(test_quarantined_fetched_again),
        T(test_evicted_elsewhere),
        T(test_drop_forgets),
        T(test_listing_fills),
        T(test_not_in_transaction),
        T(test_bounded),
        T(test_long_version),
        T(test_blob_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
