/* proto/route.c — maps a request path to a route, and builds the paths and
 * URLs of the peer routes (what the agent asks a peer for) the way it parses them.
 *
 *   /index/config.json                    CONFIG
 *   /index/<sparse path>/<name>            INDEX  (path must be the name's, any case)
 *   /crates/<name>/<version>/<sha256 hex>  CRATE
 *   /-/status                              STATUS
 *   /-/why/<name>                          WHY
 *   /peer/1/hello?nonce=<64 hex>[&port=N]  PEER_HELLO
 *   /peer/1/manifest[?since=N]             PEER_MANIFEST
 *   /peer/1/index/<name>                   PEER_INDEX
 *   /peer/1/crate/<sha256 hex>             PEER_CRATE
 *   /peer/1/news[?since=G][&wait=S][&gains=1]  PEER_NEWS
 *
 * Order of checks, each before any later read: length cap (-ENAMETOOLONG),
 * query string cut off, then every '/'-separated component percent-decoded
 * once and rejected (-EINVAL) when empty, "." or "..", or when it contains a
 * NUL or a '/' (raw or encoded) or a bad escape. Only then is the route
 * matched: an unknown shape is -ENOENT, a known shape with a bad name,
 * version, digest or a mismatched index path is -EINVAL.
 *
 * Queries: the Cargo-facing routes ignore them. A peer route parses its own
 * parameters after its path has matched: '&'-separated "key=value" pairs,
 * keys compared byte for byte; parameters this route does not know are
 * ignored, whatever they contain. A known parameter must appear at most once
 * and its value is taken raw (hex digits and decimal digits are unreserved
 * characters, so no client needs to escape them; a '%' is malformed):
 *   nonce  exactly 64 hex digits (either case); required by hello
 *   port   1..65535, 1 to 5 decimal digits; hello; 0 in the route when absent
 *   since  a decimal u64, 1 to 20 digits, no overflow; manifest, news; 0 when absent
 *   wait   0..PROTO_NEWS_WAIT_MAX, 1 or 2 digits; news; 0 when absent
 *   gains  exactly "1"; news; false when absent
 * Any violation is -EINVAL (HTTP 400).
 */
#include "proto/route.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/addr.h"

#define MAX_COMPONENTS 8 /* more than any route has; the rest are only checked */

struct comp {
    const char *s;
    size_t n;
};

static bool comp_is(const struct comp *c, const char *lit)
{
    size_t n = strlen(lit);
    return c->n == n && memcmp(c->s, lit, n) == 0;
}

/* Decode raw[0..len) into dec as components separated by '/'. Fills up to
 * MAX_COMPONENTS entries of comps and returns the total count, or -EINVAL. */
static int split_decode(const char *raw, size_t len, char *dec, struct comp *comps)
{
    size_t i = 1, d = 0; /* raw[0] is the leading '/' */
    int count = 0;
    for (;;) {
        size_t start = d;
        while (i < len && raw[i] != '/') {
            unsigned char c = (unsigned char)raw[i];
            if (c == '%') {
                if (len - i < 3)
                    return -EINVAL;
                int hi = proto_hex_digit((unsigned char)raw[i + 1]),
                    lo = proto_hex_digit((unsigned char)raw[i + 2]);
                if (hi < 0 || lo < 0)
                    return -EINVAL;
                c = (unsigned char)(hi << 4 | lo);
                i += 3;
            } else {
                i++;
            }
            if (c == '\0' || c == '/')
                return -EINVAL;
            dec[d++] = (char)c;
        }
        size_t n = d - start;
        if (n == 0 || (n == 1 && dec[start] == '.') ||
            (n == 2 && dec[start] == '.' && dec[start + 1] == '.'))
            return -EINVAL;
        if (count < MAX_COMPONENTS)
            comps[count] = (struct comp){dec + start, n};
        count++;
        if (i >= len)
            break;
        dec[d++] = '/'; /* separator, so the index path reads back joined */
        i++;
    }
    dec[d] = '\0';
    return count;
}

static int parse_index(const struct comp *c, int n, struct proto_route *out)
{
    const struct comp *name = &c[n - 1];
    if (n > 5 || !proto_crate_name_valid(name->s, name->n))
        return -EINVAL;
    char want[PROTO_INDEX_PATH_MAX];
    int wl = proto_index_path(name->s, name->n, want, sizeof want);
    if (wl < 0)
        return -EINVAL;
    /* Components 1..n-1 are contiguous in the decode buffer, '/'-joined. */
    size_t got_len = (size_t)(name->s + name->n - c[1].s);
    if (got_len != (size_t)wl || strncasecmp(c[1].s, want, got_len) != 0)
        return -EINVAL;
    out->kind = PROTO_ROUTE_INDEX;
    memcpy(out->name, name->s, name->n);
    out->name[name->n] = '\0';
    return 0;
}

static int parse_crate(const struct comp *c, struct proto_route *out)
{
    if (!proto_crate_name_valid(c[1].s, c[1].n) || !proto_version_valid(c[2].s, c[2].n) ||
        proto_hex_decode(c[3].s, c[3].n, out->sha256, PROTO_SHA256_LEN) < 0)
        return -EINVAL;
    out->kind = PROTO_ROUTE_CRATE;
    memcpy(out->name, c[1].s, c[1].n);
    out->name[c[1].n] = '\0';
    memcpy(out->vers, c[2].s, c[2].n);
    out->vers[c[2].n] = '\0';
    return 0;
}

/* Decimal digits only, at most maxdigits, value <= max. */
static int parse_dec(const char *s, size_t n, size_t maxdigits, uint64_t max, uint64_t *v)
{
    if (n == 0 || n > maxdigits)
        return -EINVAL;
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return -EINVAL;
        acc = acc * 10 + d;
    }
    if (acc > max)
        return -EINVAL;
    *v = acc;
    return 0;
}

/* The query of a peer route (without the '?'), as described above. */
static int parse_peer_query(const char *q, size_t qlen, struct proto_route *out)
{
    bool hello = out->kind == PROTO_ROUTE_PEER_HELLO;
    bool news = out->kind == PROTO_ROUTE_PEER_NEWS;
    bool manifest = out->kind == PROTO_ROUTE_PEER_MANIFEST || news;
    bool seen_nonce = false, seen_port = false, seen_since = false, seen_wait = false,
         seen_gains = false;
    size_t i = 0;
    while (i < qlen) {
        const char *p = q + i;
        const char *amp = memchr(p, '&', qlen - i);
        size_t n = amp ? (size_t)(amp - p) : qlen - i;
        i += n + 1;
        const char *eq = memchr(p, '=', n);
        struct comp key = {p, eq ? (size_t)(eq - p) : n};
        const char *val = eq ? eq + 1 : NULL;
        size_t vn = eq ? n - key.n - 1 : 0;
        uint64_t v;
        if (hello && comp_is(&key, "nonce")) {
            if (seen_nonce || val == NULL ||
                proto_hex_decode(val, vn, out->nonce, sizeof out->nonce) < 0)
                return -EINVAL;
            seen_nonce = true;
        } else if (hello && comp_is(&key, "port")) {
            if (seen_port || val == NULL || parse_dec(val, vn, 5, 65535, &v) < 0 || v == 0)
                return -EINVAL;
            out->port = (uint16_t)v;
            seen_port = true;
        } else if (manifest && comp_is(&key, "since")) {
            if (seen_since || val == NULL || parse_dec(val, vn, 20, UINT64_MAX, &v) < 0)
                return -EINVAL;
            out->since = v;
            seen_since = true;
        } else if (news && comp_is(&key, "wait")) {
            if (seen_wait || val == NULL || parse_dec(val, vn, 2, PROTO_NEWS_WAIT_MAX, &v) < 0)
                return -EINVAL;
            out->wait = (unsigned)v;
            seen_wait = true;
        } else if (news && comp_is(&key, "gains")) {
            if (seen_gains || val == NULL || vn != 1 || val[0] != '1')
                return -EINVAL;
            out->gains = true;
            seen_gains = true;
        }
    }
    if (hello && !seen_nonce)
        return -EINVAL;
    return 0;
}

static int parse_peer(const struct comp *c, int n, const char *q, size_t qlen,
                      struct proto_route *out)
{
    if (n < 3 || !comp_is(&c[1], "1"))
        return -ENOENT;
    if (n == 3 && comp_is(&c[2], "hello")) {
        out->kind = PROTO_ROUTE_PEER_HELLO;
    } else if (n == 3 && comp_is(&c[2], "manifest")) {
        out->kind = PROTO_ROUTE_PEER_MANIFEST;
    } else if (n == 3 && comp_is(&c[2], "news")) {
        out->kind = PROTO_ROUTE_PEER_NEWS;
    } else if (n == 4 && comp_is(&c[2], "index")) {
        if (!proto_crate_name_valid(c[3].s, c[3].n))
            return -EINVAL;
        out->kind = PROTO_ROUTE_PEER_INDEX;
        memcpy(out->name, c[3].s, c[3].n);
        out->name[c[3].n] = '\0';
    } else if (n == 4 && comp_is(&c[2], "crate")) {
        if (proto_hex_decode(c[3].s, c[3].n, out->sha256, PROTO_SHA256_LEN) < 0)
            return -EINVAL;
        out->kind = PROTO_ROUTE_PEER_CRATE;
    } else {
        return -ENOENT;
    }
    return parse_peer_query(q, qlen, out);
}

int proto_route_parse(const char *path, size_t len, struct proto_route *out)
{
    memset(out, 0, sizeof *out);
    if (len > PROTO_PATH_MAX)
        return -ENAMETOOLONG;
    if (path == NULL || len == 0 || path[0] != '/')
        return -EINVAL;
    const char *q = memchr(path, '?', len);
    size_t qlen = 0;
    if (q != NULL) {
        qlen = len - (size_t)(q - path) - 1;
        len = (size_t)(q - path);
        q++;
    }
    if (len == 1) {
        out->kind = PROTO_ROUTE_PAGE; /* "/" */
        return 0;
    }

    char dec[PROTO_PATH_MAX + 1];
    struct comp c[MAX_COMPONENTS];
    int n = split_decode(path, len, dec, c);
    if (n < 0)
        return n;

    int rc = -ENOENT;
    if (comp_is(&c[0], "index") && n == 2 && comp_is(&c[1], "config.json")) {
        out->kind = PROTO_ROUTE_CONFIG;
        rc = 0;
    } else if (comp_is(&c[0], "index") && n >= 2) {
        rc = parse_index(c, n, out);
    } else if (comp_is(&c[0], "crates") && n == 4) {
        rc = parse_crate(c, out);
    } else if (comp_is(&c[0], "metrics") && n == 1) {
        out->kind = PROTO_ROUTE_METRICS;
        rc = 0;
    } else if (comp_is(&c[0], "-") && n == 2 && comp_is(&c[1], "status")) {
        out->kind = PROTO_ROUTE_STATUS;
        rc = 0;
    } else if (comp_is(&c[0], "-") && n == 3 && comp_is(&c[1], "why")) {
        rc = -EINVAL;
        if (proto_crate_name_valid(c[2].s, c[2].n)) {
            out->kind = PROTO_ROUTE_WHY;
            memcpy(out->name, c[2].s, c[2].n);
            out->name[c[2].n] = '\0';
            rc = 0;
        }
    } else if (comp_is(&c[0], "peer")) {
        rc = parse_peer(c, n, q, qlen, out);
    }
    if (rc < 0)
        memset(out, 0, sizeof *out);
    return rc;
}

/* ---- building peer requests ------------------------------------------------ */

int proto_route_peer_path(const struct proto_route *r, char *out, size_t outsz)
{
    char hex[2 * PROTO_SHA256_LEN + 1]; /* also a nonce's: both are 32 bytes */
    int n = -1;
    if (outsz > 0)
        out[0] = '\0';
    switch (r->kind) {
    case PROTO_ROUTE_PEER_HELLO:
        proto_hex_encode(r->nonce, sizeof r->nonce, hex);
        if (r->port)
            n = snprintf(out, outsz, "/peer/1/hello?nonce=%s&port=%u", hex, (unsigned)r->port);
        else
            n = snprintf(out, outsz, "/peer/1/hello?nonce=%s", hex);
        break;
    case PROTO_ROUTE_PEER_MANIFEST:
        if (r->since)
            n = snprintf(out, outsz, "/peer/1/manifest?since=%llu", (unsigned long long)r->since);
        else
            n = snprintf(out, outsz, "/peer/1/manifest");
        break;
    case PROTO_ROUTE_PEER_INDEX:
        if (!proto_crate_name_valid(r->name, strnlen(r->name, sizeof r->name)))
            return -EINVAL;
        n = snprintf(out, outsz, "/peer/1/index/%s", r->name);
        break;
    case PROTO_ROUTE_PEER_CRATE:
        proto_hex_encode(r->sha256, PROTO_SHA256_LEN, hex);
        n = snprintf(out, outsz, "/peer/1/crate/%s", hex);
        break;
    case PROTO_ROUTE_PEER_NEWS:
        if (r->wait > PROTO_NEWS_WAIT_MAX)
            return -EINVAL;
        n = snprintf(out, outsz, "/peer/1/news?since=%llu&wait=%u%s", (unsigned long long)r->since,
                     r->wait, r->gains ? "&gains=1" : "");
        break;
    default:
        return -EINVAL;
    }
    if (n < 0 || (size_t)n >= outsz) {
        if (outsz > 0)
            out[0] = '\0';
        return -ENAMETOOLONG;
    }
    return n;
}

int proto_route_peer_url(const char *addr, const struct proto_route *r, char *out, size_t outsz)
{
    if (outsz > 0)
        out[0] = '\0';
    if (addr == NULL || proto_peer_host_parse(addr, strlen(addr), NULL) < 0)
        return -EINVAL;
    int n = snprintf(out, outsz, "http://%s", addr);
    if (n < 0 || (size_t)n >= outsz) {
        if (outsz > 0)
            out[0] = '\0';
        return -ENAMETOOLONG;
    }
    int pn = proto_route_peer_path(r, out + n, outsz - (size_t)n);
    if (pn < 0) {
        out[0] = '\0';
        return pn;
    }
    return n + pn;
}
