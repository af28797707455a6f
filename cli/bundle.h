/* cli/bundle.h — `cratecast bundle export` and `cratecast bundle import`: the
 * store's crates on a USB stick and back (the file format is proto/bundle.h,
 * docs/bundle.md).
 *
 * cli/bundle.c parses the command line; cli/bundle_export.c chooses what to
 * write (what Cargo.locks need, or the whole store) and writes a bundle or a
 * Cargo local-registry directory; cli/bundle_import.c reads a bundle into a
 * store. Both open the store as any one-shot command does (no agent lock), so
 * they run beside an agent: an agent notices an import at its next tick (its
 * store sequence moved) and announces the new crates to its peers.
 *
 * Each returns the command's exit status, after printing its output: 0 done,
 * 1 something is missing, untrusted or damaged (said on stderr), 2 a usage
 * error.
 */
#ifndef CRATECAST_CLI_BUNDLE_H
#define CRATECAST_CLI_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/envelope.h"

enum bundle_format {
    BUNDLE_FORMAT_BUNDLE = 0,     /* one signed, compressed file (proto/bundle.h) */
    BUNDLE_FORMAT_LOCAL_REGISTRY, /* a directory Cargo reads as a local-registry source */
};

struct bundle_export_opts {
    const char *store; /* the store's directory */
    const char *out;   /* FILE ("-": standard output), or the directory */
    enum bundle_format format;
    char *const *locks; /* project directories or Cargo.lock files */
    size_t nlocks;
    bool all;     /* the whole store instead of locks */
    bool partial; /* write what is here even when something is missing */
};
int bundle_export(const struct bundle_export_opts *o);

struct bundle_import_opts {
    const char *store;
    const char *file; /* "-": standard input */
    bool trust_keys;  /* only the keys below (and this store's own) may sign */
    const uint8_t (*keys)[PROTO_PK_LEN];
    size_t nkeys;
};
int bundle_import(const struct bundle_import_opts *o);

#endif
