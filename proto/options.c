/* proto/options.c — tokenizer for the agent's configuration file, a TOML
 * subset:
 *
 *   file   := [ UTF-8 BOM ] { ws* [ key ws* '=' ws* value ws* ] [ '#' comment ] '\n' }
 *                                            (the last line's '\n' may be missing)
 *   key    := [A-Za-z0-9_-]{1,64}
 *   value  := scalar | '[' { blank } [ scalar { blank } { ',' { blank } scalar { blank } } [ ',' ] ] { blank } ']'
 *   scalar := '"' { char | '\"' | '\\' } '"'  |  bare { bare } (true/false are booleans)
 *   blank  := ws | newline | comment         (arrays may span lines, as in TOML)
 *   ws     := ' ' | '\t' | '\r'
 *   char   := any byte but '"', '\', newline, NUL and other controls (tab allowed)
 *   bare   := any byte but controls, space, DEL and " ' # , [ ] = \ (UTF-8 allowed)
 *
 * The whole buffer is checked before the first callback: a syntax error
 * anywhere means no setting was delivered, so a bad file never half-applies.
 * Values are capped at PROTO_OPTION_VALUE_MAX bytes, keys at
 * PROTO_OPTION_KEY_MAX; a NUL byte anywhere is a syntax error.
 */
#include "proto/options.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

struct parser {
    const uint8_t *p, *end;
    unsigned line;
    proto_options_cb cb; /* NULL during the checking pass */
    void *ud;
    char key[PROTO_OPTION_KEY_MAX + 1];
    char val[PROTO_OPTION_VALUE_MAX + 1];
};

static bool is_key_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Bytes allowed in an unquoted value: printable ASCII but the syntax
 * characters, and any non-ASCII byte (UTF-8 paths). */
static bool is_bare_char(uint8_t c)
{
    if (c >= 0x80)
        return true;
    if (c <= 0x20 || c == 0x7f)
        return false;
    return strchr("\"'#,[]=\\", c) == NULL;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
        ps->p++;
}

/* A comment runs to the end of the line (the '\n' is left in place). */
static int skip_comment(struct parser *ps)
{
    if (ps->p >= ps->end || *ps->p != '#')
        return 0;
    while (ps->p < ps->end && *ps->p != '\n') {
        if (*ps->p == '\0')
            return -EBADMSG;
        ps->p++;
    }
    return 0;
}

/* Whitespace, comments and newlines between array elements. */
static int skip_blank(struct parser *ps)
{
    for (;;) {
        skip_ws(ps);
        if (skip_comment(ps) < 0)
            return -EBADMSG;
        if (ps->p < ps->end && *ps->p == '\n') {
            ps->p++;
            ps->line++;
            continue;
        }
        return 0;
    }
}

static int scalar(struct parser *ps, unsigned key_line)
{
    size_t n = 0;
    int is_bool = 0;
    if (ps->p >= ps->end)
        return -EBADMSG;
    if (*ps->p == '"') {
        ps->p++;
        for (;;) {
            if (ps->p >= ps->end)
                return -EBADMSG;
            uint8_t c = *ps->p++;
            if (c == '"')
                break;
            if (c == '\\') {
                if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\\'))
                    return -EBADMSG;
                c = *ps->p++;
            } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return -EBADMSG; /* newline, NUL, other controls */
            }
            if (n >= PROTO_OPTION_VALUE_MAX)
                return -EBADMSG;
            ps->val[n++] = (char)c;
        }
    } else {
        while (ps->p < ps->end && is_bare_char(*ps->p)) {
            if (n >= PROTO_OPTION_VALUE_MAX)
                return -EBADMSG;
            ps->val[n++] = (char)*ps->p++;
        }
        if (n == 0)
            return -EBADMSG;
        is_bool = (n == 4 && memcmp(ps->val, "true", 4) == 0) ||
                  (n == 5 && memcmp(ps->val, "false", 5) == 0);
    }
    ps->val[n] = '\0';
    if (ps->cb != NULL) {
        int rc = ps->cb(ps->ud, ps->key, ps->val, is_bool, key_line);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int array(struct parser *ps, unsigned key_line)
{
    int rc;
    ps->p++; /* '[' */
    for (;;) {
        if (skip_blank(ps) < 0 || ps->p >= ps->end)
            return -EBADMSG;
        if (*ps->p == ']')
            break;
        if ((rc = scalar(ps, key_line)) != 0)
            return rc;
        if (skip_blank(ps) < 0 || ps->p >= ps->end)
            return -EBADMSG;
        if (*ps->p == ']')
            break;
        if (*ps->p != ',')
            return -EBADMSG;
        ps->p++;
    }
    ps->p++; /* ']' */
    return 0;
}

static int setting(struct parser *ps)
{
    size_t n = 0;
    unsigned key_line = ps->line;
    while (ps->p < ps->end && is_key_char(*ps->p)) {
        if (n >= PROTO_OPTION_KEY_MAX)
            return -EBADMSG;
        ps->key[n++] = (char)*ps->p++;
    }
    if (n == 0)
        return -EBADMSG;
    ps->key[n] = '\0';
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '=')
        return -EBADMSG;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '[')
        return array(ps, key_line);
    return scalar(ps, key_line);
}

static int run(struct parser *ps)
{
    int rc;
    while (ps->p < ps->end) {
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p != '#' && *ps->p != '\n') {
            if ((rc = setting(ps)) != 0)
                return rc;
            skip_ws(ps);
        }
        if (skip_comment(ps) < 0)
            return -EBADMSG;
        if (ps->p < ps->end) {
            if (*ps->p != '\n')
                return -EBADMSG; /* trailing garbage after a value */
            ps->p++;
            ps->line++;
        }
    }
    return 0;
}

int proto_options_parse(const uint8_t *buf, size_t len, proto_options_cb cb, void *ud,
                        unsigned *err_line)
{
    if (err_line != NULL)
        *err_line = 0;
    if (len > PROTO_OPTIONS_MAX)
        return -EMSGSIZE;
    if (len == 0)
        return 0;
    if (buf == NULL)
        return -EBADMSG;

    struct parser ps = {.p = buf, .end = buf + len, .line = 1};
    if (len >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf)
        ps.p += 3; /* UTF-8 byte-order mark */
    const uint8_t *start = ps.p;

    /* Pass 1 checks the syntax without delivering anything. */
    int rc = run(&ps);
    if (rc != 0) {
        if (err_line != NULL)
            *err_line = ps.line;
        return rc;
    }
    if (cb == NULL)
        return 0;
    ps.p = start;
    ps.line = 1;
    ps.cb = cb;
    ps.ud = ud;
    return run(&ps);
}
