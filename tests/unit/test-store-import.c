/* tests/unit/test-store-import.c — agent/import.c filling a store from a
 * CARGO_HOME built here, through the blob batch.
 *
 * The batched import must count exactly what importing file by file counts:
 * crates added, already held (also a copy of a crate still being copied, and
 * the same crate under a second crates.io directory), bad (bytes that do not
 * match the trusted cksum, before or after the good copy), without a
 * trusted entry; index entries new, contradicting, unparsable. And it must
 * leave the store's invariant: every blob file hashes to its name, nothing in
 * tmp/.
 */
#include <dirent.h>
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmp_root.h"

#include "agent/import.h"
#include "proto/cargo_cache.h"
#include "store/store.h"

#define R1 "index.crates.io-1949cf8c6b5b557f"
#define R2 "index.crates.io-6f17d22bba15001f"
#define N_CRATES 600 /* more than two import batches of 256 */
#define N_PAIRS 5    /* two versions with the same bytes */
#define N_DUPS 50    /* copies under R2 */

struct fx {
    char root[1024];
    char home[1100];
    char store[1100];
};

static void mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(buf, 0755);
        *p = '/';
    }
    mkdir(buf, 0755);
}

static void write_file(const char *path, const void *buf, size_t len)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdirs(dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    uint32_t x = 88172645u ^ (seed * 2654435761u);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* An index cache file under construction: one per crate name. */
struct cache {
    uint8_t *buf;
    size_t len, cap;
};

static void cache_add(struct cache *c, const char *vers, const char *line)
{
    if (c->len == 0) {
        size_t n = proto_cargo_cache_put_header(2, "etag: \"t\"", NULL, 0);
        c->cap = 1 << 16;
        c->buf = malloc(c->cap);
        assert_non_null(c->buf);
        assert_int_equal(proto_cargo_cache_put_header(2, "etag: \"t\"", c->buf, c->cap), n);
        c->len = n;
    }
    size_t n = proto_cargo_cache_put_record(vers, (const uint8_t *)line, strlen(line), NULL, 0);
    assert_true(n > 0 && c->len + n <= c->cap);
    assert_int_equal(proto_cargo_cache_put_record(vers, (const uint8_t *)line, strlen(line),
                                                  c->buf + c->len, c->cap - c->len),
                     n);
    c->len += n;
}

static void line_for(char *out, size_t outsz, const char *name, const char *vers,
                     const uint8_t sha[PROTO_SHA256_LEN])
{
    char hex[PROTO_SHA256_HEX_LEN + 1];
    proto_hex_encode(sha, PROTO_SHA256_LEN, hex);
    snprintf(out, outsz,
             "{\"name\":\"%s\",\"vers\":\"%s\",\"deps\":[],\"cksum\":\"%s\",\"features\":{},"
             "\"yanked\":false}",
             name, vers, hex);
}

/* registry/index/<reg>/.cache/<sparse path of name> (names here are >= 4 chars) */
static void cache_write(const struct fx *f, const char *reg, const char *name, struct cache *c)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/registry/index/%s/.cache/%.2s/%.2s/%s", f->home, reg, name,
             name + 2, name);
    write_file(path, c->buf, c->len);
    free(c->buf);
    memset(c, 0, sizeof *c);
}

static void crate_write(const struct fx *f, const char *reg, const char *name, const char *vers,
                        const uint8_t *data, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/registry/cache/%s/%s-%s.crate", f->home, reg, name, vers);
    write_file(path, data, len);
}

static size_t crate_size(unsigned i)
{
    return i == 7 ? (3u << 20) + 5 : 1 + (i * 5003u) % 40000u;
}

/* The home described in the file comment; see test_import_counts for what it
 * must count. */
static void build_home(const struct fx *f)
{
    char line[512], name[32], vers[32];
    struct cache c = {0}, c2 = {0};
    uint8_t sha[PROTO_SHA256_LEN];

    for (unsigned i = 0; i < N_CRATES; i++) { /* c0000..: two versions per name */
        snprintf(name, sizeof name, "c%04u", i / 2);
        snprintf(vers, sizeof vers, "1.0.%u", i % 2);
        size_t len = crate_size(i);
        uint8_t *data = pattern(len, i);
        proto_sha256(data, len, sha);
        crate_write(f, R1, name, vers, data, len);
        if (i < 2 * N_DUPS) /* the same crate under the older crates.io directory */
            crate_write(f, R2, name, vers, data, len);
        free(data);
        line_for(line, sizeof line, name, vers, sha);
        cache_add(&c, vers, line);
        if (i < 2 * N_DUPS)
            cache_add(&c2, vers, line);
        if (i % 2 == 1) {
            if (i == 1) { /* a version without a .crate, and a line that does not parse */
                uint8_t other[PROTO_SHA256_LEN];
                proto_sha256("elsewhere", 9, other);
                line_for(line, sizeof line, name, "0.0.1", other);
                cache_add(&c, "0.0.1", line);
                cache_add(&c, "0.0.2", "{\"name\": not json");
                /* R2 says otherwise about 0.0.1: one contradiction, whichever
                 * directory comes first */
                proto_sha256("other", 5, other);
                line_for(line, sizeof line, name, "0.0.1", other);
                cache_add(&c2, "0.0.1", line);
            }
            cache_write(f, R1, name, &c);
            if (c2.len)
                cache_write(f, R2, name, &c2);
        }
    }
    for (unsigned p = 0; p < N_PAIRS; p++) { /* e0000 1.0.0 and 2.0.0: identical bytes */
        snprintf(name, sizeof name, "e%04u", p);
        uint8_t *data = pattern(9000, 5000 + p);
        proto_sha256(data, 9000, sha);
        crate_write(f, R1, name, "1.0.0", data, 9000);
        crate_write(f, R1, name, "2.0.0", data, 9000);
        free(data);
        line_for(line, sizeof line, name, "1.0.0", sha);
        cache_add(&c, "1.0.0", line);
        line_for(line, sizeof line, name, "2.0.0", sha);
        cache_add(&c, "2.0.0", line);
        cache_write(f, R1, name, &c);
    }
    /* t0000: tampered (its bytes are not what the entry says) */
    proto_sha256("the real t0000", 14, sha);
    line_for(line, sizeof line, "t0000", "1.0.0", sha);
    cache_add(&c, "1.0.0", line);
    cache_write(f, R1, "t0000", &c);
    crate_write(f, R1, "t0000", "1.0.0", (const uint8_t *)"tampered", 8);
    /* d0000: good under R1, tampered under R2 */
    uint8_t *data = pattern(30000, 7777);
    proto_sha256(data, 30000, sha);
    line_for(line, sizeof line, "d0000", "1.0.0", sha);
    cache_add(&c, "1.0.0", line);
    cache_write(f, R1, "d0000", &c);
    crate_write(f, R1, "d0000", "1.0.0", data, 30000);
    data[100] ^= 1;
    crate_write(f, R2, "d0000", "1.0.0", data, 30000);
    free(data);
    /* u0000: no index entry anywhere; and a file that is not a .crate */
    crate_write(f, R1, "u0000", "1.0.0", (const uint8_t *)"untrusted", 9);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/registry/cache/%s/README", f->home, R1);
    write_file(path, "not a crate", 11);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tmp_root_make(f->root, sizeof f->root, "test-store-import");
    snprintf(f->home, sizeof f->home, "%s/home", f->root);
    snprintf(f->store, sizeof f->store, "%s/store", f->root);
    build_home(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tmp_root_remove(f->root);
    free(f);
    return 0;
}

/* Every blob file hashes to its name; tmp/ is empty. Returns the blob count. */
static int check_store(const struct fx *f)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tmp", f->store);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        assert_true(de->d_name[0] == '.');
    closedir(d);
    snprintf(path, sizeof path, "%s/blobs", f->store);
    d = opendir(path);
    assert_non_null(d);
    int n = 0;
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
            free(buf);
            n++;
        }
        closedir(d2);
    }
    closedir(d);
    return n;
}

static void test_import_counts(void **state)
{
    struct fx *f = *state;
    struct import_result r;
    const uint64_t names = N_CRATES / 2 + N_PAIRS + 2; /* c*, e*, t0000, d0000 */

    assert_int_equal(agent_import_cargo_home(f->store, f->home, &r, NULL, NULL), 0);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.registries, 2);
    assert_int_equal(r.registries_skipped, 0);
    assert_int_equal(r.files, names + N_DUPS);
    /* R1: every crate, 2 pair versions each, 0.0.1, t, d; R2: the dups and 0.0.1 */
    assert_int_equal(r.index_entries, N_CRATES + 2 * N_PAIRS + 1 + 2 + 2 * N_DUPS + 1);
    assert_int_equal(r.index_new, N_CRATES + 2 * N_PAIRS + 1 + 2);
    assert_int_equal(r.conflicts, 1);
    assert_int_equal(r.bad_lines, 1);
    assert_int_equal(r.crates_seen, N_CRATES + 2 * N_PAIRS + 3 + 2 * N_DUPS + 1);
    assert_int_equal(r.crates_added, N_CRATES + N_PAIRS + 1);
    /* t0000 is bad; d0000's tampered copy is bad when R2 is read first, already
     * held (its digest is) when R1 is: readdir decides, as file by file */
    assert_true(r.crates_bad == 1 || r.crates_bad == 2);
    assert_int_equal(r.crates_present, N_PAIRS + 2 * N_DUPS + 2 - r.crates_bad);
    assert_int_equal(r.crates_untrusted, 1);

    assert_int_equal(check_store(f), N_CRATES + N_PAIRS + 1);
    struct store *s;
    struct store_stats st;
    assert_int_equal(store_open(f->store, &s), 0);
    assert_int_equal(store_stats(s, &st), 0);
    assert_int_equal(st.crates, N_CRATES + N_PAIRS + 1);
    assert_int_equal(st.index_entries, N_CRATES + 2 * N_PAIRS + 1 + 2);
    store_close(s);

    /* again: everything is held */
    assert_int_equal(agent_import_cargo_home(f->store, f->home, &r, NULL, NULL), 0);
    assert_int_equal(r.index_new, 0);
    assert_int_equal(r.conflicts, 1);
    assert_int_equal(r.crates_added, 0);
    assert_int_equal(r.crates_present, N_CRATES + 2 * N_PAIRS + 2 * N_DUPS + 2);
    assert_int_equal(r.crates_bad, 1); /* t0000 */
    assert_int_equal(r.crates_untrusted, 1);
    assert_int_equal(check_store(f), N_CRATES + N_PAIRS + 1);
}

static void test_import_not_a_dir(void **state)
{
    struct fx *f = *state;
    struct import_result r;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/nowhere", f->root);
    assert_int_equal(agent_import_cargo_home(f->store, path, &r, NULL, NULL), -ENOENT);
    assert_int_equal(r.error, -ENOENT);
}

/* The store's file system fills up during the import (root only: a 6 MiB
 * tmpfs; ~12 MiB of crates): the copies that fit are recorded (the batch gives
 * back its space reserve so the records find room), the others count as bad,
 * and the invariant holds. */
static void test_import_full_disk(void **state)
{
    struct fx *f = *state;
    struct import_result r;
    char mnt[PATH_MAX];
    snprintf(mnt, sizeof mnt, "%s/small-fs", f->root);
    mkdirs(mnt);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=6m") != 0)
        skip();
    int n = snprintf(f->store, sizeof f->store, "%s/store", mnt);
    assert_true(n > 0 && (size_t)n < sizeof f->store);
    int rc = agent_import_cargo_home(f->store, f->home, &r, NULL, NULL);
    if (rc != 0)
        print_message("import: %s\n", r.error_text);
    if (rc == 0) {
        int held = check_store(f);
        /* a store_open needs a few free blocks for its WAL: grow the file system */
        struct store *s;
        struct store_stats st;
        assert_int_equal(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, "size=64m"), 0);
        assert_int_equal(store_open(f->store, &s), 0);
        assert_int_equal(store_stats(s, &st), 0);
        store_close(s);
        uint64_t recorded = st.crates;
        if (!(r.crates_added > 0 && r.crates_bad > 2 && recorded == r.crates_added &&
              (uint64_t)held >= r.crates_added &&
              r.crates_added + r.crates_bad + r.crates_present + r.crates_untrusted ==
                  r.crates_seen))
            rc = -EPROTO;
    }
    umount2(mnt, MNT_DETACH);
    assert_int_equal(rc, 0);
}

/* What the progress callback heard. */
struct heard {
    unsigned calls, finals, index_calls;
    bool crates_phase, went_back;
    struct import_progress last;
    uint64_t index_total, index_done;
};

static void on_progress(void *ud, const struct import_progress *p)
{
    struct heard *h = ud;
    h->calls++;
    assert_non_null(p->registry);
    assert_true(p->files_done <= p->files_total);
    assert_true(p->bytes_done <= p->bytes_total);
    if (p->phase == IMPORT_PHASE_INDEX) {
        h->index_calls++;
        h->went_back |= h->crates_phase;
        h->index_total = p->files_total;
        h->index_done = p->files_done;
    } else {
        h->crates_phase = true;
        /* done never goes down within a pass */
        if (h->last.phase == IMPORT_PHASE_CRATES)
            assert_true(p->files_done >= h->last.files_done && p->bytes_done >= h->last.bytes_done);
    }
    if (p->final)
        h->finals++;
    h->last = *p;
    h->last.registry = NULL;
}

/* With a callback: the index pass then the crate pass, each counted first;
 * at the end every .crate file is decided and every byte of them counted, in
 * one final call; the counts agree with the result's. */
static void test_import_progress(void **state)
{
    struct fx *f = *state;
    struct import_result r;
    struct heard h;
    memset(&h, 0, sizeof h);
    assert_int_equal(agent_import_cargo_home(f->store, f->home, &r, on_progress, &h), 0);
    assert_true(h.calls > 2);
    assert_true(h.index_calls > 0);
    assert_false(h.went_back);
    assert_int_equal(h.finals, 1);
    assert_true(h.last.final);
    assert_int_equal(h.last.phase, IMPORT_PHASE_CRATES);
    assert_int_equal(h.index_done, h.index_total);
    assert_true(h.index_total >= r.files);
    assert_int_equal(h.last.files_total, r.crates_seen);
    assert_int_equal(h.last.files_done, r.crates_seen);
    assert_int_equal(h.last.files_done,
                     r.crates_added + r.crates_present + r.crates_untrusted + r.crates_bad);
    assert_true(h.last.bytes_total > 0);
    assert_int_equal(h.last.bytes_done, h.last.bytes_total);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_import_counts),
        T(test_import_not_a_dir),
        T(test_import_progress),
        T(test_import_full_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
