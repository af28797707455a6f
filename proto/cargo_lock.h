/* proto/cargo_lock.h — the packages a Cargo.lock pins (lockfile versions 1 to 4).
 *
 *   version = 4                       # absent in v1 and v2 files
 *   [[package]]
 *   name = "serde"
 *   version = "1.0.219"
 *   source = "registry+https://github.com/rust-lang/crates.io-index"
 *   checksum = "<64 lower-case hex>"  # v2+; v1 keeps it in [metadata]
 *   dependencies = ["serde_derive"]   # read past, not kept
 *
 * Parsed with proto/toml.h (its limits and rejections apply). Only what Cargo
 * itself requires is required: each [[package]] (and the [root] table of
 * pre-2017 files) has a name and a version; every other key and table is
 * read past ([patch.unused], dependencies, [package.x] sub-tables ...).
 */
#ifndef CRATECAST_PROTO_CARGO_LOCK_H
#define CRATECAST_PROTO_CARGO_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/sha256.h"
#include "proto/toml.h"

#define PROTO_CARGO_LOCK_MAX PROTO_TOML_MAX
#define PROTO_CARGO_LOCK_PKGS_MAX 100000 /* packages; also [metadata] checksum entries */
#define PROTO_CARGO_LOCK_NAME_MAX 256    /* a path or git package's name, in bytes */
#define PROTO_CARGO_LOCK_SOURCE_MAX 4096

#define PROTO_CARGO_LOCK_CRATES_IO_GIT "registry+https://github.com/rust-lang/crates.io-index"
#define PROTO_CARGO_LOCK_CRATES_IO_SPARSE "sparse+https://index.crates.io/"

struct proto_cargo_lock_pkg {
    /* name: a registry package's passes proto_crate_name_valid; another's
     * (path, git) is 1..PROTO_CARGO_LOCK_NAME_MAX bytes of ASCII alphanumerics,
     * '-', '_' and bytes >= 0x80 (Cargo allows Unicode names off crates.io).
     * version passes proto_version_valid. source is NULL for a path or
     * workspace package, else starts with "registry+", "sparse+", "git+" or
     * "path+". All three are malloc'd, owned by the proto_cargo_lock. */
    char *name;
    char *version;
    char *source;
    bool has_checksum;
    uint8_t checksum[PROTO_SHA256_LEN];
};

struct proto_cargo_lock {
    /* The `version` key; when absent, as Cargo infers it: 2 when a package
     * has a checksum key, else 1. A version this code has not seen (5 ...) is
     * reported, not refused: the caller decides. */
    unsigned version;
    struct proto_cargo_lock_pkg *pkgs; /* malloc'd, in file order; NULL when npkgs is 0 */
    size_t npkgs;
};

/* Fills *out (its previous contents are not freed). Checksums: a package's
 * own `checksum`, or in a v1 file the [metadata] entry
 * "checksum NAME VERSION (SOURCE)" (version and source optional, matched
 * exactly; an entry matching no package or more than one is ignored); the
 * value "<none>" means no checksum. As in Cargo, [metadata] checksums in a
 * file that is not v1 are taken for a bad merge, and then no package has a
 * checksum.
 *
 * Returns 0; -EBADMSG with *err_line (TOML syntax, a package without name or
 * version — its header's line —, an invalid name, version, source or
 * checksum, a key Cargo would give another type, a package key given twice, a
 * [metadata] "checksum ..." key that does not parse); -EMSGSIZE over a limit
 * (*err_line 0 for the file size); -ENOMEM. On error *out is empty
 * (pkgs NULL, npkgs 0) and needs no free. err_line may be NULL. */
int proto_cargo_lock_parse(const uint8_t *buf, size_t len, struct proto_cargo_lock *out,
                           unsigned *err_line);

/* Frees what parse allocated and empties *l (not l itself). NULL-safe. */
void proto_cargo_lock_free(struct proto_cargo_lock *l);

/* A package from a registry: its source starts with "registry+" or "sparse+". */
bool proto_cargo_lock_is_registry(const struct proto_cargo_lock_pkg *p);

/* A crates.io package: source is exactly PROTO_CARGO_LOCK_CRATES_IO_GIT or
 * PROTO_CARGO_LOCK_CRATES_IO_SPARSE. Source replacement does not change it:
 * a lockfile made through a mirror still says crates.io. */
bool proto_cargo_lock_is_crates_io(const struct proto_cargo_lock_pkg *p);

#endif
