/* cli/bundle_import.c — `cratecast bundle import`: a bundle (proto/bundle.h)
 * into the store, nothing unverified stored.
 *
 * The file is read in 1 MiB pieces and fed to the bundle reader, which
 * reports only what it checked, in file order:
 *   header        the signer is held against the trust policy (open: any key;
 *                 keys: a --trust-key or this store's own key). Refused: the
 *                 import stops before anything is stored.
 *   index chunk   its signature verified: each line is parsed and taken in by
 *                 store_index_ingest (origin "bundle", detail the signer's
 *                 key), the one rule every source follows, in one transaction
 *                 per chunk. A line that contradicts an entry held is rejected
 *                 and reported, as a peer's would be.
 *   crate         taken only when a trusted index entry (held before, or from
 *                 this bundle's chunks, which come first) has its digest as
 *                 cksum, and not already held; its bytes stream into a blob
 *                 writer (hashed on the way, written to tmp/) and join a blob
 *                 batch, whose publish checks the digest, makes a few hundred
 *                 crates durable with one syncfs and renames them; they are
 *                 then recorded in one transaction. A crate whose bytes do not
 *                 match is dropped and reported; the rest go on.
 *   anything else wrong (damaged zstd data, bad framing, a signature that
 *                 does not verify, truncation): the reader stops there. What
 *                 came before was verified and is kept (published and
 *                 recorded); nothing after the damage is read.
 * Re-importing changes nothing: every entry is held, every crate present.
 * Speed: reading and decompressing run on their own thread (below), and a
 * crate's bytes are staged in page-aligned 1 MiB pieces that go to the device
 * with O_DIRECT (no page cache to fill and write back; the tail is written
 * through it), so an import runs at about the speed of `zstd -dc | openssl
 * dgst` over the file (docs/performance.md).
 * Memory: the queue between the threads (PIPE_MAX), one index chunk, zstd's
 * window, one stage, the blob batch's open files: under 64 MB whatever the
 * size of the bundle.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/bundle.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "proto/alloc.h"
#include "proto/bundle.h"
#include "proto/index_line.h"
#include "proto/peer.h"
#include "proto/textbuf.h"
#include "store/store.h"

#define IMPORT_READ (1u << 20)
#define IMPORT_STAGE (1u << 20) /* a crate's bytes are written in aligned pieces of this size */
#define IMPORT_BATCH_CRATES 256
#define IMPORT_BATCH_BYTES (256u << 20)
#define IMPORT_REPORT_MAX 20 /* conflicts and bad crates named one by one, then counted */

struct importer {
    const struct bundle_import_opts *o;
    struct store *st;
    uint8_t own_pk[PROTO_PK_LEN];
    char signer[PROTO_KEY_TEXT_LEN + 1];
    int64_t created;
    int stop;      /* a callback stopped the reader and printed why */
    bool accepted; /* the signer passed the trust policy */
    struct store_blob_batch *batch;
    struct store_blob_writer *w; /* the crate being read, when it is taken */
    uint8_t *stage;              /* its next bytes, page-aligned (IMPORT_STAGE) */
    size_t staged;
    uint8_t sha[PROTO_SHA256_LEN];
    struct store_blob_result *pub; /* published, waiting for their record */
    size_t npub, pub_cap;
    uint8_t (*pending)[PROTO_SHA256_LEN]; /* handed to the batch, not yet published */
    size_t npending;
    size_t reported;
    /* counts */
    uint64_t lines, lines_new, lines_held, conflicts, lines_bad;
    uint64_t crates, added, present, untrusted, bad;
    uint64_t file_bytes, file_size;
    struct progress bar;
};

static void draw(struct importer *im, bool final)
{
    char detail[64];
    snprintf(detail, sizeof detail, "(added %llu, held %llu)", (unsigned long long)im->added,
             (unsigned long long)im->present);
    struct progress_view v = {
        .done = im->crates,
        .items = "crates",
        .bytes = im->file_bytes,
        .bytes_total = im->file_size,
        .detail = detail,
    };
    progress_draw(&im->bar, &v, final);
}

/* A line for the person importing: on a terminal, the progress line is
 * cleared first (it is redrawn at the next update). */
static void note(struct importer *im)
{
    if (im->bar.shown)
        fputs("\r\033[K", stderr);
}

static int on_header(void *ud, const struct proto_bundle_header *h)
{
    struct importer *im = ud;
    proto_key_encode(h->signer, im->signer);
    im->created = h->created;
    im->accepted = !im->o->trust_keys || memcmp(h->signer, im->own_pk, PROTO_PK_LEN) == 0;
    for (size_t i = 0; i < im->o->nkeys && !im->accepted; i++)
        im->accepted = memcmp(h->signer, im->o->keys[i], PROTO_PK_LEN) == 0;
    if (im->accepted)
        return 0;
    note(im);
    cli_error("%s is signed by %s, which is not a trusted key: nothing imported", im->o->file,
              im->signer);
    cli_hint("if you trust its maker, add --trust-key %s (or use --trust open)", im->signer);
    im->stop = 1;
    return -EACCES;
}

static int on_index(void *ud, uint32_t chunk, const uint8_t *lines, size_t len)
{
    struct importer *im = ud;
    size_t pos = 0, line_len;
    const uint8_t *line;
    (void)chunk;
    int rc = store_begin(im->st);
    while (rc == 0 && proto_index_next_line(lines, len, &pos, &line, &line_len)) {
        if (line_len == 0)
            continue;
        struct proto_index_entry e;
        im->lines++;
        if (proto_index_line_parse(line, line_len, &e) < 0) {
            im->lines_bad++;
            continue;
        }
        int r = store_index_ingest(im->st, &e, STORE_ORIGIN_BUNDLE, im->signer);
        if (r == STORE_INGEST_NEW) {
            im->lines_new++;
        } else if (r == STORE_INGEST_HELD) {
            im->lines_held++;
        } else if (r == STORE_INGEST_CONFLICT) {
            im->conflicts++;
            if (im->reported++ < IMPORT_REPORT_MAX) {
                note(im);
                fprintf(stderr,
                        "warning: index entry %s %s from bundle signer %s contradicts the one "
                        "already held: rejected\n",
                        e.name, e.vers, im->signer);
            }
        } else if (r < 0) {
            rc = r;
        }
        proto_index_entry_clear(&e);
    }
    if (rc == 0)
        rc = store_commit(im->st);
    else
        store_rollback(im->st);
    if (rc < 0) {
        note(im);
        cli_error("%s: storing index entries: %s", im->o->store, store_errmsg(im->st));
        im->stop = 1;
        return -EIO;
    }
    return 0;
}

static void on_published(void *ctx, void *ud, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size,
                         int result)
{
    struct importer *im = ctx;
    (void)ud;
    if (cc_grow((void **)&im->pub, &im->pub_cap, im->npub, sizeof *im->pub, 256) < 0) {
        im->bad++; /* the blob stays unrecorded: harmless, recorded when it comes again */
        return;
    }
    struct store_blob_result *p = &im->pub[im->npub++];
    memcpy(p->sha, sha, PROTO_SHA256_LEN);
    p->size = size;
    p->rc = result;
}

static void report_bad(struct importer *im, const struct store_blob_result *p)
{
    char hex[PROTO_SHA256_HEX_LEN + 1];
    im->bad++;
    if (im->reported++ >= IMPORT_REPORT_MAX)
        return;
    proto_hex_encode(p->sha, PROTO_SHA256_LEN, hex);
    note(im);
    if (p->rc == -EBADMSG)
        fprintf(stderr, "error: crate %s in the bundle does not match its checksum: not stored\n",
                hex);
    else
        fprintf(stderr, "error: crate %s: %s: not stored\n", hex, strerror(-p->rc));
}

/* Publish what the batch holds (all: wait for all), then record it in one
 * transaction, after the files are durable. */
static void publish(struct importer *im)
{
    im->npub = 0;
    im->npending = 0;
    store_blob_batch_publish(im->batch, true, on_published, im);
    if (im->npub == 0)
        return;
    store_blob_record_all(im->st, im->pub, im->npub, STORE_ORIGIN_BUNDLE);
    for (size_t i = 0; i < im->npub; i++) {
        struct store_blob_result *p = &im->pub[i];
        if (p->rc == 0)
            im->added++;
        else
            report_bad(im, p);
    }
    im->npub = 0;
}

static int on_crate_begin(void *ud, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size)
{
    struct importer *im = ud;
    memcpy(im->sha, sha, PROTO_SHA256_LEN);
    if (!store_cksum_trusted(im->st, sha)) {
        im->untrusted++;
        if (im->reported++ < IMPORT_REPORT_MAX) {
            char hex[PROTO_SHA256_HEX_LEN + 1];
            proto_hex_encode(sha, PROTO_SHA256_LEN, hex);
            note(im);
            fprintf(stderr,
                    "error: crate %s in the bundle: no trusted index entry has this checksum "
                    "(the record is damaged, or its entry was rejected): not stored\n",
                    hex);
        }
        return 0;
    }
    bool pending = false; /* the same crate twice in one bundle */
    for (size_t i = 0; i < im->npending && !pending; i++)
        pending = memcmp(im->pending[i], sha, PROTO_SHA256_LEN) == 0;
    if (pending || store_blob_has(im->st, sha)) {
        im->present++;
        return 0;
    }
    im->staged = 0;
    int rc = store_blob_writer_open_direct(im->st, sha, size, &im->w);
    if (rc < 0) {
        note(im);
        cli_error("%s: %s", im->o->store, strerror(-rc));
        im->stop = 1;
        return rc;
    }
    return 0;
}

/* Write what is staged (a whole aligned stage goes to the device directly). */
static int unstage(struct importer *im)
{
    int rc = store_blob_writer_write(im->w, im->stage, im->staged);
    im->staged = 0;
    return rc;
}

static int on_crate_data(void *ud, const uint8_t *p, size_t n)
{
    struct importer *im = ud;
    if (im->w == NULL)
        return 0;
    int rc = 0;
    while (n > 0 && rc == 0) {
        size_t take = IMPORT_STAGE - im->staged < n ? IMPORT_STAGE - im->staged : n;
        memcpy(im->stage + im->staged, p, take);
        im->staged += take;
        p += take;
        n -= take;
        if (im->staged == IMPORT_STAGE)
            rc = unstage(im);
    }
    if (rc == -ENOSPC || rc == -EDQUOT || rc == -EIO) {
        note(im);
        cli_error("%s: %s", im->o->store, strerror(-rc));
        im->stop = 1;
        return rc;
    }
    return 0; /* any other failure (too large) is the crate's: reported at publish */
}

static int on_crate_end(void *ud)
{
    struct importer *im = ud;
    im->crates++;
    if (im->w == NULL)
        return 0;
    (void)unstage(im); /* the tail; an error is the writer's, reported at publish */
    struct store_blob_writer *w = im->w;
    im->w = NULL;
    int rc;
    while ((rc = store_blob_batch_add_writer(im->batch, w, NULL)) == -ENOBUFS)
        publish(im);
    if (rc < 0) {
        im->bad++;
        return 0;
    }
    if (im->npending < IMPORT_BATCH_CRATES)
        memcpy(im->pending[im->npending++], im->sha, PROTO_SHA256_LEN);
    uint64_t bytes = 0;
    if (store_blob_batch_ready(im->batch, &bytes) >= IMPORT_BATCH_CRATES ||
        bytes >= IMPORT_BATCH_BYTES)
        publish(im);
    return 0;
}

/* ---- the reading thread ---------------------------------------------------------
 *
 * Reading the file, decompressing and parsing it (the bundle reader, pure)
 * run on a thread of their own, ahead of the store's work on this one
 * (hashing and writing crates, which waits for the device, and the database):
 * the reader's events are copied into a queue of at most PIPE_MAX bytes and
 * handed to the on_* functions above in the same order. A handler that stops
 * the import sets `stop`: the reading thread's next event returns
 * -ECANCELED, and what is queued is dropped. */

#define PIPE_MAX (16u << 20)

enum pipe_kind { EV_HEADER, EV_INDEX, EV_BEGIN, EV_DATA, EV_END };

struct pipe_ev {
    struct pipe_ev *next;
    enum pipe_kind kind;
    uint32_t chunk;
    uint8_t sha[PROTO_SHA256_LEN];
    uint64_t size;
    size_t len;
    struct proto_bundle_header *h; /* EV_HEADER */
    uint8_t data[];                /* EV_INDEX, EV_DATA: len bytes */
};

struct pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the queue changed, or stop */
    struct pipe_ev *head, *tail;
    size_t bytes;
    bool done, stop;
    int rc;              /* the reading's result, once done */
    int read_errno;      /* reading the file failed */
    uint64_t file_bytes; /* read so far */
    int fd;
    struct proto_bundle_reader *r;
};

static int pipe_push(struct pipe *pp, struct pipe_ev *e)
{
    if (e == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&pp->mu);
    while (pp->bytes > PIPE_MAX && !pp->stop)
        pthread_cond_wait(&pp->cv, &pp->mu);
    if (pp->stop) {
        pthread_mutex_unlock(&pp->mu);
        free(e->h);
        free(e);
        return -ECANCELED;
    }
    e->next = NULL;
    if (pp->tail)
        pp->tail->next = e;
    else
        pp->head = e;
    pp->tail = e;
    pp->bytes += e->len + sizeof *e;
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
    return 0;
}

static struct pipe_ev *ev_new(enum pipe_kind kind, const uint8_t *data, size_t len)
{
    struct pipe_ev *e = cc_malloc(sizeof *e + len);
    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->len = len;
    if (len)
        memcpy(e->data, data, len);
    return e;
}

static int p_header(void *ud, const struct proto_bundle_header *h)
{
    struct pipe_ev *e = ev_new(EV_HEADER, NULL, 0);
    if (e && (e->h = cc_malloc(sizeof *h)) == NULL) {
        free(e);
        e = NULL;
    }
    if (e)
        memcpy(e->h, h, sizeof *h);
    return pipe_push(ud, e);
}

static int p_index(void *ud, uint32_t chunk, const uint8_t *lines, size_t len)
{
    struct pipe_ev *e = ev_new(EV_INDEX, lines, len);
    if (e)
        e->chunk = chunk;
    return pipe_push(ud, e);
}

static int p_begin(void *ud, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size)
{
    struct pipe_ev *e = ev_new(EV_BEGIN, NULL, 0);
    if (e) {
        memcpy(e->sha, sha, PROTO_SHA256_LEN);
        e->size = size;
    }
    return pipe_push(ud, e);
}

static int p_data(void *ud, const uint8_t *p, size_t n)
{
    return pipe_push(ud, ev_new(EV_DATA, p, n));
}

static int p_end(void *ud)
{
    return pipe_push(ud, ev_new(EV_END, NULL, 0));
}

static void *pipe_reader(void *arg)
{
    struct pipe *pp = arg;
    uint8_t *buf = cc_malloc(IMPORT_READ);
    int rc = buf ? 0 : -ENOMEM, err = 0;
    while (rc == 0) {
        ssize_t n = read(pp->fd, buf, IMPORT_READ);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            rc = -EIO;
        } else if (n == 0) {
            rc = proto_bundle_reader_finish(pp->r);
            break;
        } else {
            pthread_mutex_lock(&pp->mu);
            pp->file_bytes += (uint64_t)n;
            pthread_mutex_unlock(&pp->mu);
            rc = proto_bundle_reader_feed(pp->r, buf, (size_t)n);
        }
    }
    free(buf);
    pthread_mutex_lock(&pp->mu);
    pp->done = true;
    pp->rc = rc;
    pp->read_errno = err;
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

/* Run the reading thread and hand its events to the on_* functions. Returns
 * the import's result: 0, the reader's error, or a handler's (im->stop set). */
static int pipe_run(struct importer *im, int fd, struct proto_bundle_reader **r)
{
    static const struct proto_bundle_events pev = {
        .header = p_header,
        .index = p_index,
        .crate_begin = p_begin,
        .crate_data = p_data,
        .crate_end = p_end,
    };
    struct pipe pp = {.fd = fd};
    pthread_t th;
    int rc = 0;
    if (proto_bundle_reader_new(&pev, &pp, r) < 0)
        return -ENOMEM;
    pp.r = *r;
    pthread_mutex_init(&pp.mu, NULL);
    pthread_cond_init(&pp.cv, NULL);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int trc = pthread_create(&th, NULL, pipe_reader, &pp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (trc != 0) {
        pthread_cond_destroy(&pp.cv);
        pthread_mutex_destroy(&pp.mu);
        return -trc;
    }
    for (;;) {
        pthread_mutex_lock(&pp.mu);
        while (pp.head == NULL && !pp.done)
            pthread_cond_wait(&pp.cv, &pp.mu);
        struct pipe_ev *e = pp.head;
        if (e) {
            pp.head = e->next;
            if (pp.head == NULL)
                pp.tail = NULL;
            pp.bytes -= e->len + sizeof *e;
            pthread_cond_broadcast(&pp.cv);
        }
        im->file_bytes = pp.file_bytes;
        pthread_mutex_unlock(&pp.mu);
        if (e == NULL)
            break; /* done, and every event handled */
        switch (e->kind) {
        case EV_HEADER:
            rc = on_header(im, e->h);
            break;
        case EV_INDEX:
            rc = on_index(im, e->chunk, e->data, e->len);
            break;
        case EV_BEGIN:
            rc = on_crate_begin(im, e->sha, e->size);
            break;
        case EV_DATA:
            rc = on_crate_data(im, e->data, e->len);
            draw(im, false); /* at most ~10 redraws a second (progress.h) */
            break;
        case EV_END:
            rc = on_crate_end(im);
            draw(im, false);
            break;
        }
        free(e->h);
        free(e);
        if (rc < 0)
            break;
    }
    pthread_mutex_lock(&pp.mu);
    pp.stop = true;
    pthread_cond_broadcast(&pp.cv);
    pthread_mutex_unlock(&pp.mu);
    pthread_join(th, NULL);
    while (pp.head) {
        struct pipe_ev *e = pp.head;
        pp.head = e->next;
        free(e->h);
        free(e);
    }
    pthread_cond_destroy(&pp.cv);
    pthread_mutex_destroy(&pp.mu);
    im->file_bytes = pp.file_bytes;
    if (rc < 0)
        return rc; /* a handler stopped it and said why */
    if (pp.rc == -EIO && pp.read_errno) {
        cli_error("%s: %s", im->o->file, strerror(pp.read_errno));
        im->stop = 1;
    }
    return pp.rc;
}

static int open_input(const struct bundle_import_opts *o, uint64_t *size)
{
    *size = 0;
    if (strcmp(o->file, "-") == 0)
        return STDIN_FILENO;
    int fd = open(o->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("%s: %s", o->file, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || S_ISDIR(sb.st_mode)) {
        cli_error("%s: %s", o->file,
                  S_ISDIR(sb.st_mode) ? "is a directory (a local registry is read by Cargo itself, "
                                        "not imported)"
                                      : strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISREG(sb.st_mode))
        *size = (uint64_t)sb.st_size;
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    return fd;
}

int bundle_import(const struct bundle_import_opts *o)
{
    struct importer im = {.o = o};
    struct proto_bundle_reader *r = NULL;
    struct store_error err;
    uint8_t sk[PROTO_SK_LEN];
    int status = 1, rc, fd;
    double t0 = progress_now();

    if ((fd = open_input(o, &im.file_size)) < 0)
        return 1;
    if ((rc = store_open_err(o->store, &im.st, &err)) < 0) {
        agent_store_error(AGENT_STORE_OPEN, rc, o->store, &err);
        goto out;
    }
    if ((rc = store_identity_err(im.st, im.own_pk, sk, &err)) < 0) {
        agent_store_error(AGENT_STORE_IDENTITY, rc, o->store, &err);
        goto out;
    }
    memset(sk, 0, sizeof sk);
    im.pending = cc_malloc(IMPORT_BATCH_CRATES * sizeof *im.pending);
    im.stage = aligned_alloc(STORE_DIRECT_ALIGN, IMPORT_STAGE);
    if (im.pending == NULL || im.stage == NULL || store_blob_batch_open(im.st, 0, &im.batch) < 0) {
        cli_error("out of memory");
        goto out;
    }
    progress_start(&im.bar, stderr);
    rc = pipe_run(&im, fd, &r);
    if (rc == -ENOMEM && r == NULL) {
        cli_error("out of memory");
        goto out;
    }
    if (im.w) { /* stopped inside a crate: nothing of it is stored */
        store_blob_writer_abort(im.w);
        im.w = NULL;
    }
    publish(&im); /* what came before the damage was verified: keep it */
    draw(&im, true);
    progress_end(&im.bar);
    if (rc < 0 && !im.stop) {
        cli_error("%s: %s", o->file, proto_bundle_reader_error(r));
        if (im.accepted)
            cli_hint("the part before that was verified and is kept (%llu crates added); "
                     "nothing after it was stored. Copy the bundle again, or export it again",
                     (unsigned long long)im.added);
        else
            cli_hint("is it a file written by `cratecast bundle export`?");
    }
    if (im.accepted) {
        double secs = progress_now() - t0;
        char b[32], rate[32], made[32] = "?";
        text_bytes(im.file_bytes, b, sizeof b);
        text_bytes(secs > 0 ? (uint64_t)((double)im.file_bytes / secs) : 0, rate, sizeof rate);
        time_t c = (time_t)im.created;
        struct tm tm;
        if (gmtime_r(&c, &tm))
            strftime(made, sizeof made, "%Y-%m-%d", &tm);
        printf("imported %s (signed by %s, made %s) into %s: %llu index entries (%llu new, "
               "%llu conflicting, %llu unreadable), %llu crates (%llu added, %llu already held, "
               "%llu without a trusted index entry, %llu bad); %s in %.2f s (%s/s)%s\n",
               o->file, im.signer, made, o->store, (unsigned long long)im.lines,
               (unsigned long long)im.lines_new, (unsigned long long)im.conflicts,
               (unsigned long long)im.lines_bad, (unsigned long long)im.crates,
               (unsigned long long)im.added, (unsigned long long)im.present,
               (unsigned long long)im.untrusted, (unsigned long long)im.bad, b, secs, rate,
               rc < 0 ? " (incomplete)" : "");
    }
    if (im.reported > IMPORT_REPORT_MAX)
        fprintf(stderr, "(%zu more problems not listed one by one)\n",
                im.reported - IMPORT_REPORT_MAX);
    status = rc < 0 || im.conflicts || im.bad || im.lines_bad || im.untrusted ? 1 : 0;
out:
    proto_bundle_reader_free(r);
    store_blob_batch_free(im.batch);
    store_close(im.st);
    free(im.pub);
    free(im.pending);
    free(im.stage);
    if (fd > STDIN_FILENO)
        close(fd);
    return status;
}
