/* tests/fuzz/fuzz-size.c — libFuzzer target for proto_size_parse. Checks what
 * holds for every input: only 0, -EINVAL or -ERANGE; *out is 0 on error; an
 * accepted text starts with a digit and is at most PROTO_SIZE_TEXT_MAX long;
 * the value is at least the whole number before any unit times that unit;
 * and an accepted plain number parses the same with "B" after it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/size.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t v = 1;
    int rc = proto_size_parse(data, size, &v);
    if (rc != 0 && rc != -EINVAL && rc != -ERANGE)
        abort();
    if (rc != 0) {
        if (v != 0)
            abort();
        return 0;
    }
    if (size == 0 || size > PROTO_SIZE_TEXT_MAX || data[0] < '0' || data[0] > '9')
        abort();
    size_t digits = 0;
    while (digits < size && data[digits] >= '0' && data[digits] <= '9')
        digits++;
    if (digits == size) {
        /* plain bytes: the value is the number, and "<number>B" says the same */
        uint8_t b[PROTO_SIZE_TEXT_MAX + 1];
        uint64_t w = 0;
        memcpy(b, data, size);
        b[size] = 'B';
        int rb = proto_size_parse(b, size + 1, &w);
        if (size < PROTO_SIZE_TEXT_MAX ? (rb != 0 || w != v) : rb != -EINVAL)
            abort();
    }
    return 0;
}
