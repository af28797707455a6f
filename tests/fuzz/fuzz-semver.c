/* tests/fuzz/fuzz-semver.c — libFuzzer target for proto_semver_parse: whatever
 * parses must print back to a string that parses to the same numbers and whose
 * group is stable; and parsing never reads past the buffer (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/semver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so ASan sees any read past the end */
    char *s = malloc(size ? size : 1);
    if (s == NULL)
        return 0;
    s[0] = '\0';
    if (size)
        memcpy(s, data, size);
    struct proto_semver v;
    int rc = proto_semver_parse(s, size, &v);
    if (rc == 0) {
        if (size < 5 || (s[0] < '0' || s[0] > '9'))
            abort();
        char back[96];
        int n = snprintf(back, sizeof back, "%llu.%llu.%llu", (unsigned long long)v.major,
                         (unsigned long long)v.minor, (unsigned long long)v.patch);
        struct proto_semver w;
        if (n <= 0 || proto_semver_parse(back, (size_t)n, &w) != 0 || w.major != v.major ||
            w.minor != v.minor || w.patch != v.patch || w.prerelease)
            abort();
        /* the numeric prefix of the input is exactly what was printed */
        if ((size_t)n > size || memcmp(back, s, (size_t)n) != 0)
            abort();
        struct proto_semver_group g1, g2;
        proto_semver_group(&v, &g1);
        proto_semver_group(&v, &g2);
        if (!proto_semver_group_eq(&g1, &g2) || g1.prerelease != v.prerelease)
            abort();
    } else if (v.major || v.minor || v.patch || v.prerelease) {
        abort(); /* zeroed on error */
    }
    free(s);
    return 0;
}
