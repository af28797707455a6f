/* proto/textbuf.c — see textbuf.h. */
#include "proto/textbuf.h"

#include <stdarg.h>
#include <stdint.h>
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

void text_bytes(uint64_t n, char *out, size_t outsz)
{
    static const char *const unit[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(out, outsz, "%llu B", (unsigned long long)n);
    else
        snprintf(out, outsz, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, unit[u]);
}

void text_ago(int64_t now, int64_t t, char *out, size_t outsz)
{
    int64_t d = t > 0 && now >= t ? now - t : -1;
    if (d < 0)
        snprintf(out, outsz, "never");
    else if (d < 60)
        snprintf(out, outsz, "%lld s ago", (long long)d);
    else if (d < 3600)
        snprintf(out, outsz, "%lld min ago", (long long)(d / 60));
    else if (d < 86400)
        snprintf(out, outsz, "%lld h ago", (long long)(d / 3600));
    else
        snprintf(out, outsz, "%lld day%s ago", (long long)(d / 86400), d < 2 * 86400 ? "" : "s");
}
