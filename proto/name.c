/* proto/name.c — crate-name and version validation, and Cargo's sparse-index
 * path layout (the same function Cargo calls make_dep_path):
 *
 *   length 1 -> "1/<n>"    length 2 -> "2/<n>"
 *   length 3 -> "3/<c0>/<n>"    length 4+ -> "<c0c1>/<c2c3>/<n>"
 *
 * The index path is built from the lower-cased name (Cargo lower-cases before
 * calling make_dep_path for the sparse protocol); the {prefix} marker of a dl
 * template keeps the name's case and {lowerprefix} lower-cases it. Inputs are
 * (pointer, length) and need not be NUL-terminated; nothing here allocates.
 */
#include "proto/name.h"

#include <errno.h>
#include <string.h>

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

int proto_name_lower(const char *name, char *out, size_t outsz)
{
    size_t n = strnlen(name, PROTO_NAME_MAX);
    if (n + 1 > outsz)
        return -ENAMETOOLONG;
    for (size_t i = 0; i < n; i++)
        out[i] = to_lower(name[i]);
    out[n] = '\0';
    return (int)n;
}

bool proto_crate_name_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > PROTO_NAME_MAX)
        return false;
    if (!is_alnum((unsigned char)s[0]) && s[0] != '_')
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '-' && c != '_')
            return false;
    }
    return true;
}

bool proto_version_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > PROTO_VERS_MAX)
        return false;
    if (s[0] < '0' || s[0] > '9')
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '.' && c != '+' && c != '-')
            return false;
    }
    return true;
}

/* Writes the prefix part (without a trailing '/') into out, which the callers
 * have sized; returns its length. len is a valid name length (1..64). */
static size_t put_prefix(const char *name, size_t len, bool lower, char *out)
{
    size_t n = 0;
    switch (len) {
    case 1:
        out[n++] = '1';
        break;
    case 2:
        out[n++] = '2';
        break;
    case 3:
        out[n++] = '3';
        out[n++] = '/';
        out[n++] = lower ? to_lower(name[0]) : name[0];
        break;
    default:
        out[n++] = lower ? to_lower(name[0]) : name[0];
        out[n++] = lower ? to_lower(name[1]) : name[1];
        out[n++] = '/';
        out[n++] = lower ? to_lower(name[2]) : name[2];
        out[n++] = lower ? to_lower(name[3]) : name[3];
        break;
    }
    return n;
}

int proto_name_prefix(const char *name, size_t len, bool lower, char *out, size_t outsz)
{
    if (!proto_crate_name_valid(name, len))
        return -EINVAL;
    char tmp[8];
    size_t n = put_prefix(name, len, lower, tmp);
    if (out == NULL || n + 1 > outsz)
        return -ENAMETOOLONG;
    memcpy(out, tmp, n);
    out[n] = '\0';
    return (int)n;
}

int proto_index_path(const char *name, size_t len, char *out, size_t outsz)
{
    if (!proto_crate_name_valid(name, len))
        return -EINVAL;
    char tmp[PROTO_INDEX_PATH_MAX];
    size_t n = put_prefix(name, len, true, tmp);
    tmp[n++] = '/';
    for (size_t i = 0; i < len; i++)
        tmp[n++] = to_lower(name[i]);
    if (out == NULL || n + 1 > outsz)
        return -ENAMETOOLONG;
    memcpy(out, tmp, n);
    out[n] = '\0';
    return (int)n;
}
