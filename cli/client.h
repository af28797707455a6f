/* cli/client.h — the command-line tools' side of a running agent's Cargo
 * port (status, why, check, prefetch).
 *
 * Blocking helpers for one request, and a batch runner that keeps up to N GETs
 * in flight on a private libuv loop (agent/http_client.h) until all answered.
 * Nothing here is used inside the agent process.
 */
#ifndef CRATECAST_AGENT_CLIENT_H
#define CRATECAST_AGENT_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/http_client.h"

#define CLIENT_URL_MAX 2200

/* A request to the agent failed: "error: no agent answers at URL (why)" and a
 * help: line saying how to start one, or "error: the agent at URL answered
 * HTTP n", on stderr. */
void client_report_failure(const char *cmd, const char *url, const struct agent_http_response *res);

/* "--agent URL" (default http://127.0.0.1:7878): validates it and joins path
 * (which starts with '/'). 0, or -EINVAL after printing "error: ..." and a
 * help: line to stderr (a usage error: exit status 2). */
int client_url(const char *cmd, const char *agent, const char *path, char *out, size_t outsz);

/* GET a JSON document from the agent. NULL after printing why to stderr
 * (no agent answers, HTTP status, invalid JSON); *status gets the HTTP status
 * (0 when there was no answer). */
json_t *client_get_json(const char *cmd, const char *url, long timeout_ms, long *status);

/* Print a JSON document indented on stdout. 0, or 1 on out-of-memory. */
int client_print_json(const json_t *doc);

/* Batch: each item's URL is fetched with tmpl's limits; done() runs on the
 * calling thread as each answers (any order). Returns 0, or -ENOMEM. */
typedef const char *(*client_url_fn)(void *ud, size_t i);
typedef void (*client_done_fn)(void *ud, size_t i, struct agent_http_response *res);
int client_batch(size_t n, unsigned concurrency, const struct agent_http_request *tmpl,
                 client_url_fn url_of, client_done_fn done, void *ud);

#endif
