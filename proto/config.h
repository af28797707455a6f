/* proto/config.h — a sparse registry's config.json and the "dl" template.
 *
 * config.json: {"dl": "...", "api": "...", "auth-required": bool}. Only "dl" is
 * required. The dl template's markers, as Cargo expands them:
 *   {crate} {version} {prefix} {lowerprefix} {sha256-checksum}
 * When the template contains none of them, Cargo appends "/{crate}/{version}/download".
 */
#ifndef CRATECAST_PROTO_CONFIG_H
#define CRATECAST_PROTO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_CONFIG_MAX (64u << 10) /* config.json size cap */
#define PROTO_URL_MAX 4096

struct proto_registry_config {
    char *dl;  /* malloc'd; never NULL after a successful parse */
    char *api; /* malloc'd or NULL */
    bool auth_required;
};

/* 0, -EBADMSG (not a JSON object, "dl" missing/not a string/empty/too long),
 * -EMSGSIZE (len > PROTO_CONFIG_MAX), -ENOMEM. On error *out is cleared. */
int proto_config_parse(const uint8_t *buf, size_t len, struct proto_registry_config *out);
void proto_config_clear(struct proto_registry_config *c); /* NULL-safe */

/* Expand a dl template for one crate version. cksum_hex is 64 lower-case hex.
 * Writes a NUL-terminated URL; returns its length, -EINVAL for an invalid
 * name/version, -ENAMETOOLONG when it does not fit in outsz. */
int proto_dl_expand(const char *tmpl, const char *name, const char *vers, const char *cksum_hex,
                    char *out, size_t outsz);

#endif
