/* proto/index_line.h — one line of a sparse-index file (one crate version).
 *
 * An index file is UTF-8 JSON lines. For each line we extract what cratecast
 * needs (name, vers, cksum, yanked, dependency package names) and keep a pointer
 * to the original bytes: they are stored and served byte-for-byte.
 *
 * The "content hash" is SHA-256 over a canonical re-encoding of the object
 * WITHOUT its "yanked" member (keys sorted, compact). Two lines for the same
 * (name, vers) agree iff their content hashes are equal: that is how the store
 * tells a yank/unyank (allowed) from a contradiction (rejected).
 */
#ifndef CRATECAST_PROTO_INDEX_LINE_H
#define CRATECAST_PROTO_INDEX_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/name.h"
#include "proto/sha256.h"

#define PROTO_LINE_MAX (1u << 20)        /* one index line */
#define PROTO_INDEX_FILE_MAX (64u << 20) /* one whole index file */
#define PROTO_DEPS_MAX 4096              /* dependencies listed on one line */

struct proto_index_entry {
    char name[PROTO_NAME_MAX + 1];
    char vers[PROTO_VERS_MAX + 1];
    uint8_t cksum[PROTO_SHA256_LEN];
    bool yanked;
    uint8_t content_hash[PROTO_SHA256_LEN];
    /* Package names of the dependencies ("package" if renamed, else "name"),
     * deduplicated, malloc'd; freed by proto_index_entry_clear. */
    char **deps;
    size_t ndeps;
    /* The original line, without its trailing newline. Points into the
     * caller's buffer: valid only as long as that buffer. */
    const uint8_t *line;
    size_t line_len;
};

/* Parse one line (no trailing '\n' required; a trailing '\r' or '\n' is not part
 * of the line). Returns 0, -EBADMSG (not JSON / missing or ill-typed field /
 * invalid name, vers or cksum), -EMSGSIZE (over PROTO_LINE_MAX or too many deps),
 * -ENOMEM. On error *out is left cleared (nothing to free). */
int proto_index_line_parse(const uint8_t *buf, size_t len, struct proto_index_entry *out);

/* Free what parse allocated; NULL-safe; idempotent. */
void proto_index_entry_clear(struct proto_index_entry *e);

/* Iterate the lines of an index file. *pos starts at 0. Returns 1 and sets
 * line/line_len (newline stripped, possibly empty) while lines remain, 0 at the
 * end. Never fails. */
int proto_index_next_line(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **line,
                          size_t *line_len);

#endif
