/* tests/fuzz/fuzz-toml.c — libFuzzer target for proto_toml_parse. The
 * callback checks every event against the contract in proto/toml.h (bounded,
 * NUL-free segments and values; headers without keys; integers and booleans
 * that print back to their value; lines in file order; the [[...]] element
 * counter; array indexes counting from 0); the first few strings and key
 * paths are escaped back into TOML and must parse to the same bytes. Then:
 * no event before an error, the same verdict and the same events on a second
 * run and without a callback, and a stopping callback stops. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUNDTRIPS 8 /* per input */
#define ROUNDTRIP_MAX 1024

struct seen {
    unsigned lines; /* newlines in the input, plus 1 */
    unsigned last_line;
    size_t element;
    bool array_table;
    bool prev_in_array;
    size_t prev_index;
    unsigned events;
    unsigned roundtrips;
    uint64_t hash; /* of every event's content, FNV-1a */
};

static void mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ull;
}

/* Appends s as a TOML basic string: quotes, backslashes and controls escaped,
 * other bytes as they are. */
static size_t quote(char *out, size_t n, const char *s)
{
    out[n++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(out + n, 7, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = '"';
    return n;
}

struct echo {
    unsigned events;
    size_t nseg;
    char segs[PROTO_TOML_DEPTH_MAX][PROTO_TOML_KEY_MAX + 1];
    char value[ROUNDTRIP_MAX + 1];
};

static int echo_cb(void *ud, const struct proto_toml_event *ev)
{
    struct echo *e = ud;
    e->events++;
    e->nseg = ev->table_len + ev->key_len;
    for (size_t i = 0; i < e->nseg; i++)
        memcpy(e->segs[i], ev->path[i], strlen(ev->path[i]) + 1);
    if (ev->value_len > ROUNDTRIP_MAX)
        abort();
    memcpy(e->value, ev->value, ev->value_len + 1);
    return 0;
}

/* The event's whole path as a dotted key of basic strings, and its string
 * value, written back as one line of TOML: must give back the same. */
static void roundtrip(const struct proto_toml_event *ev)
{
    size_t n = ev->table_len + ev->key_len, len = 0;
    char *buf = malloc(n * (6 * PROTO_TOML_KEY_MAX + 3) + 6 * ROUNDTRIP_MAX + 16);
    if (buf == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf[len++] = '.';
        len = quote(buf, len, ev->path[i]);
    }
    memcpy(buf + len, " = ", 3);
    len = quote(buf, len + 3, ev->value);
    struct echo e = {0};
    unsigned line = 0;
    if (proto_toml_parse((const uint8_t *)buf, len, echo_cb, &e, &line) != 0 || e.events != 1 ||
        e.nseg != n || strcmp(e.value, ev->value) != 0)
        abort();
    for (size_t i = 0; i < n; i++)
        if (strcmp(e.segs[i], ev->path[i]) != 0)
            abort();
    free(buf);
}

static int check_cb(void *ud, const struct proto_toml_event *ev)
{
    struct seen *s = ud;
    if (ev->type != PROTO_TOML_TABLE && ev->type != PROTO_TOML_STRING &&
        ev->type != PROTO_TOML_INTEGER && ev->type != PROTO_TOML_BOOLEAN)
        abort();
    size_t n = ev->table_len + ev->key_len;
    if (n > PROTO_TOML_DEPTH_MAX || ev->path == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (ev->path[i] == NULL ||
            strnlen(ev->path[i], PROTO_TOML_KEY_MAX + 1) > PROTO_TOML_KEY_MAX)
            abort();
        mix(&s->hash, ev->path[i], strlen(ev->path[i]) + 1);
    }
    if (ev->value == NULL || ev->value_len > PROTO_TOML_STRING_MAX ||
        strnlen(ev->value, PROTO_TOML_STRING_MAX + 1) != ev->value_len)
        abort();
    if (ev->line == 0 || ev->line > s->lines || ev->line < s->last_line)
        abort();
    s->last_line = ev->line;

    if (ev->type == PROTO_TOML_TABLE) {
        if (ev->key_len != 0 || ev->table_len == 0 || ev->value_len != 0 || ev->in_array ||
            ev->element != s->element + (ev->array_table ? 1 : 0))
            abort();
        s->element = ev->element;
        s->array_table = ev->array_table;
        s->prev_in_array = false;
    } else {
        if (ev->key_len == 0 || ev->element != s->element || ev->array_table != s->array_table)
            abort();
        if (ev->type == PROTO_TOML_INTEGER) {
            char num[32];
            snprintf(num, sizeof num, "%" PRId64, ev->integer);
            if (strcmp(num, ev->value) != 0)
                abort();
        } else if (ev->type == PROTO_TOML_BOOLEAN) {
            if (strcmp(ev->value, ev->integer == 1 ? "true" : "false") != 0 ||
                (ev->integer != 0 && ev->integer != 1))
                abort();
        } else if (ev->integer != 0) {
            abort();
        }
        /* elements of one array come one after the other, counting from 0 */
        if (!ev->in_array && ev->index != 0)
            abort();
        if (ev->in_array && ev->index != 0 && (!s->prev_in_array || ev->index != s->prev_index + 1))
            abort();
        s->prev_in_array = ev->in_array;
        s->prev_index = ev->index;
        if (ev->type == PROTO_TOML_STRING && ev->value_len <= ROUNDTRIP_MAX &&
            s->roundtrips < ROUNDTRIPS) {
            s->roundtrips++;
            roundtrip(ev);
        }
    }
    uint8_t fixed[] = {(uint8_t)ev->type,     (uint8_t)ev->table_len, (uint8_t)ev->key_len,
                       (uint8_t)ev->in_array, (uint8_t)ev->index,     (uint8_t)ev->line};
    mix(&s->hash, fixed, sizeof fixed);
    mix(&s->hash, ev->value, ev->value_len);
    s->events++;
    return 0;
}

static int stop_cb(void *ud, const struct proto_toml_event *ev)
{
    unsigned *left = ud;
    (void)ev;
    return --*left == 0 ? 7 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seen s = {.lines = 1, .hash = 0xcbf29ce484222325ull};
    for (size_t i = 0; i < size; i++)
        s.lines += data[i] == '\n';
    unsigned err_line = 0, line2 = 0;
    int rc = proto_toml_parse(data, size, check_cb, &s, &err_line);
    if (rc != 0 && rc != -EBADMSG && rc != -EMSGSIZE && rc != -ENOMEM)
        abort();
    if (rc != 0) {
        if (s.events != 0)
            abort(); /* nothing from a bad file */
        if (rc == -EMSGSIZE && size > PROTO_TOML_MAX ? err_line != 0
                                                     : err_line == 0 || err_line > s.lines)
            abort();
    } else if (err_line != 0) {
        abort();
    }
    /* the same verdict without a callback */
    if (proto_toml_parse(data, size, NULL, NULL, &line2) != rc || line2 != err_line)
        abort();
    if (rc != 0)
        return 0;

    /* the same events again */
    struct seen again = {.lines = s.lines, .hash = 0xcbf29ce484222325ull, .roundtrips = ROUNDTRIPS};
    if (proto_toml_parse(data, size, check_cb, &again, NULL) != 0 || again.events != s.events ||
        again.hash != s.hash)
        abort();
    /* a callback that stops after k events stops there */
    if (s.events > 0) {
        unsigned k = s.events / 2 + 1, left = k;
        if (proto_toml_parse(data, size, stop_cb, &left, &err_line) != 7 || left != 0 ||
            err_line != 0)
            abort();
    }
    return 0;
}
