/* tests/fuzz/fuzz-options.c — libFuzzer target for proto_options_parse. The
 * callback checks what it is handed: bounded, NUL-terminated keys and values
 * of the right alphabet, line numbers that never go backwards. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    unsigned last_line;
    size_t size;
    unsigned values;
};

static int check_cb(void *ud, const char *key, const char *value, int is_bool, unsigned line)
{
    struct seen *s = ud;
    size_t kl = strnlen(key, PROTO_OPTION_KEY_MAX + 1);
    size_t vl = strnlen(value, PROTO_OPTION_VALUE_MAX + 1);
    if (kl == 0 || kl > PROTO_OPTION_KEY_MAX || vl > PROTO_OPTION_VALUE_MAX)
        abort();
    for (size_t i = 0; i < kl; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", key[i]))
            abort();
    if (is_bool && strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
        abort();
    if (line < s->last_line || line == 0 || line > s->size + 1)
        abort();
    s->last_line = line;
    s->values++;
    return 0;
}

static int stop_cb(void *ud, const char *key, const char *value, int is_bool, unsigned line)
{
    (void)key;
    (void)value;
    (void)is_bool;
    (void)line;
    return ++*(unsigned *)ud >= 2 ? 7 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seen s = {0, size, 0};
    unsigned err_line = 0;
    int rc = proto_options_parse(data, size, check_cb, &s, &err_line);
    if (rc == -EBADMSG) {
        if (err_line == 0 || err_line > size + 1 || s.values != 0)
            abort();
        return 0;
    }
    if (rc != 0 && rc != -EMSGSIZE)
        abort();
    if (rc == 0) {
        /* Without a callback the verdict is the same; a stopping callback stops. */
        if (proto_options_parse(data, size, NULL, NULL, NULL) != 0)
            abort();
        unsigned calls = 0;
        int want = s.values >= 2 ? 7 : 0;
        if (proto_options_parse(data, size, stop_cb, &calls, NULL) != want)
            abort();
    }
    return 0;
}
