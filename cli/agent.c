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
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "proto/addr.h"
#include "proto/options.h"
#include "proto/peer.h"
#include "proto/size.h"
#include "proto/alloc.h"

static void usage(FILE *f)
{
    fputs(
        "usage: cratecast agent [--store DIR] [--listen ADDR:PORT] [--peer-listen ADDR:PORT|off]\n"
        "                       [--upstream URL|none] [--peer HOST:PORT]... [--no-mdns]\n"
        "                       [--import CARGO_HOME|--no-import] [--trust open|keys]\n"
        "                       [--trust-key KEY]... [--network-key FILE]\n"
        "                       [--offline-index available|all] [--index-ttl SECONDS]\n"
        "                       [--upload-slots N] [--config FILE]\n",
        f);
}

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

/* Returns 0, or -EINVAL after printing "cratecast: <where>: <problem>". */
static int apply_option(struct agent_options *o, const char *key, const char *v, const char *where)
{
    struct sockaddr_storage ss;
    bool b;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "cratecast: %s", where);                                                   \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
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
        /* refusing beats silently running an open mesh the user believes private */
        BAD("--network-key: private meshes are not implemented in this version");
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

static int config_cb(void *ud, const char *key, const char *value, int is_bool, unsigned line)
{
    struct config_ctx *c = ud;
    char where[4200];
    (void)is_bool;
    snprintf(where, sizeof where, "%s:%u: ", c->path, line);
    if (strcmp(key, "config") == 0) {
        fprintf(stderr, "cratecast: %sa config file cannot include another\n", where);
        return -EINVAL;
    }
    return apply_option(c->o, key, value, where);
}

static int load_config(struct agent_options *o, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "cratecast: --config %s: %s\n", path, strerror(errno));
        return -EINVAL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)PROTO_OPTIONS_MAX) {
        fprintf(stderr, "cratecast: --config %s: not a regular file of at most 1 MiB\n", path);
        close(fd);
        return -EINVAL;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = cc_malloc(len + 1);
    size_t off = 0;
    while (buf && off < len) {
        ssize_t n = read(fd, buf + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    if (buf == NULL || off != len) {
        fprintf(stderr, "cratecast: --config %s: cannot read\n", path);
        free(buf);
        return -EINVAL;
    }
    struct config_ctx c = {o, path};
    unsigned err_line = 0;
    int rc = proto_options_parse(buf, len, config_cb, &c, &err_line);
    free(buf);
    if (rc == -EBADMSG || rc == -EMSGSIZE) {
        fprintf(stderr, "cratecast: %s:%u: syntax error (expected key = value)\n", path, err_line);
        return -EINVAL;
    }
    return rc < 0 ? -EINVAL : 0;
}

/* Options that take no value. */
static bool is_flag(const char *name)
{
    return strcmp(name, "no-mdns") == 0 || strcmp(name, "no-import") == 0;
}

static const char *const value_options[] = {
    "store",     "listen", "peer-listen",  "upstream",    "peer",
    "import",    "trust",  "trust-key",    "network-key", "offline-index",
    "index-ttl", "config", "upload-slots", "max-size",    NULL,
};

static bool takes_value(const char *name)
{
    for (size_t i = 0; value_options[i]; i++)
        if (strcmp(value_options[i], name) == 0)
            return true;
    return false;
}

int cli_agent_parse(int argc, char **argv, struct agent_options *o)
{
    agent_options_init(o);
    /* a --config file is applied first, so the command line overrides it */
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            v = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            v = argv[i] + 9;
        if (v && load_config(o, v) < 0)
            return -EINVAL;
    }
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
            return 1;
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "cratecast: agent: unexpected argument '%s'\n", arg);
            return -EINVAL;
        }
        char name[64];
        const char *eq = strchr(arg + 2, '=');
        size_t nl = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (nl == 0 || nl >= sizeof name) {
            fprintf(stderr, "cratecast: agent: unknown option '%s'\n", arg);
            return -EINVAL;
        }
        memcpy(name, arg + 2, nl);
        name[nl] = '\0';
        const char *val;
        if (is_flag(name)) {
            if (eq) {
                fprintf(stderr, "cratecast: agent: --%s takes no value\n", name);
                return -EINVAL;
            }
            val = "true";
        } else if (takes_value(name)) {
            if (eq) {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                fprintf(stderr, "cratecast: agent: --%s needs a value\n", name);
                return -EINVAL;
            }
        } else {
            fprintf(stderr, "cratecast: agent: unknown option '%s' (see --help)\n", arg);
            return -EINVAL;
        }
        if (strcmp(name, "config") == 0)
            continue;
        int arc = apply_option(o, name, val, "");
        if (arc < 0)
            return arc == -ENOMEM ? -ENOMEM : -EINVAL;
    }
    if (o->store_dir == NULL && (o->store_dir = cli_store_dir(NULL)) == NULL)
        return -EINVAL;
    /* status and logs name the store by its absolute path */
    if (o->store_dir[0] != '/') {
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd) == NULL || strlen(cwd) + strlen(o->store_dir) + 2 > 4096) {
            fprintf(stderr, "cratecast: --store %s: cannot make the path absolute\n", o->store_dir);
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
        fprintf(stderr, "cratecast: --trust keys needs at least one --trust-key\n");
        return -EINVAL;
    }
    return 0;
}

int cmd_agent(int argc, char **argv)
{
    struct agent_options o;
    int rc, prc = cli_agent_parse(argc, argv, &o);
    if (prc == 1) {
        usage(stdout);
        rc = 0;
    } else if (prc == -ENOMEM) {
        fprintf(stderr, "cratecast: out of memory\n");
        rc = 1;
    } else if (prc < 0) {
        rc = 2;
    } else {
        rc = agent_run(&o);
    }
    agent_options_free(&o);
    return rc;
}
