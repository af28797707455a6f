/* agent/import.c — import an existing Cargo cache (CARGO_HOME) into the store.
 *
 * Two passes, both trusting only what the user's own Cargo wrote:
 *   1. index: every file below CARGO_HOME/registry/index/<dir>/.cache/ is a
 *      Cargo index cache (proto/cargo_cache.h); each record's JSON line is
 *      parsed and stored with origin "cargo-home" (contradictions are rejected
 *      and counted, as everywhere).
 *   2. crates: every CARGO_HOME/registry/cache/<dir>/<name>-<version>.crate is
 *      matched to an index entry by splitting the file name at each '-' that
 *      precedes a digit; its bytes become a blob only when their SHA-256 equals
 *      that entry's cksum (store_blob_commit_file checks while copying).
 *      Files with no matching entry are skipped as untrusted.
 *
 * Only crates.io's registry directories are read (proto/cargo_home.h states
 * the rule): a private registry's crates would otherwise reach every peer as
 * crates.io's. Skipped directories are counted and named in the result.
 *
 * agent_import_cargo_home() is synchronous and opens its own store connection,
 * so the agent runs it on the libuv thread pool and keeps serving meanwhile.
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

#include "agent/internal.h"
#include "agent/log.h"
#include "proto/cargo_cache.h"
#include "proto/cargo_config.h"
#include "proto/cargo_home.h"
#include "proto/config.h"
#include "proto/index_line.h"

#define IMPORT_DEPTH_MAX 6

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
    buf = malloc(len ? len : 1);
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

static void import_cache_file(struct store *s, const char *path, const char *registry,
                              struct import_result *r)
{
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
    store_begin(s);
    const uint8_t *vers, *line;
    size_t vl, ll;
    int rc;
    while ((rc = proto_cargo_cache_next(&it, &vers, &vl, &line, &ll)) == 1) {
        struct proto_index_entry e;
        if (proto_index_line_parse(line, ll, &e) < 0) {
            r->bad_lines++;
            continue;
        }
        r->index_entries++;
        rc = store_index_put(s, &e, STORE_ORIGIN_CARGO_HOME, registry);
        if (rc == STORE_PUT_NEW)
            r->index_new++;
        else if (rc == -EEXIST)
            r->conflicts++;
        proto_index_entry_clear(&e);
    }
    if (rc < 0)
        r->bad_lines++;
    if (store_commit(s) < 0)
        store_rollback(s);
    free(buf);
}

/* Walk a directory tree, calling fn on every regular file. */
static void walk(struct store *s, const char *dir, int depth, const char *registry,
                 struct import_result *r,
                 void (*fn)(struct store *, const char *, const char *, struct import_result *))
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
            walk(s, path, depth + 1, registry, r, fn);
        else if (S_ISREG(st.st_mode))
            fn(s, path, registry, r);
    }
    closedir(d);
}

static void import_crate_file(struct store *s, const char *path, const char *registry,
                              struct import_result *r)
{
    (void)registry;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t bl = strlen(base);
    if (bl < 8 || strcmp(base + bl - 6, ".crate") != 0)
        return;
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
        if (store_index_get(s, name, vers, &row) < 0)
            continue;
        uint8_t sha[PROTO_SHA256_LEN];
        memcpy(sha, row.cksum, sizeof sha);
        store_index_row_free(&row);
        if (store_blob_has(s, sha)) {
            r->crates_present++;
            return;
        }
        int rc = store_blob_commit_file(s, sha, path);
        if (rc == 0) {
            struct stat st;
            if (stat(path, &st) == 0 &&
                store_blob_record(s, sha, (uint64_t)st.st_size, STORE_ORIGIN_CARGO_HOME) == 0) {
                r->crates_added++;
                return;
            }
        }
        r->crates_bad++;
        return;
    }
    r->crates_untrusted++;
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

static void for_each_registry(struct store *s, struct registry_filter *rf, const char *root,
                              const char *sub, struct import_result *r,
                              void (*fn)(struct store *, const char *, const char *,
                                         struct import_result *))
{
    DIR *d = opendir(root);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (!registry_allowed(rf, de->d_name, r))
            continue;
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/%s%s", root, de->d_name, sub);
        if (n < 0 || (size_t)n >= sizeof path)
            continue;
        walk(s, path, 0, de->d_name, r, fn);
    }
    closedir(d);
}

int agent_import_cargo_home(const char *store_dir, const char *cargo_home, struct import_result *r)
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
    int rc = store_open(store_dir, &s);
    if (rc < 0) {
        r->error = rc;
        snprintf(r->error_text, sizeof r->error_text, "cannot open the store at %s: %s", store_dir,
                 strerror(-rc));
        store_close(s);
        return rc;
    }
    struct registry_filter *rf = calloc(1, sizeof *rf);
    if (rf == NULL) {
        store_close(s);
        r->error = -ENOMEM;
        snprintf(r->error_text, sizeof r->error_text, "out of memory");
        return r->error;
    }
    rf->cargo_home = cargo_home;
    replacement_host(cargo_home, rf->host, sizeof rf->host);
    char root[4096];
    snprintf(root, sizeof root, "%s/registry/index", cargo_home);
    for_each_registry(s, rf, root, "/.cache", r, import_cache_file);
    snprintf(root, sizeof root, "%s/registry/cache", cargo_home);
    for_each_registry(s, rf, root, "", r, import_crate_file);
    free(rf);
    store_close(s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return 0;
}

struct import_job {
    uv_work_t work;
    struct agent *a;
    char *store_dir;
    char *home;
    struct import_result res;
};

static void import_work(uv_work_t *w)
{
    struct import_job *j = container_of(w, struct import_job, work);
    agent_import_cargo_home(j->store_dir, j->home, &j->res);
}

static void import_after(uv_work_t *w, int status)
{
    struct import_job *j = container_of(w, struct import_job, work);
    struct agent *a = j->a;
    a->importing = false;
    a->have_import = true;
    agent_news_changed(a);
    a->last_import = j->res;
    if (j->res.error)
        log_warn("import of %s: %s", j->home, j->res.error_text);
    else
        log_info("imported %s: %llu index entries (%llu new, %llu conflicting), %llu crates "
                 "added, %llu already held, %llu without a trusted entry, in %.2f s%s%s",
                 j->home, (unsigned long long)j->res.index_entries,
                 (unsigned long long)j->res.index_new, (unsigned long long)j->res.conflicts,
                 (unsigned long long)j->res.crates_added, (unsigned long long)j->res.crates_present,
                 (unsigned long long)j->res.crates_untrusted, j->res.seconds,
                 j->res.registries_skipped ? "; skipped registries that are not crates.io's: " : "",
                 j->res.skipped_text);
    a->counters.rejected_conflict += j->res.conflicts;
    a->counters.rejected += j->res.conflicts;
    free(j->store_dir);
    free(j->home);
    free(j);
}

void agent_import_cancel(void)
{
    atomic_store(&import_cancel, 1);
}

int agent_import_start(struct agent *a, const char *cargo_home)
{
    struct import_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return -ENOMEM;
    j->a = a;
    j->store_dir = strdup(store_dir(a->store));
    j->home = strdup(cargo_home);
    if (j->store_dir == NULL || j->home == NULL) {
        free(j->store_dir);
        free(j->home);
        free(j);
        return -ENOMEM;
    }
    int rc = uv_queue_work(&a->loop, &j->work, import_work, import_after);
    if (rc < 0) {
        free(j->store_dir);
        free(j->home);
        free(j);
        return rc;
    }
    a->importing = true;
    return 0;
}
