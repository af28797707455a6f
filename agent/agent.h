/* agent/agent.h — the agent process: one libuv loop that owns every handle.
 *
 * Ownership: struct agent is created by agent_run() and lives until the loop
 * ends. Every sub-module (registry server, HTTP client, upstream state, fetch
 * scheduler) is embedded in it and runs on the loop thread only. Work on the
 * libuv thread pool (blob hashing/writing, CARGO_HOME import) never touches
 * struct agent: it gets copies and reports back through the after-work callback.
 */
#ifndef CRATECAST_AGENT_AGENT_H
#define CRATECAST_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent/options.h"
#include "store/store.h"

struct agent;

/* Run the agent until SIGINT/SIGTERM. Returns the process exit status. */
int agent_run(const struct agent_options *opt);

/* Defaults, then free. */
void agent_options_init(struct agent_options *o);
void agent_options_free(struct agent_options *o);
/* $XDG_CACHE_HOME/cratecast, else $HOME/.cache/cratecast (malloc'd), NULL if neither. */
char *agent_default_store_dir(void);
/* $CARGO_HOME, else $HOME/.cargo (malloc'd). */
char *agent_default_cargo_home(void);

/* Which store call failed, for agent_store_error. */
enum agent_store_step { AGENT_STORE_OPEN, AGENT_STORE_IDENTITY, AGENT_STORE_LOCK };
/* Print a fatal store error: "error: <what is wrong>" on one line, then
 * "help: <what to do>" when a fix is known (agent startup, `cratecast id`).
 * code: what the store call returned; err: its explanation. */
void agent_store_error(enum agent_store_step step, int code, const char *dir,
                       const struct store_error *err);

/* "ADDR:PORT" / "[V6]:PORT" -> sockaddr. 0 or -EINVAL. */
int agent_parse_addr(const char *s, struct sockaddr_storage *out);

#endif
