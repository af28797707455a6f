/* proto/options.h — the agent's configuration file (--config FILE).
 *
 * A small TOML subset, one setting per line:
 *     # comment
 *     listen = "127.0.0.1:7878"
 *     upstream = "https://index.crates.io/"
 *     import = false
 *     peer = ["10.0.0.2:7879", "10.0.0.3:7879"]
 * Keys are the long option names of `cratecast agent` without "--". Strings are
 * double-quoted (\" and \\ escapes) or bare words; booleans true/false; arrays
 * of strings for repeatable options. The parser only tokenizes: the agent maps
 * keys to options exactly as if they had been given on the command line.
 */
#ifndef CRATECAST_PROTO_OPTIONS_H
#define CRATECAST_PROTO_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_OPTIONS_MAX (1u << 20)
#define PROTO_OPTION_KEY_MAX 64
#define PROTO_OPTION_VALUE_MAX 4096

/* Called once per value (once per array element). value is NUL-terminated;
 * is_bool is 1 for a bare true/false. Return non-zero to stop: parse returns it. */
typedef int (*proto_options_cb)(void *ud, const char *key, const char *value, int is_bool,
                                unsigned line);

/* 0, the callback's non-zero value, or -EBADMSG with *err_line set to the
 * offending line (1-based); -EMSGSIZE over PROTO_OPTIONS_MAX. */
int proto_options_parse(const uint8_t *buf, size_t len, proto_options_cb cb, void *ud,
                        unsigned *err_line);

#endif
