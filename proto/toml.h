/* proto/toml.h — a strict, bounded TOML subset as a stream of events, enough
 * for Cargo.lock and Cargo's config.toml (consumers: proto/cargo_lock.h,
 * proto/cargo_config.h).
 *
 * What is accepted (TOML 1.0 where not said otherwise):
 *   comments; [table] and [[array.of.tables]] headers; key = value with bare,
 *   "basic" and 'literal' keys, dotted (a."b".c = 1, spaces around dots);
 *   values: basic strings with escapes \" \\ \b \t \n \f \r \uXXXX \UXXXXXXXX,
 *   literal strings, multi-line """...""" and '''...''' strings (a newline
 *   right after the opening quotes is dropped, CRLF inside becomes LF, and a
 *   line-ending backslash in """ trims the following whitespace), decimal
 *   integers (sign, underscores between digits, 64-bit), true/false, arrays
 *   (multi-line, comments inside, trailing comma) and inline tables on one
 *   line ({ a = "1", b = { c = true } }, no trailing comma).
 *   LF or CRLF line ends; a leading UTF-8 byte-order mark is skipped.
 *
 * What is rejected with -EBADMSG (documented choices, not TOML's):
 *   floats, inf/nan, dates and times, 0x/0o/0b integers; arrays inside arrays
 *   and inline tables inside arrays (an array holds strings, integers and
 *   booleans only); the escapes TOML 1.0 does not have (\e, \xHH); \u0000
 *   (values are C strings); NUL and the other control characters (but tab)
 *   outside strings and inside them, and a CR that does not end a line.
 * Bytes >= 0x80 in strings and comments are passed through unchecked.
 *
 * Not detected: a key assigned twice, a table defined twice, a key used both
 * as a value and as a table. Every assignment is delivered in file order and
 * the consumer decides (both consumers here reject a repeated key they use).
 *
 * Limits, each -EMSGSIZE with the line: the input (PROTO_TOML_MAX, checked
 * first, line 0), a decoded key segment (PROTO_TOML_KEY_MAX bytes), a path
 * (table segments plus key segments: PROTO_TOML_DEPTH_MAX), a decoded string
 * (PROTO_TOML_STRING_MAX bytes), inline tables open at once
 * (PROTO_TOML_NEST_MAX).
 */
#ifndef CRATECAST_PROTO_TOML_H
#define CRATECAST_PROTO_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_TOML_MAX (4u << 20)
#define PROTO_TOML_KEY_MAX 256
#define PROTO_TOML_DEPTH_MAX 16
#define PROTO_TOML_STRING_MAX (64u << 10)
#define PROTO_TOML_NEST_MAX 16

enum proto_toml_type {
    PROTO_TOML_TABLE, /* a [header] or [[header]] was read: no value */
    PROTO_TOML_STRING,
    PROTO_TOML_INTEGER,
    PROTO_TOML_BOOLEAN,
};

/* One event. Everything it points to belongs to the parser and is valid only
 * until the callback returns.
 *
 * path holds table_len segments of the current header, then key_len segments
 * of the assignment (dotted keys and enclosing inline tables flattened:
 * [t] x = { y.z = 1 } gives path t,x,y,z with table_len 1, key_len 3). Every
 * segment is decoded and NUL-terminated (it may be empty: "" is a key), at
 * most PROTO_TOML_KEY_MAX bytes; table_len + key_len <= PROTO_TOML_DEPTH_MAX.
 * A TABLE event has key_len 0 and table_len >= 1; a value event key_len >= 1.
 *
 * value is the decoded value, NUL-terminated, value_len bytes (no NUL inside):
 * a string as decoded, an integer in canonical decimal ("+1_000" -> "1000"),
 * "true" or "false"; "" for TABLE. integer is the number for INTEGER, 1 or 0
 * for BOOLEAN, 0 otherwise.
 *
 * An array delivers one event per element, in order, with in_array set and
 * index counting from 0; an empty array delivers nothing.
 *
 * array_table is set from a [[header]] until the next header; element is the
 * serial number, counted from 1 over the whole file, of the last [[header]]
 * read (0 before the first), so a new element starts at each TABLE event with
 * array_table set, even an element with no keys.
 *
 * line (1-based) is where the value starts (its first quote for a multi-line
 * string), or the header's line. */
struct proto_toml_event {
    enum proto_toml_type type;
    const char *const *path;
    size_t table_len;
    size_t key_len;
    const char *value;
    size_t value_len;
    int64_t integer;
    bool in_array;
    size_t index;
    bool array_table;
    size_t element;
    unsigned line;
};

/* Called once per header and once per scalar value (per array element).
 * Return non-zero to stop: parse returns that value. */
typedef int (*proto_toml_cb)(void *ud, const struct proto_toml_event *ev);

/* Checks the whole buffer first and calls cb only when all of it is valid,
 * so a bad file delivers nothing. cb may be NULL (check only).
 * Returns 0; the callback's non-zero value (*err_line 0); -EBADMSG or
 * -EMSGSIZE with *err_line the 1-based line where the error was found;
 * -EMSGSIZE with *err_line 0 when len > PROTO_TOML_MAX; -ENOMEM. err_line may
 * be NULL. The parser's state (about 70 KiB) is allocated per call and freed
 * before it returns; it keeps no state between calls and is thread-safe. */
int proto_toml_parse(const uint8_t *buf, size_t len, proto_toml_cb cb, void *ud,
                     unsigned *err_line);

#endif
