/* cli/status_text.h — `cratecast status` for a person: the agent's status
 * document (agent/status.h, GET /-/status) as labelled lines.
 *
 * What it shows, in order: online or offline (since when, the upstream, its
 * last error); where Cargo is served (listen) and the peer side (mDNS
 * discovery backend, key id); the store (crates, size, index entries); what
 * Cargo was sent (answers, bytes) and where its crates came from; the bytes
 * fetched from the upstream and from peers; what went to peers (crates,
 * bytes, relayed); transfers and upload slots; rejections; each peer (address,
 * short id, how found, state, crates held, crates and bytes both ways,
 * failures by cause, last seen); recent misses; the import at start.
 * Bytes in decimal units (kB, MB), as the status page.
 *
 * Pure: reads only doc, writes only to f (unit-tested in
 * tests/unit/test-cli-status-text.c). A field the document lacks reads as 0
 * or "?": an older agent still gets a readable page.
 */
#ifndef CRATECAST_CLI_STATUS_TEXT_H
#define CRATECAST_CLI_STATUS_TEXT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

/* Print doc to f, now being the current unix time (for "3 min ago"). */
void status_text_print(FILE *f, const json_t *doc, int64_t now);

#endif
