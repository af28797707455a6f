/* proto/cargo_config.c — crates.io's source replacement in a Cargo config,
 * and rust-url's host_str() for the cache directory name.
 *
 * Replacement: one proto_toml_parse per link of the chain, each collecting
 * what the file says about one name (struct scan): the source's
 * replace-with, registry, local-registry, directory and git, and the
 * registry's index. A chain has at most PROTO_CARGO_CONFIG_HOPS_MAX + 1 names,
 * so at most nine parses of a file capped at PROTO_TOML_MAX; nothing but the
 * values of the name being looked at is kept. Cargo's rules (checked against
 * cargo 1.95): a name is a source when any key or header under source.<name>
 * exists, else a registry; every source but crates-io needs exactly one
 * location; replace-with goes on from a source that has one.
 *
 * Host: the URL standard's host parser, reduced to the ASCII hosts a Cargo
 * config holds. Non-special schemes (and "sparse+http" is one) keep an opaque
 * host as written; special schemes percent-decode, lower-case and read a
 * host that ends in a number as IPv4 (1 to 4 parts, decimal, 0-octal or
 * 0x-hex); IPv6 literals are parsed and written back in RFC 5952 form with
 * their brackets, which is what Cargo's directory names carry.
 */
#include "proto/cargo_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sha256.h"
#include "proto/alloc.h"

enum field { F_REPLACE, F_REGISTRY, F_LOCAL, F_DIRECTORY, F_GIT, F_INDEX, F_COUNT };

/* source.<name>.<key> for F_REPLACE .. F_GIT, registries.<name>.index for F_INDEX. */
static const char *const field_key[F_COUNT] = {"replace-with", "registry", "local-registry",
                                               "directory",    "git",      "index"};

struct scan {
    const char *name;
    bool source;            /* something under source.<name> exists */
    unsigned line[F_COUNT]; /* where each was given; 0: not given */
    char *str[F_COUNT];     /* its value, for F_REPLACE, F_REGISTRY and F_INDEX */
    unsigned err_line;
};

static bool streq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static int scan_cb(void *ud, const struct proto_toml_event *ev)
{
    struct scan *s = ud;
    size_t n = ev->table_len + ev->key_len;
    if (n < 2 || !streq(ev->path[1], s->name))
        return 0;
    bool src = streq(ev->path[0], "source");
    if (!src && !streq(ev->path[0], "registries"))
        return 0;
    if (src)
        s->source = true;
    if (ev->type == PROTO_TOML_TABLE || n > 3)
        return 0;
    if (n == 2) { /* source.<name> = value: Cargo wants a table there */
        s->err_line = ev->line;
        return -EBADMSG;
    }
    enum field f = src ? F_REPLACE : F_INDEX, last = src ? F_GIT : F_INDEX;
    while (f <= last && !streq(ev->path[2], field_key[f]))
        f++;
    if (f > last)
        return 0; /* branch, protocol, token ... */
    if (ev->type != PROTO_TOML_STRING || ev->in_array || s->line[f] != 0) {
        s->err_line = ev->line;
        return -EBADMSG;
    }
    s->line[f] = ev->line;
    if (f == F_REPLACE || f == F_REGISTRY || f == F_INDEX) {
        if ((s->str[f] = cc_malloc(ev->value_len + 1)) == NULL)
            return -ENOMEM;
        memcpy(s->str[f], ev->value, ev->value_len + 1);
    }
    return 0;
}

static void scan_clear(struct scan *s)
{
    for (int f = 0; f < F_COUNT; f++)
        free(s->str[f]);
    memset(s, 0, sizeof *s);
}

int proto_cargo_config_crates_io_replacement(const uint8_t *buf, size_t len, char *url_out,
                                             size_t url_sz, unsigned *err_line)
{
    /* The chain so far: names[0] is crates-io, names[hop] is looked up now. */
    char names[PROTO_CARGO_CONFIG_HOPS_MAX + 1][PROTO_TOML_KEY_MAX + 1] = {"crates-io"};
    unsigned named_at = 0; /* the line of the replace-with naming names[hop] */
    unsigned line = 0;
    const char *url = NULL;
    struct scan s = {0};
    int rc;

    if (url_out != NULL && url_sz > 0)
        url_out[0] = '\0';
    for (unsigned hop = 0;; hop++) {
        scan_clear(&s);
        s.name = names[hop];
        unsigned tl = 0;
        rc = proto_toml_parse(buf, len, scan_cb, &s, &tl);
        if (rc != 0) {
            line = tl != 0 ? tl : s.err_line;
            goto out;
        }
        if (hop == 0) {
            if (s.str[F_REPLACE] == NULL) {
                rc = -ENOENT;
                goto out;
            }
        } else if (!s.source) {
            if (s.str[F_INDEX] == NULL) { /* neither a source nor a registry */
                rc = -EINVAL;
                line = named_at;
                goto out;
            }
            url = s.str[F_INDEX];
            break;
        } else {
            unsigned locations = 0, second = 0;
            for (enum field f = F_REGISTRY; f <= F_GIT; f++) {
                if (s.line[f] != 0) {
                    locations++;
                    second = s.line[f] > second ? s.line[f] : second;
                }
            }
            if (locations != 1) {
                rc = -EINVAL;
                line = locations == 0 ? named_at : second;
                goto out;
            }
        }
        if (s.str[F_REPLACE] == NULL)
            break; /* the end of the chain */

        named_at = s.line[F_REPLACE];
        const char *next = s.str[F_REPLACE];
        if (strlen(next) > PROTO_TOML_KEY_MAX) { /* longer than any name a key can give */
            rc = -EINVAL;
            line = named_at;
            goto out;
        }
        for (unsigned i = 0; i <= hop; i++) {
            if (streq(names[i], next)) {
                rc = -ELOOP;
                line = named_at;
                goto out;
            }
        }
        if (hop + 1 > PROTO_CARGO_CONFIG_HOPS_MAX) {
            rc = -ELOOP;
            line = named_at;
            goto out;
        }
        memcpy(names[hop + 1], next, strlen(next) + 1);
    }

    if (url == NULL)
        url = s.str[F_REGISTRY];
    if (url == NULL) {
        rc = -ENOTSUP; /* local-registry, directory or git: a mirror, not a registry URL */
        goto out;
    }
    size_t ul = strlen(url);
    if (url_out == NULL || ul >= url_sz) {
        rc = -ENAMETOOLONG;
        goto out;
    }
    memcpy(url_out, url, ul + 1);
    rc = 0;
out:
    scan_clear(&s);
    if (err_line != NULL)
        *err_line = rc == 0 ? 0 : line;
    return rc;
}

/* ---- host --------------------------------------------------------------- */

static int copy_out(const char *s, size_t n, char *host, size_t hostsz)
{
    if (host == NULL || n >= hostsz)
        return -ENAMETOOLONG;
    memcpy(host, s, n);
    host[n] = '\0';
    return (int)n;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool ascii_caseeq(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] - 'A' + 'a') : a[i];
        if (c != b[i])
            return false;
    }
    return true;
}

/* The URL standard's forbidden host code points (an opaque host may not hold
 * them), and for a domain also C0 controls, '%' and DEL. */
static bool forbidden(unsigned char c, bool domain)
{
    if (c == 0 || c == '\t' || c == '\n' || c == '\r' || strchr(" #/:<>?@[\\]^|", c) != NULL)
        return true;
    return domain && (c < 0x20 || c == '%' || c == 0x7f);
}

/* One IPv4 part: decimal, 0-prefixed octal, 0x-prefixed hex ("0x" is 0).
 * Fails on a bad digit or a value over 32 bits. */
static bool ipv4_number(const char *s, size_t n, uint32_t *out)
{
    unsigned base = 10;
    uint64_t v = 0;
    if (n == 0)
        return false;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        n -= 2;
        base = 16;
    } else if (n >= 2 && s[0] == '0') {
        s++;
        n--;
        base = 8;
    }
    for (size_t i = 0; i < n; i++) {
        int d = proto_hex_digit((unsigned char)s[i]);
        if (d < 0 || (unsigned)d >= base)
            return false;
        v = v * base + (unsigned)d;
        if (v > UINT32_MAX)
            return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* Length of s without one trailing '.', when there is more before it. */
static size_t trim_dot(const char *s, size_t n)
{
    return n > 1 && s[n - 1] == '.' ? n - 1 : n;
}

/* The URL standard's "ends in a number": the last label is all digits, or
 * 0x and hex digits. Such a host must be an IPv4 address. */
static bool ends_in_number(const char *s, size_t n)
{
    n = trim_dot(s, n);
    const char *last = memrchr(s, '.', n);
    last = last ? last + 1 : s;
    size_t ln = (size_t)(s + n - last), i;
    for (i = 0; i < ln && is_digit(last[i]); i++)
        ;
    if (ln > 0 && i == ln)
        return true;
    uint32_t v;
    return ln >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
           ipv4_number(last, ln, &v);
}

static int ipv4_host(const char *s, size_t n, char *host, size_t hostsz)
{
    uint32_t part[4], addr = 0;
    size_t nparts = 0;
    n = trim_dot(s, n);
    for (const char *p = s, *end = s + n;;) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *pe = dot ? dot : end;
        if (nparts == 4 || !ipv4_number(p, (size_t)(pe - p), &part[nparts]))
            return -EINVAL;
        nparts++;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    for (size_t i = 0; i + 1 < nparts; i++) {
        if (part[i] > 255)
            return -EINVAL;
        addr |= part[i] << (8 * (3 - i));
    }
    if ((uint64_t)part[nparts - 1] >> (8 * (5 - nparts)) != 0)
        return -EINVAL; /* the last part fills the remaining 5 - nparts bytes */
    addr |= part[nparts - 1];
    char out[16];
    int ol = snprintf(out, sizeof out, "%u.%u.%u.%u", addr >> 24, addr >> 16 & 0xff,
                      addr >> 8 & 0xff, addr & 0xff);
    return copy_out(out, (size_t)ol, host, hostsz);
}

/* "[...]": parsed, then written as the URL standard serializes it: lower-case
 * hex without leading zeros, the first longest run of two or more zero
 * pieces as "::", between brackets. */
static int ipv6_host(const char *s, size_t n, char *host, size_t hostsz)
{
    char in[64];
    struct in6_addr a;
    if (n < 2 || n - 2 >= sizeof in)
        return -EINVAL;
    memcpy(in, s + 1, n - 2);
    in[n - 2] = '\0';
    if (inet_pton(AF_INET6, in, &a) != 1)
        return -EINVAL;
    unsigned piece[8];
    for (int i = 0; i < 8; i++)
        piece[i] = (unsigned)a.s6_addr[2 * i] << 8 | a.s6_addr[2 * i + 1];
    int best = -1, best_len = 1;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && piece[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    char out[48];
    size_t ol = 0;
    out[ol++] = '[';
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            out[ol++] = ':';
            if (i == 0)
                out[ol++] = ':';
            i += best_len - 1;
            continue;
        }
        ol += (size_t)snprintf(out + ol, sizeof out - ol, "%x", piece[i]);
        if (i != 7)
            out[ol++] = ':';
    }
    out[ol++] = ']';
    return copy_out(out, ol, host, hostsz);
}

int proto_cargo_config_url_host(const char *url, char *host, size_t hostsz)
{
    if (host != NULL && hostsz > 0)
        host[0] = '\0';
    if (url == NULL || !is_alpha(url[0]))
        return -EINVAL;
    const char *p = url + 1;
    while (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (strncmp(p, "://", 3) != 0)
        return -EINVAL;
    size_t sl = (size_t)(p - url);
    bool file = ascii_caseeq(url, sl, "file");
    bool special = file || ascii_caseeq(url, sl, "http") || ascii_caseeq(url, sl, "https") ||
                   ascii_caseeq(url, sl, "ws") || ascii_caseeq(url, sl, "wss") ||
                   ascii_caseeq(url, sl, "ftp");

    /* authority: up to the path, query or fragment; userinfo: up to its last '@' */
    const char *a = p + 3, *e = a;
    while (*e != '\0' && *e != '/' && *e != '?' && *e != '#' && !(special && *e == '\\'))
        e++;
    bool userinfo = false;
    for (const char *q = e; q > a; q--) {
        if (q[-1] == '@') {
            a = q;
            userinfo = true;
            break;
        }
    }
    const char *h = a, *he = a;
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(e - h));
        if (close == NULL)
            return -EINVAL;
        he = close + 1;
    } else {
        while (he < e && *he != ':')
            he++;
    }
    bool port = he < e;
    if (port) {
        unsigned long v = 0;
        if (*he != ':')
            return -EINVAL;
        for (const char *d = he + 1; d < e; d++) {
            if (!is_digit(*d) || (v = v * 10 + (unsigned long)(*d - '0')) > 65535)
                return -EINVAL;
        }
    }
    size_t hl = (size_t)(he - h);

    if (file && (userinfo || port))
        return -EINVAL;
    if (hl == 0) {
        if ((special && !file) || userinfo || port)
            return -EINVAL; /* the URL standard's "host-missing" */
        return copy_out("", 0, host, hostsz);
    }
    if (*h == '[')
        return ipv6_host(h, hl, host, hostsz);
    if (!special) {
        for (size_t i = 0; i < hl; i++) {
            unsigned char c = (unsigned char)h[i];
            /* forbidden; or a control or non-ASCII, which rust-url would
             * percent-encode: not done here */
            if (c >= 0x80 || (c != '%' && forbidden(c, true)))
                return -EINVAL;
        }
        return copy_out(h, hl, host, hostsz);
    }

    /* special: percent-decode, then a domain or an IPv4 address */
    char dom[255]; /* the longest a special host may be, decoded */
    size_t dl = 0;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '%' && i + 2 < hl) {
            int hi = proto_hex_digit((unsigned char)h[i + 1]);
            int lo = proto_hex_digit((unsigned char)h[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (unsigned char)(hi << 4 | lo);
                i += 2;
            }
        }
        if (c >= 0x80 || forbidden(c, true))
            return -EINVAL; /* non-ASCII wants IDNA; a bare '%' is forbidden */
        if (dl >= sizeof dom)
            return -EINVAL; /* longer than any DNS name */
        dom[dl++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : (char)c;
    }
    if (ends_in_number(dom, dl))
        return ipv4_host(dom, dl, host, hostsz);
    if (file && dl == 9 && memcmp(dom, "localhost", 9) == 0)
        return copy_out("", 0, host, hostsz);
    return copy_out(dom, dl, host, hostsz);
}
