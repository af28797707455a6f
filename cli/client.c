/* cli/client.c — see client.h. */
#include "cli/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "agent/agent.h"
#include "cli/options.h"
#include "proto/alloc.h"

void client_report_failure(const char *cmd, const char *url, const struct agent_http_response *res)
{
    char why[200];
    agent_http_failure(res, why, sizeof why);
    (void)cmd;
    if (res->error) {
        cli_error("no agent answers at %s (%s)", url, why);
        cli_hint("start the agent with `cratecast agent` (it runs until stopped; "
                 "`cratecast agent --help` lists its options), or name a running one with "
                 "--agent URL");
    } else {
        cli_error("the agent at %s answered %s", url, why);
    }
}

int client_url(const char *cmd, const char *agent, const char *path, char *out, size_t outsz)
{
    if (agent == NULL)
        agent = "http://" AGENT_DEFAULT_LISTEN;
    size_t ul = strlen(agent);
    bool scheme = strncmp(agent, "http://", 7) == 0 || strncmp(agent, "https://", 8) == 0;
    bool clean = true;
    for (size_t i = 0; i < ul; i++)
        if ((unsigned char)agent[i] <= ' ' || agent[i] == '?' || agent[i] == '#')
            clean = false;
    if (ul > 2000 || !scheme || !clean) {
        (void)cmd;
        cli_error("--agent %s: expected http://HOST:PORT", agent);
        cli_hint("the agent's Cargo side, as given to `cratecast agent --listen`, e.g. "
                 "--agent http://127.0.0.1:7878");
        return -EINVAL;
    }
    while (ul > 0 && agent[ul - 1] == '/')
        ul--;
    int n = snprintf(out, outsz, "%.*s%s", (int)ul, agent, path);
    if (n < 0 || (size_t)n >= outsz) {
        cli_error("--agent %s: the URL is too long", agent);
        return -EINVAL;
    }
    return 0;
}

json_t *client_get_json(const char *cmd, const char *url, long timeout_ms, long *status)
{
    struct agent_http_response res;
    *status = 0;
    int rc = agent_http_get_sync(url, timeout_ms, &res);
    if (rc < 0 && res.error == 0)
        res.error = rc;
    *status = res.status;
    if (res.error || res.status != 200) {
        client_report_failure(cmd, url, &res);
        agent_http_response_free(&res);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)res.body, res.len, 0, &jerr);
    agent_http_response_free(&res);
    if (doc == NULL)
        cli_error("%s: the agent at %s sent invalid JSON", cmd, url);
    return doc;
}

int client_print_json(const json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2));
    if (s == NULL) {
        cli_error("out of memory");
        return 1;
    }
    puts(s);
    free(s);
    return 0;
}

/* ---- batch --------------------------------------------------------------- */

struct batch {
    uv_loop_t loop;
    struct agent_http http;
    const struct agent_http_request *tmpl;
    client_url_fn url_of;
    client_done_fn done;
    void *ud;
    size_t n, next, active;
    unsigned concurrency;
    int error;
};

struct batch_req {
    struct batch *b;
    size_t i;
};

static void batch_fill(struct batch *b);

static void batch_one_done(void *ud, struct agent_http_response *res)
{
    struct batch_req *r = ud;
    struct batch *b = r->b;
    size_t i = r->i;
    free(r);
    b->active--;
    b->done(b->ud, i, res);
    batch_fill(b);
    if (b->active == 0)
        uv_stop(&b->loop); /* all answered (or a request could not start) */
}

/* Keep `concurrency` requests in flight while items remain. */
static void batch_fill(struct batch *b)
{
    while (b->next < b->n && b->active < b->concurrency && b->error == 0) {
        struct batch_req *r = cc_malloc(sizeof *r);
        if (r == NULL) {
            b->error = -ENOMEM;
            return;
        }
        r->b = b;
        r->i = b->next++;
        struct agent_http_request req = *b->tmpl;
        req.url = b->url_of(b->ud, r->i);
        if (agent_http_get(&b->http, &req, batch_one_done, r) < 0) {
            free(r);
            b->error = -ENOMEM;
            return;
        }
        b->active++;
    }
}

static void free_data(uv_handle_t *h)
{
    free(h->data); /* an http_client socket watcher (see http_client.c) */
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_POLL ? free_data : NULL);
}

int client_batch(size_t n, unsigned concurrency, const struct agent_http_request *tmpl,
                 client_url_fn url_of, client_done_fn done, void *ud)
{
    struct batch *b = cc_calloc(1, sizeof *b);
    if (b == NULL)
        return -ENOMEM;
    b->tmpl = tmpl;
    b->url_of = url_of;
    b->done = done;
    b->ud = ud;
    b->n = n;
    b->concurrency = concurrency ? concurrency : 1;
    int rc = uv_loop_init(&b->loop);
    if (rc < 0) {
        free(b);
        return rc;
    }
    if (agent_http_init(&b->http, &b->loop) < 0) {
        uv_loop_close(&b->loop);
        free(b);
        return -ENOMEM;
    }
    batch_fill(b);
    if (b->active > 0)
        uv_run(&b->loop, UV_RUN_DEFAULT); /* stopped when the last transfer answered */
    rc = b->error;
    agent_http_close(&b->http);
    uv_walk(&b->loop, close_any, NULL); /* curl's idle sockets' polls */
    uv_run(&b->loop, UV_RUN_DEFAULT);   /* close callbacks */
    uv_loop_close(&b->loop);
    free(b);
    return rc;
}
