/* cli/options.h — option parsing shared by the commands. */
#ifndef CRATECAST_CLI_OPTIONS_H
#define CRATECAST_CLI_OPTIONS_H

/* argv[*i] is NAME VALUE or NAME=VALUE: the value (argv's memory; *i moves past
 * it), NULL when argv[*i] is another option. NAME with no value left: an error
 * on stderr and exit(2). */
const char *cli_opt_value(int argc, char **argv, int *i, const char *name);

/* The store directory: given (copied), else agent_default_store_dir(). malloc'd;
 * NULL after printing why (neither XDG_CACHE_HOME nor HOME set, out of memory). */
char *cli_store_dir(const char *given);

struct store;
/* For a command whose only option is --store DIR: parse argv, open the store
 * (an error reported as the agent reports it: one line, help: lines). 0 with
 * *s open and *dir malloc'd (the caller closes and frees both), or the exit
 * status to return: 2 for a bad argument, 1 when the store cannot be opened. */
int cli_open_store(const char *cmd, int argc, char **argv, char **dir, struct store **s);

#endif
