/* cli/files.h — writing a file so that a crash leaves either the old one or
 * the whole new one (the Cargo config, the systemd units, a bundle, a local
 * registry's files).
 */
#ifndef CRATECAST_CLI_FILES_H
#define CRATECAST_CLI_FILES_H

#include <stddef.h>

/* mkdir -p with mode 0755 (an existing directory is fine). 0 or a negative
 * errno (-ENAMETOOLONG when dir does not fit PATH_MAX). */
int cli_mkdir_p(const char *dir);

/* fsync of the directory holding path. 0 or a negative errno. */
int cli_sync_dir_of(const char *path);

/* Writes all of len bytes to fd (retrying short writes and EINTR). 0 or a
 * negative errno. */
int cli_write_all(int fd, const void *buf, size_t len);

/* Fills a new file: writes its content to fd. 0 or a negative errno. */
typedef int (*cli_file_fill)(void *ud, int fd);

/* Writes path atomically: a temporary file ".NAME.cratecast-PID" in the same
 * directory created with mode, filled by fill, fsync, rename over path, fsync
 * of the directory. 0, fill's error, or a negative errno; the temporary file
 * is gone either way. */
int cli_write_file_atomic_with(const char *path, unsigned mode, cli_file_fill fill, void *ud);

/* The same with len bytes of buf as the content. */
int cli_write_file_atomic(const char *path, const void *buf, size_t len, unsigned mode);

#endif
