/* proto/cargo_home.c — the crates.io registry directories of a CARGO_HOME
 * (see cargo_home.h for the rule). */
#include "proto/cargo_home.h"

#include <stdio.h>
#include <string.h>

#include "proto/config.h"

#define CRATES_IO_SPARSE_HOST "index.crates.io"
#define CRATES_IO_GIT_DIR "github.com-1ecc6299db9ec823"

static bool is_hex16(const char *s)
{
    size_t n = strlen(s);
    if (n != 16)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* dir == host + "-" + 16 hex digits */
static bool named_for_host(const char *dir, const char *host)
{
    size_t hl = strlen(host);
    return hl > 0 && strncmp(dir, host, hl) == 0 && dir[hl] == '-' && is_hex16(dir + hl + 1);
}

static bool dl_is_crates_io(const char *dl)
{
    static const char *const known[] = {
        "https://static.crates.io/crates",
        "https://static.crates.io/crates/",
        "https://crates.io/api/v1/crates",
        "https://crates.io/api/v1/crates/",
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(dl, known[i]) == 0)
            return true;
    return false;
}

bool proto_cargo_registry_is_crates_io(const char *dir, const uint8_t *config_json,
                                       size_t config_len, const char *replacement_host, char *why,
                                       size_t whysz)
{
    if (why && whysz)
        why[0] = '\0';
    if (dir == NULL || strchr(dir, '/') != NULL) {
        if (why && whysz)
            snprintf(why, whysz, "not a registry directory");
        return false;
    }
    if (named_for_host(dir, CRATES_IO_SPARSE_HOST) || strcmp(dir, CRATES_IO_GIT_DIR) == 0)
        return true;
    if (replacement_host && named_for_host(dir, replacement_host))
        return true;
    if (config_json != NULL) {
        struct proto_registry_config cfg;
        if (proto_config_parse(config_json, config_len, &cfg) == 0) {
            bool yes = dl_is_crates_io(cfg.dl);
            if (!yes && why && whysz)
                snprintf(why, whysz, "its config.json downloads from %.200s", cfg.dl);
            proto_config_clear(&cfg);
            if (yes)
                return true;
            return false;
        }
    }
    if (why && whysz)
        snprintf(why, whysz, "not crates.io's directory, not crates.io's replacement%s",
                 config_json ? " (unreadable config.json)" : "");
    return false;
}
