/* cli/cargo_config.h — the Cargo config file cratecast edits, shared by
 * `cratecast cargo-config --write|--remove` and `cratecast setup [--undo]`.
 *
 * The file is the one Cargo reads in CARGO_HOME: `config` when it exists (the
 * legacy name, which Cargo prefers when both exist), else `config.toml`. A
 * symbolic link is followed and the file it names is edited. What is added or
 * removed is decided by proto/cargo_config_edit.h; this writes it: to a
 * temporary file beside it, with the file's permission bits, synced, renamed
 * over it, and the directory synced. A refusal changes nothing.
 */
#ifndef CRATECAST_CLI_CARGO_CONFIG_H
#define CRATECAST_CLI_CARGO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* "sparse+http://HOST:PORT/index/" for the agent's --listen address (0.0.0.0
 * is reached as 127.0.0.1, [::] as [::1]). 0, or -EINVAL for a bad address. */
int cli_cargo_config_url(const char *listen, char *url, size_t sz);

/* The config file in home Cargo reads (see above): path set, *exists. */
void cli_cargo_config_path(const char *home, char *path, size_t sz, bool *exists);

enum cli_cargo_config_result {
    CLI_CARGO_CONFIG_CHANGED,   /* written (or, dry_run, would be) */
    CLI_CARGO_CONFIG_UNCHANGED, /* nothing to do */
    CLI_CARGO_CONFIG_REFUSED,   /* not safe, or an I/O error: said on stderr, nothing written */
};

/* Adds (remove false) or removes (remove true) cratecast's block in home's
 * config file for url (unused when removing). Prints one line saying what was
 * done, or would be with dry_run, to stdout, prefixed with indent; a refusal
 * is an "error: ..." line on stderr (cli_error) with help: lines (the snippet
 * to add by hand, when adding). home is created when adding needs it. */
enum cli_cargo_config_result cli_cargo_config_apply(const char *home, const char *url, bool remove,
                                                    bool dry_run, const char *indent);

#endif
