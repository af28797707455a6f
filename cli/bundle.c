/* cli/bundle.c — `cratecast bundle export|import`: the command line (the work
 * is in cli/bundle_export.c and cli/bundle_import.c; see cli/bundle.h). */
#include <stdlib.h>
#include <string.h>

#include "cli/bundle.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "proto/alloc.h"
#include "proto/peer.h"

enum { OPT_LOCK = 1, OPT_ALL, OPT_PARTIAL, OPT_FORMAT, OPT_STORE, OPT_TRUST, OPT_TRUST_KEY };

static const struct cli_option options[] = {
    {0, "ACTION", NULL, "export (write a bundle from the store) or import (read one into it)", NULL,
     CLI_REQUIRED},
    {0, "FILE", NULL,
     "the bundle file (- for standard output or input); with --format local-registry, a directory",
     NULL, CLI_REQUIRED},
    {OPT_LOCK, "--lock", "PATH",
     "export: the crates this Cargo.lock (or project directory) needs, for every target", ".",
     CLI_REPEAT},
    {OPT_ALL, "--all", NULL, "export: every crate in the store, with every index entry", NULL, 0},
    {OPT_PARTIAL, "--partial", NULL,
     "export: write what the store holds even when some locked crates are missing (listed)", NULL,
     0},
    {OPT_FORMAT, "--format", "bundle|local-registry",
     "export: a signed bundle file, or a directory plain Cargo uses as a local-registry source",
     "bundle", 0},
    CLI_OPTION_STORE(OPT_STORE),
    {OPT_TRUST, "--trust", "open|keys",
     "import: accept a bundle signed by any key (open), or only by the --trust-key keys and this "
     "store's own (keys)",
     "open, or keys when --trust-key is given", 0},
    {OPT_TRUST_KEY, "--trust-key", "KEY",
     "import: a trusted signer's public key, as `cratecast id` prints it on that machine", NULL,
     CLI_REPEAT},
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_bundle = {
    "bundle",
    "carry crates on a USB stick: export a signed bundle, import one",
    "`bundle export FILE` writes the index entries and the .crate files that the Cargo.locks\n"
    "named by --lock need (every target's, default: the project in the current directory),\n"
    "or with --all the whole store, into one zstd-compressed file signed by this store's key.\n"
    "When the store lacks some of them, they are listed and nothing is written (exit 1) unless\n"
    "--partial is given. With --format local-registry, FILE is a directory that plain Cargo can\n"
    "use as a local-registry source on a machine without cratecast.\n"
    "`bundle import FILE` checks the signature and the signer against the trust policy, takes\n"
    "in index entries by the same rules as from a peer (one that contradicts an entry already\n"
    "held is rejected and reported), and stores each crate only when its SHA-256 equals a\n"
    "trusted index entry's checksum. A damaged or truncated bundle is read up to the damage:\n"
    "what came before was verified and is kept, nothing after it is stored (exit 1).\n"
    "Importing a bundle again changes nothing. Both are safe while an agent runs on the store;\n"
    "the agent serves and announces imported crates within seconds. On a terminal, a progress\n"
    "bar (crates, bytes, rate); then one summary line. The format: docs/bundle.md.\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    struct bundle_export_opts ex = {.format = BUNDLE_FORMAT_BUNDLE};
    struct bundle_import_opts im = {0};
    const char *action = NULL, *file = NULL, *store = NULL, *v;
    bool export_only = false, import_only = false, trust_given = false, trust_keys = false;
    char **locks = NULL;
    size_t nlocks = 0, nkeys = 0;
    uint8_t(*keys)[PROTO_PK_LEN] = NULL;
    int status = 0;
    struct cli_parser p;
    int id;

    cli_parser_init(&p, &cmd_bundle, argc, argv);
    while (status == 0 && (id = cli_next(&p, &v)) != CLI_END) {
        switch (id) {
        case CLI_STOP:
            status = p.status ? p.status : -1;
            break;
        case CLI_ARG:
            if (action == NULL)
                action = v;
            else
                file = v;
            break;
        case OPT_LOCK: {
            char **n = cc_realloc(locks, (nlocks + 1) * sizeof *locks);
            if (n == NULL) {
                status = cli_error("out of memory");
                break;
            }
            locks = n;
            locks[nlocks++] = (char *)v;
            export_only = true;
            break;
        }
        case OPT_ALL:
            ex.all = true;
            export_only = true;
            break;
        case OPT_PARTIAL:
            ex.partial = true;
            export_only = true;
            break;
        case OPT_FORMAT:
            export_only = true;
            if (strcmp(v, "bundle") == 0)
                ex.format = BUNDLE_FORMAT_BUNDLE;
            else if (strcmp(v, "local-registry") == 0)
                ex.format = BUNDLE_FORMAT_LOCAL_REGISTRY;
            else
                status = cli_usage_error(&cmd_bundle,
                                         "--format %s: expected bundle or local-registry", v);
            break;
        case OPT_STORE:
            store = v;
            break;
        case OPT_TRUST:
            import_only = true;
            trust_given = true;
            if (strcmp(v, "open") == 0)
                trust_keys = false;
            else if (strcmp(v, "keys") == 0)
                trust_keys = true;
            else
                status = cli_usage_error(&cmd_bundle, "--trust %s: expected open or keys", v);
            break;
        case OPT_TRUST_KEY: {
            import_only = true;
            uint8_t(*n)[PROTO_PK_LEN] = cc_realloc(keys, (nkeys + 1) * sizeof *keys);
            if (n == NULL) {
                status = cli_error("out of memory");
                break;
            }
            keys = n;
            if (proto_key_decode(v, strlen(v), keys[nkeys]) < 0)
                status = cli_usage_error(
                    &cmd_bundle,
                    "--trust-key %.64s: expected a public key as printed by `cratecast id`", v);
            nkeys++;
            break;
        }
        }
    }
    if (status == 0) {
        bool is_export = strcmp(action, "export") == 0, is_import = strcmp(action, "import") == 0;
        if (!is_export && !is_import)
            status = cli_usage_error(&cmd_bundle, "unknown action '%s': expected export or import",
                                     action);
        else if (is_export && import_only)
            status =
                cli_usage_error(&cmd_bundle, "--trust and --trust-key are for `bundle import`");
        else if (is_import && export_only)
            status = cli_usage_error(
                &cmd_bundle, "--lock, --all, --partial and --format are for `bundle export`");
        else if (ex.all && nlocks > 0)
            status = cli_usage_error(&cmd_bundle, "--all and --lock: give one or the other");
        else if (trust_given && !trust_keys && nkeys > 0)
            status = cli_usage_error(&cmd_bundle,
                                     "--trust open accepts any key: --trust-key would do nothing");
        else if (trust_given && trust_keys && nkeys == 0)
            status = cli_usage_error(&cmd_bundle, "--trust keys needs at least one --trust-key");
        else if (ex.format == BUNDLE_FORMAT_LOCAL_REGISTRY && strcmp(file, "-") == 0)
            status = cli_usage_error(&cmd_bundle,
                                     "--format local-registry writes a directory: name it, not -");
        if (status == 0) {
            char *dir = cli_store_dir(store);
            if (dir == NULL) {
                status = 1;
            } else if (is_export) {
                static char *const here[] = {"."};
                ex.store = dir;
                ex.out = file;
                ex.locks = nlocks ? locks : here;
                ex.nlocks = nlocks ? nlocks : 1;
                status = bundle_export(&ex);
            } else {
                im.store = dir;
                im.file = file;
                im.trust_keys = trust_keys || nkeys > 0;
                im.keys = (const uint8_t(*)[PROTO_PK_LEN])keys;
                im.nkeys = nkeys;
                status = bundle_import(&im);
            }
            free(dir);
        }
    }
    free(locks);
    free(keys);
    return status < 0 ? 0 : status;
}
