/* cli/progress.c — the progress line of prefetch and import-cargo (see
 * progress.h): a pure formatter, and the throttled redraw on a terminal. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/textbuf.h"
#include "cli/progress.h"

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_start(struct progress *p, FILE *f)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->tty = isatty(fileno(f)) == 1;
    p->t0 = progress_now();
}

double progress_elapsed(const struct progress *p)
{
    return progress_now() - p->t0;
}

/* Append to out[*used..outsz), keeping it NUL-terminated and *used <= outsz - 1. */
static void add(char *out, size_t outsz, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *out, size_t outsz, size_t *used, const char *fmt, ...)
{
    if (*used + 1 >= outsz)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *used, outsz - *used, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *used += (size_t)n < outsz - *used ? (size_t)n : outsz - *used - 1;
}

size_t progress_line(char *out, size_t outsz, const struct progress_view *v, double elapsed,
                     int width)
{
    size_t used = 0;
    if (outsz == 0)
        return 0;
    out[0] = '\0';
    if (width > 0 && v->total > 0) {
        uint64_t done = v->done < v->total ? v->done : v->total;
        int fill = (int)((double)done / (double)v->total * width);
        add(out, outsz, &used, "[");
        for (int i = 0; i < width; i++)
            add(out, outsz, &used, "%c", i < fill ? '=' : (i == fill ? '>' : ' '));
        add(out, outsz, &used, "] ");
    }
    if (v->total > 0)
        add(out, outsz, &used, "%llu/%llu %s", (unsigned long long)v->done,
            (unsigned long long)v->total, v->items);
    else
        add(out, outsz, &used, "%llu %s", (unsigned long long)v->done, v->items);
    char b[32], bt[32], rate[32];
    text_bytes(v->bytes, b, sizeof b);
    if (v->bytes_total > 0) {
        text_bytes(v->bytes_total, bt, sizeof bt);
        add(out, outsz, &used, ", %s of %s", b, bt);
    } else {
        add(out, outsz, &used, ", %s", b);
    }
    text_bytes(elapsed > 0 ? (uint64_t)((double)v->bytes / elapsed) : 0, rate, sizeof rate);
    add(out, outsz, &used, ", %s/s", rate);
    if (v->detail && v->detail[0])
        add(out, outsz, &used, " %s", v->detail);
    return used;
}

void progress_draw(struct progress *p, const struct progress_view *v, bool force)
{
    if (!p->tty)
        return;
    double now = progress_now();
    if (!force && p->shown && now - p->drawn < PROGRESS_INTERVAL_S)
        return;
    char line[512];
    progress_line(line, sizeof line, v, now - p->t0, PROGRESS_BAR_WIDTH);
    /* "\033[K": erase what a longer previous line left */
    fprintf(p->f, "\r%s\033[K", line);
    fflush(p->f);
    p->drawn = now;
    p->shown = true;
}

void progress_end(struct progress *p)
{
    if (p->tty && p->shown) {
        fputc('\n', p->f);
        fflush(p->f);
    }
    p->shown = false;
}
