/* proto/textbuf.h — a growable text buffer for documents built piece by piece
 * (the status page, the metrics text), with HTML escaping.
 *
 * Ownership: the buffer owns its bytes (proto/alloc.h); textbuf_take hands
 * them to the caller (free()), textbuf_free drops them. Out of memory is
 * sticky: every later append does nothing and textbuf_take returns NULL, so a
 * builder checks once at the end. The text is always NUL-terminated.
 */
#ifndef CRATECAST_PROTO_TEXTBUF_H
#define CRATECAST_PROTO_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct textbuf {
    char *s;
    size_t len, cap;
    bool failed; /* an allocation failed: the text is incomplete */
};

void textbuf_init(struct textbuf *b);
void textbuf_free(struct textbuf *b);
void textbuf_add(struct textbuf *b, const char *s, size_t n);
void textbuf_puts(struct textbuf *b, const char *s);
void textbuf_printf(struct textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s with & < > " ' as character references (NULL adds nothing). */
void textbuf_html(struct textbuf *b, const char *s);
/* The text (malloc'd, the caller frees it) and its length; NULL when an
 * allocation failed. The buffer is empty afterwards. */
char *textbuf_take(struct textbuf *b, size_t *len);

/* Quantities as a person reads them (the status page, `cratecast status`):
 * "4.61 MB", "512 B" (decimal units); "4 s ago", "3 min ago", "2 days ago",
 * "never" when t is 0 or after now. */
void text_bytes(uint64_t n, char *out, size_t outsz);
void text_ago(int64_t now, int64_t t, char *out, size_t outsz);

#endif
