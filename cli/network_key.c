/* cli/network_key.c — `cratecast network-key new [FILE]`: a fresh key for a
 * private mesh (proto/mesh.h), and the one way the agent reads a key file
 * (cli_network_key_load: mode 0600 enforced, the printable form checked). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/commands.h"
#include "cli/network_key.h"
#include "cli/options.h"
#include "proto/mesh.h"

int cli_network_key_load(const char *path, uint8_t key[PROTO_MESH_KEY_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        cli_error("--network-key %s: %s", path,
                  errno == ELOOP ? "is a symbolic link (name the key file itself)"
                                 : strerror(errno));
        return -EINVAL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        cli_error("--network-key %s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    if (st.st_mode & 077) {
        cli_error("--network-key %s: readable by others (mode %04o): a network key must be "
                  "private",
                  path, (unsigned)(st.st_mode & 07777));
        cli_hint("run: chmod 600 %s (and give the key to your own machines only)", path);
        close(fd);
        return -EPERM;
    }
    char text[PROTO_MESH_KEY_TEXT_MAX * 2];
    ssize_t n = read(fd, text, sizeof text);
    close(fd);
    if (n < 0 || (size_t)n == sizeof text) {
        cli_error("--network-key %s: %s", path, n < 0 ? strerror(errno) : "too large for a key");
        return -EINVAL;
    }
    int rc = proto_mesh_key_decode(text, (size_t)n, key);
    sodium_memzero(text, sizeof text);
    if (rc == -EBADMSG) {
        cli_error("--network-key %s: the key's checksum does not match (a typo?)", path);
        cli_hint("copy the key again exactly as `cratecast network-key new` printed it");
        return -EINVAL;
    }
    if (rc < 0) {
        cli_error("--network-key %s: not a network key (expected ccnk1-... as made by "
                  "`cratecast network-key new`)",
                  path);
        return -EINVAL;
    }
    return 0;
}

static const struct cli_option options[] = {
    {0, "ACTION", NULL, "what to do: new (make a key)", NULL, CLI_REQUIRED},
    {0, "FILE", NULL,
     "also write the key to FILE, created with mode 0600 (an existing file is not overwritten)",
     NULL, 0},
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_network_key = {
    "network-key",
    "a key for a private mesh (--network-key)",
    "`network-key new` makes a random 256-bit key and prints it in a printable form with a\n"
    "checksum (a mistyped character is caught), and its key id (what the mDNS record shows).\n"
    "Give the file to every machine of the team and start their agents with\n"
    "--network-key FILE: they then share only with each other, and what they send each other\n"
    "is encrypted. The key file must be readable by its owner only (mode 0600).\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    const char *action = NULL, *file = NULL, *v;
    struct cli_parser p;
    int id;
    cli_parser_init(&p, &cmd_network_key, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        if (id == CLI_STOP)
            return p.status;
        if (action == NULL)
            action = v;
        else
            file = v;
    }
    if (strcmp(action, "new") != 0)
        return cli_usage_error(&cmd_network_key, "unknown action '%s' (expected new)", action);
    uint8_t key[PROTO_MESH_KEY_LEN];
    char text[PROTO_MESH_KEY_TEXT_MAX];
    proto_mesh_key_new(key);
    size_t len = proto_mesh_key_encode(key, text);
    struct proto_mesh_key k;
    proto_mesh_key_init(&k, key);
    int rc = 0;
    if (file != NULL) {
        int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            cli_error("cannot create %s: %s", file, strerror(errno));
            if (errno == EEXIST)
                cli_hint("a key file is never overwritten: choose another name, or remove it");
            rc = 1;
        } else {
            text[len] = '\n';
            ssize_t w = write(fd, text, len + 1);
            text[len] = '\0';
            if (w != (ssize_t)len + 1 || fsync(fd) < 0 || close(fd) < 0) {
                cli_error("cannot write %s: %s", file, strerror(errno ? errno : EIO));
                unlink(file);
                rc = 1;
            }
        }
    }
    if (rc == 0) {
        printf("%s\n", text);
        if (file)
            fprintf(stderr, "wrote the key to %s (mode 0600); key id %s\n", file, k.id);
        else
            fprintf(stderr, "key id %s; keep the key secret: it admits a machine to the mesh\n",
                    k.id);
    }
    sodium_memzero(key, sizeof key);
    sodium_memzero(text, sizeof text);
    sodium_memzero(&k, sizeof k);
    return rc;
}
