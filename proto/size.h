/* proto/size.h — a size as a user writes it: "20G", "500M", "1.5T", "4096".
 *
 * Pure (no I/O, no allocation). The grammar, whole input, no spaces:
 *     DIGITS [ "." DIGITS ] [ UNIT ] [ "B" | "iB" ]      (units case-insensitive)
 *     UNIT = K | M | G | T | P    (powers of 1024: 1K = 1024 bytes, 1G = 2^30)
 * A fraction needs a unit ("1.5" bytes is refused) and is rounded down to a
 * whole byte: "1.5K" = 1536, "0.001K" = 1. At most PROTO_SIZE_TEXT_MAX bytes of
 * text and PROTO_SIZE_FRAC_MAX fraction digits. "B" alone is bytes ("512B").
 */
#ifndef CRATECAST_PROTO_SIZE_H
#define CRATECAST_PROTO_SIZE_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_SIZE_TEXT_MAX 32
#define PROTO_SIZE_FRAC_MAX 9

/* 0 and *out; -EINVAL for anything outside the grammar (empty, signs,
 * spaces, an unknown unit, a fraction without a unit, too long); -ERANGE when
 * the value does not fit in 64 bits. *out is 0 on error. */
int proto_size_parse(const uint8_t *buf, size_t len, uint64_t *out);

#endif
