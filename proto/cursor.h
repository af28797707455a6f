/* proto/cursor.h — a big-endian cursor over a byte buffer: how the peer
 * messages (proto/peer.c) and their envelope (proto/envelope.c) write and
 * read integers. Header-only, so the decoders' loops keep them inlined.
 *
 * Writers never check room: the caller sized the buffer from the same
 * fields. Readers check with rd_has before every read (get_* do not).
 */
#ifndef CRATECAST_PROTO_CURSOR_H
#define CRATECAST_PROTO_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wr {
    uint8_t *p;
    size_t off;
};

static inline void put_bytes(struct wr *w, const void *src, size_t n)
{
    if (n)
        memcpy(w->p + w->off, src, n);
    w->off += n;
}
static inline void put_u8(struct wr *w, uint8_t v)
{
    w->p[w->off++] = v;
}
static inline void put_u16(struct wr *w, uint16_t v)
{
    put_u8(w, (uint8_t)(v >> 8));
    put_u8(w, (uint8_t)v);
}
static inline void put_u32(struct wr *w, uint32_t v)
{
    put_u16(w, (uint16_t)(v >> 16));
    put_u16(w, (uint16_t)v);
}
static inline void put_u64(struct wr *w, uint64_t v)
{
    put_u32(w, (uint32_t)(v >> 32));
    put_u32(w, (uint32_t)v);
}

struct rd {
    const uint8_t *p;
    size_t len, off;
};

static inline bool rd_has(const struct rd *r, size_t n)
{
    return r->len - r->off >= n;
}
static inline const uint8_t *get_bytes(struct rd *r, size_t n) /* caller checked rd_has */
{
    const uint8_t *s = r->p + r->off;
    r->off += n;
    return s;
}
static inline uint8_t get_u8(struct rd *r)
{
    return r->p[r->off++];
}
static inline uint16_t get_u16(struct rd *r)
{
    uint16_t hi = get_u8(r);
    return (uint16_t)(hi << 8 | get_u8(r));
}
static inline uint32_t get_u32(struct rd *r)
{
    uint32_t hi = get_u16(r);
    return hi << 16 | get_u16(r);
}
static inline uint64_t get_u64(struct rd *r)
{
    uint64_t hi = get_u32(r);
    return hi << 32 | get_u32(r);
}

#endif
