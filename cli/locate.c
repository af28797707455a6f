/* cli/locate.c — see locate.h. */
#include "cli/locate.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "proto/alloc.h"

#define LOCATE_CONCURRENCY 8
#define WHY_DOC_MAX (64u << 20)

const char *locate_where_name(enum locate_where w)
{
    switch (w) {
    case LOCATE_HERE:
        return "here";
    case LOCATE_PEER:
        return "peer";
    case LOCATE_UPSTREAM:
        return "upstream";
    case LOCATE_NOWHERE:
        return "nowhere";
    }
    return "?";
}

struct job {
    const char *cmd;
    const struct lock_set *s;
    struct locate_item *out;
    const char **names; /* distinct names */
    size_t nnames;
    char (*urls)[CLIENT_URL_MAX];
    int failed;
    int online; /* -1 unknown */
};

static const char *url_of(void *ud, size_t i)
{
    struct job *j = ud;
    return j->urls[i];
}

static void classify(struct job *j, const char *name, json_t *doc)
{
    json_t *versions = json_object_get(doc, "versions");
    if (j->online < 0)
        j->online = json_is_true(json_object_get(doc, "online"));
    for (size_t k = 0; k < j->s->n; k++) {
        const struct lock_pkg *p = &j->s->v[k];
        if (strcmp(p->name, name) != 0)
            continue;
        struct locate_item *it = &j->out[k];
        it->where = LOCATE_NOWHERE;
        snprintf(it->note, sizeof it->note, "the agent knows no version %s", p->vers);
        size_t i;
        json_t *v;
        json_array_foreach(versions, i, v)
        {
            const char *vers = json_string_value(json_object_get(v, "version"));
            const char *ck = json_string_value(json_object_get(v, "cksum"));
            uint8_t sha[PROTO_SHA256_LEN];
            if (vers == NULL || ck == NULL || strcmp(vers, p->vers) != 0 ||
                proto_hex_decode(ck, strlen(ck), sha, sizeof sha) < 0)
                continue;
            if (p->has_sha && memcmp(sha, p->sha, PROTO_SHA256_LEN) != 0) {
                snprintf(it->note, sizeof it->note,
                         "the index's checksum of %s differs from Cargo.lock's", p->vers);
                break;
            }
            it->known = true;
            memcpy(it->cksum, sha, sizeof sha);
            it->note[0] = '\0';
            json_t *peers = json_object_get(v, "peers");
            it->npeers = json_array_size(peers);
            if (it->npeers) {
                json_t *p0 = json_array_get(peers, 0);
                snprintf(it->peer_addr, sizeof it->peer_addr, "%s",
                         json_string_value(json_object_get(p0, "addr"))
                             ? json_string_value(json_object_get(p0, "addr"))
                             : "?");
                snprintf(it->peer_id, sizeof it->peer_id, "%s",
                         json_string_value(json_object_get(p0, "id"))
                             ? json_string_value(json_object_get(p0, "id"))
                             : "?");
            }
            if (json_is_true(json_object_get(v, "here")))
                it->where = LOCATE_HERE;
            else if (it->npeers)
                it->where = LOCATE_PEER;
            else if (json_is_true(json_object_get(v, "upstream")))
                it->where = LOCATE_UPSTREAM;
            else
                snprintf(it->note, sizeof it->note, "not here, at no live peer, %s",
                         json_is_true(json_object_get(doc, "online")) ? "not at the upstream"
                                                                      : "upstream offline");
            break;
        }
    }
}

static void done(void *ud, size_t i, struct agent_http_response *res)
{
    struct job *j = ud;
    if (res->error || res->status != 200) {
        if (!j->failed)
            client_report_failure(j->cmd, j->urls[i], res);
        j->failed = 1;
        return;
    }
    json_error_t e;
    json_t *doc = json_loadb((const char *)res->body, res->len, 0, &e);
    if (doc == NULL) {
        if (!j->failed)
            fprintf(stderr, "error: %s sent invalid JSON\n", j->urls[i]);
        j->failed = 1;
        return;
    }
    classify(j, j->names[i], doc);
    json_decref(doc);
}

int locate_packages(const char *cmd, const char *agent, const struct lock_set *s,
                    struct locate_item *out, bool *online)
{
    struct job j = {.cmd = cmd, .s = s, .out = out, .online = -1};
    memset(out, 0, s->n * sizeof *out);
    j.names = cc_calloc(s->n + 1, sizeof *j.names);
    j.urls = cc_calloc(s->n + 1, sizeof *j.urls);
    int rc = 1;
    if (j.names == NULL || j.urls == NULL) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    for (size_t k = 0; k < s->n; k++) {
        bool dup = false;
        for (size_t i = 0; i < j.nnames && !dup; i++)
            dup = strcmp(j.names[i], s->v[k].name) == 0;
        if (dup)
            continue;
        char path[PROTO_NAME_MAX + 16];
        snprintf(path, sizeof path, "/-/why/%s", s->v[k].name);
        if (client_url(cmd, agent, path, j.urls[j.nnames], CLIENT_URL_MAX) < 0) {
            rc = 2;
            goto out;
        }
        j.names[j.nnames++] = s->v[k].name;
    }
    struct agent_http_request tmpl = {
        .max_body = WHY_DOC_MAX,
        .connect_timeout_ms = 3000,
        .timeout_ms = 120000, /* the agent may fetch the index file first */
    };
    if (client_batch(j.nnames, LOCATE_CONCURRENCY, &tmpl, url_of, done, &j) < 0) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    if (!j.failed) {
        rc = 0;
        *online = j.online > 0;
    }
out:
    free(j.names);
    free(j.urls);
    return rc;
}
