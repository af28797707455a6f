/* cli/check.c — `cratecast check`: will this project build offline?
 *
 * Reads the Cargo.lock files (cli/lockfiles.h), asks the running agent where
 * each crates.io package can come from (cli/locate.h) and prints one line
 * per package: here, at a peer (which), upstream only, or nowhere.
 * Exit status: 0 when every package is in this machine's store (with --room:
 * here or at a live peer), 1 when not (the missing ones are listed last),
 * 2 on a usage error (bad option, no Cargo.lock).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/locate.h"
#include "cli/lockfiles.h"
#include "proto/alloc.h"

static bool ok_for(enum locate_where w, bool room)
{
    return w == LOCATE_HERE || (room && w == LOCATE_PEER);
}

static void describe(const struct locate_item *it, char *out, size_t outsz)
{
    switch (it->where) {
    case LOCATE_HERE:
        snprintf(out, outsz, "here");
        break;
    case LOCATE_PEER:
        snprintf(out, outsz, "peer %s (key %.12s…)%s", it->peer_addr, it->peer_id,
                 it->npeers > 1 ? " and others" : "");
        break;
    case LOCATE_UPSTREAM:
        snprintf(out, outsz, "upstream only");
        break;
    case LOCATE_NOWHERE:
        snprintf(out, outsz, "nowhere: %s", it->note);
        break;
    }
}

static int print_json(const struct lock_set *s, const struct locate_item *it, bool room, bool ok,
                      bool online)
{
    json_t *pkgs = json_array(), *missing = json_array();
    size_t counts[4] = {0};
    for (size_t i = 0; i < s->n; i++) {
        char hex[PROTO_SHA256_HEX_LEN + 1] = "";
        if (s->v[i].has_sha)
            proto_hex_encode(s->v[i].sha, PROTO_SHA256_LEN, hex);
        counts[it[i].where]++;
        json_t *peers = json_array();
        if (it[i].npeers)
            json_array_append_new(
                peers, json_pack("{s:s,s:s}", "addr", it[i].peer_addr, "id", it[i].peer_id));
        json_t *o =
            json_pack("{s:s,s:s,s:s?,s:s,s:o,s:s?}", "name", s->v[i].name, "version", s->v[i].vers,
                      "checksum", hex[0] ? hex : NULL, "where", locate_where_name(it[i].where),
                      "peers", peers, "note", it[i].note[0] ? it[i].note : NULL);
        json_array_append_new(pkgs, o);
        if (!ok_for(it[i].where, room))
            json_array_append_new(missing,
                                  json_pack("{s:s,s:s,s:s}", "name", s->v[i].name, "version",
                                            s->v[i].vers, "where", locate_where_name(it[i].where)));
    }
    json_t *doc = json_pack(
        "{s:b,s:b,s:b,s:I,s:I,s:o,s:{s:I,s:I,s:I,s:I},s:o}", "ok", ok, "room", room, "online",
        online, "lockfiles", (json_int_t)s->files, "skipped_not_crates_io", (json_int_t)s->skipped,
        "packages", pkgs, "counts", "here", (json_int_t)counts[LOCATE_HERE], "peer",
        (json_int_t)counts[LOCATE_PEER], "upstream", (json_int_t)counts[LOCATE_UPSTREAM], "nowhere",
        (json_int_t)counts[LOCATE_NOWHERE], "missing", missing);
    if (doc == NULL) {
        return cli_error("out of memory");
    }
    int rc = client_print_json(doc);
    json_decref(doc);
    return rc;
}

enum { OPT_AGENT = 1, OPT_ROOM, OPT_JSON };

static const struct cli_option options[] = {
    {0, "PATH", NULL, "a project directory or a Cargo.lock", ".", CLI_REPEAT},
    CLI_OPTION_AGENT(OPT_AGENT),
    {OPT_ROOM, "--room", NULL, "count a package at a live peer as ready too", NULL, 0},
    {OPT_JSON, "--json", NULL, "print every package and the verdict as JSON", NULL, 0},
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_check = {
    "check",
    "will this project build offline? exit 0 yes, 1 no",
    "For every crates.io package in each PATH's Cargo.lock, says whether it is here (this\n"
    "machine's store), at a peer (which), at the upstream only, or nowhere, asking the running\n"
    "agent. Exit 0 when all are here (--room: here or at a live peer), 1 when not or when no\n"
    "agent answers, 2 on a usage error. `cratecast prefetch` fetches what is missing.\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    const char *agent = NULL, *v;
    bool room = false, as_json = false;
    char **paths = cc_calloc((size_t)argc + 1, sizeof *paths);
    size_t npaths = 0;
    struct cli_parser p;
    int id;
    if (paths == NULL)
        return cli_error("out of memory");
    cli_parser_init(&p, &cmd_check, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        if (id == CLI_STOP) {
            free(paths);
            return p.status;
        }
        if (id == OPT_ROOM)
            room = true;
        else if (id == OPT_JSON)
            as_json = true;
        else if (id == OPT_AGENT)
            agent = v;
        else if (id == CLI_ARG)
            paths[npaths++] = (char *)v;
    }
    struct lock_set s;
    int rc = lockfiles_load_for_agent("check", agent, paths, npaths, &s);
    free(paths);
    if (rc != 0)
        return rc;
    struct locate_item *it = cc_calloc(s.n + 1, sizeof *it);
    bool online = false;
    if (it == NULL) {
        lockfiles_free(&s);
        return 1;
    }
    rc = locate_packages("check", agent, &s, it, &online);
    if (rc != 0) {
        free(it);
        lockfiles_free(&s);
        return rc;
    }
    size_t missing = 0, counts[4] = {0};
    for (size_t i = 0; i < s.n; i++) {
        counts[it[i].where]++;
        if (!ok_for(it[i].where, room))
            missing++;
    }
    bool ok = missing == 0;
    if (as_json) {
        rc = print_json(&s, it, room, ok, online);
        free(it);
        lockfiles_free(&s);
        return rc ? rc : (ok ? 0 : 1);
    }
    for (size_t i = 0; i < s.n; i++) {
        char where[sizeof((struct locate_item *)0)->note + 64];
        describe(&it[i], where, sizeof where);
        printf("%-28s %-14s %s\n", s.v[i].name, s.v[i].vers, where);
    }
    printf("%zu crates.io package%s in %zu lockfile%s: %zu here, %zu at peers, %zu upstream only, "
           "%zu nowhere",
           s.n, s.n == 1 ? "" : "s", s.files, s.files == 1 ? "" : "s", counts[LOCATE_HERE],
           counts[LOCATE_PEER], counts[LOCATE_UPSTREAM], counts[LOCATE_NOWHERE]);
    if (s.skipped)
        printf(" (%zu from git or other registries not checked)", s.skipped);
    printf("\n");
    if (ok) {
        printf("ok: everything is %s\n",
               room ? "here or at a live peer" : "in this machine's store");
    } else {
        printf("missing %s:\n", room ? "(not here, at no live peer)" : "from this machine's store");
        for (size_t i = 0; i < s.n; i++) {
            if (ok_for(it[i].where, room))
                continue;
            char where[sizeof((struct locate_item *)0)->note + 64];
            describe(&it[i], where, sizeof where);
            printf("  %s %s (%s)\n", s.v[i].name, s.v[i].vers, where);
        }
        printf("not ready to build offline: %zu package%s missing; `cratecast prefetch` fetches "
               "%s\n",
               missing, missing == 1 ? "" : "s", missing == 1 ? "it" : "them");
    }
    free(it);
    lockfiles_free(&s);
    return ok ? 0 : 1;
}
