/* cli/cargo_config.c — `cratecast cargo-config [--write|--remove]`: the Cargo
 * config snippet that points crates.io at the agent, printed, added to or
 * removed from the config file Cargo reads in CARGO_HOME; and that file's
 * reading and atomic writing, which `cratecast setup` shares (cli/cargo_config.h). */
#include "cli/cargo_config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/commands.h"
#include "cli/files.h"
#include "cli/options.h"
#include "proto/alloc.h"
#include "proto/cargo_config_edit.h"

int cli_cargo_config_url(const char *listen, char *url, size_t sz)
{
    struct sockaddr_storage ss;
    if (listen == NULL || agent_parse_addr(listen, &ss) < 0)
        return -EINVAL;
    const char *host = listen;
    char fixed[80];
    if (strncmp(listen, "0.0.0.0:", 8) == 0) {
        snprintf(fixed, sizeof fixed, "127.0.0.1:%s", listen + 8);
        host = fixed;
    } else if (strncmp(listen, "[::]:", 5) == 0) {
        snprintf(fixed, sizeof fixed, "[::1]:%s", listen + 5);
        host = fixed;
    }
    int n = snprintf(url, sz, "sparse+http://%s/index/", host);
    return n < 0 || (size_t)n >= sz ? -EINVAL : 0;
}

void cli_cargo_config_path(const char *home, char *path, size_t sz, bool *exists)
{
    /* the legacy name first: when it exists, it is the file Cargo reads */
    static const char *const names[] = {"config", "config.toml"};
    struct stat st;
    *exists = false;
    for (size_t i = 0; i < 2 && !*exists; i++) {
        snprintf(path, sz, "%s/%s", home, names[i]);
        *exists = lstat(path, &st) == 0;
    }
}

/* The whole file, NUL-terminated (cc_malloc'd), at most PROTO_CARGO_CONFIG_MAX
 * bytes; *mode its permission bits. 0, or a negative errno (-EFBIG: too big,
 * -EISDIR: not a regular file). */
static int read_file(const char *path, uint8_t **out, size_t *len, unsigned *mode)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    uint8_t *buf = NULL;
    size_t n = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EISDIR;
        goto out;
    }
    if (st.st_size > (off_t)PROTO_CARGO_CONFIG_MAX) {
        rc = -EFBIG;
        goto out;
    }
    *mode = st.st_mode & 07777;
    if ((buf = cc_malloc((size_t)st.st_size + 1)) == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : -EIO; /* shrank while read */
            goto out;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

/* The refusal: one error line, then help: what to put in the file by hand. */
static void print_refusal(const char *path, const char *url, int rc,
                          const struct proto_cargo_config_edit *e, const uint8_t *buf, size_t len)
{
    cli_error("cannot edit %s safely: %s; nothing was changed", path, e->reason);
    if (rc == -EEXIST) {
        char other[PROTO_CARGO_CONFIG_EDIT_URL_MAX + 1];
        if (proto_cargo_config_crates_io_replacement(buf, len, other, sizeof other, NULL) == 0 &&
            strcmp(other, url) != 0)
            cli_hint("that replacement leads to %s; to keep using it, run the agent with "
                     "`--upstream %s`",
                     other, other);
    }
    if (url == NULL)
        return;
    char snip[PROTO_CARGO_CONFIG_EDIT_URL_MAX + 128];
    if (proto_cargo_config_edit_snippet(url, snip, sizeof snip) < 0)
        return;
    cli_hint("to use cratecast, make %s say this (in place of any other [source.crates-io] "
             "replacement):",
             path);
    /* the snippet as help: lines too, indented, so stderr stays error: + help: only */
    for (const char *line = snip; *line;) {
        size_t n = strcspn(line, "\n");
        cli_hint("    %.*s", (int)n, line);
        line += n + (line[n] == '\n');
    }
}

enum cli_cargo_config_result cli_cargo_config_apply(const char *home, const char *url, bool remove,
                                                    bool dry_run, const char *indent)
{
    char path[PATH_MAX], real[PATH_MAX];
    bool exists;
    uint8_t *buf = NULL;
    size_t len = 0;
    unsigned mode = 0644;
    struct proto_cargo_config_edit e = {0};
    enum cli_cargo_config_result res = CLI_CARGO_CONFIG_REFUSED;
    int rc;

    cli_cargo_config_path(home, path, sizeof path, &exists);
    if (exists) {
        /* a symbolic link (dotfiles): edit the file it names, keep the link */
        if (realpath(path, real) == NULL) {
            cli_error("cannot read %s: %s", path, strerror(errno));
            return res;
        }
        if ((rc = read_file(real, &buf, &len, &mode)) < 0) {
            cli_error("cannot read %s: %s", real,
                      rc == -EFBIG ? "larger than a Cargo config can be" : strerror(-rc));
            return res;
        }
    } else {
        snprintf(real, sizeof real, "%s", path);
    }

    if (remove) {
        if (!exists) {
            printf("%s%s: no such file, nothing to undo\n", indent, path);
            return CLI_CARGO_CONFIG_UNCHANGED;
        }
        rc = proto_cargo_config_edit_remove(buf, len, &e);
    } else {
        rc = proto_cargo_config_edit_add(buf, len, exists, url, &e);
    }
    if (rc == -EALREADY || rc == -ENOENT) {
        printf("%s%s: %s%s\n", indent, path, e.reason, rc == -ENOENT ? ", nothing to undo" : "");
        res = CLI_CARGO_CONFIG_UNCHANGED;
        goto out;
    }
    if (rc < 0) {
        print_refusal(path, remove ? NULL : url, rc, &e, buf, len);
        goto out;
    }

    const char *verb =
        remove ? (e.remove_file ? "removed the file (setup had created it)"
                                : "took out the block cratecast setup added")
               : (exists ? "added the cratecast source" : "created it with the cratecast source");
    if (dry_run) {
        const char *would =
            remove ? (e.remove_file ? "remove the file (setup had created it)"
                                    : "take out the block cratecast setup added")
                   : (exists ? "add the cratecast source" : "create it with the cratecast source");
        printf("%s%s: would %s\n", indent, path, would);
        res = CLI_CARGO_CONFIG_CHANGED;
        goto out;
    }
    if (!remove && !exists && mkdir(home, 0755) < 0 && errno != EEXIST) {
        cli_error("cannot create %s: %s", home, strerror(errno));
        goto out;
    }
    if (e.remove_file) {
        rc = unlink(real) < 0 ? -errno : cli_sync_dir_of(real);
    } else {
        rc = cli_write_file_atomic(real, e.text, e.len, mode);
    }
    if (rc < 0) {
        cli_error("cannot write %s: %s; it was left as it was", real, strerror(-rc));
        goto out;
    }
    if (remove)
        printf("%s%s: %s\n", indent, path, verb);
    else
        printf("%s%s: %s (crates-io -> %s)\n", indent, path, verb, url);
    size_t pl = strlen(path);
    if (!remove && pl >= 7 && strcmp(path + pl - 7, "/config") == 0)
        printf("%s(Cargo reads the legacy name `config` while it exists, so that file was "
               "edited; config.toml was not created)\n",
               indent);
    res = CLI_CARGO_CONFIG_CHANGED;
out:
    proto_cargo_config_edit_free(&e);
    free(buf);
    return res;
}

enum { OPT_WRITE = 1, OPT_REMOVE, OPT_DRY_RUN, OPT_LISTEN, OPT_CARGO_HOME };

static const struct cli_option options[] = {
    {OPT_WRITE, "--write", NULL,
     "add the snippet, as a marked block, to the config file Cargo reads in the Cargo home "
     "instead of printing it",
     NULL, 0},
    {OPT_REMOVE, "--remove", NULL, "take that block out again", NULL, 0},
    {OPT_DRY_RUN, "--dry-run", NULL,
     "with --write or --remove: say what would change, change nothing", NULL, 0},
    {OPT_LISTEN, "--listen", "ADDR:PORT", "the agent's Cargo side, as given to `cratecast agent`",
     AGENT_DEFAULT_LISTEN, 0},
    {OPT_CARGO_HOME, "--cargo-home", "DIR", "the Cargo home --write and --remove edit",
     "$CARGO_HOME, else ~/.cargo", 0},
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_cargo_config = {
    "cargo-config",
    "the Cargo config snippet for the agent (--write / --remove: edit Cargo's config)",
    "Prints the lines of Cargo configuration that replace crates-io with the agent. --write adds\n"
    "them, as a marked block, to the file Cargo reads in the Cargo home (`config` if it exists,\n"
    "else `config.toml`; a symbolic link is followed), written to a temporary file, synced and\n"
    "renamed; --remove takes that block out again. A file that cannot be edited safely (crates-io\n"
    "already replaced by another source, an inline `source` table, not valid TOML) is left alone:\n"
    "the reason and the lines to add by hand are printed, exit 1. `cratecast setup` does the same\n"
    "and also installs the systemd user units.\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    bool write = false, remove = false, dry_run = false;
    const char *listen = AGENT_DEFAULT_LISTEN, *home = NULL, *v;
    struct cli_parser p;
    int id;
    cli_parser_init(&p, &cmd_cargo_config, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        if (id == CLI_STOP)
            return p.status;
        if (id == OPT_WRITE)
            write = true;
        else if (id == OPT_REMOVE)
            remove = true;
        else if (id == OPT_DRY_RUN)
            dry_run = true;
        else if (id == OPT_LISTEN)
            listen = v;
        else if (id == OPT_CARGO_HOME)
            home = v;
    }
    if (write && remove)
        return cli_usage_error(&cmd_cargo_config, "--write or --remove, not both");
    char url[160], text[PROTO_CARGO_CONFIG_EDIT_URL_MAX + 128];
    if (cli_cargo_config_url(listen, url, sizeof url) < 0)
        return cli_usage_error(&cmd_cargo_config,
                               "--listen %s: expected ADDR:PORT, e.g. 127.0.0.1:7878", listen);
    if (!write && !remove) {
        proto_cargo_config_edit_snippet(url, text, sizeof text);
        fputs(text, stdout);
        return 0;
    }
    char *h = home ? cc_strdup(home) : agent_default_cargo_home();
    if (h == NULL) {
        cli_error("neither CARGO_HOME nor HOME is set");
        cli_hint("name the Cargo home with --cargo-home DIR");
        return 2;
    }
    enum cli_cargo_config_result r = cli_cargo_config_apply(h, url, remove, dry_run, "");
    free(h);
    return r == CLI_CARGO_CONFIG_REFUSED ? 1 : 0;
}
