/* agent/log.c — stderr logging with a level threshold from CRATECAST_LOG. */
#include "agent/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum agent_log_level threshold = LOG_INFO;

void agent_log_init(void)
{
    const char *v = getenv("CRATECAST_LOG");
    if (v == NULL)
        return;
    if (strcmp(v, "debug") == 0)
        threshold = LOG_DEBUG;
    else if (strcmp(v, "info") == 0)
        threshold = LOG_INFO;
    else if (strcmp(v, "warn") == 0)
        threshold = LOG_WARN;
    else if (strcmp(v, "error") == 0)
        threshold = LOG_ERROR;
}

void agent_log(enum agent_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (lvl > threshold)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld cratecast: %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, names[lvl], msg);
}
