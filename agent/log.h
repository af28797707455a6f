/* agent/log.h — one line per event on stderr: "cratecast: LEVEL: message".
 * Only agent/ logs (proto/ and store/ return codes). CRATECAST_LOG=debug|info|warn|error. */
#ifndef CRATECAST_AGENT_LOG_H
#define CRATECAST_AGENT_LOG_H

enum agent_log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void agent_log_init(void);
void agent_log(enum agent_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) agent_log(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) agent_log(LOG_WARN, __VA_ARGS__)
#define log_info(...) agent_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) agent_log(LOG_DEBUG, __VA_ARGS__)

#endif
