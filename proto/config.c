/* proto/config.c — a sparse registry's config.json and Cargo's expansion of
 * its "dl" template.
 *
 * Parsing is strict about types, as Cargo's own deserializer is: "dl" must be a
 * non-empty string, "api" a string or null, "auth-required" a boolean; other
 * members are ignored. Expansion follows Cargo: each marker is replaced by its
 * value ({prefix} keeps the name's case, {lowerprefix} lower-cases it); a
 * template with none of the five markers gets "/{crate}/{version}/download"
 * appended, without touching a trailing '/'. Unknown "{...}" text is copied.
 */
#include "proto/config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/name.h"
#include "proto/sha256.h"
#include "proto/alloc.h"

/* Copy a JSON string member into a fresh C string: 0, -EBADMSG or -ENOMEM. */
static int dup_url(json_t *v, char **out)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (s == NULL || n == 0 || n >= PROTO_URL_MAX || memchr(s, '\0', n) != NULL)
        return -EBADMSG;
    char *p = cc_malloc(n + 1);
    if (p == NULL)
        return -ENOMEM;
    memcpy(p, s, n);
    p[n] = '\0';
    *out = p;
    return 0;
}

int proto_config_parse(const uint8_t *buf, size_t len, struct proto_registry_config *out)
{
    memset(out, 0, sizeof *out);
    if (len > PROTO_CONFIG_MAX)
        return -EMSGSIZE;
    if (buf == NULL || len == 0)
        return -EBADMSG;

    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -EBADMSG;
    if (root == NULL || !json_is_object(root))
        goto fail;

    json_t *dl = json_object_get(root, "dl");
    if (!json_is_string(dl))
        goto fail;
    if ((rc = dup_url(dl, &out->dl)) < 0)
        goto fail;

    json_t *api = json_object_get(root, "api");
    rc = -EBADMSG;
    if (api != NULL && !json_is_null(api)) {
        if (!json_is_string(api))
            goto fail;
        if ((rc = dup_url(api, &out->api)) < 0)
            goto fail;
    }

    json_t *auth = json_object_get(root, "auth-required");
    rc = -EBADMSG;
    if (auth != NULL) {
        if (!json_is_boolean(auth))
            goto fail;
        out->auth_required = json_is_true(auth);
    }
    json_decref(root);
    return 0;

fail:
    json_decref(root); /* NULL-safe */
    proto_config_clear(out);
    return rc;
}

void proto_config_clear(struct proto_registry_config *c)
{
    if (c == NULL)
        return;
    free(c->dl);
    free(c->api);
    memset(c, 0, sizeof *c);
}

/* Bounded output buffer: appends fail sticky once the limit is reached. */
struct outbuf {
    char *p;
    size_t cap; /* usable bytes, NUL included */
    size_t len;
    bool overflow;
};

static void put(struct outbuf *o, const char *s, size_t n)
{
    if (o->overflow || n >= o->cap - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

enum marker { M_CRATE, M_VERSION, M_PREFIX, M_LOWERPREFIX, M_CKSUM, M_COUNT };

static const struct {
    const char *text;
    size_t len;
} markers[M_COUNT] = {
    [M_CRATE] = {"{crate}", 7},
    [M_VERSION] = {"{version}", 9},
    [M_PREFIX] = {"{prefix}", 8},
    [M_LOWERPREFIX] = {"{lowerprefix}", 13},
    [M_CKSUM] = {"{sha256-checksum}", 17},
};

/* Which marker starts at s (of n remaining bytes), or -1. */
static int marker_at(const char *s, size_t n)
{
    for (int m = 0; m < M_COUNT; m++)
        if (n >= markers[m].len && memcmp(s, markers[m].text, markers[m].len) == 0)
            return m;
    return -1;
}

int proto_dl_expand(const char *tmpl, const char *name, const char *vers, const char *cksum_hex,
                    char *out, size_t outsz)
{
    if (tmpl == NULL || name == NULL || vers == NULL || cksum_hex == NULL)
        return -EINVAL;
    size_t name_len = strnlen(name, PROTO_NAME_MAX + 1);
    size_t vers_len = strnlen(vers, PROTO_VERS_MAX + 1);
    size_t cksum_len = strnlen(cksum_hex, PROTO_SHA256_HEX_LEN + 1);
    if (!proto_crate_name_valid(name, name_len) || !proto_version_valid(vers, vers_len) ||
        !proto_sha256_hex_valid(cksum_hex, cksum_len))
        return -EINVAL;
    if (out == NULL || outsz == 0)
        return -ENAMETOOLONG;

    char prefix[8], lowerprefix[8];
    int pn = proto_name_prefix(name, name_len, false, prefix, sizeof prefix);
    int ln = proto_name_prefix(name, name_len, true, lowerprefix, sizeof lowerprefix);
    if (pn < 0 || ln < 0)
        return -EINVAL;
    const struct {
        const char *s;
        size_t n;
    } values[M_COUNT] = {
        [M_CRATE] = {name, name_len},       [M_VERSION] = {vers, vers_len},
        [M_PREFIX] = {prefix, (size_t)pn},  [M_LOWERPREFIX] = {lowerprefix, (size_t)ln},
        [M_CKSUM] = {cksum_hex, cksum_len},
    };

    /* The result must fit the buffer and an int; no URL is anywhere near. */
    struct outbuf o = {out, outsz > (size_t)INT_MAX ? (size_t)INT_MAX : outsz, 0, false};
    size_t tlen = strlen(tmpl);
    bool any = false;
    for (size_t i = 0; i < tlen && !o.overflow;) {
        int m = tmpl[i] == '{' ? marker_at(tmpl + i, tlen - i) : -1;
        if (m >= 0) {
            put(&o, values[m].s, values[m].n);
            i += markers[m].len;
            any = true;
            continue;
        }
        /* Copy the run of bytes up to the next '{' in one go. */
        const char *brace = memchr(tmpl + i + 1, '{', tlen - i - 1);
        size_t run = brace ? (size_t)(brace - (tmpl + i)) : tlen - i;
        put(&o, tmpl + i, run);
        i += run;
    }
    if (!any) {
        put(&o, "/", 1);
        put(&o, name, name_len);
        put(&o, "/", 1);
        put(&o, vers, vers_len);
        put(&o, "/download", 9);
    }
    if (o.overflow) {
        out[0] = '\0';
        return -ENAMETOOLONG;
    }
    out[o.len] = '\0';
    return (int)o.len;
}
