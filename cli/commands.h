/* cli/commands.h — the subcommands, one file each (cli/<command>.c). Each
 * describes itself (summary, options with meaning and default, see
 * cli/options.h) and runs with the arguments after its name. cli/main.c lists
 * them in the order `cratecast --help` shows them. */
#ifndef CRATECAST_CLI_COMMANDS_H
#define CRATECAST_CLI_COMMANDS_H

#include "cli/options.h"

extern const struct cli_command cmd_agent;        /* agent.c: run the agent */
extern const struct cli_command cmd_status;       /* status.c */
extern const struct cli_command cmd_why;          /* why.c */
extern const struct cli_command cmd_check;        /* check.c */
extern const struct cli_command cmd_prefetch;     /* prefetch.c */
extern const struct cli_command cmd_setup;        /* setup.c */
extern const struct cli_command cmd_cargo_config; /* cargo_config.c */
extern const struct cli_command cmd_import_cargo; /* import_cargo.c */
extern const struct cli_command cmd_bundle;       /* bundle.c, bundle_export.c, bundle_import.c */
extern const struct cli_command cmd_verify;       /* verify.c */
extern const struct cli_command cmd_gc;           /* gc.c */
extern const struct cli_command cmd_id;           /* id.c */
extern const struct cli_command cmd_network_key;  /* network_key.c */

struct agent_options;
/* agent.c: `cratecast agent`'s options (a --config file first, then argv, which
 * wins) into *o, which it initialises. 0 with *o filled; -ENOMEM; or -EINVAL
 * after printing why on stderr (or --help on stdout), with *status the exit
 * status to return (0 after --help, else 2). The caller frees *o
 * (agent_options_free) whatever it returns. Exported for
 * tests/unit/test-cli-agent-options.c. */
int cli_agent_parse(int argc, char **argv, struct agent_options *o, int *status);

#endif
