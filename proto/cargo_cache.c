/* proto/cargo_cache.c — Cargo's index cache files (version 3), read when an
 * existing CARGO_HOME is imported, and the matching encoder.
 *
 *   u8 cache_version (3) | u32 LE index_format_version | header NUL |
 *   { semver NUL json-line NUL }*
 *
 * The reader never copies: it yields pointers into the caller's buffer. A
 * truncated record makes next() return -EBADMSG, and keep returning it: the
 * iterator does not skip past damage.
 */
#include "proto/cargo_cache.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define PREAMBLE_LEN 5 /* cache version + index format version */

int proto_cargo_cache_open(const uint8_t *buf, size_t len, struct proto_cargo_cache_iter *it)
{
    memset(it, 0, sizeof *it);
    if (len > PROTO_CARGO_CACHE_MAX)
        return -EMSGSIZE;
    if (buf == NULL || len < 1)
        return -EBADMSG;
    if (buf[0] != PROTO_CARGO_CACHE_VERSION)
        return -EPROTO;
    if (len < PREAMBLE_LEN)
        return -EBADMSG;
    const uint8_t *nul = memchr(buf + PREAMBLE_LEN, '\0', len - PREAMBLE_LEN);
    if (nul == NULL)
        return -EBADMSG;

    it->buf = buf;
    it->len = len;
    it->cache_version = buf[0];
    it->index_version =
        (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 | (uint32_t)buf[4] << 24;
    it->header = buf + PREAMBLE_LEN;
    it->header_len = (size_t)(nul - it->header);
    it->pos = PREAMBLE_LEN + it->header_len + 1;
    return 0;
}

int proto_cargo_cache_next(struct proto_cargo_cache_iter *it, const uint8_t **vers,
                           size_t *vers_len, const uint8_t **line, size_t *line_len)
{
    if (it == NULL || it->buf == NULL || it->pos >= it->len)
        return 0;
    const uint8_t *v = it->buf + it->pos;
    size_t left = it->len - it->pos;
    const uint8_t *vend = memchr(v, '\0', left);
    if (vend == NULL)
        return -EBADMSG;
    size_t vl = (size_t)(vend - v);
    const uint8_t *l = vend + 1;
    left -= vl + 1;
    const uint8_t *lend = left ? memchr(l, '\0', left) : NULL;
    if (lend == NULL)
        return -EBADMSG;
    size_t ll = (size_t)(lend - l);

    it->pos += vl + 1 + ll + 1;
    *vers = v;
    *vers_len = vl;
    *line = l;
    *line_len = ll;
    return 1;
}

size_t proto_cargo_cache_put_header(uint32_t index_version, const char *header, uint8_t *out,
                                    size_t outsz)
{
    size_t hl = header ? strlen(header) : 0;
    if (hl > SIZE_MAX - PREAMBLE_LEN - 1)
        return 0;
    size_t need = PREAMBLE_LEN + hl + 1;
    if (out == NULL || outsz < need)
        return need;
    out[0] = PROTO_CARGO_CACHE_VERSION;
    out[1] = (uint8_t)(index_version & 0xff);
    out[2] = (uint8_t)(index_version >> 8 & 0xff);
    out[3] = (uint8_t)(index_version >> 16 & 0xff);
    out[4] = (uint8_t)(index_version >> 24 & 0xff);
    if (hl)
        memcpy(out + PREAMBLE_LEN, header, hl);
    out[PREAMBLE_LEN + hl] = '\0';
    return need;
}

size_t proto_cargo_cache_put_record(const char *vers, const uint8_t *line, size_t line_len,
                                    uint8_t *out, size_t outsz)
{
    if (vers == NULL || (line == NULL && line_len > 0))
        return 0;
    size_t vl = strlen(vers);
    if (vl > SIZE_MAX - 2 || line_len > SIZE_MAX - 2 - vl)
        return 0;
    /* A NUL inside the line would end the record early: not encodable. */
    if (line_len > 0 && memchr(line, '\0', line_len) != NULL)
        return 0;
    size_t need = vl + 1 + line_len + 1;
    if (out == NULL || outsz < need)
        return need;
    memcpy(out, vers, vl);
    out[vl] = '\0';
    if (line_len)
        memcpy(out + vl + 1, line, line_len);
    out[vl + 1 + line_len] = '\0';
    return need;
}
