/* agent/commands.h — the one-shot subcommands (everything but `agent`).
 * Each takes the arguments after its name and returns the exit status. */
#ifndef CRATECAST_AGENT_COMMANDS_H
#define CRATECAST_AGENT_COMMANDS_H

int cmd_status(int argc, char **argv);
int cmd_cargo_config(int argc, char **argv);
int cmd_import_cargo(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_why(int argc, char **argv);      /* why.c */
int cmd_check(int argc, char **argv);    /* check.c */
int cmd_prefetch(int argc, char **argv); /* prefetch.c */

#endif
