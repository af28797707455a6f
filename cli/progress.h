/* cli/progress.h — the one-line progress bar of the long commands (prefetch,
 * import-cargo), drawn on stderr when it is a terminal.
 *
 * The line is redrawn in place ("\r" ... erase to the end of the line) at
 * most every PROGRESS_INTERVAL_S seconds, and once more, forced, at the end;
 * progress_end() then finishes it with a newline. Off a terminal nothing is
 * drawn: the command prints its one summary line instead.
 *
 * struct progress lives on the caller's stack and holds no memory. Not
 * thread-safe: one thread draws. progress_line() is pure (unit-tested in
 * tests/unit/test-cli-progress.c).
 */
#ifndef CRATECAST_CLI_PROGRESS_H
#define CRATECAST_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_INTERVAL_S 0.1 /* at most ~10 redraws a second */
#define PROGRESS_BAR_WIDTH 30

/* What one line shows. */
struct progress_view {
    uint64_t done, total; /* items; total 0: not known yet (no bar, no "/total") */
    const char *items;    /* "packages", "crates" */
    uint64_t bytes;       /* bytes so far */
    uint64_t bytes_total; /* 0: not known (only the bytes so far are shown) */
    const char *detail;   /* a tail, e.g. "(here 3, peers 2)" or the source; NULL: none */
};

struct progress {
    FILE *f;
    bool tty;     /* f is a terminal: draw; else every call is a no-op */
    bool shown;   /* a line was drawn: progress_end finishes it */
    double t0;    /* monotonic seconds at progress_start */
    double drawn; /* when last drawn (monotonic seconds) */
};

/* Monotonic seconds. */
double progress_now(void);

/* Start timing; draw on f only if it is a terminal. */
void progress_start(struct progress *p, FILE *f);
/* Seconds since progress_start. */
double progress_elapsed(const struct progress *p);
/* Draw v, unless the last draw was under PROGRESS_INTERVAL_S ago and not force. */
void progress_draw(struct progress *p, const struct progress_view *v, bool force);
/* After the last (forced) draw: a newline, if anything was drawn. */
void progress_end(struct progress *p);

/* The text of one line, without "\r" or escapes:
 *   "[=====>     ] 3/10 crates, 1.20 MB of 4.00 MB, 2.40 MB/s (here 3)"
 * width: the bar's columns (0: no bar); elapsed in seconds (the rate is
 * bytes / elapsed, 0 when elapsed is not > 0). Bytes in decimal units (kB, MB),
 * as the status page.
 * Always NUL-terminates (cut to outsz - 1); returns strlen(out). */
size_t progress_line(char *out, size_t outsz, const struct progress_view *v, double elapsed,
                     int width);

#endif
