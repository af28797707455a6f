/* store/internal.h — what the files of store/ share and nothing outside uses.
 *
 *   store.c        the database, temporary files, identity, verify
 *   blob_writer.c  one blob: tmp/ file, incremental SHA-256, publish
 *   blob_batch.c   many blobs copied by worker threads, made durable together
 *
 * The helpers below touch only files below a store directory (never the
 * database): they run on any thread.
 */
#ifndef CRATECAST_STORE_INTERNAL_H
#define CRATECAST_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"

/* Alignment of O_DIRECT buffers, offsets and lengths: a page, which every
 * block device's logical block size divides. */
#define STORE__DIRECT_ALIGN 4096u

/* snprintf into out; -ENAMETOOLONG when it does not fit. */
int store__path_fmt(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fsync a directory by path. */
int store__fsync_dir(const char *path);

/* Create a new DIR/tmp/<pid>-<counter>.tmp (O_EXCL, mode) and flock it: the
 * lock tells clean_tmp() of another struct store that the file is alive.
 * 0 and *fdp, or -errno with *fdp = -1 and nothing left behind. */
int store__tmp_create(const char *dir, mode_t mode, char *tmp, size_t tmpsz, int *fdp);

/* write(2) all of buf, retrying on EINTR and short writes. */
int store__write_all(int fd, const uint8_t *buf, size_t len);

/* ---- blob_writer.c: the steps of store_blob_writer_finish, for blob_batch.c */

/* As store_blob_writer_open, from a directory. direct: try O_DIRECT for the
 * page-aligned part of what store__blob_writer_copy_fd writes (the data then
 * goes to the device without filling the page cache; silently buffered where
 * the file system refuses it). */
int store__blob_writer_open(const char *dir, const uint8_t sha[PROTO_SHA256_LEN], uint64_t max_size,
                            bool direct, struct store_blob_writer **out);
/* Append everything src has left (read(2) until EOF) through buf, which must
 * be STORE__DIRECT_ALIGN-aligned and bufsz a multiple of it. Each chunk is
 * hashed from buf, then written from buf: what is hashed is what is written. */
int store__blob_writer_copy_fd(struct store_blob_writer *w, int src, uint8_t *buf, size_t bufsz);
/* Compare the digest: 0, or -EBADMSG (the writer is then failed). Once. */
int store__blob_writer_seal(struct store_blob_writer *w);
/* The writer's file descriptor (for fsync/syncfs), -1 after publish. */
int store__blob_writer_fd(const struct store_blob_writer *w);
/* After seal and after the data is durable: mkdir blobs/xx (*created tells),
 * rename the file to its blob name, close it. The caller fsyncs blobs/xx
 * (and blobs/ when *created). */
int store__blob_writer_rename(struct store_blob_writer *w, bool *created);
/* Close, remove the temporary file unless renamed, free. NULL-safe. */
void store__blob_writer_free(struct store_blob_writer *w);

#endif
