/* cli/bundle_export.c — `cratecast bundle export`: choose what to carry, then
 * write it as a signed bundle (proto/bundle.h) or as a Cargo local-registry
 * directory.
 *
 * Choosing (struct selection):
 *   --lock PATH...  every crates.io package of those Cargo.locks (every
 *                   target's: a lockfile lists them all). Each needs an index
 *                   entry here whose cksum is the lockfile's checksum, and its
 *                   .crate here; what lacks either is listed as missing. The
 *                   index entries carried are every entry held for those crate
 *                   names (the index files as this store knows them), so the
 *                   importer's offline listing sees the same versions.
 *   --all           every name's entries, and every crate recorded.
 * Writing a bundle: all index lines first (signed chunks), then the crates
 * in name order, each read once from its blob file and hashed on the way: a
 * blob whose bytes no longer match its name fails the export (run `cratecast
 * verify`), and the partial file is removed. The file is written under a
 * temporary name beside FILE, fsynced, then renamed: a crash never leaves a
 * half bundle under FILE.
 * Writing a local registry: DIR/index/<sparse path> holds the lines of the
 * crates carried (only those: Cargo would otherwise pick a version it cannot
 * download) and DIR/<name>-<version>.crate each crate, each file written to a
 * temporary name and renamed.
 * Memory: the selection (a digest, size and name per crate) and one crate
 * name's index entries at a time; crate bytes stream in 1 MiB pieces.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/agent.h"
#include "agent/options.h"
#include "cli/bundle.h"
#include "cli/lockfiles.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "proto/alloc.h"
#include "proto/bundle.h"
#include "proto/index_line.h"
#include "proto/name.h"
#include "proto/peer.h"
#include "proto/textbuf.h"
#include "store/store.h"

#define EXPORT_CHUNK (1u << 20)

struct sel_crate {
    uint8_t sha[PROTO_SHA256_LEN];
    uint64_t size;
    char name[PROTO_NAME_MAX + 1]; /* as the index entry spells it */
    char vers[PROTO_VERS_MAX + 1];
};

struct selection {
    char **names; /* lower-case, distinct, sorted */
    size_t nnames;
    struct sel_crate *crates; /* distinct digests, sorted by name then version */
    size_t ncrates, crates_cap;
    uint64_t bytes;
    size_t missing;
};

static void selection_free(struct selection *s)
{
    store_names_free(s->names, s->nnames);
    free(s->crates);
    memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_crate(const void *a, const void *b)
{
    const struct sel_crate *x = a, *y = b;
    int c = strcasecmp(x->name, y->name);
    if (c == 0)
        c = strcmp(x->vers, y->vers);
    return c ? c : memcmp(x->sha, y->sha, PROTO_SHA256_LEN);
}

static int cmp_sha(const void *a, const void *b)
{
    return memcmp(((const struct sel_crate *)a)->sha, ((const struct sel_crate *)b)->sha,
                  PROTO_SHA256_LEN);
}

/* Whether the crate with this digest is carried (by_sha: s->crates sorted by digest). */
static bool selected(const struct selection *s, const uint8_t sha[PROTO_SHA256_LEN],
                     const struct sel_crate *by_sha)
{
    struct sel_crate key;
    memcpy(key.sha, sha, PROTO_SHA256_LEN);
    return bsearch(&key, by_sha, s->ncrates, sizeof key, cmp_sha) != NULL;
}

static int crate_add(struct store *st, struct selection *s, const char *name, const char *vers,
                     const uint8_t sha[PROTO_SHA256_LEN])
{
    if (s->ncrates == s->crates_cap) {
        size_t ncap = s->crates_cap ? s->crates_cap * 2 : 64;
        struct sel_crate *n = cc_realloc(s->crates, ncap * sizeof *n);
        if (n == NULL)
            return -ENOMEM;
        s->crates = n;
        s->crates_cap = ncap;
    }
    struct sel_crate *c = &s->crates[s->ncrates];
    memset(c, 0, sizeof *c);
    memcpy(c->sha, sha, PROTO_SHA256_LEN);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->vers, sizeof c->vers, "%s", vers);
    char path[PATH_MAX];
    struct stat sb;
    if (store_blob_path(st, sha, path, sizeof path) < 0 || stat(path, &sb) < 0)
        return -ENOENT;
    c->size = (uint64_t)sb.st_size;
    s->ncrates++;
    return 0;
}

/* The name an index line spells (its original case), into out. */
static void line_name(const struct store_index_row *r, char *out, size_t outsz)
{
    struct proto_index_entry e;
    out[0] = '\0';
    if (proto_index_line_parse((const uint8_t *)r->line, r->line_len, &e) == 0) {
        snprintf(out, outsz, "%s", e.name);
        proto_index_entry_clear(&e);
    }
}

/* Sorted, deduplicated by digest (the first of equal digests kept). */
static void crates_finish(struct selection *s)
{
    if (s->ncrates == 0)
        return;
    qsort(s->crates, s->ncrates, sizeof *s->crates, cmp_sha);
    size_t w = 0;
    for (size_t i = 0; i < s->ncrates; i++)
        if (w == 0 || memcmp(s->crates[w - 1].sha, s->crates[i].sha, PROTO_SHA256_LEN) != 0)
            s->crates[w++] = s->crates[i];
    s->ncrates = w;
    s->bytes = 0;
    for (size_t i = 0; i < w; i++)
        s->bytes += s->crates[i].size;
    qsort(s->crates, s->ncrates, sizeof *s->crates, cmp_crate);
}

static int select_all(struct store *st, struct selection *s)
{
    int rc = store_index_names_since(st, 0, &s->names, &s->nnames);
    if (rc < 0)
        return rc;
    if (s->nnames)
        qsort(s->names, s->nnames, sizeof *s->names, cmp_str);
    for (size_t i = 0; i < s->nnames && rc == 0; i++) {
        struct store_index_list l;
        if ((rc = store_index_list(st, s->names[i], &l)) < 0)
            break;
        for (size_t j = 0; j < l.n && rc >= 0; j++) {
            if (!l.rows[j].have_blob)
                continue;
            char name[PROTO_NAME_MAX + 1];
            line_name(&l.rows[j], name, sizeof name);
            rc = crate_add(st, s, name[0] ? name : s->names[i], l.rows[j].vers, l.rows[j].cksum);
            if (rc == -ENOENT)
                rc = 0; /* the file went (evicted just now): not carried */
        }
        store_index_list_free(&l);
    }
    return rc;
}

static int select_locks(struct store *st, const struct lock_set *ls, struct selection *s)
{
    s->names = cc_calloc(ls->n ? ls->n : 1, sizeof *s->names);
    if (s->names == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ls->n; i++) {
        const struct lock_pkg *p = &ls->v[i];
        char lower[PROTO_NAME_MAX + 1];
        if (proto_name_lower(p->name, lower, sizeof lower) < 0)
            continue;
        bool seen = false;
        for (size_t j = 0; j < s->nnames && !seen; j++)
            seen = strcmp(s->names[j], lower) == 0;
        if (!seen && (s->names[s->nnames++] = cc_strdup(lower)) == NULL)
            return -ENOMEM;

        struct store_index_row row;
        const char *why = NULL;
        int rc = store_index_get(st, p->name, p->vers, &row);
        if (rc == -ENOENT) {
            why = "no index entry for it in this store";
        } else if (rc < 0) {
            return rc;
        } else {
            if (p->has_sha && memcmp(row.cksum, p->sha, PROTO_SHA256_LEN) != 0)
                why = "the checksum in the Cargo.lock differs from the index entry held here";
            else if (!row.have_blob)
                why = "its .crate is not in this store";
            else if (crate_add(st, s, p->name, p->vers, row.cksum) == -ENOENT)
                why = "its .crate file is gone from this store";
            store_index_row_free(&row);
        }
        if (why) {
            fprintf(stderr, "missing: %s %s: %s\n", p->name, p->vers, why);
            s->missing++;
        }
    }
    qsort(s->names, s->nnames, sizeof *s->names, cmp_str);
    return 0;
}

/* ---- writing a bundle ------------------------------------------------------- */

struct out {
    int fd;
    uint64_t written;
};

static int sink(void *ud, const uint8_t *p, size_t n)
{
    struct out *o = ud;
    while (n > 0) {
        ssize_t w = write(o->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
        o->written += (uint64_t)w;
    }
    return 0;
}

static void draw(struct progress *bar, const struct selection *s, uint64_t done, uint64_t bytes,
                 bool final)
{
    struct progress_view v = {
        .done = done,
        .total = s->ncrates,
        .items = "crates",
        .bytes = bytes,
        .bytes_total = s->bytes,
    };
    progress_draw(bar, &v, final);
}

/* Stream one blob into w (or, w NULL, to the file fd): read once, hashed on
 * the way. -EBADMSG when its bytes are not its name. */
static int copy_blob(struct store *st, const struct sel_crate *c, struct proto_bundle_writer *w,
                     int fd, uint8_t *buf, struct progress *bar, const struct selection *s,
                     uint64_t done, uint64_t *bytes)
{
    char path[PATH_MAX];
    int rc = store_blob_path(st, c->sha, path, sizeof path);
    if (rc < 0)
        return rc;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    struct stat sb;
    if (fstat(in, &sb) < 0 || (uint64_t)sb.st_size > PROTO_BUNDLE_CRATE_MAX) {
        rc = errno ? -errno : -EFBIG;
        close(in);
        return rc;
    }
    uint64_t size = (uint64_t)sb.st_size, left = size;
    struct proto_sha256 h;
    if ((rc = proto_sha256_init(&h)) < 0) {
        close(in);
        return rc;
    }
    if (w)
        rc = proto_bundle_writer_crate_begin(w, c->sha, size);
    while (rc == 0 && left > 0) {
        ssize_t n = read(in, buf, left < EXPORT_CHUNK ? (size_t)left : EXPORT_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO; /* shrank under us */
            break;
        }
        proto_sha256_update(&h, buf, (size_t)n);
        if (w) {
            rc = proto_bundle_writer_crate_data(w, buf, (size_t)n);
        } else {
            struct out o = {fd, 0};
            rc = sink(&o, buf, (size_t)n);
        }
        left -= (uint64_t)n;
        *bytes += (uint64_t)n;
        draw(bar, s, done, *bytes, false);
    }
    close(in);
    uint8_t got[PROTO_SHA256_LEN];
    proto_sha256_final(&h, got);
    if (rc == 0 && memcmp(got, c->sha, PROTO_SHA256_LEN) != 0)
        rc = -EBADMSG;
    return rc;
}

static void report_blob_error(const struct sel_crate *c, int rc)
{
    char hex[PROTO_SHA256_HEX_LEN + 1];
    proto_hex_encode(c->sha, PROTO_SHA256_LEN, hex);
    if (rc == -EBADMSG) {
        cli_error("%s %s: the store's copy (blob %s) is damaged: its bytes no longer match "
                  "their checksum",
                  c->name, c->vers, hex);
        cli_hint("run `cratecast verify` (it quarantines damaged blobs), fetch the crate again, "
                 "then export again");
    } else {
        cli_error("%s %s: reading blob %s: %s", c->name, c->vers, hex, strerror(-rc));
    }
}

/* A temporary name beside path (same directory, so rename is atomic). */
static int tmp_beside(const char *path, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s.part-%ld", path, (long)getpid());
    return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

static int fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 && errno != EINVAL ? -errno : 0;
    close(fd);
    return rc;
}

static int write_bundle(struct store *st, const struct bundle_export_opts *o,
                        const struct selection *s, const uint8_t sk[PROTO_SK_LEN],
                        uint64_t *lines_out, uint64_t *file_bytes)
{
    bool to_stdout = strcmp(o->out, "-") == 0;
    char tmp[PATH_MAX] = "";
    struct out out = {STDOUT_FILENO, 0};
    struct proto_bundle_writer *w = NULL;
    uint8_t *buf = NULL;
    struct progress bar;
    uint64_t bytes = 0;
    int rc;

    if (!to_stdout) {
        if ((rc = tmp_beside(o->out, tmp, sizeof tmp)) < 0) {
            cli_error("%s: %s", o->out, strerror(-rc));
            return 1;
        }
        out.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out.fd < 0) {
            cli_error("%s: cannot create %s: %s", o->out, tmp, strerror(errno));
            return 1;
        }
    }
    uint8_t id[PROTO_BUNDLE_ID_LEN];
    randombytes_buf(id, sizeof id);
    rc = proto_bundle_writer_new(sk, id, (int64_t)time(NULL), AGENT_DEFAULT_UPSTREAM, 0, sink, &out,
                                 &w);
    buf = cc_malloc(EXPORT_CHUNK);
    if (rc == 0 && buf == NULL)
        rc = -ENOMEM;
    progress_start(&bar, stderr);

    /* the index: every entry held for the chosen names */
    for (size_t i = 0; i < s->nnames && rc == 0; i++) {
        struct store_index_list l;
        if ((rc = store_index_list(st, s->names[i], &l)) < 0)
            break;
        for (size_t j = 0; j < l.n && rc == 0; j++) {
            if (l.rows[j].line_len > PROTO_BUNDLE_LINE_MAX) {
                /* cannot happen with crates.io's lines (a few kB at most) */
                fprintf(stderr,
                        "warning: %s %s: its index line (%zu bytes) is too long for a "
                        "bundle: not carried\n",
                        s->names[i], l.rows[j].vers, l.rows[j].line_len);
                continue;
            }
            rc = proto_bundle_writer_index(w, (const uint8_t *)l.rows[j].line, l.rows[j].line_len);
            if (rc == 0)
                (*lines_out)++;
        }
        store_index_list_free(&l);
    }
    if (rc < 0 && rc != -EIO && rc != -ENOSPC && rc != -EDQUOT && rc != -EPIPE) {
        cli_error("%s: writing the index entries: %s", o->out, strerror(-rc));
        rc = 1;
    }
    /* the crates */
    for (size_t i = 0; i < s->ncrates && rc == 0; i++) {
        draw(&bar, s, i, bytes, false);
        rc = copy_blob(st, &s->crates[i], w, -1, buf, &bar, s, i, &bytes);
        if (rc == -EBADMSG || rc == -ENOENT) {
            report_blob_error(&s->crates[i], rc);
            rc = 1;
        }
    }
    if (rc == 0)
        rc = proto_bundle_writer_finish(w);
    draw(&bar, s, s->ncrates, bytes, true);
    progress_end(&bar);
    if (rc < 0)
        cli_error("%s: %s", o->out, strerror(-rc));
    if (rc == 0 && !to_stdout && fsync(out.fd) < 0) {
        cli_error("%s: %s", o->out, strerror(errno));
        rc = 1;
    }
    if (!to_stdout && close(out.fd) < 0 && rc == 0) {
        cli_error("%s: %s", o->out, strerror(errno));
        rc = 1;
    }
    if (rc == 0 && !to_stdout) {
        if (rename(tmp, o->out) < 0) {
            cli_error("%s: %s", o->out, strerror(errno));
            rc = 1;
        } else {
            tmp[0] = '\0';
            fsync_parent(o->out);
        }
    }
    if (tmp[0])
        unlink(tmp);
    proto_bundle_writer_free(w);
    free(buf);
    *file_bytes = out.written;
    return rc == 0 ? 0 : 1;
}

/* ---- writing a local registry ------------------------------------------------ */

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
        *p = '/';
        if (rc < 0)
            return rc;
    }
    return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* Write buf (or, buf NULL, the blob c) to path through a temporary name. */
static int write_file(struct store *st, const char *path, const uint8_t *buf, size_t len,
                      const struct sel_crate *c, uint8_t *chunk, struct progress *bar,
                      const struct selection *s, uint64_t done, uint64_t *bytes)
{
    char tmp[PATH_MAX];
    int rc = tmp_beside(path, tmp, sizeof tmp);
    if (rc < 0)
        return rc;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (buf) {
        struct out o = {fd, 0};
        rc = sink(&o, buf, len);
    } else {
        rc = copy_blob(st, c, NULL, fd, chunk, bar, s, done, bytes);
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

static int write_local_registry(struct store *st, const struct bundle_export_opts *o,
                                const struct selection *s, uint64_t *lines_out)
{
    char path[PATH_MAX];
    struct sel_crate *by_sha = NULL;
    uint8_t *chunk = cc_malloc(EXPORT_CHUNK);
    char *text = NULL;
    size_t cap = 0;
    struct progress bar;
    uint64_t bytes = 0;
    int rc = 0;

    progress_start(&bar, stderr);
    if (chunk == NULL ||
        (by_sha = cc_malloc((s->ncrates ? s->ncrates : 1) * sizeof *by_sha)) == NULL)
        rc = -ENOMEM;
    if (rc == 0) {
        if (s->ncrates) {
            memcpy(by_sha, s->crates, s->ncrates * sizeof *by_sha);
            qsort(by_sha, s->ncrates, sizeof *by_sha, cmp_sha);
        }
        snprintf(path, sizeof path, "%s/index", o->out);
        rc = mkdirs(path);
        if (rc < 0)
            cli_error("%s: %s", path, strerror(-rc));
    }
    /* the index: one file per name, the lines of the crates carried */
    for (size_t i = 0; i < s->nnames && rc == 0; i++) {
        struct store_index_list l;
        if ((rc = store_index_list(st, s->names[i], &l)) < 0)
            break;
        size_t len = 0;
        for (size_t j = 0; j < l.n && rc == 0; j++) {
            if (!selected(s, l.rows[j].cksum, by_sha))
                continue;
            if (len + l.rows[j].line_len + 1 > cap) {
                size_t ncap = (len + l.rows[j].line_len + 1) * 2;
                char *n = cc_realloc(text, ncap);
                if (n == NULL) {
                    rc = -ENOMEM;
                    break;
                }
                text = n;
                cap = ncap;
            }
            memcpy(text + len, l.rows[j].line, l.rows[j].line_len);
            len += l.rows[j].line_len;
            text[len++] = '\n';
            (*lines_out)++;
        }
        store_index_list_free(&l);
        if (rc < 0 || len == 0)
            continue;
        char rel[PROTO_INDEX_PATH_MAX];
        if (proto_index_path(s->names[i], strlen(s->names[i]), rel, sizeof rel) < 0)
            continue;
        snprintf(path, sizeof path, "%s/index/%s", o->out, rel);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        rc = mkdirs(path);
        *slash = '/';
        if (rc == 0)
            rc = write_file(st, path, (const uint8_t *)text, len, NULL, NULL, NULL, s, 0, NULL);
        if (rc < 0)
            cli_error("%s: %s", path, strerror(-rc));
    }
    /* the crates, named as Cargo's local registry looks them up */
    for (size_t i = 0; i < s->ncrates && rc == 0; i++) {
        const struct sel_crate *c = &s->crates[i];
        snprintf(path, sizeof path, "%s/%s-%s.crate", o->out, c->name, c->vers);
        rc = write_file(st, path, NULL, 0, c, chunk, &bar, s, i, &bytes);
        if (rc == -EBADMSG || rc == -ENOENT)
            report_blob_error(c, rc);
        else if (rc < 0)
            cli_error("%s: %s", path, strerror(-rc));
    }
    if (rc == 0 && fsync_parent(path) < 0)
        rc = -EIO;
    draw(&bar, s, s->ncrates, bytes, true);
    progress_end(&bar);
    free(by_sha);
    free(chunk);
    free(text);
    return rc == 0 ? 0 : 1;
}

/* ---- the command ---------------------------------------------------------------- */

int bundle_export(const struct bundle_export_opts *o)
{
    struct store *st = NULL;
    struct store_error err;
    struct selection sel = {0};
    struct lock_set ls = {0};
    uint8_t pk[PROTO_PK_LEN], sk[PROTO_SK_LEN];
    int status = 1;
    double t0 = progress_now();

    if (!o->all) {
        int rc = lockfiles_load("bundle export", o->locks, o->nlocks, &ls);
        if (rc != 0)
            return rc;
    }
    int rc = store_open_err(o->store, &st, &err);
    if (rc < 0) {
        agent_store_error(AGENT_STORE_OPEN, rc, o->store, &err);
        goto out;
    }
    if ((rc = store_identity_err(st, pk, sk, &err)) < 0) {
        agent_store_error(AGENT_STORE_IDENTITY, rc, o->store, &err);
        goto out;
    }
    rc = o->all ? select_all(st, &sel) : select_locks(st, &ls, &sel);
    if (rc < 0) {
        cli_error("%s: reading the store: %s", o->store, store_errmsg(st));
        goto out;
    }
    crates_finish(&sel);
    if (sel.missing && !o->partial) {
        cli_error("%zu of %zu locked package%s not in this store (listed above): nothing written",
                  sel.missing, ls.n, ls.n == 1 ? " is" : "s are");
        cli_hint("run `cratecast prefetch` for these projects while online, or add --partial to "
                 "write what is here");
        goto out;
    }
    uint64_t lines = 0, file_bytes = 0;
    if (o->format == BUNDLE_FORMAT_LOCAL_REGISTRY)
        status = write_local_registry(st, o, &sel, &lines);
    else
        status = write_bundle(st, o, &sel, sk, &lines, &file_bytes);
    if (status == 0) {
        double secs = progress_now() - t0;
        char b[32], f[32], rate[32], key[PROTO_KEY_TEXT_LEN + 1], miss[192] = "";
        text_bytes(sel.bytes, b, sizeof b);
        text_bytes(file_bytes, f, sizeof f);
        text_bytes(secs > 0 ? (uint64_t)((double)sel.bytes / secs) : 0, rate, sizeof rate);
        proto_key_encode(pk, key);
        int m = 0;
        if (sel.missing)
            m = snprintf(miss, sizeof miss, "; %zu locked package%s missing (listed above)",
                         sel.missing, sel.missing == 1 ? "" : "s");
        if (ls.skipped && m >= 0 && (size_t)m < sizeof miss)
            snprintf(miss + m, sizeof miss - (size_t)m,
                     "; %zu from git or other registries not carried", ls.skipped);
        /* the summary goes to stderr when the bundle itself goes to stdout */
        FILE *f_out = strcmp(o->out, "-") == 0 ? stderr : stdout;
        if (o->format == BUNDLE_FORMAT_LOCAL_REGISTRY)
            fprintf(f_out,
                    "wrote local registry %s: %zu crates (%s), %llu index entries, in %.2f s "
                    "(%s/s)%s\n",
                    o->out, sel.ncrates, b, (unsigned long long)lines, secs, rate, miss);
        else
            fprintf(f_out,
                    "wrote %s: %zu crates (%s), %llu index entries of %zu crate names, signed by "
                    "%s; %s in %.2f s (%s/s)%s\n",
                    o->out, sel.ncrates, b, (unsigned long long)lines, sel.nnames, key, f, secs,
                    rate, miss);
    }
out:
    sodium_memzero(sk, sizeof sk);
    selection_free(&sel);
    lockfiles_free(&ls);
    store_close(st);
    return status;
}
