/* agent/import.c — import an existing Cargo cache (CARGO_HOME) into the store.
 *
 * Two passes, both trusting only what the user's own Cargo wrote:
 *   1. index: every file below CARGO_HOME/registry/index/<dir>/.cache/ is a
 *      Cargo index cache (proto/cargo_cache.h); each record's JSON line is
 *      parsed and stored with origin "cargo-home" (contradictions are rejected
 *      and counted, as everywhere). Files are read and parsed first, then put
 *      in one transaction per IMPORT_BATCH_FILES files or
 *      IMPORT_INDEX_BATCH_BYTES bytes (index_flush).
 *   2. crates: every CARGO_HOME/registry/cache/<dir>/<name>-<version>.crate is
 *      matched to an index entry by splitting the file name at each '-' that
 *      precedes a digit; its bytes become a blob only when their SHA-256 equals
 *      that entry's cksum. Files with no matching entry are skipped as
 *      untrusted. The copies go through a store blob batch (store/store.h):
 *      worker threads read each file once, hashing and writing the same chunks;
 *      every IMPORT_BATCH_FILES files or IMPORT_BATCH_BYTES bytes the copies
 *      that are done are made durable together (one syncfs, the renames, one
 *      fsync per blobs/xx directory) and then recorded in one transaction
 *      (crates_publish), while the walk keeps queueing the next ones.
 *
 * The counts (struct import_result) are those of importing file by file: a
 * crate whose digest is still being copied (the same crate in two registry
 * directories) is decided after that copy is recorded (struct deferred), and a
 * batch whose transaction fails is retried file by file / blob by blob.
 *
 * Only crates.io's registry directories are read (proto/cargo_home.h states
 * the rule): a private registry's crates would otherwise reach every peer as
 * crates.io's. Skipped directories are counted and named in the result.
 *
 * Progress (optional, for `cratecast import-cargo`'s bar): a first walk counts
 * the files of each pass and their bytes; then, after each file, the caller's
 * callback hears how many are decided. A crate counts as done once its fate
 * is known (held already, untrusted, recorded, or bad): a queued copy is done
 * when its batch is recorded. Without a callback there is no counting walk.
 *
 * agent_import_cargo_home() is synchronous and opens its own store connection,
 * so the agent runs it on the libuv thread pool and keeps serving meanwhile.
 * The database write lock is held only for the puts and records of a batch,
 * never across file reads or fsyncs, so the loop's own writes wait little.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/import.h"
#include "agent/log.h"
#include "proto/cargo_cache.h"
#include "proto/cargo_config.h"
#include "proto/cargo_home.h"
#include "proto/config.h"
#include "proto/index_line.h"
#include "store/store.h"
#include "proto/alloc.h"

#define IMPORT_DEPTH_MAX 6
/* A batch: this many files, or this many bytes of crates (index files), made
 * durable and recorded together. */
#define IMPORT_BATCH_FILES 256
#define IMPORT_BATCH_BYTES (64u << 20)
#define IMPORT_INDEX_BATCH_BYTES (16u << 20)

static atomic_int import_cancel;

static int read_file(const char *path, size_t cap, uint8_t **out, size_t *outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > cap) {
        rc = -EFBIG;
        goto out;
    }
    size_t len = (size_t)st.st_size;
    buf = cc_malloc(len ? len : 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = read(fd, buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            goto out;
        }
        off += (size_t)n;
    }
    *out = buf;
    *outlen = len;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

/* ---- the importer --------------------------------------------------------- */

/* An index cache file read and parsed, waiting for its batch's transaction:
 * the transaction holds the write lock only for the puts. `index_new` and
 * `conflicts` count once that transaction commits. */
struct cache_file {
    uint8_t *buf; /* the entries' lines point into it */
    size_t len;
    char *registry;
    struct proto_index_entry *entries;
    size_t n;
    uint64_t bad_lines; /* records that do not parse, a truncated file */
    uint64_t index_new, conflicts;
};

/* A .crate whose blob was already being copied (the same crate in two registry
 * directories): decided after that copy is recorded, as if one after the other. */
struct deferred {
    uint8_t sha[PROTO_SHA256_LEN];
    uint64_t size; /* of the file, for progress */
    char *path;
};

/* A copy queued in the blob batch, not yet recorded. */
struct flying {
    uint8_t sha[PROTO_SHA256_LEN];
    uint64_t size; /* of the file, for progress */
};

struct importer {
    struct store *s;
    struct import_result *r;
    /* pass 1 */
    struct cache_file *files;
    size_t nfiles, files_cap, files_bytes;
    /* pass 2 */
    struct store_blob_batch *batch;
    struct flying *fly;
    size_t nfly, fly_cap;
    struct store_blob_result *pub; /* copies reported by the blob batch, waiting for their record */
    size_t npub, pub_cap;
    struct deferred *dup;
    size_t ndup, dup_cap;
    bool full; /* a copy failed with ENOSPC or EDQUOT */
    /* progress: NULL fn, nothing counted */
    import_progress_fn progress;
    void *progress_ud;
    struct import_progress pg; /* totals from the counting walk, done so far */
    char registry[256];        /* the registry directory being read (pg.registry) */
};

static void report(struct importer *im)
{
    if (im->progress)
        im->progress(im->progress_ud, &im->pg);
}

/* A file of the current pass is done (decided, for a crate). */
static void file_done(struct importer *im, uint64_t size)
{
    im->pg.files_done++;
    im->pg.bytes_done += size;
}

/* Room for one more element in a growing array: 0 or -ENOMEM. */
/* ---- pass 1: index cache files, one transaction per batch ------------------ */

/* Parse every record of f (outside any transaction); the dependency lists
 * are not needed here and are freed at once. 0 or -ENOMEM. */
static int parse_cache_file(struct cache_file *f)
{
    struct proto_cargo_cache_iter it;
    const uint8_t *vers, *line;
    size_t vl, ll, cap = 0;
    int rc;

    if (proto_cargo_cache_open(f->buf, f->len, &it) < 0) { /* checked when read */
        f->bad_lines++;
        return 0;
    }
    while ((rc = proto_cargo_cache_next(&it, &vers, &vl, &line, &ll)) == 1) {
        if (cc_grow((void **)&f->entries, &cap, f->n, sizeof *f->entries, 64) < 0)
            return -ENOMEM;
        struct proto_index_entry *e = &f->entries[f->n];
        if (proto_index_line_parse(line, ll, e) < 0) {
            f->bad_lines++;
            continue;
        }
        for (size_t i = 0; i < e->ndeps; i++)
            free(e->deps[i]);
        free(e->deps);
        e->deps = NULL;
        e->ndeps = 0;
        f->n++;
    }
    if (rc < 0)
        f->bad_lines++;
    return 0;
}

/* Put the entries of one file, counting into f. Returns the first database
 * error (the transaction is then doomed), else 0. */
static int put_cache_file(struct store *s, struct cache_file *f)
{
    f->index_new = f->conflicts = 0;
    for (size_t i = 0; i < f->n; i++) {
        int rc = store_index_ingest(s, &f->entries[i], STORE_ORIGIN_CARGO_HOME, f->registry);
        if (rc == STORE_INGEST_NEW)
            f->index_new++;
        else if (rc == STORE_INGEST_CONFLICT)
            f->conflicts++;
        else if (rc < 0)
            return rc;
    }
    return 0;
}

static void tally_add(struct import_result *r, const struct cache_file *f, bool committed)
{
    r->index_entries += f->n;
    r->bad_lines += f->bad_lines;
    if (committed) {
        r->index_new += f->index_new;
        r->conflicts += f->conflicts;
    }
}

/* The files read so far, in one transaction; should it fail (a database
 * error, not a contradiction), each file again in its own, so that one file
 * cannot cost the others. A file whose transaction fails counts its entries
 * as seen, none as new. */
static void index_flush(struct importer *im)
{
    int rc = store_begin(im->s);
    for (size_t i = 0; i < im->nfiles && rc == 0; i++)
        rc = put_cache_file(im->s, &im->files[i]);
    if (rc == 0)
        rc = store_commit(im->s);
    else
        store_rollback(im->s);
    for (size_t i = 0; i < im->nfiles; i++) {
        struct cache_file *f = &im->files[i];
        if (rc < 0) {
            int frc = store_begin(im->s);
            if (frc == 0)
                frc = put_cache_file(im->s, f);
            if (frc == 0)
                frc = store_commit(im->s);
            else
                store_rollback(im->s);
            tally_add(im->r, f, frc == 0);
        } else {
            tally_add(im->r, f, true);
        }
        free(f->entries); /* nothing left to clear: no deps */
        free(f->buf);
        free(f->registry);
    }
    im->nfiles = 0;
    im->files_bytes = 0;
}

static void read_cache_file(struct importer *im, const char *path, const char *registry)
{
    struct import_result *r = im->r;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_file(path, PROTO_CARGO_CACHE_MAX, &buf, &len) < 0) {
        r->bad_lines++;
        return;
    }
    struct proto_cargo_cache_iter it;
    if (proto_cargo_cache_open(buf, len, &it) < 0) {
        r->bad_lines++;
        free(buf);
        return;
    }
    r->files++;
    char *reg = cc_strdup(registry);
    if (reg == NULL ||
        cc_grow((void **)&im->files, &im->files_cap, im->nfiles, sizeof *im->files, 64) < 0) {
        r->bad_lines++; /* out of memory: counted, as a file that cannot be read */
        free(reg);
        free(buf);
        return;
    }
    struct cache_file *f = &im->files[im->nfiles];
    *f = (struct cache_file){.buf = buf, .len = len, .registry = reg};
    if (parse_cache_file(f) < 0) {
        r->bad_lines++; /* out of memory, as above */
        free(f->entries);
        free(reg);
        free(buf);
        return;
    }
    im->nfiles++;
    im->files_bytes += len;
    if (im->nfiles >= IMPORT_BATCH_FILES || im->files_bytes >= IMPORT_INDEX_BATCH_BYTES)
        index_flush(im);
}

static void import_cache_file(struct importer *im, const char *path, const char *registry,
                              uint64_t size)
{
    read_cache_file(im, path, registry);
    file_done(im, size);
    report(im);
}

/* ---- pass 2: crates through the blob batch --------------------------------- */

static bool in_flight(const struct importer *im, const uint8_t sha[PROTO_SHA256_LEN])
{
    for (size_t i = 0; i < im->nfly; i++)
        if (memcmp(im->fly[i].sha, sha, PROTO_SHA256_LEN) == 0)
            return true;
    return false;
}

/* A queued copy is decided (recorded or bad): no longer in flight, and done. */
static void fly_remove(struct importer *im, const uint8_t sha[PROTO_SHA256_LEN])
{
    for (size_t i = 0; i < im->nfly; i++) {
        if (memcmp(im->fly[i].sha, sha, PROTO_SHA256_LEN) == 0) {
            file_done(im, im->fly[i].size);
            im->fly[i] = im->fly[--im->nfly];
            return;
        }
    }
}

static void on_published(void *ctx, void *ud, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size,
                         int result)
{
    struct importer *im = ctx;
    (void)ud;
    if (cc_grow((void **)&im->pub, &im->pub_cap, im->npub, sizeof *im->pub, 64) < 0) {
        /* out of memory: the blob stays on disk unrecorded (harmless), counted bad */
        im->r->crates_bad++;
        fly_remove(im, sha);
        return;
    }
    struct store_blob_result *p = &im->pub[im->npub++];
    memcpy(p->sha, sha, PROTO_SHA256_LEN);
    p->size = size;
    p->rc = result;
}

/* Publish the copies that are done (all: wait for every queued one), then
 * record them in one transaction -- after the files are durable, and without
 * holding the write lock across their fsyncs. Should the transaction fail,
 * each is recorded on its own. */
static void crates_publish(struct importer *im, bool all)
{
    im->npub = 0;
    store_blob_batch_publish(im->batch, all, on_published, im);
    if (im->npub == 0)
        return;
    /* The file system is full (the batch has let go of its space reserve, so
     * these records find room): from now on copy and record one crate at a
     * time, as file by file would, so a record never waits behind copies
     * that take the last free blocks. */
    for (size_t i = 0; i < im->npub; i++)
        if (im->pub[i].rc == -ENOSPC || im->pub[i].rc == -EDQUOT)
            im->full = true;
    store_blob_record_all(im->s, im->pub, im->npub, STORE_ORIGIN_CARGO_HOME);
    for (size_t i = 0; i < im->npub; i++) {
        struct store_blob_result *p = &im->pub[i];
        if (p->rc == 0)
            im->r->crates_added++;
        else
            im->r->crates_bad++;
        fly_remove(im, p->sha);
    }
    im->npub = 0;
}

static void crate_add(struct importer *im, const uint8_t sha[PROTO_SHA256_LEN], const char *path,
                      uint64_t size)
{
    int rc = cc_grow((void **)&im->fly, &im->fly_cap, im->nfly, sizeof *im->fly, 64);
    while (rc == 0 && (rc = store_blob_batch_add_file(im->batch, sha, path, NULL)) == -ENOBUFS)
        crates_publish(im, store_blob_batch_ready(im->batch, NULL) == 0);
    if (rc < 0) {
        im->r->crates_bad++;
        file_done(im, size);
        return;
    }
    memcpy(im->fly[im->nfly].sha, sha, PROTO_SHA256_LEN);
    im->fly[im->nfly++].size = size;
    uint64_t bytes = 0;
    size_t ready = store_blob_batch_ready(im->batch, &bytes);
    if (im->full)
        crates_publish(im, true);
    else if (ready >= IMPORT_BATCH_FILES || bytes >= IMPORT_BATCH_BYTES)
        crates_publish(im, false);
}

/* A .crate (of size bytes) whose trusted digest is sha: present, queued, or
 * (when that digest is already being copied) deferred. */
static void crate_decide(struct importer *im, const uint8_t sha[PROTO_SHA256_LEN], const char *path,
                         uint64_t size)
{
    if (store_blob_has(im->s, sha)) {
        im->r->crates_present++;
        file_done(im, size);
        return;
    }
    if (in_flight(im, sha)) {
        char *copy = cc_strdup(path);
        if (copy == NULL ||
            cc_grow((void **)&im->dup, &im->dup_cap, im->ndup, sizeof *im->dup, 64) < 0) {
            free(copy);
            im->r->crates_bad++;
            file_done(im, size);
            return;
        }
        memcpy(im->dup[im->ndup].sha, sha, PROTO_SHA256_LEN);
        im->dup[im->ndup].size = size;
        im->dup[im->ndup++].path = copy;
        return;
    }
    crate_add(im, sha, path, size);
}

/* Publish and record everything, then decide the deferred ones; repeat until
 * none is left (each round settles at least the first of each digest). */
static void crates_drain(struct importer *im)
{
    for (;;) {
        crates_publish(im, true);
        report(im);
        if (im->ndup == 0)
            return;
        struct deferred *d = im->dup;
        size_t n = im->ndup;
        im->dup = NULL;
        im->ndup = im->dup_cap = 0;
        for (size_t i = 0; i < n; i++) {
            crate_decide(im, d[i].sha, d[i].path, d[i].size);
            free(d[i].path);
        }
        free(d);
    }
}

/* The file name of a .crate file Cargo wrote ("name-1.0.0.crate"), else NULL. */
static const char *crate_file_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t bl = strlen(base);
    return bl >= 8 && strcmp(base + bl - 6, ".crate") == 0 ? base : NULL;
}

static void decide_crate_file(struct importer *im, const char *path, uint64_t size)
{
    struct import_result *r = im->r;
    const char *base = crate_file_name(path);
    if (base == NULL)
        return;
    size_t bl = strlen(base);
    r->crates_seen++;
    size_t stem = bl - 6;
    for (size_t i = 1; i + 1 < stem; i++) {
        if (base[i] != '-' || base[i + 1] < '0' || base[i + 1] > '9')
            continue;
        char name[PROTO_NAME_MAX + 1], vers[PROTO_VERS_MAX + 1];
        if (i > PROTO_NAME_MAX || stem - i - 1 > PROTO_VERS_MAX)
            continue;
        memcpy(name, base, i);
        name[i] = '\0';
        memcpy(vers, base + i + 1, stem - i - 1);
        vers[stem - i - 1] = '\0';
        struct store_index_row row;
        if (store_index_get(im->s, name, vers, &row) < 0)
            continue;
        uint8_t sha[PROTO_SHA256_LEN];
        memcpy(sha, row.cksum, sizeof sha);
        store_index_row_free(&row);
        crate_decide(im, sha, path, size);
        return;
    }
    r->crates_untrusted++;
    file_done(im, size);
}

static void import_crate_file(struct importer *im, const char *path, const char *registry,
                              uint64_t size)
{
    (void)registry;
    decide_crate_file(im, path, size);
    report(im);
}

/* The counting walk (progress only): the files of a pass and their bytes. */
static void count_cache_file(struct importer *im, const char *path, const char *registry,
                             uint64_t size)
{
    (void)path;
    (void)registry;
    im->pg.files_total++;
    im->pg.bytes_total += size;
}

static void count_crate_file(struct importer *im, const char *path, const char *registry,
                             uint64_t size)
{
    if (crate_file_name(path))
        count_cache_file(im, path, registry, size);
}

/* Walk a directory tree, calling fn on every regular file. */
/* What a walk does with each regular file: (importer, path, registry directory, size). */
typedef void (*walk_fn)(struct importer *, const char *, const char *, uint64_t);

static void walk(struct importer *im, const char *dir, int depth, const char *registry, walk_fn fn)
{
    if (depth > IMPORT_DEPTH_MAX || atomic_load(&import_cancel))
        return;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && !atomic_load(&import_cancel)) {
        if (de->d_name[0] == '.' &&
            (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
            continue;
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue;
        struct stat st;
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            walk(im, path, depth + 1, registry, fn);
        else if (S_ISREG(st.st_mode))
            fn(im, path, registry, (uint64_t)st.st_size);
    }
    closedir(d);
}

/* The host of crates.io's replacement in the user's Cargo config, "" when
 * crates.io is not replaced. Cargo reads CARGO_HOME/config when it exists,
 * else config.toml. */
static void replacement_host(const char *cargo_home, char *host, size_t hostsz)
{
    static const char *const names[] = {"config", "config.toml"};
    host[0] = '\0';
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", cargo_home, names[i]);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (read_file(path, PROTO_TOML_MAX, &buf, &len) < 0)
            continue;
        char url[PROTO_URL_MAX];
        unsigned line = 0;
        if (proto_cargo_config_crates_io_replacement(buf, len, url, sizeof url, &line) == 0 &&
            proto_cargo_config_url_host(url, host, hostsz) < 0)
            host[0] = '\0';
        free(buf);
        return;
    }
}

/* Is registry/<index|cache>/<dir> crates.io's? Decided once per directory name
 * (both passes ask) and counted in the result. */
struct registry_filter {
    const char *cargo_home;
    char host[256];
    struct {
        char dir[256];
        bool yes;
    } seen[32];
    size_t nseen;
};

/* Append src to the NUL-terminated dst, as much as fits. */
static void append(char *dst, size_t dstsz, const char *src)
{
    size_t used = strlen(dst), n = strlen(src);
    if (used + 1 >= dstsz)
        return;
    if (n > dstsz - used - 1)
        n = dstsz - used - 1;
    memcpy(dst + used, src, n);
    dst[used + n] = '\0';
}

static bool registry_allowed(struct registry_filter *rf, const char *dir, struct import_result *r)
{
    for (size_t i = 0; i < rf->nseen; i++)
        if (strcmp(rf->seen[i].dir, dir) == 0)
            return rf->seen[i].yes;
    char path[4096];
    snprintf(path, sizeof path, "%s/registry/index/%s/config.json", rf->cargo_home, dir);
    uint8_t *cfg = NULL;
    size_t cfglen = 0;
    if (read_file(path, PROTO_CONFIG_MAX, &cfg, &cfglen) < 0)
        cfg = NULL;
    char why[300];
    bool yes = proto_cargo_registry_is_crates_io(dir, cfg, cfglen, rf->host[0] ? rf->host : NULL,
                                                 why, sizeof why);
    free(cfg);
    if (yes) {
        r->registries++;
    } else {
        r->registries_skipped++;
        /* a summary: what does not fit is cut off */
        if (r->skipped_text[0])
            append(r->skipped_text, sizeof r->skipped_text, "; ");
        append(r->skipped_text, sizeof r->skipped_text, dir);
        append(r->skipped_text, sizeof r->skipped_text, ": ");
        append(r->skipped_text, sizeof r->skipped_text, why);
    }
    if (rf->nseen < sizeof rf->seen / sizeof rf->seen[0] && strlen(dir) < sizeof rf->seen[0].dir) {
        snprintf(rf->seen[rf->nseen].dir, sizeof rf->seen[0].dir, "%s", dir);
        rf->seen[rf->nseen++].yes = yes;
    }
    return yes;
}

static void for_each_registry(struct importer *im, struct registry_filter *rf, const char *root,
                              const char *sub, walk_fn fn)
{
    DIR *d = opendir(root);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (!registry_allowed(rf, de->d_name, im->r))
            continue;
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/%s%s", root, de->d_name, sub);
        if (n < 0 || (size_t)n >= sizeof path)
            continue;
        snprintf(im->registry, sizeof im->registry, "%s", de->d_name);
        walk(im, path, 0, de->d_name, fn);
    }
    closedir(d);
}

/* The start of a pass: its totals from a counting walk (only when someone
 * watches), nothing done yet. */
static void pass_start(struct importer *im, enum import_phase phase, struct registry_filter *rf,
                       const char *root, const char *sub, walk_fn count)
{
    im->pg = (struct import_progress){.phase = phase, .registry = im->registry};
    im->registry[0] = '\0';
    if (im->progress == NULL)
        return;
    for_each_registry(im, rf, root, sub, count);
    im->registry[0] = '\0';
    report(im);
}

int agent_import_cargo_home(const char *store_dir, const char *cargo_home, struct import_result *r,
                            import_progress_fn progress, void *ud)
{
    memset(r, 0, sizeof *r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct stat st;
    if (stat(cargo_home, &st) < 0 || !S_ISDIR(st.st_mode)) {
        r->error = -ENOENT;
        snprintf(r->error_text, sizeof r->error_text, "%s is not a directory", cargo_home);
        return r->error;
    }
    struct store *s = NULL;
    struct store_error err;
    int rc = store_open_err(store_dir, &s, &err);
    if (rc < 0) {
        r->error = rc;
        if (err.text[0])
            snprintf(r->error_text, sizeof r->error_text, "%.250s", err.text);
        else
            snprintf(r->error_text, sizeof r->error_text, "cannot open the store at %s: %s",
                     store_dir, strerror(-rc));
        store_close(s);
        return rc;
    }
    struct registry_filter *rf = cc_calloc(1, sizeof *rf);
    if (rf == NULL) {
        store_close(s);
        r->error = -ENOMEM;
        snprintf(r->error_text, sizeof r->error_text, "out of memory");
        return r->error;
    }
    rf->cargo_home = cargo_home;
    replacement_host(cargo_home, rf->host, sizeof rf->host);
    struct importer im = {.s = s, .r = r, .progress = progress, .progress_ud = ud};
    char root[4096];
    snprintf(root, sizeof root, "%s/registry/index", cargo_home);
    pass_start(&im, IMPORT_PHASE_INDEX, rf, root, "/.cache", count_cache_file);
    for_each_registry(&im, rf, root, "/.cache", import_cache_file);
    index_flush(&im); /* pass 2 looks the crates up in what pass 1 stored */
    rc = store_blob_batch_open(s, -1, &im.batch);
    if (rc < 0) {
        r->error = rc;
        snprintf(r->error_text, sizeof r->error_text, "cannot start copying crates: %s",
                 strerror(-rc));
    } else {
        snprintf(root, sizeof root, "%s/registry/cache", cargo_home);
        pass_start(&im, IMPORT_PHASE_CRATES, rf, root, "", count_crate_file);
        for_each_registry(&im, rf, root, "", import_crate_file);
        if (!atomic_load(&import_cancel)) {
            crates_drain(&im); /* else store_blob_batch_free drops the copies */
            im.pg.final = true;
            report(&im);
        }
    }
    store_blob_batch_free(im.batch);
    free(im.files);
    free(im.fly);
    free(im.pub);
    free(im.dup);
    free(rf);
    store_close(s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return r->error;
}

void agent_import_cancel(void)
{
    atomic_store(&import_cancel, 1);
}
