/* cli/commands.h — the subcommands, one file each (cli/<command>.c).
 * Each takes the arguments after its name and returns the exit status. */
#ifndef CRATECAST_CLI_COMMANDS_H
#define CRATECAST_CLI_COMMANDS_H

int cmd_agent(int argc, char **argv);        /* agent.c: run the agent */
int cmd_status(int argc, char **argv);       /* status.c */
int cmd_cargo_config(int argc, char **argv); /* cargo_config.c */
int cmd_import_cargo(int argc, char **argv); /* import_cargo.c */
int cmd_verify(int argc, char **argv);       /* verify.c */
int cmd_id(int argc, char **argv);           /* id.c */
int cmd_why(int argc, char **argv);          /* why.c */
int cmd_check(int argc, char **argv);        /* check.c */
int cmd_prefetch(int argc, char **argv);     /* prefetch.c */
int cmd_gc(int argc, char **argv);           /* gc.c */

struct agent_options;
/* agent.c: `cratecast agent`'s options (a --config file first, then argv, which
 * wins) into *o, which it initialises. 0; 1 for --help; -EINVAL after printing
 * the problem on stderr; -ENOMEM. The caller frees *o (agent_options_free)
 * whatever it returns. */
int cli_agent_parse(int argc, char **argv, struct agent_options *o);

#endif
