/* cli/network_key.h — reading a private mesh's key file (cli/network_key.c). */
#ifndef CRATECAST_CLI_NETWORK_KEY_H
#define CRATECAST_CLI_NETWORK_KEY_H

#include <stdint.h>

#include "proto/mesh.h"

/* Read the key file at path: it must be a regular file (not a link) that
 * only its owner can read (no group or other permission bits) and hold one
 * printable key (proto_mesh_key_decode). 0, or -EPERM / -EINVAL after printing
 * "error: ..." (and a help: line where a fix is known). */
int cli_network_key_load(const char *path, uint8_t key[PROTO_MESH_KEY_LEN]);

#endif
