/* proto/toml.c — the TOML subset of proto/toml.h, as a recursive-descent
 * parser that delivers events instead of building a tree.
 *
 *   file    := { ws* [ header | keyval ] ws* [ comment ] ( LF | CRLF | end ) }
 *   header  := '[' ws* key ws* ']'  |  '[[' ws* key ws* ']]'
 *   keyval  := key ws* '=' ws* value
 *   key     := simple { ws* '.' ws* simple }
 *   simple  := [A-Za-z0-9_-]+ | basic-string | literal-string   (one line)
 *   value   := string | integer | true | false | array | inline
 *   array   := '[' blank* [ scalar blank* { ',' blank* scalar blank* } [ ',' blank* ] ] ']'
 *   inline  := '{' ws* [ keyval ws* { ',' ws* keyval ws* } ] '}'
 *   blank   := ws | comment | LF | CRLF
 *
 * Two passes over the same code: the first (cb NULL) only checks, so that a
 * file with an error anywhere delivers nothing; the second delivers. Both see
 * the same bytes, so the second cannot fail but through the callback.
 *
 * State: seg[] holds the current path. seg[0 .. ntable) is the last header's
 * key; an assignment writes its key segments after it, and an inline table
 * writes its keys after the key that holds it, so the path of every value is
 * seg[0 .. ntable + nkey) with nkey passed down the recursion. The recursion
 * (value -> inline_table -> keyval -> value) adds at least one key segment per
 * level, so it is bounded by PROTO_TOML_DEPTH_MAX; nest is the same bound made
 * explicit.
 */
#include "proto/toml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sha256.h"
#include "proto/alloc.h"

struct parser {
    const uint8_t *p, *end;
    unsigned line;
    proto_toml_cb cb; /* NULL during the checking pass */
    void *ud;
    size_t ntable;    /* segments of the current header */
    bool array_table; /* the current header is [[...]] */
    size_t element;   /* [[...]] headers read so far */
    unsigned nest;    /* inline tables open */
    const char *segp[PROTO_TOML_DEPTH_MAX];
    char seg[PROTO_TOML_DEPTH_MAX][PROTO_TOML_KEY_MAX + 1];
    char val[PROTO_TOML_STRING_MAX + 1];
};

/* A bounded output: cap bytes, not counting the NUL the caller adds. */
struct out {
    char *buf;
    size_t cap;
    size_t n;
};

static bool at(const struct parser *ps, uint8_t c)
{
    return ps->p < ps->end && *ps->p == c;
}

/* Three c in a row. */
static bool at3(const struct parser *ps, uint8_t c)
{
    return ps->end - ps->p >= 3 && ps->p[0] == c && ps->p[1] == c && ps->p[2] == c;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_bare(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '_';
}

/* What TOML allows in neither comments nor strings: C0 but tab, and DEL. */
static bool is_control(uint8_t c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
        ps->p++;
}

/* Consumes one line end, LF or CRLF, and counts it. */
static bool newline(struct parser *ps)
{
    if (at(ps, '\n')) {
        ps->p++;
        ps->line++;
        return true;
    }
    if (ps->end - ps->p >= 2 && ps->p[0] == '\r' && ps->p[1] == '\n') {
        ps->p += 2;
        ps->line++;
        return true;
    }
    return false;
}

/* '#' up to the line end, which is left in place. */
static int comment(struct parser *ps)
{
    if (!at(ps, '#'))
        return 0;
    ps->p++;
    while (ps->p < ps->end && *ps->p != '\n') {
        if (*ps->p == '\r' && ps->end - ps->p >= 2 && ps->p[1] == '\n')
            break;
        if (is_control(*ps->p))
            return -EBADMSG;
        ps->p++;
    }
    return 0;
}

/* Whitespace, comments and line ends: what may stand between array elements. */
static int skip_blank(struct parser *ps)
{
    for (;;) {
        skip_ws(ps);
        int rc = comment(ps);
        if (rc != 0)
            return rc;
        if (!newline(ps))
            return 0;
    }
}

/* After a header or an assignment: nothing but a comment up to the line end. */
static int line_end(struct parser *ps)
{
    skip_ws(ps);
    int rc = comment(ps);
    if (rc != 0)
        return rc;
    if (ps->p >= ps->end || newline(ps))
        return 0;
    return -EBADMSG;
}

/* ---- strings ------------------------------------------------------------ */

static int put(struct out *o, uint8_t c)
{
    if (o->n >= o->cap)
        return -EMSGSIZE;
    o->buf[o->n++] = (char)c;
    return 0;
}

static int put_utf8(struct out *o, uint32_t cp)
{
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xc0 | cp >> 6);
        b[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | cp >> 18);
        b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        b[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = put(o, b[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* \uXXXX or \UXXXXXXXX after the letter: a Unicode scalar value but U+0000. */
static int unicode_escape(struct parser *ps, int digits, struct out *o)
{
    uint32_t cp = 0;
    if (ps->end - ps->p < digits)
        return -EBADMSG;
    for (int i = 0; i < digits; i++) {
        int d = proto_hex_digit(ps->p[i]);
        if (d < 0)
            return -EBADMSG;
        cp = cp << 4 | (uint32_t)d;
    }
    ps->p += digits;
    if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return -EBADMSG;
    return put_utf8(o, cp);
}

/* At a backslash in a basic string. In a multi-line one, a backslash that
 * ends its line drops it and all whitespace and line ends after it. */
static int escape(struct parser *ps, bool multi, struct out *o)
{
    ps->p++;
    if (ps->p >= ps->end)
        return -EBADMSG;
    uint8_t c = *ps->p;
    static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
    const char *e = c != '\0' ? strchr(from, c) : NULL;
    if (e != NULL) {
        ps->p++;
        return put(o, (uint8_t)to[e - from]);
    }
    if (c == 'u' || c == 'U') {
        ps->p++;
        return unicode_escape(ps, c == 'u' ? 4 : 8, o);
    }
    if (multi && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
        skip_ws(ps);
        if (!newline(ps))
            return -EBADMSG; /* "\ x": whitespace after a backslash, then more text */
        do
            skip_ws(ps);
        while (newline(ps));
        return 0;
    }
    return -EBADMSG;
}

/* One byte of string content other than a quote or a backslash. */
static int body_byte(struct parser *ps, bool multi, struct out *o)
{
    uint8_t c = *ps->p;
    if (multi && (c == '\n' || c == '\r')) {
        if (!newline(ps))
            return -EBADMSG; /* a CR alone */
        return put(o, '\n');
    }
    if (is_control(c))
        return -EBADMSG;
    ps->p++;
    return put(o, c);
}

/* At a run of quotes q inside a multi-line string: one or two are content;
 * three to five close the string, the first n - 3 being content; six or more
 * cannot be written unescaped. 1 when closed, 0 to go on, or -errno. */
static int quote_run(struct parser *ps, uint8_t q, struct out *o)
{
    size_t n = 0, left = (size_t)(ps->end - ps->p);
    while (n < left && ps->p[n] == q)
        n++;
    if (n > 5)
        return -EBADMSG;
    ps->p += n;
    for (size_t i = 0; i < (n >= 3 ? n - 3 : n); i++) {
        int rc = put(o, q);
        if (rc != 0)
            return rc;
    }
    return n >= 3;
}

/* A "basic" or """multi-line basic""" string (the latter only when multi_ok),
 * or a 'literal' or '''multi-line literal''' one, at its opening quote. */
static int string(struct parser *ps, bool multi_ok, struct out *o)
{
    uint8_t q = *ps->p;
    bool multi = at3(ps, q);
    int rc;
    if (multi) {
        if (!multi_ok)
            return -EBADMSG;
        ps->p += 3;
        newline(ps); /* a line end right after the opening quotes is not content */
    } else {
        ps->p++;
    }
    for (;;) {
        if (ps->p >= ps->end)
            return -EBADMSG; /* unterminated */
        uint8_t c = *ps->p;
        if (c == q) {
            if (!multi) {
                ps->p++;
                return 0;
            }
            if ((rc = quote_run(ps, q, o)) != 0)
                return rc < 0 ? rc : 0;
            continue;
        }
        if (c == '\\' && q == '"')
            rc = escape(ps, multi, o);
        else
            rc = body_byte(ps, multi, o);
        if (rc != 0)
            return rc;
    }
}

/* ---- keys --------------------------------------------------------------- */

/* One key segment into seg[i], NUL-terminated. */
static int simple_key(struct parser *ps, size_t i)
{
    struct out o = {ps->seg[i], PROTO_TOML_KEY_MAX, 0};
    if (at(ps, '"') || at(ps, '\'')) {
        int rc = string(ps, false, &o);
        if (rc != 0)
            return rc;
    } else {
        while (ps->p < ps->end && is_bare(*ps->p)) {
            int rc = put(&o, *ps->p++);
            if (rc != 0)
                return rc;
        }
        if (o.n == 0)
            return -EBADMSG;
    }
    o.buf[o.n] = '\0';
    return 0;
}

/* A dotted key into seg[base ...]; *n is set to its number of segments.
 * Whitespace after it is consumed. */
static int key(struct parser *ps, size_t base, size_t *n)
{
    size_t k = 0;
    for (;;) {
        if (base + k >= PROTO_TOML_DEPTH_MAX)
            return -EMSGSIZE;
        int rc = simple_key(ps, base + k);
        if (rc != 0)
            return rc;
        k++;
        skip_ws(ps);
        if (!at(ps, '.'))
            break;
        ps->p++;
        skip_ws(ps);
    }
    *n = k;
    return 0;
}

/* ---- values ------------------------------------------------------------- */

static int emit(struct parser *ps, enum proto_toml_type type, size_t nkey, size_t vlen,
                int64_t integer, unsigned line, bool in_array, size_t index)
{
    if (ps->cb == NULL)
        return 0;
    ps->val[vlen] = '\0';
    struct proto_toml_event ev = {
        .type = type,
        .path = ps->segp,
        .table_len = ps->ntable,
        .key_len = nkey,
        .value = ps->val,
        .value_len = vlen,
        .integer = integer,
        .in_array = in_array,
        .index = index,
        .array_table = ps->array_table,
        .element = ps->element,
        .line = line,
    };
    return ps->cb(ps->ud, &ev);
}

/* [+-] digits with single underscores between them, no leading zero, within
 * int64_t. What may follow (a '.', an 'e', a '-' of a date) is the caller's
 * to reject. */
static int integer(struct parser *ps, int64_t *out)
{
    bool neg = false;
    if (at(ps, '+') || at(ps, '-')) {
        neg = *ps->p == '-';
        ps->p++;
    }
    if (ps->p >= ps->end || !is_digit(*ps->p))
        return -EBADMSG;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    if (*ps->p == '0') {
        ps->p++;
        if (ps->p < ps->end && (is_digit(*ps->p) || *ps->p == '_'))
            return -EBADMSG; /* leading zero */
    } else {
        for (;;) {
            unsigned d = (unsigned)(*ps->p - '0');
            if (v > (limit - d) / 10)
                return -EBADMSG; /* out of range */
            v = v * 10 + d;
            ps->p++;
            if (at(ps, '_')) {
                ps->p++;
                if (ps->p >= ps->end || !is_digit(*ps->p))
                    return -EBADMSG;
                continue;
            }
            if (ps->p >= ps->end || !is_digit(*ps->p))
                break;
        }
    }
    if (!neg)
        *out = (int64_t)v;
    else if (v == (uint64_t)INT64_MAX + 1)
        *out = INT64_MIN;
    else
        *out = -(int64_t)v;
    return 0;
}

static int keyval(struct parser *ps, size_t nkey);

static int value(struct parser *ps, size_t nkey, bool in_array, size_t index);

/* An array of scalars, one event per element. */
static int array(struct parser *ps, size_t nkey)
{
    size_t index = 0;
    int rc;
    ps->p++; /* '[' */
    for (;;) {
        if ((rc = skip_blank(ps)) != 0)
            return rc;
        if (at(ps, ']'))
            break;
        if ((rc = value(ps, nkey, true, index++)) != 0)
            return rc;
        if ((rc = skip_blank(ps)) != 0)
            return rc;
        if (at(ps, ','))
            ps->p++;
        else if (at(ps, ']'))
            break;
        else
            return -EBADMSG;
    }
    ps->p++; /* ']' */
    return 0;
}

/* { k = v, ... } on one line (but for line ends inside its values). */
static int inline_table(struct parser *ps, size_t nkey)
{
    int rc;
    if (ps->nest >= PROTO_TOML_NEST_MAX)
        return -EMSGSIZE;
    ps->nest++;
    ps->p++; /* '{' */
    skip_ws(ps);
    if (!at(ps, '}')) {
        for (;;) {
            if ((rc = keyval(ps, nkey)) != 0)
                return rc;
            skip_ws(ps);
            if (at(ps, '}'))
                break;
            if (!at(ps, ','))
                return -EBADMSG;
            ps->p++;
            skip_ws(ps); /* a '}' now fails in key(): no trailing comma */
        }
    }
    ps->p++; /* '}' */
    ps->nest--;
    return 0;
}

static int value(struct parser *ps, size_t nkey, bool in_array, size_t index)
{
    unsigned line = ps->line;
    int rc;
    if (ps->p >= ps->end)
        return -EBADMSG;
    uint8_t c = *ps->p;
    if (c == '"' || c == '\'') {
        struct out o = {ps->val, PROTO_TOML_STRING_MAX, 0};
        if ((rc = string(ps, true, &o)) != 0)
            return rc;
        return emit(ps, PROTO_TOML_STRING, nkey, o.n, 0, line, in_array, index);
    }
    if (c == '[' || c == '{') {
        if (in_array)
            return -EBADMSG; /* nested arrays, inline tables in arrays */
        return c == '[' ? array(ps, nkey) : inline_table(ps, nkey);
    }
    if (c == 't' || c == 'f') {
        size_t n = c == 't' ? 4 : 5;
        if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, c == 't' ? "true" : "false", n) != 0)
            return -EBADMSG;
        ps->p += n;
        memcpy(ps->val, c == 't' ? "true" : "false", n);
        return emit(ps, PROTO_TOML_BOOLEAN, nkey, n, c == 't', line, in_array, index);
    }
    if (c == '+' || c == '-' || is_digit(c)) {
        int64_t v;
        if ((rc = integer(ps, &v)) != 0)
            return rc;
        int n = snprintf(ps->val, sizeof ps->val, "%" PRId64, v);
        return emit(ps, PROTO_TOML_INTEGER, nkey, (size_t)n, v, line, in_array, index);
    }
    return -EBADMSG; /* inf, nan, a bare word, nothing */
}

/* key = value, the key's segments written after the enclosing path. */
static int keyval(struct parser *ps, size_t nkey)
{
    size_t k;
    int rc = key(ps, ps->ntable + nkey, &k);
    if (rc != 0)
        return rc;
    if (!at(ps, '='))
        return -EBADMSG;
    ps->p++;
    skip_ws(ps);
    return value(ps, nkey + k, false, 0);
}

/* ---- document ----------------------------------------------------------- */

static int header(struct parser *ps)
{
    unsigned line = ps->line;
    bool array_table = false;
    size_t n;
    int rc;
    ps->p++; /* '[' */
    if (at(ps, '[')) {
        array_table = true;
        ps->p++;
    }
    skip_ws(ps);
    if ((rc = key(ps, 0, &n)) != 0)
        return rc;
    if (!at(ps, ']'))
        return -EBADMSG;
    ps->p++;
    if (array_table) {
        if (!at(ps, ']'))
            return -EBADMSG;
        ps->p++;
        ps->element++;
    }
    ps->ntable = n;
    ps->array_table = array_table;
    return emit(ps, PROTO_TOML_TABLE, 0, 0, 0, line, false, 0);
}

static int run(struct parser *ps)
{
    int rc;
    while (ps->p < ps->end) {
        skip_ws(ps);
        if (at(ps, '['))
            rc = header(ps);
        else if (ps->p < ps->end && *ps->p != '#' && *ps->p != '\n' && *ps->p != '\r')
            rc = keyval(ps, 0);
        else
            rc = 0;
        if (rc != 0)
            return rc;
        if ((rc = line_end(ps)) != 0)
            return rc;
    }
    return 0;
}

static void start(struct parser *ps, const uint8_t *p, const uint8_t *end, proto_toml_cb cb,
                  void *ud)
{
    ps->p = p;
    ps->end = end;
    ps->line = 1;
    ps->cb = cb;
    ps->ud = ud;
    ps->ntable = 0;
    ps->array_table = false;
    ps->element = 0;
    ps->nest = 0;
}

int proto_toml_parse(const uint8_t *buf, size_t len, proto_toml_cb cb, void *ud, unsigned *err_line)
{
    if (err_line != NULL)
        *err_line = 0;
    if (len > PROTO_TOML_MAX)
        return -EMSGSIZE;
    if (len == 0)
        return 0;
    if (buf == NULL)
        return -EBADMSG;

    const uint8_t *p = buf, *end = buf + len;
    if (len >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf)
        p += 3; /* UTF-8 byte-order mark */

    struct parser *ps = cc_malloc(sizeof *ps);
    if (ps == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < PROTO_TOML_DEPTH_MAX; i++)
        ps->segp[i] = ps->seg[i];

    /* Pass 1 checks the syntax without delivering anything. */
    start(ps, p, end, NULL, NULL);
    int rc = run(ps);
    if (rc != 0) {
        if (err_line != NULL)
            *err_line = ps->line;
    } else if (cb != NULL) {
        start(ps, p, end, cb, ud);
        rc = run(ps);
    }
    free(ps);
    return rc;
}
