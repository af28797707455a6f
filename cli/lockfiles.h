/* cli/lockfiles.h — the crates.io packages that one or more Cargo.lock files
 * need (for `cratecast check` and `cratecast prefetch`).
 *
 * A PATH is a project directory (its Cargo.lock is read) or a lockfile.
 * Packages from other registries and git are counted and skipped; path and
 * workspace packages (no source) are skipped silently. The set is deduplicated on (name, version,
 * checksum). Lockfiles are parsed by proto/cargo_lock.h.
 */
#ifndef CRATECAST_AGENT_LOCKFILES_H
#define CRATECAST_AGENT_LOCKFILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/name.h"
#include "proto/sha256.h"

struct lock_pkg {
    char name[PROTO_NAME_MAX + 1];
    char vers[PROTO_VERS_MAX + 1];
    uint8_t sha[PROTO_SHA256_LEN];
    bool has_sha; /* old lockfiles may lack a checksum */
};

struct lock_set {
    struct lock_pkg *v; /* malloc'd */
    size_t n, cap;
    size_t files;   /* lockfiles read */
    size_t skipped; /* packages from another registry or git */
};

/* Read every PATH. On a problem prints one "error: ..." line (and a help:
 * line) to stderr and returns 2 (no such path / no Cargo.lock: a usage error)
 * or 1 (unreadable or malformed lockfile); 0 on success. */
int lockfiles_load(const char *cmd, char *const *paths, size_t npaths, struct lock_set *out);
/* The same, for a command that then asks the agent at --agent URL (NULL: the
 * default) about them: the URL is checked first, before any file is read (2
 * after printing why when it is bad). */
int lockfiles_load_for_agent(const char *cmd, const char *agent, char *const *paths, size_t npaths,
                             struct lock_set *out);
void lockfiles_free(struct lock_set *s);

#endif
