/* tests/fuzz/fuzz-index-line.c — libFuzzer target for proto_index_line_parse
 * and proto_index_next_line: the input is an index file; every line is parsed
 * and the results are checked against the header's promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/index_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0, prev = 0, lines = 0;
    const uint8_t *line;
    size_t line_len;
    while (proto_index_next_line(data, size, &pos, &line, &line_len) == 1) {
        if (pos <= prev || pos > size || line < data || line + line_len > data + size)
            abort();
        prev = pos;
        lines++;
        struct proto_index_entry e;
        if (proto_index_line_parse(line, line_len, &e) == 0) {
            if (!proto_crate_name_valid(e.name, strlen(e.name)) ||
                !proto_version_valid(e.vers, strlen(e.vers)) || e.line != line ||
                e.line_len > line_len || (e.ndeps > 0 && e.deps == NULL) ||
                e.ndeps > PROTO_DEPS_MAX)
                abort();
            for (size_t i = 0; i < e.ndeps; i++)
                if (!proto_crate_name_valid(e.deps[i], strlen(e.deps[i])))
                    abort();
            /* Parsing the same bytes again gives the same content hash. */
            struct proto_index_entry again;
            if (proto_index_line_parse(line, line_len, &again) != 0 ||
                memcmp(again.content_hash, e.content_hash, PROTO_SHA256_LEN) != 0)
                abort();
            proto_index_entry_clear(&again);
        } else if (e.deps != NULL || e.ndeps != 0) {
            abort();
        }
        proto_index_entry_clear(&e);
    }
    if (pos != size && size > 0)
        abort();
    (void)lines;
    return 0;
}
