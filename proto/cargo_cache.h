/* proto/cargo_cache.h — Cargo's on-disk index cache files
 * (CARGO_HOME/registry/index/<dir>/.cache/<prefix>/<name>).
 *
 * Layout (cache version 3):
 *   u8  cache_version (3)
 *   u32 index_format_version, little endian
 *   bytes header ("etag: ...", "last-modified: ...", "Unknown", ...) NUL
 *   repeated: bytes semver NUL, bytes json-line NUL
 * The iterator yields (version, line) pairs pointing into the caller's buffer.
 */
#ifndef CRATECAST_PROTO_CARGO_CACHE_H
#define CRATECAST_PROTO_CARGO_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_CARGO_CACHE_VERSION 3
#define PROTO_CARGO_CACHE_MAX (64u << 20)

struct proto_cargo_cache_iter {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    uint8_t cache_version;
    uint32_t index_version;
    const uint8_t *header; /* without NUL */
    size_t header_len;
};

/* Validate the preamble. 0, -EBADMSG (truncated, missing NUL), -EPROTO (cache
 * version not 3), -EMSGSIZE (len > PROTO_CARGO_CACHE_MAX). */
int proto_cargo_cache_open(const uint8_t *buf, size_t len, struct proto_cargo_cache_iter *it);

/* 1 with the next pair, 0 at a clean end, -EBADMSG when a record is truncated
 * (a missing NUL). Pointers are into the buffer; lengths exclude the NUL. */
int proto_cargo_cache_next(struct proto_cargo_cache_iter *it, const uint8_t **vers,
                           size_t *vers_len, const uint8_t **line, size_t *line_len);

/* Encoder, used by tests and by anything that writes a Cargo cache: writes the
 * preamble into out; returns bytes needed (call with outsz 0 to size). */
size_t proto_cargo_cache_put_header(uint32_t index_version, const char *header, uint8_t *out,
                                    size_t outsz);
/* Appends one record; returns bytes needed. Both encoders write nothing when
 * outsz is smaller than that, and return 0 (never a valid size) for input they
 * cannot encode: a line containing a NUL, a NULL vers, a size overflow. */
size_t proto_cargo_cache_put_record(const char *vers, const uint8_t *line, size_t line_len,
                                    uint8_t *out, size_t outsz);

#endif
