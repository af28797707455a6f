/* proto/size.c — the size parser of proto/size.h ("20G" -> 21474836480).
 *
 * Integer arithmetic only, so "1.1G" is exact to the byte (no double
 * rounding): value = whole * unit + fraction * unit / 10^digits, every step
 * checked for overflow before it is taken.
 */
#include "proto/size.h"

#include <errno.h>
#include <stdbool.h>

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* The multiplier of a unit letter, 0 for none of K M G T P. */
static uint64_t unit_of(uint8_t c)
{
    switch (c | 0x20) { /* ASCII lower case */
    case 'k':
        return 1ull << 10;
    case 'm':
        return 1ull << 20;
    case 'g':
        return 1ull << 30;
    case 't':
        return 1ull << 40;
    case 'p':
        return 1ull << 50;
    default:
        return 0;
    }
}

int proto_size_parse(const uint8_t *buf, size_t len, uint64_t *out)
{
    uint64_t whole = 0, frac = 0, scale = 1, unit = 1;
    size_t i = 0, frac_digits = 0;
    bool has_unit = false, has_frac = false;

    *out = 0;
    if (buf == NULL || len == 0 || len > PROTO_SIZE_TEXT_MAX)
        return -EINVAL;
    if (!is_digit(buf[0]))
        return -EINVAL;
    for (; i < len && is_digit(buf[i]); i++) {
        uint64_t d = (uint64_t)(buf[i] - '0');
        if (whole > (UINT64_MAX - d) / 10)
            return -ERANGE;
        whole = whole * 10 + d;
    }
    if (i < len && buf[i] == '.') {
        has_frac = true;
        i++;
        for (; i < len && is_digit(buf[i]); i++) {
            if (++frac_digits > PROTO_SIZE_FRAC_MAX)
                return -EINVAL;
            frac = frac * 10 + (uint64_t)(buf[i] - '0');
            scale *= 10;
        }
        if (frac_digits == 0)
            return -EINVAL; /* "1." */
    }
    if (i < len && unit_of(buf[i]) != 0) {
        unit = unit_of(buf[i]);
        has_unit = true;
        i++;
        if (i < len && (buf[i] == 'i' || buf[i] == 'I'))
            i++;
        if (i < len && (buf[i] == 'b' || buf[i] == 'B'))
            i++;
        else if (buf[i - 1] == 'i' || buf[i - 1] == 'I')
            return -EINVAL; /* "1Ki" */
    } else if (i < len && (buf[i] == 'b' || buf[i] == 'B')) {
        i++; /* "512B" */
    }
    if (i != len)
        return -EINVAL;
    if (has_frac && !has_unit)
        return -EINVAL; /* bytes are whole */
    if (whole > UINT64_MAX / unit)
        return -ERANGE;
    uint64_t v = whole * unit;
    /* frac < 10^9 < 2^30 and unit <= 2^50: frac * unit can overflow, so
     * divide first where the unit allows it (unit is a power of two, scale a
     * power of ten: split unit = hi * lo with frac * lo < 2^64). */
    uint64_t lo = unit, hi = 1;
    while (lo > (1ull << 30)) {
        lo >>= 1;
        hi <<= 1;
    }
    uint64_t part = frac * lo; /* < 2^60 */
    /* floor(frac * unit / scale) = floor(part * hi / scale), exact in two steps */
    uint64_t q = part / scale, r = part % scale;
    if (q > UINT64_MAX / hi)
        return -ERANGE;
    uint64_t add = q * hi + (r * hi) / scale; /* r < scale < 2^30, hi <= 2^20 */
    if (add > UINT64_MAX - v)
        return -ERANGE;
    *out = v + add;
    return 0;
}
