/* tests/unit/test-store.c — store/ against a temporary directory.
 *
 * Each test gets a fresh directory under $TMPDIR (removed afterwards) and a
 * store opened at DIR/a/b/store, so store_open's mkdir -p is exercised every
 * time. Index entries are built by hand (name, vers, cksum, yanked, a content
 * hash, a line): the store only compares content hashes, it never parses.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmp_root.h"
#include <sodium.h>
#include <sqlite3.h>

#include "store/store.h"

struct fx {
    char root[1024]; /* mkdtemp'd; removed by teardown */
    char dir[1100];  /* the store directory */
    struct store *s;
};

/* ---- helpers ---------------------------------------------------------------- */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tmp_root_make(f->root, sizeof f->root, "test-store");
    snprintf(f->dir, sizeof f->dir, "%s/a/b/store", f->root);
    assert_int_equal(store_open(f->dir, &f->s), 0);
    assert_non_null(f->s);
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

static void reopen(struct fx *f)
{
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(store_open(f->dir, &f->s), 0);
}

/* Number of entries in DIR/sub (0 when it does not exist). */
static int count_dir(const struct fx *f, const char *sub)
{
    char path[PATH_MAX + 64];
    int pl = snprintf(path, sizeof path, "%s/%s", f->dir, sub);
    assert_true(pl > 0 && (size_t)pl < sizeof path);
    int n = 0;
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Total files under blobs/ (two levels). */
static int count_blobs(const struct fx *f)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/blobs", f->dir);
    int n = 0;
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX + 128];
        snprintf(sub, sizeof sub, "blobs/%s", de->d_name);
        n += count_dir(f, sub);
    }
    closedir(d);
    return n;
}

static void write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static size_t read_file(const char *path, void *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, cap);
    assert_true(n >= 0);
    close(fd);
    return (size_t)n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A hand-built index entry. The line is a plausible JSON line kept in *buf. */
struct entry {
    struct proto_index_entry e;
    char line[512];
};

static void make_entry(struct entry *x, const char *name, const char *vers,
                       const uint8_t cksum[PROTO_SHA256_LEN], bool yanked, uint8_t content)
{
    char hex[PROTO_SHA256_HEX_LEN + 1];
    memset(x, 0, sizeof *x);
    snprintf(x->e.name, sizeof x->e.name, "%s", name);
    snprintf(x->e.vers, sizeof x->e.vers, "%s", vers);
    memcpy(x->e.cksum, cksum, PROTO_SHA256_LEN);
    x->e.yanked = yanked;
    memset(x->e.content_hash, content, PROTO_SHA256_LEN);
    proto_hex_encode(cksum, PROTO_SHA256_LEN, hex);
    int n = snprintf(x->line, sizeof x->line,
                     "{\"name\":\"%s\",\"vers\":\"%s\",\"deps\":[],\"cksum\":\"%s\","
                     "\"features\":{},\"yanked\":%s,\"c\":%u}",
                     name, vers, hex, yanked ? "true" : "false", content);
    x->e.line = (const uint8_t *)x->line;
    x->e.line_len = (size_t)n;
}

static void fake_sha(uint8_t out[PROTO_SHA256_LEN], uint8_t v)
{
    memset(out, v, PROTO_SHA256_LEN);
}

static int put(struct fx *f, const char *name, const char *vers, uint8_t ck, bool yanked,
               uint8_t content)
{
    uint8_t sha[PROTO_SHA256_LEN];
    struct entry x;
    fake_sha(sha, ck);
    make_entry(&x, name, vers, sha, yanked, content);
    return store_index_put(f->s, &x.e, STORE_ORIGIN_UPSTREAM, "https://index.crates.io/");
}

/* An index entry whose cksum is the SHA-256 of data, and the committed +
 * recorded blob. */
static void put_blob(struct fx *f, const char *name, const char *vers, const char *data,
                     uint8_t sha[PROTO_SHA256_LEN])
{
    struct entry x;
    proto_sha256(data, strlen(data), sha);
    make_entry(&x, name, vers, sha, false, 7);
    assert_true(store_index_put(f->s, &x.e, STORE_ORIGIN_UPSTREAM, NULL) >= 0);
    assert_int_equal(store_blob_commit(f->s, sha, (const uint8_t *)data, strlen(data)), 0);
    assert_int_equal(store_blob_record(f->s, sha, strlen(data), STORE_ORIGIN_UPSTREAM), 0);
}

/* ---- open / close ----------------------------------------------------------- */

static void test_open_layout(void **state)
{
    struct fx *f = *state;
    static const char *const subs[] = {"", "/blobs", "/tmp", "/quarantine"};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char path[PATH_MAX + 64];
        struct stat st;
        snprintf(path, sizeof path, "%s%s", f->dir, subs[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0700);
    }
    char db[PATH_MAX + 64];
    snprintf(db, sizeof db, "%s/store.db", f->dir);
    assert_true(exists(db));
    assert_string_equal(store_dir(f->s), f->dir);
    assert_non_null(store_errmsg(f->s));
    store_close(NULL);
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    struct store *s = (struct store *)1;
    struct store_error err;
    char path[PATH_MAX + 64], want[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/file", f->root);
    write_file(path, "x", 1);
    assert_int_equal(store_open_err(path, &s, &err), -ENOTDIR);
    assert_null(s);
    snprintf(want, sizeof want, "the store path %s is a file, not a directory", path);
    assert_string_equal(err.text, want);
    snprintf(path, sizeof path, "%s/file/sub", f->root);
    assert_int_equal(store_open(path, &s), -ENOTDIR);
    assert_int_equal(store_open_err("", &s, &err), -EINVAL);
    assert_true(err.text[0] != '\0');

    /* a file where blobs/ should be: refused, nothing else touched */
    store_close(f->s);
    f->s = NULL;
    snprintf(path, sizeof path, "%s/blobs", f->dir);
    assert_int_equal(rmdir(path), 0);
    write_file(path, "not a directory", 15);
    assert_int_equal(store_open_err(f->dir, &s, &err), -ENOTDIR);
    assert_null(s);
    snprintf(want, sizeof want, "%s is a file, not a directory", path);
    assert_string_equal(err.text, want);
    assert_int_equal(unlink(path), 0);
    reopen(f);
    assert_int_equal(count_dir(f, "blobs"), 0);

    /* a directory this user cannot write (root can, whatever the mode) */
    if (geteuid() != 0) {
        store_close(f->s);
        f->s = NULL;
        assert_int_equal(chmod(f->dir, 0500), 0);
        assert_int_equal(store_open_err(f->dir, &s, &err), -EACCES);
        snprintf(want, sizeof want, "%s is not writable by this user", f->dir);
        assert_string_equal(err.text, want);
        assert_int_equal(chmod(f->dir, 0700), 0);
        reopen(f);
    }
}

static void test_reopen_persists(void **state)
{
    struct fx *f = *state;
    uint8_t sha[PROTO_SHA256_LEN];
    struct store_index_meta m = {.etag = "\"abc\"", .fetched_at = 1700000000};
    assert_int_equal(put(f, "serde", "1.0.0", 1, false, 1), STORE_PUT_NEW);
    assert_int_equal(store_index_meta_put(f->s, "serde", &m), 0);
    put_blob(f, "tiny", "0.1.0", "tiny crate bytes", sha);

    reopen(f);
    struct store_index_list l;
    assert_int_equal(store_index_list(f->s, "serde", &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.rows[0].vers, "1.0.0");
    store_index_list_free(&l);
    struct store_index_meta g;
    assert_int_equal(store_index_meta_get(f->s, "serde", &g), 0);
    assert_string_equal(g.etag, "\"abc\"");
    assert_true(store_blob_has(f->s, sha));
    assert_int_equal(put(f, "serde", "1.0.0", 1, false, 1), STORE_PUT_SAME);
}

/* Two connections on one directory (the loop thread and an import worker). */
static void test_two_connections(void **state)
{
    struct fx *f = *state;
    struct store *s2 = NULL;
    assert_int_equal(store_open(f->dir, &s2), 0);
    assert_int_equal(put(f, "anyhow", "1.0.0", 3, false, 3), STORE_PUT_NEW);
    struct store_index_row row;
    assert_int_equal(store_index_get(s2, "anyhow", "1.0.0", &row), 0);
    store_index_row_free(&row);
    assert_int_equal(store_begin(s2), 0);
    uint8_t ck[PROTO_SHA256_LEN];
    struct entry x;
    fake_sha(ck, 4);
    make_entry(&x, "anyhow", "1.0.1", ck, false, 4);
    assert_int_equal(store_index_put(s2, &x.e, STORE_ORIGIN_CARGO_HOME, NULL), STORE_PUT_NEW);
    assert_int_equal(store_commit(s2), 0);
    store_close(s2);
    struct store_index_list l;
    assert_int_equal(store_index_list(f->s, "anyhow", &l), 0);
    assert_int_equal(l.n, 2);
    store_index_list_free(&l);
}

struct writer {
    const char *dir;
    int rc;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct store *s2 = NULL;
    uint8_t ck[PROTO_SHA256_LEN];
    struct entry x;
    w->rc = store_open(w->dir, &s2);
    if (w->rc == 0) {
        fake_sha(ck, 5);
        make_entry(&x, "waits", "1.0.0", ck, false, 5);
        w->rc = store_index_put(s2, &x.e, STORE_ORIGIN_CARGO_HOME, NULL);
    }
    store_close(s2);
    return NULL;
}

/* A write transaction held by one connection is waited for, not failed, by
 * the other (busy_timeout), as the import worker does against the loop. */
static void test_busy_waits(void **state)
{
    struct fx *f = *state;
    pthread_t t;
    struct writer w = {.dir = f->dir, .rc = 1};
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(put(f, "holds", "1.0.0", 6, false, 6), STORE_PUT_NEW);
    assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
    usleep(300 * 1000);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.rc, STORE_PUT_NEW);
    struct store_stats st;
    assert_int_equal(store_stats(f->s, &st), 0);
    assert_int_equal(st.index_entries, 2);
}

/* ---- index entries ---------------------------------------------------------- */

static void test_put_table(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *name, *vers;
        uint8_t ck;
        bool yanked;
        uint8_t content;
        int want;
    } steps[] = {
        {"serde", "1.0.0", 1, false, 1, STORE_PUT_NEW},
        {"serde", "1.0.0", 1, false, 1, STORE_PUT_SAME},
        {"serde", "1.0.0", 1, true, 1, STORE_PUT_YANK}, /* yank */
        {"serde", "1.0.0", 1, true, 1, STORE_PUT_SAME},
        {"serde", "1.0.0", 1, false, 1, STORE_PUT_YANK}, /* unyank */
        {"serde", "1.0.0", 2, false, 2, -EEXIST},        /* other cksum */
        {"serde", "1.0.0", 1, false, 9, -EEXIST},        /* other deps, same cksum */
        {"serde", "1.0.0", 1, true, 9, -EEXIST},         /* contradiction + yank */
        {"serde", "1.0.1", 2, false, 2, STORE_PUT_NEW},
        {"serde", "1.0.0+build.1", 3, false, 3, STORE_PUT_NEW}, /* build metadata counts */
        {"serde", "1.0.0-alpha", 4, true, 4, STORE_PUT_NEW},
        {"SERDE", "1.0.1", 2, false, 2, STORE_PUT_SAME}, /* case-insensitive */
        {"Serde", "1.0.1", 5, false, 5, -EEXIST},
        {"serde_json", "1.0.0", 6, false, 6, STORE_PUT_NEW},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int rc =
            put(f, steps[i].name, steps[i].vers, steps[i].ck, steps[i].yanked, steps[i].content);
        if (rc != steps[i].want)
            fail_msg("step %zu (%s %s): got %d, want %d", i, steps[i].name, steps[i].vers, rc,
                     steps[i].want);
    }
    /* the contradictions changed nothing */
    struct store_index_row row;
    assert_int_equal(store_index_get(f->s, "serde", "1.0.0", &row), 0);
    uint8_t ck1[PROTO_SHA256_LEN];
    fake_sha(ck1, 1);
    assert_memory_equal(row.cksum, ck1, PROTO_SHA256_LEN);
    assert_false(row.yanked);
    assert_non_null(strstr(row.line, "\"yanked\":false"));
    assert_non_null(strstr(row.line, "\"c\":1}"));
    assert_int_equal(row.line_len, strlen(row.line));
    store_index_row_free(&row);
    assert_int_equal(store_index_get(f->s, "serde", "1.0.2", &row), -ENOENT);
    assert_int_equal(store_index_get(f->s, "nope", "1.0.0", &row), -ENOENT);
}

static void test_put_invalid(void **state)
{
    struct fx *f = *state;
    uint8_t ck[PROTO_SHA256_LEN];
    struct entry x;
    fake_sha(ck, 1);
    make_entry(&x, "", "1.0.0", ck, false, 1);
    assert_int_equal(store_index_put(f->s, &x.e, STORE_ORIGIN_UPSTREAM, NULL), -EINVAL);
    make_entry(&x, "ok", "", ck, false, 1);
    assert_int_equal(store_index_put(f->s, &x.e, STORE_ORIGIN_UPSTREAM, NULL), -EINVAL);
}

static void test_yank_updates_line(void **state)
{
    struct fx *f = *state;
    struct store_index_row row;
    assert_int_equal(put(f, "rand", "0.8.5", 1, false, 1), STORE_PUT_NEW);
    assert_int_equal(put(f, "rand", "0.8.5", 1, true, 1), STORE_PUT_YANK);
    assert_int_equal(store_index_get(f->s, "RAND", "0.8.5", &row), 0);
    assert_true(row.yanked);
    assert_non_null(strstr(row.line, "\"yanked\":true"));
    store_index_row_free(&row);
    store_index_row_free(NULL);
}

static void test_list_order_have_blob(void **state)
{
    struct fx *f = *state;
    static const char *const vers[] = {"1.0.0", "0.9.0", "1.0.0+b", "1.0.0-alpha", "0.1.0"};
    const size_t nv = sizeof vers / sizeof vers[0];
    uint8_t sha[PROTO_SHA256_LEN];

    for (size_t i = 0; i < nv; i++)
        assert_int_equal(put(f, "Tokio", vers[i], (uint8_t)(10 + i), i == 3, (uint8_t)i),
                         STORE_PUT_NEW);
    put_blob(f, "tokio", "2.0.0", "the 2.0.0 bytes", sha);
    /* a re-put of an older version does not move it */
    assert_int_equal(put(f, "tokio", vers[1], 11, true, 1), STORE_PUT_YANK);

    struct store_index_list l;
    assert_int_equal(store_index_list(f->s, "tOKIO", &l), 0);
    assert_int_equal(l.n, nv + 1);
    for (size_t i = 0; i < nv; i++) {
        assert_string_equal(l.rows[i].vers, vers[i]);
        assert_false(l.rows[i].have_blob);
        assert_int_equal(l.rows[i].yanked, i == 3 || i == 1);
        assert_non_null(l.rows[i].line);
        assert_int_equal(strlen(l.rows[i].line), l.rows[i].line_len);
    }
    assert_string_equal(l.rows[nv].vers, "2.0.0");
    assert_true(l.rows[nv].have_blob);
    assert_memory_equal(l.rows[nv].cksum, sha, PROTO_SHA256_LEN);
    store_index_list_free(&l);
    assert_null(l.rows);
    store_index_list_free(NULL);

    assert_int_equal(store_index_list(f->s, "unknown", &l), 0);
    assert_int_equal(l.n, 0);
    store_index_list_free(&l);
}

/* Online the upstream is authoritative: an entry only a peer described is
 * confirmed (origin upgraded) or dropped, and a dropped entry's blob goes with
 * it unless another entry still vouches for its digest. */
static void test_origin_confirm_drop(void **state)
{
    struct fx *f = *state;
    uint8_t sha[PROTO_SHA256_LEN], shared[PROTO_SHA256_LEN];
    const char *data = "invented crate bytes";
    struct entry x;
    proto_sha256(data, strlen(data), sha);
    make_entry(&x, "serde", "1.0.999", sha, false, 9);
    assert_int_equal(store_index_put(f->s, &x.e, STORE_ORIGIN_PEER, "key"), STORE_PUT_NEW);
    assert_int_equal(store_blob_commit(f->s, sha, (const uint8_t *)data, strlen(data)), 0);
    assert_int_equal(store_blob_record(f->s, sha, strlen(data), STORE_ORIGIN_PEER), 0);
    fake_sha(shared, 0x51);
    make_entry(&x, "serde", "1.0.1", shared, false, 1);
    assert_int_equal(store_index_put(f->s, &x.e, STORE_ORIGIN_PEER, "key"), STORE_PUT_NEW);
    make_entry(&x, "serde_alias", "1.0.1", shared, false, 1);
    assert_int_equal(store_index_put(f->s, &x.e, STORE_ORIGIN_UPSTREAM, "up"), STORE_PUT_NEW);

    struct store_index_row row;
    assert_int_equal(store_index_get(f->s, "serde", "1.0.1", &row), 0);
    assert_int_equal(row.origin, STORE_ORIGIN_PEER);
    store_index_row_free(&row);
    /* confirmed by the upstream: recorded as the upstream's */
    assert_int_equal(store_index_confirm(f->s, "SERDE", "1.0.1", STORE_ORIGIN_UPSTREAM, "up"), 0);
    assert_int_equal(store_index_get(f->s, "serde", "1.0.1", &row), 0);
    assert_int_equal(row.origin, STORE_ORIGIN_UPSTREAM);
    store_index_row_free(&row);
    /* confirm never downgrades or touches other origins */
    assert_int_equal(store_index_confirm(f->s, "serde", "1.0.1", STORE_ORIGIN_PEER, "x"), 0);
    assert_int_equal(store_index_get(f->s, "serde", "1.0.1", &row), 0);
    assert_int_equal(row.origin, STORE_ORIGIN_UPSTREAM);
    store_index_row_free(&row);

    /* dropped, with its blob (no other entry vouches for it) */
    char path[4096];
    assert_true(store_blob_path(f->s, sha, path, sizeof path) >= 0);
    assert_true(exists(path));
    bool blob = false;
    assert_int_equal(store_index_drop(f->s, "serde", "1.0.999", &blob), 0);
    assert_true(blob);
    assert_false(exists(path));
    assert_false(store_blob_has(f->s, sha));
    assert_int_equal(store_index_get(f->s, "serde", "1.0.999", &row), -ENOENT);
    assert_int_equal(store_index_drop(f->s, "serde", "1.0.999", &blob), -ENOENT);
    /* an entry whose digest another entry still vouches for leaves the digest trusted */
    assert_int_equal(store_index_drop(f->s, "serde", "1.0.1", &blob), 0);
    assert_false(blob);
    assert_true(store_cksum_trusted(f->s, shared));
}

/* store_index_ingest: the one rule for entries from any source. */
static void test_ingest_rule(void **state)
{
    struct fx *f = *state;
    uint8_t a[PROTO_SHA256_LEN], b[PROTO_SHA256_LEN];
    struct entry x;
    struct store_index_row row;
    fake_sha(a, 0x61);
    fake_sha(b, 0x62);
    /* a peer's entry, then the upstream contradicting it: the upstream's replaces it */
    make_entry(&x, "tokio", "1.0.0", a, false, 1);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_PEER, "key"), STORE_INGEST_NEW);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_PEER, "key"), STORE_INGEST_HELD);
    make_entry(&x, "tokio", "1.0.0", b, false, 2);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_UPSTREAM, "up"),
                     STORE_INGEST_REPLACED);
    assert_int_equal(store_index_get(f->s, "tokio", "1.0.0", &row), 0);
    assert_int_equal(row.origin, STORE_ORIGIN_UPSTREAM);
    assert_memory_equal(row.cksum, b, PROTO_SHA256_LEN);
    store_index_row_free(&row);
    assert_false(store_cksum_trusted(f->s, a));
    /* a peer (or a CARGO_HOME) contradicting the upstream's entry: rejected, unchanged */
    make_entry(&x, "tokio", "1.0.0", a, false, 1);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_PEER, "key"),
                     STORE_INGEST_CONFLICT);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_CARGO_HOME, "home"),
                     STORE_INGEST_CONFLICT);
    assert_int_equal(store_index_get(f->s, "tokio", "1.0.0", &row), 0);
    assert_memory_equal(row.cksum, b, PROTO_SHA256_LEN);
    store_index_row_free(&row);
    /* the upstream contradicting an entry it did not get from a peer: rejected too */
    make_entry(&x, "mio", "0.8.0", a, false, 3);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_CARGO_HOME, "home"),
                     STORE_INGEST_NEW);
    make_entry(&x, "mio", "0.8.0", b, false, 4);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_UPSTREAM, "up"),
                     STORE_INGEST_CONFLICT);
    /* the upstream repeating a peer's entry: held, and from now on the upstream's */
    make_entry(&x, "bytes", "1.5.0", a, false, 5);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_PEER, "key"), STORE_INGEST_NEW);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_UPSTREAM, "up"),
                     STORE_INGEST_HELD);
    assert_int_equal(store_index_get(f->s, "bytes", "1.5.0", &row), 0);
    assert_int_equal(row.origin, STORE_ORIGIN_UPSTREAM);
    store_index_row_free(&row);
    /* a bundle's entry rests on its signer's word as a peer's does: the upstream
     * replaces it when contradicting, and confirms it when repeating */
    assert_true(store_origin_signed(STORE_ORIGIN_BUNDLE));
    assert_true(store_origin_signed(STORE_ORIGIN_PEER));
    assert_false(store_origin_signed(STORE_ORIGIN_UPSTREAM));
    assert_false(store_origin_signed(STORE_ORIGIN_CARGO_HOME));
    make_entry(&x, "rand", "0.8.5", a, false, 6);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_BUNDLE, "signer"),
                     STORE_INGEST_NEW);
    make_entry(&x, "rand", "0.8.5", b, false, 7);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_BUNDLE, "signer"),
                     STORE_INGEST_CONFLICT);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_UPSTREAM, "up"),
                     STORE_INGEST_REPLACED);
    make_entry(&x, "log", "0.4.0", a, false, 8);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_BUNDLE, "signer"),
                     STORE_INGEST_NEW);
    assert_int_equal(store_index_ingest(f->s, &x.e, STORE_ORIGIN_UPSTREAM, "up"),
                     STORE_INGEST_HELD);
    assert_int_equal(store_index_get(f->s, "log", "0.4.0", &row), 0);
    assert_int_equal(row.origin, STORE_ORIGIN_UPSTREAM);
    store_index_row_free(&row);
}

static void test_cksum_trusted(void **state)
{
    struct fx *f = *state;
    uint8_t a[PROTO_SHA256_LEN], b[PROTO_SHA256_LEN];
    fake_sha(a, 0x42);
    fake_sha(b, 0x43);
    assert_false(store_cksum_trusted(f->s, a));
    assert_int_equal(put(f, "libc", "0.2.0", 0x42, false, 1), STORE_PUT_NEW);
    assert_true(store_cksum_trusted(f->s, a));
    assert_false(store_cksum_trusted(f->s, b));
}

static void test_transactions(void **state)
{
    struct fx *f = *state;
    struct store_index_row row;

    assert_int_equal(store_commit(f->s), -EINVAL);
    store_rollback(f->s); /* no-op when idle */

    /* outer rollback undoes */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(put(f, "a", "1.0.0", 1, false, 1), STORE_PUT_NEW);
    store_rollback(f->s);
    assert_int_equal(store_index_get(f->s, "a", "1.0.0", &row), -ENOENT);

    /* nested: only the outermost commit acts */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(put(f, "b", "1.0.0", 1, false, 1), STORE_PUT_NEW);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(put(f, "b", "1.0.0", 2, false, 2), -EEXIST); /* does not doom it */
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_index_get(f->s, "b", "1.0.0", &row), 0);
    store_index_row_free(&row);

    /* an inner rollback dooms the whole transaction */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(put(f, "c", "1.0.0", 1, false, 1), STORE_PUT_NEW);
    assert_int_equal(store_begin(f->s), 0);
    store_rollback(f->s);
    assert_int_equal(store_commit(f->s), -ECANCELED);
    assert_int_equal(store_index_get(f->s, "c", "1.0.0", &row), -ENOENT);
    store_rollback(f->s); /* the callers' pattern after a failed commit: a no-op */

    /* closing with a transaction open rolls it back */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(put(f, "d", "1.0.0", 1, false, 1), STORE_PUT_NEW);
    reopen(f);
    assert_int_equal(store_index_get(f->s, "d", "1.0.0", &row), -ENOENT);
}

/* The same rules through proto's parser on literal lines: key order, a yank
 * and a changed dependency are told apart by the content hash. */
static void test_put_parsed_lines(void **state)
{
    struct fx *f = *state;
#define CK "\"cksum\":\"5b5e8f7c1ed1c7e1c6a1e4c1b0d2b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e\""
    static const struct {
        const char *line;
        int want;
    } steps[] = {
        {"{\"name\":\"Itoa\",\"vers\":\"1.0.0\",\"deps\":[]," CK ",\"features\":{},"
         "\"yanked\":false}",
         STORE_PUT_NEW},
        {"{\"vers\":\"1.0.0\",\"name\":\"itoa\",\"deps\":[]," CK ",\"features\":{},"
         "\"yanked\":false}",
         -EEXIST}, /* "Itoa" vs "itoa" is content: a contradiction */
        {"{\"name\":\"Itoa\",\"vers\":\"1.0.0\",\"deps\":[]," CK ",\"features\":{}}",
         STORE_PUT_SAME}, /* no "yanked" member = false */
        {"{\"features\":{},\"name\":\"Itoa\"," CK ",\"vers\":\"1.0.0\",\"deps\":[],"
         "\"yanked\":true}",
         STORE_PUT_YANK}, /* reordered keys, yanked */
        {"{\"name\":\"Itoa\",\"vers\":\"1.0.0\",\"deps\":[{\"name\":\"serde\","
         "\"req\":\"^1\"}]," CK ",\"features\":{},\"yanked\":true}",
         -EEXIST}, /* a dependency added */
    };
#undef CK
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        struct proto_index_entry e;
        const char *l = steps[i].line;
        int rc = proto_index_line_parse((const uint8_t *)l, strlen(l), &e);
        if (rc < 0)
            fail_msg("step %zu: parse: %d", i, rc);
        rc = store_index_put(f->s, &e, STORE_ORIGIN_UPSTREAM, NULL);
        proto_index_entry_clear(&e);
        if (rc != steps[i].want)
            fail_msg("step %zu: got %d, want %d", i, rc, steps[i].want);
    }
    struct store_index_row row;
    assert_int_equal(store_index_get(f->s, "itoa", "1.0.0", &row), 0);
    assert_true(row.yanked);
    assert_string_equal(row.line, steps[3].line); /* the bytes of the last accepted line */
    store_index_row_free(&row);
}

/* ---- index metadata --------------------------------------------------------- */

static void test_meta(void **state)
{
    struct fx *f = *state;
    struct store_index_meta m, g;
    assert_int_equal(store_index_meta_get(f->s, "serde", &g), -ENOENT);

    memset(&m, 0, sizeof m);
    snprintf(m.etag, sizeof m.etag, "W/\"1234\"");
    snprintf(m.last_modified, sizeof m.last_modified, "Tue, 01 Oct 2024 00:00:00 GMT");
    m.fetched_at = 1727740800;
    assert_int_equal(store_index_meta_put(f->s, "Serde", &m), 0);
    assert_int_equal(store_index_meta_get(f->s, "SERDE", &g), 0);
    assert_string_equal(g.etag, m.etag);
    assert_string_equal(g.last_modified, m.last_modified);
    assert_int_equal(g.fetched_at, m.fetched_at);
    assert_false(g.not_found);

    /* replaced as a whole: a 404 clears the validators */
    memset(&m, 0, sizeof m);
    m.fetched_at = 1727740900;
    m.not_found = true;
    assert_int_equal(store_index_meta_put(f->s, "serde", &m), 0);
    assert_int_equal(store_index_meta_get(f->s, "serde", &g), 0);
    assert_string_equal(g.etag, "");
    assert_string_equal(g.last_modified, "");
    assert_int_equal(g.fetched_at, 1727740900);
    assert_true(g.not_found);

    /* a full-length etag round-trips */
    memset(&m, 'e', sizeof m.etag - 1);
    m.etag[sizeof m.etag - 1] = '\0';
    assert_int_equal(store_index_meta_put(f->s, "x", &m), 0);
    assert_int_equal(store_index_meta_get(f->s, "x", &g), 0);
    assert_int_equal(strlen(g.etag), sizeof g.etag - 1);

    assert_int_equal(store_index_meta_put(f->s, "", &m), -EINVAL);
}

/* ---- blobs ------------------------------------------------------------------- */

static void test_blob_path(void **state)
{
    struct fx *f = *state;
    uint8_t sha[PROTO_SHA256_LEN];
    char path[PATH_MAX + 128], want[PATH_MAX + 128], small[8];
    fake_sha(sha, 0xab);
    assert_int_equal(store_blob_path(f->s, sha, path, sizeof path), 0);
    snprintf(want, sizeof want, "%s/blobs/ab/%.64s", f->dir,
             "abababababababababababababababababababababababababababababababab");
    assert_string_equal(path, want);
    assert_int_equal(store_blob_path(f->s, sha, small, sizeof small), -ENAMETOOLONG);
}

static void test_blob_commit(void **state)
{
    struct fx *f = *state;
    static const char data[] = "pretend this is a gzipped tarball";
    uint8_t sha[PROTO_SHA256_LEN];
    char path[PATH_MAX + 128], got[128];
    struct entry x;

    proto_sha256(data, sizeof data - 1, sha);
    assert_int_equal(store_blob_commit(f->s, sha, (const uint8_t *)data, sizeof data - 1), 0);
    assert_int_equal(store_blob_path(f->s, sha, path, sizeof path), 0);
    assert_int_equal(read_file(path, got, sizeof got), sizeof data - 1);
    assert_memory_equal(got, data, sizeof data - 1);
    assert_int_equal(count_dir(f, "tmp"), 0);
    /* committed is not recorded */
    assert_false(store_blob_has(f->s, sha));
    /* committing again is harmless */
    assert_int_equal(store_blob_commit(f->s, sha, (const uint8_t *)data, sizeof data - 1), 0);
    assert_int_equal(count_blobs(f), 1);

    make_entry(&x, "fake", "1.0.0", sha, false, 1);
    assert_int_equal(store_index_put(f->s, &x.e, STORE_ORIGIN_PEER, "key:abcd"), STORE_PUT_NEW);
    assert_int_equal(store_blob_record(f->s, sha, sizeof data - 1, STORE_ORIGIN_PEER), 0);
    assert_int_equal(store_blob_record(f->s, sha, sizeof data - 1, STORE_ORIGIN_PEER), 0);
    assert_true(store_blob_has(f->s, sha));
    assert_int_equal(store_blob_touch(f->s, sha), 0);

    /* recorded but its file gone: not "had" */
    unlink(path);
    assert_false(store_blob_has(f->s, sha));

    /* the empty blob is a blob like any other */
    uint8_t esha[PROTO_SHA256_LEN];
    proto_sha256("", 0, esha);
    assert_int_equal(store_blob_commit(f->s, esha, NULL, 0), 0);
}

static void test_blob_commit_mismatch(void **state)
{
    struct fx *f = *state;
    static const char data[] = "some bytes";
    uint8_t sha[PROTO_SHA256_LEN];
    char path[PATH_MAX + 128];

    proto_sha256("other bytes", 11, sha);
    assert_int_equal(store_blob_commit(f->s, sha, (const uint8_t *)data, sizeof data - 1),
                     -EBADMSG);
    assert_int_equal(store_blob_path(f->s, sha, path, sizeof path), 0);
    assert_false(exists(path));
    assert_int_equal(count_dir(f, "tmp"), 0);
    assert_int_equal(count_blobs(f), 0);
}

static void test_blob_commit_oversize(void **state)
{
    struct fx *f = *state;
    uint8_t sha[PROTO_SHA256_LEN];
    static const uint8_t byte = 0;
    fake_sha(sha, 1);
    /* the cap is checked before a byte is read */
    assert_int_equal(store_blob_commit(f->s, sha, &byte, (size_t)STORE_BLOB_MAX + 1), -EFBIG);

    char src[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/huge.crate", f->root);
    int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)STORE_BLOB_MAX + 1), 0); /* sparse */
    close(fd);
    assert_int_equal(store_blob_commit_file(f->s, sha, src), -EFBIG);
    assert_int_equal(count_dir(f, "tmp"), 0);
    assert_int_equal(count_blobs(f), 0);
}

static void test_blob_record_untrusted(void **state)
{
    struct fx *f = *state;
    static const char data[] = "nobody vouches for these";
    uint8_t sha[PROTO_SHA256_LEN];
    char path[PATH_MAX + 128];

    proto_sha256(data, sizeof data - 1, sha);
    assert_int_equal(store_blob_commit(f->s, sha, (const uint8_t *)data, sizeof data - 1), 0);
    assert_int_equal(store_blob_record(f->s, sha, sizeof data - 1, STORE_ORIGIN_PEER), -EPERM);
    assert_int_equal(store_blob_path(f->s, sha, path, sizeof path), 0);
    assert_false(exists(path)); /* removed */
    assert_false(store_blob_has(f->s, sha));

    /* trusted, but no file */
    assert_int_equal(put(f, "ghost", "1.0.0", 0x77, false, 1), STORE_PUT_NEW);
    uint8_t ghost[PROTO_SHA256_LEN];
    fake_sha(ghost, 0x77);
    assert_int_equal(store_blob_record(f->s, ghost, 10, STORE_ORIGIN_UPSTREAM), -ENOENT);
    /* a touch is only remembered: one without a row is ignored at flush */
    assert_int_equal(store_blob_touch(f->s, ghost), 0);
    assert_int_equal(store_touch_flush(f->s), 0);
    assert_int_equal(store_touch_pending(f->s), 0);

    struct store_stats st;
    assert_int_equal(store_stats(f->s, &st), 0);
    assert_int_equal(st.crates, 0);
}

static void test_blob_commit_file(void **state)
{
    struct fx *f = *state;
    /* a few chunks and a tail: 2.5 MiB of a pattern */
    size_t len = (5u << 20) / 2 + 3;
    uint8_t *data = malloc(len), *back = malloc(len + 1);
    assert_non_null(data);
    assert_non_null(back);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 31 + (i >> 13));
    uint8_t sha[PROTO_SHA256_LEN], bad[PROTO_SHA256_LEN];
    proto_sha256(data, len, sha);
    char src[PATH_MAX + 64], path[PATH_MAX + 128];
    snprintf(src, sizeof src, "%s/src.crate", f->root);
    write_file(src, data, len);

    fake_sha(bad, 9);
    assert_int_equal(store_blob_commit_file(f->s, bad, src), -EBADMSG);
    assert_int_equal(count_dir(f, "tmp"), 0);
    assert_int_equal(count_blobs(f), 0);

    assert_int_equal(store_blob_commit_file(f->s, sha, src), 0);
    assert_int_equal(store_blob_path(f->s, sha, path, sizeof path), 0);
    assert_int_equal(read_file(path, back, len + 1), len);
    assert_memory_equal(back, data, len);
    assert_int_equal(read_file(src, back, len + 1), len); /* the source stays */
    assert_memory_equal(back, data, len);
    assert_int_equal(count_dir(f, "tmp"), 0);

    char missing[PATH_MAX + 64];
    snprintf(missing, sizeof missing, "%s/missing.crate", f->root);
    assert_int_equal(store_blob_commit_file(f->s, sha, missing), -ENOENT);
    assert_int_equal(store_blob_commit_file(f->s, sha, f->root), -EINVAL); /* a directory */
    free(data);
    free(back);
}

/* ---- change sequence ------------------------------------------------------------ */

/* Run SQL on DIR/store.db through a connection of its own (the store's may
 * stay open: WAL, busy timeout). */
static void db_exec(const struct fx *f, const char *sql)
{
    char path[PATH_MAX];
    sqlite3 *db = NULL;
    char *err = NULL;
    snprintf(path, sizeof path, "%s/store.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
    sqlite3_close(db);
}

static int64_t db_int(const struct fx *f, const char *sql)
{
    char path[PATH_MAX];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(path, sizeof path, "%s/store.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* names_since as one comma-joined string, for compact assertions. */
static void names_since(struct fx *f, uint64_t since, char *out, size_t outsz)
{
    char **names = (char **)1;
    size_t n = 99;
    assert_int_equal(store_index_names_since(f->s, since, &names, &n), 0);
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + used, outsz - used, "%s%s", i ? "," : "", names[i]);
        assert_true(w >= 0 && (size_t)w < outsz - used);
        used += (size_t)w;
    }
    if (n == 0)
        assert_null(names);
    store_names_free(names, n);
}

/* The counter moves exactly on NEW, YANK and a new blob row. */
static void test_seq_moves(void **state)
{
    struct fx *f = *state;
    static const char data[] = "counted bytes";
    uint8_t sha[PROTO_SHA256_LEN], ghost[PROTO_SHA256_LEN];
    struct store_index_meta m = {.fetched_at = 1};
    struct store_verify_result r;

    assert_int_equal(store_seq(f->s), 0);
    static const struct {
        const char *name, *vers;
        uint8_t ck;
        bool yanked;
        uint8_t content;
        int want;
        uint64_t seq; /* store_seq after the put */
    } steps[] = {
        {"serde", "1.0.0", 1, false, 1, STORE_PUT_NEW, 1},
        {"serde", "1.0.0", 1, false, 1, STORE_PUT_SAME, 1},
        {"SERDE", "1.0.0", 1, true, 1, STORE_PUT_YANK, 2},
        {"serde", "1.0.0", 1, true, 1, STORE_PUT_SAME, 2},
        {"serde", "1.0.0", 2, false, 2, -EEXIST, 2},
        {"serde", "1.0.0", 1, false, 9, -EEXIST, 2},
        {"serde", "1.0.0", 1, false, 1, STORE_PUT_YANK, 3},
        {"serde", "1.0.1", 3, false, 3, STORE_PUT_NEW, 4},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int rc =
            put(f, steps[i].name, steps[i].vers, steps[i].ck, steps[i].yanked, steps[i].content);
        if (rc != steps[i].want || store_seq(f->s) != steps[i].seq)
            fail_msg("step %zu: got %d seq %" PRIu64 ", want %d seq %" PRIu64, i, rc,
                     store_seq(f->s), steps[i].want, steps[i].seq);
    }
    /* an invalid put, metadata: nothing */
    struct entry x;
    fake_sha(ghost, 0x77);
    make_entry(&x, "", "1.0.0", ghost, false, 1);
    assert_int_equal(store_index_put(f->s, &x.e, STORE_ORIGIN_UPSTREAM, NULL), -EINVAL);
    assert_int_equal(store_index_meta_put(f->s, "serde", &m), 0);
    assert_int_equal(store_seq(f->s), 4);

    /* blobs: committing is not recording; a new row moves it once */
    proto_sha256(data, sizeof data - 1, sha);
    make_entry(&x, "counted", "1.0.0", sha, false, 5);
    assert_int_equal(store_index_put(f->s, &x.e, STORE_ORIGIN_UPSTREAM, NULL), STORE_PUT_NEW);
    assert_int_equal(store_seq(f->s), 5);
    assert_int_equal(store_blob_commit(f->s, sha, (const uint8_t *)data, sizeof data - 1), 0);
    assert_int_equal(store_seq(f->s), 5);
    assert_int_equal(store_blob_record(f->s, sha, sizeof data - 1, STORE_ORIGIN_UPSTREAM), 0);
    assert_int_equal(store_seq(f->s), 6);
    assert_int_equal(store_blob_record(f->s, sha, sizeof data - 1, STORE_ORIGIN_PEER), 0);
    assert_int_equal(store_blob_touch(f->s, sha), 0);
    assert_int_equal(store_touch_flush(f->s), 0);
    assert_int_equal(store_seq(f->s), 6);
    /* refused records: nothing */
    assert_int_equal(put(f, "ghost", "1.0.0", 0x77, false, 1), STORE_PUT_NEW); /* 7 */
    assert_int_equal(store_blob_record(f->s, ghost, 10, STORE_ORIGIN_UPSTREAM), -ENOENT);
    uint8_t untrusted[PROTO_SHA256_LEN];
    proto_sha256("nobody's", 8, untrusted);
    assert_int_equal(store_blob_commit(f->s, untrusted, (const uint8_t *)"nobody's", 8), 0);
    assert_int_equal(store_blob_record(f->s, untrusted, 8, STORE_ORIGIN_PEER), -EPERM);
    assert_int_equal(store_seq(f->s), 7);
    /* reads and verify do not move it */
    struct store_stats st;
    assert_int_equal(store_stats(f->s, &st), 0);
    assert_int_equal(store_verify(f->s, NULL, NULL, &r), 0);
    assert_int_equal(r.ok, 1);
    assert_int_equal(store_seq(f->s), 7);

    /* a rolled-back write takes its number back with it */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(put(f, "undone", "1.0.0", 0x50, false, 1), STORE_PUT_NEW);
    assert_int_equal(put(f, "serde", "1.0.1", 3, true, 3), STORE_PUT_YANK);
    assert_int_equal(store_seq(f->s), 9); /* this connection sees its own writes */
    store_rollback(f->s);
    assert_int_equal(store_seq(f->s), 7);
    assert_int_equal(put(f, "kept", "1.0.0", 0x51, false, 1), STORE_PUT_NEW);
    assert_int_equal(store_seq(f->s), 8);

    /* it survives a reopen and goes on from there; another connection sees it */
    reopen(f);
    assert_int_equal(store_seq(f->s), 8);
    struct store *s2 = NULL;
    assert_int_equal(store_open(f->dir, &s2), 0);
    assert_int_equal(store_seq(s2), 8);
    uint8_t ck[PROTO_SHA256_LEN];
    fake_sha(ck, 0x52);
    make_entry(&x, "other", "1.0.0", ck, false, 1);
    assert_int_equal(store_index_put(s2, &x.e, STORE_ORIGIN_CARGO_HOME, NULL), STORE_PUT_NEW);
    store_close(s2);
    assert_int_equal(store_seq(f->s), 9);
    assert_int_equal(db_int(f, "SELECT max(seq) FROM index_entries"), 9);

    /* a blob dropped by verify and recorded again is news again */
    char path[PATH_MAX + 128];
    assert_int_equal(store_blob_path(f->s, sha, path, sizeof path), 0);
    unlink(path);
    assert_int_equal(store_verify(f->s, NULL, NULL, &r), 0);
    assert_int_equal(r.missing, 1);
    assert_int_equal(store_seq(f->s), 9);
    assert_int_equal(store_blob_commit(f->s, sha, (const uint8_t *)data, sizeof data - 1), 0);
    assert_int_equal(store_blob_record(f->s, sha, sizeof data - 1, STORE_ORIGIN_PEER), 0);
    assert_int_equal(store_seq(f->s), 10);
}

static void test_since(void **state)
{
    struct fx *f = *state;
    uint8_t a[PROTO_SHA256_LEN], b[PROTO_SHA256_LEN], c[PROTO_SHA256_LEN];
    struct store_blob_item *items = (struct store_blob_item *)1;
    size_t n = 99;
    char got[256];

    /* empty store */
    assert_int_equal(store_blobs_since(f->s, 0, &items, &n), 0);
    assert_null(items);
    assert_int_equal(n, 0);
    names_since(f, 0, got, sizeof got);
    assert_string_equal(got, "");
    store_names_free(NULL, 0);

    put_blob(f, "Zeta", "1.0.0", "zeta bytes", a);                          /* entry 1, blob 2 */
    assert_int_equal(put(f, "alpha", "1.0.0", 1, false, 1), STORE_PUT_NEW); /* 3 */
    put_blob(f, "MID", "0.1.0", "mid bytes", b);                            /* 4, 5 */
    assert_int_equal(put(f, "zeta", "1.0.0", 1, true, 1), -EEXIST);
    put_blob(f, "zeta", "2.0.0", "zeta 2 bytes", c);                        /* 6, 7 */
    assert_int_equal(put(f, "alpha", "1.0.0", 1, true, 1), STORE_PUT_YANK); /* 8 */
    assert_int_equal(store_seq(f->s), 8);

    assert_int_equal(store_blobs_since(f->s, 0, &items, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(items[0].sha256, a, PROTO_SHA256_LEN);
    assert_int_equal(items[0].size, strlen("zeta bytes"));
    assert_memory_equal(items[1].sha256, b, PROTO_SHA256_LEN);
    assert_memory_equal(items[2].sha256, c, PROTO_SHA256_LEN);
    assert_int_equal(items[2].size, strlen("zeta 2 bytes"));
    free(items);
    assert_int_equal(store_blobs_since(f->s, 2, &items, &n), 0); /* strictly after */
    assert_int_equal(n, 2);
    assert_memory_equal(items[0].sha256, b, PROTO_SHA256_LEN);
    free(items);
    assert_int_equal(store_blobs_since(f->s, 6, &items, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(items[0].sha256, c, PROTO_SHA256_LEN);
    free(items);
    assert_int_equal(store_blobs_since(f->s, 7, &items, &n), 0);
    assert_int_equal(n, 0);
    assert_null(items);
    assert_int_equal(store_blobs_since(f->s, UINT64_MAX, &items, &n), 0);
    assert_int_equal(n, 0);

    names_since(f, 0, got, sizeof got);
    assert_string_equal(got, "alpha,mid,zeta");
    names_since(f, 1, got, sizeof got);
    assert_string_equal(got, "alpha,mid,zeta"); /* alpha by its yank, zeta by 2.0.0 */
    names_since(f, 3, got, sizeof got);
    assert_string_equal(got, "alpha,mid,zeta");
    names_since(f, 4, got, sizeof got);
    assert_string_equal(got, "alpha,zeta");
    names_since(f, 6, got, sizeof got);
    assert_string_equal(got, "alpha");
    names_since(f, 8, got, sizeof got);
    assert_string_equal(got, "");
    names_since(f, UINT64_MAX, got, sizeof got);
    assert_string_equal(got, "");
}

/* The schema of version 1, as store.c created it before the change sequence
 * (copied from migrations[0] of that version). */
static const char v1_schema[] =
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
    "CREATE INDEX blobs_last_used ON blobs (last_used);"
    "PRAGMA user_version = 1;";

/* Replace the store's database with a version-1 one holding `rows` (SQL). */
static void make_v1_store(struct fx *f, const char *rows)
{
    char path[PATH_MAX + 64];
    store_close(f->s);
    f->s = NULL;
    static const char *const files[] = {"store.db", "store.db-wal", "store.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    db_exec(f, v1_schema);
    db_exec(f, rows);
    assert_int_equal(db_int(f, "PRAGMA user_version"), 1);
}

/* A store written by the previous schema is upgraded in place: its rows are
 * numbered (entries in id order, then blobs by added_at) and the counter
 * goes on after them. */
static void test_migrate_v1(void **state)
{
    struct fx *f = *state;
    char got[256];
    struct store_blob_item *items = NULL;
    size_t n = 0;

    /* four entries (ids 1..4); blobs for two of them, inserted in neither
     * added_at nor sha256 order, and whose added_at order is not their sha256
     * order */
    make_v1_store(
        f,
        "INSERT INTO index_entries (id, name_lc, name, vers, cksum, yanked,"
        " content_hash, line, origin, added_at, updated_at) VALUES"
        " (1, 'zeta', 'Zeta', '1.0.0', zeroblob(32), 0, randomblob(32), 'z1', 1, 100, 100),"
        " (2, 'alpha', 'alpha', '1.0.0', "
        "x'1111111111111111111111111111111111111111111111111111111111111111',"
        "   0, x'0101010101010101010101010101010101010101010101010101010101010101', 'a1', 1, 200, "
        "200),"
        " (3, 'mid', 'mid', '0.1.0', "
        "x'2222222222222222222222222222222222222222222222222222222222222222',"
        "   1, randomblob(32), 'm1', 2, 300, 350),"
        " (4, 'zeta', 'Zeta', '2.0.0', randomblob(32), 0, randomblob(32), 'z2', 1, 400, 400);"
        "INSERT INTO blobs (sha256, size, origin, added_at, last_used) VALUES"
        " (x'1111111111111111111111111111111111111111111111111111111111111111', 11, 1, 500, 600),"
        " (x'2222222222222222222222222222222222222222222222222222222222222222', 22, 1, 450, 500);");

    assert_int_equal(store_open(f->dir, &f->s), 0);
    assert_int_equal(db_int(f, "PRAGMA user_version"), 3);
    assert_int_equal(store_seq(f->s), 6);
    assert_int_equal(db_int(f, "SELECT count(*) FROM index_entries WHERE seq = id"), 4);

    assert_int_equal(store_blobs_since(f->s, 0, &items, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(items[0].size, 22); /* added at 450: seq 5 */
    assert_int_equal(items[1].size, 11); /* added at 500: seq 6 */
    free(items);
    assert_int_equal(store_blobs_since(f->s, 5, &items, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].size, 11);
    free(items);
    assert_int_equal(store_blobs_since(f->s, 4, &items, &n), 0);
    assert_int_equal(n, 2);
    free(items);
    names_since(f, 0, got, sizeof got);
    assert_string_equal(got, "alpha,mid,zeta");
    names_since(f, 1, got, sizeof got);
    assert_string_equal(got, "alpha,mid,zeta");
    names_since(f, 3, got, sizeof got);
    assert_string_equal(got, "zeta");
    names_since(f, 4, got, sizeof got);
    assert_string_equal(got, "");

    /* the old rows still behave */
    struct store_index_list l;
    assert_int_equal(store_index_list(f->s, "mid", &l), 0);
    assert_int_equal(l.n, 1);
    assert_true(l.rows[0].yanked);
    assert_true(l.rows[0].have_blob);
    assert_int_equal(l.updated, 350);
    store_index_list_free(&l);
    uint8_t ck[PROTO_SHA256_LEN];
    struct entry x;
    fake_sha(ck, 0x11);
    make_entry(&x, "alpha", "1.0.0", ck, true, 1);
    assert_int_equal(store_index_put(f->s, &x.e, STORE_ORIGIN_UPSTREAM, NULL), STORE_PUT_YANK);
    assert_int_equal(store_seq(f->s), 7);
    names_since(f, 6, got, sizeof got);
    assert_string_equal(got, "alpha");

    /* migrated once: a reopen changes nothing */
    reopen(f);
    assert_int_equal(store_seq(f->s), 7);
    assert_int_equal(db_int(f, "SELECT count(*) FROM blobs WHERE seq IN (5, 6)"), 2);

    /* an empty version-1 store starts at 0 */
    make_v1_store(f, "SELECT 1");
    assert_int_equal(store_open(f->dir, &f->s), 0);
    assert_int_equal(store_seq(f->s), 0);
    assert_int_equal(put(f, "first", "1.0.0", 1, false, 1), STORE_PUT_NEW);
    assert_int_equal(store_seq(f->s), 1);
}

/* store_index_list's `updated`: the newest added_at/updated_at of the crate. */
static void test_list_updated(void **state)
{
    struct fx *f = *state;
    struct store_index_list l;
    int64_t t0 = (int64_t)time(NULL);

    assert_int_equal(store_index_list(f->s, "none", &l), 0);
    assert_int_equal(l.updated, 0);
    store_index_list_free(&l);
    assert_int_equal(put(f, "clock", "1.0.0", 1, false, 1), STORE_PUT_NEW);
    assert_int_equal(put(f, "clock", "1.1.0", 2, false, 2), STORE_PUT_NEW);
    assert_int_equal(store_index_list(f->s, "Clock", &l), 0);
    assert_true(l.updated >= t0 && l.updated <= (int64_t)time(NULL));
    store_index_list_free(&l);
    assert_int_equal(l.updated, 0);

    /* set the times by hand: the maximum over both columns and all rows */
    db_exec(f, "UPDATE index_entries SET added_at = 100, updated_at = 300 WHERE vers = '1.0.0';"
               "UPDATE index_entries SET added_at = 200, updated_at = 200 WHERE vers = '1.1.0'");
    assert_int_equal(store_index_list(f->s, "clock", &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.updated, 300);
    store_index_list_free(&l);
    db_exec(f, "UPDATE index_entries SET added_at = 400, updated_at = 10 WHERE vers = '1.1.0'");
    assert_int_equal(store_index_list(f->s, "clock", &l), 0);
    assert_int_equal(l.updated, 400);
    store_index_list_free(&l);

    /* a yank is a change */
    assert_int_equal(put(f, "clock", "1.0.0", 1, true, 1), STORE_PUT_YANK);
    assert_int_equal(store_index_list(f->s, "clock", &l), 0);
    assert_true(l.updated >= t0);
    store_index_list_free(&l);
    /* other crates are not counted */
    assert_int_equal(put(f, "other", "1.0.0", 3, false, 3), STORE_PUT_NEW);
    db_exec(f, "UPDATE index_entries SET added_at = 100, updated_at = 100 WHERE name_lc = 'clock'");
    assert_int_equal(store_index_list(f->s, "clock", &l), 0);
    assert_int_equal(l.updated, 100);
    store_index_list_free(&l);
}

/* ---- identity ------------------------------------------------------------------- */

static void key_path(const struct fx *f, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/identity.key", f->dir);
}

static void test_identity_created(void **state)
{
    struct fx *f = *state;
    uint8_t pk[32], sk[64], pk2[32], sk2[64], sig[crypto_sign_BYTES];
    char path[PATH_MAX + 64];
    struct stat st;
    key_path(f, path, sizeof path);
    assert_false(exists(path));

    /* whatever the umask, the file is exactly 0600 and readable back */
    mode_t old = umask(0277);
    int rc = store_identity(f->s, pk, sk);
    umask(old);
    assert_int_equal(rc, 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 64);
    assert_int_equal(count_dir(f, "tmp"), 0);
    uint8_t disk[65];
    assert_int_equal(read_file(path, disk, sizeof disk), 64);
    assert_memory_equal(disk, sk, 64);
    assert_memory_equal(pk, sk + 32, 32); /* libsodium layout: seed || pk */

    /* a working key pair */
    assert_int_equal(crypto_sign_detached(sig, NULL, (const uint8_t *)"hello", 5, sk), 0);
    assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)"hello", 5, pk), 0);

    /* stable: again, after a reopen, from another connection */
    assert_int_equal(store_identity(f->s, pk2, sk2), 0);
    assert_memory_equal(pk2, pk, 32);
    assert_memory_equal(sk2, sk, 64);
    reopen(f);
    memset(pk2, 0, sizeof pk2);
    assert_int_equal(store_identity(f->s, pk2, sk2), 0);
    assert_memory_equal(pk2, pk, 32);
    assert_memory_equal(sk2, sk, 64);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* the identity is not a change a peer is told of */
    assert_int_equal(store_seq(f->s), 0);
}

/* Bad key files are refused and left exactly as they were. */
static void test_identity_refused(void **state)
{
    struct fx *f = *state;
    uint8_t pk[32], sk[64], good[64], back[80];
    char path[PATH_MAX + 64], other[PATH_MAX + 64];
    key_path(f, path, sizeof path);
    assert_int_equal(store_identity(f->s, pk, good), 0);

    /* readable by others: -EPERM, whether or not the bytes are good */
    static const mode_t modes[] = {0644, 0640, 0604, 0660, 0601};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(path, modes[i]), 0);
        memset(sk, 0xee, sizeof sk);
        memset(pk, 0xee, sizeof pk);
        assert_int_equal(store_identity(f->s, pk, sk), -EPERM);
        uint8_t zero[64] = {0};
        assert_memory_equal(sk, zero, 64); /* no key material is handed out */
        assert_memory_equal(pk, zero, 32);
    }
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0601);
    assert_int_equal(read_file(path, back, sizeof back), 64);
    assert_memory_equal(back, good, 64);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(store_identity(f->s, pk, sk), 0);
    assert_memory_equal(sk, good, 64);
    /* 0400 is fine: only group and others matter */
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(store_identity(f->s, pk, sk), 0);
    assert_int_equal(chmod(path, 0600), 0);

    /* the wrong size: -EBADMSG, and never replaced by a new key */
    static const size_t sizes[] = {0, 32, 63, 65, 128};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t bytes[128];
        memset(bytes, 0x5a, sizeof bytes);
        memcpy(bytes, good, 64);
        unlink(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, bytes, sizes[i]), (ssize_t)sizes[i]);
        close(fd);
        assert_int_equal(store_identity(f->s, pk, sk), -EBADMSG);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, (off_t)sizes[i]);
    }
    /* a public half that the seed does not make: -EBADMSG */
    memcpy(back, good, 64);
    back[40] ^= 1;
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, back, 64), 64);
    close(fd);
    assert_int_equal(store_identity(f->s, pk, sk), -EBADMSG);

    /* not a regular file, or a symlink to a good key: refused */
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(store_identity(f->s, pk, sk), -EBADMSG);
    rmdir(path);
    snprintf(other, sizeof other, "%s/elsewhere.key", f->root);
    fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, good, 64), 64);
    close(fd);
    assert_int_equal(symlink(other, path), 0);
    assert_int_equal(store_identity(f->s, pk, sk), -ELOOP);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(count_dir(f, "tmp"), 0);
}

/* What a refused key file is told as: the file, and what is wrong with it. */
static void test_identity_explained(void **state)
{
    struct fx *f = *state;
    uint8_t pk[32], sk[64], good[64];
    char path[PATH_MAX + 64], want[PATH_MAX + 256];
    struct store_error err;
    key_path(f, path, sizeof path);
    assert_int_equal(store_identity_err(f->s, pk, good, &err), 0);
    assert_string_equal(err.text, "");

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(store_identity_err(f->s, pk, sk, &err), -EPERM);
    snprintf(want, sizeof want,
             "the identity key %s is readable by others (mode 0644): chmod 600 it", path);
    assert_string_equal(err.text, want);
    assert_string_equal(store_errmsg(f->s), want);
    assert_int_equal(chmod(path, 0600), 0);

    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, good, 10), 10);
    close(fd);
    assert_int_equal(store_identity_err(f->s, pk, sk, &err), -EBADMSG);
    snprintf(want, sizeof want,
             "the identity key %s is 10 bytes, not 64: damaged, or not a cratecast key", path);
    assert_string_equal(err.text, want);
}
struct id_racer {
    struct store *s;
    pthread_barrier_t *go;
    uint8_t pk[32], sk[64];
    int rc;
};

static void *id_racer_main(void *arg)
{
    struct id_racer *r = arg;
    pthread_barrier_wait(r->go);
    r->rc = store_identity(r->s, r->pk, r->sk);
    return NULL;
}

/* Stores on one directory that make the identity at the same time end with
 * one key, the one on disk. */
static void test_identity_race(void **state)
{
    struct fx *f = *state;
    enum { ROUNDS = 20, RACERS = 4 };
    for (int round = 0; round < ROUNDS; round++) {
        char dir[PATH_MAX], path[PATH_MAX + 64];
        uint8_t disk[65];
        pthread_barrier_t go;
        pthread_t t[RACERS];
        struct id_racer r[RACERS];
        snprintf(dir, sizeof dir, "%s/race%d", f->root, round);
        assert_int_equal(pthread_barrier_init(&go, NULL, RACERS), 0);
        for (int i = 0; i < RACERS; i++) {
            memset(&r[i], 0, sizeof r[i]);
            r[i].go = &go;
            r[i].rc = 1;
            assert_int_equal(store_open(dir, &r[i].s), 0);
        }
        for (int i = 0; i < RACERS; i++)
            assert_int_equal(pthread_create(&t[i], NULL, id_racer_main, &r[i]), 0);
        for (int i = 0; i < RACERS; i++)
            assert_int_equal(pthread_join(t[i], NULL), 0);
        pthread_barrier_destroy(&go);
        snprintf(path, sizeof path, "%s/identity.key", dir);
        assert_int_equal(read_file(path, disk, sizeof disk), 64);
        for (int i = 0; i < RACERS; i++) {
            assert_int_equal(r[i].rc, 0);
            assert_memory_equal(r[i].sk, disk, 64);
            assert_memory_equal(r[i].pk, disk + 32, 32);
            store_close(r[i].s);
        }
        snprintf(path, sizeof path, "%s/tmp", dir);
        DIR *d = opendir(path);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (de->d_name[0] != '.')
                fail_msg("left in tmp/: %s", de->d_name);
        closedir(d);
    }
}

/* ---- refused stores, concurrent opens, the agent lock ------------------------ */

/* The whole file (malloc'd), or NULL when there is none. */
static uint8_t *slurp(const char *path, size_t *len)
{
    struct stat st;
    *len = 0;
    if (stat(path, &st) < 0)
        return NULL;
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    *len = read_file(path, buf, (size_t)st.st_size + 1);
    assert_int_equal(*len, (size_t)st.st_size);
    return buf;
}

/* The store's files before a refused open: store.db's bytes, tmp/ and the
 * WAL files. A refused open must leave all of it as it was. */
struct snapshot {
    uint8_t *db;
    size_t db_len;
    int tmp_files;
    bool wal, shm;
};

static void snap_take(struct fx *f, struct snapshot *sn)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/store.db", f->dir);
    sn->db = slurp(path, &sn->db_len);
    sn->tmp_files = count_dir(f, "tmp");
    snprintf(path, sizeof path, "%s/store.db-wal", f->dir);
    sn->wal = exists(path);
    snprintf(path, sizeof path, "%s/store.db-shm", f->dir);
    sn->shm = exists(path);
}

static void snap_check(struct fx *f, struct snapshot *sn)
{
    struct snapshot now;
    snap_take(f, &now);
    assert_int_equal(now.db_len, sn->db_len);
    if (sn->db_len)
        assert_memory_equal(now.db, sn->db, sn->db_len);
    assert_int_equal(now.tmp_files, sn->tmp_files);
    assert_int_equal(now.wal, sn->wal);
    assert_int_equal(now.shm, sn->shm);
    free(now.db);
    free(sn->db);
    sn->db = NULL;
}

/* Close the store and replace store.db (and its WAL files) by these bytes. */
static void replace_db(struct fx *f, const void *bytes, size_t len)
{
    char path[PATH_MAX + 64];
    store_close(f->s);
    f->s = NULL;
    static const char *const files[] = {"store.db", "store.db-wal", "store.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/store.db", f->dir);
    write_file(path, bytes, len);
}

/* A database written by a newer cratecast is refused, not altered. */
static void test_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    char path[PATH_MAX], want[PATH_MAX + 128];
    struct store_error err;
    struct snapshot sn;
    sqlite3 *db = NULL;
    store_close(f->s);
    f->s = NULL;
    snprintf(path, sizeof path, "%s/store.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    snprintf(path, sizeof path, "%s/tmp/123-1.tmp", f->dir);
    write_file(path, "left by a crash", 15);
    snap_take(f, &sn);
    struct store *s = NULL;
    assert_int_equal(store_open_err(f->dir, &s, &err), -EPROTONOSUPPORT);
    assert_null(s);
    snprintf(want, sizeof want,
             "the store %s was made by a newer cratecast (schema 99); this one knows schema 3",
             f->dir);
    assert_string_equal(err.text, want);
    snap_check(f, &sn); /* not even tmp/ was emptied */
    assert_int_equal(store_open(f->dir, &s), -EPROTONOSUPPORT);
}

/* An empty store.db beside blobs is refused (taken for a new store, it would
 * forget them) and left as it is; with no blob to forget it is a new store. */
static void test_empty_db_refused(void **state)
{
    struct fx *f = *state;
    uint8_t sha[PROTO_SHA256_LEN];
    struct store_error err;
    struct snapshot sn;
    struct store *s = (struct store *)1;
    char want[PATH_MAX + 256];

    put_blob(f, "kept", "1.0.0", "bytes of a crate that must not be orphaned", sha);
    replace_db(f, "", 0);
    snap_take(f, &sn);
    assert_int_equal(store_open_err(f->dir, &s, &err), -ENODATA);
    assert_null(s);
    snprintf(want, sizeof want,
             "%s/store.db is empty (0 bytes), so nothing records the crates in %s/blobs: "
             "refusing to take it for a new store",
             f->dir, f->dir);
    assert_string_equal(err.text, want);
    snap_check(f, &sn);
    assert_int_equal(count_blobs(f), 1);
    /* again: it stays refused */
    assert_int_equal(store_open(f->dir, &s), -ENODATA);

    /* moved away (what the help says): a new store, the blob file still there */
    char path[PATH_MAX + 64], moved[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/store.db", f->dir);
    snprintf(moved, sizeof moved, "%s/store.db.empty", f->dir);
    assert_int_equal(rename(path, moved), 0);
    reopen(f);
    assert_int_equal(store_seq(f->s), 0);
    assert_int_equal(count_blobs(f), 1);
    assert_false(store_blob_has(f->s, sha));

    /* empty with no blob to forget (a creator that crashed before its first
     * page): a new store */
    char hex[PROTO_SHA256_HEX_LEN + 1];
    proto_hex_encode(sha, PROTO_SHA256_LEN, hex);
    snprintf(path, sizeof path, "%s/blobs/%.2s/%s", f->dir, hex, hex);
    assert_int_equal(unlink(path), 0);
    replace_db(f, "", 0);
    assert_int_equal(store_open(f->dir, &f->s), 0);
    assert_int_equal(put(f, "fresh", "1.0.0", 1, false, 1), STORE_PUT_NEW);
    assert_int_equal(store_seq(f->s), 1);
}

/* Bytes that are no SQLite database, and a SQLite database that is not a
 * store: refused, unchanged. */
static void test_not_a_database(void **state)
{
    struct fx *f = *state;
    struct store_error err;
    struct snapshot sn;
    struct store *s = NULL;
    char want[PATH_MAX + 256], path[PATH_MAX + 64];
    uint8_t junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 131 + 7);

    replace_db(f, junk, sizeof junk);
    snap_take(f, &sn);
    assert_int_equal(store_open_err(f->dir, &s, &err), -EBADMSG);
    assert_null(s);
    snprintf(want, sizeof want, "%s/store.db is not a SQLite database", f->dir);
    assert_string_equal(err.text, want);
    snap_check(f, &sn);

    /* a header and nothing sensible after it */
    memcpy(junk, "SQLite format 3", 16);
    replace_db(f, junk, sizeof junk);
    snap_take(f, &sn);
    int rc = store_open_err(f->dir, &s, &err);
    assert_true(rc == -EBADMSG || rc == -EUCLEAN);
    assert_null(s);
    snprintf(want, sizeof want, "%s/store.db ", f->dir);
    assert_memory_equal(err.text, want, strlen(want));
    snap_check(f, &sn);

    /* another program's database */
    replace_db(f, "", 0);
    snprintf(path, sizeof path, "%s/store.db", f->dir);
    assert_int_equal(unlink(path), 0);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE notes (t TEXT)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    snap_take(f, &sn);
    assert_int_equal(store_open_err(f->dir, &s, &err), -EBADMSG);
    snprintf(want, sizeof want,
             "%s/store.db is a SQLite database, but not a cratecast store (it has tables and no "
             "schema version)",
             f->dir);
    assert_string_equal(err.text, want);
    snap_check(f, &sn);
}

/* A child process: wait for the start (the pipe closing) and delay_us more,
 * open the store, use it, exit 0 when all went well. No cmocka in here. */
static void open_in_child(const char *dir, int go, unsigned delay_us)
{
    char c;
    struct store *s = NULL;
    struct store_stats st;
    if (read(go, &c, 1) != 0)
        _exit(3);
    if (delay_us)
        usleep(delay_us);
    int rc = store_open(dir, &s);
    if (rc == 0)
        rc = store_stats(s, &st);
    if (rc == 0 && store_seq(s) != 0)
        rc = -EPROTO;
    store_close(s);
    _exit(rc == 0 ? 0 : 1);
}

/* Fork two processes that open dir at the same moment (the second delay_us
 * later: each round lands it in another step of the first one's creation);
 * both must succeed. */
static void open_pair(const char *dir, unsigned delay_us)
{
    int go[2];
    pid_t pid[2];
    assert_int_equal(pipe(go), 0);
    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            close(go[1]);
            open_in_child(dir, go[0], i == 0 ? 0 : delay_us);
        }
    }
    close(go[0]);
    close(go[1]); /* both read EOF now */
    for (int i = 0; i < 2; i++) {
        int status = 0;
        assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

/* Two processes creating one new store at the same moment both get it, as do
 * two upgrading an old one; the store is whole afterwards. */
static void test_concurrent_create_processes(void **state)
{
    struct fx *f = *state;
    enum { PAIRS = 20 };
    for (int i = 0; i < PAIRS; i++) {
        char dir[PATH_MAX];
        struct store *s = NULL;
        snprintf(dir, sizeof dir, "%s/new%d/a/store", f->root, i);
        open_pair(dir, (unsigned)(i % 10) * 150);
        assert_int_equal(store_open(dir, &s), 0);
        assert_int_equal(store_seq(s), 0);
        store_close(s);
    }
    for (int i = 0; i < PAIRS / 2; i++) {
        make_v1_store(f, "SELECT 1");
        open_pair(f->dir, (unsigned)(i % 5) * 300);
        assert_int_equal(store_open(f->dir, &f->s), 0);
        assert_int_equal(db_int(f, "PRAGMA user_version"), 3);
        assert_int_equal(put(f, "after", "1.0.0", 1, false, 1), STORE_PUT_NEW);
        assert_int_equal(store_seq(f->s), 1);
    }
}

struct opener {
    const char *dir;
    pthread_barrier_t *go;
    int rc;
};

static void *opener_main(void *arg)
{
    struct opener *o = arg;
    struct store *s = NULL;
    pthread_barrier_wait(o->go);
    o->rc = store_open(o->dir, &s);
    store_close(s);
    return NULL;
}

/* The same from threads of one process (the agent's loop and its import). */
static void test_concurrent_create_threads(void **state)
{
    struct fx *f = *state;
    enum { ROUNDS = 20, THREADS = 4 };
    for (int round = 0; round < ROUNDS; round++) {
        char dir[PATH_MAX];
        pthread_barrier_t go;
        pthread_t t[THREADS];
        struct opener o[THREADS];
        snprintf(dir, sizeof dir, "%s/threads%d", f->root, round);
        assert_int_equal(pthread_barrier_init(&go, NULL, THREADS), 0);
        for (int i = 0; i < THREADS; i++) {
            o[i] = (struct opener){.dir = dir, .go = &go, .rc = 1};
            assert_int_equal(pthread_create(&t[i], NULL, opener_main, &o[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            assert_int_equal(pthread_join(t[i], NULL), 0);
            assert_int_equal(o[i].rc, 0);
        }
        pthread_barrier_destroy(&go);
    }
}

/* One agent per store: the lock is held until store_close and names its
 * holder; opens that do not ask for it go on. */
static void test_agent_lock(void **state)
{
    struct fx *f = *state;
    struct store *s2 = NULL;
    struct store_error err;
    char path[PATH_MAX + 64], want[PATH_MAX + 128], got[64];

    assert_int_equal(store_agent_lock(f->s, &err), 0);
    assert_int_equal(store_agent_lock(f->s, &err), 0); /* held already */
    snprintf(path, sizeof path, "%s/agent.lock", f->dir);
    size_t n = read_file(path, got, sizeof got - 1);
    got[n] = '\0';
    snprintf(want, sizeof want, "%ld\n", (long)getpid());
    assert_string_equal(got, want);

    /* a one-shot command's open works beside it; its lock does not */
    assert_int_equal(store_open(f->dir, &s2), 0);
    assert_int_equal(store_agent_lock(s2, &err), -EBUSY);
    snprintf(want, sizeof want, "another cratecast agent (pid %ld) is using the store %s",
             (long)getpid(), f->dir);
    assert_string_equal(err.text, want);
    assert_string_equal(store_errmsg(s2), want);

    /* nor from another process */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store *s3 = NULL;
        int rc = store_open(f->dir, &s3);
        if (rc == 0)
            rc = store_agent_lock(s3, NULL);
        store_close(s3);
        _exit(rc == -EBUSY ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* released by store_close */
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(store_agent_lock(s2, &err), 0);
    store_close(s2);
    reopen(f);
}

/* ---- whole store --------------------------------------------------------------- */

struct problems {
    int n;
    char last[PROTO_SHA256_HEX_LEN + 1];
};

static void on_problem(void *ud, const char *sha_hex, const char *problem)
{
    struct problems *p = ud;
    assert_int_equal(strlen(sha_hex), PROTO_SHA256_HEX_LEN);
    assert_non_null(problem);
    snprintf(p->last, sizeof p->last, "%s", sha_hex);
    p->n++;
}

static void test_verify(void **state)
{
    struct fx *f = *state;
    uint8_t good[PROTO_SHA256_LEN], bad[PROTO_SHA256_LEN], gone[PROTO_SHA256_LEN];
    char path[PATH_MAX + 128], hex[PROTO_SHA256_HEX_LEN + 1];
    put_blob(f, "good", "1.0.0", "good bytes", good);
    put_blob(f, "bad", "1.0.0", "bad bytes", bad);
    put_blob(f, "gone", "1.0.0", "gone bytes", gone);

    assert_int_equal(store_blob_path(f->s, bad, path, sizeof path), 0);
    write_file(path, "BAD bytes", 9); /* bit rot */
    assert_int_equal(store_blob_path(f->s, gone, path, sizeof path), 0);
    unlink(path);

    struct problems p = {0};
    struct store_verify_result r;
    assert_int_equal(store_verify(f->s, on_problem, &p, &r), 0);
    assert_int_equal(r.checked, 3);
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.missing, 1);
    assert_int_equal(r.quarantined, 1);
    assert_int_equal(p.n, 2);

    proto_hex_encode(bad, PROTO_SHA256_LEN, hex);
    snprintf(path, sizeof path, "%s/quarantine/%s", f->dir, hex);
    char got[32];
    assert_int_equal(read_file(path, got, sizeof got), 9);
    assert_memory_equal(got, "BAD bytes", 9);
    assert_int_equal(store_blob_path(f->s, bad, path, sizeof path), 0);
    assert_false(exists(path));
    assert_false(store_blob_has(f->s, bad));
    assert_false(store_blob_has(f->s, gone));
    assert_true(store_blob_has(f->s, good));

    struct store_index_list l;
    assert_int_equal(store_index_list(f->s, "bad", &l), 0);
    assert_int_equal(l.n, 1);
    assert_false(l.rows[0].have_blob); /* the entry stays, the blob does not */
    store_index_list_free(&l);

    /* clean now; a NULL callback is fine */
    assert_int_equal(store_verify(f->s, NULL, NULL, &r), 0);
    assert_int_equal(r.checked, 1);
    assert_int_equal(r.ok, 1);

    /* the bad blob can be fetched again */
    assert_int_equal(store_blob_commit(f->s, bad, (const uint8_t *)"bad bytes", 9), 0);
    assert_int_equal(store_blob_record(f->s, bad, 9, STORE_ORIGIN_PEER), 0);
    assert_true(store_blob_has(f->s, bad));
}

static void test_tmp_cleaned_at_open(void **state)
{
    struct fx *f = *state;
    char a[PATH_MAX + 64], b[PATH_MAX + 64], live[PATH_MAX + 64];
    snprintf(a, sizeof a, "%s/tmp/123-4.tmp", f->dir);
    snprintf(b, sizeof b, "%s/tmp/leftover", f->dir);
    snprintf(live, sizeof live, "%s/tmp/999-1.tmp", f->dir);
    write_file(a, "half a crate", 12);
    write_file(b, "", 0);
    write_file(live, "being written", 13);
    /* a writer of another struct store holds its file locked */
    int fd = open(live, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);

    reopen(f);
    assert_false(exists(a));
    assert_false(exists(b));
    assert_true(exists(live));
    close(fd);

    reopen(f);
    assert_int_equal(count_dir(f, "tmp"), 0);
}

static void test_stats(void **state)
{
    struct fx *f = *state;
    struct store_stats st;
    uint8_t sha[PROTO_SHA256_LEN];
    assert_int_equal(store_stats(f->s, &st), 0);
    assert_int_equal(st.crates, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.index_entries, 0);
    assert_int_equal(st.index_crates, 0);

    assert_int_equal(put(f, "serde", "1.0.0", 1, false, 1), STORE_PUT_NEW);
    assert_int_equal(put(f, "serde", "1.0.1", 2, false, 2), STORE_PUT_NEW);
    assert_int_equal(put(f, "Serde", "1.0.2", 3, false, 3), STORE_PUT_NEW);
    put_blob(f, "log", "0.4.0", "12345", sha);
    put_blob(f, "log", "0.4.1", "1234567890", sha);
    assert_int_equal(store_stats(f->s, &st), 0);
    assert_int_equal(st.crates, 2);
    assert_int_equal(st.bytes, 15);
    assert_int_equal(st.index_entries, 5);
    assert_int_equal(st.index_crates, 2);
}

static void test_origin_names(void **state)
{
    (void)state;
    assert_string_equal(store_origin_name(STORE_ORIGIN_UPSTREAM), "upstream");
    assert_string_equal(store_origin_name(STORE_ORIGIN_CARGO_HOME), "cargo-home");
    assert_string_equal(store_origin_name(STORE_ORIGIN_PEER), "peer");
    assert_string_equal(store_origin_name(STORE_ORIGIN_BUNDLE), "bundle");
    assert_string_equal(store_origin_name(0), "unknown");
}

/* ---- touches and transactions ------------------------------------------------- */

static int64_t last_used(const struct fx *f, const uint8_t sha[PROTO_SHA256_LEN])
{
    char hex[PROTO_SHA256_HEX_LEN + 1], sql[256];
    proto_hex_encode(sha, PROTO_SHA256_LEN, hex);
    snprintf(sql, sizeof sql, "SELECT last_used FROM blobs WHERE hex(sha256) = upper('%s')", hex);
    return db_int(f, sql);
}

/* store_blob_touch writes nothing; store_touch_flush writes every pending
 * digest once, in one transaction. */
static void test_touch_flush(void **state)
{
    struct fx *f = *state;
    uint8_t a[PROTO_SHA256_LEN], b[PROTO_SHA256_LEN], ghost[PROTO_SHA256_LEN];
    put_blob(f, "touchy", "1.0.0", "bytes of a", a);
    put_blob(f, "touchy", "1.0.1", "bytes of b", b);
    fake_sha(ghost, 0x42);
    db_exec(f, "UPDATE blobs SET last_used = 7");

    assert_int_equal(store_touch_flush(f->s), 0); /* nothing pending: no transaction */
    uint64_t c0 = store_commits(f->s);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(store_blob_touch(f->s, a), 0);
        assert_int_equal(store_blob_touch(f->s, b), 0);
        assert_int_equal(store_blob_touch(f->s, ghost), 0);
    }
    assert_int_equal(store_touch_pending(f->s), 3); /* deduplicated */
    assert_int_equal(store_commits(f->s), c0);      /* no database write */
    assert_int_equal(last_used(f, a), 7);
    assert_int_equal(last_used(f, b), 7);

    int64_t before = (int64_t)time(NULL);
    assert_int_equal(store_touch_flush(f->s), 0);
    assert_int_equal(store_commits(f->s), c0 + 1); /* one transaction for all */
    assert_int_equal(store_touch_pending(f->s), 0);
    assert_true(last_used(f, a) >= before);
    assert_true(last_used(f, b) >= before);
    assert_int_equal(db_int(f, "SELECT count(*) FROM blobs"), 2); /* the ghost made no row */

    assert_int_equal(store_touch_flush(f->s), 0);
    assert_int_equal(store_commits(f->s), c0 + 1);
    assert_int_equal(store_blob_touch(NULL, a), -EINVAL);
    assert_int_equal(store_touch_flush(NULL), 0);
}

/* Touches not yet flushed are written by store_close. */
static void test_touch_close_flushes(void **state)
{
    struct fx *f = *state;
    uint8_t a[PROTO_SHA256_LEN];
    put_blob(f, "closing", "1.0.0", "closing bytes", a);
    db_exec(f, "UPDATE blobs SET last_used = 7");
    int64_t before = (int64_t)time(NULL);
    assert_int_equal(store_blob_touch(f->s, a), 0);
    assert_int_equal(last_used(f, a), 7);
    /* even with a transaction left open: it is rolled back, the touch kept */
    assert_int_equal(store_begin(f->s), 0);
    reopen(f);
    assert_true(last_used(f, a) >= before);
    assert_int_equal(store_touch_pending(f->s), 0);
}

/* The set is bounded: the touch that finds it full flushes it first. */
static void test_touch_bounded(void **state)
{
    struct fx *f = *state;
    uint64_t c0 = store_commits(f->s);
    uint8_t sha[PROTO_SHA256_LEN] = {0};
    for (uint32_t i = 0; i < STORE_TOUCH_MAX; i++) {
        memcpy(sha, &i, sizeof i);
        sha[31] = 0xee;
        assert_int_equal(store_blob_touch(f->s, sha), 0);
    }
    assert_int_equal(store_touch_pending(f->s), STORE_TOUCH_MAX);
    assert_int_equal(store_commits(f->s), c0);
    /* a digest already in the full set does not flush */
    assert_int_equal(store_blob_touch(f->s, sha), 0);
    assert_int_equal(store_commits(f->s), c0);
    sha[31] = 0xef; /* a new one does */
    assert_int_equal(store_blob_touch(f->s, sha), 0);
    assert_int_equal(store_commits(f->s), c0 + 1);
    assert_int_equal(store_touch_pending(f->s), 1);
}

/* What a fetched crate costs the database: the writer none, the record one
 * transaction (the row, the change counter and its read), serving it none
 * until the next flush. */
static void test_fetch_is_one_transaction(void **state)
{
    struct fx *f = *state;
    static const char data[] = "a crate fetched from upstream, chunk by chunk";
    uint8_t sha[PROTO_SHA256_LEN];
    struct entry x;
    struct store_blob_writer *w;

    proto_sha256(data, sizeof data - 1, sha);
    make_entry(&x, "fetched", "1.0.0", sha, false, 3);
    assert_int_equal(store_index_put(f->s, &x.e, STORE_ORIGIN_UPSTREAM, NULL), STORE_PUT_NEW);
    uint64_t c0 = store_commits(f->s);
    int64_t ch0 = db_int(f, "SELECT value FROM change_seq");

    assert_int_equal(store_blob_writer_open(f->s, sha, STORE_BLOB_MAX, &w), 0);
    for (size_t off = 0; off < sizeof data - 1; off += 7) {
        size_t n = sizeof data - 1 - off < 7 ? sizeof data - 1 - off : 7;
        assert_int_equal(store_blob_writer_write(w, data + off, n), 0);
    }
    assert_int_equal(store_blob_writer_size(w), sizeof data - 1);
    assert_int_equal(store_blob_writer_finish(w), 0);
    assert_int_equal(store_commits(f->s), c0); /* files only */

    assert_int_equal(store_blob_record(f->s, sha, sizeof data - 1, STORE_ORIGIN_UPSTREAM), 0);
    assert_int_equal(store_commits(f->s), c0 + 1);
    assert_int_equal(db_int(f, "SELECT value FROM change_seq"), ch0 + 1);
    assert_true(store_blob_has(f->s, sha));

    for (int i = 0; i < 10; i++) /* served ten times */
        assert_int_equal(store_blob_touch(f->s, sha), 0);
    assert_int_equal(store_commits(f->s), c0 + 1);
    assert_int_equal(store_touch_flush(f->s), 0);
    assert_int_equal(store_commits(f->s), c0 + 2);

    /* recording it again (a second fetch that raced): one transaction, no new row */
    assert_int_equal(store_blob_record(f->s, sha, sizeof data - 1, STORE_ORIGIN_PEER), 0);
    assert_int_equal(store_commits(f->s), c0 + 3);
    assert_int_equal(db_int(f, "SELECT value FROM change_seq"), ch0 + 1);

    /* inside a caller's transaction, records and a flush add no commit of their own */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_blob_record(f->s, sha, sizeof data - 1, STORE_ORIGIN_PEER), 0);
    assert_int_equal(store_blob_touch(f->s, sha), 0);
    assert_int_equal(store_touch_flush(f->s), 0);
    assert_int_equal(store_commits(f->s), c0 + 3);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_commits(f->s), c0 + 4);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_layout),
        T(test_open_errors),
        T(test_reopen_persists),
        T(test_two_connections),
        T(test_busy_waits),
        T(test_newer_schema_refused),
        T(test_empty_db_refused),
        T(test_not_a_database),
        T(test_concurrent_create_processes),
        T(test_concurrent_create_threads),
        T(test_agent_lock),
        T(test_put_table),
        T(test_put_invalid),
        T(test_yank_updates_line),
        T(test_put_parsed_lines),
        T(test_list_order_have_blob),
        T(test_origin_confirm_drop),
        T(test_ingest_rule),
        T(test_cksum_trusted),
        T(test_transactions),
        T(test_meta),
        T(test_blob_path),
        T(test_blob_commit),
        T(test_blob_commit_mismatch),
        T(test_blob_commit_oversize),
        T(test_blob_record_untrusted),
        T(test_blob_commit_file),
        T(test_verify),
        T(test_tmp_cleaned_at_open),
        T(test_stats),
        T(test_origin_names),
        T(test_seq_moves),
        T(test_since),
        T(test_migrate_v1),
        T(test_list_updated),
        T(test_identity_created),
        T(test_identity_refused),
        T(test_identity_explained),
        T(test_identity_race),
        T(test_touch_flush),
        T(test_touch_close_flushes),
        T(test_touch_bounded),
        T(test_fetch_is_one_transaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
