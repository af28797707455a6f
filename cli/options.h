/* cli/options.h — every command's options, written once.
 *
 * Each command (cli/<command>.c) describes itself in one struct cli_command:
 * a summary, a paragraph, and a table of its options and arguments with their
 * meaning and default. The same table parses argv (cli_next), prints
 * `cratecast CMD --help` and `cratecast help CMD` (cli_help), names the
 * option in a usage error, and makes the man page (`cratecast help --man`,
 * scripts/gen-man.sh). Nothing else restates an option's meaning.
 *
 * Messages: a usage error is "error: ..." then "help: ..." lines on stderr and
 * exit status 2; --help prints on stdout and exits 0.
 */
#ifndef CRATECAST_CLI_OPTIONS_H
#define CRATECAST_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "agent/agent.h"
#include "proto/options.h"

/* cli_option.flags */
#define CLI_REPEAT 1u   /* may be given more than once (values accumulate) */
#define CLI_REQUIRED 2u /* an argument (not an option) that must be given */

/* One row of a command's table. An option's name starts with "--"; a
 * positional argument's is its placeholder ("PATH", "CRATE"). The table ends
 * with a row whose name is NULL. */
struct cli_option {
    int id;            /* > 0, returned by cli_next; 0 for an argument */
    const char *name;  /* "--listen", or "PATH" for an argument */
    const char *value; /* the value's placeholder ("ADDR:PORT"); NULL: a flag */
    const char *help;  /* what it means: one sentence, no final period */
    const char *dflt;  /* the default, as the user would write it; NULL: none */
    unsigned flags;    /* CLI_REPEAT, CLI_REQUIRED */
};

struct cli_command {
    const char *name;    /* "agent" */
    const char *summary; /* one line for `cratecast --help` and the man page */
    const char *about;   /* paragraphs (lines end with '\n'); NULL when the summary says it all */
    const struct cli_option *options;
    int (*run)(int argc, char **argv); /* the arguments after the command's name; exit status */
};

/* Iterating over one command's argv. Stack-allocated; holds no memory. */
struct cli_parser {
    const struct cli_command *cmd;
    int argc;
    char **argv;
    int i;                        /* next argv index */
    unsigned nargs;               /* positional arguments returned so far */
    bool only_args;               /* after "--" */
    const struct cli_option *opt; /* the row cli_next matched last */
    int status;                   /* after CLI_STOP: the exit status to return */
};

#define CLI_ARG 0   /* a positional argument: *value */
#define CLI_END -1  /* every argument read (and every CLI_REQUIRED one was there) */
#define CLI_STOP -2 /* --help printed (status 0) or a usage error printed (status 2) */

void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd, int argc, char **argv);

/* The next argument: an option's id (> 0) with *value its value (NULL for a
 * flag), CLI_ARG with *value the word, CLI_END, or CLI_STOP: return p->status.
 * Understands --name VALUE, --name=VALUE, -h/--help and "--". */
int cli_next(struct cli_parser *p, const char **value);

/* A usage error found by the command itself: "error: <fmt>" and a help: line
 * pointing at `cratecast CMD --help`, on stderr. Returns 2 (the exit status). */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An error the command cannot get past: "error: <fmt>" on stderr. Returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A "help: <fmt>" line on stderr, after cli_error or cli_usage_error. */
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* `cratecast CMD --help`, from the command's table. */
void cli_help(const struct cli_command *cmd, FILE *f);
/* "Usage: cratecast CMD [OPTIONS] ARGS" (one line, no newline added by the caller). */
void cli_usage_line(const struct cli_command *cmd, FILE *f);
/* The command's section of the man page (roff): synopsis, about, options. */
void cli_help_roff(const struct cli_command *cmd, FILE *f);

/* The store directory: given (copied), else agent_default_store_dir(). malloc'd;
 * NULL after printing why (neither XDG_CACHE_HOME nor HOME set, out of memory). */
char *cli_store_dir(const char *given);

struct store;
/* For a command whose only option is --store DIR (its table's id 1): parse
 * argv, open the store (an error reported as the agent reports it: one line,
 * help: lines). 0 with *s open and *dir malloc'd (the caller closes and frees
 * both); otherwise *s is NULL and the return value is the exit status: 0 after
 * --help, 2 for a bad argument, 1 when the store cannot be opened. */
int cli_open_store(const struct cli_command *cmd, int argc, char **argv, char **dir,
                   struct store **s);

/* The --store row every store command shares. */
#define CLI_OPTION_STORE(id)                                                                       \
    {                                                                                              \
        (id), "--store", "DIR", "the store's directory",                                           \
            "$XDG_CACHE_HOME/cratecast, else ~/.cache/cratecast", 0                                \
    }
/* The --agent row of the commands that ask a running agent. */
#define CLI_OPTION_AGENT(id)                                                                       \
    {                                                                                              \
        (id), "--agent", "URL", "the running agent to ask", "http://" AGENT_DEFAULT_LISTEN, 0      \
    }

/* Read and parse the --config file at path (the agent's options, proto/options.h),
 * calling cb per setting. 0, or -EINVAL after printing why (a file that cannot be
 * read, a syntax error with its line, or what cb refused). */
int cli_config_parse(const char *path, proto_options_cb cb, void *ud);

#endif
