/* store/blob_batch.c — many files copied into the store by worker threads and
 * made durable together (the import's write path; store/store.h states the
 * contract).
 *
 * Why this shape: copying a file into a store costs a read, a SHA-256, a write
 * and making the write durable. Done one file at a time (store_blob_commit_file)
 * the fsync, the rename and the directory fsync of each file dominate, and the
 * one thread alternates between hashing and waiting for the disk. Here:
 *   - workers copy and hash in parallel, writing with O_DIRECT (no page cache
 *     to fill and write back later), and check each digest;
 *   - publish makes every copy that is done durable with one syncfs(2), then
 *     renames them, then fsyncs each blobs/xx directory once;
 *   - the caller's next additions keep the workers busy while it publishes.
 *
 * Item life (each transition under `mu`, except the copy itself):
 *   QUEUED   on the `queue` list, not started.     add_file -> QUEUED
 *   RUNNING  a worker copies it (no list).         worker takes it
 *   DONE     on the `done` list with its writer sealed, or with rc < 0 and no
 *            writer (nothing left in tmp/).        worker puts it there
 *   gone     publish took it off `done`, reported it and freed it; or free()
 *            discarded it (its temporary file removed).
 * Invariants: queued + running + done = items alive; a sealed writer is renamed
 * only after the syncfs (or its own fsync) succeeded; a writer that is not
 * renamed is freed, which removes its temporary file.
 *
 * Limits: each DONE item keeps its temporary file open (the flock keeps another
 * store_open from cleaning it), so items alive are capped (`cap`) by a quarter
 * of RLIMIT_NOFILE; add_file waits while `window` items are queued or running,
 * which bounds the work a free() has to wait for and paces the caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/internal.h"
#include "proto/alloc.h"

#define BATCH_THREADS_MAX 16
#define BATCH_CHUNK (1u << 20) /* per worker, aligned for O_DIRECT */
#define BATCH_CAP_MIN 16
#define BATCH_CAP_MAX 1024
#define BATCH_RESERVE (1 << 20)

struct batch_item {
    struct batch_item *next;
    uint8_t sha[PROTO_SHA256_LEN];
    char *src;
    void *ud;
    struct store_blob_writer *w; /* sealed, when DONE with rc == 0 */
    uint64_t size;
    int rc;
};

struct item_list {
    struct batch_item *head, *tail;
};

struct store_blob_batch {
    char *dir;
    char blobs[PATH_MAX]; /* DIR/blobs */
    pthread_mutex_t mu;
    pthread_cond_t work; /* workers: an item was queued, or stop */
    pthread_cond_t done; /* the caller: an item is done */
    struct item_list queue, finished;
    size_t queued, running, ndone;
    uint64_t done_bytes;
    size_t window, cap;
    bool stop;
    unsigned nthreads;
    pthread_t threads[BATCH_THREADS_MAX];
    uint8_t *inline_buf; /* nthreads == 0: the caller's copy buffer */
    int reserve_fd;      /* -1 when there is no space reserve (any more) */
    char reserve[PATH_MAX];
};

static void list_push(struct item_list *l, struct batch_item *it)
{
    it->next = NULL;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
}

static struct batch_item *list_pop(struct item_list *l)
{
    struct batch_item *it = l->head;
    if (it) {
        l->head = it->next;
        if (l->head == NULL)
            l->tail = NULL;
        it->next = NULL;
    }
    return it;
}

static void item_free(struct batch_item *it)
{
    if (it == NULL)
        return;
    store__blob_writer_free(it->w);
    free(it->src);
    free(it);
}

/* The copy: RUNNING -> DONE (called without the lock). */
static void copy_item(const char *dir, struct batch_item *it, uint8_t *buf)
{
    struct store_blob_writer *w = NULL;
    struct stat st;
    int rc;

    int src = open(it->src, O_RDONLY | O_CLOEXEC);
    if (src < 0) {
        it->rc = -errno;
        return;
    }
    if (fstat(src, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > STORE_BLOB_MAX) {
        rc = -EFBIG;
        goto out;
    }
    rc = store__blob_writer_open(dir, it->sha, STORE_BLOB_MAX, true, &w);
    if (rc < 0)
        goto out;
    rc = store__blob_writer_copy_fd(w, src, buf, BATCH_CHUNK);
    if (rc == 0)
        rc = store__blob_writer_seal(w);
    it->size = store_blob_writer_size(w);
    if (rc < 0) {
        store__blob_writer_free(w); /* removes the temporary file */
        w = NULL;
    }

out:
    close(src);
    it->w = w;
    it->rc = rc;
}

/* The space reserve: BATCH_RESERVE bytes allocated in tmp/ at open and given
 * back when a copy finds the file system full, so that the caller can still
 * record what was copied (a database write needs a few free blocks). Best
 * effort: no reserve when it cannot be made. */
static void reserve_make(struct store_blob_batch *b)
{
    b->reserve_fd = -1;
    if (store__tmp_create(b->dir, 0600, b->reserve, sizeof b->reserve, &b->reserve_fd) < 0)
        return;
    if (posix_fallocate(b->reserve_fd, 0, BATCH_RESERVE) != 0) {
        unlink(b->reserve);
        close(b->reserve_fd);
        b->reserve_fd = -1;
    }
}

static void reserve_release(struct store_blob_batch *b)
{
    if (b->reserve_fd < 0)
        return;
    unlink(b->reserve); /* before close: see clean_tmp in store.c */
    close(b->reserve_fd);
    b->reserve_fd = -1;
}

static bool no_space(int rc)
{
    return rc == -ENOSPC || rc == -EDQUOT;
}

static void *worker(void *arg)
{
    struct store_blob_batch *b = arg;
    uint8_t *buf = aligned_alloc(STORE__DIRECT_ALIGN, BATCH_CHUNK);

    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && b->queue.head == NULL)
            pthread_cond_wait(&b->work, &b->mu);
        if (b->stop)
            break;
        struct batch_item *it = list_pop(&b->queue);
        b->queued--;
        b->running++;
        pthread_mutex_unlock(&b->mu);
        if (buf)
            copy_item(b->dir, it, buf);
        else
            it->rc = -ENOMEM;
        pthread_mutex_lock(&b->mu);
        b->running--;
        list_push(&b->finished, it);
        b->ndone++;
        b->done_bytes += it->size;
        pthread_cond_broadcast(&b->done);
    }
    pthread_mutex_unlock(&b->mu);
    free(buf);
    return NULL;
}

/* Four per CPU, 4..16: a worker spends about as long waiting for its O_DIRECT
 * writes as hashing, and several files in flight keep the device's queue
 * full (docs/performance.md: 1 GiB on 2 CPUs, 4 threads 0.63-0.85 s,
 * 8 threads 0.57-0.70 s). */
static unsigned default_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long n = cpus > 0 ? 4 * cpus : 4;
    return (unsigned)(n < 4 ? 4 : n > BATCH_THREADS_MAX ? BATCH_THREADS_MAX : n);
}

/* A quarter of the open-file limit: the rest is the process's own. */
static size_t default_cap(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return BATCH_CAP_MAX;
    rlim_t q = rl.rlim_cur / 4;
    return q < BATCH_CAP_MIN ? BATCH_CAP_MIN : q > BATCH_CAP_MAX ? BATCH_CAP_MAX : (size_t)q;
}

int store_blob_batch_open(const struct store *s, int threads, struct store_blob_batch **out)
{
    sigset_t all, old;
    int rc;

    *out = NULL;
    if (s == NULL)
        return -EINVAL;
    struct store_blob_batch *b = cc_calloc(1, sizeof *b);
    if (b == NULL)
        return -ENOMEM;
    b->dir = cc_strdup(store_dir(s));
    if (b->dir == NULL) {
        free(b);
        return -ENOMEM;
    }
    rc = store__path_fmt(b->blobs, sizeof b->blobs, "%s/blobs", b->dir);
    if (rc < 0) {
        free(b->dir);
        free(b);
        return rc;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->done, NULL);
    b->cap = default_cap();
    reserve_make(b);
    unsigned want = threads < 0                   ? default_threads()
                    : threads > BATCH_THREADS_MAX ? BATCH_THREADS_MAX
                                                  : (unsigned)threads;
    /* Enough queued to keep every worker busy while the caller publishes. */
    b->window = 8 * (size_t)(want ? want : 1);
    if (b->window > b->cap / 2)
        b->window = b->cap / 2;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* workers inherit it */
    for (unsigned i = 0; i < want; i++) {
        if (pthread_create(&b->threads[b->nthreads], NULL, worker, b) != 0)
            break;
        b->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (b->nthreads == 0) {
        b->inline_buf = aligned_alloc(STORE__DIRECT_ALIGN, BATCH_CHUNK);
        if (b->inline_buf == NULL) {
            store_blob_batch_free(b);
            return -ENOMEM;
        }
    }
    *out = b;
    return 0;
}

int store_blob_batch_add_file(struct store_blob_batch *b, const uint8_t sha[PROTO_SHA256_LEN],
                              const char *src_path, void *ud)
{
    if (b == NULL || sha == NULL || src_path == NULL)
        return -EINVAL;
    struct batch_item *it = cc_calloc(1, sizeof *it);
    if (it == NULL)
        return -ENOMEM;
    it->src = cc_strdup(src_path);
    if (it->src == NULL) {
        free(it);
        return -ENOMEM;
    }
    memcpy(it->sha, sha, PROTO_SHA256_LEN);
    it->ud = ud;

    pthread_mutex_lock(&b->mu);
    for (;;) {
        if (b->queued + b->running + b->ndone >= b->cap) {
            pthread_mutex_unlock(&b->mu);
            item_free(it);
            return -ENOBUFS;
        }
        if (b->nthreads == 0 || b->queued + b->running < b->window)
            break;
        pthread_cond_wait(&b->done, &b->mu);
    }
    if (b->nthreads == 0) {
        pthread_mutex_unlock(&b->mu);
        copy_item(b->dir, it, b->inline_buf);
        pthread_mutex_lock(&b->mu);
        list_push(&b->finished, it);
        b->ndone++;
        b->done_bytes += it->size;
    } else {
        list_push(&b->queue, it);
        b->queued++;
        pthread_cond_signal(&b->work);
    }
    pthread_mutex_unlock(&b->mu);
    return 0;
}

int store_blob_batch_add_writer(struct store_blob_batch *b, struct store_blob_writer *w, void *ud)
{
    if (b == NULL || w == NULL) {
        store_blob_writer_abort(w);
        return -EINVAL;
    }
    struct batch_item *it = cc_calloc(1, sizeof *it);
    if (it == NULL) {
        store_blob_writer_abort(w);
        return -ENOMEM;
    }
    pthread_mutex_lock(&b->mu);
    bool full = b->queued + b->running + b->ndone >= b->cap;
    pthread_mutex_unlock(&b->mu);
    if (full) {
        free(it);
        return -ENOBUFS; /* the caller keeps w: publish, then hand it over again */
    }
    store__blob_writer_expect(w, it->sha);
    it->ud = ud;
    it->size = store_blob_writer_size(w);
    it->rc = store__blob_writer_seal(w);
    if (it->rc < 0)
        store__blob_writer_free(w); /* removes the temporary file */
    else
        it->w = w;
    pthread_mutex_lock(&b->mu);
    list_push(&b->finished, it);
    b->ndone++;
    b->done_bytes += it->size;
    pthread_mutex_unlock(&b->mu);
    return 0;
}

size_t store_blob_batch_ready(struct store_blob_batch *b, uint64_t *bytes)
{
    pthread_mutex_lock(&b->mu);
    size_t n = b->ndone;
    if (bytes)
        *bytes = b->done_bytes;
    pthread_mutex_unlock(&b->mu);
    return n;
}

/* Step 1 of publish: the data of every sealed copy in l is durable, or that
 * copy failed (and its temporary file is gone). */
static void make_durable(struct batch_item *l)
{
    int fd = -1;
    for (struct batch_item *it = l; it && fd < 0; it = it->next)
        if (it->w)
            fd = store__blob_writer_fd(it->w);
    if (fd < 0 || syncfs(fd) == 0)
        return;
    /* syncfs reports a write error anywhere on the file system: find out which
     * of ours (if any) it was. */
    for (struct batch_item *it = l; it; it = it->next) {
        if (it->w && fsync(store__blob_writer_fd(it->w)) < 0) {
            it->rc = -errno;
            store__blob_writer_free(it->w);
            it->w = NULL;
        }
    }
}

/* syncfs of the file system holding path: 0, or -1 after any failure. */
static int sync_dir_fs(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = syncfs(fd) == 0 ? 0 : -1;
    close(fd);
    return rc;
}

size_t store_blob_batch_publish(struct store_blob_batch *b, bool all, store_blob_batch_cb cb,
                                void *ctx)
{
    int dir_rc[256] = {0};
    bool touched[256] = {false}, created[256] = {false}, any_created = false;
    int blobs_rc = 0;
    size_t n = 0;

    pthread_mutex_lock(&b->mu);
    while (all && b->queued + b->running > 0)
        pthread_cond_wait(&b->done, &b->mu);
    bool full = false;
    for (struct batch_item *it = b->finished.head; it; it = it->next)
        full = full || no_space(it->rc);
    if (full && b->reserve_fd >= 0) {
        /* Out of space: let every queued copy finish or fail (a failure frees
         * what it wrote), take them all, then give the reserve back: the
         * caller's records have room, and no copy races them for it. */
        while (b->queued + b->running > 0)
            pthread_cond_wait(&b->done, &b->mu);
        reserve_release(b);
    }
    struct batch_item *l = b->finished.head;
    b->finished.head = b->finished.tail = NULL;
    b->ndone = 0;
    b->done_bytes = 0;
    pthread_mutex_unlock(&b->mu);
    if (l == NULL)
        return 0;

    make_durable(l);
    for (struct batch_item *it = l; it; it = it->next) {
        if (it->w == NULL)
            continue;
        bool made = false;
        int rc = store__blob_writer_rename(it->w, &made);
        if (rc < 0) {
            it->rc = rc;
            continue;
        }
        touched[it->sha[0]] = true;
        if (made) {
            created[it->sha[0]] = true;
            any_created = true;
        }
    }
    /* The new names: one more syncfs covers every blobs/xx directory (one
     * journal commit, where an fsync per directory costs one each); when it
     * reports an error, each directory is fsynced to find out which. */
    bool any_touched = false;
    for (int i = 0; i < 256; i++)
        any_touched = any_touched || touched[i];
    int names_rc = any_touched ? sync_dir_fs(b->blobs) : 0;
    for (int i = 0; i < 256 && names_rc < 0; i++) {
        if (!touched[i])
            continue;
        char sub[PATH_MAX];
        dir_rc[i] = store__path_fmt(sub, sizeof sub, "%s/%02x", b->blobs, (unsigned)i);
        if (dir_rc[i] == 0)
            dir_rc[i] = store__fsync_dir(sub);
    }
    if (any_created && names_rc < 0)
        blobs_rc = store__fsync_dir(b->blobs);

    while (l) {
        struct batch_item *it = l;
        l = it->next;
        int rc = it->rc;
        if (rc == 0 && it->w == NULL)
            rc = -EIO; /* cannot happen: a copy without error has a writer */
        if (rc == 0)
            rc = dir_rc[it->sha[0]];
        if (rc == 0 && created[it->sha[0]])
            rc = blobs_rc;
        if (cb)
            cb(ctx, it->ud, it->sha, it->size, rc);
        item_free(it); /* a writer that was not renamed takes its temporary file along */
        n++;
    }
    return n;
}

void store_blob_batch_free(struct store_blob_batch *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->mu);
    for (unsigned i = 0; i < b->nthreads; i++)
        pthread_join(b->threads[i], NULL);
    struct batch_item *it;
    while ((it = list_pop(&b->queue)) != NULL)
        item_free(it);
    while ((it = list_pop(&b->finished)) != NULL)
        item_free(it);
    reserve_release(b);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->done);
    pthread_mutex_destroy(&b->mu);
    free(b->inline_buf);
    free(b->dir);
    free(b);
}
