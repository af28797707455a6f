/* tests/fuzz/fuzz-config.c — libFuzzer target for proto_config_parse and, on
 * success, proto_dl_expand of the parsed template (into an exact-size buffer,
 * then a one-byte-short one). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CK "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_registry_config c;
    if (proto_config_parse(data, size, &c) != 0) {
        if (c.dl != NULL || c.api != NULL)
            abort();
        return 0;
    }
    if (c.dl == NULL || c.dl[0] == '\0' || strlen(c.dl) >= PROTO_URL_MAX)
        abort();
    static const char *const names[] = {"a", "Ab", "abc", "Serde_json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *out = malloc(2 * PROTO_URL_MAX);
        if (out == NULL)
            abort();
        int n = proto_dl_expand(c.dl, names[i], "1.0.0-rc.1", CK, out, 2 * PROTO_URL_MAX);
        if (n >= 0) {
            if ((size_t)n != strlen(out))
                abort();
            /* exactly n+1 bytes fits; n does not */
            char *exact = malloc((size_t)n + 1);
            if (exact == NULL)
                abort();
            if (proto_dl_expand(c.dl, names[i], "1.0.0-rc.1", CK, exact, (size_t)n + 1) != n ||
                memcmp(exact, out, (size_t)n + 1) != 0 ||
                proto_dl_expand(c.dl, names[i], "1.0.0-rc.1", CK, exact, (size_t)n) !=
                    -ENAMETOOLONG)
                abort();
            free(exact);
        } else if (n != -ENAMETOOLONG) {
            abort();
        }
        free(out);
    }
    proto_config_clear(&c);
    return 0;
}
