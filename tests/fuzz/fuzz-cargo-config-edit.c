/* tests/fuzz/fuzz-cargo-config-edit.c — libFuzzer target for
 * proto_cargo_config_edit_add and proto_cargo_config_edit_remove. The input is
 * an existing Cargo config file.
 * Checks: only the documented result codes; a refusal returns no text and a
 * reason; an added file resolves crates-io to the URL (Cargo's rules), needs
 * nothing more when added again, and gives back exactly the input (or the
 * input without its old block) when the block is removed; a removal never
 * grows the file. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cargo_config_edit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define URL "sparse+http://127.0.0.1:7878/index/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_cargo_config_edit rm, add, again, back;

    int rrc = proto_cargo_config_edit_remove(data, size, &rm);
    switch (rrc) {
    case 0:
        if (rm.text == NULL || rm.len >= size || (rm.remove_file && rm.len != 0))
            abort();
        break;
    case -ENOENT:
    case -EBADMSG:
    case -EMSGSIZE:
    case -ENOMEM:
        if (rm.text != NULL || rm.reason[0] == '\0')
            abort();
        break;
    default:
        abort();
    }

    int rc = proto_cargo_config_edit_add(data, size, true, URL, &add);
    switch (rc) {
    case 0:
        break;
    case -EALREADY:
    case -EEXIST:
    case -ENOTSUP:
    case -EBADMSG:
    case -EMSGSIZE:
    case -ENOMEM:
        if (add.text != NULL || add.reason[0] == '\0')
            abort();
        break;
    default:
        abort();
    }
    if (rrc == -EBADMSG && rc != -EBADMSG && rc != -ENOMEM)
        abort(); /* damaged markers are never edited over */

    if (rc == 0) {
        char url[sizeof URL + 1];
        if (add.text == NULL ||
            proto_cargo_config_crates_io_replacement(add.text, add.len, url, sizeof url, NULL) !=
                0 ||
            strcmp(url, URL) != 0)
            abort();
        if (proto_cargo_config_edit_add(add.text, add.len, true, URL, &again) != -EALREADY ||
            again.text != NULL)
            abort();
        if (proto_cargo_config_edit_remove(add.text, add.len, &back) != 0)
            abort();
        const uint8_t *want = rrc == 0 ? rm.text : data;
        size_t wl = rrc == 0 ? rm.len : size;
        if (back.len != wl || (wl > 0 && memcmp(back.text, want, wl) != 0))
            abort();
        proto_cargo_config_edit_free(&back);
    }
    proto_cargo_config_edit_free(&add);
    proto_cargo_config_edit_free(&rm);
    return 0;
}
