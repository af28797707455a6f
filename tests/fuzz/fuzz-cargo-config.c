/* tests/fuzz/fuzz-cargo-config.c — libFuzzer target for
 * proto_cargo_config_crates_io_replacement and proto_cargo_config_url_host.
 * The input is read as a Cargo config and, up to its first NUL, as a URL.
 * Checks: the result codes and when a line is given; a TOML error comes
 * through as TOML found it; a URL that fits exactly is given and one byte
 * less is -ENAMETOOLONG; a host is NUL-terminated, of the length returned,
 * holds no character a host may not, brackets only around a valid IPv6
 * address, and is its own host again as a sparse+http URL (a fixed point). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cargo_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define URL_MAX 4096

static void check_host(const char *url)
{
    char host[300], host2[300], url2[400];
    int rc = proto_cargo_config_url_host(url, host, sizeof host);
    if (rc < 0) {
        if ((rc != -EINVAL && rc != -ENAMETOOLONG) || host[0] != '\0')
            abort();
        return;
    }
    size_t n = (size_t)rc;
    if (strlen(host) != n)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= 0x20 || c >= 0x7f || strchr("#/?@\\^|<>", c) != NULL)
            abort();
        if ((c == '[' && i != 0) || (c == ']' && i != n - 1) || (c == ':' && host[0] != '['))
            abort();
    }
    if (n > 0 && host[0] == '[') {
        struct in6_addr a;
        char in[64];
        if (n < 4 || host[n - 1] != ']' || n - 2 >= sizeof in)
            abort();
        memcpy(in, host + 1, n - 2);
        in[n - 2] = '\0';
        if (inet_pton(AF_INET6, in, &a) != 1)
            abort();
    }
    /* exact room, one byte short */
    if (proto_cargo_config_url_host(url, host2, n + 1) != rc || strcmp(host, host2) != 0 ||
        proto_cargo_config_url_host(url, host2, n) != -ENAMETOOLONG || host2[0] != '\0')
        abort();
    if (n > 0) {
        snprintf(url2, sizeof url2, "sparse+http://%s/", host);
        if (proto_cargo_config_url_host(url2, host2, sizeof host2) != rc ||
            strcmp(host, host2) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';

    char *url = malloc(URL_MAX);
    if (url == NULL)
        abort();
    unsigned line = 12345, tline = 0;
    int rc = proto_cargo_config_crates_io_replacement(data, size, url, URL_MAX, &line);
    int trc = proto_toml_parse(data, size, NULL, NULL, &tline);
    switch (rc) {
    case 0:
        if (line != 0 || strnlen(url, URL_MAX) >= URL_MAX)
            abort();
        break;
    case -ENOENT:
    case -ENOTSUP:
    case -ENAMETOOLONG:
        if (line != 0 || url[0] != '\0')
            abort();
        break;
    case -EBADMSG:
    case -EINVAL:
    case -ELOOP:
        if (line == 0 || line > lines || url[0] != '\0')
            abort();
        break;
    case -EMSGSIZE:
    case -ENOMEM:
        if (url[0] != '\0')
            abort();
        break;
    default:
        abort();
    }
    if (trc != 0 && trc != -ENOMEM && (rc != trc || line != tline))
        abort();
    if (size > PROTO_CARGO_CONFIG_MAX && (rc != -EMSGSIZE || line != 0))
        abort();

    if (rc == 0) {
        size_t n = strlen(url);
        char *exact = malloc(n + 1);
        if (exact == NULL)
            abort();
        if (proto_cargo_config_crates_io_replacement(data, size, exact, n + 1, NULL) != 0 ||
            strcmp(exact, url) != 0 ||
            proto_cargo_config_crates_io_replacement(data, size, exact, n, NULL) != -ENAMETOOLONG)
            abort();
        free(exact);
        check_host(url);
    }

    /* the input as a URL */
    size_t ul = strnlen((const char *)data, size < URL_MAX - 1 ? size : URL_MAX - 1);
    memcpy(url, data, ul);
    url[ul] = '\0';
    check_host(url);
    free(url);
    return 0;
}
