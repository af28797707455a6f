/* store/blob_writer.c — one blob on its way in: a DIR/tmp/ file, a running
 * SHA-256 of what was written to it, and its publication under its name.
 *
 * Implements the writer of store/store.h, and store_blob_commit and
 * store_blob_commit_file on top of it: every blob enters the store through
 * this file. States (the function that performs each transition):
 *
 *   WRITING   fd open on tmp/<pid>-<n>.tmp, flock'ed; h running.
 *             store_blob_writer_write / store__blob_writer_copy_fd append.
 *             An error -> FAILED. finish -> seal -> PUBLISHED or gone.
 *   FAILED    `failed` holds the error; every later write returns it and
 *             writes nothing; finish returns it. The file stays until
 *             finish/abort remove it (the caller must call one of them).
 *   SEALED    store__blob_writer_seal: the digest equals the expected one
 *             (else FAILED with -EBADMSG). Nothing more can be written.
 *   PUBLISHED store__blob_writer_rename: the file has its blob name, fd
 *             closed. Only reached from SEALED, and only after the caller
 *             made the data durable (finish: fsync; the batch: syncfs).
 *
 * Invariant: a blob name is given only by store__blob_writer_rename, only to
 * a sealed writer, whose bytes are exactly the ones hashed (each chunk is
 * hashed from the buffer it is then written from). store__blob_writer_free
 * removes the temporary file of every writer that was not published.
 *
 * O_DIRECT (batch copies only): set with fcntl after the O_EXCL create, so a
 * file system that refuses it costs nothing; page-aligned chunks go straight
 * to the device, and the first write that cannot (the tail of a file, a
 * refusal with EINVAL, a short write) clears O_DIRECT for the rest of the
 * file. The data still needs an fsync or syncfs for the size and the
 * device's cache, like buffered data.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/internal.h"
#include "proto/alloc.h"

#define COPY_CHUNK (1u << 20)

struct store_blob_writer {
    int fd;      /* -1 once published */
    int failed;  /* 0, or the error every later call returns */
    bool direct; /* O_DIRECT is set on fd */
    bool sealed;
    uint64_t size, max;
    struct proto_sha256 h;
    uint8_t expect[PROTO_SHA256_LEN];
    char tmp[PATH_MAX];
    char final[PATH_MAX]; /* DIR/blobs/xx/<64 hex> */
};

int store__blob_writer_open(const char *dir, const uint8_t sha[PROTO_SHA256_LEN], uint64_t max_size,
                            bool direct, struct store_blob_writer **out)
{
    char hex[PROTO_SHA256_HEX_LEN + 1];
    int rc;

    *out = NULL;
    struct store_blob_writer *w = cc_calloc(1, sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    w->fd = -1;
    w->max = max_size < STORE_BLOB_MAX ? max_size : STORE_BLOB_MAX;
    memcpy(w->expect, sha, PROTO_SHA256_LEN);
    proto_hex_encode(sha, PROTO_SHA256_LEN, hex);
    rc = store__path_fmt(w->final, sizeof w->final, "%s/blobs/%.2s/%s", dir, hex, hex);
    if (rc < 0)
        goto fail;
    rc = proto_sha256_init(&w->h);
    if (rc < 0)
        goto fail;
    rc = store__tmp_create(dir, 0644, w->tmp, sizeof w->tmp, &w->fd);
    if (rc < 0)
        goto fail;
    if (direct) {
        int fl = fcntl(w->fd, F_GETFL);
        w->direct = fl >= 0 && fcntl(w->fd, F_SETFL, fl | O_DIRECT) == 0;
    }
    *out = w;
    return 0;

fail:
    store__blob_writer_free(w);
    return rc;
}

int store_blob_writer_open(const struct store *s, const uint8_t expect_sha[PROTO_SHA256_LEN],
                           uint64_t max_size, struct store_blob_writer **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (s == NULL || expect_sha == NULL)
        return -EINVAL;
    return store__blob_writer_open(store_dir(s), expect_sha, max_size, false, out);
}

int store_blob_writer_open_direct(const struct store *s, const uint8_t expect_sha[PROTO_SHA256_LEN],
                                  uint64_t max_size, struct store_blob_writer **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (s == NULL || expect_sha == NULL)
        return -EINVAL;
    return store__blob_writer_open(store_dir(s), expect_sha, max_size, true, out);
}

static void drop_direct(struct store_blob_writer *w)
{
    int fl = fcntl(w->fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(w->fd, F_SETFL, fl & ~O_DIRECT);
    w->direct = false;
}

/* Write len bytes at the file's end: page-aligned lengths directly while
 * O_DIRECT holds, everything else through the page cache. */
static int put(struct store_blob_writer *w, const uint8_t *p, size_t len)
{
    while (len > 0) {
        bool direct = w->direct;
        size_t chunk = direct ? len & ~(size_t)(STORE__DIRECT_ALIGN - 1) : len;
        if (chunk == 0) {
            drop_direct(w);
            continue;
        }
        ssize_t n = write(w->fd, p, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EINVAL && direct) {
                drop_direct(w);
                continue;
            }
            return -errno;
        }
        if (direct && (size_t)n % STORE__DIRECT_ALIGN != 0)
            drop_direct(w); /* the file position is no longer aligned */
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Hash and write one chunk (the caller checked the state). */
static int append(struct store_blob_writer *w, const uint8_t *buf, size_t len)
{
    if (len > w->max - w->size)
        return w->failed = -EFBIG;
    proto_sha256_update(&w->h, buf, len);
    int rc = put(w, buf, len);
    if (rc < 0)
        return w->failed = rc;
    w->size += len;
    return 0;
}

int store_blob_writer_write(struct store_blob_writer *w, const void *buf, size_t len)
{
    if (w == NULL)
        return -EINVAL;
    if (w->failed)
        return w->failed;
    if (w->sealed)
        return -EINVAL;
    if (len == 0)
        return 0;
    if (buf == NULL)
        return w->failed = -EINVAL;
    if (w->direct && (uintptr_t)buf % STORE__DIRECT_ALIGN != 0)
        drop_direct(w); /* O_DIRECT needs an aligned buffer */
    return append(w, buf, len);
}

uint64_t store_blob_writer_size(const struct store_blob_writer *w)
{
    return w ? w->size : 0;
}

int store_blob_writer_reader(const struct store_blob_writer *w)
{
    if (w == NULL || w->failed || w->sealed || w->fd < 0)
        return -EBADF;
    int fd = open(w->tmp, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int store__blob_writer_copy_fd(struct store_blob_writer *w, int src, uint8_t *buf, size_t bufsz)
{
    if (w->failed)
        return w->failed;
    if (w->sealed || bufsz == 0 || bufsz % STORE__DIRECT_ALIGN != 0)
        return -EINVAL;
    for (bool eof = false; !eof;) {
        size_t got = 0;
        while (got < bufsz) { /* fill the buffer: only the last chunk is short */
            ssize_t n = read(src, buf + got, bufsz - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return w->failed = -errno;
            if (n == 0) {
                eof = true;
                break;
            }
            got += (size_t)n;
        }
        if (got > 0) {
            int rc = append(w, buf, got);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int store__blob_writer_seal(struct store_blob_writer *w)
{
    uint8_t got[PROTO_SHA256_LEN];
    if (w->failed)
        return w->failed;
    if (w->sealed)
        return -EINVAL;
    proto_sha256_final(&w->h, got);
    if (memcmp(got, w->expect, PROTO_SHA256_LEN) != 0)
        return w->failed = -EBADMSG;
    w->sealed = true;
    return 0;
}

void store__blob_writer_expect(const struct store_blob_writer *w, uint8_t sha[PROTO_SHA256_LEN])
{
    memcpy(sha, w->expect, PROTO_SHA256_LEN);
}

int store__blob_writer_fd(const struct store_blob_writer *w)
{
    return w->fd;
}

int store__blob_writer_rename(struct store_blob_writer *w, bool *created)
{
    char subdir[PATH_MAX];
    *created = false;
    if (!w->sealed || w->failed || w->fd < 0)
        return -EINVAL;
    /* blobs/xx exists but for the first blob of its 256: try the rename first */
    if (rename(w->tmp, w->final) < 0) {
        if (errno != ENOENT)
            return w->failed = -errno;
        char *slash = strrchr(w->final, '/');
        size_t n = (size_t)(slash - w->final);
        memcpy(subdir, w->final, n);
        subdir[n] = '\0';
        if (mkdir(subdir, 0700) == 0)
            *created = true;
        else if (errno != EEXIST)
            return w->failed = -errno;
        if (rename(w->tmp, w->final) < 0)
            return w->failed = -errno;
    }
    close(w->fd); /* releases the flock; the name is gone from tmp/ */
    w->fd = -1;
    return 0;
}

void store__blob_writer_free(struct store_blob_writer *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0) {
        unlink(w->tmp); /* before close: see clean_tmp in store.c */
        close(w->fd);
    }
    proto_sha256_abort(&w->h);
    free(w);
}

void store_blob_writer_abort(struct store_blob_writer *w)
{
    store__blob_writer_free(w);
}

/* blobs/xx of a final path, and blobs/ itself. */
static int fsync_parents(const char *final, bool created)
{
    char dir[PATH_MAX];
    size_t n = strlen(final);
    memcpy(dir, final, n + 1);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    int rc = store__fsync_dir(dir);
    if (rc == 0 && created) {
        /* the new subdirectory's own entry in blobs/ */
        slash = strrchr(dir, '/');
        *slash = '\0';
        rc = store__fsync_dir(dir);
    }
    return rc;
}

int store_blob_writer_finish(struct store_blob_writer *w)
{
    bool created = false;
    if (w == NULL)
        return -EINVAL;
    int rc = store__blob_writer_seal(w);
    if (rc < 0)
        goto out;
    if (fsync(w->fd) < 0) {
        rc = -errno;
        goto out;
    }
    rc = store__blob_writer_rename(w, &created);
    if (rc < 0)
        goto out;
    rc = fsync_parents(w->final, created);

out:
    store__blob_writer_free(w);
    return rc;
}

int store_blob_commit(const struct store *s, const uint8_t sha[PROTO_SHA256_LEN],
                      const uint8_t *buf, size_t len)
{
    struct store_blob_writer *w;
    if (len > STORE_BLOB_MAX)
        return -EFBIG;
    if (buf == NULL && len != 0)
        return -EINVAL;
    int rc = store_blob_writer_open(s, sha, STORE_BLOB_MAX, &w);
    if (rc < 0)
        return rc;
    rc = store_blob_writer_write(w, buf, len);
    if (rc < 0) {
        store_blob_writer_abort(w);
        return rc;
    }
    return store_blob_writer_finish(w);
}

int store_blob_commit_file(const struct store *s, const uint8_t sha[PROTO_SHA256_LEN],
                           const char *src_path)
{
    struct store_blob_writer *w = NULL;
    uint8_t *buf = NULL;
    struct stat st;
    int rc;

    int src = open(src_path, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return -errno;
    if (fstat(src, &st) < 0) {
        rc = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto fail;
    }
    if ((uint64_t)st.st_size > STORE_BLOB_MAX) {
        rc = -EFBIG;
        goto fail;
    }
    buf = aligned_alloc(STORE__DIRECT_ALIGN, COPY_CHUNK);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = store_blob_writer_open(s, sha, STORE_BLOB_MAX, &w);
    if (rc < 0)
        goto fail;
    rc = store__blob_writer_copy_fd(w, src, buf, COPY_CHUNK);
    if (rc < 0)
        goto fail;
    free(buf);
    close(src);
    return store_blob_writer_finish(w);

fail:
    store_blob_writer_abort(w);
    free(buf);
    close(src);
    return rc;
}
