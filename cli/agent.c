/* cli/agent.c — `cratecast agent`: its options, from the command line and from a
 * --config file (proto/options.h). Both go through apply_option(), so a setting
 * means the same in either place; the command line is applied last and wins
 * (repeatable options accumulate). Every value is validated here, so a typo is
 * one clear line on stderr at start, never a surprise later.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "cli/commands.h"
#include "cli/network_key.h"
#include "cli/options.h"
#include "proto/mesh.h"
#include "proto/addr.h"
#include "proto/options.h"
#include "proto/peer.h"
#include "proto/size.h"
#include "proto/alloc.h"

#define STR_(x) #x
#define STR(x) STR_(x)

enum {
    OPT_STORE = 1,
    OPT_LISTEN,
    OPT_PEER_LISTEN,
    OPT_UPSTREAM,
    OPT_PEER,
    OPT_NO_MDNS,
    OPT_IMPORT,
    OPT_NO_IMPORT,
    OPT_TRUST,
    OPT_TRUST_KEY,
    OPT_NETWORK_KEY,
    OPT_OFFLINE_INDEX,
    OPT_INDEX_TTL,
    OPT_UPLOAD_SLOTS,
    OPT_MAX_SIZE,
    OPT_CONFIG,
};

/* A config file's keys are these names without "--" (apply_option). */
static const struct cli_option options[] = {
    CLI_OPTION_STORE(OPT_STORE),
    {OPT_LISTEN, "--listen", "ADDR:PORT",
     "the Cargo side (the registry at /index/, the status page at /); 0.0.0.0:7878 lets machines "
     "without an agent point Cargo at this one",
     AGENT_DEFAULT_LISTEN, 0},
    {OPT_PEER_LISTEN, "--peer-listen", "ADDR:PORT|off",
     "the peer side, where other agents fetch this store's verified crates and index data; off "
     "shares nothing and announces nothing",
     AGENT_DEFAULT_PEER_LISTEN, 0},
    {OPT_UPSTREAM, "--upstream", "URL|none",
     "the sparse registry index fetched from when online (sparse+ prefix optional); none never "
     "goes online",
     AGENT_DEFAULT_UPSTREAM, 0},
    {OPT_PEER, "--peer", "HOST:PORT",
     "a static peer, for networks where multicast does not pass; peers pass on the peers they "
     "know, so one address joins a whole mesh",
     NULL, CLI_REPEAT},
    {OPT_NO_MDNS, "--no-mdns", NULL, "do not announce or browse _cratecast._tcp (mDNS)", NULL, 0},
    {OPT_IMPORT, "--import", "CARGO_HOME",
     "the Cargo cache imported at start, in the background, so an offline machine can build "
     "what it built before",
     "$CARGO_HOME, else ~/.cargo", 0},
    {OPT_NO_IMPORT, "--no-import", NULL, "do not import a Cargo cache at start", NULL, 0},
    {OPT_TRUST, "--trust", "open|keys",
     "whose index data is trusted: any peer whose signatures verify (open), or only the keys "
     "given with --trust-key (keys)",
     "open", 0},
    {OPT_TRUST_KEY, "--trust-key", "KEY",
     "a trusted peer's public key, as `cratecast id` prints it on that machine", NULL, CLI_REPEAT},
    {OPT_NETWORK_KEY, "--network-key", "FILE",
     "join a private mesh: the key file (mode 0600) made by `cratecast network-key new`; peers "
     "without the same key get nothing and give nothing, and what members send each other is "
     "encrypted",
     "none (an open room)", 0},
    {OPT_OFFLINE_INDEX, "--offline-index", "available|all",
     "offline, list the versions the room can deliver (and every version of a range where none "
     "can be), or every known version",
     "available", 0},
    {OPT_INDEX_TTL, "--index-ttl", "SECONDS",
     "online, serve an index file fetched less than this long ago without asking the upstream "
     "again (0..86400)",
     "0", 0},
    {OPT_UPLOAD_SLOTS, "--upload-slots", "N",
     "crates uploaded to peers at once (1.." STR(
         AGENT_UPLOAD_SLOTS_MAX) "); further requests wait in a fair queue",
     STR(AGENT_DEFAULT_UPLOAD_SLOTS), 0},
    {OPT_MAX_SIZE, "--max-size", "SIZE",
     "the most the store's crates may take: 20G, 500M, 1.5T or bytes (K, M, G, T are powers of "
     "1024); checked and kept, not yet acted on while the agent runs: `cratecast gc` evicts",
     "no limit", 0},
    {OPT_CONFIG, "--config", "FILE",
     "settings from a file: one `name = value` per line, the names of these options without --; "
     "the command line wins",
     NULL, 0},
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_agent = {
    "agent",
    "run the agent: serve Cargo a sparse registry, share crates with peers",
    "Serves Cargo on --listen (`cratecast setup` points Cargo at it), keeps what it fetches in\n"
    "the store, and shares it with the agents found by mDNS or --peer. Runs until SIGINT or\n"
    "SIGTERM. A bad option or value exits 2; a store, key or port that cannot be used is one\n"
    "error line (and help: lines) and exit 1, the store left as it was.\n",
    options,
    run,
};

static int set_str(char **slot, const char *v)
{
    char *c = cc_strdup(v);
    if (c == NULL)
        return -ENOMEM;
    free(*slot);
    *slot = c;
    return 0;
}

static int push(char ***v, size_t *n, const char *s)
{
    char **nv = cc_realloc(*v, (*n + 1) * sizeof **v);
    if (nv == NULL)
        return -ENOMEM;
    *v = nv;
    nv[*n] = cc_strdup(s);
    if (nv[*n] == NULL)
        return -ENOMEM;
    (*n)++;
    return 0;
}

/* After a bad value: the option's row of the table, its meaning and default. */
static void bad_hint(const char *key)
{
    for (const struct cli_option *r = options; r->name; r++) {
        if (strcmp(r->name + 2, key) != 0)
            continue;
        cli_hint("%s%s%s: %s%s%s%s", r->name, r->value ? " " : "", r->value ? r->value : "",
                 r->help, r->dflt ? " [default: " : "", r->dflt ? r->dflt : "", r->dflt ? "]" : "");
        return;
    }
    cli_hint("the settings are the options of `cratecast agent --help`, without --");
}

static bool url_ok(const char *u)
{
    if (strncmp(u, "sparse+", 7) == 0)
        u += 7;
    const char *rest;
    if (strncmp(u, "http://", 7) == 0)
        rest = u + 7;
    else if (strncmp(u, "https://", 8) == 0)
        rest = u + 8;
    else
        return false;
    if (*rest == '\0' || *rest == '/' || strlen(u) > 2000)
        return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\')
            return false;
    return true;
}

static bool parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return false;
    return true;
}

/* Returns 0, or -EINVAL after printing "error: <where><problem>" (where: "" on the
 * command line, "FILE:LINE: " in a config file). */
static int apply_option(struct agent_options *o, const char *key, const char *v, const char *where)
{
    struct sockaddr_storage ss;
    bool b;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "error: %s", where);                                                       \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        bad_hint(key);                                                                             \
        return -EINVAL;                                                                            \
    } while (0)
    if (strcmp(key, "store") == 0) {
        if (v[0] == '\0')
            BAD("--store needs a directory");
        return set_str(&o->store_dir, v);
    }
    if (strcmp(key, "listen") == 0) {
        if (agent_parse_addr(v, &ss) < 0)
            BAD("--listen %s: expected ADDR:PORT, e.g. 127.0.0.1:7878", v);
        return set_str(&o->listen, v);
    }
    if (strcmp(key, "peer-listen") == 0) {
        if (strcmp(v, "off") != 0 && agent_parse_addr(v, &ss) < 0)
            BAD("--peer-listen %s: expected ADDR:PORT or off", v);
        return set_str(&o->peer_listen, v);
    }
    if (strcmp(key, "upstream") == 0) {
        if (strcmp(v, "none") == 0) {
            free(o->upstream);
            o->upstream = NULL;
            return 0;
        }
        if (!url_ok(v))
            BAD("--upstream %s: expected an http:// or https:// index URL, or none", v);
        return set_str(&o->upstream, v);
    }
    if (strcmp(key, "peer") == 0) {
        if (proto_peer_host_parse(v, strlen(v), NULL) < 0)
            BAD("--peer %s: expected HOST:PORT", v);
        return push(&o->peers, &o->npeers, v);
    }
    if (strcmp(key, "no-mdns") == 0 || strcmp(key, "mdns") == 0) {
        if (!parse_bool(v, &b))
            BAD("%s: expected true or false", key);
        o->mdns = strcmp(key, "mdns") == 0 ? b : !b;
        return 0;
    }
    if (strcmp(key, "import") == 0) {
        if (parse_bool(v, &b)) { /* config file: import = false */
            o->import = b;
            return 0;
        }
        if (v[0] == '\0')
            BAD("--import needs a CARGO_HOME directory");
        o->import = true;
        return set_str(&o->import_home, v);
    }
    if (strcmp(key, "no-import") == 0) {
        if (!parse_bool(v, &b))
            BAD("no-import: expected true or false");
        o->import = !b;
        return 0;
    }
    if (strcmp(key, "trust") == 0) {
        if (strcmp(v, "open") == 0)
            o->trust = AGENT_TRUST_OPEN;
        else if (strcmp(v, "keys") == 0)
            o->trust = AGENT_TRUST_KEYS;
        else
            BAD("--trust %s: expected open or keys", v);
        return 0;
    }
    if (strcmp(key, "trust-key") == 0) {
        uint8_t pk[PROTO_PK_LEN];
        if (proto_key_decode(v, strlen(v), pk) < 0)
            BAD("--trust-key %.64s: expected a public key as printed by `cratecast id`", v);
        return push(&o->trust_keys, &o->ntrust_keys, v);
    }
    if (strcmp(key, "network-key") == 0) {
        /* the file is read and checked now: a bad key is a usage error, before any
         * port is opened (cli/network_key.c prints why) */
        if (cli_network_key_load(v, o->mesh_key) < 0)
            return -EINVAL;
        o->mesh = true;
        return set_str(&o->network_key, v);
    }
    if (strcmp(key, "offline-index") == 0) {
        if (strcmp(v, "available") == 0)
            o->offline_index_all = false;
        else if (strcmp(v, "all") == 0)
            o->offline_index_all = true;
        else
            BAD("--offline-index %s: expected available or all", v);
        return 0;
    }
    if (strcmp(key, "upload-slots") == 0) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || end == v || *end || n < 1 || n > AGENT_UPLOAD_SLOTS_MAX)
            BAD("--upload-slots %s: expected 1..%d", v, AGENT_UPLOAD_SLOTS_MAX);
        o->upload_slots = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "max-size") == 0) {
        uint64_t n;
        int src = proto_size_parse((const uint8_t *)v, strlen(v), &n);
        if (src == -ERANGE)
            BAD("--max-size %s: too large", v);
        if (src < 0)
            BAD("--max-size %s: expected a size such as 20G, 500M, 1.5T or a number of bytes", v);
        if (n == 0)
            BAD("--max-size %s: expected a size above 0 (leave the option out for no limit)", v);
        o->max_size = n;
        return 0;
    }
    if (strcmp(key, "index-ttl") == 0) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || end == v || *end || n > 86400)
            BAD("--index-ttl %s: expected seconds (0..86400)", v);
        o->index_ttl = (unsigned)n;
        return 0;
    }
    BAD("unknown option %s", key);
#undef BAD
}

struct config_ctx {
    struct agent_options *o;
    const char *path;
};

/* network-key = "ccnk1-..." in a config file: the file then holds a secret, so it
 * must be as private as a key file (mode 0600). */
static int config_network_key(struct config_ctx *c, const char *value, const char *where)
{
    struct stat st;
    if (stat(c->path, &st) < 0 || (st.st_mode & 077)) {
        fprintf(stderr,
                "error: %snetwork-key: this file holds the key itself but is readable by "
                "others (mode %04o)\n",
                where, (unsigned)(st.st_mode & 07777));
        cli_hint("run: chmod 600 %s, or name a key file instead (network-key = \"/path/team.key\")",
                 c->path);
        return -EINVAL;
    }
    int rc = proto_mesh_key_decode(value, strlen(value), c->o->mesh_key);
    if (rc < 0) {
        fprintf(stderr, "error: %snetwork-key: %s\n", where,
                rc == -EBADMSG ? "the key's checksum does not match (a typo?)"
                               : "not a network key as `cratecast network-key new` prints it");
        return -EINVAL;
    }
    c->o->mesh = true;
    return set_str(&c->o->network_key, c->path);
}

static int config_cb(void *ud, const char *key, const char *value, int is_bool, unsigned line)
{
    struct config_ctx *c = ud;
    char where[4200];
    (void)is_bool;
    snprintf(where, sizeof where, "%s:%u: ", c->path, line);
    if (strcmp(key, "config") == 0) {
        fprintf(stderr, "error: %sa config file cannot include another\n", where);
        return -EINVAL;
    }
    if (strcmp(key, "network-key") == 0 && strncasecmp(value, "ccnk1-", 6) == 0)
        return config_network_key(c, value, where); /* the key itself, not a file's name */
    return apply_option(c->o, key, value, where);
}

static int load_config(struct agent_options *o, const char *path)
{
    struct config_ctx c = {o, path};
    return cli_config_parse(path, config_cb, &c);
}

/* The command line, in two passes: the first reads every argument (a usage
 * error or --help stops here, before any file is read) and loads the
 * --config file; the second applies the command line over it. 0; -ENOMEM; or
 * -EINVAL after printing why, *status set only when the parser stopped
 * (0 after --help). */
static int parse_args(int argc, char **argv, struct agent_options *o, int *status)
{
    struct cli_parser p;
    const char *v, *config = NULL;
    int id;
    cli_parser_init(&p, &cmd_agent, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        if (id == CLI_STOP) {
            *status = p.status;
            return -EINVAL;
        }
        if (id == OPT_CONFIG)
            config = v;
    }
    if (config && load_config(o, config) < 0)
        return -EINVAL;
    cli_parser_init(&p, &cmd_agent, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        if (id == CLI_STOP || id == CLI_ARG) /* cannot happen: the first pass passed */
            return -EINVAL;
        if (id == OPT_CONFIG)
            continue;
        int arc = apply_option(o, p.opt->name + 2, v ? v : "true", "");
        if (arc < 0)
            return arc == -ENOMEM ? -ENOMEM : -EINVAL;
    }
    return 0;
}

int cli_agent_parse(int argc, char **argv, struct agent_options *o, int *status)
{
    agent_options_init(o);
    *status = 2;
    int rc = parse_args(argc, argv, o, status);
    if (rc < 0)
        return rc;
    if (o->store_dir == NULL && (o->store_dir = cli_store_dir(NULL)) == NULL)
        return -EINVAL;
    /* status and logs name the store by its absolute path */
    if (o->store_dir[0] != '/') {
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd) == NULL || strlen(cwd) + strlen(o->store_dir) + 2 > 4096) {
            cli_error("--store %s: cannot make the path absolute", o->store_dir);
            return -EINVAL;
        }
        size_t cl = strlen(cwd), sl = strlen(o->store_dir);
        char *abs = cc_malloc(cl + sl + 2);
        if (abs == NULL)
            return -ENOMEM;
        memcpy(abs, cwd, cl);
        abs[cl] = '/';
        memcpy(abs + cl + 1, o->store_dir, sl + 1);
        free(o->store_dir);
        o->store_dir = abs;
    }
    if (o->listen == NULL && set_str(&o->listen, AGENT_DEFAULT_LISTEN) < 0)
        return -ENOMEM;
    if (o->peer_listen == NULL && set_str(&o->peer_listen, AGENT_DEFAULT_PEER_LISTEN) < 0)
        return -ENOMEM;
    if (o->trust == AGENT_TRUST_KEYS && o->ntrust_keys == 0) {
        cli_error("--trust keys needs at least one --trust-key");
        cli_hint("add --trust-key KEY for each trusted machine (`cratecast id` there prints it)");
        return -EINVAL;
    }
    return 0;
}

static int run(int argc, char **argv)
{
    struct agent_options o;
    int rc, status, prc = cli_agent_parse(argc, argv, &o, &status);
    if (prc == -ENOMEM)
        rc = cli_error("out of memory");
    else if (prc < 0)
        rc = status;
    else
        rc = agent_run(&o);
    agent_options_free(&o);
    return rc;
}
