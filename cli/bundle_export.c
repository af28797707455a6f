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
#include "cli/files.h"
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
    if (cc_grow((void **)&s->crates, &s->crates_cap, s->ncrates, sizeof *s->crates, 64) < 0)
        return -ENOMEM;
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

/* ---- writing ------------------------------------------------------------------- */

/* What the writers share: the store, the selection, the progress. */
struct exporter {
    struct store *st;
    const struct bundle_export_opts *o;
    const struct selection *s;
    const uint8_t *sk;
    uint8_t *chunk; /* EXPORT_CHUNK bytes */
    struct progress bar;
    uint64_t done, bytes;          /* crates and their bytes written so far */
    uint64_t lines;                /* index lines written */
    uint64_t file_bytes;           /* the bundle's size */
    bool reported;                 /* an error was printed already */
    const struct sel_crate *crate; /* fill_crate's crate */
    int fd;                        /* the bundle's file (sink) */
};

static void draw(struct exporter *x, bool final)
{
    struct progress_view v = {
        .done = x->done,
        .total = x->s->ncrates,
        .items = "crates",
        .bytes = x->bytes,
        .bytes_total = x->s->bytes,
    };
    progress_draw(&x->bar, &v, final);
}

static int sink(void *ud, const uint8_t *p, size_t n)
{
    struct exporter *x = ud;
    int rc = cli_write_all(x->fd, p, n);
    if (rc == 0)
        x->file_bytes += n;
    return rc;
}

static void report_blob_error(struct exporter *x, const struct sel_crate *c, int rc)
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
    x->reported = true;
}

/* Stream one blob into w (or, w NULL, to fd): read once, hashed on the way.
 * -EBADMSG when its bytes are not its name (reported, like a read error). */
static int copy_blob(struct exporter *x, const struct sel_crate *c, struct proto_bundle_writer *w,
                     int fd)
{
    char path[PATH_MAX];
    int rc = store_blob_path(x->st, c->sha, path, sizeof path);
    if (rc < 0)
        return rc;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        report_blob_error(x, c, -errno);
        return -ENOENT;
    }
    struct stat sb;
    if (fstat(in, &sb) < 0 || (uint64_t)sb.st_size > PROTO_BUNDLE_CRATE_MAX) {
        rc = errno ? -errno : -EFBIG;
        close(in);
        report_blob_error(x, c, rc);
        return rc;
    }
    uint64_t left = (uint64_t)sb.st_size;
    struct proto_sha256 h;
    if ((rc = proto_sha256_init(&h)) < 0) {
        close(in);
        return rc;
    }
    if (w)
        rc = proto_bundle_writer_crate_begin(w, c->sha, left);
    bool read_failed = false;
    while (rc == 0 && left > 0) {
        ssize_t n = read(in, x->chunk, left < EXPORT_CHUNK ? (size_t)left : EXPORT_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO; /* shrank under us */
            read_failed = true;
            break;
        }
        proto_sha256_update(&h, x->chunk, (size_t)n);
        rc = w ? proto_bundle_writer_crate_data(w, x->chunk, (size_t)n)
               : cli_write_all(fd, x->chunk, (size_t)n);
        left -= (uint64_t)n;
        x->bytes += (uint64_t)n;
        draw(x, false);
    }
    close(in);
    uint8_t got[PROTO_SHA256_LEN];
    proto_sha256_final(&h, got);
    if (rc == 0 && memcmp(got, c->sha, PROTO_SHA256_LEN) != 0)
        rc = -EBADMSG;
    if (rc == -EBADMSG || read_failed)
        report_blob_error(x, c, rc);
    return rc;
}

/* The whole bundle, into fd. */
static int fill_bundle(void *ud, int fd)
{
    struct exporter *x = ud;
    const struct selection *s = x->s;
    struct proto_bundle_writer *w = NULL;
    uint8_t id[PROTO_BUNDLE_ID_LEN];
    randombytes_buf(id, sizeof id);
    x->fd = fd;
    int rc = proto_bundle_writer_new(x->sk, id, (int64_t)time(NULL), AGENT_DEFAULT_UPSTREAM, 0,
                                     sink, x, &w);
    /* the index: every entry held for the chosen names */
    for (size_t i = 0; i < s->nnames && rc == 0; i++) {
        struct store_index_list l;
        if ((rc = store_index_list(x->st, s->names[i], &l)) < 0)
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
                x->lines++;
        }
        store_index_list_free(&l);
    }
    /* the crates */
    for (size_t i = 0; i < s->ncrates && rc == 0; i++, x->done++) {
        draw(x, false);
        rc = copy_blob(x, &s->crates[i], w, -1);
    }
    if (rc == 0)
        rc = proto_bundle_writer_finish(w);
    proto_bundle_writer_free(w);
    return rc;
}

static int write_bundle(struct exporter *x)
{
    const char *out = x->o->out;
    int rc = strcmp(out, "-") == 0 ? fill_bundle(x, STDOUT_FILENO)
                                   : cli_write_file_atomic_with(out, 0644, fill_bundle, x);
    draw(x, true);
    progress_end(&x->bar);
    if (rc < 0 && !x->reported)
        cli_error("%s: %s", out, strerror(-rc));
    return rc < 0 ? 1 : 0;
}

/* One crate's file of the local registry. */
static int fill_crate(void *ud, int fd)
{
    struct exporter *x = ud;
    return copy_blob(x, x->crate, NULL, fd);
}

static int write_local_registry(struct exporter *x)
{
    const struct selection *s = x->s;
    char path[PATH_MAX];
    struct sel_crate *by_sha = cc_malloc((s->ncrates ? s->ncrates : 1) * sizeof *by_sha);
    struct textbuf text;
    int rc = by_sha ? 0 : -ENOMEM;

    textbuf_init(&text);
    if (rc == 0) {
        if (s->ncrates) {
            memcpy(by_sha, s->crates, s->ncrates * sizeof *by_sha);
            qsort(by_sha, s->ncrates, sizeof *by_sha, cmp_sha);
        }
        snprintf(path, sizeof path, "%s/index", x->o->out);
        if ((rc = cli_mkdir_p(path)) < 0)
            cli_error("%s: %s", path, strerror(-rc));
    }
    /* the index: one file per name, the lines of the crates carried */
    for (size_t i = 0; i < s->nnames && rc == 0; i++) {
        struct store_index_list l;
        if ((rc = store_index_list(x->st, s->names[i], &l)) < 0)
            break;
        text.len = 0;
        for (size_t j = 0; j < l.n; j++) {
            if (!selected(s, l.rows[j].cksum, by_sha))
                continue;
            textbuf_add(&text, l.rows[j].line, l.rows[j].line_len);
            textbuf_add(&text, "\n", 1);
            x->lines++;
        }
        store_index_list_free(&l);
        if (text.failed) {
            rc = -ENOMEM;
            break;
        }
        char rel[PROTO_INDEX_PATH_MAX];
        if (text.len == 0 ||
            proto_index_path(s->names[i], strlen(s->names[i]), rel, sizeof rel) < 0)
            continue;
        snprintf(path, sizeof path, "%s/index/%s", x->o->out, rel);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        rc = cli_mkdir_p(path);
        *slash = '/';
        if (rc == 0)
            rc = cli_write_file_atomic(path, text.s, text.len, 0644);
        if (rc < 0)
            cli_error("%s: %s", path, strerror(-rc));
    }
    /* the crates, named as Cargo's local registry looks them up */
    for (size_t i = 0; i < s->ncrates && rc == 0; i++, x->done++) {
        x->crate = &s->crates[i];
        snprintf(path, sizeof path, "%s/%s-%s.crate", x->o->out, x->crate->name, x->crate->vers);
        rc = cli_write_file_atomic_with(path, 0644, fill_crate, x);
        if (rc < 0 && !x->reported)
            cli_error("%s: %s", path, strerror(-rc));
    }
    draw(x, true);
    progress_end(&x->bar);
    free(by_sha);
    textbuf_free(&text);
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
    struct exporter x = {.st = st, .o = o, .s = &sel, .sk = sk, .chunk = cc_malloc(EXPORT_CHUNK)};
    if (x.chunk == NULL) {
        cli_error("out of memory");
        goto out;
    }
    progress_start(&x.bar, stderr);
    status =
        o->format == BUNDLE_FORMAT_LOCAL_REGISTRY ? write_local_registry(&x) : write_bundle(&x);
    free(x.chunk);
    uint64_t lines = x.lines, file_bytes = x.file_bytes;
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
