/* agent/why.c — GET /-/why/<crate> (and `cratecast why CRATE`): every version
 * of a crate the agent knows, and where each can come from right now.
 *
 * Document (a contract, docs/operations.md):
 *   {crate, online, upstream (url or null), upstream_state, listing ("all" online or with
 *    --offline-index all, else "offline"), versions: [{version, cksum, yanked, here,
 *    peers: [{id, addr}], upstream, listed, source, origin, peer_only}], misses: [...]}
 * origin is who first described the version (upstream, cargo-home, peer,
 * bundle); peer_only: it rests on a peer's word alone (the upstream never
 * confirmed it: online it would have been dropped if it did not list it).
 * source is the first of: "here" (in this store), "peer" (a live peer's signed
 * manifest lists it), "upstream" (online: the upstream can send it), "nowhere".
 * listed says whether Cargo is shown the version now (listing.h offline).
 * Versions come in the order they were published (the index file's order).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/client.h"
#include "agent/commands.h"
#include "agent/internal.h"
#include "agent/listing.h"
#include "agent/misses.h"

#define WHY_PEERS_MAX 16

static json_t *holders_json(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN])
{
    struct agent_peer *cand[WHY_PEERS_MAX];
    size_t n = agent_peers_holding_crate(a, sha, cand, WHY_PEERS_MAX);
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr; i++)
        json_array_append_new(
            arr, json_pack("{s:s,s:s}", "id", cand[i]->key_text, "addr", cand[i]->addr));
    return arr;
}

char *agent_why_json(struct agent *a, const char *name, size_t *len)
{
    struct store_index_list l;
    if (store_index_list(a->store, name, &l) < 0)
        return NULL;
    bool online = agent_upstream_online(a);
    bool filter = !online && !a->opt->offline_index_all;
    struct agent_listing_version *v = calloc(l.n + 1, sizeof *v);
    json_t *versions = json_array();
    json_t *doc = NULL;
    if (v == NULL || versions == NULL)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        v[i].vers = l.rows[i].vers;
        v[i].yanked = l.rows[i].yanked;
        v[i].available = l.rows[i].have_blob || agent_peers_have_crate(a, l.rows[i].cksum);
    }
    if (filter)
        agent_listing_offline(v, l.n);
    for (size_t i = 0; i < l.n; i++) {
        const struct store_index_row *r = &l.rows[i];
        char hex[PROTO_SHA256_HEX_LEN + 1];
        proto_hex_encode(r->cksum, PROTO_SHA256_LEN, hex);
        json_t *peers = holders_json(a, r->cksum);
        bool up = online && a->up.dl != NULL;
        const char *source = r->have_blob                 ? "here"
                             : json_array_size(peers) > 0 ? "peer"
                             : up                         ? "upstream"
                                                          : "nowhere";
        const char *origin = store_origin_name(r->origin);
        json_t *o = json_pack(
            "{s:s,s:s,s:b,s:b,s:o,s:b,s:b,s:s,s:s,s:b}", "version", r->vers, "cksum", hex, "yanked",
            r->yanked, "here", r->have_blob, "peers", peers ? peers : json_array(), "upstream", up,
            "listed", filter ? v[i].listed : true, "source", source, "origin",
            origin ? origin : "unknown", "peer_only", r->origin == STORE_ORIGIN_PEER);
        if (o == NULL || json_array_append_new(versions, o) < 0)
            goto out;
    }
    doc = json_pack("{s:s,s:b,s:s?,s:s,s:s,s:O,s:o}", "crate", name, "online", online, "upstream",
                    a->up.base, "upstream_state", agent_upstream_state_name(a), "listing",
                    filter ? "offline" : "all", "versions", versions, "misses",
                    agent_misses_json(&a->misses, name));
out:
    json_decref(versions);
    free(v);
    store_index_list_free(&l);
    return agent_json_take(doc, len);
}

/* ---- `cratecast why CRATE` ------------------------------------------------ */

static void why_usage(FILE *f)
{
    fputs("usage: cratecast why CRATE [--agent URL] [--json]\n"
          "\n"
          "Every version of CRATE the running agent knows, whether Cargo is shown it now, and\n"
          "where it can come from: here (this machine's store), a named peer, the upstream,\n"
          "or nowhere. Also the agent's recent misses for CRATE.\n",
          f);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

int cmd_why(int argc, char **argv)
{
    const char *agent = NULL, *name = NULL;
    bool as_json = false;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            why_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if ((v = client_opt_value(argc, argv, &i, "--agent")) != NULL) {
            agent = v;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "cratecast: why: unknown option '%s' (see cratecast why --help)\n",
                    argv[i]);
            return 2;
        } else if (name == NULL) {
            name = argv[i];
        } else {
            fprintf(stderr, "cratecast: why: one crate at a time\n");
            return 2;
        }
    }
    if (name == NULL) {
        why_usage(stderr);
        return 2;
    }
    if (!proto_crate_name_valid(name, strlen(name))) {
        fprintf(stderr, "cratecast: why: '%s' is not a crate name\n", name);
        return 2;
    }
    char url[CLIENT_URL_MAX];
    if (client_url("why", agent, "/-/why/", url, sizeof url) < 0)
        return 2;
    size_t ul = strlen(url);
    snprintf(url + ul, sizeof url - ul, "%s", name);
    long status;
    json_t *doc = client_get_json("why", url, 65000, &status);
    if (doc == NULL)
        return 1;
    if (as_json) {
        int rc = client_print_json(doc);
        json_decref(doc);
        return rc;
    }
    json_t *versions = json_object_get(doc, "versions");
    bool offline = strcmp(jstr(doc, "listing"), "offline") == 0;
    printf("%s: upstream %s%s\n", name, jstr(doc, "upstream_state"),
           offline ? "; offline listing (versions nobody can send are withheld)" : "");
    if (json_array_size(versions) == 0)
        printf("  no version known: not in this store, at no live peer%s\n",
               json_is_true(json_object_get(doc, "online")) ? ", not at the upstream" : "");
    else
        printf("  %-24s %-7s %s\n", "version", "listed", "can come from");
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        char where[512];
        const char *src = jstr(v, "source");
        json_t *peers = json_object_get(v, "peers");
        if (strcmp(src, "here") == 0) {
            snprintf(where, sizeof where, "here (this machine's store)");
        } else if (strcmp(src, "peer") == 0) {
            json_t *p0 = json_array_get(peers, 0);
            size_t np = json_array_size(peers);
            snprintf(where, sizeof where, "peer %s (key %.12s…)%s", jstr(p0, "addr"),
                     jstr(p0, "id"), np > 1 ? " and others" : "");
        } else if (strcmp(src, "upstream") == 0) {
            snprintf(where, sizeof where, "the upstream");
        } else {
            snprintf(where, sizeof where, "nowhere (%s)",
                     json_is_true(json_object_get(doc, "online")) ? "upstream lacks it"
                                                                  : "offline");
        }
        printf("  %-24s %-7s %s%s%s\n", jstr(v, "version"),
               json_is_true(json_object_get(v, "listed")) ? "yes" : "no", where,
               json_is_true(json_object_get(v, "yanked")) ? " [yanked]" : "",
               json_is_true(json_object_get(v, "peer_only")) ? " [on a peer's word only]" : "");
    }
    json_t *misses = json_object_get(doc, "misses");
    if (json_array_size(misses) > 0) {
        printf("recent misses:\n");
        json_array_foreach(misses, i, v)
        {
            const char *ver = json_string_value(json_object_get(v, "version"));
            printf("  %s%s%s: %s (%lld times)\n", name, ver ? " " : "", ver ? ver : "",
                   jstr(v, "reason"), (long long)json_integer_value(json_object_get(v, "count")));
        }
    }
    json_decref(doc);
    return 0;
}
