/* proto/index_line.c — one sparse-index line (one crate version) and the
 * iteration over the lines of an index file.
 *
 * A line is parsed with jansson (duplicate keys rejected, so a line cannot say
 * two things at once). We extract name, vers, cksum, yanked and the package
 * names of the dependencies, and keep a pointer to the original bytes, which
 * are what the store keeps and serves.
 *
 * Content hash: SHA-256 of json_dumps(object minus "yanked",
 * JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY). Equal hashes for one
 * (name, vers) mean the lines differ at most in "yanked".
 *
 * Field rules (Cargo's IndexPackage): name, vers, cksum required strings;
 * yanked optional bool (absent or null = false); deps optional array of objects
 * whose "name" is a string and whose "package", when present and not null, is a
 * string; the package name (or name) must be a valid crate name.
 */
#include "proto/index_line.h"
#include "proto/alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Copy a valid name-or-version string member into dst (cap+1 bytes). */
static int copy_field(json_t *obj, const char *key, bool (*valid)(const char *, size_t), char *dst)
{
    json_t *v = json_object_get(obj, key);
    const char *s = json_string_value(v);
    if (s == NULL)
        return -EBADMSG;
    size_t n = json_string_length(v);
    if (!valid(s, n))
        return -EBADMSG;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static int collect_deps(json_t *root, struct proto_index_entry *e)
{
    json_t *deps = json_object_get(root, "deps");
    if (deps == NULL || json_is_null(deps))
        return 0;
    if (!json_is_array(deps))
        return -EBADMSG;
    size_t n = json_array_size(deps);
    if (n > PROTO_DEPS_MAX)
        return -EMSGSIZE;
    if (n == 0)
        return 0;

    e->deps = cc_calloc(n, sizeof *e->deps);
    json_t *seen = json_object(); /* a set of the names already listed */
    int rc = -ENOMEM;
    if (e->deps == NULL || seen == NULL)
        goto out;

    size_t i;
    json_t *dep;
    json_array_foreach(deps, i, dep)
    {
        rc = -EBADMSG;
        if (!json_is_object(dep) || !json_is_string(json_object_get(dep, "name")))
            goto out;
        json_t *pkg = json_object_get(dep, "package");
        if (pkg == NULL || json_is_null(pkg))
            pkg = json_object_get(dep, "name");
        else if (!json_is_string(pkg))
            goto out;
        const char *s = json_string_value(pkg);
        size_t len = json_string_length(pkg);
        if (!proto_crate_name_valid(s, len))
            goto out;
        if (json_object_get(seen, s) != NULL)
            continue;
        rc = -ENOMEM;
        if (json_object_set_new(seen, s, json_true()) < 0)
            goto out;
        char *copy = cc_malloc(len + 1);
        if (copy == NULL)
            goto out;
        memcpy(copy, s, len);
        copy[len] = '\0';
        e->deps[e->ndeps++] = copy;
    }
    rc = 0;
out:
    json_decref(seen);
    return rc; /* on error the caller clears e, freeing what was collected */
}

int proto_index_line_parse(const uint8_t *buf, size_t len, struct proto_index_entry *out)
{
    memset(out, 0, sizeof *out);
    if (buf == NULL)
        return -EBADMSG;
    /* Cap at the entry: a line may carry one trailing "\r\n" at most. */
    if (len > PROTO_LINE_MAX + 2)
        return -EMSGSIZE;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len > PROTO_LINE_MAX)
        return -EMSGSIZE;
    if (len == 0)
        return -EBADMSG;

    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    char *canon = NULL;
    int rc = -EBADMSG;
    if (root == NULL || !json_is_object(root))
        goto fail;

    if ((rc = copy_field(root, "name", proto_crate_name_valid, out->name)) < 0 ||
        (rc = copy_field(root, "vers", proto_version_valid, out->vers)) < 0)
        goto fail;

    json_t *cksum = json_object_get(root, "cksum");
    rc = -EBADMSG;
    if (!json_is_string(cksum) ||
        !proto_sha256_hex_valid(json_string_value(cksum), json_string_length(cksum)) ||
        proto_hex_decode(json_string_value(cksum), json_string_length(cksum), out->cksum,
                         PROTO_SHA256_LEN) < 0)
        goto fail;

    json_t *yanked = json_object_get(root, "yanked");
    if (yanked != NULL && !json_is_null(yanked) && !json_is_boolean(yanked))
        goto fail;
    out->yanked = json_is_true(yanked);

    if ((rc = collect_deps(root, out)) < 0)
        goto fail;

    (void)json_object_del(root, "yanked"); /* -1 when absent: fine */
    canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    rc = -ENOMEM;
    if (canon == NULL)
        goto fail;
    proto_sha256(canon, strlen(canon), out->content_hash);
    free(canon);
    json_decref(root);

    out->line = buf;
    out->line_len = len;
    return 0;

fail:
    json_decref(root);
    proto_index_entry_clear(out);
    return rc;
}

void proto_index_entry_clear(struct proto_index_entry *e)
{
    if (e == NULL)
        return;
    if (e->deps != NULL) {
        for (size_t i = 0; i < e->ndeps; i++)
            free(e->deps[i]);
        free(e->deps);
    }
    memset(e, 0, sizeof *e);
}

int proto_index_next_line(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **line,
                          size_t *line_len)
{
    if (buf == NULL || pos == NULL || *pos >= len)
        return 0;
    const uint8_t *start = buf + *pos;
    size_t left = len - *pos;
    const uint8_t *nl = memchr(start, '\n', left);
    size_t n = nl ? (size_t)(nl - start) : left;
    *pos += nl ? n + 1 : n;
    if (n > 0 && start[n - 1] == '\r')
        n--;
    *line = start;
    *line_len = n;
    return 1;
}
