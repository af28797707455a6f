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
            fprintf(stderr, "cratecast: %s is too large to edit\n", path);
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
            fprintf(stderr,
                    "cratecast: %s already replaces crates-io with another source; edit it by "
                    "hand (see `cratecast cargo-config`)\n",
                    path);
            free(old);
            return 1;
        }
    } else if (errno != ENOENT) {
        fprintf(stderr, "cratecast: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (mkdir(home, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "cratecast: cannot create %s: %s\n", home, strerror(errno));
        free(old);
        return 1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (out == NULL) {
        fprintf(stderr, "cratecast: cannot write %s: %s\n", tmp, strerror(errno));
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
        fprintf(stderr, "cratecast: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return 1;
    }
    printf("wrote the cratecast source to %s\n", path);
    return 0;
}

int cmd_cargo_config(int argc, char **argv)
{
    bool write = false;
    const char *listen = AGENT_DEFAULT_LISTEN, *home = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v;
        struct sockaddr_storage ss;
        if (strcmp(argv[i], "--write") == 0)
            write = true;
        else if ((v = cli_opt_value(argc, argv, &i, "--listen")) != NULL) {
            if (agent_parse_addr(v, &ss) < 0) {
                fprintf(stderr, "cratecast: cargo-config: --listen %s: expected ADDR:PORT\n", v);
                return 2;
            }
            listen = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--cargo-home")) != NULL)
            home = v;
        else {
            fprintf(stderr, "cratecast: cargo-config: unknown argument '%s'\n", argv[i]);
            return 2;
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
        fprintf(stderr, "cratecast: neither CARGO_HOME nor HOME is set\n");
        return 2;
    }
    int rc = write_config(h, text);
    free(h);
    return rc;
}
