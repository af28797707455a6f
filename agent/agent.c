/* agent/agent.c — the agent's lifetime: open the store, start the registry
 * server and the upstream prober, import CARGO_HOME in the background, run the
 * loop until SIGINT/SIGTERM, then close everything in reverse order.
 *
 * Startup errors (bad store, bad identity key, another agent on the store,
 * port in use) are fatal: one line "error: <what is wrong>" on stderr,
 * "help: <what to do>" lines when a fix is known, exit status 1. Anything
 * after the loop runs is logged and survived.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sodium.h>

#include "agent/agent.h"
#include "agent/core.h"
#include "agent/activity.h"
#include "agent/evict.h"
#include "agent/fetch.h"
#include "agent/http_client.h"
#include "agent/import.h"
#include "agent/import_job.h"
#include "agent/listen_fds.h"
#include "agent/log.h"
#include "agent/manifest.h"
#include "agent/mesh.h"
#include "agent/misses.h"
#include "agent/news.h"
#include "agent/peerapi.h"
#include "agent/peers.h"
#include "agent/port_owner.h"
#include "agent/registry.h"
#include "agent/relay.h"
#include "agent/uploads.h"
#include "agent/upstream.h"
#include "store/store.h"
#include "proto/addr.h"
#include "proto/alloc.h"

/* The agent: what agent.c owns, and a pointer to each part (core.h). Private
 * to this file: the parts ask for what they need through core.h. */
struct agent {
    uv_loop_t loop;
    const struct agent_options *opt;
    struct store *store;
    struct agent_http http;
    struct agent_counters counters;
    struct agent_misses misses; /* what Cargo asked for and nobody could give */
    struct agent_identity id;
    uv_timer_t tick; /* every second: manifest/sequence watch, crate-use flush */
    uv_signal_t sigint, sigterm;
    int64_t started_at;
    bool stopping;

    /* the parts, each allocated zeroed by its own file */
    struct agent_fetches *fetches;
    struct agent_relays *relays;
    struct agent_upstream *upstream;
    struct agent_manifest *manifest;
    struct agent_uploads *uploads;
    struct agent_news *news;
    struct agent_peers *peers;
    struct agent_registry *registry;
    struct agent_peerapi *peerapi;
    struct agent_imports *imports;
    struct agent_evict *evict;
    struct agent_activity *activity;
    struct agent_mesh *mesh;
};

/* The agent is one object used on one thread: a part given a const pointer
 * may still change its own state and the shared counters. */
static struct agent *mut(const struct agent *a)
{
    return (struct agent *)a;
}

uv_loop_t *agent_loop(const struct agent *a)
{
    return &mut(a)->loop;
}
struct store *agent_store(const struct agent *a)
{
    return a->store;
}
const struct agent_options *agent_opt(const struct agent *a)
{
    return a->opt;
}
struct agent_http *agent_http(const struct agent *a)
{
    return &mut(a)->http;
}
const struct agent_identity *agent_id(const struct agent *a)
{
    return &a->id;
}
struct agent_counters *agent_counters(const struct agent *a)
{
    return &mut(a)->counters;
}
bool agent_stopping(const struct agent *a)
{
    return a->stopping;
}
int64_t agent_started_at(const struct agent *a)
{
    return a->started_at;
}
struct agent_misses *agent_misses(const struct agent *a)
{
    return &mut(a)->misses;
}
void agent_changed(struct agent *a)
{
    agent_news_changed(a);
    agent_evict_soon(a);
}
void agent_sources_changed(struct agent *a)
{
    agent_fetch_kick(a);
}
void agent_peer_live(struct agent_peer *p)
{
    agent_news_poll(p);
}
void agent_crate_progress(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size)
{
    agent_relay_progress(a, sha, size);
}
void agent_crate_ended(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], bool complete)
{
    agent_relay_end(a, sha, complete);
}

#define PART(type, field)                                                                          \
    struct type *type(const struct agent *a)                                                       \
    {                                                                                              \
        return a->field;                                                                           \
    }
PART(agent_fetches, fetches)
PART(agent_relays, relays)
PART(agent_upstream, upstream)
PART(agent_manifest, manifest)
PART(agent_uploads, uploads)
PART(agent_news, news)
PART(agent_peers, peers)
PART(agent_registry, registry)
PART(agent_peerapi, peerapi)
PART(agent_imports, imports)
PART(agent_evict, evict)
PART(agent_activity, activity)
PART(agent_mesh, mesh)
#undef PART

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
    o->upstream = cc_strdup(AGENT_DEFAULT_UPSTREAM); /* NULL = none */
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
    sodium_memzero(o->mesh_key, sizeof o->mesh_key);
    memset(o, 0, sizeof *o);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = cc_malloc(n);
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
        return cc_strdup(c);
    const char *h = getenv("HOME");
    if (h && h[0])
        return join(h, "/.cargo");
    return NULL;
}

int agent_parse_addr(const char *s, struct sockaddr_storage *out)
{
    struct proto_peer_addr a;
    if (s == NULL || proto_peer_addr_parse(s, strlen(s), &a) < 0 ||
        proto_peer_addr_to_sockaddr(&a, out) < 0)
        return -EINVAL;
    return 0;
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

/* ---- startup errors ---------------------------------------------------------- */

static void help(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void help(const char *fmt, ...)
{
    va_list ap;
    fputs("help: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void agent_store_error(enum agent_store_step step, int code, const char *dir,
                       const struct store_error *err)
{
    if (err && err->text[0])
        fprintf(stderr, "error: %s\n", err->text);
    else
        fprintf(stderr, "error: the store %s: %s\n", dir, strerror(-code));
    switch (step) {
    case AGENT_STORE_OPEN:
        if (code == -ENOTDIR)
            help("--store names the store's directory (made when missing): move what is in the "
                 "way, or choose another path");
        else if (code == -EACCES || code == -EPERM)
            help("give this user write access to %s, or choose another directory with --store",
                 dir);
        else if (code == -EROFS)
            help("choose a store on a writable file system with --store");
        else if (code == -ENODATA)
            help("move it away (mv %s/store.db %s/store.db.empty) and start again: the crates of "
                 "your Cargo cache come back with `cratecast import-cargo --store %s`; or use "
                 "another directory with --store",
                 dir, dir, dir);
        else if (code == -EBADMSG || code == -EUCLEAN)
            help("move it away (mv %s/store.db %s/store.db.bad) and start again: the crates of "
                 "your Cargo cache come back with `cratecast import-cargo --store %s`; or use "
                 "another directory with --store",
                 dir, dir, dir);
        else if (code == -EPROTONOSUPPORT)
            help("run the newer cratecast on this store, or give this one a store of its own "
                 "with --store");
        else if (code == -EBUSY)
            help("another process kept the database busy: try again");
        else if (code == -ENOSPC)
            help("free some space on that file system, or choose another store with --store");
        break;
    case AGENT_STORE_IDENTITY:
        if (code == -EPERM)
            help("run: chmod 600 %s/identity.key", dir);
        else if (code == -EBADMSG)
            help("restore identity.key from a backup (cp -p), or move it away to give this "
                 "machine a new identity (peers that trust the old key will not trust the new "
                 "one)");
        else if (code == -ELOOP)
            help("replace the link with a copy of the key file itself (mode 0600)");
        break;
    case AGENT_STORE_LOCK:
        if (code == -EBUSY)
            help("stop that agent first, or give this one a store of its own with --store (and "
                 "another --listen port)");
        break;
    }
}

/* Who holds addr's port (agent/port_owner.h), as a help: line. True when
 * it is this agent itself (both sides on one port). */
static bool port_owner_help(const char *addr)
{
    struct sockaddr_storage ss;
    struct agent_port_owner o;
    uint16_t port = 0;
    if (agent_parse_addr(addr, &ss) == 0)
        port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    if (port == 0 || agent_port_owner(port, &o) < 0) {
        help("another program listens there (another cratecast agent?)");
    } else if (o.pid == (long)getpid()) {
        help("this agent listens there itself: --listen and --peer-listen name the same port");
        return true;
    } else if (o.pid > 0) {
        help("process %ld (%s) listens on port %u%s", o.pid, o.comm, port,
             strcmp(o.comm, "cratecast") == 0 ? ": another cratecast agent" : "");
    } else {
        help("a process of user %u listens on port %u (this user cannot see which)", o.uid, port);
    }
    return false;
}

/* A listener that could not be opened: which side, its address, its option. */
static void listen_error(const char *side, const char *addr, const char *option, int rc)
{
    const char *off = strcmp(option, "--peer-listen") == 0 ? ", or --peer-listen off" : "";
    if (rc == UV_EADDRINUSE) {
        fprintf(stderr, "error: cannot serve %s: %s is already in use\n", side, addr);
        bool self = port_owner_help(addr);
        help("%schoose another port with %s ADDR:PORT%s", self ? "" : "stop it, or ", option, off);
    } else if (rc == UV_EACCES) {
        fprintf(stderr, "error: cannot serve %s on %s: permission denied\n", side, addr);
        help("ports below 1024 need privileges: choose another with %s ADDR:PORT%s", option, off);
    } else if (rc == UV_EADDRNOTAVAIL) {
        fprintf(stderr, "error: cannot serve %s: %s is not an address of this machine\n", side,
                addr);
        help("use 127.0.0.1, 0.0.0.0 or an address of this machine with %s%s", option, off);
    } else {
        fprintf(stderr, "error: cannot serve %s on %s: %s\n", side, addr, uv_strerror(rc));
    }
}

/* The agent of this process, kept reachable until exit (see agent_run).
 * volatile: a pointer that is only ever stored would be optimised away, and
 * with it what leak checkers see. */
static struct agent *volatile running;

/* Startup, in order; the first failure prints one error line (and help:
 * lines) and jumps to `out`. Every close in `out` accepts a sub-module whose
 * init never ran (struct agent starts zeroed): each tracks its own
 * initialisation (registry/peer servers: `listening`; HTTP client: `multi`;
 * upstream: `started`; news: `started`; uploads, fetch: their timers' data;
 * peers: NULL-safe lists and discovery). */
/* The soft limit on open files up to the hard one: the ports' connection caps
 * (512 Cargo, 256 peers) plus blobs being served and written must fit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t want = rl.rlim_max;
    if (want == RLIM_INFINITY || want > 65536)
        want = 65536;
    if (want > rl.rlim_cur) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_debug("cannot raise the open-file limit");
    }
}

int agent_run(const struct agent_options *opt)
{
    raise_nofile();
    struct agent *a = cc_calloc(1, sizeof *a);
    struct store_error err;
    int status = 1, rc;
    if (a == NULL) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    a->opt = opt;
    a->started_at = agent_now();
    /* Every part exists (zeroed: not started) before any starts, so every
     * close below may run whatever failed. */
    a->fetches = agent_fetches_new();
    a->relays = agent_relays_new();
    a->upstream = agent_upstream_new();
    a->manifest = agent_manifest_new();
    a->uploads = agent_uploads_new();
    a->news = agent_news_new();
    a->peers = agent_peers_new();
    a->registry = agent_registry_new();
    a->peerapi = agent_peerapi_new();
    a->imports = agent_imports_new();
    a->evict = agent_evict_new();
    a->activity = agent_activity_new();
    a->mesh = agent_mesh_new();
    if (!a->fetches || !a->relays || !a->upstream || !a->manifest || !a->uploads || !a->news ||
        !a->peers || !a->registry || !a->peerapi || !a->imports || !a->evict || !a->activity ||
        !a->mesh) {
        fprintf(stderr, "error: out of memory\n");
        running = a; /* what was allocated stays reachable, as at exit */
        return 1;
    }
    if (uv_loop_init(&a->loop) != 0) {
        fprintf(stderr, "error: cannot create the event loop\n");
        free(a);
        return 1;
    }
    /* The store first, then its identity, then the agent lock: a store that
     * is refused is left exactly as it was (no agent.lock appears in it). */
    rc = store_open_err(opt->store_dir, &a->store, &err);
    if (rc < 0) {
        agent_store_error(AGENT_STORE_OPEN, rc, opt->store_dir, &err);
        goto out;
    }
    rc = store_identity_err(a->store, a->id.pk, a->id.sk, &err);
    if (rc < 0) {
        agent_store_error(AGENT_STORE_IDENTITY, rc, opt->store_dir, &err);
        goto out;
    }
    rc = store_agent_lock(a->store, &err);
    if (rc < 0) {
        agent_store_error(AGENT_STORE_LOCK, rc, opt->store_dir, &err);
        goto out;
    }
    if (agent_mesh_init(a) < 0) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    proto_key_encode(a->id.pk, a->id.key_text);
    proto_key_id(a->id.pk, a->id.key_id);
    agent_manifest_init(a);
    bool peer_side = strcmp(opt->peer_listen, "off") != 0;
    int cargo_fd, peer_fd;
    if (listen_fds_take(opt->listen, peer_side ? opt->peer_listen : NULL, &cargo_fd, &peer_fd) <
        0) {
        fprintf(stderr, "error: the sockets handed over by the service manager (LISTEN_FDS) are "
                        "not listening TCP sockets\n");
        help("check cratecast.socket: ListenStream= must name a TCP address and port");
        goto out;
    }
    if (cargo_fd >= 0)
        log_info("using the Cargo socket handed over by the service manager (fd %d)", cargo_fd);
    rc = agent_registry_start(a, opt->listen, cargo_fd);
    if (rc < 0) {
        listen_error("Cargo", opt->listen, "--listen", rc);
        goto out;
    }
    if (agent_http_init(&a->http, &a->loop) < 0) {
        fprintf(stderr, "error: cannot initialise the HTTP client (out of memory?)\n");
        goto out;
    }
    if (agent_upstream_init(a, opt->upstream) < 0) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    if (peer_side) {
        rc = agent_peerapi_start(a, opt->peer_listen, peer_fd);
        if (rc < 0) {
            listen_error("peers", opt->peer_listen, "--peer-listen", rc);
            goto out;
        }
    }
    agent_news_init(a);
    agent_uploads_init(a);
    rc = agent_peers_init(a, agent_peerapi_port(a), agent_manifest_seq(a));
    if (rc < 0) {
        fprintf(stderr, "error: cannot set up the peer table: %s\n", strerror(-rc));
        goto out;
    }
    agent_evict_init(a);
    uv_timer_init(&a->loop, &a->tick);
    a->tick.data = a;
    uv_timer_start(&a->tick, on_tick, 1000, 1000);
    uv_signal_init(&a->loop, &a->sigint);
    uv_signal_init(&a->loop, &a->sigterm);
    a->sigint.data = a->sigterm.data = a;
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);

    log_info("serving Cargo on http://%s/index/ (store %s, upstream %s)", agent_registry_host(a),
             opt->store_dir, opt->upstream ? opt->upstream : "none");
    if (agent_peerapi_port(a))
        log_info("serving peers on %s as %s (key id %s)", opt->peer_listen, a->id.key_text,
                 a->id.key_id);
    if (opt->import) {
        char *home = opt->import_home ? cc_strdup(opt->import_home) : agent_default_cargo_home();
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
    agent_relay_close(a);
    agent_http_close(&a->http);
    agent_upstream_close(a);
    agent_peers_close(a);
    agent_news_close(a);
    agent_uploads_close(a);
    agent_evict_close(a);
    agent_activity_close(a);
    agent_mesh_close(a);
    if (a->store && store_touch_flush(a->store) < 0)
        log_warn("store: cannot record crate use: %s", store_errmsg(a->store));
    store_close(a->store); /* releases the agent lock */
    a->store = NULL;
    sodium_memzero(a->id.sk, sizeof a->id.sk);
    agent_manifest_close(a);
    /* The loop, h2o's connections and an import still running on the pool are
     * left to process exit: h2o 2.2 has no way to drain its connections, and
     * an interrupted import transaction is rolled back by SQLite at the next
     * open. They stay reachable from `running` so leak checkers do not
     * mistake them for leaks. */
    running = a;
    return status;
}
