/* cli/cargo_config.c — `cratecast cargo-config`: the Cargo config snippet that
 * points crates.io at the agent, printed or appended (--write) to
 * CARGO_HOME/config.toml (written to a temporary file, synced, renamed). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "proto/alloc.h"

static int snippet(const char *listen, char *out, size_t outsz)
{
    char host[160];
    if (strncmp(listen, "0.0.0.0:", 8) == 0)
        snprintf(host, sizeof host, "127.0.0.1:%s", listen + 8);
    else
        snprintf(host, sizeof host, "%s", listen);
    return snprintf(out, outsz,
                    "[source.crates-io]\n"
                    "replace-with = \"cratecast\"\n"
                    "\n"
                    "[source.cratecast]\n"
                    "registry = \"sparse+http://%s/index/\"\n",
                    host);
}

static int write_config(const char *home, const char *text)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/config.toml", home);
    snprintf(tmp, sizeof tmp, "%s/.config.toml.cratecast-%ld", home, (long)getpid());
    char *old = NULL;
    size_t oldlen = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (n < 0 || n > (1 << 20)) {
            fclose(f);
            cli_error("%s is too large to edit (over 1 MiB)", path);
            return 1;
        }
        old = cc_malloc((size_t)n + 1);
        oldlen = old ? fread(old, 1, (size_t)n, f) : 0;
        fclose(f);
        if (old == NULL)
            return 1;
        old[oldlen] = '\0';
        if (strstr(old, "[source.cratecast]")) {
            printf("%s already points Cargo at cratecast\n", path);
            free(old);
            return 0;
        }
        if (strstr(old, "[source.crates-io]")) {
            cli_error("%s already replaces crates-io with another source", path);
            cli_hint("edit it by hand: `cratecast cargo-config` prints the lines to use instead");
            free(old);
            return 1;
        }
    } else if (errno != ENOENT) {
        cli_error("cannot read %s: %s", path, strerror(errno));
        return 1;
    }
    if (mkdir(home, 0755) < 0 && errno != EEXIST) {
        cli_error("cannot create %s: %s", home, strerror(errno));
        free(old);
        return 1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (out == NULL) {
        cli_error("cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(old);
        return 1;
    }
    if (oldlen) {
        fwrite(old, 1, oldlen, out);
        if (old[oldlen - 1] != '\n')
            fputc('\n', out);
        fputc('\n', out);
    }
    fputs(text, out);
    int bad = fflush(out) != 0 || fsync(fileno(out)) != 0;
    bad |= fclose(out) != 0;
    free(old);
    if (bad || rename(tmp, path) < 0) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return 1;
    }
    printf("wrote the cratecast source to %s\n", path);
    return 0;
}

enum { OPT_WRITE = 1, OPT_LISTEN, OPT_CARGO_HOME };

static const struct cli_option options[] = {
    {OPT_WRITE, "--write", NULL,
     "append the snippet to CARGO_HOME/config.toml instead of printing it", NULL, 0},
    {OPT_LISTEN, "--listen", "ADDR:PORT", "the agent's Cargo side, as given to `cratecast agent`",
     AGENT_DEFAULT_LISTEN, 0},
    {OPT_CARGO_HOME, "--cargo-home", "DIR", "the Cargo home --write edits",
     "$CARGO_HOME, else ~/.cargo", 0},
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_cargo_config = {
    "cargo-config",
    "the [source] snippet that points Cargo at the agent (--write: into Cargo's config)",
    "Prints the lines of Cargo configuration that replace crates-io with the agent. With\n"
    "--write, appends them to CARGO_HOME/config.toml (a temporary file, synced, renamed); says\n"
    "so when they are already there, and refuses a file that replaces crates-io with another\n"
    "source. Delete the two sections to stop using the agent.\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    bool write = false;
    const char *listen = AGENT_DEFAULT_LISTEN, *home = NULL, *v;
    struct cli_parser p;
    int id;
    cli_parser_init(&p, &cmd_cargo_config, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        struct sockaddr_storage ss;
        if (id == CLI_STOP)
            return p.status;
        if (id == OPT_WRITE) {
            write = true;
        } else if (id == OPT_LISTEN) {
            if (agent_parse_addr(v, &ss) < 0)
                return cli_usage_error(&cmd_cargo_config,
                                       "--listen %s: expected ADDR:PORT, e.g. 127.0.0.1:7878", v);
            listen = v;
        } else if (id == OPT_CARGO_HOME) {
            home = v;
        }
    }
    char text[512];
    snippet(listen, text, sizeof text);
    if (!write) {
        fputs(text, stdout);
        return 0;
    }
    char *h = home ? cc_strdup(home) : agent_default_cargo_home();
    if (h == NULL) {
        cli_error("neither CARGO_HOME nor HOME is set");
        cli_hint("name the Cargo home with --cargo-home DIR");
        return 2;
    }
    int rc = write_config(h, text);
    free(h);
    return rc;
}
