/* proto/name.h — crate names, versions and Cargo's sparse-index path layout.
 *
 * Pure functions over (pointer, length). Nothing here allocates.
 */
#ifndef CRATECAST_PROTO_NAME_H
#define CRATECAST_PROTO_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define PROTO_NAME_MAX 64  /* crates.io's limit on a crate name */
#define PROTO_VERS_MAX 128 /* generous cap on a semver string */
/* "xx/yy/" + name + NUL */
#define PROTO_INDEX_PATH_MAX (PROTO_NAME_MAX + 8)

/* A registry crate name: 1..64 chars, ASCII alphanumerics, '-' and '_', first char
 * alphabetic (Cargo also accepts a leading '_' or digit in old names: we accept
 * alphanumeric or '_' first). */
bool proto_crate_name_valid(const char *s, size_t len);

/* A version as it appears in an index line and a download path: 1..128 chars of
 * [0-9A-Za-z.+-], starting with a digit. Not a full semver check. */
bool proto_version_valid(const char *s, size_t len);

/* The sparse-index relative path of a crate, lower-cased, as Cargo computes it:
 *   1 char  -> "1/a"       2 chars -> "2/ab"
 *   3 chars -> "3/a/abc"   4+      -> "ab/cd/abcd..."
 * Writes a NUL-terminated string to out. Returns its length, -EINVAL for an
 * invalid name, -ENAMETOOLONG when outsz is too small. */
int proto_index_path(const char *name, size_t len, char *out, size_t outsz);

/* Cargo's {prefix} marker value for a name (not lower-cased): "1", "2", "3/a",
 * "ab/cd" (first char(s) of the original name). Returns length or -errno like above.
 * lower=true gives {lowerprefix}. */
int proto_name_prefix(const char *name, size_t len, bool lower, char *out, size_t outsz);

/* The ASCII-lower-cased name (how the store and the peer protocol key a crate:
 * Cargo treats `Serde` and `serde` as one crate), NUL-terminated in out. At
 * most PROTO_NAME_MAX bytes of name are read (stopping at a NUL); returns the
 * length, or -ENAMETOOLONG when out cannot hold it. Not a validity check. */
int proto_name_lower(const char *name, char *out, size_t outsz);

#endif
