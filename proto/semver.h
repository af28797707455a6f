/* proto/semver.h — semantic versions as Cargo reads them, and the
 * "compatible range" a version belongs to.
 *
 * A version is MAJOR.MINOR.PATCH with optional "-PRERELEASE" and "+BUILD":
 * numeric parts are decimal without leading zeros (a lone "0" is fine) and fit
 * in 64 bits; pre-release and build identifiers are non-empty dot-separated
 * runs of [0-9A-Za-z-]. This is the grammar of semver.org 2.0.0, which Cargo's
 * semver crate enforces for every index line it accepts.
 *
 * Compatible range: the set of versions a caret requirement ("1.2", "^0.3.1",
 * Cargo's default) can move between without an explicit change:
 *   MAJOR > 0           -> every MAJOR.x.y          (^1.2.3 := >=1.2.3, <2.0.0)
 *   MAJOR = 0, MINOR > 0 -> every 0.MINOR.x          (^0.2.3 := >=0.2.3, <0.3.0)
 *   MAJOR = MINOR = 0    -> exactly 0.0.PATCH        (^0.0.3 := =0.0.3)
 * Pre-releases of a range form a group of their own (a plain requirement never
 * selects them), so proto_semver_group() tells the two apart.
 *
 * Pure functions; nothing allocates.
 */
#ifndef CRATECAST_PROTO_SEMVER_H
#define CRATECAST_PROTO_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct proto_semver {
    uint64_t major, minor, patch;
    bool prerelease; /* has a "-..." part */
};

/* Parse s[0..len). 0, or -EINVAL for anything that is not a semver version
 * (then *out is zeroed). */
int proto_semver_parse(const char *s, size_t len, struct proto_semver *out);

/* The compatible-range group of a parsed version: two versions are in the
 * same group iff their groups compare equal with proto_semver_group_eq. */
struct proto_semver_group {
    uint64_t major, minor, patch; /* the parts that fix the range; the rest are 0 */
    bool prerelease;
};
void proto_semver_group(const struct proto_semver *v, struct proto_semver_group *out);
bool proto_semver_group_eq(const struct proto_semver_group *a, const struct proto_semver_group *b);

#endif
