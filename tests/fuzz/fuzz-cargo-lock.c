/* tests/fuzz/fuzz-cargo-lock.c — libFuzzer target for proto_cargo_lock_parse.
 * Checks: the result codes; on error an empty result and a line within the
 * file; a TOML error comes through with TOML's code and line; on success
 * every package meets the contract of proto/cargo_lock.h (names by source,
 * versions, sources, the registry/crates.io classification), there is one
 * package per [[package]]/[root] header, and a second parse gives the same. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cargo_lock.h"
#include "proto/name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool starts_with(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static int count_cb(void *ud, const struct proto_toml_event *ev)
{
    if (ev->type == PROTO_TOML_TABLE && ev->table_len == 1 &&
        ((ev->array_table && strcmp(ev->path[0], "package") == 0) ||
         (!ev->array_table && strcmp(ev->path[0], "root") == 0)))
        ++*(size_t *)ud;
    return 0;
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_pkg(const struct proto_cargo_lock_pkg *p)
{
    if (p->name == NULL || p->version == NULL)
        abort();
    size_t nl = strnlen(p->name, PROTO_CARGO_LOCK_NAME_MAX + 1);
    if (nl == 0 || nl > PROTO_CARGO_LOCK_NAME_MAX)
        abort();
    if (!proto_version_valid(p->version, strlen(p->version)))
        abort();
    bool registry = proto_cargo_lock_is_registry(p);
    if (p->source != NULL) {
        if (strnlen(p->source, PROTO_CARGO_LOCK_SOURCE_MAX + 1) > PROTO_CARGO_LOCK_SOURCE_MAX)
            abort();
        if (registry != (starts_with(p->source, "registry+") || starts_with(p->source, "sparse+")))
            abort();
        if (!registry && !starts_with(p->source, "git+") && !starts_with(p->source, "path+"))
            abort();
    } else if (registry) {
        abort();
    }
    if (registry && !proto_crate_name_valid(p->name, nl))
        abort();
    if (proto_cargo_lock_is_crates_io(p) &&
        (!registry || (strcmp(p->source, PROTO_CARGO_LOCK_CRATES_IO_GIT) != 0 &&
                       strcmp(p->source, PROTO_CARGO_LOCK_CRATES_IO_SPARSE) != 0)))
        abort();
    for (size_t i = 0; i < nl; i++) {
        unsigned char c = (unsigned char)p->name[i];
        if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';

    struct proto_cargo_lock l;
    unsigned line = 0, tline = 0;
    int rc = proto_cargo_lock_parse(data, size, &l, &line);
    int trc = proto_toml_parse(data, size, NULL, NULL, &tline);
    if (rc != 0 && rc != -EBADMSG && rc != -EMSGSIZE && rc != -ENOMEM)
        abort();
    if (trc != 0 && trc != -ENOMEM && (rc != trc || line != tline))
        abort(); /* a TOML error is reported as TOML found it */
    if (rc != 0) {
        if (l.pkgs != NULL || l.npkgs != 0 || l.version != 0)
            abort();
        if (line > lines || (rc == -EBADMSG && line == 0))
            abort();
        proto_cargo_lock_free(&l); /* harmless on an empty result */
        return 0;
    }
    if (line != 0 || l.version == 0 || l.npkgs > PROTO_CARGO_LOCK_PKGS_MAX ||
        (l.npkgs == 0) != (l.pkgs == NULL))
        abort();
    size_t headers = 0;
    if (proto_toml_parse(data, size, count_cb, &headers, NULL) != 0 || headers != l.npkgs)
        abort();
    for (size_t i = 0; i < l.npkgs; i++)
        check_pkg(&l.pkgs[i]);

    struct proto_cargo_lock again;
    if (proto_cargo_lock_parse(data, size, &again, NULL) != 0 || again.npkgs != l.npkgs ||
        again.version != l.version)
        abort();
    for (size_t i = 0; i < l.npkgs; i++) {
        const struct proto_cargo_lock_pkg *a = &l.pkgs[i], *b = &again.pkgs[i];
        if (!same(a->name, b->name) || !same(a->version, b->version) ||
            !same(a->source, b->source) || a->has_checksum != b->has_checksum ||
            (a->has_checksum && memcmp(a->checksum, b->checksum, sizeof a->checksum) != 0))
            abort();
    }
    proto_cargo_lock_free(&again);
    proto_cargo_lock_free(&l);
    if (l.pkgs != NULL || l.npkgs != 0)
        abort();
    return 0;
}
