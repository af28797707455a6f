/* agent/agent.c — the agent's lifetime: open the store, start the registry
 * server and the upstream prober, import CARGO_HOME in the background, run the
 * loop until SIGINT/SIGTERM, then close everything in reverse order.
 *
 * Startup errors (bad store, port in use) are fatal and reported on one line;
 * anything after the loop runs is logged and survived.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "agent/internal.h"
#include "agent/log.h"

int64_t agent_now(void)
{
    return (int64_t)time(NULL);
}

void agent_options_init(struct agent_options *o)
{
    memset(o, 0, sizeof *o);
    o->mdns = true;
    o->import = true;
    o->trust = AGENT_TRUST_OPEN;
    o->index_ttl = 0; /* revalidate every time: reachability is checked when Cargo resolves */
    o->upload_slots = AGENT_DEFAULT_UPLOAD_SLOTS;
    o->upstream = strdup(AGENT_DEFAULT_UPSTREAM); /* NULL = none */
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void agent_options_free(struct agent_options *o)
{
    free(o->store_dir);
    free(o->listen);
    free(o->peer_listen);
    free(o->upstream);
    free_list(o->peers, o->npeers);
    free(o->import_home);
    free_list(o->trust_keys, o->ntrust_keys);
    free(o->network_key);
    memset(o, 0, sizeof *o);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", a, b);
    return s;
}

char *agent_default_store_dir(void)
{
    const char *x = getenv("XDG_CACHE_HOME");
    if (x && x[0] == '/')
        return join(x, "/cratecast");
    const char *h = getenv("HOME");
    if (h && h[0])
        return join(h, "/.cache/cratecast");
    return NULL;
}

char *agent_default_cargo_home(void)
{
    const char *c = getenv("CARGO_HOME");
    if (c && c[0])
        return strdup(c);
    const char *h = getenv("HOME");
    if (h && h[0])
        return join(h, "/.cargo");
    return NULL;
}

int agent_parse_addr(const char *s, struct sockaddr_storage *out)
{
    char host[64];
    const char *colon;
    size_t hl;
    if (s == NULL)
        return -EINVAL;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return -EINVAL;
        hl = (size_t)(rb - s - 1);
        if (hl == 0 || hl >= sizeof host)
            return -EINVAL;
        memcpy(host, s + 1, hl);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -EINVAL;
        hl = (size_t)(colon - s);
        if (hl == 0 || hl >= sizeof host)
            return -EINVAL;
        memcpy(host, s, hl);
    }
    host[hl] = '\0';
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return -EINVAL;
    unsigned port = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        port = port * 10 + (unsigned)(*p - '0');
    }
    if (port == 0 || port > 65535)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return -EINVAL;
}

static void on_tick(uv_timer_t *t)
{
    struct agent *a = t->data;
    agent_manifest_tick(a);
    if (store_touch_flush(a->store) < 0) /* last_used of the crates served this second */
        log_warn("store: cannot record crate use: %s", store_errmsg(a->store));
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct agent *a = sig->data;
    if (a->stopping)
        return;
    log_info("signal %d: stopping", signum);
    a->stopping = true;
    uv_stop(&a->loop);
}

/* The agent of this process, kept reachable until exit (see agent_run). */
static struct agent *running;

int agent_run(const struct agent_options *opt)
{
    struct agent *a = calloc(1, sizeof *a);
    int status = 1, rc;
    if (a == NULL) {
        fprintf(stderr, "cratecast: out of memory\n");
        return 1;
    }
    a->opt = opt;
    a->started_at = agent_now();
    if (uv_loop_init(&a->loop) != 0) {
        fprintf(stderr, "cratecast: cannot create the event loop\n");
        free(a);
        return 1;
    }
    rc = store_open(opt->store_dir, &a->store);
    if (rc < 0) {
        fprintf(stderr, "cratecast: cannot open the store at %s: %s\n", opt->store_dir,
                a->store ? store_errmsg(a->store) : strerror(-rc));
        goto out;
    }
    rc = store_identity(a->store, a->pk, a->sk);
    if (rc < 0) {
        fprintf(stderr, "cratecast: cannot load this agent's identity from %s: %s\n",
                opt->store_dir, strerror(-rc));
        goto out;
    }
    proto_key_encode(a->pk, a->key_text);
    proto_key_id(a->pk, a->key_id);
    a->announced_seq = store_seq(a->store);
    rc = agent_registry_start(a, opt->listen);
    if (rc < 0) {
        fprintf(stderr, "cratecast: cannot listen on %s: %s\n", opt->listen, uv_strerror(rc));
        goto out;
    }
    if (agent_http_init(&a->http, &a->loop) < 0) {
        fprintf(stderr, "cratecast: cannot initialise the HTTP client\n");
        goto out;
    }
    if (agent_upstream_init(a, opt->upstream) < 0) {
        fprintf(stderr, "cratecast: out of memory\n");
        goto out;
    }
    if (strcmp(opt->peer_listen, "off") != 0) {
        rc = agent_peerapi_start(a, opt->peer_listen);
        if (rc < 0) {
            fprintf(stderr, "cratecast: cannot listen for peers on %s: %s\n", opt->peer_listen,
                    uv_strerror(rc));
            goto out;
        }
    }
    agent_news_init(a);
    agent_uploads_init(a);
    if (agent_peers_init(a) < 0)
        goto out;
    uv_timer_init(&a->loop, &a->tick);
    a->tick.data = a;
    uv_timer_start(&a->tick, on_tick, 1000, 1000);
    uv_signal_init(&a->loop, &a->sigint);
    uv_signal_init(&a->loop, &a->sigterm);
    a->sigint.data = a->sigterm.data = a;
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);

    log_info("serving Cargo on http://%s/index/ (store %s, upstream %s)", a->listen_host,
             opt->store_dir, opt->upstream ? opt->upstream : "none");
    if (a->peer_port)
        log_info("serving peers on %s as %s (key id %s)", opt->peer_listen, a->key_text, a->key_id);
    if (opt->import) {
        char *home = opt->import_home ? strdup(opt->import_home) : agent_default_cargo_home();
        if (home) {
            agent_import_start(a, home);
            free(home);
        }
    }
    uv_run(&a->loop, UV_RUN_DEFAULT);
    status = 0;

out:
    a->stopping = true;
    agent_import_cancel();
    agent_registry_stop(a);
    agent_peerapi_stop(a);
    if (a->tick.data)
        uv_timer_stop(&a->tick);
    agent_fetch_abort_all(a);
    agent_fetch_close(a);
    if (a->http.multi)
        agent_http_close(&a->http);
    if (a->up.base || a->up.state == UPSTREAM_NONE)
        agent_upstream_close(a);
    agent_peers_close(a);
    agent_news_close(a);
    if (a->upload_timer.data)
        agent_uploads_close(a);
    if (a->store && store_touch_flush(a->store) < 0)
        log_warn("store: cannot record crate use: %s", store_errmsg(a->store));
    store_close(a->store);
    a->store = NULL;
    sodium_memzero(a->sk, sizeof a->sk);
    free(a->manifest_full);
    free(a->manifest_delta);
    a->manifest_full = a->manifest_delta = NULL;
    /* The loop, h2o's connections and an import still running on the pool are
     * left to process exit: h2o 2.2 has no way to drain its connections, and
     * an interrupted import transaction is rolled back by SQLite at the next
     * open. They stay reachable from `running` so leak checkers do not
     * mistake them for leaks. */
    running = a;
    return status;
}
