/* proto/textbuf.c — see textbuf.h. */
#include "proto/textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/alloc.h"

void textbuf_init(struct textbuf *b)
{
    memset(b, 0, sizeof *b);
}

void textbuf_free(struct textbuf *b)
{
    free(b->s);
    textbuf_init(b);
}

static bool reserve(struct textbuf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *s = cc_realloc(b->s, cap);
    if (s == NULL) {
        b->failed = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void textbuf_add(struct textbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void textbuf_puts(struct textbuf *b, const char *s)
{
    textbuf_add(b, s, strlen(s));
}

void textbuf_printf(struct textbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void textbuf_html(struct textbuf *b, const char *s)
{
    if (s == NULL)
        return;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&':
            textbuf_puts(b, "&amp;");
            break;
        case '<':
            textbuf_puts(b, "&lt;");
            break;
        case '>':
            textbuf_puts(b, "&gt;");
            break;
        case '"':
            textbuf_puts(b, "&quot;");
            break;
        case '\'':
            textbuf_puts(b, "&#39;");
            break;
        default:
            textbuf_add(b, p, 1);
        }
    }
}

char *textbuf_take(struct textbuf *b, size_t *len)
{
    if (b->failed || b->s == NULL) {
        bool empty = !b->failed;
        textbuf_free(b);
        if (empty) { /* nothing added: an empty text */
            char *s = cc_malloc(1);
            if (s)
                s[0] = '\0';
            *len = 0;
            return s;
        }
        *len = 0;
        return NULL;
    }
    char *s = b->s;
    *len = b->len;
    textbuf_init(b);
    return s;
}
