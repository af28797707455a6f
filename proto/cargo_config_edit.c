/* proto/cargo_config_edit.c — setup's marked block in a Cargo config: added at
 * the end of the file after checks made with proto/toml.h, taken out by its
 * marker lines.
 *
 * Adding is "take out any block of ours, check what is left, append a new
 * block", so running it again with the same URL changes nothing and with
 * another URL moves the block to the new one. Every result is checked before
 * it is returned: the new file must parse, must resolve crates-io to the URL
 * (proto_cargo_config_crates_io_replacement, Cargo's own rules) and must give
 * back exactly the old file when the block is taken out again. A file that
 * fails any of these is refused rather than written.
 *
 * Why appending is safe when the checks pass: the file parses, so its end is
 * outside any string, array or inline table; a [header] starts a new table
 * whatever table the file ended in; no key or header under source.crates-io
 * or source.cratecast exists, so the two headers define tables for the first
 * time; and `source` itself is either absent, a [source] table or a table made
 * by dotted keys, all of which TOML lets a [source.x] header extend (checked
 * against cargo 1.95). An inline `source = { ... }` cannot be extended and
 * is refused.
 */
#include "proto/cargo_config_edit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/alloc.h"
#include "proto/toml.h"

#define BEGIN_PREFIX "# added by cratecast setup"

enum variant { V_BLOCK, V_NL, V_CREATED };

static const char *const begin_line[] = {PROTO_CARGO_CONFIG_EDIT_BEGIN,
                                         PROTO_CARGO_CONFIG_EDIT_BEGIN_NL,
                                         PROTO_CARGO_CONFIG_EDIT_BEGIN_CREATED};

static void clear(struct proto_cargo_config_edit *out)
{
    out->text = NULL;
    out->len = 0;
    out->remove_file = false;
    out->line = 0;
    out->reason[0] = '\0';
}

__attribute__((format(printf, 4, 5))) static int refuse(struct proto_cargo_config_edit *out, int rc,
                                                        unsigned line, const char *fmt, ...)
{
    va_list ap;
    proto_cargo_config_edit_free(out);
    out->line = line;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    return rc;
}

void proto_cargo_config_edit_free(struct proto_cargo_config_edit *out)
{
    if (out == NULL)
        return;
    free(out->text);
    out->text = NULL;
    out->len = 0;
}

int proto_cargo_config_edit_snippet(const char *url, char *out, size_t sz)
{
    size_t n = url != NULL ? strnlen(url, PROTO_CARGO_CONFIG_EDIT_URL_MAX + 1) : 0;
    if (n == 0 || n > PROTO_CARGO_CONFIG_EDIT_URL_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            return -EINVAL;
    }
    return snprintf(out, sz,
                    "[source.crates-io]\n"
                    "replace-with = \"cratecast\"\n"
                    "\n"
                    "[source.cratecast]\n"
                    "registry = \"%s\"\n",
                    url);
}

/* ---- lines -------------------------------------------------------------- */

/* One line of buf: [start, end) without its line end (LF or CRLF), next the
 * start of the following line (len at the end). */
struct line {
    size_t start, end, next;
};

static bool next_line(const uint8_t *buf, size_t len, size_t at, struct line *l)
{
    if (at >= len)
        return false;
    const uint8_t *nl = memchr(buf + at, '\n', len - at);
    l->start = at;
    l->next = nl ? (size_t)(nl - buf) + 1 : len;
    l->end = nl ? (size_t)(nl - buf) : len;
    if (nl && l->end > at && buf[l->end - 1] == '\r')
        l->end--;
    return true;
}

static bool line_is(const uint8_t *buf, const struct line *l, const char *s)
{
    size_t n = strlen(s);
    return l->end - l->start == n && memcmp(buf + l->start, s, n) == 0;
}

static bool line_starts(const uint8_t *buf, const struct line *l, const char *s)
{
    size_t n = strlen(s);
    return l->end - l->start >= n && memcmp(buf + l->start, s, n) == 0;
}

/* ---- remove ------------------------------------------------------------- */

/* Where setup's block is: [b, e) the marker lines and what is between, v
 * its variant. 0, -ENOENT or -EBADMSG (out filled). */
static int find_block(const uint8_t *buf, size_t len, size_t *b, size_t *e, enum variant *v,
                      struct proto_cargo_config_edit *out)
{
    struct line l;
    unsigned n = 0, begin_no = 0;
    bool found = false, open = false;
    for (size_t at = 0; next_line(buf, len, at, &l); at = l.next) {
        n++;
        if (line_starts(buf, &l, BEGIN_PREFIX)) {
            int k = -1;
            for (int i = 0; i < 3; i++)
                if (line_is(buf, &l, begin_line[i]))
                    k = i;
            if (k < 0)
                return refuse(out, -EBADMSG, n,
                              "line %u, a marker of cratecast setup, was edited; remove the "
                              "block by hand",
                              n);
            if (open || found)
                return refuse(out, -EBADMSG, n,
                              "line %u starts a second block of cratecast setup; remove the "
                              "blocks by hand",
                              n);
            open = true;
            begin_no = n;
            *b = l.start;
            *v = (enum variant)k;
        } else if (open && line_is(buf, &l, PROTO_CARGO_CONFIG_EDIT_END)) {
            open = false;
            found = true;
            *e = l.next;
        }
    }
    if (open)
        return refuse(out, -EBADMSG, begin_no,
                      "the block cratecast setup added at line %u has lost its end marker; "
                      "remove it by hand",
                      begin_no);
    return found ? 0 : -ENOENT;
}

/* Drops one line end at the end of [0, *n): "\r\n" or "\n". */
static void drop_line_end(const uint8_t *buf, size_t *n)
{
    if (*n > 0 && buf[*n - 1] == '\n') {
        (*n)--;
        if (*n > 0 && buf[*n - 1] == '\r')
            (*n)--;
    }
}

/* Drops the blank line ending [0, *n), if it ends with one. */
static void drop_blank_line(const uint8_t *buf, size_t *n)
{
    size_t p = *n;
    if (p == 0 || buf[p - 1] != '\n')
        return;
    p--;
    if (p > 0 && buf[p - 1] == '\r')
        p--;
    if (p == 0 || buf[p - 1] == '\n')
        *n = p;
}

static int set_text(struct proto_cargo_config_edit *out, const uint8_t *a, size_t an,
                    const uint8_t *b, size_t bn)
{
    uint8_t *t = cc_malloc(an + bn + 1);
    if (t == NULL)
        return -ENOMEM;
    if (an)
        memcpy(t, a, an);
    if (bn)
        memcpy(t + an, b, bn);
    t[an + bn] = '\0';
    out->text = t;
    out->len = an + bn;
    return 0;
}

int proto_cargo_config_edit_remove(const uint8_t *buf, size_t len,
                                   struct proto_cargo_config_edit *out)
{
    size_t b = 0, e = 0;
    enum variant v = V_BLOCK;
    clear(out);
    if (len > PROTO_CARGO_CONFIG_MAX)
        return refuse(out, -EMSGSIZE, 0, "the file is larger than %u bytes",
                      PROTO_CARGO_CONFIG_MAX);
    int rc = find_block(buf, len, &b, &e, &v, out);
    if (rc == -ENOENT)
        return refuse(out, rc, 0, "no block added by cratecast setup");
    if (rc < 0)
        return rc;
    size_t keep = b;
    if (v != V_CREATED)
        drop_blank_line(buf, &keep);
    if (v == V_NL)
        drop_line_end(buf, &keep);
    if (set_text(out, buf, keep, buf + e, len - e) < 0)
        return -ENOMEM;
    out->remove_file = v == V_CREATED && out->len == 0;
    return 0;
}

/* ---- add ---------------------------------------------------------------- */

/* What stands in the way of the block, the first of each kind, in the order
 * they are reported. */
enum conflict_kind { K_REPLACED, K_CRATES_IO, K_CRATECAST, K_ARRAY, K_INLINE, K_COUNT };

struct conflict {
    const uint8_t *buf;
    size_t len;
    unsigned line[K_COUNT]; /* 0: none of this kind */
    char replaced_by[101];  /* K_REPLACED: the name, cut to 100 bytes */
};

/* The number of dotted segments in the key that starts the line, 0 when the
 * line does not start with a key followed by '='. */
static size_t key_segments(const uint8_t *buf, size_t len, unsigned lineno)
{
    size_t at = 0;
    struct line l = {0};
    for (unsigned n = 1; next_line(buf, len, at, &l) && n < lineno; n++)
        at = l.next;
    size_t i = l.start, end = l.end, segs = 0;
    if (i == 0 && end >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    for (;;) {
        while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        if (i >= end)
            return 0;
        if (buf[i] == '"' || buf[i] == '\'') {
            uint8_t q = buf[i++];
            while (i < end && buf[i] != q)
                i += q == '"' && buf[i] == '\\' ? 2 : 1;
            if (i >= end)
                return 0;
            i++;
        } else {
            size_t s = i;
            while (i < end &&
                   ((buf[i] >= 'a' && buf[i] <= 'z') || (buf[i] >= 'A' && buf[i] <= 'Z') ||
                    (buf[i] >= '0' && buf[i] <= '9') || buf[i] == '_' || buf[i] == '-'))
                i++;
            if (i == s)
                return 0;
        }
        segs++;
        while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        if (i < end && buf[i] == '.') {
            i++;
            continue;
        }
        return i < end && buf[i] == '=' ? segs : 0;
    }
}

static void note(struct conflict *c, enum conflict_kind k, unsigned line)
{
    if (c->line[k] == 0)
        c->line[k] = line;
}

static int conflict_cb(void *ud, const struct proto_toml_event *ev)
{
    struct conflict *c = ud;
    size_t n = ev->table_len + ev->key_len;
    if (n < 1 || strcmp(ev->path[0], "source") != 0)
        return 0;
    if (n >= 2 && strcmp(ev->path[1], "crates-io") == 0) {
        if (n == 3 && ev->type == PROTO_TOML_STRING && strcmp(ev->path[2], "replace-with") == 0 &&
            c->line[K_REPLACED] == 0)
            snprintf(c->replaced_by, sizeof c->replaced_by, "%s", ev->value);
        note(c, n == 3 && strcmp(ev->path[2], "replace-with") == 0 ? K_REPLACED : K_CRATES_IO,
             ev->line);
    } else if (n >= 2 && strcmp(ev->path[1], "cratecast") == 0) {
        note(c, K_CRATECAST, ev->line);
    } else if (ev->array_table) {
        note(c, K_ARRAY, ev->line);
    } else if (ev->type != PROTO_TOML_TABLE && ev->table_len == 0 &&
               (ev->in_array || n == 1 || key_segments(c->buf, c->len, ev->line) == 1)) {
        note(c, K_INLINE, ev->line); /* source = { ... } (or a value Cargo would refuse) */
    }
    return 0;
}

/* The first conflict found, as a refusal; 0 when there is none. */
static int conflict_refuse(const struct conflict *c, struct proto_cargo_config_edit *out)
{
    const unsigned *l = c->line;
    if (l[K_REPLACED])
        return refuse(out, -EEXIST, l[K_REPLACED],
                      "crates-io is already replaced by source \"%s\" (line %u)", c->replaced_by,
                      l[K_REPLACED]);
    if (l[K_CRATES_IO])
        return refuse(out, -EEXIST, l[K_CRATES_IO], "line %u already configures source crates-io",
                      l[K_CRATES_IO]);
    if (l[K_CRATECAST])
        return refuse(out, -EEXIST, l[K_CRATECAST],
                      "a source named \"cratecast\" is already defined (line %u) that cratecast "
                      "setup did not add",
                      l[K_CRATECAST]);
    if (l[K_ARRAY])
        return refuse(out, -ENOTSUP, l[K_ARRAY],
                      "line %u makes source an array of tables, which Cargo does not read",
                      l[K_ARRAY]);
    if (l[K_INLINE])
        return refuse(out, -ENOTSUP, l[K_INLINE],
                      "source is an inline table (source = { ... }, line %u), which a "
                      "[source.crates-io] table cannot be added to",
                      l[K_INLINE]);
    return 0;
}

/* The file's line end: that of its first line, LF when it has none. */
static const char *eol_of(const uint8_t *buf, size_t len)
{
    const uint8_t *nl = len ? memchr(buf, '\n', len) : NULL;
    return nl && nl > buf && nl[-1] == '\r' ? "\r\n" : "\n";
}

/* base + sep + marked block, line ends eol. */
static int compose(const uint8_t *base, size_t blen, enum variant v, const char *eol,
                   const char *snippet, struct proto_cargo_config_edit *out)
{
    size_t el = strlen(eol), sl = strlen(snippet), lines = 0;
    for (size_t i = 0; i < sl; i++)
        lines += snippet[i] == '\n';
    size_t cap = blen + 2 * el + strlen(begin_line[v]) + el + sl + lines * el +
                 strlen(PROTO_CARGO_CONFIG_EDIT_END) + el + 1;
    uint8_t *t = cc_malloc(cap);
    if (t == NULL)
        return -ENOMEM;
    size_t n = 0;
#define PUT(p, k)                                                                                  \
    do {                                                                                           \
        memcpy(t + n, (p), (k));                                                                   \
        n += (k);                                                                                  \
    } while (0)
    if (blen)
        PUT(base, blen);
    if (v == V_NL)
        PUT(eol, el);
    if (v != V_CREATED && blen > 0)
        PUT(eol, el);
    PUT(begin_line[v], strlen(begin_line[v]));
    PUT(eol, el);
    for (size_t i = 0; i < sl; i++) {
        if (snippet[i] == '\n')
            PUT(eol, el);
        else
            t[n++] = (uint8_t)snippet[i];
    }
    PUT(PROTO_CARGO_CONFIG_EDIT_END, strlen(PROTO_CARGO_CONFIG_EDIT_END));
    PUT(eol, el);
#undef PUT
    t[n] = '\0';
    out->text = t;
    out->len = n;
    return 0;
}

/* The new file says what it should, and gives base back. */
static int verify(const uint8_t *base, size_t blen, bool base_exists, const char *url,
                  const struct proto_cargo_config_edit *res)
{
    char got[PROTO_CARGO_CONFIG_EDIT_URL_MAX + 1];
    unsigned line = 0;
    int rc = proto_cargo_config_crates_io_replacement(res->text, res->len, got, sizeof got, &line);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0 || strcmp(got, url) != 0)
        return -ENOTSUP;
    struct proto_cargo_config_edit back;
    rc = proto_cargo_config_edit_remove(res->text, res->len, &back);
    if (rc == -ENOMEM)
        return rc;
    bool same = rc == 0 && back.len == blen && (blen == 0 || memcmp(back.text, base, blen) == 0) &&
                back.remove_file == !base_exists;
    proto_cargo_config_edit_free(&back);
    return same ? 0 : -ENOTSUP;
}

int proto_cargo_config_edit_add(const uint8_t *buf, size_t len, bool exists, const char *url,
                                struct proto_cargo_config_edit *out)
{
    char snippet[PROTO_CARGO_CONFIG_EDIT_URL_MAX + 128];
    char got[PROTO_CARGO_CONFIG_EDIT_URL_MAX + 1];
    struct proto_cargo_config_edit old;
    unsigned line = 0;
    int rc;

    clear(out);
    clear(&old);
    if (!exists)
        len = 0;
    if (len > PROTO_CARGO_CONFIG_MAX)
        return refuse(out, -EMSGSIZE, 0, "the file is larger than %u bytes",
                      PROTO_CARGO_CONFIG_MAX);
    if (proto_cargo_config_edit_snippet(url, snippet, sizeof snippet) < 0)
        return refuse(out, -EINVAL, 0, "the registry URL cannot be written in a Cargo config");
    rc = proto_toml_parse(buf, len, NULL, NULL, &line);
    if (rc == -ENOMEM)
        return refuse(out, rc, 0, "out of memory");
    if (rc < 0)
        return refuse(out, -EBADMSG, line,
                      "the file is not valid TOML (line %u), so Cargo cannot read it either", line);

    /* Already there: nothing to do. */
    rc = proto_cargo_config_crates_io_replacement(buf, len, got, sizeof got, NULL);
    if (rc == -ENOMEM)
        return refuse(out, rc, 0, "out of memory");
    int mine = proto_cargo_config_edit_remove(buf, len, &old);
    if (mine == -ENOMEM)
        return refuse(out, mine, 0, "out of memory");
    if (mine == -EBADMSG) {
        refuse(out, -EBADMSG, old.line, "%s", old.reason);
        proto_cargo_config_edit_free(&old);
        return -EBADMSG;
    }
    if (rc == 0 && strcmp(got, url) == 0) {
        proto_cargo_config_edit_free(&old);
        if (mine == 0)
            return refuse(out, -EALREADY, 0, "already points crates-io at %s", url);
        return refuse(out, -EALREADY, 0,
                      "already points crates-io at %s, though not with a block of cratecast "
                      "setup's (undo will leave it)",
                      url);
    }

    /* What the file is without a block of ours. */
    const uint8_t *base = buf;
    size_t blen = len;
    bool base_exists = exists;
    if (mine == 0) {
        base = old.text;
        blen = old.len;
        base_exists = !old.remove_file;
    }
    struct conflict c = {.buf = base, .len = blen};
    rc = proto_toml_parse(base, blen, conflict_cb, &c, &line);
    if (rc == -ENOMEM) {
        refuse(out, rc, 0, "out of memory");
        goto done;
    }
    if (rc < 0) {
        rc = refuse(out, -EBADMSG, line,
                    "without the block of cratecast setup the file is not valid TOML (line %u)",
                    line);
        goto done;
    }
    if ((rc = conflict_refuse(&c, out)) < 0)
        goto done;

    enum variant v = !base_exists ? V_CREATED : blen > 0 && base[blen - 1] != '\n' ? V_NL : V_BLOCK;
    if (compose(base, blen, v, eol_of(base, blen), snippet, out) < 0) {
        rc = refuse(out, -ENOMEM, 0, "out of memory");
        goto done;
    }
    rc = verify(base, blen, base_exists, url, out);
    if (rc == -ENOMEM)
        refuse(out, rc, 0, "out of memory");
    else if (rc < 0)
        refuse(out, rc, 0,
               "the edited file would not say what was meant (a form of TOML cratecast does "
               "not edit)");
done:
    proto_cargo_config_edit_free(&old);
    return rc;
}
