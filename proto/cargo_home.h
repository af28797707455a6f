/* proto/cargo_home.h — which registry directories of a CARGO_HOME hold
 * crates.io's data.
 *
 * Cargo keeps each registry's data under CARGO_HOME/registry/{index,cache,src}/<dir>,
 * where <dir> is "<host>-<16 hex digits>" (the host of the registry's URL and a
 * hash of its source id). crates.io's are:
 *   index.crates.io-<16 hex>         the sparse index (1949cf8c6b5b557f today,
 *                                    6f17d22bba15001f for older Cargos)
 *   github.com-1ecc6299db9ec823      the git index
 * A mirror of crates.io, or a cratecast agent, that the user's Cargo config
 * names as crates.io's replacement caches under its own host's name; and any
 * registry whose cached config.json is crates.io's own is crates.io.
 *
 * The import rule (docs/security.md): a directory is crates.io's when
 *   1. its name is one of crates.io's above, or
 *   2. its cached config.json has crates.io's "dl" (https://static.crates.io/crates
 *      or https://crates.io/api/v1/crates), or
 *   3. its name is "<host>-<16 hex>" where host is that of the URL the user's
 *      Cargo config gives as crates.io's replacement.
 * Everything else (a company's private registry, an alternate registry) is not
 * imported: its crates would reach every peer as if they were crates.io's, and a
 * private name could shadow a public crate (dependency confusion).
 *
 * Pure: the caller reads the files.
 */
#ifndef CRATECAST_PROTO_CARGO_HOME_H
#define CRATECAST_PROTO_CARGO_HOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* dir: the directory's name (no '/'). config_json: the bytes of
 * registry/index/<dir>/config.json, or NULL when there is none.
 * replacement_host: the host of crates.io's replacement in the user's Cargo
 * config, or NULL. Returns true when the directory is crates.io's; otherwise
 * writes a short reason (e.g. "its config.json names https://x.example/dl")
 * into why. */
bool proto_cargo_registry_is_crates_io(const char *dir, const uint8_t *config_json,
                                       size_t config_len, const char *replacement_host, char *why,
                                       size_t whysz);

#endif
