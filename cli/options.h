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

#endif
