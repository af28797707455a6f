/* proto/cargo_config.h — what one Cargo config file (CARGO_HOME/config.toml,
 * .cargo/config.toml) says about crates.io's source replacement, and the host
 * name Cargo gives a registry's cache directory.
 *
 *   [source.crates-io]
 *   replace-with = "cratecast"
 *   [source.cratecast]
 *   registry = "sparse+http://127.0.0.1:7878/index/"
 *
 * Parsed with proto/toml.h, so the table form, dotted keys
 * (source.crates-io.replace-with = "x"), inline tables and quoted keys
 * ([source."crates-io"]) are all the same path source/<name>/<key>. One file
 * only: merging Cargo's config hierarchy is the caller's business. Pure: no
 * I/O, nothing allocated that outlives a call.
 */
#ifndef CRATECAST_PROTO_CARGO_CONFIG_H
#define CRATECAST_PROTO_CARGO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "proto/toml.h"

#define PROTO_CARGO_CONFIG_MAX PROTO_TOML_MAX
#define PROTO_CARGO_CONFIG_HOPS_MAX 8 /* replace-with links followed */

/* Follows replace-with from source crates-io, as Cargo does: a name is a
 * [source.NAME] if one is defined, else a [registries.NAME] (whose index URL
 * ends the chain). Every source after crates-io must have exactly one of
 * registry, local-registry, directory, git; one that also has replace-with is
 * replaced in turn. Sources outside the chain are not looked at.
 *
 * Returns 0 with the final registry URL, exactly as written (decoded from
 * TOML, "sparse+" and all), NUL-terminated in url_out;
 *   -ENOENT       crates-io is not replaced;
 *   -ENOTSUP      the chain ends in a local-registry, directory or git source:
 *                 there is no registry URL to give;
 *   -ELOOP        a name met twice in the chain, or more than
 *                 PROTO_CARGO_CONFIG_HOPS_MAX links (*err_line: the
 *                 replace-with that closes the cycle or is one too many);
 *   -EINVAL       what Cargo refuses: a name that is neither a source nor a
 *                 registry with an index, a source with no location or more
 *                 than one (*err_line: the replace-with naming it, or the
 *                 second location);
 *   -EBADMSG      TOML syntax, or a key of the chain with a non-string value
 *                 or given twice (*err_line);
 *   -ENAMETOOLONG the URL does not fit in url_sz bytes with its NUL;
 *   -EMSGSIZE, -ENOMEM as proto_toml_parse.
 * url_out is "" on any error. err_line may be NULL; it is 0 when no line
 * applies. */
int proto_cargo_config_crates_io_replacement(const uint8_t *buf, size_t len, char *url_out,
                                             size_t url_sz, unsigned *err_line);

/* The host Cargo names a registry's cache directory after (<host>-<hash> under
 * CARGO_HOME/registry/{index,cache,src}): rust-url's host_str() of the URL as
 * written. Checked against cargo 1.95:
 *   "sparse+http://127.0.0.1:7878/index/" -> "127.0.0.1"
 *   "https://index.crates.io/"            -> "index.crates.io"
 *   "sparse+https://[::1]:8080/x/"        -> "[::1]"   (brackets kept, RFC 5952 form)
 *   "sparse+http://User@LOCALHOST:1/x/"   -> "LOCALHOST"
 *   "http://Ex%41mple.COM/x"              -> "example.com"
 *   "file:///srv/index"                   -> ""
 * The scheme includes any "sparse+" or "registry+": such a scheme is not one
 * of the URL standard's special schemes (http, https, ws, wss, ftp, file), so
 * its host is kept as written; a special scheme's host is percent-decoded,
 * lower-cased and, when it ends in a number, read as an IPv4 address
 * (127.1 -> 127.0.0.1). Userinfo, port, path, query and fragment go.
 *
 * Returns the host's length with host NUL-terminated; -EINVAL for what this
 * cannot name exactly: no "scheme://", an empty host where one is needed, a
 * bad port, IPv6 or IPv4 literal, a character no host may hold, a control or
 * non-ASCII character (rust-url would percent-encode or apply IDNA), a special
 * host over 255 bytes; -ENAMETOOLONG when hostsz is too small. host is "" on
 * error. */
int proto_cargo_config_url_host(const char *url, char *host, size_t hostsz);

#endif
