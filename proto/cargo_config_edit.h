/* proto/cargo_config_edit.h — adding cratecast's source replacement to a
 * Cargo config file, and taking exactly that out again (`cratecast setup`,
 * `cratecast setup --undo`, `cratecast cargo-config --write|--remove`).
 *
 * What is added is one marked block, always at the end of the file:
 *
 *   <one blank line, when the file had content>
 *   # added by cratecast setup; `cratecast setup --undo` removes this block
 *   [source.crates-io]
 *   replace-with = "cratecast"
 *
 *   [source.cratecast]
 *   registry = "sparse+http://127.0.0.1:7878/index/"
 *   # end of what cratecast setup added
 *
 * Two other first lines record what else was added, so that removal gives
 * the original bytes back: "..., with the line break before it; ..." when
 * the file's last line had no line break (one was added to it), and "...,
 * which created this file; ..." when there was no file. The block's lines end
 * as the file's first line does (LF or CRLF). Everything else in the file —
 * comments, unknown tables, whitespace, a byte-order mark — is kept byte for
 * byte.
 *
 * When adding is not safe, nothing is produced and out->reason says why:
 *   - the file is not valid TOML (Cargo would not read it either);
 *   - crates-io is already replaced (table, dotted key or inline table form)
 *     by something else: refused, not overridden. That replacement may be the
 *     mirror this machine must use, and the agent should use it as its
 *     --upstream instead; cratecast does not decide that for the user;
 *   - a source named "cratecast" is already defined (not by setup);
 *   - `source` is an inline table (source = { ... }), a value or an array of
 *     tables: TOML does not let a [source.x] header extend those.
 * A file whose crates-io already resolves to exactly the URL wanted (by
 * setup's block or by hand) needs nothing: -EALREADY. Setup's own block with
 * another URL is replaced (the block is taken out and added again).
 *
 * Pure: no I/O. Ownership: out->text is allocated with cc_malloc and belongs
 * to the caller (proto_cargo_config_edit_free); nothing else outlives a call.
 */
#ifndef CRATECAST_PROTO_CARGO_CONFIG_EDIT_H
#define CRATECAST_PROTO_CARGO_CONFIG_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/cargo_config.h"

#define PROTO_CARGO_CONFIG_EDIT_URL_MAX 1024
#define PROTO_CARGO_CONFIG_EDIT_REASON_MAX 512

/* The marker lines (without their line end). */
#define PROTO_CARGO_CONFIG_EDIT_BEGIN                                                              \
    "# added by cratecast setup; `cratecast setup --undo` removes this block"
#define PROTO_CARGO_CONFIG_EDIT_BEGIN_NL                                                           \
    "# added by cratecast setup, with the line break before it; `cratecast setup --undo` "         \
    "removes both"
#define PROTO_CARGO_CONFIG_EDIT_BEGIN_CREATED                                                      \
    "# added by cratecast setup, which created this file; `cratecast setup --undo` removes it"
#define PROTO_CARGO_CONFIG_EDIT_END "# end of what cratecast setup added"

struct proto_cargo_config_edit {
    uint8_t *text; /* the new file (cc_malloc'd, len bytes, NUL after them); NULL: none */
    size_t len;
    bool remove_file; /* remove: setup created the file and nothing else is in it */
    unsigned line;    /* a refusal's line in the input; 0 when no line applies */
    char reason[PROTO_CARGO_CONFIG_EDIT_REASON_MAX]; /* why not, or why nothing to do */
};

/* The snippet cratecast adds, without markers, LF line ends:
 * [source.crates-io] replace-with = "cratecast" and [source.cratecast]
 * registry = url. Returns its length (snprintf's, so >= sz means cut), or
 * -EINVAL for a url that is empty, longer than PROTO_CARGO_CONFIG_EDIT_URL_MAX
 * or holds a character it cannot be written with in a TOML basic string
 * (", \, control characters). */
int proto_cargo_config_edit_snippet(const char *url, char *out, size_t sz);

/* Add the replacement of crates-io by url to the file buf/len (exists false:
 * there is no file, buf may be NULL and len is 0).
 * Returns 0 with out->text the new file; otherwise out->text is NULL and
 * out->reason one sentence (no final period):
 *   -EALREADY  crates-io already resolves to url; nothing to change;
 *   -EEXIST    crates-io is replaced by something else, or a source
 *              "cratecast" exists that setup did not add (out->line);
 *   -ENOTSUP   `source` has a form a table cannot extend (out->line);
 *   -EBADMSG   not TOML (out->line), or setup's markers were edited;
 *   -EINVAL    a url the snippet cannot hold;
 *   -EMSGSIZE  len > PROTO_CARGO_CONFIG_MAX;
 *   -ENOMEM. */
int proto_cargo_config_edit_add(const uint8_t *buf, size_t len, bool exists, const char *url,
                                struct proto_cargo_config_edit *out);

/* Take setup's block out of buf/len, with what it added around it.
 * Returns 0 with out->text the file as it was (possibly 0 bytes) and
 * out->remove_file set when setup had created the file and nothing else was
 * added since; -ENOENT when there is no block of setup's; -EBADMSG when its
 * markers were edited (a begin without an end, or a second block: out->line
 * and reason); -EMSGSIZE; -ENOMEM. The TOML is not parsed: what is outside
 * the block is given back as it is. */
int proto_cargo_config_edit_remove(const uint8_t *buf, size_t len,
                                   struct proto_cargo_config_edit *out);

/* Frees out->text; out may be NULL. */
void proto_cargo_config_edit_free(struct proto_cargo_config_edit *out);

#endif
