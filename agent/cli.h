/* agent/cli.h — command-line and --config parsing for `cratecast agent`. */
#ifndef CRATECAST_AGENT_CLI_H
#define CRATECAST_AGENT_CLI_H

#include "agent/agent.h"

/* Fill o from argv (after the subcommand) and any --config file. On a usage
 * error prints one line to stderr and returns -EINVAL; returns 1 for --help. */
int cli_parse_agent(int argc, char **argv, struct agent_options *o);
void cli_agent_usage(FILE *f);

#endif
