/* proto/semver.c — semver parsing and compatible ranges (see semver.h).
 *
 * Order of checks: each numeric part is read digit by digit with an overflow
 * check before the multiplication; every identifier run is checked for
 * emptiness and alphabet before the next '.' is looked at; the parse ends
 * exactly at len or fails. No read goes past s + len.
 */
#include "proto/semver.h"

#include <errno.h>
#include <string.h>

/* A numeric part at s[*i..): no leading zero unless it is "0". */
static int num(const char *s, size_t len, size_t *i, uint64_t *out)
{
    size_t start = *i;
    uint64_t v = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
        (*i)++;
    }
    size_t n = *i - start;
    if (n == 0 || (n > 1 && s[start] == '0'))
        return -EINVAL;
    *out = v;
    return 0;
}

static bool ident_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* Dot-separated non-empty identifiers up to `stop` (or the end). */
static int idents(const char *s, size_t len, size_t *i, char stop)
{
    size_t run = 0;
    for (; *i < len && s[*i] != stop; (*i)++) {
        if (s[*i] == '.') {
            if (run == 0)
                return -EINVAL;
            run = 0;
        } else if (ident_char(s[*i])) {
            run++;
        } else {
            return -EINVAL;
        }
    }
    return run == 0 ? -EINVAL : 0;
}

int proto_semver_parse(const char *s, size_t len, struct proto_semver *out)
{
    memset(out, 0, sizeof *out);
    if (s == NULL)
        return -EINVAL;
    size_t i = 0;
    struct proto_semver v;
    memset(&v, 0, sizeof v);
    if (num(s, len, &i, &v.major) < 0 || i >= len || s[i++] != '.' ||
        num(s, len, &i, &v.minor) < 0 || i >= len || s[i++] != '.' || num(s, len, &i, &v.patch) < 0)
        return -EINVAL;
    if (i < len && s[i] == '-') {
        i++;
        if (idents(s, len, &i, '+') < 0)
            return -EINVAL;
        v.prerelease = true;
    }
    if (i < len && s[i] == '+') {
        i++;
        if (idents(s, len, &i, '\0') < 0)
            return -EINVAL;
    }
    if (i != len)
        return -EINVAL;
    *out = v;
    return 0;
}

void proto_semver_group(const struct proto_semver *v, struct proto_semver_group *out)
{
    memset(out, 0, sizeof *out);
    out->prerelease = v->prerelease;
    out->major = v->major;
    if (v->major > 0)
        return;
    out->minor = v->minor;
    if (v->minor > 0)
        return;
    out->patch = v->patch;
}

bool proto_semver_group_eq(const struct proto_semver_group *a, const struct proto_semver_group *b)
{
    return a->major == b->major && a->minor == b->minor && a->patch == b->patch &&
           a->prerelease == b->prerelease;
}
