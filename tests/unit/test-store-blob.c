/* tests/unit/test-store-blob.c — the blob writer and the blob batch
 * (store/blob_writer.c, store/blob_batch.c) against a temporary store.
 *
 * What every test checks in the end is the store's invariant: each file under
 * blobs/ has the SHA-256 of its name, and nothing is left in tmp/ once a
 * writer is finished or aborted, or a batch published or freed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmp_root.h"

#include "store/store.h"

struct fx {
    char root[1024];
    char dir[1100];
    struct store *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tmp_root_make(f->root, sizeof f->root, "test-store-blob");
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

static int count_dir(const char *path)
{
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

static int count_tmp(const struct fx *f)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tmp", f->dir);
    return count_dir(path);
}

/* Every file under blobs/ hashes to its name; returns how many there are. */
static int check_blobs(const struct fx *f)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/blobs", f->dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX + 300];
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        DIR *d2 = opendir(sub);
        assert_non_null(d2);
        struct dirent *e2;
        while ((e2 = readdir(d2)) != NULL) {
            if (e2->d_name[0] == '.')
                continue;
            char file[PATH_MAX + 600];
            snprintf(file, sizeof file, "%s/%s", sub, e2->d_name);
            int fd = open(file, O_RDONLY);
            assert_true(fd >= 0);
            struct stat st;
            assert_int_equal(fstat(fd, &st), 0);
            uint8_t *buf = malloc((size_t)st.st_size + 1);
            assert_non_null(buf);
            assert_int_equal(read(fd, buf, (size_t)st.st_size + 1), st.st_size);
            close(fd);
            uint8_t sha[PROTO_SHA256_LEN];
            char hex[PROTO_SHA256_HEX_LEN + 1];
            proto_sha256(buf, (size_t)st.st_size, sha);
            proto_hex_encode(sha, PROTO_SHA256_LEN, hex);
            assert_string_equal(hex, e2->d_name);
            assert_memory_equal(hex, de->d_name, 2);
            free(buf);
            n++;
        }
        closedir(d2);
    }
    closedir(d);
    return n;
}

static bool blob_exists(const struct fx *f, const uint8_t sha[PROTO_SHA256_LEN])
{
    char path[PATH_MAX];
    struct stat st;
    assert_int_equal(store_blob_path(f->s, sha, path, sizeof path), 0);
    return stat(path, &st) == 0;
}

/* Deterministic bytes of a given length, varying with seed. */
static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    uint32_t x = 2463534242u ^ seed;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

static void write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

/* ---- the writer ----------------------------------------------------------------- */

/* Small and odd-sized chunks (as the loop receives them) make the same blob
 * as one commit of the whole buffer. */
static void test_writer_chunks(void **state)
{
    struct fx *f = *state;
    size_t len = 300000;
    uint8_t *data = pattern(len, 1);
    uint8_t sha[PROTO_SHA256_LEN];
    proto_sha256(data, len, sha);

    struct store_blob_writer *w = NULL;
    assert_int_equal(store_blob_writer_open(f->s, sha, STORE_BLOB_MAX, &w), 0);
    assert_non_null(w);
    assert_int_equal(count_tmp(f), 1); /* the temporary file, nothing under blobs/ */
    assert_false(blob_exists(f, sha));
    size_t off = 0, step = 1;
    while (off < len) {
        size_t n = len - off < step ? len - off : step;
        assert_int_equal(store_blob_writer_write(w, data + off, n), 0);
        off += n;
        step = step * 3 + 1;
        if (step > 16384)
            step = 7;
    }
    assert_int_equal(store_blob_writer_write(w, NULL, 0), 0);
    assert_int_equal(store_blob_writer_size(w), len);
    assert_false(blob_exists(f, sha)); /* not before finish */
    assert_int_equal(store_blob_writer_finish(w), 0);
    assert_true(blob_exists(f, sha));
    assert_int_equal(count_tmp(f), 0);
    assert_int_equal(check_blobs(f), 1);

    /* the same blob again (replaced by identical bytes), and the empty blob */
    assert_int_equal(store_blob_commit(f->s, sha, data, len), 0);
    uint8_t esha[PROTO_SHA256_LEN];
    proto_sha256("", 0, esha);
    assert_int_equal(store_blob_writer_open(f->s, esha, 0, &w), 0);
    assert_int_equal(store_blob_writer_finish(w), 0);
    assert_int_equal(check_blobs(f), 2);
    assert_int_equal(count_tmp(f), 0);
    free(data);
}

static void test_writer_mismatch(void **state)
{
    struct fx *f = *state;
    uint8_t sha[PROTO_SHA256_LEN];
    struct store_blob_writer *w;
    proto_sha256("what was promised", 17, sha);
    assert_int_equal(store_blob_writer_open(f->s, sha, STORE_BLOB_MAX, &w), 0);
    assert_int_equal(store_blob_writer_write(w, "what was ", 9), 0);
    assert_int_equal(store_blob_writer_write(w, "sent", 4), 0);
    assert_int_equal(store_blob_writer_finish(w), -EBADMSG);
    assert_false(blob_exists(f, sha));
    assert_int_equal(count_tmp(f), 0);
    assert_int_equal(check_blobs(f), 0);

    /* a prefix of the right bytes is a mismatch too */
    assert_int_equal(store_blob_writer_open(f->s, sha, STORE_BLOB_MAX, &w), 0);
    assert_int_equal(store_blob_writer_write(w, "what was", 8), 0);
    assert_int_equal(store_blob_writer_finish(w), -EBADMSG);
    assert_int_equal(count_tmp(f), 0);
    assert_int_equal(check_blobs(f), 0);
}

/* Past max_size the writer fails, stays failed, and finish says so. */
static void test_writer_too_big(void **state)
{
    struct fx *f = *state;
    uint8_t sha[PROTO_SHA256_LEN];
    struct store_blob_writer *w;
    proto_sha256("0123456789", 10, sha);
    assert_int_equal(store_blob_writer_open(f->s, sha, 10, &w), 0);
    assert_int_equal(store_blob_writer_write(w, "012345", 6), 0);
    assert_int_equal(store_blob_writer_write(w, "6789X", 5), -EFBIG);
    assert_int_equal(store_blob_writer_size(w), 6); /* nothing of the refused chunk */
    assert_int_equal(store_blob_writer_write(w, "6", 1), -EFBIG);
    assert_int_equal(store_blob_writer_write(w, "", 0), -EFBIG);
    assert_int_equal(store_blob_writer_finish(w), -EFBIG);
    assert_int_equal(count_tmp(f), 0);
    assert_false(blob_exists(f, sha));

    /* exactly max_size is fine; max_size above STORE_BLOB_MAX is STORE_BLOB_MAX */
    assert_int_equal(store_blob_writer_open(f->s, sha, 10, &w), 0);
    assert_int_equal(store_blob_writer_write(w, "0123456789", 10), 0);
    assert_int_equal(store_blob_writer_finish(w), 0);
    assert_int_equal(store_blob_writer_open(f->s, sha, UINT64_MAX, &w), 0);
    static const uint8_t byte;
    assert_int_equal(store_blob_writer_write(w, &byte, (size_t)STORE_BLOB_MAX + 1), -EFBIG);
    store_blob_writer_abort(w);
    assert_int_equal(count_tmp(f), 0);
}

static void test_writer_abort(void **state)
{
    struct fx *f = *state;
    uint8_t sha[PROTO_SHA256_LEN];
    struct store_blob_writer *w;
    proto_sha256("abandoned", 9, sha);
    assert_int_equal(store_blob_writer_open(f->s, sha, STORE_BLOB_MAX, &w), 0);
    assert_int_equal(store_blob_writer_write(w, "abandoned", 9), 0);
    assert_int_equal(count_tmp(f), 1);
    store_blob_writer_abort(w);
    store_blob_writer_abort(NULL);
    assert_int_equal(count_tmp(f), 0);
    assert_false(blob_exists(f, sha));

    assert_int_equal(store_blob_writer_open(f->s, sha, STORE_BLOB_MAX, NULL), -EINVAL);
    assert_int_equal(store_blob_writer_open(NULL, sha, STORE_BLOB_MAX, &w), -EINVAL);
    assert_null(w);
    assert_int_equal(store_blob_writer_write(NULL, "x", 1), -EINVAL);
    assert_int_equal(store_blob_writer_finish(NULL), -EINVAL);
}

struct finish_arg {
    struct store_blob_writer *w;
    int rc;
};

static void *finish_thread(void *p)
{
    struct finish_arg *a = p;
    a->rc = store_blob_writer_finish(a->w);
    return NULL;
}

/* Opened and written on one thread, finished on another, after the store that
 * opened it was closed (the agent: loop thread, then the pool). */
static void test_writer_other_thread(void **state)
{
    struct fx *f = *state;
    uint8_t *data = pattern(70000, 2), sha[PROTO_SHA256_LEN];
    proto_sha256(data, 70000, sha);
    struct finish_arg a = {0};
    assert_int_equal(store_blob_writer_open(f->s, sha, STORE_BLOB_MAX, &a.w), 0);
    assert_int_equal(store_blob_writer_write(a.w, data, 70000), 0);
    store_close(f->s);
    f->s = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, finish_thread, &a), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(store_open(f->dir, &f->s), 0);
    assert_true(blob_exists(f, sha));
    assert_int_equal(check_blobs(f), 1);
    assert_int_equal(count_tmp(f), 0);
    free(data);
}

/* A writer whose process dies leaves only a file in tmp/, removed at the next
 * open; one still being written by a live process is left alone. */
static void test_writer_crash(void **state)
{
    struct fx *f = *state;
    uint8_t *data = pattern(50000, 3), sha[PROTO_SHA256_LEN];
    proto_sha256(data, 50000, sha);
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store_blob_writer *w;
        char c = 0;
        if (store_blob_writer_open(f->s, sha, STORE_BLOB_MAX, &w) < 0 ||
            store_blob_writer_write(w, data, 25000) < 0)
            _exit(1);
        if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(2);
        _exit(0); /* a crash: no finish, no abort */
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(count_tmp(f), 1);
    store_close(f->s); /* a live writer's file survives an open */
    assert_int_equal(store_open(f->dir, &f->s), 0);
    assert_int_equal(count_tmp(f), 1);
    assert_int_equal(write(go[1], "g", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    store_close(f->s);
    assert_int_equal(store_open(f->dir, &f->s), 0);
    assert_int_equal(count_tmp(f), 0);
    assert_false(blob_exists(f, sha));
    assert_int_equal(check_blobs(f), 0);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    free(data);
}

/* ---- the batch ------------------------------------------------------------------ */

struct result {
    uint8_t sha[PROTO_SHA256_LEN];
    uint64_t size;
    int rc;
    intptr_t ud;
};

struct results {
    struct result r[512];
    size_t n;
};

static void collect(void *ctx, void *ud, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size,
                    int result)
{
    struct results *rs = ctx;
    assert_true(rs->n < sizeof rs->r / sizeof rs->r[0]);
    struct result *r = &rs->r[rs->n++];
    memcpy(r->sha, sha, PROTO_SHA256_LEN);
    r->size = size;
    r->rc = result;
    r->ud = (intptr_t)ud;
}

static const struct result *find_ud(const struct results *rs, intptr_t ud)
{
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i].ud == ud)
            return &rs->r[i];
    fail_msg("no result for item %ld", (long)ud);
    return NULL;
}

/* Sizes around the O_DIRECT alignment and the copy chunk (1 MiB). */
static const size_t sizes[] = {0,
                               1,
                               4095,
                               4096,
                               4097,
                               65536 + 17,
                               (1u << 20) - 1,
                               1u << 20,
                               (1u << 20) + 1,
                               (3u << 20) + 4096 + 3};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* Files of every size, a mismatch, a missing file, a directory and a duplicate:
 * each result as it should be, and the invariant afterwards. */
static void batch_cases(struct fx *f, int threads)
{
    struct store_blob_batch *b = NULL;
    struct results *rs = calloc(1, sizeof *rs);
    uint8_t shas[NSIZES][PROTO_SHA256_LEN];
    char path[PATH_MAX + 64];
    assert_non_null(rs);
    assert_int_equal(store_blob_batch_open(f->s, threads, &b), 0);
    assert_int_equal(store_blob_batch_publish(b, true, collect, rs), 0); /* nothing yet */

    for (size_t i = 0; i < NSIZES; i++) {
        uint8_t *data = pattern(sizes[i], (unsigned)(100 + i));
        proto_sha256(data, sizes[i], shas[i]);
        snprintf(path, sizeof path, "%s/src-%zu.crate", f->root, i);
        write_file(path, data, sizes[i]);
        free(data);
        assert_int_equal(store_blob_batch_add_file(b, shas[i], path, (void *)(intptr_t)i), 0);
    }
    uint8_t other[PROTO_SHA256_LEN];
    proto_sha256("not these bytes", 15, other);
    snprintf(path, sizeof path, "%s/src-3.crate", f->root);
    assert_int_equal(store_blob_batch_add_file(b, other, path, (void *)(intptr_t)100), 0);
    snprintf(path, sizeof path, "%s/missing.crate", f->root);
    assert_int_equal(store_blob_batch_add_file(b, other, path, (void *)(intptr_t)101), 0);
    assert_int_equal(store_blob_batch_add_file(b, other, f->root, (void *)(intptr_t)102), 0);
    snprintf(path, sizeof path, "%s/src-5.crate", f->root);
    assert_int_equal(store_blob_batch_add_file(b, shas[5], path, (void *)(intptr_t)103), 0);

    assert_int_equal(store_blob_batch_publish(b, true, collect, rs), NSIZES + 4);
    assert_int_equal(store_blob_batch_ready(b, NULL), 0);
    for (size_t i = 0; i < NSIZES; i++) {
        const struct result *r = find_ud(rs, (intptr_t)i);
        assert_int_equal(r->rc, 0);
        assert_int_equal(r->size, sizes[i]);
        assert_memory_equal(r->sha, shas[i], PROTO_SHA256_LEN);
        assert_true(blob_exists(f, shas[i]));
    }
    assert_int_equal(find_ud(rs, 100)->rc, -EBADMSG);
    assert_int_equal(find_ud(rs, 101)->rc, -ENOENT);
    assert_int_equal(find_ud(rs, 102)->rc, -EINVAL);
    assert_int_equal(find_ud(rs, 103)->rc, 0);
    assert_false(blob_exists(f, other));
    assert_int_equal(check_blobs(f), (int)NSIZES);
    assert_int_equal(count_tmp(f), 1); /* only the batch's space reserve */

    /* the source files are untouched */
    for (size_t i = 0; i < NSIZES; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/src-%zu.crate", f->root, i);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((size_t)st.st_size, sizes[i]);
    }
    store_blob_batch_free(b);
    assert_int_equal(count_tmp(f), 0);
    free(rs);
}

static void test_batch_threads(void **state)
{
    batch_cases(*state, -1);
}

static void test_batch_inline(void **state)
{
    batch_cases(*state, 0);
}

static void test_batch_one_thread(void **state)
{
    batch_cases(*state, 1);
}

/* Many small files through many threads, published as they finish (all=false)
 * while more are added, as the import does. */
static void test_batch_pipelined(void **state)
{
    struct fx *f = *state;
    struct store_blob_batch *b;
    struct results *rs = calloc(1, sizeof *rs);
    enum { N = 400 };
    static uint8_t shas[N][PROTO_SHA256_LEN];
    char path[PATH_MAX + 64];
    assert_non_null(rs);
    assert_int_equal(store_blob_batch_open(f->s, 8, &b), 0);
    size_t reported = 0;
    for (size_t i = 0; i < N; i++) {
        size_t len = 1 + (i * 7919) % 20000;
        uint8_t *data = pattern(len, (unsigned)(1000 + i));
        proto_sha256(data, len, shas[i]);
        snprintf(path, sizeof path, "%s/p-%zu", f->root, i);
        write_file(path, data, len);
        free(data);
        assert_int_equal(store_blob_batch_add_file(b, shas[i], path, (void *)(intptr_t)i), 0);
        uint64_t bytes = 0;
        if (store_blob_batch_ready(b, &bytes) >= 32) {
            assert_true(bytes > 0);
            rs->n = 0;
            size_t n = store_blob_batch_publish(b, false, collect, rs);
            assert_int_equal(n, rs->n);
            for (size_t k = 0; k < rs->n; k++)
                assert_int_equal(rs->r[k].rc, 0);
            reported += n;
        }
    }
    rs->n = 0;
    reported += store_blob_batch_publish(b, true, collect, rs);
    for (size_t k = 0; k < rs->n; k++)
        assert_int_equal(rs->r[k].rc, 0);
    assert_int_equal(reported, N);
    store_blob_batch_free(b);
    assert_int_equal(check_blobs(f), N);
    assert_int_equal(count_tmp(f), 0);
    free(rs);
}

/* Freed before publishing: no blob, nothing in tmp/. */
static void test_batch_free_unpublished(void **state)
{
    struct fx *f = *state;
    struct store_blob_batch *b;
    char path[PATH_MAX + 64];
    uint8_t *data = pattern(200000, 9), sha[PROTO_SHA256_LEN];
    proto_sha256(data, 200000, sha);
    snprintf(path, sizeof path, "%s/u.crate", f->root);
    write_file(path, data, 200000);
    free(data);
    for (int threads = 0; threads <= 4; threads += 4) {
        assert_int_equal(store_blob_batch_open(f->s, threads, &b), 0);
        for (int i = 0; i < 20; i++)
            assert_int_equal(store_blob_batch_add_file(b, sha, path, NULL), 0);
        store_blob_batch_free(b);
        assert_int_equal(count_tmp(f), 0);
        assert_false(blob_exists(f, sha));
    }
    store_blob_batch_free(NULL);
}

/* The open-file limit caps the copies not yet published: -ENOBUFS, nothing
 * queued, until the caller publishes. */
static void test_batch_enobufs(void **state)
{
    struct fx *f = *state;
    struct rlimit old, low;
    struct store_blob_batch *b;
    struct results *rs = calloc(1, sizeof *rs);
    char path[PATH_MAX + 64];
    assert_non_null(rs);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 64; /* a quarter: 16 copies */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int rc = store_blob_batch_open(f->s, 0, &b);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(rc, 0);
    uint8_t sha[PROTO_SHA256_LEN];
    proto_sha256("x", 1, sha);
    snprintf(path, sizeof path, "%s/x.crate", f->root);
    write_file(path, "x", 1);
    size_t added = 0;
    while ((rc = store_blob_batch_add_file(b, sha, path, NULL)) == 0)
        added++;
    assert_int_equal(rc, -ENOBUFS);
    assert_int_equal(added, 16);
    assert_int_equal(store_blob_batch_ready(b, NULL), 16);
    assert_int_equal(store_blob_batch_publish(b, false, collect, rs), 16);
    assert_int_equal(store_blob_batch_add_file(b, sha, path, NULL), 0);
    assert_int_equal(store_blob_batch_publish(b, true, collect, rs), 1);
    for (size_t i = 0; i < rs->n; i++)
        assert_int_equal(rs->r[i].rc, 0);
    store_blob_batch_free(b);
    assert_int_equal(check_blobs(f), 1);
    assert_int_equal(count_tmp(f), 0);
    free(rs);
}

/* store_blob_commit_file is the writer fed from a file. */
static void test_commit_file_sizes(void **state)
{
    struct fx *f = *state;
    char path[PATH_MAX + 64];
    for (size_t i = 0; i < NSIZES; i++) {
        uint8_t *data = pattern(sizes[i], (unsigned)(200 + i)), sha[PROTO_SHA256_LEN];
        proto_sha256(data, sizes[i], sha);
        snprintf(path, sizeof path, "%s/c-%zu", f->root, i);
        write_file(path, data, sizes[i]);
        free(data);
        assert_int_equal(store_blob_commit_file(f->s, sha, path), 0);
    }
    assert_int_equal(check_blobs(f), (int)NSIZES);
    assert_int_equal(count_tmp(f), 0);
}

/* Writers filled by the caller and handed to a batch (a bundle import): good
 * ones become blobs at publish, a mismatch and a failed writer are reported
 * with their errors, and nothing is left in tmp/. */
static void test_batch_add_writer(void **state)
{
    struct fx *f = *state;
    struct store_blob_batch *b = NULL;
    struct results *rs = calloc(1, sizeof *rs);
    uint8_t shas[4][PROTO_SHA256_LEN];
    uint8_t *data[4];
    size_t lens[4] = {0, 4097, (1u << 20) + 1, 5000};
    assert_int_equal(store_blob_batch_open(f->s, 0, &b), 0);
    for (int i = 0; i < 4; i++) {
        data[i] = pattern(lens[i] ? lens[i] : 1, (unsigned)i + 20);
        proto_sha256(data[i], lens[i], shas[i]);
    }
    shas[3][0] ^= 1; /* item 3: its bytes are not its name */
    for (int i = 0; i < 4; i++) {
        struct store_blob_writer *w = NULL;
        assert_int_equal(store_blob_writer_open(f->s, shas[i], STORE_BLOB_MAX, &w), 0);
        size_t off = 0;
        while (off < lens[i]) {
            size_t n = lens[i] - off < 777 ? lens[i] - off : 777;
            assert_int_equal(store_blob_writer_write(w, data[i] + off, n), 0);
            off += n;
        }
        assert_int_equal(store_blob_batch_add_writer(b, w, (void *)(intptr_t)i), 0);
    }
    /* item 4: a writer that failed (over its size cap) */
    struct store_blob_writer *w = NULL;
    assert_int_equal(store_blob_writer_open(f->s, shas[0], 10, &w), 0);
    assert_int_equal(store_blob_writer_write(w, data[1], 11), -EFBIG);
    assert_int_equal(store_blob_batch_add_writer(b, w, (void *)(intptr_t)4), 0);
    assert_int_equal(store_blob_batch_ready(b, NULL), 5);
    assert_int_equal(store_blob_batch_publish(b, true, collect, rs), 5);
    for (int i = 0; i < 3; i++) {
        const struct result *r = find_ud(rs, i);
        assert_int_equal(r->rc, 0);
        assert_int_equal(r->size, lens[i]);
        assert_memory_equal(r->sha, shas[i], PROTO_SHA256_LEN);
        assert_true(blob_exists(f, shas[i]));
    }
    assert_int_equal(find_ud(rs, 3)->rc, -EBADMSG);
    assert_false(blob_exists(f, shas[3]));
    assert_int_equal(find_ud(rs, 4)->rc, -EFBIG);
    assert_int_equal(check_blobs(f), 3);
    assert_int_equal(store_blob_batch_add_writer(b, NULL, NULL), -EINVAL);
    store_blob_batch_free(b);
    assert_int_equal(count_tmp(f), 0);
    for (int i = 0; i < 4; i++)
        free(data[i]);
    free(rs);
}

/* A direct writer: aligned pieces (O_DIRECT where the file system takes it),
 * then an unaligned tail, then an unaligned buffer: the blob is the bytes. */
static void test_writer_direct(void **state)
{
    struct fx *f = *state;
    size_t len = 3 * STORE_DIRECT_ALIGN + 100 + 5000;
    uint8_t *data = aligned_alloc(STORE_DIRECT_ALIGN, 4 * STORE_DIRECT_ALIGN + 8192);
    uint8_t *src = pattern(len, 33);
    memcpy(data, src, len);
    uint8_t sha[PROTO_SHA256_LEN];
    proto_sha256(data, len, sha);
    struct store_blob_writer *w = NULL;
    assert_int_equal(store_blob_writer_open_direct(f->s, sha, STORE_BLOB_MAX, &w), 0);
    assert_int_equal(store_blob_writer_write(w, data, 2 * STORE_DIRECT_ALIGN), 0);
    assert_int_equal(
        store_blob_writer_write(w, data + 2 * STORE_DIRECT_ALIGN, STORE_DIRECT_ALIGN + 100), 0);
    assert_int_equal(store_blob_writer_write(w, data + 3 * STORE_DIRECT_ALIGN + 100, 5000), 0);
    assert_int_equal(store_blob_writer_size(w), len);
    assert_int_equal(store_blob_writer_finish(w), 0);
    assert_true(blob_exists(f, sha));
    assert_int_equal(check_blobs(f), 1);
    assert_int_equal(count_tmp(f), 0);
    free(data);
    free(src);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_writer_chunks),     T(test_writer_mismatch),        T(test_writer_too_big),
        T(test_writer_abort),      T(test_writer_other_thread),    T(test_writer_crash),
        T(test_batch_threads),     T(test_batch_inline),           T(test_batch_one_thread),
        T(test_batch_pipelined),   T(test_batch_free_unpublished), T(test_batch_enobufs),
        T(test_commit_file_sizes), T(test_batch_add_writer),       T(test_writer_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
